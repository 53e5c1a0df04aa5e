"""Labelled utterances: MELD's real layout, text-only MELD, or a generic CSV of people's own clips."""

from __future__ import annotations

import csv
import io
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
MAX_FIELD_CHARS = 1_000_000  # an utterance is a sentence or two; a field this long is a broken quote
# tried in order when a CSV is not UTF-8 and no --encoding is given (MELD's own files carry Windows-1252 bytes)
FALLBACK_ENCODING = "cp1252"


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


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    if encoding:
        try:
            return data.decode(encoding)
        except LookupError:
            raise DataError(f"--encoding {encoding!r} is not a known text encoding (e.g. utf-8, cp1252, latin-1)") \
                from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path.name}: byte {e.start} is not valid {encoding}; check --encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode(FALLBACK_ENCODING)
        except UnicodeDecodeError:
            line = data[:utf8_error.start].count(b"\n") + 1
            raise DataError(f"{path.name}, line {line}: byte {data[utf8_error.start]:#04x} is neither UTF-8 nor "
                            f"{FALLBACK_ENCODING}; save the file as UTF-8 or pass --encoding (e.g. latin-1)") from None
        logger.warning("%s is not UTF-8; read as %s (pass --encoding to choose)", path.name, FALLBACK_ENCODING)
        return text


def read_csv(path: str | os.PathLike, encoding: str | None = None) -> list[dict[str, str]]:
    """Rows of a CSV as dicts, with problems named by file and row: encoding, over-long fields, short rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: CSV not found")
    text = _decode(path, path.read_bytes(), encoding)
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if None in row:  # more fields than the header
                raise DataError(f"{path.name}, row {len(rows) + 2}: {len(reader.fieldnames) + len(row[None])} "
                                f"fields, the header has {len(reader.fieldnames)}; quote fields that contain commas")
            missing = [k for k, v in row.items() if v is None]  # fewer fields than the header
            if missing:
                raise DataError(f"{path.name}, row {len(rows) + 2}: too few fields ({', '.join(missing)} missing); "
                                f"quote fields that contain commas or line breaks")
            rows.append(row)
    except csv.Error as e:
        raise DataError(f"{path.name}, row {len(rows) + 2}: {e}; is a quote left open?") from None
    return rows


def find_csv(location: str | os.PathLike) -> tuple[Path, Path | None]:
    """A CSV path, or a folder (e.g. a SageMaker channel) with one CSV and maybe its clips folder."""
    p = Path(location)
    if p.is_file():
        return p, None
    if p.is_dir():
        csvs = sorted(p.glob("*.csv"))
        if len(csvs) != 1:
            raise DataError(f"{p}: expected exactly one CSV in the folder, found {[c.name for c in csvs]}")
        return csvs[0], clip_folder_beside(csvs[0], extra=("clips",))
    raise DataError(f"{p}: no such file or folder")


def clip_folder_beside(csv_path: str | os.PathLike, extra: tuple[str, ...] = ()) -> Path | None:
    """MELD's clip folder (or one of extra) next to a CSV, if there is one."""
    parent = Path(csv_path).parent
    return next((parent / d for d in (*MELD_CLIP_DIRS.values(), *extra) if (parent / d).is_dir()), None)


def load_split(location: str, clips: str | None = None, text_only: bool = False, context: int = 0,
               encoding: str | None = None) -> "Dataset":
    """A train/dev/eval split from a CSV or a folder holding one, with dialogue context attached."""
    csv_path, found = find_csv(location)
    ds = load_dataset(csv_path, clips or found, text_only=text_only, encoding=encoding)
    attach_context(ds, context)
    return ds


def _labels(path: Path, row_no: int, emotion: str, sentiment: str) -> tuple[int, int]:
    try:
        return emotion_id(emotion), sentiment_id(sentiment)
    except ValueError as e:
        raise DataError(f"{path.name}, row {row_no}: {e}") from None


