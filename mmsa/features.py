"""Model inputs from decoded media: frames -> tensor, waveform -> log-mel, text -> tokens.

Training and inference both call these, so a model never sees inputs prepared differently from training.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import torch

from .config import PITCH_STATISTICS, ModelConfig
from .media import SAMPLE_RATE
from .speech_states import pooled, speech_bounds

LOG_EPS = 1e-6  # floor before log so silence gives a finite value
# per-channel statistics of each frame normalisation (RGB); "unit" only scales to [0, 1] as the seed did
FRAME_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "kinetics": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def frames_to_tensor(frames: np.ndarray, norm: str) -> torch.Tensor:
    """Resized RGB uint8 frames (frames, size, size, 3) -> float tensor (frames, 3, size, size), normalised."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (frames, height, width, 3), got {frames.shape}")
    mean, std = FRAME_STATS[norm]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@functools.lru_cache(maxsize=8)
def _mel_transform(sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                                                n_mels=n_mels)


def log_mel(waveform: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Mono waveform at config.sample_rate (samples,) -> standardised log-mel, shape = (n_mels, n_frames).

    Clips longer than audio_max_frames keep their middle, where speech of an utterance usually is.
    """
    wav = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
    if wav.dim() != 1:
        raise ValueError(f"waveform must be mono with shape (samples,), got {tuple(wav.shape)}")
    min_samples = config.n_fft
    if wav.numel() < min_samples:  # too short for one FFT window: pad with silence
        wav = torch.nn.functional.pad(wav, (0, min_samples - wav.numel()))
    mel = _mel_transform(config.sample_rate, config.n_fft, config.hop_length, config.n_mels)(wav)
    mel = torch.log(mel + LOG_EPS)
    mel = (mel - mel.mean()) / mel.std().clamp_min(1e-5)
    if mel.shape[1] > config.audio_max_frames:
        start = (mel.shape[1] - config.audio_max_frames) // 2
        mel = mel[:, start:start + config.audio_max_frames]
    return mel


def batch_log_mel(waveforms: Sequence[np.ndarray], config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms -> zero-padded log-mels (batch, n_mels, audio_max_frames) and valid lengths (batch,)."""
    out = torch.zeros(len(waveforms), config.n_mels, config.audio_max_frames)
    lengths = torch.zeros(len(waveforms), dtype=torch.long)
    for i, wav in enumerate(waveforms):
        mel = log_mel(wav, config)
        out[i, :, :mel.shape[1]] = mel
        lengths[i] = mel.shape[1]
    return out, lengths


VOICE_MIN_SAMPLES = SAMPLE_RATE // 10  # 0.1 s: shorter gives the Whisper encoder too few frames to describe a voice
WHISPER_MAX_FRAMES = 3000  # the encoder's 30 s window


def trim_to_speech(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono audio (samples,) from the first to the last speech the recogniser's own VAD hears (all of it
    when it hears none): the voice branch hears speech, not the silence or music around it."""
    first, last = speech_bounds(audio)
    return audio[first:last]


def voice_features(whisper, waveform: np.ndarray) -> np.ndarray | None:
    """16 kHz mono speech (samples,) -> the Whisper encoder's states pooled over time: their mean, then their
    standard deviation, shape = (2 * width,). None when there is too little audio.

    whisper: a faster-whisper WhisperModel; its own feature extractor and encoder run (no decoding)."""
    wav = np.asarray(waveform, dtype=np.float32)
    if wav.size < VOICE_MIN_SAMPLES:
        return None
    mel = whisper.feature_extractor(wav)[:, :WHISPER_MAX_FRAMES]
    return pooled(np.asarray(whisper.encode(mel))[0])  # states (time, width)


def speaker_normalise(features: np.ndarray, groups: Sequence, prior: dict) -> np.ndarray:
    """Voice features (n, F) standardised per speaker: each group's (a speaker's utterances in one video) mean
    and variance, shrunk towards the training voices' (prior "mean", "var", (F,)) as if the group held
    prior["weight"] more utterances of the average voice. A long talk is measured against its speaker's own
    voice; a single utterance mostly against the average one. shape = (n, F).

    Why: what carries emotion across speakers, languages and studios is how a voice departs from its usual self
    (training.voice measures it leave-one-corpus-out), not where it sits among all voices."""
    x = np.asarray(features, np.float64)
    mean, var = np.asarray(prior["mean"], np.float64), np.asarray(prior["var"], np.float64)
    weight = float(prior["weight"])
    out = np.empty_like(x)
    keys = np.array([str(g) for g in groups])
    for key in dict.fromkeys(keys):
        rows = keys == key
        n = int(rows.sum())
        m = (x[rows].sum(0) + weight * mean) / (n + weight)
        v = (((x[rows] - m) ** 2).sum(0) + weight * var) / (n + weight)
        out[rows] = (x[rows] - m) / np.sqrt(v + 1e-8)
    return out.astype(np.float32)


def voice_pair(features: np.ndarray, groups: Sequence, prior: dict) -> np.ndarray:
    """What a per-speaker voice branch reads, shape = (n, 2F): each utterance standardised with its group
    (speaker_normalise), then alone. The first half is what it classifies; the second, a function of the utterance
    only, is what its familiarity is measured on, so that "how typical is this voice" does not depend on how many
    utterances its speaker has (with many, any voice looks typical of itself)."""
    alone = speaker_normalise(features, list(range(len(features))), prior)
    return np.concatenate([speaker_normalise(features, groups, prior), alone], axis=1)


PITCH_RANGE_HZ = (70.0, 500.0)  # speaking voices' F0; the tracker's answers outside it are not pitch
SILENCE_RMS = 1e-3  # -60 dBFS: quieter frames are not voiced, whatever the tracker says


def pitch_statistics(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono audio (samples,) -> (PITCH_STATISTICS,) statistics of its pitch in semitones above 27.5 Hz over
    its voiced 20 ms frames: mean, standard deviation, 20th / 50th / 80th percentiles, their range (80th - 20th),
    and the mean step between frames. NaN where fewer than 3 frames are voiced (not measured).

    The tracker is torchaudio's normalised cross-correlation (detect_pitch_frequency), about 6 ms per second of
    speech on one core; a frame counts as voiced when its energy is over 0.3 x the median frame's (and over
    SILENCE_RMS) and its pitch within PITCH_RANGE_HZ. What they are for: voice_movement."""
    import torchaudio

    out = np.full(PITCH_STATISTICS, np.nan, np.float32)
    wav = torch.as_tensor(np.asarray(audio, np.float32))
    if wav.numel() < VOICE_MIN_SAMPLES:
        return out
    low, high = PITCH_RANGE_HZ
    f0 = torchaudio.functional.detect_pitch_frequency(wav, SAMPLE_RATE, frame_time=0.02, win_length=5,
                                                      freq_low=int(low), freq_high=int(high)).numpy()
    hop = wav.numel() // max(len(f0), 1)
    if hop == 0:
        return out
    frames = wav[:hop * len(f0)].reshape(len(f0), hop).numpy()
    energy = np.sqrt((frames.astype(np.float64) ** 2).mean(1) + 1e-12)
    voiced = (energy > max(0.3 * float(np.median(energy)), SILENCE_RMS)) & (f0 > low) & (f0 < high)
    if voiced.sum() < 3:
        return out
    tones = 12.0 * np.log2(f0[voiced] / 27.5)
    p20, p50, p80 = np.percentile(tones, [20, 50, 80])
    return np.array([tones.mean(), tones.std(), p20, p50, p80, p80 - p20, np.abs(np.diff(tones)).mean()],
                    np.float32)


