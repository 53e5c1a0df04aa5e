"""The three branch encoders. Each maps its inputs to a (batch, proj_dim) embedding."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .config import VIDEO_BACKBONES_2D, VIDEO_BACKBONES_3D, ModelConfig


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def _encoder_layers(backbone: nn.Module) -> nn.ModuleList | None:
    """The stack of transformer blocks of a transformers encoder, whatever the family names it."""
    for path in ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "layer"):
        obj = backbone
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    return None


# the linear layers inside transformer blocks that get low-rank adapters (BERT-family names, others' alike)
LENGTH_SLACK = 1.5  # inference groups rows whose token counts differ by up to this factor (TextEncoder.embed)
LORA_TARGETS = ("query", "key", "value", "q_proj", "k_proj", "v_proj", "out_proj", "dense", "q_lin", "k_lin",
                "v_lin", "out_lin", "lin1", "lin2")


def _path_in(root: nn.Module, target: nn.Module) -> str:
    return next(name for name, module in root.named_modules() if module is target)


class LoRAAdapter(nn.Module):
    """y += x A^T B^T * scale beside a frozen linear layer; B starts at zero so training starts at the base."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.A = nn.Parameter(torch.randn(rank, linear.in_features) / rank ** 0.5 * 0.1)
        self.B = nn.Parameter(torch.zeros(linear.out_features, rank))
        self.scale = alpha / rank
        self.merged = False  # True while the layer runs with its weight merged with this adapter (TextEncoder)

    def hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return output
        return output + (inputs[0] @ self.A.t() @ self.B.t()) * self.scale

    def merge(self, weight: torch.Tensor) -> torch.Tensor:
        """The layer's weight with this adapter folded in: W + scale B A."""
        return weight + (self.B @ self.A) * self.scale


def length_groups(lengths: torch.Tensor, slack: float = LENGTH_SLACK) -> list[torch.Tensor]:
    """Row indices grouped by length (batch,): shortest first, a group taking rows up to slack x its shortest row
    (and 8 tokens more), so that padding each group to its longest row wastes little."""
    order = torch.argsort(lengths, stable=True)
    groups, start = [], 0
    while start < len(order):
        limit = max(slack * int(lengths[order[start]]), int(lengths[order[start]]) + 8)
        end = start + 1
        while end < len(order) and int(lengths[order[end]]) <= limit:
            end += 1
        groups.append(order[start:end])
        start = end
    return groups


