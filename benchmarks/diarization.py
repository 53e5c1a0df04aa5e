"""Who spoke when: diarization error rate of mmsa.speakers on generated and real conversations, per clustering
threshold, and what the speaker step costs.

    python -m benchmarks.diarization --conversations 6 --ravdess DATA/RavdessDataSet

Generated: 2-5 espeak-ng voices (mmsa.synth.CONVERSATION_VOICES) taking 8-14 turns. Real: RAVDESS speech clips of
2-4 actors from 01-20 (the actors the voice branch trains on; 21-24 are never read) joined into turns. Each
conversation is transcribed and cut into utterances once, as the pipeline does; then every threshold is tried.
DER comes from pyannote.metrics (collar 0.25 s, overlaps scored; there are none). Utterance accuracy: each
utterance's speaker against the true speaker it overlaps most, after the best one-to-one naming of speakers.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "Good morning everyone, thanks for coming in today.", "Let us start with the budget for next quarter.",
    "I think we should cut the travel costs first.", "That sounds reasonable, but marketing will object.",
    "They always object, we will talk to them later.", "Fine, I will write the summary tonight.",
    "Did anyone read the report from the last meeting?", "The numbers look better than we expected.",
    "We still need an answer from the supplier.", "Can we move the launch to the end of the month?",
    "I would rather not promise a date we cannot keep.", "The customers liked the new design a lot.",
    "Somebody has to call the bank before Friday.", "I can do that, I know the manager there.",
    "What about the office move in the spring?", "It depends on the lease, which is still open.",
]


def generated(seed: int, folder: Path) -> tuple[Path, list[tuple[float, float, int]]]:
    from mmsa.synth import make_conversation

    rng = random.Random(seed)
    n_speakers, n_turns = rng.randint(2, 5), rng.randint(8, 14)
    speakers = rng.sample(range(8), n_speakers)
    order = [speakers[i % n_speakers] for i in range(n_speakers)] + [rng.choice(speakers) for _ in
                                                                      range(n_turns - n_speakers)]
    turns = [(s, rng.choice(SENTENCES)) for s in order]
    path = folder / f"generated-{seed}.wav"
    return path, make_conversation(path, turns)


def ravdess(seed: int, root: Path, folder: Path) -> tuple[Path, list[tuple[float, float, int]]]:
    """Clips of 2-4 actors (01-20) joined with 0.5 s pauses; the truth is which actor speaks when."""
    import soundfile  # noqa: F401  (only to fail early with a clear message if the wav stack is missing)

    from mmsa.media import decode_audio

    rng = random.Random(seed)
    actors = rng.sample(range(1, 21), rng.randint(2, 4))
    clips = {a: sorted((root / f"Actor_{a:02d}").glob("03-01-*.wav")) for a in actors}
    order = actors + [rng.choice(actors) for _ in range(rng.randint(6, 10))]
    pieces, truth, t = [], [], 0.0
    for a in order:
        wave = decode_audio(rng.choice(clips[a]))
        truth.append((t, t + len(wave) / 16000, a))
        pieces += [wave, np.zeros(8000, np.float32)]
        t += len(wave) / 16000 + 0.5
    path = folder / f"ravdess-{seed}.wav"
    import wave as wav_module

    with wav_module.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.clip(np.concatenate(pieces), -1, 1) * 32767).astype(np.int16).tobytes())
    return path, truth


def scores(truth, spans) -> tuple[float, float, int]:
    """(DER, utterance accuracy, speakers found) of utterances with .speaker against the true turns."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate
    from scipy.optimize import linear_sum_assignment

    ref, hyp = Annotation(), Annotation()
    for a, b, k in truth:
        ref[Segment(a, b)] = str(k)
    for s in spans:
        if s.speaker:
            hyp[Segment(s.start, s.end)] = s.speaker
    der = DiarizationErrorRate(collar=0.25)(ref, hyp, uem=Timeline([ref.get_timeline().extent()]))
    truths = [max(truth, key=lambda t: min(t[1], s.end) - max(t[0], s.start))[2] for s in spans if s.speaker]
    names = [s.speaker for s in spans if s.speaker]
    tl, hl = sorted(set(truths)), sorted(set(names))
    counts = np.zeros((len(hl), len(tl)))
    for h, t in zip(names, truths):
        counts[hl.index(h), tl.index(t)] += 1
    rows, cols = linear_sum_assignment(-counts)
    accuracy = counts[rows, cols].sum() / max(len(names), 1)
    return der, accuracy, len(hl)


