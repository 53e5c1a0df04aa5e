"""FER+ (Microsoft's relabelling of FER2013 by 10 annotators per image) for the face branch, training images only.

    fer2013new.csv   (microsoft/FERPlus, MIT): Usage, Image name, then 10 vote counts: neutral, happiness,
                     surprise, sadness, anger, disgust, fear, contempt, unknown, NF (not a face)
    FER2013Train/    the images, ferNNNNNNN.png, 48x48 grey (tessav/crowd-emotion, data/FER2013Train)

Rows are joined to images by the Image name column (names are empty on not-a-face rows, so row numbers drift);
names that repeat are dropped. Only Usage == Training is read: FER+ Valid and Test are FER2013's PublicTest and
PrivateTest images, held out for release checks.

Labels, two ways (contempt, unknown and not-a-face are not among MELD's seven emotions and are dropped):
- majority: single votes are dropped as noise; the top emotion must then hold more than half of the votes left;
- soft: the votes left (single votes dropped) over the seven emotions, normalised, as a distribution to learn.

The original FER2013 label of each image is not in these files. match_fer2013 finds it by pixels in FER2013's
own training folder (the same 28,709 images, saved as JPEG under other names), so one recipe can be trained on
either set of labels over the same images and compared on the same validation split.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from mmsa.labels import EMOTIONS, emotion_id

from .data import DataError

# FER+ vote columns in file order -> MELD emotion (None: not one of the seven)
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
MELD_OF_VOTE = {"neutral": "neutral", "happiness": "joy", "surprise": "surprise", "sadness": "sadness",
                "anger": "anger", "disgust": "disgust", "fear": "fear"}
FERPLUS_LICENCE = ("FER+ labels (Microsoft, MIT) on FER2013 training images (Kaggle 2013 challenge): research use "
                   "only")


def ferplus_files(location: str | Path) -> tuple[Path, Path]:
    """(fer2013new.csv, FER2013Train image folder) under location, which may be either's parent."""
    root = Path(location)
    csvs = [p for p in (root / "fer2013new.csv", root.parent / "fer2013new.csv") if p.is_file()]
    folders = [p for p in (root / "FER2013Train", root / "data" / "FER2013Train", root) if
               p.is_dir() and p.name == "FER2013Train"]
    if not csvs or not folders:
        raise DataError(f"{root.name or root}: expected fer2013new.csv and a FER2013Train image folder inside it "
                        f"(see the README's face data commands)")
    return csvs[0], folders[0]


def read_votes(location: str | Path) -> tuple[list[str], np.ndarray]:
    """Training image names and their vote counts (n, 10), in VOTE_COLUMNS order."""
    csv_path, folder = ferplus_files(location)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0][2:12]] != list(VOTE_COLUMNS):
        header = ", ".join(rows[0][:4]) if rows else "empty"
        raise DataError(f"{csv_path.name}: not FER+'s label file (header {header})")
    training = [r for r in rows[1:] if len(r) >= 12 and r[0] == "Training" and r[1].strip()]
    repeated = {n for n, k in Counter(r[1] for r in training).items() if k > 1}
    kept = [r for r in training if r[1] not in repeated and (folder / r[1]).is_file()]
    if not kept:
        raise DataError(f"{folder.name}: none of the Training rows' images are in this folder")
    return [r[1] for r in kept], np.array([[int(v) for v in r[2:12]] for r in kept], dtype=np.int64)


def _meld_votes(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Votes (n, 10) with single votes dropped: the seven MELD emotions' columns (n, 7) in EMOTIONS order, and all
    ten columns (n, 10)."""
    cleaned = np.where(votes <= 1, 0, votes)
    out = np.zeros((len(votes), len(EMOTIONS)), dtype=np.float64)
    for column, name in enumerate(VOTE_COLUMNS):
        if name in MELD_OF_VOTE:
            out[:, emotion_id(MELD_OF_VOTE[name])] = cleaned[:, column]
    return out, cleaned


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """A MELD emotion id per image, or -1 where no emotion holds a majority or the winner is contempt, unknown or
    not-a-face."""
    meld, cleaned = _meld_votes(votes)
    total = cleaned.sum(1)
    top = meld.argmax(1)
    wins = (meld.max(1) > 0.5 * total) & (total > 0)
    return np.where(wins, top, -1)


def soft_targets(votes: np.ndarray) -> np.ndarray:
    """The seven emotions' share of the votes left after dropping single votes, (n, 7); rows with none are zeros."""
    meld, _ = _meld_votes(votes)
    total = meld.sum(1, keepdims=True)
    return np.divide(meld, total, out=np.zeros_like(meld), where=total > 0)


def load_ferplus(location: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, images uint8 (n, 48, 48), votes (n, 10)) of every FER+ training image with a readable file."""
    import cv2

    names, votes = read_votes(location)
    _, folder = ferplus_files(location)
    images, kept = [], []
    for i, name in enumerate(names):
        img = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        images.append(img if img.shape == (48, 48) else cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA))
        kept.append(i)
    return [names[i] for i in kept], np.stack(images), votes[kept]


def match_fer2013(images: np.ndarray, fer_images: np.ndarray, fer_labels: np.ndarray,
                  max_distance: float = 6.0) -> np.ndarray:
    """FER2013's own label for each FER+ image, -1 where FER2013's folder has no image within max_distance (mean
    absolute grey level, 0-255) of it. Nearest neighbours on 16x16 thumbnails, confirmed on the full 48x48."""
    import cv2

    def thumbs(x: np.ndarray) -> np.ndarray:
        small = np.stack([cv2.resize(i, (16, 16), interpolation=cv2.INTER_AREA) for i in x]).reshape(len(x), -1)
        return small.astype(np.float32)

    a, b = thumbs(images), thumbs(fer_images)
    b_norm = (b ** 2).sum(1)
    out = np.full(len(images), -1, dtype=np.int64)
    for s in range(0, len(a), 2048):
        chunk = a[s:s + 2048]
        d = b_norm[None, :] - 2 * chunk @ b.T  # squared distance less the chunk's own norm
        nearest = d.argmin(1)
        gap = np.abs(images[s:s + len(chunk)].astype(np.int16) - fer_images[nearest].astype(np.int16)).mean((1, 2))
        out[s:s + len(chunk)] = np.where(gap <= max_distance, fer_labels[nearest], -1)
    return out