class TextEncoder(nn.Module):
    """Any transformers encoder, pooled to one vector, projected to proj_dim.

    Inputs: input_ids, attention_mask (and token_type_ids when the family has them), shape = (batch, tokens).
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module | None = None):
        super().__init__()
        if backbone is None:
            from transformers import AutoConfig, AutoModel

            text_config = dict(config.text_config)
            model_type = text_config.pop("model_type", None)
            if not model_type:
                raise ValueError("text_config has no 'model_type'; it must be a transformers config dict")
            backbone = AutoModel.from_config(AutoConfig.for_model(model_type, **text_config))
        self.backbone = backbone
        self.pooling = config.text_pooling
        hidden = backbone.config.hidden_size
        self.projection = nn.Linear(hidden, config.proj_dim)
        self.frozen_all = config.text_trainable_layers == 0
        if config.text_trainable_layers >= 0:
            _freeze(self.backbone)
            if config.text_trainable_layers > 0:
                layers = _encoder_layers(self.backbone)
                if layers is None:
                    raise ValueError(
                        f"cannot find the layer stack of {type(backbone).__name__} to fine-tune its top "
                        f"{config.text_trainable_layers} layers; use text_trainable_layers=0 (frozen) or -1 (all)"
                    )
                for layer in layers[-config.text_trainable_layers:]:
                    for p in layer.parameters():
                        p.requires_grad_(True)
        self._adapted: list[tuple[str, nn.Linear, LoRAAdapter]] = []  # (path in the backbone, layer, adapter)
        self._merged_cache: tuple | None = None
        if config.text_lora_rank > 0:
            self.lora = self._add_adapters(config.text_lora_rank, config.text_lora_alpha)
            self.frozen_all = False  # adapters train: dropout in the backbone behaves as in fine-tuning

    def _add_adapters(self, rank: int, alpha: float) -> nn.ModuleDict:
        layers = _encoder_layers(self.backbone)
        if layers is None:
            raise ValueError(f"cannot find the layer stack of {type(self.backbone).__name__} for adapters")
        adapters = nn.ModuleDict()
        for i, layer in enumerate(layers):
            for name, module in layer.named_modules():
                if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in LORA_TARGETS:
                    adapter = LoRAAdapter(module, rank, alpha)
                    adapters[f"{i}_{name.replace('.', '_')}"] = adapter
                    module.register_forward_hook(adapter.hook)
                    path = _path_in(self.backbone, module)
                    self._adapted.append((path, module, adapter))
        return adapters

    def _merged_weights(self) -> dict[str, torch.Tensor]:
        """Inference: each adapted layer's weight with its adapter folded in (one matrix product per layer instead of
        three; the text branch runs about 1.4x faster), kept until a weight changes. Never part of the state."""
        key = tuple((m.weight._version, a.A._version, a.B._version) for _, m, a in self._adapted)
        if self._merged_cache is None or self._merged_cache[0] != key:
            with torch.no_grad():
                merged = {f"{path}.weight": a.merge(m.weight) for path, m, a in self._adapted}
            self._merged_cache = (key, merged)
        return self._merged_cache[1]

    def train(self, mode: bool = True) -> "TextEncoder":
        super().train(mode)
        if mode:
            self._merged_cache = None
        if self.frozen_all:  # a frozen encoder keeps its dropout off: it is a fixed feature extractor
            self.backbone.eval()
        return self

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled backbone output before projection, shape = (batch, hidden).

        At inference, rows of similar length run together, each group cut to its own longest row: a batch is padded
        to its longest utterance, and one long sentence among short ones made most of the words' cost padding (a
        50 s talking head: 16 rows of 9-51 tokens, 816 positions for 232 tokens). Padding is masked, so the answer
        is the same up to rounding."""
        lengths = attention_mask.sum(1)
        positions = torch.arange(attention_mask.shape[1], device=lengths.device)
        right_padded = bool((attention_mask == (positions < lengths[:, None])).all())  # else cutting would lose words
        if self.training or torch.is_grad_enabled() or len(lengths) < 2 or not right_padded:
            return self._embed(input_ids, attention_mask, token_type_ids)
        out = None
        for rows in length_groups(lengths):
            cut = int(lengths[rows].max())
            part = self._embed(input_ids[rows, :cut], attention_mask[rows, :cut],
                               None if token_type_ids is None else token_type_ids[rows, :cut])
            out = part.new_empty(len(lengths), part.shape[1]) if out is None else out
            out[rows] = part
        return out

    def _embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and getattr(self.backbone.config, "type_vocab_size", 0):
            kwargs["token_type_ids"] = token_type_ids
        if self._adapted and not self.training and not torch.is_grad_enabled():
            out = self._run_merged(kwargs)
        else:
            out = self.backbone(**kwargs)
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise ValueError(f"{type(self.backbone).__name__} has no pooler; use text_pooling='mean'")
            return pooled
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask
        if "token_type_ids" in kwargs and bool((token_type_ids == 1).any()):
            # with dialogue context as the second segment, average the utterance's own tokens only: they have
            # attended to the context, and the context's tokens do not dilute what this utterance says
            mask = mask * (token_type_ids == 0).to(mask.dtype)
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def _run_merged(self, kwargs: dict):
        from torch.func import functional_call

        for _, _, adapter in self._adapted:
            adapter.merged = True
        try:
            return functional_call(self.backbone, self._merged_weights(), args=(), kwargs=kwargs, strict=False)
        finally:
            for _, _, adapter in self._adapted:
                adapter.merged = False

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens, or features = embed()'s output computed earlier (training's cache of a frozen backbone)."""
        if features is None:
            if input_ids is None or attention_mask is None:
                raise ValueError("text input needs input_ids and attention_mask (or precomputed features)")
            features = self.embed(input_ids, attention_mask, token_type_ids)
        return self.projection(features)


class AudioEncoder(nn.Module):
    """Conv1d stack over log-mel frames. Input shape = (batch, n_mels, frames); lengths = valid frames."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = config.n_mels
        for i, ch in enumerate(config.audio_channels):
            layers += [nn.Conv1d(in_ch, ch, kernel_size=3), nn.BatchNorm1d(ch), nn.ReLU()]
            if i < len(config.audio_channels) - 1:
                layers.append(nn.MaxPool1d(2))
            in_ch = ch
        self.conv_layers = nn.Sequential(*layers)
        self.projection = nn.Sequential(nn.Linear(in_ch, config.proj_dim), nn.ReLU(), nn.Dropout(config.dropout))
        self.masked = config.audio_pooling == "masked_mean"
        self.n_mels = config.n_mels
        # shortest input that survives the convolutions and pools
        self.min_frames = self._min_frames(len(config.audio_channels))

    @staticmethod
    def _min_frames(n_blocks: int) -> int:
        need = 1
        for i in reversed(range(n_blocks)):
            if i < n_blocks - 1:
                need *= 2
            need += 2
        return need

    def _out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for layer in self.conv_layers:
            if isinstance(layer, nn.Conv1d):
                lengths = lengths - 2
            elif isinstance(layer, nn.MaxPool1d):
                lengths = torch.div(lengths, 2, rounding_mode="floor")
        return lengths.clamp_min(1)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """audio: log-mel, shape = (batch, n_mels, frames); lengths = valid frames per sample, shape = (batch,)."""
        mel = audio
        if mel.dim() != 3 or mel.shape[1] != self.n_mels or mel.shape[2] < self.min_frames:
            raise ValueError(
                f"audio input must have shape (batch, {self.n_mels}, frames>={self.min_frames}), "
                f"got {tuple(mel.shape)}"
            )
        feats = self.conv_layers(mel)  # (batch, channels, frames')
        if self.masked and lengths is not None:
            out_len = self._out_lengths(lengths.to(feats.device)).clamp_max(feats.shape[-1])
            mask = torch.arange(feats.shape[-1], device=feats.device)[None, :] < out_len[:, None]
            mask = mask.unsqueeze(1).to(feats.dtype)
            pooled = (feats * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)
        else:
            pooled = feats.mean(-1)
        return self.projection(pooled)


