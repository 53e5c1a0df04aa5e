"""The speaker's face in video frames and photos: the largest face a detector (mmsa.face_detection) finds, cropped
to a grayscale square framed as FER2013 frames its faces. Where the detector gives the eyes, the crop is levelled
and scaled so the eyes sit where they sit in FER2013's images; otherwise the box is cropped with a margin.

The largest face of an utterance's frames is taken for its speaker's (mmsa.face_tracks links faces to speakers
only where that is unambiguous).
"""

from __future__ import annotations

import numpy as np

from .face_detection import Face, detector

FRAME_SIDE = 360  # sampled frames keep their aspect at this shorter side; the speaker's face is found in them
MIN_FACE_SHARE = 0.12  # a face narrower than this share of the frame's shorter side is background, not a speaker
CROP_MARGIN = 0.15  # without eyes: FER2013's crops reach a little beyond a Haar box (forehead, chin)
# Where FER2013's crops put the eyes, as fractions of the crop (median over 600 FER2013 training images, found by
# the same detector): x of the image's left eye, x of its right eye, and y of both
FER_EYES_X = (0.32, 0.69)
FER_EYES_Y = 0.40
PHOTO_MIN_SIDE = 192  # a smaller photo (a 48 px FER2013 or CK+ crop) is enlarged to this before detection


def largest_face(image: np.ndarray, min_share: float = MIN_FACE_SHARE, tiles: bool = True) -> Face | None:
    """The largest face in a frame (h, w) grey or (h, w, 3) RGB at least min_share of its shorter side wide, or
    None. tiles: look for small faces in parts of the frame too, where the whole shows none."""
    side, finder = min(image.shape[:2]), detector()
    found = [f for f in finder.faces(image, tiles=tiles) if f.box[2] >= min_share * finder.box_scale * side]
    return max(found, key=lambda f: f.box[2] * f.box[3], default=None)


def crop_face(gray: np.ndarray, face: Face, size: int) -> np.ndarray:
    """A square grayscale crop (size, size) uint8 of face: eyes levelled at FER2013's places when known, else the
    box with CROP_MARGIN on every side; what lies beyond the frame repeats its edge."""
    import cv2

    if face.eyes is not None:
        (lx, ly), (rx, ry) = face.eyes
        distance = float(np.hypot(rx - lx, ry - ly))
        if distance >= 2:
            scale = size * (FER_EYES_X[1] - FER_EYES_X[0]) / distance
            angle = np.degrees(np.arctan2(ry - ly, rx - lx))
            centre = ((lx + rx) / 2, (ly + ry) / 2)
            m = cv2.getRotationMatrix2D(centre, angle, scale)  # levels the eyes, scales them apart as in FER2013
            m[:, 2] += (size * (FER_EYES_X[0] + FER_EYES_X[1]) / 2 - centre[0], size * FER_EYES_Y - centre[1])
            return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    x, y, w, h = face.box
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

    The face is searched from the middle frame outwards (then, if none is found, in tiles of the middle frame); the
    first one found is cropped at the same place in every frame (within one utterance a speaker's head moves less
    than the crop's margin), so one detection usually serves all frames. None when no frame has a face."""
    grays = [to_gray(f) for f in frames]
    middle = len(grays) // 2
    order = sorted(range(len(grays)), key=lambda i: abs(i - middle))
    # whole frames first, middle outwards; only if none shows a face, the middle one in tiles (small faces)
    passes = [(i, False) for i in order] + ([(middle, True)] if detector().tiles else [])
    for n, (i, tiles) in enumerate(passes):
        face = largest_face(frames[i], tiles=tiles)
        if face is not None:
            height, width = grays[i].shape[:2]
            x, y, w, h = face.box
            where = (x / width, y / height, w / width, h / height)
            return np.stack([crop_face(g, face, size) for g in grays]), min(n + 1, len(order)), where
    return None, len(order), None


def image_face(image: np.ndarray, size: int) -> np.ndarray:
    """A still image's face crop (size, size): the largest face, or the whole image when it is already a tight
    crop in which the detector finds none (FER2013's own images)."""
    import cv2

    gray = to_gray(image)
    if min(gray.shape[:2]) < PHOTO_MIN_SIDE:  # detectors miss faces in thumbnails; enlarge first
        factor = PHOTO_MIN_SIDE / min(gray.shape[:2])
        gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    face = largest_face(gray, min_share=0.0)
    if face is not None:
        return crop_face(gray, face, size)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
