"""A folder of videos -> one JSON result per video and a manifest CSV; what a SageMaker batch job runs.

Each video's result goes to OUT/<its path under the input folder>.json (written whole, then renamed, so a result
that exists is complete); a video whose result exists is skipped, so a re-run finishes what an earlier one left.
Every video gets a manifest row (video, status, utterances, seconds, error): a bad file is a row with its error,
never a stopped run.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

MANIFEST_FIELDS = ("video", "status", "utterances", "seconds", "error")
RESULT_SUFFIX = ".json"


def videos_in(folder: str | os.PathLike) -> Iterator[tuple[str, Path]]:
    """(path relative to folder with / separators, path) of every regular file below it, hidden ones left out."""
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and not any(p.startswith(".") for p in rel.parts):
            yield rel.as_posix(), path


def result_path(out_dir: str | os.PathLike, video: str) -> Path:
    return Path(out_dir) / (video + RESULT_SUFFIX)


def _public_error(e: BaseException, folder: Path) -> str:
    """The error without server folders: the manifest and logs name the video, not where it was stored."""
    text = f"{e}" if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
    for prefix in {str(folder.resolve()), str(folder)}:
        text = text.replace(prefix + os.sep, "").replace(prefix, "")
    return " ".join(text.split())[:500]


def analyze_folder(analyzer, in_dir: str | os.PathLike, out_dir: str | os.PathLike,
                   manifest: str | os.PathLike | None = None,
                   on_video: Callable[[int, int, dict], None] | None = None) -> list[dict]:
    """Analyse every video below in_dir that has no result in out_dir yet; returns the manifest rows (also
    appended to `manifest`, default OUT/manifest.csv, one row as each video finishes)."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise ValueError(f"input folder {in_dir.name!r} does not exist or is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Path(manifest) if manifest else out_dir / "manifest.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    new_file = not manifest.is_file() or manifest.stat().st_size == 0
    outputs = out_dir.resolve()  # results written inside the input folder are not videos
    videos = [(rel, path) for rel, path in videos_in(in_dir)
              if path.resolve() != manifest.resolve() and outputs not in path.resolve().parents]
    rows = []
    with open(manifest, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        if new_file:
            writer.writeheader()
        for i, (rel, path) in enumerate(videos, 1):
            row = analyze_one(analyzer, rel, path, out_dir, in_dir)
            writer.writerow(row)
            f.flush()
            rows.append(row)
            if on_video:
                on_video(i, len(videos), row)
    return rows


def analyze_one(analyzer, rel: str, path: Path, out_dir: Path, in_dir: Path) -> dict:
    target = result_path(out_dir, rel)
    if target.is_file():
        try:
            done = json.loads(target.read_text(encoding="utf-8"))
            return {"video": rel, "status": "skipped", "utterances": len(done["utterances"]),
                    "seconds": done["duration"], "error": ""}
        except (ValueError, KeyError, TypeError):
            pass  # a damaged result is analysed again
    try:
        analysis = analyzer.analyze(path)
    except Exception as e:  # one bad video is a row, never a stopped batch
        return {"video": rel, "status": "error", "utterances": 0, "seconds": 0, "error": _public_error(e, in_dir)}
    analysis.source = rel
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.part")
    partial.write_text(json.dumps(analysis.to_dict(), ensure_ascii=False), encoding="utf-8")
    partial.replace(target)
    return {"video": rel, "status": "ok", "utterances": len(analysis.utterances),
            "seconds": round(analysis.duration, 3), "error": ""}
