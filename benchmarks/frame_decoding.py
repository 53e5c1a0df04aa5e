"""Frame reading cost: the current reader (PyAV, frame threads, scaled in the converter) against the previous one
(OpenCV: every frame decoded single-threaded, sampled frames converted to RGB at full size, then resized).

    python -m benchmarks.frame_decoding [--seconds 20] [--repeat 3]

Clips: a 4096x4096 "bomb" (black, a few hundred KB, the largest frames accepted) and a 1280x720 talking-head-sized
clip; spans of 4 s with 8 frames of 112 px each, as the cpu preset reads them. Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import median_time
from mmsa.media import iter_span_frames, sample_times

NUM_FRAMES, SIZE, SPAN_S = 8, 112, 4.0


def opencv_reader(path: Path, spans, num_frames: int, size: int):
    """The previous reader, kept here as the baseline."""
    import cv2

    targets = sorted((float(t), i, k) for i, (s, e) in enumerate(spans)
                     for k, t in enumerate(sample_times(s, e, num_frames)))
    cap = cv2.VideoCapture(str(path))
    out, ptr = {}, 0
    while ptr < len(targets) and cap.grab():
        ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if targets[ptr][0] > ts + 0.02:
            continue
        ok, bgr = cap.retrieve()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        scale = size / min(h, w)
        rgb = cv2.resize(rgb, (max(size, round(w * scale)), max(size, round(h * scale))), interpolation=cv2.INTER_AREA)
        while ptr < len(targets) and targets[ptr][0] <= ts + 0.02:
            out.setdefault(targets[ptr][1], []).append(rgb[:size, :size])
            ptr += 1
    cap.release()
    return out


def make_clip(path: Path, size: str, seconds: float, source: str) -> Path:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"{source}:size={size}:rate=25" if "=" in source else f"{source}=size={size}:rate=25",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spans = [(s, s + SPAN_S) for s in np.arange(0.0, args.seconds - SPAN_S + 1e-6, SPAN_S)]
    with tempfile.TemporaryDirectory() as tmp:
        clips = {"4096x4096 black (bomb)": make_clip(Path(tmp) / "bomb.mp4", "4096x4096", args.seconds, "color=c=black"),
                 "1280x720 testsrc2": make_clip(Path(tmp) / "hd.mp4", "1280x720", args.seconds, "testsrc2")}
        print(f"{args.seconds:.0f} s clips, {len(spans)} spans x {NUM_FRAMES} frames of {SIZE} px, median of "
              f"{args.repeat}\n")
        print("| clip | size | previous (OpenCV) s | current (PyAV) s | speed-up | s per minute of video, current |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, clip in clips.items():
            old = median_time(lambda: opencv_reader(clip, spans, NUM_FRAMES, SIZE), repeat=args.repeat)
            new = median_time(lambda: list(iter_span_frames(clip, spans, NUM_FRAMES, SIZE)), repeat=args.repeat)
            print(f"| {name} | {clip.stat().st_size / 1e3:.0f} KB | {old:.2f} | {new:.2f} | {old / new:.2f}x | "
                  f"{new * 60 / args.seconds:.1f} |")


if __name__ == "__main__":
    main()
