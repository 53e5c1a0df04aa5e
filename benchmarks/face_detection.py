"""Face detection, Haar cascade against MediaPipe's BlazeFace, on the same frames: how often each finds the face,
how often it finds one where there is none, and what it costs.

    python -m benchmarks.face_detection --clips DIR [--frames 8]

DIR holds talking-head clips with one face each (the CREMA-D smoke clips: *.flv). Their frames are read as the
pipeline reads them (shorter side 360), then changed the way real video differs from a studio:
  turned  rotated 30 degrees (a tilted head, a phone held askew)
  small   shrunk to 40% on a grey frame (a wide shot, a speaker at the back)
  dark    a quarter of the light, gamma 1.5 (an unlit room)
plus scikit-image's astronaut photo (a studio portrait) where scikit-image is installed. Frames with no face
(ffmpeg's test patterns and noise) count false finds. Frames are taken 4 at a time as one utterance's and searched
as the pipeline searches them (mmsa.faces.utterance_faces). Prints, per set and detector, the share of frames and of
utterances with a face found, and the cost per utterance; then both detectors' median and mean cost per utterance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmsa.face_detection import detector
from mmsa.faces import FRAME_SIDE, MIN_FACE_SHARE, utterance_faces
from mmsa.media import iter_span_frames, probe

VIDEO_EXTENSIONS = (".flv", ".mp4", ".mov", ".mkv", ".avi", ".webm")
UTTERANCE_FRAMES = 4  # frames the face branch reads per utterance (the starter's num_frames)


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


def found_rate(detector, frames: list[np.ndarray]) -> float:
    """Share of frames in which the detector finds a face wide enough to be a speaker's (tiles allowed)."""
    return float(np.mean([any(f.box[2] >= MIN_FACE_SHARE * detector.box_scale * min(frame.shape[:2])
                              for f in detector.faces(frame)) for frame in frames]))


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
    sets["no face (false finds)"] = negatives
    rows = {label: {} for label in sets}
    costs: dict[str, list[float]] = {}
    for name in ("haar", "mediapipe"):
        os.environ["MMSA_FACE_DETECTOR"] = name  # what utterance_faces uses, as in the pipeline
        utterance_faces(np.stack(studio[:UTTERANCE_FRAMES]), 48)  # first calls build graphs and caches
        costs[name] = []
        for label, frames in sets.items():
            utterances = [np.stack(frames[i:i + UTTERANCE_FRAMES]) for i in range(0, len(frames), UTTERANCE_FRAMES)]
            hits = []
            for u in utterances:
                t = time.perf_counter()
                crops, _, _ = utterance_faces(u, 48)
                costs[name].append(time.perf_counter() - t)
                hits.append(crops is not None)
            rows[label][name] = (found_rate(detector(name), frames), float(np.mean(hits)),
                                 1000 * statistics.mean(costs[name][-len(utterances):]))
    print(f"{'frames':<24}{'frames':>7}{'utterances':>11} | {'haar: frames, utterances, ms':>30} | "
          f"{'mediapipe: frames, utterances, ms':>34}")
    for label, frames in sets.items():
        h, m = rows[label]["haar"], rows[label]["mediapipe"]
        n_utt = -(-len(frames) // UTTERANCE_FRAMES)
        print(f"{label:<24}{len(frames):>7}{n_utt:>11} | {h[0]:>10.2f}{h[1]:>11.2f}{h[2]:>9.1f} | "
              f"{m[0]:>14.2f}{m[1]:>11.2f}{m[2]:>9.1f}")
    med = {n: 1000 * statistics.median(c) for n, c in costs.items()}
    mean = {n: 1000 * statistics.mean(c) for n, c in costs.items()}
    print(f"ms per utterance ({UTTERANCE_FRAMES} frames, searched as the pipeline does), all sets: median haar "
          f"{med['haar']:.1f}, mediapipe {med['mediapipe']:.1f} (ratio {med['mediapipe'] / med['haar']:.2f}); mean "
          f"haar {mean['haar']:.1f}, mediapipe {mean['mediapipe']:.1f} (ratio {mean['mediapipe'] / mean['haar']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
