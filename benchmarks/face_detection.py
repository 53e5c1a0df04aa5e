"""Face detection, Haar cascade against MediaPipe's BlazeFace, on the same frames: how often each finds the face,
how often it finds one where there is none, and what it costs.

    python -m benchmarks.face_detection --clips DIR [--frames 8]

DIR holds talking-head clips with one face each (the CREMA-D smoke clips: *.flv). Their frames are read as the
pipeline reads them (shorter side 360), then changed the way real video differs from a studio:
  turned  rotated 30 degrees (a tilted head, a phone held askew)
  small   shrunk to 40% on a grey frame (a wide shot, a speaker at the back)
  dark    a quarter of the light, gamma 1.5 (an unlit room)
plus scikit-image's astronaut photo (a studio portrait) where scikit-image is installed. Frames with no face
(ffmpeg's test patterns and noise) count false finds. Prints each detector's find rate per set, the median cost per
frame (and the mean: a frame without a face costs more), and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmsa.face_detection import HaarDetector, MediaPipeDetector
from mmsa.faces import FRAME_SIDE, MIN_FACE_SHARE
from mmsa.media import iter_span_frames, probe

VIDEO_EXTENSIONS = (".flv", ".mp4", ".mov", ".mkv", ".avi", ".webm")


def clip_frames(folder: Path, per_clip: int) -> list[np.ndarray]:
    frames = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS):
        info = probe(path)
        if not info.has_video:
            continue
        for _, got in iter_span_frames(path, [(0.0, info.duration)], per_clip, FRAME_SIDE, square=False):
            frames.extend(list(got))
    return frames


def turned(frame: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0), (w, h),
                          borderMode=cv2.BORDER_REPLICATE)


def small(frame: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    out = np.full_like(frame, 128)
    shrunk = cv2.resize(frame, (int(w * 0.4), int(h * 0.4)), interpolation=cv2.INTER_AREA)
    y, x = (h - shrunk.shape[0]) // 2, (w - shrunk.shape[1]) // 2
    out[y:y + shrunk.shape[0], x:x + shrunk.shape[1]] = shrunk
    return out


def dark(frame: np.ndarray) -> np.ndarray:
    return (255 * 0.25 * (frame / 255.0) ** 1.5).astype(np.uint8)


def faceless_frames(count: int) -> list[np.ndarray]:
    """ffmpeg's test patterns and uniform noise at 640x360: no face in any."""
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in ("testsrc2", "smptebars", "mandelbrot", "life"):
            out = Path(tmp) / f"{source}.png"
            subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{source}=size=640x360", "-frames:v", "1",
                            str(out)], check=True)
            import cv2

            frames.append(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB))
    rng = np.random.default_rng(0)
    frames += [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(max(0, count - len(frames)))]
    return frames


def found(detector, frame: np.ndarray) -> tuple[bool, float]:
    side = min(frame.shape[:2])
    t = time.perf_counter()
    faces = [f for f in detector.faces(frame) if f.box[2] >= MIN_FACE_SHARE * detector.box_scale * side]
    return bool(faces), time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.face_detection", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", required=True, help="folder of talking-head clips, one face each (CREMA-D's)")
    p.add_argument("--frames", type=int, default=8, help="frames sampled per clip")
    args = p.parse_args(argv)
    folder = Path(args.clips)
    if not folder.is_dir():
        print(f"error: --clips {folder.name}: not a folder", file=sys.stderr)
        return 2
    studio = clip_frames(folder, args.frames)
    if not studio:
        print(f"error: no readable video clips in {folder.name}", file=sys.stderr)
        return 2
    sets = {"studio": studio, "turned": [turned(f) for f in studio], "small": [small(f) for f in studio],
            "dark": [dark(f) for f in studio]}
    try:
        import skimage.data

        portrait = skimage.data.astronaut()
        sets["portrait"] = [portrait, turned(portrait), dark(portrait)]
    except ImportError:
        pass
    negatives = faceless_frames(len(studio))
    detectors = {"haar": HaarDetector(), "mediapipe": MediaPipeDetector()}
    for d in detectors.values():  # first calls build graphs and caches
        found(d, studio[0])
    rates: dict[str, dict[str, float]] = {}
    costs: dict[str, float] = {}
    means: dict[str, float] = {}
    for name, d in detectors.items():
        times = []
        rates[name] = {}
        for label, frames in list(sets.items()) + [("no face (false finds)", negatives)]:
            hits = []
            for f in frames:
                hit, seconds = found(d, f)
                hits.append(hit)
                times.append(seconds)
            rates[name][label] = float(np.mean(hits))
        costs[name] = statistics.median(times) * 1000
        means[name] = statistics.mean(times) * 1000
    counts = {label: len(frames) for label, frames in sets.items()} | {"no face (false finds)": len(negatives)}
    print(f"{'frames':<24}{'n':>5}{'haar':>10}{'mediapipe':>11}")
    for label, n in counts.items():
        print(f"{label:<24}{n:>5}{rates['haar'][label]:>10.2f}{rates['mediapipe'][label]:>11.2f}")
    print(f"{'median ms per frame':<24}{'':>5}{costs['haar']:>10.1f}{costs['mediapipe']:>11.1f}")
    print(f"{'mean ms per frame':<24}{'':>5}{means['haar']:>10.1f}{means['mediapipe']:>11.1f}")
    print(f"mediapipe / haar cost: {costs['mediapipe'] / costs['haar']:.2f} (median), "
          f"{means['mediapipe'] / means['haar']:.2f} (mean)")
    detectors["mediapipe"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
