"""Faces: MediaPipe's detector finds a real face upright, turned, dark and small, never in patterns or noise; crops
are levelled with the eyes where FER2013 puts them; the Haar fallback and bad settings answer clearly."""

import numpy as np
import pytest
import torch

from mmsa import face_detection
from mmsa.face_detection import Face, FaceDetectorUnavailable, HaarDetector, MediaPipeDetector, detector
from mmsa.faces import FER_EYES_X, FER_EYES_Y, crop_face, image_face, largest_face, utterance_faces

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def portrait():
    """NASA's public-domain portrait of Eileen Collins (512x512 RGB), shipped inside scikit-image."""
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def mediapipe_detector():
    return detector("mediapipe")


def _turned(image, degrees):
    import cv2

    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h),
                          borderMode=cv2.BORDER_REPLICATE)


def test_the_default_detector_is_mediapipe_with_eyes(mediapipe_detector, portrait):
    assert isinstance(mediapipe_detector, MediaPipeDetector)
    faces = mediapipe_detector.faces(portrait)
    assert len(faces) == 1
    (x, y, w, h), ((lx, ly), (rx, ry)) = faces[0].box, faces[0].eyes
    # the face is in the upper left of the portrait, both eyes inside its box, the image's left eye first
    assert 100 < x + w / 2 < 300 and 50 < y + h / 2 < 250 and w > 60
    assert x < lx < rx < x + w and y < ly < y + h and y < ry < y + h


def test_a_turned_face_is_found_and_its_crop_levelled(mediapipe_detector, portrait):
    upright = image_face(portrait, 48).astype(float).ravel()
    tilt = lambda f: np.degrees(np.arctan2(f.eyes[1][1] - f.eyes[0][1], f.eyes[1][0] - f.eyes[0][0]))
    own = tilt(largest_face(portrait))  # the astronaut's head leans a little of itself
    for degrees in (-30, -15, 15, 30):
        turned = _turned(portrait, degrees)
        face = largest_face(turned)
        assert face is not None, degrees
        # the eyes are seen turned the way the picture was (OpenCV turns counter-clockwise), by most of the angle
        assert -(tilt(face) - own) * np.sign(degrees) > abs(degrees) / 2, (degrees, tilt(face) - own)
        levelled = np.corrcoef(upright, image_face(turned, 48).astype(float).ravel())[0, 1]
        boxed = np.corrcoef(upright, crop_face(turned[:, :, 0], Face(face.box), 48).astype(float).ravel())[0, 1]
        # BlazeFace's eyes are coarse, so a 30-degree tilt is only partly undone; its box crop not at all
        assert levelled > boxed + 0.15 and levelled > (0.75 if abs(degrees) == 15 else 0.45), (degrees, levelled)


def test_crops_put_the_eyes_where_fer2013_puts_them():
    import cv2

    frame = np.zeros((200, 300), np.uint8)
    eyes = ((100.0, 120.0), (160.0, 90.0))  # 67 px apart, tilted 26.6 degrees
    for x, y in eyes:
        cv2.circle(frame, (int(x), int(y)), 3, 255, -1)
    crop = crop_face(frame, Face((80, 60, 110, 110), eyes), 96)
    found = [tuple(c[0].mean(0)) for c in
             cv2.findContours((crop > 100).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]]
    found.sort()
    assert len(found) == 2
    for (x, y), want_x in zip(found, FER_EYES_X):
        assert x == pytest.approx(want_x * 96, abs=2) and y == pytest.approx(FER_EYES_Y * 96, abs=2)


def test_a_small_face_in_a_wide_shot_and_a_dark_face_are_found(mediapipe_detector, portrait):
    import cv2

    wide = np.full((360, 640, 3), 120, np.uint8)
    wide[60:300, 200:440] = cv2.resize(portrait, (240, 240), interpolation=cv2.INTER_AREA)
    face = largest_face(wide)
    assert face is not None and 200 < face.box[0] < 440 and 60 < face.box[1] < 300
    dark = (255 * 0.25 * (portrait / 255.0) ** 1.5).astype(np.uint8)
    assert largest_face(dark) is not None


