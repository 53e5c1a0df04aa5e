"""Render the app's example clips with espeak-ng and ffmpeg (no downloaded media)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsa.synth import make_video  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
# (file name, spoken text, voice pitch, frame pattern)
EXAMPLES = [
    ("good_news.mp4", "Oh my god, I got the job! This is the best day of my life. I am so happy!", 70, "testsrc2"),
    ("bad_day.mp4", "I can't believe you did that again. I am so angry right now. Just leave me alone.", 30, "smptebars"),
    ("quiet_talk.mp4", "I miss her so much. Everything feels empty since she left. I don't know what to do.", 40,
     "mandelbrot"),
]


def make_examples(out_dir: Path = EXAMPLES_DIR, force: bool = False) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text, pitch, pattern in EXAMPLES:
        path = out_dir / name
        if force or not path.exists():
            make_video(path, text, pitch=pitch, pattern=pattern, size=(480, 270))
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR)
    parser.add_argument("--force", action="store_true", help="render again even if the files exist")
    args = parser.parse_args()
    for p in make_examples(args.out, args.force):
        print(p)
