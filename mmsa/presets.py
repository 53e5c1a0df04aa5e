"""Named architectures. "seed" reproduces the tutorial model; "cpu" is the fast default."""

from __future__ import annotations

from typing import Any

from .config import ModelConfig

PRESETS: dict[str, dict[str, Any]] = {
    # the tutorial architecture: frozen BERT-base (pooler), R3D-18 on 30 frames of 224 px scaled to [0, 1],
    # 64-mel Conv1d audio averaged over padding, 128-wide projections, fusion 384 -> 256, heads 256 -> 64 -> n
    "seed": dict(
        text_backbone="bert-base-uncased", text_pooling="pooler", text_trainable_layers=0,
        video_backbone="r3d_18", num_frames=30, frame_size=224, frame_norm="unit",
        n_mels=64, n_fft=1024, hop_length=512, audio_max_frames=300, audio_channels=[64, 128],
        audio_pooling="mean_all", proj_dim=128, fusion_dim=256, head_hidden=64,
        dropout=0.2, fusion_dropout=0.3, per_modality_heads=False,
    ),
    # CPU default: MiniLM (6 layers, 384 wide) mean-pooled, MobileNetV3-small on 8 frames of 112 px pooled over
    # time (chosen by benchmarks/model_latency.py), 10 ms mel hops, per-modality heads for "who said what"
    "cpu": dict(
        text_backbone="sentence-transformers/all-MiniLM-L6-v2", text_pooling="mean", text_trainable_layers=0,
        video_backbone="mobilenet_v3_small", num_frames=8, frame_size=112, frame_norm="imagenet",
        n_mels=64, n_fft=400, hop_length=160, audio_max_frames=1000, audio_channels=[64, 128],
        audio_pooling="masked_mean", proj_dim=128, fusion_dim=256, head_hidden=64,
        dropout=0.2, fusion_dropout=0.3, per_modality_heads=True,
    ),
}


def preset_config(name: str, **overrides: Any) -> ModelConfig:
    """A ModelConfig for a named preset; text_config is filled in by from_preset."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    settings = dict(PRESETS[name], preset=name, **overrides)
    modalities = settings.get("modalities") or ["text", "audio", "video"]
    if "text" in modalities and not settings.get("text_config"):
        settings["text_config"] = {"model_type": "bert"}  # placeholder until the backbone's config is read
    return ModelConfig(**settings)