def test_no_face_in_patterns_or_noise(mediapipe_detector, media_dir):
    import subprocess

    import cv2

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(4)]
    for source in ("testsrc2", "smptebars", "mandelbrot"):
        out = media_dir / f"{source}.png"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size=640x360", "-frames:v", "1",
                        str(out)], check=True)
        frames.append(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB))
    assert [largest_face(f) for f in frames] == [None] * len(frames)
    crops, searched, box = utterance_faces(np.stack(frames[:3]), 48)
    assert crops is None and searched == 3 and box is None


def test_an_utterance_crops_every_frame_where_the_middle_frame_shows_the_face(portrait):
    frames = np.stack([portrait] * 3)
    crops, searched, box = utterance_faces(frames, 48)
    assert crops.shape == (3, 48, 48) and searched == 1
    assert 0.2 < box[0] < 0.5 and 0.1 < box[2] < 0.4  # fractions of the frame


def test_haar_is_the_fallback_and_bad_settings_say_what_to_do(monkeypatch, portrait, tmp_path):
    haar = detector("haar")
    assert isinstance(haar, HaarDetector) and haar.faces(portrait)
    assert haar.faces(_turned(portrait, 30)) == []  # why it is not the default: a tilted head is lost
    with pytest.raises(FaceDetectorUnavailable, match="not a face detector: use one of mediapipe, haar"):
        detector("retinaface")
    monkeypatch.setenv("MMSA_FACE_DETECTOR", "HAAR")
    assert detector() is haar
    monkeypatch.setenv("MMSA_FACE_DETECTOR", "yolo")
    with pytest.raises(FaceDetectorUnavailable, match="MMSA_FACE_DETECTOR='yolo' is not a face detector"):
        detector()
    damaged = tmp_path / "face_landmarker.task"
    damaged.write_bytes(b"not a model")
    monkeypatch.setattr(face_detection, "MODEL_FILE", damaged)
    with pytest.raises(FaceDetectorUnavailable, match="missing or damaged: reinstall mmsa") as e:
        MediaPipeDetector()
    assert str(tmp_path) not in str(e.value)


@torch.no_grad()
def test_the_face_cnn_runs_a_folded_channels_last_copy_at_inference_and_the_model_still_saves_and_reloads(tmp_path):
    """Inference runs a copy of the face CNN with each batch norm folded into its convolution, laid out
    channels-last (faster on a CPU): the same features as the plain network, the model's own weights untouched (it
    saves and reloads), and the copy remade when a weight changes."""
    from mmsa.model import MultimodalSentimentModel

    torch.manual_seed(0)
    model = MultimodalSentimentModel.tiny(modalities=["video"], fusion="late", video_backbone="face_cnn",
                                          face_width=4).eval()
    encoder = model.encoder("video")
    for m in encoder.backbone.modules():  # batch norms that do something: folding them is then visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
    frames = torch.rand(3, 2, 1, encoder.size, encoder.size)
    crops = frames.flatten(0, 1)
    plain = ((encoder.backbone(crops) + encoder.backbone(crops.flip(-1))) / 2).view(3, 2, -1).mean(1)
    fast = encoder.embed(frames)
    assert torch.allclose(fast, plain, rtol=1e-4, atol=1e-4)  # folding and layout: rounding only
    folded = encoder._inference_backbone()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    conv = [m for m in folded.modules() if isinstance(m, torch.nn.Conv2d)][1]  # 4 -> 8 channels
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(t.is_contiguous() for t in model.state_dict().values())  # the model's own weights keep their layout
    assert not any("inference" in k for k in model.state_dict())
    model.save_pretrained(str(tmp_path))
    again = MultimodalSentimentModel.from_pretrained(str(tmp_path)).eval()
    assert torch.allclose(again.encoder("video").embed(frames), fast, rtol=1e-4, atol=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    first_conv = next(m for m in encoder.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.weight.mul_(2.0)  # a weight changes: inference follows it
    assert encoder._inference_backbone() is not folded
    changed = ((encoder.backbone(crops) + encoder.backbone(crops.flip(-1))) / 2).view(3, 2, -1).mean(1)
    assert torch.allclose(encoder.embed(frames), changed, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(changed, plain, rtol=1e-3, atol=1e-3)
