"""Examples -> model inputs, through mmsa.features (the app's own preprocessing), with an on-disk cache.

What is cached depends on what is frozen: a frozen text or video backbone is run once and its outputs are kept;
the trainable audio branch keeps its log-mel input. Keys cover the clip (path, size, mtime, span) and every
setting that changes the result (preprocessing and a digest of the backbone's weights), so a changed config or
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
from mmsa.media import MediaError, SAMPLE_RATE, decode_audio, iter_span_frames, probe
from mmsa.model import MultimodalSentimentModel

from .data import Dataset, Example

logger = logging.getLogger("mmsa.training")
CACHE_VERSION = 3  # bump when the cached format or the preprocessing code changes meaning


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
    audio: torch.Tensor | None = None  # (n, n_mels, frames) float16
    audio_lengths: torch.Tensor | None = None  # (n,)
    video_features: torch.Tensor | None = None  # (n, width) when the video backbone is frozen
    video_frames: torch.Tensor | None = None  # (n, frames, size, size, 3) uint8 when it trains
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    emotion: torch.Tensor | None = None
    sentiment: torch.Tensor | None = None

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
        self.sig = {
            "audio": _digest(CACHE_VERSION, cfg.sample_rate, cfg.n_mels, cfg.n_fft, cfg.hop_length,
                             cfg.audio_max_frames),
            "frames": _digest(CACHE_VERSION, cfg.num_frames, cfg.frame_size),
        }
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
        n = len(kept)
        if "text" in cfg.modalities:
            out.present["text"] = torch.tensor([bool(F.normalize_text(t)) for t in out.texts], dtype=torch.bool)
            if self.frozen_text:
                out.text_features = self._text_features(out.texts, out.contexts, desc)
        if want_audio:
            out.audio = torch.zeros(n, cfg.n_mels, cfg.audio_max_frames, dtype=torch.float16)
            out.audio_lengths = torch.ones(n, dtype=torch.long) * cfg.audio_max_frames
            for i, a in enumerate(audio_rows):
                if a is not None:
                    out.audio[i, :, :a.shape[1]] = a.to(torch.float16)
                    out.audio_lengths[i] = a.shape[1]
            out.present["audio"] = torch.tensor(has_audio, dtype=torch.bool)
        if want_video:
            if self.frozen_video:
                width = next((v.shape[0] for v in video_rows if v is not None), 1)
                out.video_features = torch.zeros(n, width)
            else:
                out.video_frames = torch.zeros(n, cfg.num_frames, cfg.frame_size, cfg.frame_size, 3,
                                               dtype=torch.uint8)
            for i, v in enumerate(video_rows):
                if v is not None:
                    (out.video_features if self.frozen_video else out.video_frames)[i] = v
            out.present["video"] = torch.tensor(has_video, dtype=torch.bool)
        return out

    def _clip_features(self, e: Example, want_audio: bool, want_video: bool):
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
                if info.has_audio:
                    wav = decode_audio(e.clip, SAMPLE_RATE, max_seconds=end + 0.5)
                    seg = wav[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
                    a = {"mel": F.log_mel(seg, self.cfg).to(torch.float16)} if seg.size >= self.cfg.n_fft else {}
                else:
                    a = {}
                self.cache.put("audio", a_key, a)
            if want_video and v is None:
                frames = None
                if info.has_video:
                    frames = next((f for _, f in iter_span_frames(e.clip, [(start, end)], self.cfg.num_frames,
                                                                  self.cfg.frame_size)), None)
                if frames is None:
                    v = {}
                elif self.frozen_video:
                    x = F.frames_to_tensor(frames, self.cfg.frame_norm).unsqueeze(0)
                    with torch.inference_mode():
                        v = {"features": self.model.video_encoder.embed(x)[0].float()}
                else:
                    v = {"frames": torch.from_numpy(np.ascontiguousarray(frames))}
                self.cache.put(v_kind, v_key, v)
        a_t = a.get("mel") if a else None
        v_t = (v.get("features") if self.frozen_video else v.get("frames")) if v else None
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
