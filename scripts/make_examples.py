"""Render the app's example clips with espeak-ng and ffmpeg (no downloaded media).

    python scripts/make_examples.py [--out examples] [--force]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmsa.synth import make_examples

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples")
    parser.add_argument("--force", action="store_true", help="render again even if the files exist")
    args = parser.parse_args()
    for p in make_examples(args.out, args.force):
        print(p)
