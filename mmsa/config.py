"""ModelConfig: everything needed to rebuild a MultimodalSentimentModel from its config.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# fusion concatenates branch embeddings in this order (the seed's order, so its checkpoint converts exactly)
MODALITIES: tuple[str, ...] = ("text", "video", "audio")
# 3D video nets from torchvision (clips in, features out) and 2D image nets pooled over frames.
VIDEO_BACKBONES_3D: tuple[str, ...] = ("r3d_18", "r2plus1d_18", "mc3_18")
VIDEO_BACKBONES_2D: tuple[str, ...] = ("mobilenet_v3_small", "resnet18")
# "tiny3d" is a small random 3D CNN for tests and examples; it has no pretrained weights.
VIDEO_BACKBONES: tuple[str, ...] = VIDEO_BACKBONES_3D + VIDEO_BACKBONES_2D + ("tiny3d",)
FRAME_NORMS: tuple[str, ...] = ("unit", "kinetics", "imagenet")
TEXT_POOLINGS: tuple[str, ...] = ("pooler", "cls", "mean")
AUDIO_POOLINGS: tuple[str, ...] = ("mean_all", "masked_mean")


@dataclass
class ModelConfig:
    """Architecture and preprocessing of a model; saved as config.json, so keep it JSON-serialisable."""

    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))  # enabled branches
    # text branch
    text_backbone: str = "sentence-transformers/all-MiniLM-L6-v2"  # where it came from (provenance only)
    text_config: dict[str, Any] = field(default_factory=dict)  # the transformers config, embedded
    text_pooling: str = "mean"  # how a sentence vector is taken from the encoder
    text_trainable_layers: int = 0  # 0 frozen, N top layers fine-tuned, -1 all
    text_lora_rank: int = 0  # >0: low-rank adapters on every attention/FFN projection (a few MB to ship)
    text_lora_alpha: float = 16.0  # adapter scale = alpha / rank
    text_max_length: int = 128  # tokens, utterance and context together
    dialogue_context: int = 0  # previous utterances given as context (0 = one utterance at a time)
    # audio branch: log-mel frames -> Conv1d stack
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 1024
    hop_length: int = 512
    audio_max_frames: int = 300  # 300 hops of 512 samples = 9.6 s of audio per utterance
    audio_channels: list[int] = field(default_factory=lambda: [64, 128])
    audio_pooling: str = "masked_mean"  # "mean_all" averages padding too, as the seed did
    # video branch
    video_backbone: str = "mobilenet_v3_small"
    num_frames: int = 8  # sampled across the whole utterance span
    frame_size: int = 112  # square side in pixels after resize + centre crop
    frame_norm: str = "imagenet"
    video_trainable: bool = False  # the backbone; the projection always trains
    # fusion and heads
    proj_dim: int = 128
    fusion_dim: int = 256
    head_hidden: int = 64
    dropout: float = 0.2
    fusion_dropout: float = 0.3
    per_modality_heads: bool = True  # each branch's own logits: "which modality said what"
    num_emotions: int = 7
    num_sentiments: int = 3
    # calibration: logits are divided by these before softmax (fitted on dev by training)
    emotion_temperature: float = 1.0
    sentiment_temperature: float = 1.0
    preset: str = "custom"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad value."""
        mods = list(self.modalities)
        if not mods:
            raise ValueError(f"modalities must name at least one of {list(MODALITIES)}")
        for m in mods:
            if m not in MODALITIES:
                raise ValueError(f"unknown modality {m!r}; expected a subset of {list(MODALITIES)}")
        if len(set(mods)) != len(mods):
            raise ValueError(f"modalities has duplicates: {mods}")
        # keep a canonical order so two configs with the same set are equal
        self.modalities = [m for m in MODALITIES if m in mods]
        if "text" in self.modalities and not self.text_config:
            raise ValueError("text modality enabled but text_config is empty; build with from_preset()")
        if self.text_pooling not in TEXT_POOLINGS:
            raise ValueError(f"unknown text_pooling {self.text_pooling!r}; expected one of {TEXT_POOLINGS}")
        if self.audio_pooling not in AUDIO_POOLINGS:
            raise ValueError(f"unknown audio_pooling {self.audio_pooling!r}; expected one of {AUDIO_POOLINGS}")
        if self.video_backbone not in VIDEO_BACKBONES:
            raise ValueError(f"unknown video_backbone {self.video_backbone!r}; expected one of {VIDEO_BACKBONES}")
        if self.frame_norm not in FRAME_NORMS:
            raise ValueError(f"unknown frame_norm {self.frame_norm!r}; expected one of {FRAME_NORMS}")
        for name in ("num_frames", "frame_size", "n_mels", "n_fft", "hop_length", "audio_max_frames",
                     "proj_dim", "fusion_dim", "head_hidden", "text_max_length", "sample_rate"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.audio_max_frames < 8:
            raise ValueError(f"audio_max_frames must be at least 8, got {self.audio_max_frames}")
        if self.text_lora_rank < 0:
            raise ValueError(f"text_lora_rank must be >= 0, got {self.text_lora_rank}")
        if self.dialogue_context < 0:
            raise ValueError(f"dialogue_context must be >= 0, got {self.dialogue_context}")
        if not self.audio_channels or any(c <= 0 for c in self.audio_channels):
            raise ValueError(f"audio_channels must be positive integers, got {self.audio_channels}")
        for name in ("emotion_temperature", "sentiment_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1 or not 0 <= self.fusion_dropout < 1:
            raise ValueError("dropout and fusion_dropout must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; this mmsa version knows {sorted(known)}")
        return cls(**data)
