"""The face branch's check and familiarity lists, written as the path,emotion CSVs the other tools read.

    python -m training.face_sets ck DATA/CK+48 [-o DATA/CK+48/labels.csv]
    python -m training.face_sets fer DATA/fer/dataset/train [-o DATA/fer/dataset/train/familiarity.csv] [--n 5000]

ck: every CK+48 image (posed, lab; CK+48/<emotion>/S###_###_*.png), contempt dropped (not one of MELD's seven),
for the face's cross-dataset check (`build_starter --face-check`, `training.evaluate --branch face`).
fer: a seeded sample of FER2013's training images, for the face's familiarity (`--face-familiarity`).
Paths are relative to the CSV's folder, so the CSV is written inside the image folder by default.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

from .data import DataError
from .face import FER_LABELS, fer_train_folder

CK_LABELS = {"anger": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "sadness": "sadness",
             "surprise": "surprise"}  # contempt: not one of MELD's emotions


def ck_rows(folder: Path) -> list[tuple[str, str]]:
    rows = [(f"{name}/{p.name}", emotion) for name, emotion in CK_LABELS.items() if (folder / name).is_dir()
            for p in sorted((folder / name).glob("*.png"))]
    if not rows:
        raise DataError(f"{folder.name}: no CK+48 images (expected {', '.join(CK_LABELS)} subfolders of .png)")
    return rows


def fer_rows(folder: Path, n: int, seed: int = 0) -> list[tuple[str, str]]:
    folder = fer_train_folder(folder)
    rows = [(f"{name}/{p.name}", emotion) for name, emotion in FER_LABELS.items()
            for p in sorted((folder / name).glob("*.jpg"))]
    if not rows:
        raise DataError(f"{folder.name}: no FER2013 training images")
    return sorted(random.Random(seed).sample(rows, min(n, len(rows))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.face_sets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("set", choices=["ck", "fer"])
    p.add_argument("folder", help="CK+48 folder, or FER2013's dataset/train folder")
    p.add_argument("-o", "--output", help="CSV to write (default: labels.csv / familiarity.csv in the folder)")
    p.add_argument("--n", type=int, default=5000, help="fer: images sampled")
    args = p.parse_args(argv)
    folder = Path(args.folder)
    try:
        if not folder.is_dir():
            raise DataError(f"{folder.name or folder}: not a folder")
        if args.set == "ck":
            rows, default = ck_rows(folder), folder / "labels.csv"
        else:
            folder = fer_train_folder(folder)
            rows, default = fer_rows(folder, args.n), folder / "familiarity.csv"
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.output) if args.output else default
    if out.resolve().parent != folder.resolve():  # paths are relative to the CSV: point them at the images
        rows = [(str((folder / path).resolve()), emotion) for path, emotion in rows]
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows([("path", "emotion"), *rows])
    print(f"{len(rows)} faces -> {out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
