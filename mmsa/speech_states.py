"""The Whisper encoder's states over a recording's speech: encoded once, read by the recogniser and the voice.

The recogniser keeps the speech its VAD hears, joins it, and encodes it in 30 s windows. A voice branch trained on
those same states (ModelConfig.voice_context "recording") reads them pooled over each utterance instead of encoding
the utterance a second time. Training reads its clips the same way (recording_features): a speaker's clips one
after another, the same VAD, the same padded 30 s windows, so the branch learns from states made as in use.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from .media import SAMPLE_RATE

MEL_HOP = 160  # samples per Whisper mel frame (10 ms)
STATE_HOP = 2 * MEL_HOP  # the encoder's strided convolution: one state per 20 ms
WINDOW_FRAMES = 3000  # mel frames in one encoder window (30 s)
MIN_STATES = 5  # 0.1 s: fewer states describe no voice (features.VOICE_MIN_SAMPLES)
UTTERANCE_PAD_MS = 100  # a clip's speech runs from its first to its last VAD speech, padded this much


def pooled(states: np.ndarray) -> np.ndarray:
    """Encoder states (time, width) -> their mean, then their standard deviation over time, shape = (2 * width,)."""
    return np.concatenate([states.mean(0), states.std(0)]).astype(np.float32)


def speech_chunks(audio: np.ndarray) -> list[dict]:
    """Where the recogniser's VAD (faster-whisper's defaults) hears speech: [{"start", "end"}] in samples."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(np.asarray(audio, np.float32), VadOptions(), sampling_rate=SAMPLE_RATE)


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    """(first, last) sample of a clip's speech, padded UTTERANCE_PAD_MS; the whole clip when no speech is heard.
    In use an utterance runs from its first word to its last; a training clip from its first speech to its last."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(np.asarray(audio, np.float32), VadOptions(speech_pad_ms=UTTERANCE_PAD_MS),
                                  sampling_rate=SAMPLE_RATE)
    return (spans[0]["start"], spans[-1]["end"]) if spans else (0, len(audio))


def joined(audio: np.ndarray, chunks: Sequence[dict]) -> np.ndarray:
    """The speech chunks of audio, one after another (what the recogniser transcribes)."""
    parts = [audio[c["start"]:c["end"]] for c in chunks]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


class SpeechStates:
    """Encoder states along the joined speech, with the map back to the recording's time.

    chunks: the speech kept, in the recording's samples; add() stores a window's states as the encoder gave
    them; pool() reads a stretch of the recording. A later window overwrites an earlier one where they overlap
    (the recogniser's windows start where its last one's words ended)."""

    def __init__(self, chunks: Sequence[dict]):
        self.chunks = [(int(c["start"]), int(c["end"])) for c in chunks]
        lengths = [end - start for start, end in self.chunks]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # chunk -> joined sample
        self.n_states = int(math.ceil(self.offsets[-1] / STATE_HOP))
        self.states: np.ndarray | None = None  # (n_states, width), allocated at the first window
        self.filled = np.zeros(self.n_states, bool)
        self.windows: list[int] = []  # each stored window's first mel frame, in the order stored

    def add(self, seek: int, states: np.ndarray) -> None:
        """A window's encoder output (1 or none, states, width) for the window starting at mel frame `seek`;
        states past the joined speech (the window's padding) are dropped."""
        out = np.asarray(states, np.float32)
        out = out.reshape(-1, out.shape[-1])
        self.windows.append(seek)
        if self.states is None:
            self.states = np.zeros((self.n_states, out.shape[1]), np.float32)
        first = seek // 2
        n = max(0, min(len(out), self.n_states - first))
        self.states[first:first + n] = out[:n]
        self.filled[first:first + n] = True

    def pool(self, start: float, end: float) -> np.ndarray | None:
        """The states of the recording's [start, end] seconds that the VAD kept: their mean, then their standard
        deviation (2 * width,); None with fewer than MIN_STATES (silence, or too short to describe a voice)."""
        if self.states is None:
            return None
        lo, hi = start * SAMPLE_RATE, end * SAMPLE_RATE
        rows = []
        for (c_start, c_end), offset in zip(self.chunks, self.offsets):
            a, b = max(lo, c_start), min(hi, c_end)
            if b > a:
                first = int((offset + a - c_start) // STATE_HOP)
                last = int(math.ceil((offset + b - c_start) / STATE_HOP))
                rows.append(np.arange(first, min(last, self.n_states)))
        if not rows:
            return None
        index = np.concatenate(rows)
        index = index[self.filled[index]]
        if index.size < MIN_STATES:
            return None
        return pooled(self.states[index])


def encode_speech(whisper, audio: np.ndarray, chunks: Sequence[dict] | None = None) -> SpeechStates:
    """The states of audio's speech, encoded as the recogniser encodes it (VAD, joined, padded 30 s windows) but in
    back-to-back windows, without decoding. whisper: a faster-whisper WhisperModel. chunks: the speech, when known."""
    from faster_whisper.audio import pad_or_trim

    audio = np.asarray(audio, np.float32)
    chunks = speech_chunks(audio) if chunks is None else chunks
    out = SpeechStates(chunks)
    speech = joined(audio, chunks)
    if speech.size == 0:
        return out
    mel = whisper.feature_extractor(speech)
    content = max(mel.shape[-1] - 1, 1)  # the extractor's last frame is padding: the recogniser leaves it out
    for seek in range(0, content, WINDOW_FRAMES):
        out.add(seek, whisper.encode(pad_or_trim(mel[:, seek:min(seek + WINDOW_FRAMES, content)])))
    return out


def recording_features(whisper, clips: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """Pooled states (2 * width,) of each clip, the clips heard as one recording (one speaker's, in training):
    each clip's speech found by the VAD, all of it joined and encoded in 30 s windows, each clip's states pooled
    from its first speech to its last (speech_bounds). None for a clip with too little speech."""
    chunks, bounds, start = [], [], 0
    for clip in clips:
        clip = np.asarray(clip, np.float32)
        chunks += [{"start": c["start"] + start, "end": c["end"] + start} for c in speech_chunks(clip)]
        lo, hi = speech_bounds(clip)
        bounds.append(((start + lo) / SAMPLE_RATE, (start + hi) / SAMPLE_RATE))
        start += clip.size
    recording = np.concatenate([np.asarray(c, np.float32) for c in clips]) if clips else np.zeros(0, np.float32)
    states = encode_speech(whisper, recording, chunks)
    return [states.pool(lo, hi) for lo, hi in bounds]


class RecordingEncoder:
    """The recogniser with its encoder output kept: transcribe through .asr, and call .window(seek) as each
    decoded segment arrives (segments carry the seek of the window they were read from), so that the window's
    states are stored in .states.

    A shallow copy of the WhisperModel: the shared model stays untouched, so analyses running side by side keep
    their states apart."""

    def __init__(self, asr, chunks: Sequence[dict]):
        self.states = SpeechStates(chunks)
        self._last = None
        self.asr = copy.copy(asr)
        encode = asr.encode

        def keep(features):
            self._last = encode(features)
            return self._last

        self.asr.encode = keep

    def window(self, seek: int) -> None:
        """The latest encoder output belongs to the window at `seek` (the segment just decoded was read from it)."""
        if self._last is not None:
            self.states.add(seek, np.asarray(self._last))
            self._last = None