def load_meld(csv_path: str | os.PathLike, clips_dir: str | os.PathLike | None = None,
              text_only: bool = False, encoding: str | None = None, rows: list[dict[str, str]] | None = None) -> Dataset:
    """A MELD split: its CSV, plus clips named dia{Dialogue_ID}_utt{Utterance_ID}.mp4 in clips_dir.

    clips_dir None: look beside the CSV for MELD's folder names; none found (or text_only): text only.
    """
    path = Path(csv_path)
    rows = read_csv(path, encoding) if rows is None else rows
    _require_rows(path, rows, MELD_COLUMNS)
    if clips_dir is None and not text_only:
        clips_dir = clip_folder_beside(path)
    clip_root = None if text_only or clips_dir is None else Path(clips_dir)
    if clip_root is not None and not clip_root.is_dir():
        raise DataError(f"{clip_root}: clips folder not found")
    examples = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        emo, sent = _labels(path, n, row["Emotion"], row["Sentiment"])
        d, u = row["Dialogue_ID"].strip(), row["Utterance_ID"].strip()
        if not (d.isdigit() and u.isdigit()):
            raise DataError(f"{path.name}, row {n}: Dialogue_ID and Utterance_ID must be whole numbers, got "
                            f"{d!r} and {u!r}")
        clip = str(clip_root / f"dia{d}_utt{u}.mp4") if clip_root is not None else None
        examples.append(Example(uid=f"dia{d}_utt{u}", text=row["Utterance"], emotion=emo, sentiment=sent, clip=clip,
                                dialogue=d))
    examples.sort(key=lambda e: (int(e.dialogue), int(e.uid.rsplit("utt", 1)[1])))
    return Dataset(name=path.stem, examples=examples)


def load_generic(csv_path: str | os.PathLike, root: str | os.PathLike | None = None, encoding: str | None = None,
                 rows: list[dict[str, str]] | None = None) -> Dataset:
    """A CSV with path,text,emotion,sentiment (and optional start,end,dialogue_id); paths relative to root or the CSV."""
    path = Path(csv_path)
    rows = read_csv(path, encoding) if rows is None else rows
    _require_rows(path, rows, GENERIC_COLUMNS, "(optional start,end,dialogue_id)")
    base = Path(root) if root else path.parent
    examples = []
    for n, row in enumerate(rows, start=2):
        emo, sent = _labels(path, n, row["emotion"], row["sentiment"])
        clip = row["path"].strip()
        try:
            start = float(row["start"]) if row.get("start", "").strip() else None
            end = float(row["end"]) if row.get("end", "").strip() else None
        except ValueError:
            raise DataError(f"{path.name}, row {n}: start/end must be seconds, got {row.get('start')!r}, "
                            f"{row.get('end')!r}") from None
        if start is not None and end is not None and end <= start:
            raise DataError(f"{path.name}, row {n}: end ({end}) must be after start ({start})")
        examples.append(Example(uid=f"row{n}", text=row["text"] or "", emotion=emo, sentiment=sent,
                                clip=str(base / clip) if clip else None, start=start, end=end,
                                dialogue=(row.get("dialogue_id") or "").strip()))
    return Dataset(name=path.stem, examples=examples)


def _require_rows(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...], note: str = "") -> None:
    if not rows:
        raise DataError(f"{path.name}: has no data rows; expected a header and one row per utterance with "
                        f"{', '.join(columns)} {note}".rstrip())
    if not set(columns) <= set(rows[0]):
        raise DataError(f"{path.name}: expected columns {', '.join(columns)} {note}, got {list(rows[0])}")


def load_dataset(csv_path: str | os.PathLike, clips_dir: str | os.PathLike | None = None,
                 text_only: bool = False, encoding: str | None = None) -> Dataset:
    """MELD or generic, told apart by the CSV's columns."""
    rows = read_csv(Path(csv_path), encoding=encoding)
    if rows and "Utterance" in rows[0]:
        return load_meld(csv_path, clips_dir, text_only, rows=rows)
    ds = load_generic(csv_path, clips_dir, rows=rows)
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