def separability(truth, audio) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per embedding (the speaker encoder vs the Whisper tiny.en states the voice branch already computes): cosine
    similarities of all pairs of true turns, and whether each pair is the same speaker."""
    from mmsa.features import voice_features
    from mmsa.loading import whisper_source
    from mmsa.speakers import embed_many
    from mmsa.transcribe import load_asr

    waves = [audio[int(a * 16000):int(b * 16000)] for a, b, _ in truth]
    whisper = load_asr(whisper_source("tiny.en"))
    states = np.stack([voice_features(whisper, w) for w in waves])
    states = states - states.mean(0)  # centred: what is common to every turn says nothing about who speaks
    out = {}
    for name, emb in (("speaker encoder", embed_many(waves)), ("whisper states", states)):
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        i, j = np.triu_indices(len(truth), 1)
        same = np.array([truth[a][2] == truth[b][2] for a, b in zip(i, j)])
        out[name] = ((emb[i] * emb[j]).sum(1), same)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=6, help="generated conversations (and RAVDESS ones)")
    parser.add_argument("--ravdess", help="RAVDESS speech folder (RavdessDataSet); real voices, actors 01-20")
    parser.add_argument("--thresholds", default="0.12,0.15,0.17,0.2,0.25,0.3,0.35")
    args = parser.parse_args(argv)

    from mmsa.media import decode_audio
    from mmsa.speakers import DISTANCE_THRESHOLD, assign_speakers
    from mmsa.transcribe import default_asr, load_asr, shape_utterances, transcribe

    thresholds = [float(t) for t in args.thresholds.split(",")]
    asr = load_asr(default_asr())
    results: dict[tuple[str, float], list[tuple[float, float, int, int]]] = {}
    pairs: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    speaker_seconds, speech_seconds = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("generated", lambda i: generated(i, Path(tmp)))]
        if args.ravdess:
            sets.append(("ravdess", lambda i: ravdess(i, Path(args.ravdess), Path(tmp))))
        for name, make in sets:
            for i in range(args.conversations):
                path, truth = make(i)
                audio = decode_audio(path)
                spans = shape_utterances(transcribe(asr, audio), len(audio) / 16000)
                n_true = len({k for _, _, k in truth})
                for emb_name, pair in separability(truth, audio).items():
                    pairs.setdefault((name, emb_name), []).append(pair)
                for th in thresholds:
                    t0 = time.perf_counter()
                    labelled = assign_speakers(audio, [s.__class__(s.start, s.end, s.text, s.words) for s in spans], th)
                    if th == DISTANCE_THRESHOLD:
                        speaker_seconds += time.perf_counter() - t0
                        speech_seconds += sum(b - a for a, b, _ in truth)
                    der, acc, found = scores(truth, labelled)
                    results.setdefault((name, th), []).append((der, acc, found, n_true))
    print(f"{'data':<10} {'threshold':>9} {'DER':>6} {'utterance acc':>13} {'speakers found - true':>22}")
    for (name, th), rows in results.items():
        mark = "  <- shipped" if th == DISTANCE_THRESHOLD else ""
        print(f"{name:<10} {th:9.2f} {statistics.mean(r[0] for r in rows):6.3f} "
              f"{statistics.mean(r[1] for r in rows):13.3f} "
              f"{statistics.mean(r[2] - r[3] for r in rows):+22.2f}{mark}")
    from sklearn.metrics import roc_auc_score

    print("\nsame-speaker vs different-speaker pairs of turns (ROC AUC of cosine similarity; 1 = fully separated):")
    for (name, emb_name), got in pairs.items():
        sims = np.concatenate([g[0] for g in got])
        same = np.concatenate([g[1] for g in got])
        print(f"  {name:<10} {emb_name:<16} AUC {roc_auc_score(same, sims):.3f}")
    if speech_seconds:
        print(f"\nspeaker step at the shipped threshold: {speaker_seconds / speech_seconds * 60:.2f} s per minute of "
              f"speech ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