def voice_movement(statistics: np.ndarray, groups: Sequence, calibration: dict) -> np.ndarray:
    """How much each speaker's voice moves between utterances, as a weight in [0, 1] for the voice branch, (n,).

    statistics: pitch_statistics of each utterance (n, PITCH_STATISTICS); groups: one speaker label per utterance.
    Each speaker's utterances are standardised (calibration "mean", "std") and projected on the directions that
    best told the voice's classes apart in training ("directions", (k, PITCH_STATISTICS)); their variance there,
    averaged over the directions, is 0 at calibration "low" and 1 from "high" (percentiles of the training
    speakers' groups of utterances). 0 for a speaker with fewer than two measured utterances: how the voice moves
    cannot be seen, so it has no say (a one-utterance upload; its own answer is still shown).

    Why: the voice's Whisper states move with the words as much as with emotion (a flat synthetic voice reading
    new sentences looks as varied to them as an actor changing emotion), so standardising per speaker cannot tell
    the two apart; how the pitch moves can (training.voice measures it). Read alone, an utterance gave the voice
    nothing to go on: on MELD dev spoken by espeak-ng one-utterance readings took the fused answer 0.035 below the
    words' (benchmarks.fusion (a1)), and nothing in an utterance's own pitch told that voice from the actors'."""
    x = (np.asarray(statistics, np.float64) - np.asarray(calibration["mean"])) / np.asarray(calibration["std"])
    projected = x @ np.asarray(calibration["directions"], np.float64).T
    low, high = float(calibration["low"]), float(calibration["high"])
    out = np.zeros(len(x))
    keys = np.array([str(g) for g in groups])
    measured = np.isfinite(projected).all(1)
    for key in dict.fromkeys(keys):
        rows = np.flatnonzero((keys == key) & measured)
        if len(rows) >= 2:
            spread = float(projected[rows].var(0, ddof=1).mean())
            out[rows] = np.clip((spread - low) / (high - low), 0.0, 1.0)
    return out


