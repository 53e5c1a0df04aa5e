"""Train the voice branch on RAVDESS speech, actors 01-20 only: pooled states of the Whisper encoder that the
speech recogniser already loads (no new weights), then a small head. Actors 21-24 are never read.

    python -m training.voice --ravdess DIR --output-dir runs/voice [--augment 4]

DIR is the RavdessDataSet folder (Actor_01 ... with 03-01-EE-II-SS-RR-AA.wav), or a folder holding it.
Validation is by actor: actors 17-20 are held out from training (RAVDESS has no speaker overlap to leak). Calm
(02) is merged into neutral: in conversation, calm speech is what neutral sounds like. Each training clip is
also heard with augmentation (noise, gain, speed, room reverb). Licence of the data, and so of the weights:
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

from .branches import branch_model, calibrate_and_save, train_branch
from .data import DataError

# RAVDESS emotion code (EE) -> MELD emotion
RAVDESS_LABELS = {"01": "neutral", "02": "neutral", "03": "joy", "04": "sadness", "05": "anger", "06": "fear",
                  "07": "disgust", "08": "surprise"}
TRAIN_ACTORS = range(1, 17)
VAL_ACTORS = range(17, 21)
HELD_OUT_ACTORS = range(21, 25)  # release checks only
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)
RAVDESS_LICENCE = "RAVDESS (Livingstone & Russo 2018): CC BY-NC-SA 4.0"


def ravdess_files(location: str | Path) -> list[tuple[Path, int, int]]:
    """(wav, actor, emotion id) for the speech files of actors 01-20."""
    root = Path(location)
    if (root / "RavdessDataSet").is_dir():
        root = root / "RavdessDataSet"
    out = []
    for actor in (*TRAIN_ACTORS, *VAL_ACTORS):
        for wav in sorted((root / f"Actor_{actor:02d}").glob("03-01-*.wav")):
            parts = wav.stem.split("-")
            if len(parts) == 7 and parts[2] in RAVDESS_LABELS and int(parts[6]) == actor:
                out.append((wav, actor, emotion_id(RAVDESS_LABELS[parts[2]])))
    if not out:
        raise DataError(f"{root}: no RAVDESS speech files (expected Actor_01/03-01-EE-II-SS-RR-01.wav ...)")
    return out


def trim_to_speech(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """From the first to the last speech the recogniser's own VAD hears, as utterance spans are in use."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(audio, VadOptions(speech_pad_ms=100), sampling_rate=sample_rate)
    return audio[spans[0]["start"]:spans[-1]["end"]] if spans else audio


def room_impulse(rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
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
    x = torchaudio.functional.resample(x, int(16000 * speed), 16000) if speed != 1.0 else x
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
    from mmsa.features import voice_features
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ravdess", required=True, help="RavdessDataSet folder (or a folder holding it)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--augment", type=int, default=4, help="augmented copies of each training clip (0 = none)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features", help="cache the computed features in this .npz (reused when present)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from mmsa.loading import whisper_source
    from mmsa.transcribe import load_asr

    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en")
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
        whisper = load_asr(whisper_source(model.config.whisper_encoder), torch.get_num_threads())
        clean, labels, actors, aug = featurize(files, whisper, max(args.augment, 0), args.seed)
        logging.info("features of %d clips in %.0f s", len(files), time.time() - t)
        if cache is not None:
            np.savez(cache, clean=clean, labels=labels, actors=actors, aug=aug)
    train = np.isin(actors, list(TRAIN_ACTORS))
    val = np.isin(actors, list(VAL_ACTORS))
    x_train, y_train = clean[train], labels[train]
    copies = min(args.augment, aug.shape[1])
    if copies:
        x_train = np.concatenate([x_train, aug[train, :copies].reshape(-1, clean.shape[1])])
        y_train = np.concatenate([y_train, np.repeat(labels[train], copies)])
    report = train_branch(model, "audio", torch.from_numpy(x_train), y_train, torch.from_numpy(clean[val]),
                          labels[val], args.epochs, args.lr, args.batch_size, augment=lambda x: x,
                          weight_decay=1e-2, seed=args.seed)
    degraded = torch.from_numpy(aug[val, 0]) if aug.shape[1] else None
    report.update(data="RAVDESS speech, actors 01-16 (train) and 17-20 (validation); calm merged into neutral",
                  licence=RAVDESS_LICENCE, encoder=f"openai/whisper-{model.config.whisper_encoder} (CTranslate2 int8, "
                  f"faster-whisper)", n_train=int(len(y_train)), n_val=int(val.sum()),
                  args={k: v for k, v in vars(args).items() if k not in ("ravdess", "output_dir", "features")})
    metrics = calibrate_and_save(model, "audio", torch.from_numpy(clean[val]), labels[val], Path(args.output_dir),
                                 report)
    if degraded is not None:  # the same validation clips, each heard once through a random degradation
        from .branches import branch_logits

        pred = branch_logits(model, "audio", degraded).argmax(1)
        metrics["degraded_accuracy"] = float((pred == labels[val]).mean())
        (Path(args.output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"voice branch: validation accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}, "
          f"degraded accuracy {metrics.get('degraded_accuracy', float('nan')):.3f}, ECE "
          f"{metrics['calibration']['ece_before']:.3f} -> {metrics['calibration']['ece_after']:.3f} (n = {metrics['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
