"""Train the voice branch on RAVDESS speech, actors 01-20 only: pooled states of the Whisper encoder that the
speech recogniser already loads (no new weights), then a small head. Actors 21-24 are never read.

    python -m training.voice --ravdess DIR --output-dir runs/voice [--augment 4]

DIR is the RavdessDataSet folder (Actor_01 ... with 03-01-EE-II-SS-RR-AA.wav), or a folder holding it.
Validation is by actor: five folds of four actors (01-04, ..., 17-20), each held out from a model trained on the
other sixteen; the figures are the out-of-fold predictions of all 20 actors, which also calibrate the final
model (trained on all 20 for the same number of epochs). Calm (02) is merged into neutral: in conversation, calm
speech is what neutral sounds like. Each training clip is also heard with augmentation (noise, gain, speed, room
reverb); the report compares the same folds without it. Licence of the data, and so of the weights:
CC BY-NC-SA 4.0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmsa.labels import emotion_id
from mmsa.media import SAMPLE_RATE

from .branches import branch_model, calibrate_and_save, train_branch
from .data import DataError

# RAVDESS emotion code (EE) -> MELD emotion
RAVDESS_LABELS = {"01": "neutral", "02": "neutral", "03": "joy", "04": "sadness", "05": "anger", "06": "fear",
                  "07": "disgust", "08": "surprise"}
ACTORS = range(1, 21)  # training and validation; 21-24 are for release checks only and never read
FOLDS = 5
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)
RAVDESS_LICENCE = "RAVDESS (Livingstone & Russo 2018): CC BY-NC-SA 4.0"


def ravdess_files(location: str | Path) -> list[tuple[Path, int, int]]:
    """(wav, actor, emotion id) for the speech files of actors 01-20."""
    root = Path(location)
    if (root / "RavdessDataSet").is_dir():
        root = root / "RavdessDataSet"
    out = []
    for actor in ACTORS:
        for wav in sorted((root / f"Actor_{actor:02d}").glob("03-01-*.wav")):
            parts = wav.stem.split("-")
            if len(parts) == 7 and parts[2] in RAVDESS_LABELS and int(parts[6]) == actor:
                out.append((wav, actor, emotion_id(RAVDESS_LABELS[parts[2]])))
    if not out:
        raise DataError(f"{root}: no RAVDESS speech files (expected Actor_01/03-01-EE-II-SS-RR-01.wav ...)")
    return out


def room_impulse(rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: exponentially decaying noise with RT60 between 0.2 and 0.7 s."""
    rt60 = rng.uniform(0.2, 0.7)
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    return (ir / np.abs(ir).sum() * 4).astype(np.float32)


