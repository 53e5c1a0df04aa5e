"""Who spoke when: speaker embeddings of the speech, clustered without knowing how many people talk.

The embeddings come from the pretrained speaker encoder that the `resemblyzer` package ships (a GE2E d-vector
model: 3 LSTM layers over 40 mel bands, 256 values, Apache-2.0). Only its weight file is read here, with
weights_only=True; the network and its mel front end are rebuilt on torch/torchaudio so that analysing a video does
not import librosa. tests/test_speakers.py checks that both give the same embeddings.

Each utterance is cut at word boundaries into pieces of about PIECE_S seconds; every piece is embedded; pieces long
enough to be trusted are clustered (agglomerative, cosine distance, average linkage, DISTANCE_THRESHOLD), the rest
join the nearest speaker. An utterance whose pieces belong to two speakers is split at the word where it changes.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .media import SAMPLE_RATE
from .results import Span, Word

N_MELS, WINDOW, HOP = 40, 400, 160  # the encoder's front end: 25 ms windows, 10 ms hops, 40 mel bands
PARTIAL_FRAMES = 160  # the encoder reads 1.6 s windows; a piece's embedding averages its windows
PARTIAL_STEP = 80
BATCH = 256  # windows per encoder call
TARGET_DBFS = -30.0  # quiet speech is raised to this level, as the encoder was trained
PIECE_S = 2.0  # speech is embedded in pieces of about this length (cut at word boundaries)
MIN_PIECE_S = 0.8  # shorter pieces are too noisy to form speakers: they join the nearest one
# cosine distance above which two groups of pieces are different people; tuned with benchmarks/diarization.py
DISTANCE_THRESHOLD = 0.3
MIN_SPEAKER_S = 1.5  # a "speaker" with less speech than this is more likely noise: it joins the nearest one


class SpeakerEncoderUnavailable(RuntimeError):
    """The speaker encoder's weights are not installed."""


class SpeakerEncoder(nn.Module):
    """Mel frames (batch, frames, 40) -> unit-length speaker embeddings (batch, 256)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, num_layers=3, batch_first=True)
        self.linear = nn.Linear(256, 256)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds = torch.relu(self.linear(hidden[-1]))
        return embeds / embeds.norm(dim=1, keepdim=True).clamp_min(1e-8)


def weights_path() -> Path:
    spec = importlib.util.find_spec("resemblyzer")  # finds the package without importing it (and librosa)
    path = Path(spec.origin).parent / "pretrained.pt" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise SpeakerEncoderUnavailable("the speaker encoder is not installed: `pip install resemblyzer`")
    return path


@functools.lru_cache(maxsize=1)
def load_encoder() -> SpeakerEncoder:
    checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
    encoder = SpeakerEncoder()
    encoder.load_state_dict(state)
    return encoder.eval()


@functools.lru_cache(maxsize=1)
def _mel_transform():
    import torchaudio

    # librosa's defaults, which the encoder was trained with: power spectrum, Slaney mel scale and norm
    return torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=WINDOW, hop_length=HOP, n_mels=N_MELS,
                                                mel_scale="slaney", norm="slaney", power=2.0, pad_mode="constant")


def embed(wave: np.ndarray) -> np.ndarray:
    """One unit-length embedding (256,) for a 16 kHz mono waveform of one speaker."""
    return embed_many([wave])[0]


def embed_many(waves: list[np.ndarray]) -> np.ndarray:
    """Embeddings (n, 256) of several waveforms, their 1.6 s windows run as one batch."""
    windows, owner = [], []
    for i, wave in enumerate(waves):
        wave = np.asarray(wave, dtype=np.float32)
        rms = float(np.sqrt(np.mean(wave ** 2))) if wave.size else 0.0
        if rms > 0:
            gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
            wave = (wave * max(gain, 1.0)).astype(np.float32)  # raise quiet speech only
        mel = _mel_transform()(torch.from_numpy(wave)).T  # (frames, 40)
        if mel.shape[0] < PARTIAL_FRAMES:
            mel = torch.nn.functional.pad(mel, (0, 0, 0, PARTIAL_FRAMES - mel.shape[0]))
        starts = list(range(0, mel.shape[0] - PARTIAL_FRAMES + 1, PARTIAL_STEP))
        if starts[-1] + PARTIAL_FRAMES < mel.shape[0]:  # the tail gets a window of its own
            starts.append(mel.shape[0] - PARTIAL_FRAMES)
        windows.extend(mel[s:s + PARTIAL_FRAMES] for s in starts)
        owner.extend([i] * len(starts))
    encoder = load_encoder()
    with torch.inference_mode():  # in chunks: memory stays bounded however long the video
        partial = np.concatenate([encoder(torch.stack(windows[i:i + BATCH])).numpy()
                                  for i in range(0, len(windows), BATCH)])
    owner_arr = np.asarray(owner)
    out = np.stack([partial[owner_arr == i].mean(0) for i in range(len(waves))])
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-8)


@dataclass
class Piece:
    """A stretch of one utterance's speech: words[lo:hi] of it, or its whole time when it has no words."""

    utterance: int
    start: float
    end: float
    lo: int = 0
    hi: int = 0


