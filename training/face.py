"""Train the face branch on FER2013's training images (48x48 grayscale faces), validating on a stratified split
of them; FER2013's test images (FER+ Valid and Test) are never read.

    python -m training.face --ferplus FERPLUS --output-dir runs/face [--labels soft|majority|fer2013 --fer DIR]
    python -m training.face --fer DIR --output-dir runs/face          # FER2013's own labels, its own split

FERPLUS holds fer2013new.csv and FER2013Train/ (training.ferplus). With it, the validation split is a stratified
10% of the images that have a FER+ majority label, and every --labels choice is measured on that split against
those labels, so FER2013's labels (--labels fer2013, found for the same images in --fer by pixels) and FER+'s
compare on the same faces. DIR is FER2013's dataset/train folder (angry, disgust, ... subfolders of .jpg).
Writes a one-branch model folder with metrics.json (validation accuracy, F1 per class, calibration) for
scripts/build_starter.py. Licence of the data, and so of the weights: research use only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmsa.labels import emotion_id

from .branches import branch_model, calibrate_and_save, stratified_split, train_branch
from .data import DataError
from .ferplus import FERPLUS_LICENCE, load_ferplus, majority_labels, match_fer2013, soft_targets

# FER2013's folder names -> MELD's emotion names
FER_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "neutral": "neutral",
              "sad": "sadness", "surprise": "surprise"}
FER_LICENCE = "FER2013 (Kaggle 2013 challenge): research use only"


def fer_train_folder(location: str | Path) -> Path:
    root = Path(location)
    for candidate in (root, root / "train", root / "dataset" / "train"):
        if candidate.is_dir() and all((candidate / name).is_dir() for name in FER_LABELS):
            if "test" in candidate.name.lower():
                raise DataError(f"{candidate.name}: FER2013's test split is held out for release checks; give "
                                f"dataset/train")
            return candidate
    raise DataError(f"{root}: no FER2013 training folder (expected subfolders {', '.join(FER_LABELS)})")


def load_fer(location: str | Path, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """All training faces as uint8 (n, size, size) and their emotion ids (n,)."""
    import cv2

    folder = fer_train_folder(location)
    images, labels = [], []
    for name, emotion in FER_LABELS.items():
        for path in sorted((folder / name).glob("*.jpg")):
            img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            if img.shape != (size, size):
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            images.append(img)
            labels.append(emotion_id(emotion))
    if not images:
        raise DataError(f"{folder}: no readable .jpg faces")
    return np.stack(images), np.array(labels)


def ferplus_training_set(ferplus: str, labels: str, fer: str | None, val_fraction: float, split_seed: int):
    """(images, training targets, train rows, validation rows, validation labels): the validation rows are a
    stratified share of the images with a FER+ majority label, scored against it whatever the training labels."""
    _, images, votes = load_ferplus(ferplus)
    majority = majority_labels(votes)
    voted = np.flatnonzero(majority >= 0)
    _, val_of_voted = stratified_split(majority[voted], val_fraction, split_seed)
    val_idx = voted[val_of_voted]
    rest = np.setdiff1d(np.arange(len(images)), val_idx)
    if labels == "soft":
        targets = soft_targets(votes)
        train_idx = rest[targets[rest].sum(1) > 0]
    elif labels == "majority":
        targets = majority
        train_idx = rest[majority[rest] >= 0]
    else:  # FER2013's own labels for the same images
        if not fer:
            raise DataError("--labels fer2013 needs --fer, FER2013's dataset/train folder, to find each image's label")
        targets = match_fer2013(images, *load_fer(fer))
        train_idx = rest[targets[rest] >= 0]
    return images, targets, train_idx, val_idx, majority[val_idx]


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random flip, shift, rotation, scale and contrast of a batch (n, 1, 1, s, s) in [0, 1]: faces in video
    frames are never as well aligned as FER2013's crops."""
    n = x.shape[0]
    flat = x[:, 0]
    flip = torch.rand(n) < 0.5
    flat = torch.where(flip.view(n, 1, 1, 1), flat.flip(-1), flat)
    angle = (torch.rand(n) - 0.5) * (2 * np.pi * 15 / 360)
    scale = 1.0 + (torch.rand(n) - 0.5) * 0.2
    shift = (torch.rand(n, 2) - 0.5) * 0.16
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(flat.shape), align_corners=False)
    flat = torch.nn.functional.grid_sample(flat, grid, padding_mode="border", align_corners=False)
    gain = 1.0 + (torch.rand(n, 1, 1, 1) - 0.5) * 0.4
    mean = flat.mean((2, 3), keepdim=True)
    flat = ((flat - mean) * gain + mean).clamp(0, 1)
    return flat.unsqueeze(1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.face", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fer", help="FER2013 dataset/train folder (or a folder holding it)")
    p.add_argument("--ferplus", help="folder with FER+'s fer2013new.csv and FER2013Train/ images")
    p.add_argument("--labels", choices=["soft", "majority", "fer2013"], default="soft",
                   help="with --ferplus: learn FER+'s vote shares, its majority labels, or FER2013's own labels")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--width", type=int, default=24, help="channels of the face CNN's first stage")
    p.add_argument("--weighting", type=float, default=0.5,
                   help="class weights = balanced ** this (0: none; 1: fully balanced)")
    p.add_argument("--seed", type=int, default=0, help="training order and augmentation")
    p.add_argument("--split-seed", type=int, default=0,
                   help="the validation split; keep it across runs that continue one another, or validation leaks")
    p.add_argument("--init-from", help="continue training this face run (a second, shorter cycle)")
    p.add_argument("--recalibrate", action="store_true",
                   help="do not train: measure and calibrate the model in --output-dir again on the same split")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if not args.fer and not args.ferplus:
        p.error("give --ferplus (FER+ labels) or --fer (FER2013's own labels)")
    try:
        t = time.time()
        if args.ferplus:
            images, labels, train_idx, val_idx, val_labels = ferplus_training_set(
                args.ferplus, args.labels, args.fer, args.val_fraction, args.split_seed)
            data = f"FER+ {args.labels} labels on FER2013 train" if args.labels != "fer2013" else \
                "FER2013 train, FER2013 labels (FER+ split)"
            licence = FERPLUS_LICENCE
        else:
            images, labels = load_fer(args.fer)
            train_idx, val_idx = stratified_split(labels, args.val_fraction, args.split_seed)
            val_labels, data, licence = labels[val_idx], "FER2013 dataset/train", FER_LICENCE
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    logging.info("%d faces read in %.0f s; %d to train on, %d to validate", len(images), time.time() - t,
                 len(train_idx), len(val_idx))
    x = torch.from_numpy(images).float().div_(255).view(-1, 1, 1, 48, 48)
    if args.recalibrate:
        import json

        from mmsa.model import MultimodalSentimentModel

        out = Path(args.output_dir)
        model = MultimodalSentimentModel.from_pretrained(str(out))
        report = json.loads((out / "training_report.json").read_text())
        metrics = calibrate_and_save(model, "video", x[val_idx], val_labels, out, report)
        print(f"face branch (recalibrated): validation accuracy {metrics['accuracy']:.3f}, macro F1 "
              f"{metrics['macro_f1']:.3f}, ECE {metrics['calibration']['ece_before']:.3f} -> "
              f"{metrics['calibration']['ece_after']:.3f} (n = {metrics['n']})")
        return 0
    if args.init_from:
        from mmsa.model import MultimodalSentimentModel

        model = MultimodalSentimentModel.from_pretrained(args.init_from)
        model.config.branch_temperatures = {}  # calibrated again below
    else:
        model = branch_model("video", seed=args.seed, video_backbone="face_cnn", face_width=args.width,
                             num_frames=1)
    report = train_branch(model, "video", x[train_idx], labels[train_idx], x[val_idx], val_labels, args.epochs,
                          args.lr, args.batch_size, augment, weighting=args.weighting, seed=args.seed)
    report.update(data=data, licence=licence, n_train=int(len(train_idx)), n_val=int(len(val_idx)),
                  args={k: v for k, v in vars(args).items() if k not in ("fer", "ferplus", "output_dir", "init_from")})
    metrics = calibrate_and_save(model, "video", x[val_idx], val_labels, Path(args.output_dir), report)
    print(f"face branch: validation accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}, "
          f"ECE {metrics['calibration']['ece_before']:.3f} -> {metrics['calibration']['ece_after']:.3f} "
          f"(n = {metrics['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