def _torchvision_model(name: str, pretrained: bool) -> nn.Module:
    """A torchvision model by name; with pretrained, its DEFAULT weights enum (downloads once, then cached)."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT if pretrained else None
    try:
        return torchvision.models.get_model(name, weights=weights)
    except Exception as e:  # urllib errors, hash mismatches, no network
        raise RuntimeError(
            f"could not load the pretrained {name} weights ({weights}): {e}. Without network access, "
            f"build with pretrained=False, or place the file in torch's hub cache (~/.cache/torch/hub/checkpoints)."
        ) from e


class VideoEncoder(nn.Module):
    """Frames of one utterance -> embedding. Input shape = (batch, frames, 3, size, size)."""

    def __init__(self, config: ModelConfig, pretrained: bool = False):
        super().__init__()
        name = config.video_backbone
        self.kind = "3d" if name in VIDEO_BACKBONES_3D or name == "tiny3d" else "2d"
        if name == "tiny3d":
            self.backbone = nn.Sequential(
                nn.Conv3d(3, 8, kernel_size=3, stride=2, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                nn.Conv3d(8, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool3d(1), nn.Flatten(),
            )
            feat = 16
        elif name in VIDEO_BACKBONES_3D:
            self.backbone = _torchvision_model(name, pretrained)
            feat = self.backbone.fc.in_features
            self.backbone.fc = nn.Identity()
        elif name in VIDEO_BACKBONES_2D:
            self.backbone = _torchvision_model(name, pretrained)
            if name == "resnet18":
                feat = self.backbone.fc.in_features
                self.backbone.fc = nn.Identity()
            else:  # mobilenet_v3_small: keep features + pooling, drop the ImageNet classifier
                feat = self.backbone.classifier[0].in_features
                self.backbone.classifier = nn.Identity()
        else:
            raise ValueError(f"unknown video backbone {name!r}")
        self.projection = nn.Sequential(nn.Linear(feat, config.proj_dim), nn.ReLU(), nn.Dropout(config.dropout))
        self.frozen = not config.video_trainable and name != "tiny3d"
        if self.frozen:
            _freeze(self.backbone)
        self.num_frames, self.frame_size = config.num_frames, config.frame_size

    def train(self, mode: bool = True) -> "VideoEncoder":
        super().train(mode)
        if self.frozen:  # frozen BatchNorm statistics stay as pretrained
            self.backbone.eval()
        return self

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone features before projection, shape = (batch, features)."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(
                f"video input must have shape (batch, frames, 3, height, width), got {tuple(frames.shape)}"
            )
        b, t = frames.shape[:2]
        if self.kind == "3d":
            return self.backbone(frames.transpose(1, 2))  # (batch, 3, frames, h, w)
        feats = self.backbone(frames.flatten(0, 1))  # every frame through the image net
        return feats.view(b, t, -1).mean(1)  # temporal average pooling

    def forward(self, frames: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """Frames, or features = embed()'s output computed earlier (training's cache of a frozen backbone)."""
        return self.projection(self.embed(frames) if features is None else features)


class FaceCNN(nn.Module):
    """Grayscale face crops -> features. Input shape = (n, 1, size, size) scaled to [0, 1]; output (n, width * 8).

    Four stages of 3x3 convolutions (two per stage after the first), each halving the resolution, then global
    average pooling: small enough to train on FER2013 on a CPU and to run on every sampled frame.
    """

    def __init__(self, width: int = 24):
        super().__init__()

        def conv(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *conv(1, w), nn.MaxPool2d(2),
            *conv(w, 2 * w), *conv(2 * w, 2 * w), nn.MaxPool2d(2),
            *conv(2 * w, 4 * w), *conv(4 * w, 4 * w), nn.MaxPool2d(2),
            *conv(4 * w, 8 * w), *conv(8 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.out_features = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - 0.5) / 0.25)  # centred on a face crop's typical grey level


class VoiceEncoder(nn.Module):
    """Pooled Whisper encoder states -> embedding. Input shape = (batch, 2 * width): the mean, then the standard
    deviation over time of the states of the encoder named by config.whisper_encoder (features.voice_features).
    With config.voice_normalisation the input is features.voice_pair's, (batch, 4 * width): standardised with the
    speaker's other utterances (classified), then alone (what familiarity is measured on)."""

    reports_distance = True  # late fusion measures its familiarity on familiarity_view(features()) (mmsa.model)

    def __init__(self, config: ModelConfig):
        super().__init__()
        width = 2 * config.whisper_width
        # per-dimension standardisation with the training set's statistics (set_statistics), saved with the model
        self.register_buffer("feature_mean", torch.zeros(width))
        self.register_buffer("feature_std", torch.ones(width))
        self.projection = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, config.proj_dim), nn.ReLU(),
                                        nn.Dropout(config.dropout))
        self.width = width
        self.paired = bool(config.voice_normalisation)
        self.input_width = 2 * width if self.paired else width

    def set_statistics(self, features: torch.Tensor) -> None:
        """Standardise inputs as the training features (n, input width) are (their classified part)."""
        self.feature_mean.copy_(features[:, :self.width].mean(0))
        self.feature_std.copy_(features[:, :self.width].std(0).clamp_min(1e-5))

    def features(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The input with its classified part standardised, shape = (batch, input width): what the projection
        reads, and what familiarity is measured on (familiarity_view, then mmsa.fusion.feature_distance: about 1
        for inputs like the training clips)."""
        if audio.dim() != 2 or audio.shape[1] != self.input_width:
            raise ValueError(f"voice input must have shape (batch, {self.input_width}), got {tuple(audio.shape)}")
        standardised = (audio[:, :self.width] - self.feature_mean) / self.feature_std
        return torch.cat([standardised, audio[:, self.width:]], dim=1)

    def familiarity_view(self, features: torch.Tensor) -> torch.Tensor:
        """The part of features() familiarity is measured on: the utterance standardised alone when paired."""
        return features[:, self.width:] if self.paired else features

    def forward(self, audio: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.features(audio) if features is None else features
        return self.projection(feats[:, :self.width])


class FaceEncoder(nn.Module):
    """Face crops of one utterance -> embedding. Input shape = (batch, frames, 1, size, size) in [0, 1]; the
    crops' features are averaged over frames."""

    reports_distance = True  # late fusion measures its familiarity on features() (mmsa.model)

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.backbone = FaceCNN(config.face_width)
        self.projection = nn.Sequential(nn.Linear(self.backbone.out_features, config.proj_dim), nn.ReLU(),
                                        nn.Dropout(config.dropout))
        self.size = config.face_size
        self._inference_cache: tuple | None = None  # (weights' identity, folded backbone): never part of the state

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone features averaged over frames (and, at inference, over each crop and its mirror image: an
        expression reads the same either way), shape = (batch, features)."""
        if frames.dim() != 5 or frames.shape[2] != 1 or frames.shape[-1] != self.size:
            raise ValueError(f"face input must have shape (batch, frames, 1, {self.size}, {self.size}), "
                             f"got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        crops = frames.flatten(0, 1)
        if not self.training:
            backbone = self._inference_backbone()
            crops = crops.contiguous(memory_format=torch.channels_last)
            return ((backbone(crops) + backbone(crops.flip(-1))) / 2).view(b, t, -1).mean(1)
        feats = self.backbone(crops)
        return feats.view(b, t, -1).mean(1)

    def _inference_backbone(self) -> nn.Module:
        """The backbone as inference runs it: each batch norm folded into the convolution before it, weights laid out
        channels-last (16 utterances' crops in about 90 ms instead of 145 on 2 cores; the same features up to
        rounding). A copy, remade when a weight changes (training, load_state_dict, .to())."""
        key = tuple((t.data_ptr(), t._version) for t in [*self.backbone.parameters(), *self.backbone.buffers()])
        if self._inference_cache is None or self._inference_cache[0] != key:
            with torch.no_grad():
                backbone = copy.deepcopy(self.backbone).eval()
                folded: list[nn.Module] = []
                for layer in backbone.features:
                    if isinstance(layer, nn.BatchNorm2d) and folded and isinstance(folded[-1], nn.Conv2d):
                        folded[-1] = fuse_conv_bn_eval(folded[-1], layer)
                    else:
                        folded.append(layer)
                backbone.features = nn.Sequential(*folded).to(memory_format=torch.channels_last)
            self._inference_cache = (key, backbone)
        return self._inference_cache[1]

    def features(self, frames: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """Backbone features (embed), or the given ones (training's cache), shape = (batch, features): what the
        projection reads, and what familiarity is measured on (mmsa.fusion.feature_distance)."""
        return self.embed(frames) if features is None else features

    def forward(self, frames: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """Frames, or features = embed()'s output computed earlier (training's cache of a frozen backbone)."""
        return self.projection(self.features(frames, features))
