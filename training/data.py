"""Labelled utterances: MELD's real layout, text-only MELD, or a generic CSV of people's own clips."""

from __future__ import annotations

import csv
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mmsa.labels import emotion_id, sentiment_id

logger = logging.getLogger("mmsa.training")

# MELD's clip folders per split, as its archive unpacks them
MELD_CLIP_DIRS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
MELD_COLUMNS = ("Utterance", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
GENERIC_COLUMNS = ("path", "text", "emotion", "sentiment")


class DataError(ValueError):
    """A dataset cannot be read; the message names the file, row and the fix."""


@dataclass
class Example:
    uid: str  # stable id, also the feature cache key's stem
    text: str
    emotion: int
    sentiment: int
    clip: str | None = None  # media file, None for text-only data
    start: float | None = None  # span inside the clip (generic CSV), None = whole clip
    end: float | None = None
    dialogue: str = ""  # examples of one dialogue share it; order is the list order
    context: str = ""  # previous utterances of the dialogue, filled by attach_context


@dataclass
class Dataset:
    name: str
    examples: list[Example]
    skipped: list[str] = field(default_factory=list)  # "uid: reason" for clips left out

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def has_clips(self) -> bool:
        return any(e.clip for e in self.examples)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: CSV not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _labels(path: Path, row_no: int, emotion: str, sentiment: str) -> tuple[int, int]:
    try:
        return emotion_id(emotion), sentiment_id(sentiment)
    except ValueError as e:
        raise DataError(f"{path}, row {row_no}: {e}") from None


def load_meld(csv_path: str | os.PathLike, clips_dir: str | os.PathLike | None = None,
              text_only: bool = False) -> Dataset:
    """A MELD split: its CSV, plus clips named dia{Dialogue_ID}_utt{Utterance_ID}.mp4 in clips_dir.

    clips_dir None: look beside the CSV for MELD's folder names; none found (or text_only): text only.
    """
    path = Path(csv_path)
    rows = _read_csv(path)
    if rows and not set(MELD_COLUMNS) <= set(rows[0]):
        raise DataError(f"{path}: not a MELD CSV; expected columns {', '.join(MELD_COLUMNS)}, got {list(rows[0])}")
    if clips_dir is None and not text_only:
        for folder in MELD_CLIP_DIRS.values():
            if (path.parent / folder).is_dir():
                clips_dir = path.parent / folder
                break
    clip_root = None if text_only or clips_dir is None else Path(clips_dir)
    if clip_root is not None and not clip_root.is_dir():
        raise DataError(f"{clip_root}: clips folder not found")
    examples = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        emo, sent = _labels(path, n, row["Emotion"], row["Sentiment"])
        d, u = row["Dialogue_ID"].strip(), row["Utterance_ID"].strip()
        clip = str(clip_root / f"dia{d}_utt{u}.mp4") if clip_root is not None else None
        examples.append(Example(uid=f"dia{d}_utt{u}", text=row["Utterance"], emotion=emo, sentiment=sent, clip=clip,
                                dialogue=d))
    examples.sort(key=lambda e: (int(e.dialogue) if e.dialogue.isdigit() else e.dialogue,
                                 int(e.uid.rsplit("utt", 1)[1])))
    return Dataset(name=path.stem, examples=examples)


def load_generic(csv_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Dataset:
    """A CSV with path,text,emotion,sentiment (and optional start,end,dialogue_id); paths relative to root or the CSV."""
    path = Path(csv_path)
    rows = _read_csv(path)
    if rows and not set(GENERIC_COLUMNS) <= set(rows[0]):
        raise DataError(f"{path}: expected columns {', '.join(GENERIC_COLUMNS)} (optional start,end,dialogue_id); "
                        f"got {list(rows[0])}")
    base = Path(root) if root else path.parent
    examples = []
    for n, row in enumerate(rows, start=2):
        emo, sent = _labels(path, n, row["emotion"], row["sentiment"])
        clip = row["path"].strip()
        try:
            start = float(row["start"]) if row.get("start", "").strip() else None
            end = float(row["end"]) if row.get("end", "").strip() else None
        except ValueError:
            raise DataError(f"{path}, row {n}: start/end must be seconds, got {row.get('start')!r}, "
                            f"{row.get('end')!r}") from None
        if start is not None and end is not None and end <= start:
            raise DataError(f"{path}, row {n}: end ({end}) must be after start ({start})")
        examples.append(Example(uid=f"row{n}", text=row["text"] or "", emotion=emo, sentiment=sent,
                                clip=str(base / clip) if clip else None, start=start, end=end,
                                dialogue=(row.get("dialogue_id") or "").strip()))
    return Dataset(name=path.stem, examples=examples)


def load_dataset(csv_path: str | os.PathLike, clips_dir: str | os.PathLike | None = None,
                 text_only: bool = False) -> Dataset:
    """MELD or generic, told apart by the CSV's columns."""
    rows = _read_csv(Path(csv_path))
    if rows and "Utterance" in rows[0]:
        return load_meld(csv_path, clips_dir, text_only)
    ds = load_generic(csv_path, clips_dir)
    if text_only:
        for e in ds.examples:
            e.clip = None
    return ds


def attach_context(dataset: Dataset, turns: int) -> None:
    """Give each example the text of up to `turns` earlier utterances of its dialogue (list order)."""
    history: dict[str, list[str]] = defaultdict(list)
    for e in dataset.examples:
        if turns > 0 and e.dialogue:
            e.context = " ".join(history[e.dialogue][-turns:])
            history[e.dialogue].append(e.text)
        else:
            e.context = ""
