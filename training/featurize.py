"""Examples -> model inputs, through mmsa.processors (the app's own input contract per branch), with an on-disk
cache.

Each clip is read once per branch by that branch's processor (log-mel or Whisper voice states; frames or face
crops). What is cached depends on what is frozen: a frozen text or video backbone is run once and its outputs are
kept; otherwise the processor's item is. Keys cover the clip (path, size, mtime, span) and every setting that
changes the result (the processor's signature and a digest of a frozen backbone's weights), so a changed config or
clip misses the cache instead of reusing stale features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mmsa import features as F
from mmsa.media import SAMPLE_RATE, MediaError, decode_audio, iter_span_frames, probe
from mmsa.model import MultimodalSentimentModel
from mmsa.processors import processors_for

from .data import Dataset, Example

logger = logging.getLogger("mmsa.training")
CACHE_VERSION = 4  # bump when the cached format or the preprocessing code changes meaning


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def weights_digest(module: torch.nn.Module) -> str:
    """A digest of every weight's bytes, hashed in place (no copies): it runs once per run on ~100 MB."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(memoryview(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()[:32]


class FeatureCache:
    """One small safetensors file per (kind, config, example) under root."""

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root else None
        self.hits = self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / kind / key[:2] / f"{key}.safetensors"

    def get(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        if self.root is None:
            return None
        path = self._path(kind, key)
        if path.is_file():
            try:
                self.hits += 1
                return load_file(str(path))
            except Exception:  # a torn write from an interrupted run: recompute
                logger.warning("unreadable cache entry %s; recomputing", path)
        self.misses += 1
        return None

    def put(self, kind: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
        if self.root is None:
            return
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        os.replace(tmp, path)  # atomic: readers never see half a file


@dataclass
class Features:
    """Model inputs for a dataset, aligned with its examples (after skipped clips are removed)."""

    examples: list[Example]
    texts: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    text_features: torch.Tensor | None = None  # (n, hidden) when the text backbone is frozen
    video_features: torch.Tensor | None = None  # (n, width) when the video backbone is frozen
    # modality -> one processor item (or None) per example: audio always, video when its backbone trains
    items: dict[str, list] = field(default_factory=dict)
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    emotion: torch.Tensor | None = None
    sentiment: torch.Tensor | None = None
    # a teacher's probabilities (training.distill): (n, 7), (n, 3), and which examples have them
    soft_emotion: torch.Tensor | None = None
    soft_sentiment: torch.Tensor | None = None
    has_soft: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.examples)


class Featurizer:
    def __init__(self, model: MultimodalSentimentModel, cache_dir: str | os.PathLike | None = None,
                 text_batch: int = 64):
        self.model, self.cfg = model, model.config
        self.cache = FeatureCache(cache_dir)
        self.text_batch = text_batch
        cfg = self.cfg
        self.frozen_text = "text" in cfg.modalities and cfg.text_trainable_layers == 0 and cfg.text_lora_rank == 0
        self.frozen_video = "video" in cfg.modalities and not cfg.video_trainable and cfg.video_backbone != "tiny3d"
        self.procs = processors_for(model)  # the voice processor loads its Whisper encoder on first use
        self.sig = {m: _digest(CACHE_VERSION, p.signature()) for m, p in self.procs.items() if m != "text"}
        if "video" in self.sig:
            self.sig["frames"] = self.sig.pop("video")
        if self.frozen_text:
            self.sig["text"] = _digest(CACHE_VERSION, cfg.text_config, cfg.text_pooling, cfg.text_max_length, cfg.text_style,
                                       cfg.dialogue_context, weights_digest(model.text_encoder.backbone))
        if self.frozen_video:
            self.sig["video"] = _digest(CACHE_VERSION, self.sig["frames"], cfg.video_backbone, cfg.frame_norm,
                                        weights_digest(model.video_encoder.backbone))

    @staticmethod
    def _clip_id(e: Example) -> list:
        st = os.stat(e.clip)
        return [os.path.abspath(e.clip), st.st_size, st.st_mtime_ns, e.start, e.end]

    def __call__(self, dataset: Dataset, desc: str = "features") -> Features:
        cfg = self.cfg
        want_audio = "audio" in cfg.modalities
        want_video = "video" in cfg.modalities
        kept: list[Example] = []
        audio_rows, video_rows, has_audio, has_video = [], [], [], []
        for e in tqdm(dataset.examples, desc=f"{desc}: clips", leave=False, mininterval=2.0, disable=not dataset.has_clips):
            if not e.clip or not (want_audio or want_video):
                kept.append(e)
                audio_rows.append(None)
                video_rows.append(None)
                has_audio.append(False)
                has_video.append(False)
                continue
            try:
                a, v = self._clip_features(e, want_audio, want_video)
            except (MediaError, OSError, ValueError, RuntimeError) as err:
                dataset.skipped.append(f"{e.uid}: {err}")
                continue
            kept.append(e)
            audio_rows.append(a)
            video_rows.append(v)
            has_audio.append(a is not None)
            has_video.append(v is not None)
        if dataset.skipped:
            logger.warning("%s: skipped %d unreadable clip(s), e.g. %s", dataset.name, len(dataset.skipped),
                           dataset.skipped[0])
        out = Features(examples=kept, texts=[e.text for e in kept], contexts=[e.context for e in kept])
        out.emotion = torch.tensor([e.emotion for e in kept], dtype=torch.long)
        out.sentiment = torch.tensor([e.sentiment for e in kept], dtype=torch.long)
        if "text" in cfg.modalities:
            # the text processor's presence rule, as in the app
            out.present["text"] = torch.tensor([self.procs["text"].read(t) is not None for t in out.texts],
                                               dtype=torch.bool)
            if self.frozen_text:
                out.text_features = self._text_features(out.texts, out.contexts, desc)
        if want_audio:
            proc = self.procs["audio"]
            if hasattr(proc, "normalise"):  # a per-speaker voice: a dialogue's utterances together, as a video's
                audio_rows = proc.normalise(audio_rows, [e.dialogue or e.uid for e in kept])
            out.items["audio"] = audio_rows
            out.present["audio"] = torch.tensor(has_audio, dtype=torch.bool)
        if want_video:
            if self.frozen_video:
                width = next((v.shape[0] for v in video_rows if v is not None), 1)
                out.video_features = torch.stack([v if v is not None else torch.zeros(width) for v in video_rows]) \
                    if video_rows else torch.zeros(0, width)
            else:
                out.items["video"] = video_rows
            out.present["video"] = torch.tensor(has_video, dtype=torch.bool)
        return out

    def _clip_features(self, e: Example, want_audio: bool, want_video: bool):
        """(audio item, video item or frozen video features) of one example's span; None where it has none."""
        ident = self._clip_id(e)
        a_key = _digest(self.sig["audio"], ident) if want_audio else None
        v_kind = "video" if self.frozen_video else "frames"
        v_key = _digest(self.sig[v_kind], ident) if want_video else None
        a = self.cache.get("audio", a_key) if a_key else None
        v = self.cache.get(v_kind, v_key) if v_key else None
        if (want_audio and a is None) or (want_video and v is None):
            info = probe(e.clip, max_duration=None)
            start = e.start or 0.0
            end = min(e.end, info.duration) if e.end is not None else info.duration
            if end <= start:
                raise MediaError(f"{e.clip}: span {start}-{e.end} is outside the clip ({info.duration:.2f} s)")
            if want_audio and a is None:
                item = None
                if info.has_audio:
                    wav = decode_audio(e.clip, SAMPLE_RATE, max_seconds=end + 0.5)
                    item = self.procs["audio"].read(wav[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)])
                # log-mels are stored as float16 (half the disk and memory); the collator widens them again
                a = {"item": _as_tensor(item, half=True)} if item is not None else {}
                self.cache.put("audio", a_key, a)
            if want_video and v is None:
                video = self.procs["video"]
                frames = None
                if info.has_video:
                    frames = next((f for _, f in iter_span_frames(e.clip, [(start, end)], self.cfg.num_frames,
                                                                  video.side, square=video.square)), None)
                item = video.read(frames)
                if item is None:
                    v = {}
                elif self.frozen_video:
                    x = video.collate([item])[0]["video"]
                    with torch.inference_mode():
                        v = {"item": self.model.video_encoder.embed(x)[0].float()}
                else:
                    v = {"item": torch.from_numpy(np.ascontiguousarray(item))}
                self.cache.put(v_kind, v_key, v)
        a_t = _item_of(a.get("item")) if a else None
        v_t = v.get("item") if v else None
        if v_t is not None and not self.frozen_video:
            v_t = v_t.numpy()
        return a_t, v_t

    def _text_features(self, texts: list[str], contexts: list[str], desc: str) -> torch.Tensor:
        cfg = self.cfg
        keys = [_digest(self.sig["text"], F.normalize_text(t, cfg.text_style),
                        F.normalize_text(c, cfg.text_style) if cfg.dialogue_context else "")
                for t, c in zip(texts, contexts)]
        rows: list[torch.Tensor | None] = []
        for k in keys:
            hit = self.cache.get("text", k)
            rows.append(hit["pooled"] if hit else None)
        todo = [i for i, r in enumerate(rows) if r is None]
        encoder = self.model.text_encoder.eval()
        for s in tqdm(range(0, len(todo), self.text_batch), desc=f"{desc}: text", leave=False, mininterval=2.0,
                      disable=len(todo) < self.text_batch * 4):
            idx = todo[s:s + self.text_batch]
            tok = F.tokenize(self.model.tokenizer, [texts[i] for i in idx], cfg, [contexts[i] for i in idx])
            with torch.inference_mode():
                pooled = encoder.embed(tok["input_ids"], tok["attention_mask"], tok.get("token_type_ids")).float()
            for j, i in enumerate(idx):
                rows[i] = pooled[j].clone()
                self.cache.put("text", keys[i], {"pooled": rows[i]})
        hidden = self.model.text_encoder.backbone.config.hidden_size
        return torch.stack(rows) if rows else torch.zeros(0, hidden)


def _as_tensor(item, half: bool) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(item)) if not isinstance(item, torch.Tensor) else item
    return t.to(torch.float16) if half and t.dim() == 2 else t.contiguous()  # only spectrograms are halved


def _item_of(t: torch.Tensor | None):
    """A cached audio item back in the processor's own type: log-mels stay tensors, voice vectors are arrays."""
    if t is None:
        return None
    return t if t.dim() == 2 else t.numpy()