def augmented(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random degradation: speed (0.9-1.1, which moves pitch too), reverb, gain and noise at 5-30 dB SNR."""
    import torchaudio

    x = torch.from_numpy(audio)
    speed = rng.choice(SPEEDS)  # ratios of small integers keep the resampling filter short
    x = torchaudio.functional.resample(x, int(SAMPLE_RATE * speed), SAMPLE_RATE) if speed != 1.0 else x
    y = x.numpy()
    if rng.random() < 0.5:
        from scipy.signal import fftconvolve

        y = fftconvolve(y, room_impulse(rng))[: y.size]
    y = y * 10 ** (rng.uniform(-6, 6) / 20)
    snr = rng.uniform(5, 30)
    noise = rng.standard_normal(y.size).astype(np.float32)
    noise *= np.sqrt((y ** 2).mean() / 10 ** (snr / 10)) / max(noise.std(), 1e-8)
    return np.clip(y + noise, -1, 1).astype(np.float32)


def featurize(files, whisper, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(clean features, labels, actors, augmented features (n, copies, width)) for the files."""
    from mmsa.features import trim_to_speech, voice_features
    from mmsa.media import decode_audio

    rng = np.random.default_rng(seed)
    clean, aug, labels, actors = [], [], [], []
    for i, (wav, actor, label) in enumerate(files):
        audio = trim_to_speech(decode_audio(wav))
        clean.append(voice_features(whisper, audio))
        aug.append([voice_features(whisper, augmented(audio, rng)) for _ in range(copies)])
        labels.append(label)
        actors.append(actor)
        if i % 200 == 0:
            logging.info("features: %d of %d clips", i, len(files))
    width = clean[0].size
    return np.stack(clean), np.array(labels), np.array(actors), np.array(aug).reshape(len(files), copies, width)


def _fit(x: np.ndarray, y: np.ndarray, args):
    """A voice branch trained for args.epochs on features x; the last epoch is kept (the folds pick no epoch)."""
    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en")
    x_t = torch.from_numpy(x)
    model.audio_encoder.set_statistics(x_t)
    train_branch(model, "audio", x_t, y, None, None, args.epochs, args.lr, args.batch_size, augment=lambda t: t,
                 weight_decay=1e-2, seed=args.seed, keep_best=False)
    return model


def _with_copies(clean: np.ndarray, aug: np.ndarray, labels: np.ndarray, rows: np.ndarray, copies: int):
    x, y = clean[rows], labels[rows]
    if copies:
        x = np.concatenate([x, aug[rows, :copies].reshape(-1, clean.shape[1])])
        y = np.concatenate([y, np.repeat(labels[rows], copies)])
    return x, y


def cross_validate(clean, labels, actors, aug, copies: int, args) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits of every clip, clean and degraded (one augmented hearing), with folds by actor."""
    from .branches import branch_logits

    oof, degraded = np.zeros((len(labels), 7), np.float32), np.zeros((len(labels), 7), np.float32)
    for k in range(FOLDS):
        held = np.isin(actors, list(range(4 * k + 1, 4 * k + 5)))
        x, y = _with_copies(clean, aug, labels, ~held, copies)
        model = _fit(x, y, args)
        oof[held] = branch_logits(model, "audio", torch.from_numpy(clean[held]))
        degraded[held] = branch_logits(model, "audio", torch.from_numpy(aug[held, -1]))
        logging.info("fold %d (actors %d-%d): accuracy %.3f", k + 1, 4 * k + 1, 4 * k + 4,
                     (oof[held].argmax(1) == labels[held]).mean())
    return oof, degraded


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ravdess", required=True, help="RavdessDataSet folder (or a folder holding it)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--augment", type=int, default=3,
                   help="augmented copies of each training clip (one more is heard for the degraded check)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features", help="cache the computed features in this .npz (reused when present)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from mmsa.loading import whisper_source
    from mmsa.transcribe import load_asr

    from .metrics import task_metrics

    try:
        files = ravdess_files(args.ravdess)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cache = Path(args.features) if args.features else None
    if cache is not None and cache.is_file():
        data = np.load(cache)
        clean, labels, actors, aug = data["clean"], data["labels"], data["actors"], data["aug"]
    else:
        t = time.time()
        whisper = load_asr(whisper_source("tiny.en"), torch.get_num_threads())
        clean, labels, actors, aug = featurize(files, whisper, args.augment + 1, args.seed)
        logging.info("features of %d clips in %.0f s", len(files), time.time() - t)
        if cache is not None:
            np.savez(cache, clean=clean, labels=labels, actors=actors, aug=aug)
    copies = min(max(args.augment, 0), aug.shape[1] - 1)  # the last hearing is kept for the degraded check
    from mmsa.labels import EMOTIONS

    comparison = {}
    for name, n in (("with augmentation", copies), ("without augmentation", 0)):
        oof, degraded = cross_validate(clean, labels, actors, aug, n, args)
        comparison[name] = {"accuracy": float((oof.argmax(1) == labels).mean()),
                            "macro_f1": task_metrics(labels, oof.argmax(1), EMOTIONS)["macro_f1"],
                            "degraded_accuracy": float((degraded.argmax(1) == labels).mean())}
        if name == "with augmentation":
            oof_logits = oof
    x, y = _with_copies(clean, aug, labels, np.ones(len(labels), bool), copies)
    model = _fit(x, y, args)  # all 20 actors, as many epochs as the folds had
    report = {"data": "RAVDESS speech, actors 01-20 (five folds of four actors); calm merged into neutral",
              "licence": RAVDESS_LICENCE, "validation": "out-of-fold predictions, folds by actor",
              "encoder": "openai/whisper-tiny.en (CTranslate2 int8, faster-whisper), states pooled by mean and std",
              "augmentation": comparison, "n_train": int(len(y)),
              "args": {k: v for k, v in vars(args).items() if k not in ("ravdess", "output_dir", "features")}}
    metrics = calibrate_and_save(model, "audio", None, labels, Path(args.output_dir), report, logits=oof_logits)
    metrics["augmentation"] = comparison
    (Path(args.output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for name, c in comparison.items():
        print(f"voice branch, {name}: out-of-fold accuracy {c['accuracy']:.3f}, macro F1 {c['macro_f1']:.3f}, "
              f"degraded accuracy {c['degraded_accuracy']:.3f}")
    print(f"calibration (out-of-fold): ECE {metrics['calibration']['ece_before']:.3f} -> "
          f"{metrics['calibration']['ece_after']:.3f}, temperature {metrics['calibration']['temperature']:.2f} "
          f"(n = {metrics['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
