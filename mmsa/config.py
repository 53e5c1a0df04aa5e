"""ModelConfig and its named presets: everything needed to rebuild a MultimodalSentimentModel from config.json.

`ModelConfig()` is the "cpu" preset, the fast default; "seed" reproduces the tutorial model; "tiny" is a very
small random model for tests and examples. A config.json is user input: every field is type-checked and bounded
here, with the field named in the error, before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .labels import CLASS_SETS
from .media import SAMPLE_RATE

PITCH_STATISTICS = 7  # features.pitch_statistics: semitone mean, std, 20th, 50th, 80th percentile, 80th - 20th, step

# fusion concatenates branch embeddings in this order (the seed's order, so its checkpoint converts exactly)
MODALITIES: tuple[str, ...] = ("text", "video", "audio")
# 3D video nets from torchvision (clips in, features out) and 2D image nets pooled over frames.
VIDEO_BACKBONES_3D: tuple[str, ...] = ("r3d_18", "r2plus1d_18", "mc3_18")
VIDEO_BACKBONES_2D: tuple[str, ...] = ("mobilenet_v3_small", "resnet18")
# "tiny3d" is a small random 3D CNN for tests and examples; it has no pretrained weights. "face_cnn" reads the
# largest face of each sampled frame (grayscale crops of face_size px) instead of the whole frame.
VIDEO_BACKBONES: tuple[str, ...] = VIDEO_BACKBONES_3D + VIDEO_BACKBONES_2D + ("tiny3d", "face_cnn")
# "mel_cnn": a Conv1d stack over log-mel, trained from scratch; "whisper": mean and standard deviation over time
# of the Whisper encoder's states (the encoder named by whisper_encoder), then a small MLP
AUDIO_BACKBONES: tuple[str, ...] = ("mel_cnn", "whisper")
# "learned": branch embeddings concatenated and fused by layers trained on co-labelled clips; "late": each branch
# is a calibrated classifier on its own and the fused answer pools their probabilities (see mmsa.fusion)
FUSIONS: tuple[str, ...] = ("learned", "late")
# Whisper encoder widths, for the voice branch's input size (mean and std are concatenated: twice this)
WHISPER_WIDTHS: dict[str, int] = {"tiny.en": 384, "tiny": 384, "base.en": 512, "base": 512}
FRAME_NORMS: tuple[str, ...] = ("unit", "kinetics", "imagenet")
TEXT_POOLINGS: tuple[str, ...] = ("pooler", "cls", "mean")
# "asr": text as the recogniser writes it for a flat voice (no "!"); "asr-exclaim": the same, keeping the "!" it
# writes for excited speech (features.normalize_text)
TEXT_STYLES: tuple[str, ...] = ("verbatim", "asr", "asr-exclaim")
AUDIO_POOLINGS: tuple[str, ...] = ("mean_all", "masked_mean")
# how the voice's Whisper states are made: "recording", the recording's speech encoded in 30 s windows as the
# recogniser encodes it (the pipeline reuses the recogniser's states: mmsa.speech_states); "utterance", each
# utterance encoded alone (voice branches before it)
VOICE_CONTEXTS: tuple[str, ...] = ("utterance", "recording")
CHOICES: dict[str, tuple[str, ...]] = {"text_pooling": TEXT_POOLINGS, "text_style": TEXT_STYLES, "audio_pooling": AUDIO_POOLINGS,
                                       "video_backbone": VIDEO_BACKBONES, "frame_norm": FRAME_NORMS,
                                       "audio_backbone": AUDIO_BACKBONES, "fusion": FUSIONS,
                                       "whisper_encoder": tuple(WHISPER_WIDTHS), "voice_context": VOICE_CONTEXTS}

# (type, lowest, highest) per numeric field: generous for real models, small enough that a typo or a hostile
# config.json cannot make the loader allocate gigabytes before it fails
BOUNDS: dict[str, tuple[type, float, float]] = {
    "text_trainable_layers": (int, -1, 128), "text_lora_rank": (int, 0, 256), "text_lora_alpha": (float, 1e-6, 1e4),
    "text_max_length": (int, 1, 4096), "dialogue_context": (int, 0, 64),
    "sample_rate": (int, 8000, 48000), "n_mels": (int, 1, 512), "n_fft": (int, 16, 8192),
    "hop_length": (int, 1, 8192), "audio_max_frames": (int, 8, 100_000),
    "num_frames": (int, 1, 128), "frame_size": (int, 16, 1024), "face_size": (int, 16, 256),
    "face_width": (int, 4, 256),
    "proj_dim": (int, 1, 4096), "fusion_dim": (int, 1, 8192), "head_hidden": (int, 1, 8192),
    "dropout": (float, 0.0, 0.999), "fusion_dropout": (float, 0.0, 0.999),
    "num_emotions": (int, 7, 7), "num_sentiments": (int, 3, 3),  # MELD's label sets; heads index them
    "emotion_temperature": (float, 1e-3, 1e3), "sentiment_temperature": (float, 1e-3, 1e3),
}
AUDIO_CHANNEL_MAX, AUDIO_BLOCKS_MAX = 4096, 16
# sizes inside an embedded transformers config that decide how much memory the text backbone takes
TEXT_CONFIG_BOUNDS: dict[str, int] = {"hidden_size": 8192, "num_hidden_layers": 128, "num_attention_heads": 256,
                                      "intermediate_size": 65536, "vocab_size": 1_000_000,
                                      "max_position_embeddings": 65536, "type_vocab_size": 1024}


@dataclass
class ModelConfig:
    """Architecture and preprocessing of a model; saved as config.json, so keep it JSON-serialisable.

    The defaults are the "cpu" preset: MiniLM mean-pooled, MobileNetV3-small on 8 frames of 112 px pooled over
    time (chosen by benchmarks/model_latency.py), 10 ms mel hops, per-modality heads for "who said what".
    """

    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))  # enabled branches
    # text branch
    text_backbone: str = "sentence-transformers/all-MiniLM-L6-v2"  # where it came from (provenance only)
    text_config: dict[str, Any] = field(default_factory=dict)  # the transformers config, embedded
    text_pooling: str = "mean"  # how a sentence vector is taken from the encoder
    text_trainable_layers: int = 0  # 0 frozen, N top layers fine-tuned, -1 all
    text_lora_rank: int = 0  # >0: low-rank adapters on every attention/FFN projection (a few MB to ship)
    text_lora_alpha: float = 16.0  # adapter scale = alpha / rank
    text_max_length: int = 128  # tokens, utterance and context together
    # "asr": text is read as a speech recogniser writes it (no "!", no ellipses or dashes, lower case), in training
    # and at inference alike, so the model cannot lean on cues of subtitles that transcripts never carry
    text_style: str = "verbatim"
    dialogue_context: int = 0  # previous utterances given as context (0 = one utterance at a time)
    # audio branch: log-mel frames -> Conv1d stack
    sample_rate: int = SAMPLE_RATE
    n_mels: int = 64
    n_fft: int = 400  # 25 ms windows
    hop_length: int = 160  # 10 ms hops
    audio_max_frames: int = 1000  # 10 s of audio per utterance
    audio_channels: list[int] = field(default_factory=lambda: [64, 128])
    audio_pooling: str = "masked_mean"  # "mean_all" averages padding too, as the seed did
    audio_backbone: str = "mel_cnn"  # or "whisper": pooled states of the ASR's own encoder
    whisper_encoder: str = "tiny.en"  # with audio_backbone="whisper": the encoder the voice head was trained on
    voice_context: str = "utterance"  # with audio_backbone="whisper": how its states were made (VOICE_CONTEXTS)
    # with audio_backbone="whisper": per-speaker standardisation of the voice features (features.speaker_normalise):
    # {"mean": [...], "var": [...], "weight": w}, the training voices' statistics and how many utterances they
    # count as; empty: none (earlier voice branches)
    voice_normalisation: dict[str, Any] = field(default_factory=dict)
    # with voice_normalisation: how much a speaker's pitch must move between utterances for the voice to have its
    # say (features.voice_movement): {"mean": [7], "std": [7], "directions": [[7], ...], "low": a, "high": b};
    # empty: the voice always has its say (earlier voice branches)
    voice_movement: dict[str, Any] = field(default_factory=dict)
    # video branch
    video_backbone: str = "mobilenet_v3_small"
    num_frames: int = 8  # sampled across the whole utterance span
    frame_size: int = 112  # square side in pixels after resize + centre crop
    frame_norm: str = "imagenet"
    video_trainable: bool = False  # the backbone; the projection always trains
    face_size: int = 48  # with video_backbone="face_cnn": side of the grayscale face crops (FER2013's size)
    face_width: int = 24  # with video_backbone="face_cnn": channels of its first stage
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
    fusion: str = "learned"
    # late fusion (mmsa.fusion): each branch's calibration temperatures {"text": {"emotion": T, "sentiment": T}},
    # its weight in the pooled answer, and the branches with an emotion head only (voice and face)
    branch_temperatures: dict[str, dict[str, float]] = field(default_factory=dict)
    branch_weights: dict[str, float] = field(default_factory=dict)
    derived_sentiment: list[str] = field(default_factory=list)
    # branches that answer in a coarser label set than the 7 emotions (labels.CLASS_SETS), e.g. {"audio": "voice4"};
    # only emotion-only (derived_sentiment) branches
    branch_classes: dict[str, str] = field(default_factory=dict)
    # an emotion -> sentiment table (rows EMOTIONS, columns SENTIMENTS) that earlier late-fusion models carried;
    # kept so their config.json still loads, no longer read: emotion-only branches map into the pairs (mmsa.fusion)
    emotion_to_sentiment: list[list[float]] = field(default_factory=list)
    # where each branch's weight was measured, on data unlike its training data:
    # {"set": what, "n": count, "accuracy": a, "chance": the most frequent class's share, "kappa": Cohen's kappa,
    # which sets the weight (mmsa.fusion.reliability_weight)}
    branch_validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    # how each branch's familiarity is calibrated on its own validation inputs (mmsa.fusion.familiarity):
    # {"typical": d, "limit": d} and, for the face branch, the training features' "mean" and "whiten" matrix; for
    # the words, d is 1 - how clearly the recogniser heard them (Span.heard)
    branch_familiarity: dict[str, dict[str, Any]] = field(default_factory=dict)
    license: str = ""  # the weights' licence (it follows from the training data), shown beside every result
    preset: str = "cpu"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field, its value and what is expected."""
        if not isinstance(self.modalities, list) or not all(isinstance(m, str) for m in self.modalities):
            raise ValueError(f"modalities must be a list of names from {list(MODALITIES)}, got {self.modalities!r}")
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
        for name in ("text_backbone", "preset", "license"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name, options in CHOICES.items():
            if getattr(self, name) not in options:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; expected one of {options}")
        for name in ("video_trainable", "per_modality_heads"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, (kind, lo, hi) in BOUNDS.items():
            setattr(self, name, _bounded(name, getattr(self, name), kind, lo, hi))
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        channels = self.audio_channels
        if not isinstance(channels, list) or not 1 <= len(channels) <= AUDIO_BLOCKS_MAX:
            raise ValueError(f"audio_channels must be a list of 1 to {AUDIO_BLOCKS_MAX} integers, got {channels!r}")
        for c in channels:
            _bounded("audio_channels", c, int, 1, AUDIO_CHANNEL_MAX)
        self._validate_text_config()
        self._validate_late_fusion()
        self._validate_voice_normalisation()
        self._validate_voice_movement()

    def _validate_late_fusion(self) -> None:
        for name in ("branch_temperatures", "branch_weights", "branch_validation", "branch_familiarity"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not set(value) <= set(self.modalities):
                raise ValueError(f"{name} must map some of {self.modalities} to values, got {value!r}")
        for m, temps in self.branch_temperatures.items():
            if not isinstance(temps, dict) or not set(temps) <= {"emotion", "sentiment"}:
                raise ValueError(f"branch_temperatures.{m} must be {{'emotion': T, 'sentiment': T}}, got {temps!r}")
            for task, t in temps.items():
                _bounded(f"branch_temperatures.{m}.{task}", t, float, 1e-3, 1e3)
        for m, w in self.branch_weights.items():
            _bounded(f"branch_weights.{m}", w, float, 0.0, 1e3)
        if not isinstance(self.derived_sentiment, list) or not set(self.derived_sentiment) <= set(self.modalities):
            raise ValueError(f"derived_sentiment must list some of {self.modalities}, got {self.derived_sentiment!r}")
        if not isinstance(self.branch_classes, dict) or not set(self.branch_classes) <= set(self.derived_sentiment):
            raise ValueError(f"branch_classes must map some of the emotion-only branches {self.derived_sentiment} to a "
                             f"class set, got {self.branch_classes!r}")
        for m, name in self.branch_classes.items():
            if name not in CLASS_SETS:
                raise ValueError(f"branch_classes.{m}: unknown class set {name!r}; expected one of "
                                 f"{', '.join(CLASS_SETS)}")
        for m, cal in self.branch_familiarity.items():
            if not isinstance(cal, dict) or not {"typical", "limit"} <= set(cal):
                raise ValueError(f"branch_familiarity.{m} must hold 'typical' and 'limit' distances, got {cal!r}")
            _bounded(f"branch_familiarity.{m}.typical", cal["typical"], float, 0.0, 1e6)
            _bounded(f"branch_familiarity.{m}.limit", cal["limit"], float, 0.0, 1e6)
            if not cal["limit"] > cal["typical"]:
                raise ValueError(f"branch_familiarity.{m}: 'limit' must be larger than 'typical', got {cal!r}")
            if ("mean" in cal) != ("whiten" in cal):
                raise ValueError(f"branch_familiarity.{m}: 'mean' and 'whiten' go together")
            if "mean" in cal:
                mean, whiten = cal["mean"], cal["whiten"]
                if not (isinstance(mean, list) and isinstance(whiten, list) and whiten
                        and all(isinstance(r, list) and len(r) == len(mean) for r in whiten)):
                    raise ValueError(f"branch_familiarity.{m}: 'whiten' must be rows as long as 'mean'")
        table = self.emotion_to_sentiment
        if table:
            if not (isinstance(table, list) and len(table) == self.num_emotions
                    and all(isinstance(r, list) and len(r) == self.num_sentiments for r in table)):
                raise ValueError(f"emotion_to_sentiment must be a {self.num_emotions} x {self.num_sentiments} table")
            for r in table:
                for v in r:
                    _bounded("emotion_to_sentiment", v, float, 0.0, 1.0)
        if self.derived_sentiment and self.fusion != "late":
            raise ValueError("derived_sentiment is used by late fusion only; set fusion='late'")

    def _validate_voice_normalisation(self) -> None:
        norm = self.voice_normalisation
        if not isinstance(norm, dict):
            raise ValueError(f"voice_normalisation must be a dict, got {norm!r}")
        if not norm:
            return
        width = 2 * self.whisper_width
        if set(norm) != {"mean", "var", "weight"}:
            raise ValueError(f"voice_normalisation must hold 'mean', 'var' and 'weight', got {sorted(norm)}")
        for key in ("mean", "var"):
            values = norm[key]
            if not (isinstance(values, list) and len(values) == width
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
                raise ValueError(f"voice_normalisation.{key} must be {width} finite numbers (2 x the "
                                 f"{self.whisper_encoder} encoder's width)")
        if min(norm["var"]) <= 0:
            raise ValueError("voice_normalisation.var must be positive")
        _bounded("voice_normalisation.weight", norm["weight"], float, 0.0, 1e6)

    def _validate_voice_movement(self) -> None:
        move = self.voice_movement
        if not isinstance(move, dict):
            raise ValueError(f"voice_movement must be a dict, got {move!r}")
        if not move:
            return
        if not self.voice_normalisation:
            raise ValueError("voice_movement needs voice_normalisation: it is measured per speaker")
        if set(move) != {"mean", "std", "directions", "low", "high"}:
            raise ValueError(f"voice_movement must hold 'mean', 'std', 'directions', 'low' and 'high', got "
                             f"{sorted(move)}")

        def numbers(values) -> bool:
            return (isinstance(values, list) and len(values) == PITCH_STATISTICS
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values))

        if not (numbers(move["mean"]) and numbers(move["std"]) and min(move["std"]) > 0):
            raise ValueError(f"voice_movement.mean and .std must be {PITCH_STATISTICS} finite numbers, std positive")
        rows = move["directions"]
        if not (isinstance(rows, list) and 1 <= len(rows) <= PITCH_STATISTICS and all(numbers(r) for r in rows)):
            raise ValueError(f"voice_movement.directions must be 1 to {PITCH_STATISTICS} rows of "
                             f"{PITCH_STATISTICS} finite numbers")
        _bounded("voice_movement.low", move["low"], float, 0.0, 1e6)
        _bounded("voice_movement.high", move["high"], float, 0.0, 1e6)
        if not move["low"] < move["high"]:
            raise ValueError("voice_movement.low must be below voice_movement.high")

    @property
    def whisper_width(self) -> int:
        return WHISPER_WIDTHS[self.whisper_encoder]

    def _validate_text_config(self) -> None:
        if not isinstance(self.text_config, dict):
            raise ValueError(f"text_config must be a transformers config object (a JSON dict), "
                             f"got {type(self.text_config).__name__}")
        if "text" not in self.modalities:
            return
        if not self.text_config:
            raise ValueError("text modality enabled but text_config is empty; build with from_preset()")
        if not isinstance(self.text_config.get("model_type"), str):
            raise ValueError("text_config has no 'model_type' string; it must be a transformers config dict")
        for key, hi in TEXT_CONFIG_BOUNDS.items():
            if key in self.text_config:
                _bounded(f"text_config.{key}", self.text_config[key], int, 0 if key == "type_vocab_size" else 1, hi)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ValueError(f"a model config must be a JSON object of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; this mmsa version knows {sorted(known)}")
        return cls(**data)


def _bounded(name: str, value: Any, kind: type, lo: float, hi: float) -> Any:
    """value as kind if it is one (an int counts as a float, a bool as neither) and lo <= value <= hi."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if not ok or not math.isfinite(value):
        expected = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {expected} in [{lo:g}, {hi:g}], got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return kind(value)


PRESETS: dict[str, dict[str, Any]] = {
    # the tutorial architecture: frozen BERT-base (pooler), R3D-18 on 30 frames of 224 px scaled to [0, 1],
    # 64-mel Conv1d audio averaged over padding, 128-wide projections, fusion 384 -> 256, heads 256 -> 64 -> n
    "seed": dict(
        text_backbone="bert-base-uncased", text_pooling="pooler", video_backbone="r3d_18", num_frames=30,
        frame_size=224, frame_norm="unit", n_fft=1024, hop_length=512, audio_max_frames=300,
        audio_pooling="mean_all", per_modality_heads=False,
    ),
    "cpu": {},  # the dataclass defaults
    # a very small random model with every branch, for tests and examples; fully offline
    "tiny": dict(
        text_backbone="tiny-random-bert", text_max_length=64, text_trainable_layers=-1,
        n_mels=32, audio_max_frames=200, audio_channels=[16, 32],
        video_backbone="tiny3d", num_frames=4, frame_size=32, frame_norm="unit",
        proj_dim=16, fusion_dim=32, head_hidden=16,
    ),
}
# the tiny preset's text encoder: a 2-layer, 32-wide BERT over MiniLM's vocabulary (its tokenizer ships offline)
TINY_TEXT_CONFIG: dict[str, Any] = dict(model_type="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, vocab_size=30522, max_position_embeddings=128)


def preset_config(name: str, **overrides: Any) -> ModelConfig:
    """A ModelConfig for a named preset; from_preset fills in text_config from the backbone."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    settings = {**PRESETS[name], "preset": name, **overrides}
    modalities = settings.get("modalities") or list(MODALITIES)
    if "text" in modalities and not settings.get("text_config"):
        settings["text_config"] = {"model_type": "bert"}  # placeholder until the backbone's config is read
    return ModelConfig(**settings)