def face_tensor(crops: np.ndarray) -> torch.Tensor:
    """Grayscale face crops uint8 (frames, size, size) -> float (frames, 1, size, size) in [0, 1]."""
    if crops.ndim != 3:
        raise ValueError(f"face crops must have shape (frames, size, size), got {crops.shape}")
    return torch.from_numpy(np.ascontiguousarray(crops)).float().div_(255.0).unsqueeze(1)


# typographic punctuation -> ASCII: MELD's gold transcripts use the former, speech recognisers the latter
_PUNCT = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ", "\u2013": "-",
                        "\u2026": "...", "\u00a0": " ", "\u0092": "'", "\u0085": "...", "\u0097": " - "})


# what Whisper does not write: exclamation marks (it ends those sentences with full stops), ellipses and dashes
_ASR_MARKS = [(re.compile(r"[?!]*\?[?!]*"), "?"), (re.compile(r"!+"), "."), (re.compile(r"\.{2,}"), "."),
              (re.compile(r"\s+-+\s+|--+"), " "), (re.compile(r'["*\[\]()]'), ""), (re.compile(r"([.,?])[.,]+"), r"\1")]
# ... and keeping the "!" it writes for excited speech (one, with no full stop or comma beside it)
_ASR_EXCLAIM_MARKS = [(re.compile(r"[?!]*\?[?!]*"), "?"), (re.compile(r"[.,]*!+[.,!]*"), "!"),
                      *_ASR_MARKS[2:5], (re.compile(r"([.,?!])[.,]+"), r"\1")]


def normalize_text(text: str, style: str = "verbatim") -> str:
    """One spelling of punctuation and spaces for training and inference alike; style "asr" also writes it the
    way a speech recogniser would (see ModelConfig.text_style), "asr-exclaim" the same but keeping "!"."""
    text = " ".join(str(text).translate(_PUNCT).split())
    if style == "asr":
        for pattern, replacement in _ASR_MARKS:
            text = pattern.sub(replacement, text)
        text = " ".join(re.sub(r"\s+([.,?])", r"\1", text).lower().split())
    elif style == "asr-exclaim":
        for _ in range(2):  # twice: taking out a space can bring two marks together ("hey! , you")
            for pattern, replacement in _ASR_EXCLAIM_MARKS:
                text = pattern.sub(replacement, text)
            text = " ".join(re.sub(r"\s+([.,?!])", r"\1", text).lower().split())
    return text


def drop_exclamations(text: str, keep: float, rng) -> str:
    """Each "!" of a subtitle kept with probability keep, else written as a full stop: the recogniser writes "!"
    for some excited speech (tiny.en on RAVDESS actors 01-20: 26% of angry clips, 15% of happy, none of neutral or
    calm), never as often as subtitles do (MELD train: 63% of angry lines, 59% of joyful, 7% of neutral)."""
    return re.sub(r"!+", lambda m: m.group(0) if rng.random() < keep else ".", text)


def tokenize(tokenizer, texts: Sequence[str], config: ModelConfig,
             contexts: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Utterances (and optional dialogue context, earlier turns joined) -> padded token tensors (batch, tokens).

    The context is the second sequence of a pair; context_of() already kept only its most recent words, and
    longest-first truncation trims the (longer) context before the utterance.
    """
    texts = [normalize_text(t, config.text_style) if t else "" for t in texts]
    kwargs = dict(padding=True, truncation=True, max_length=config.text_max_length, return_tensors="pt")
    if config.dialogue_context > 0 and contexts is not None:
        ctx = [normalize_text(c, config.text_style) if c else "" for c in contexts]
        if any(ctx):
            return dict(tokenizer(list(texts), ctx, **kwargs))
    return dict(tokenizer(list(texts), **kwargs))


def context_of(previous: Sequence[str], config: ModelConfig) -> str:
    """The dialogue context of an utterance: its last config.dialogue_context predecessors, most recent last."""
    if config.dialogue_context <= 0:
        return ""
    words = " ".join(p for p in previous[-config.dialogue_context:] if p).split()
    return " ".join(words[-config.text_max_length:])  # a token is at least a word: this bounds the work