def pieces_of(spans: list[Span]) -> list[Piece]:
    """Utterances cut at word boundaries into pieces of about PIECE_S seconds."""
    pieces = []
    for u, span in enumerate(spans):
        words = span.words
        if not words:
            n = max(1, int(round(span.duration / PIECE_S)))
            step = span.duration / n
            pieces.extend(Piece(u, span.start + k * step, span.start + (k + 1) * step) for k in range(n))
            continue
        lo = 0
        for hi in range(1, len(words) + 1):
            long_enough = words[hi - 1].end - words[lo].start >= PIECE_S
            rest_long_enough = hi == len(words) or words[-1].end - words[hi].start >= MIN_PIECE_S
            if hi == len(words) or (long_enough and rest_long_enough):
                pieces.append(Piece(u, words[lo].start, words[hi - 1].end, lo, hi))
                lo = hi
    return pieces


def cluster(embeddings: np.ndarray, durations: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> np.ndarray:
    """A speaker index per piece. Long pieces form the speakers; short ones, and speakers with under
    MIN_SPEAKER_S of speech, join the nearest speaker by cosine similarity to its mean embedding."""
    n = len(embeddings)
    reliable = durations >= MIN_PIECE_S
    if reliable.sum() < 2:
        return np.zeros(n, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    labels = np.full(n, -1)
    labels[reliable] = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine",
                                               linkage="average").fit_predict(embeddings[reliable])
    while True:  # fold the smallest too-small speaker into its nearest neighbour, one at a time
        ids = [k for k in np.unique(labels) if k >= 0]
        if len(ids) <= 1:
            break
        speech = {k: durations[labels == k].sum() for k in ids}
        smallest = min(ids, key=speech.get)
        if speech[smallest] >= MIN_SPEAKER_S:
            break
        others = [k for k in ids if k != smallest]
        centroids = np.stack([embeddings[labels == k].mean(0) for k in others])
        labels[labels == smallest] = others[int(np.argmax(centroids @ embeddings[labels == smallest].mean(0)))]
    ids = [k for k in np.unique(labels) if k >= 0]
    if (labels < 0).any():
        centroids = np.stack([embeddings[labels == k].mean(0) for k in ids])
        labels[labels < 0] = np.asarray(ids)[np.argmax(embeddings[labels < 0] @ centroids.T, axis=1)]
    return labels


def _part(span: Span, words: list[Word], start: float, end: float) -> Span:
    return replace(span, start=start, end=end, text=" ".join(w.text for w in words), words=list(words))


CHANGE_WINDOW = 100  # frames (1 s) of the short windows that place a speaker change
CHANGE_HOP = 10  # frames between them


def _best_cut(audio: np.ndarray, words: list[Word], p: Piece, q: Piece) -> int:
    """The word index, within the two pieces around a speaker change, where the change happens. Pieces are ~2 s,
    so the change can be anywhere in them: short windows are embedded, and the cut is the word boundary whose two
    sides differ most (between-group scatter of the window embeddings), favouring a pause."""
    candidates = list(range(p.lo + 1, q.hi))
    if len(candidates) <= 1:
        return q.lo
    t0 = words[p.lo].start
    wave = audio[int(t0 * SAMPLE_RATE):int(words[q.hi - 1].end * SAMPLE_RATE)]
    mel = _mel_transform()(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))).T
    starts = list(range(0, max(mel.shape[0] - CHANGE_WINDOW, 0) + 1, CHANGE_HOP))
    with torch.inference_mode():
        emb = load_encoder()(torch.stack([mel[i:i + CHANGE_WINDOW] for i in starts])).numpy()
    centres = t0 + (np.asarray(starts) + CHANGE_WINDOW / 2) * HOP / SAMPLE_RATE

    def separation(k: int) -> float:  # between-group scatter of the windows left and right of word k
        left = centres < words[k].start
        n_left, n_right = int(left.sum()), int((~left).sum())
        if n_left == 0 or n_right == 0:
            return -1.0
        gap = emb[left].mean(0) - emb[~left].mean(0)
        return n_left * n_right / len(emb) * float(gap @ gap)

    sep = np.array([separation(k) for k in candidates])
    # turns mostly begin after a pause: up to 0.5 s of silence before a word counts as much as the full separation
    pause = np.array([min(max(words[k].start - words[k - 1].end, 0.0), 0.5) for k in candidates])
    return candidates[int(np.argmax(sep / max(sep.max(), 1e-9) + pause))]


