"""Faces in video frames: OpenCV's Haar cascade (it ships inside opencv-python-headless 4.x, so it works offline)
finds the largest face of a frame, which is cropped to a grayscale square as FER2013 frames its faces.

The largest face of an utterance's frames is taken for its speaker's (mmsa.face_tracks links faces to speakers
only where that is unambiguous).
"""

from __future__ import annotations

import functools

import numpy as np

FRAME_SIDE = 360  # sampled frames keep their aspect at this shorter side; the speaker's face is found in them
DETECT_SIDE = 240  # frames are searched at this shorter side: Haar costs grow with pixels, faces stay findable
MIN_FACE_SHARE = 0.12  # a face narrower than this share of the frame's shorter side is background, not a speaker
CROP_MARGIN = 0.15  # FER2013's crops reach a little beyond the detector's box (forehead, chin)
CASCADE = "haarcascade_frontalface_default.xml"


class FaceDetectorUnavailable(RuntimeError):
    """The installed OpenCV has no Haar cascades (opencv 5 dropped them); the fix is to install 4.x."""


@functools.lru_cache(maxsize=1)
def _detector():
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise FaceDetectorUnavailable("this OpenCV has no face detector: pip install 'opencv-python-headless>=4.9,<5'")
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if detector.empty():
        raise FaceDetectorUnavailable(f"OpenCV's {CASCADE} is missing: reinstall opencv-python-headless 4.x")
    return detector


def largest_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the largest frontal face in a grayscale frame (h, w), or None."""
    import cv2

    side = min(gray.shape[:2])
    scale = DETECT_SIDE / side if side > DETECT_SIDE else 1.0
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    min_side = max(20, int(MIN_FACE_SHARE * min(small.shape[:2])))
    faces = _detector().detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.15, minNeighbors=5,
                                         minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return tuple(int(round(v / scale)) for v in (x, y, w, h))


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """A square grayscale crop (size, size) uint8 around box, with CROP_MARGIN on every side, clamped to the frame."""
    import cv2

    x, y, w, h = box
    side = int(max(w, h) * (1 + 2 * CROP_MARGIN))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(gray.shape[1], cx + side / 2)), int(min(gray.shape[0], cy + side / 2))
    return cv2.resize(gray[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def to_gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def utterance_faces(frames: np.ndarray, size: int) -> tuple[np.ndarray | None, int, tuple[float, ...] | None]:
    """The speaker's face in each frame (frames, h, w, 3) RGB -> (crops (frames, size, size) uint8, frames searched,
    the face's box (x, y, w, h) as fractions of the frame).

    The face is searched from the middle frame outwards; the first one found is cropped at the same place in every
    frame (within one utterance a speaker's head moves less than the crop's margin), so one detection usually
    serves all frames. None when no frame has a face."""
    grays = [to_gray(f) for f in frames]
    middle = len(grays) // 2
    order = sorted(range(len(grays)), key=lambda i: abs(i - middle))
    for searched, i in enumerate(order, start=1):
        box = largest_face(grays[i])
        if box is not None:
            height, width = grays[i].shape[:2]
            where = (box[0] / width, box[1] / height, box[2] / width, box[3] / height)
            return np.stack([crop_face(g, box, size) for g in grays]), searched, where
    return None, len(order), None


def image_face(image: np.ndarray, size: int) -> np.ndarray:
    """A still image's face crop (size, size): the largest face, or the whole image when it is already a tight
    crop in which the detector finds none (FER2013's own images)."""
    import cv2

    gray = to_gray(image)
    box = largest_face(gray)
    if box is not None:
        return crop_face(gray, box, size)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
