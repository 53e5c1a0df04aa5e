"""Entry point inside a SageMaker Processing job: analyse this instance's share of the videos.

The launcher (training.analyze_sagemaker) gives each instance its share of the videos (ShardedByS3Key) under
/opt/ml/processing/input/videos, the code under .../code and, for a model from S3, its model.tar.gz under
.../model. Results go to /opt/ml/processing/output, which SageMaker uploads to the results prefix as they are
written: one JSON per video and this instance's manifest part, _manifest/part-<host>.csv. A bad video is a row
with its error; only a model that cannot be loaded stops the job.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

# SageMaker runs this file as a script from the uploaded code folder; the packages are in its parent
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROCESSING = Path("/opt/ml/processing")


def current_host() -> str:
    """This instance's name (algo-1, algo-2, ...) from the job's resource config, else the machine name."""
    config = Path("/opt/ml/config/resourceconfig.json")
    try:
        return json.loads(config.read_text())["current_host"]
    except (OSError, ValueError, KeyError):
        return os.uname().nodename or "local"


def model_source(model_dir: Path, name: str | None, scratch: Path) -> str | None:
    """A model.tar.gz in model_dir (unpacked with the archive checks of training.push_to_hub), a model folder
    there, else the name (Hub id or starter name; None: the default starter)."""
    from training.push_to_hub import safe_extract

    archives = sorted(model_dir.glob("*.tar.gz")) if model_dir.is_dir() else []
    if archives:
        return str(safe_extract(archives[0], scratch / "model"))
    if (model_dir / "config.json").is_file():
        return str(model_dir)
    return name or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", default=str(PROCESSING / "input" / "videos"))
    parser.add_argument("--output", default=str(PROCESSING / "output"))
    parser.add_argument("--model-dir", default=str(PROCESSING / "input" / "model"))
    parser.add_argument("--model", default=os.environ.get("MMSA_MODEL"), help="Hub id or starter name")
    parser.add_argument("--max-duration", type=float, default=None,
                        help="longest video accepted, seconds (default: $MMSA_MAX_DURATION, else 600)")
    args = parser.parse_args(argv)

    from mmsa.analyze import Analyzer
    from mmsa.batch import analyze_folder

    host = current_host()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            analyzer = Analyzer(model_source(Path(args.model_dir), args.model, Path(scratch)),
                                max_duration=args.max_duration)
        except Exception as e:  # nothing can be analysed: this is the one failure that stops the job
            print(f"error: the model could not be loaded: {e}", file=sys.stderr)
            return 1

        def progress(i: int, n: int, row: dict) -> None:
            detail = row["error"] or f"{row['utterances']} utterances, {row['seconds']} s"
            print(f"[{host} {i}/{n}] {row['video']}: {row['status']} ({detail})", flush=True)

        rows = analyze_folder(analyzer, args.videos, args.output,
                              manifest=Path(args.output) / "_manifest" / f"part-{host}.csv", on_video=progress)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "error")}
    print(f"{host}: {counts['ok']} analysed, {counts['skipped']} already done, {counts['error']} failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