def split_at_cuts(span: Span, cuts: list[int], voices: list[int]) -> list[tuple[Span, int]]:
    """An utterance cut before the word indices `cuts` into len(cuts) + 1 parts, the j-th spoken by voices[j].

    Each cut is chosen on its own, so two may come out of order or equal: they are put in order here, parts left
    without words are dropped, and neighbours with the same voice are joined. Every word lands in exactly one part
    and every part has start < end."""
    n = len(span.words)
    bounds = [0, *sorted(min(max(int(c), 0), n) for c in cuts), n]
    groups: list[tuple[int, int, int]] = []  # (first word, end word, voice)
    for j, k in enumerate(voices):
        lo, hi = bounds[j], bounds[j + 1]
        if hi <= lo:
            continue
        if groups and groups[-1][2] == k:
            groups[-1] = (groups[-1][0], hi, k)
        else:
            groups.append((lo, hi, k))
    if not groups:  # no words at all: the utterance stays whole, with the first voice
        return [(replace(span), voices[0])]
    parts = []
    for j, (lo, hi, k) in enumerate(groups):
        start = span.start if j == 0 else span.words[lo].start
        end = span.end if j == len(groups) - 1 else span.words[hi].start
        if end <= start:  # overlapping word times from the recogniser: keep the part, give it its own words' span
            end = max(span.words[hi - 1].end, start + 0.01)
        parts.append((_part(span, span.words[lo:hi], start, end), k))
    return parts


def warm_up() -> None:
    """Load the encoder and the clustering code now: a real file's first clustering would otherwise import
    scikit-learn's (about a second) while a user waits."""
    from sklearn.cluster import AgglomerativeClustering

    rng = np.random.default_rng(0)
    embed_many([rng.standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1] * 2)
    AgglomerativeClustering(n_clusters=None, distance_threshold=DISTANCE_THRESHOLD, metric="cosine",
                            linkage="average").fit_predict(rng.standard_normal((3, 4)))


def assign_speakers(audio: np.ndarray, spans: list[Span], threshold: float = DISTANCE_THRESHOLD) -> list[Span]:
    """The utterances with .speaker set (S1, S2, ... in order of first appearance; None where nothing is said); an
    utterance holding a speaker change is split at that word."""
    speech = [i for i, s in enumerate(spans) if s.text.strip()]
    if not speech:
        return spans
    pieces = pieces_of([spans[i] for i in speech])
    waves = [audio[int(p.start * SAMPLE_RATE):max(int(p.end * SAMPLE_RATE), int(p.start * SAMPLE_RATE) + HOP)]
             for p in pieces]
    embeddings = embed_many(waves)
    labels = cluster(embeddings, np.array([p.end - p.start for p in pieces]), threshold)
    out: list[Span] = []
    raw: list[int | None] = []
    by_utterance: dict[int, list[tuple[Piece, int]]] = {}
    for p, k in zip(pieces, labels):
        by_utterance.setdefault(speech[p.utterance], []).append((p, int(k)))
    for i, span in enumerate(spans):
        parts = by_utterance.get(i)
        if not parts:
            out.append(span)
            raw.append(None)
            continue
        runs: list[list[tuple[Piece, int]]] = []
        for p, k in parts:
            if runs and runs[-1][-1][1] == k:
                runs[-1].append((p, k))
            else:
                runs.append([(p, k)])
        if len(runs) == 1 or not span.words:  # one voice, or nowhere to cut: the voice heard longest
            seconds: dict[int, float] = {}
            for p, k in parts:
                seconds[k] = seconds.get(k, 0.0) + p.end - p.start
            out.append(replace(span))
            raw.append(max(seconds, key=seconds.get))
            continue
        # a speaker change inside the utterance: cut at the word that best separates the two voices
        cuts = [_best_cut(audio, span.words, a[-1][0], b[0][0]) for a, b in zip(runs, runs[1:])]
        for part, k in split_at_cuts(span, cuts, [run[0][1] for run in runs]):
            out.append(part)
            raw.append(k)
    names: dict[int, str] = {}
    for k in raw:
        if k is not None and k not in names:
            names[k] = f"S{len(names) + 1}"
    for span, k in zip(out, raw):
        span.speaker = names[k] if k is not None else None
    return out
