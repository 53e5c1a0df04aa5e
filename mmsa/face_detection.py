"""Face detectors for video frames and photos: where each face is, and where its eyes are when the detector knows.

- "mediapipe" (default): MediaPipe's BlazeFace detector, the first stage of the Face Landmarker bundle shipped in
  mmsa/face_model (Apache-2.0, hash-checked at load). It finds turned, tilted and dimly lit faces that Haar misses
  and gives both eyes, so crops can be levelled (benchmarks/face_detection.py measures both on the same frames).
- "haar": OpenCV's frontal-face Haar cascade, inside opencv 4.x: upright, frontal faces only, no eyes.

MMSA_FACE_DETECTOR (mmsa.settings) chooses; without mediapipe installed the Haar cascade is used, and the log says
so once.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import logging
import os
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .settings import FACE_DETECTORS, SettingsError, face_detector

logger = logging.getLogger("mmsa")

MODEL_FILE = Path(__file__).parent / "face_model" / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MIN_SCORE = 0.75  # BlazeFace's confidence below which a box is not a face (faces score 0.9+, patterns and noise < 0.6)
TILE_SHARE = 0.6  # BlazeFace sees a frame at 128 px: a small face is looked for again in tiles this share of the
# frame's shorter side (half a tile apart), each of which it sees at 128 px
DETECT_SIDE = 240  # Haar searches frames at this shorter side: its cost grows with pixels, faces stay findable
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


class FaceDetectorUnavailable(RuntimeError):
    """No detector can run: the installed OpenCV has no Haar cascades (opencv 5 dropped them) and mediapipe is not
    installed, or the shipped model file is damaged. The message says what to install."""


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None  # (image-left eye, image-right eye), pixels


@contextlib.contextmanager
def _native_stderr_silenced():
    """MediaPipe's native runtime logs its set-up and tear-down to the process's stderr, past Python's logging:
    lines meant for its developers, not ours. Silenced around those two moments only."""
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no real stderr (an embedding host): nothing to silence
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, 2) if image.ndim == 2 else image[:, :, :3])


class MediaPipeDetector:
    name = "mediapipe"
    box_scale = 0.82  # its boxes are tighter than Haar's: 0.82 of their width on the same faces (median)
    tiles = True  # it sees a frame at 128 px: small faces need tiles

    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        data = MODEL_FILE.read_bytes() if MODEL_FILE.is_file() else b""
        if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
            raise FaceDetectorUnavailable("the packaged face model (face_landmarker.task) is missing or damaged: "
                                          "reinstall mmsa")
        with zipfile.ZipFile(MODEL_FILE) as bundle:  # BlazeFace, the bundle's first stage: boxes and eyes
            blazeface = bundle.read("face_detector.tflite")
        options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_buffer=blazeface),
                                             min_detection_confidence=MIN_SCORE)
        with _native_stderr_silenced():
            self._detector = vision.FaceDetector.create_from_options(options)
            self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB,  # its first call logs too
                                           data=np.zeros((128, 128, 3), np.uint8)))
        self._lock = threading.Lock()  # one graph, called from the app's worker threads

    def _detect(self, rgb: np.ndarray, x0: int = 0, y0: int = 0) -> list[Face]:
        import mediapipe as mp

        height, width = rgb.shape[:2]
        with self._lock:
            found = self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB,
                                                   data=np.ascontiguousarray(rgb))).detections
        out = []
        for d in found:
            b = d.bounding_box
            # BlazeFace's first two keypoints are the eyes, the image's left one first
            eyes = tuple((x0 + k.x * width, y0 + k.y * height) for k in d.keypoints[:2]) \
                if len(d.keypoints) >= 2 else None
            out.append(Face((x0 + b.origin_x, y0 + b.origin_y, b.width, b.height), eyes))
        return out

    def faces(self, image: np.ndarray, tiles: bool = True) -> list[Face]:
        """Faces in the whole frame; where there are none and tiles is set, faces in its tiles (a wide shot's small
        faces; about ten more detections, so callers ask for them once per utterance, not per frame)."""
        rgb = _rgb(image)
        found = self._detect(rgb)
        if found or not tiles:
            return found
        height, width = rgb.shape[:2]
        tile = int(TILE_SHARE * min(height, width))
        if tile < 64:
            return []
        for y in _starts(height, tile):
            for x in _starts(width, tile):
                found += self._detect(rgb[y:y + tile, x:x + tile], x, y)
        return found

    def close(self) -> None:
        with _native_stderr_silenced():
            self._detector.close()


def _starts(length: int, tile: int) -> list[int]:
    """Tile origins along one side: half a tile apart, the last one flush with the end."""
    starts = list(range(0, max(1, length - tile), tile // 2))
    return starts + [length - tile] if starts[-1] != length - tile else starts


class HaarDetector:
    name = "haar"
    box_scale = 1.0
    tiles = False  # the cascade searches every scale itself

    def __init__(self):
        import cv2

        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise FaceDetectorUnavailable("this OpenCV has no face detector: pip install "
                                          "'opencv-contrib-python>=4.9,<5'")
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
        if self._cascade.empty():
            raise FaceDetectorUnavailable(f"OpenCV's {HAAR_CASCADE} is missing: reinstall OpenCV 4.x")

    def faces(self, image: np.ndarray, tiles: bool = True, min_share: float = 0.12) -> list[Face]:
        """Frontal faces at least min_share of the frame's shorter side wide (smaller ones are not searched; the
        cascade searches every scale, so tiles are not needed)."""
        import cv2

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        side = min(gray.shape[:2])
        scale = DETECT_SIDE / side if side > DETECT_SIDE else 1.0
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_side = max(20, int(min_share * min(small.shape[:2])))
        boxes = self._cascade.detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.15, minNeighbors=5,
                                               minSize=(min_side, min_side))
        return [Face(tuple(int(round(v / scale)) for v in box)) for box in boxes]


def detector(name: str | None = None) -> MediaPipeDetector | HaarDetector:
    """The detector called name (default: MMSA_FACE_DETECTOR, else mediapipe), built once per process."""
    try:
        return _detector(name or face_detector())
    except SettingsError as e:
        raise FaceDetectorUnavailable(str(e)) from None


@functools.lru_cache(maxsize=None)
def _detector(name: str) -> MediaPipeDetector | HaarDetector:
    if name not in FACE_DETECTORS:
        raise FaceDetectorUnavailable(f"{name!r} is not a face detector: use one of {', '.join(FACE_DETECTORS)}")
    if name == "mediapipe":
        try:
            found = MediaPipeDetector()
            # closed while Python's worker threads still run: MediaPipe closes through one of them, and its own
            # clean-up at exit comes too late and prints a traceback
            getattr(threading, "_register_atexit", atexit.register)(found.close)
            return found
        except ImportError:
            logger.warning("mediapipe is not installed: faces are found by OpenCV's Haar cascade, which misses "
                           "turned and dim faces (pip install mediapipe)")
    return HaarDetector()
