"""FER+ labels for the face branch: the majority rule and vote shares by hand, rows joined by image name, only
training rows read, FER2013's own labels found by pixels, and the face trainer's split on FER+ majority labels."""

from pathlib import Path

import numpy as np
import pytest

from mmsa.labels import emotion_id
from training.data import DataError
from training.ferplus import load_ferplus, majority_labels, match_fer2013, read_votes, soft_targets

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def test_majority_drops_single_votes_and_needs_more_than_half():
    votes = np.array([
        [4, 0, 0, 1, 3, 2, 0, 0, 0, 0],  # single sadness vote dropped: 4 of 9 left is not more than half
        [6, 0, 1, 1, 0, 0, 0, 0, 2, 0],  # 6 of 8 left: neutral
        [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],  # contempt wins: not one of MELD's seven
        [0, 1, 1, 1, 0, 0, 0, 0, 0, 7],  # not a face
        [0, 3, 0, 0, 0, 0, 0, 0, 2, 0],  # 3 of 5: joy
        [0, 0, 5, 0, 0, 0, 5, 0, 0, 0],  # a tie holds no majority
    ])
    assert majority_labels(votes).tolist() == [-1, emotion_id("neutral"), -1, -1, emotion_id("joy"), -1]


def test_soft_targets_are_the_seven_emotions_share_of_votes_left():
    votes = np.array([[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 7, 3, 0]])
    soft = soft_targets(votes)
    want = np.zeros(7)
    want[[emotion_id("neutral"), emotion_id("anger"), emotion_id("disgust")]] = [4 / 9, 3 / 9, 2 / 9]
    assert soft[0] == pytest.approx(want)
    assert soft[1].tolist() == [0.0] * 7  # nothing MELD names: no target


@pytest.fixture
def ferplus_dir(tmp_path):
    import cv2

    images = tmp_path / "data" / "FER2013Train"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    faces = {}
    for i in (0, 1, 3, 4):
        faces[f"fer{i:07d}.png"] = rng.integers(0, 256, (48, 48), dtype=np.uint8)
        cv2.imwrite(str(images / f"fer{i:07d}.png"), faces[f"fer{i:07d}.png"])
    (tmp_path / "data" / "fer2013new.csv").write_text(
        HEADER
        + "Training,fer0000000.png,8,0,0,0,2,0,0,0,0,0\n"
        + "Training,,0,0,0,0,0,0,0,0,0,10\n"  # not a face: no name, so names and row numbers part here
        + "Training,fer0000001.png,0,9,0,0,0,0,0,0,1,0\n"
        + "Training,fer0000003.png,0,0,8,0,0,0,0,0,0,2\n"
        + "Training,fer0000003.png,0,0,0,8,0,0,0,0,0,2\n"  # a repeated name: neither row is trusted
        + "Training,fer0000009.png,0,0,0,8,0,0,0,0,0,2\n"  # no image file
        + "Evaluation,fer0000004.png,10,0,0,0,0,0,0,0,0,0\n")  # any usage but Training: never read
    return tmp_path / "data", faces


def test_rows_join_images_by_name_and_only_training_rows_are_read(ferplus_dir):
    folder, faces = ferplus_dir
    names, votes = read_votes(folder)
    assert names == ["fer0000000.png", "fer0000001.png"]
    assert votes[1].tolist() == [0, 9, 0, 0, 0, 0, 0, 0, 1, 0]
    names, images, votes = load_ferplus(folder)
    assert images.shape == (2, 48, 48) and (images[1] == faces["fer0000001.png"]).all()


def test_missing_files_say_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="expected fer2013new.csv and a FER2013Train image folder"):
        read_votes(tmp_path)
    (tmp_path / "FER2013Train").mkdir()
    (tmp_path / "fer2013new.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="not FER\\+'s label file"):
        read_votes(tmp_path)


def test_fer2013_labels_are_found_by_pixels_despite_jpeg():
    import cv2

    rng = np.random.default_rng(1)
    ours = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    ours = np.stack([cv2.GaussianBlur(i, (5, 5), 0) for i in ours])  # face-like smoothness, as JPEG keeps
    order = [3, 0, 4, 1]  # FER2013's folder: four of them, in another order, JPEG-compressed, plus a stranger
    jpeg = [cv2.imdecode(cv2.imencode(".jpg", ours[i], [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_GRAYSCALE)
            for i in order]
    theirs = np.stack(jpeg + [rng.integers(0, 256, (48, 48), dtype=np.uint8)])
    labels = np.array([emotion_id(e) for e in ("fear", "anger", "joy", "sadness", "surprise")])
    got = match_fer2013(ours, theirs, labels)
    assert got.tolist() == [labels[1], labels[3], -1, labels[0], labels[2]]  # image 2 is not in their folder


def test_face_training_validates_on_ferplus_majority_whatever_it_learns(ferplus_dir, tmp_path, monkeypatch):
    import cv2

    from training import face

    folder, _ = ferplus_dir
    images = folder / "FER2013Train"
    rng = np.random.default_rng(2)
    csv = [HEADER.strip()]
    for i in range(60):  # 60 more labelled faces: joy and sadness, 20 split-worthy of each plus noise
        name = f"fer{100 + i:07d}.png"
        cv2.imwrite(str(images / name), rng.integers(0, 256, (48, 48), dtype=np.uint8))
        votes = [0, 8, 0, 2, 0, 0, 0, 0, 0, 0] if i % 2 else [0, 2, 0, 8, 0, 0, 0, 0, 0, 0]
        csv.append("Training," + name + "," + ",".join(map(str, votes)))
    (folder / "fer2013new.csv").write_text("\n".join(csv) + "\n")
    x, targets, train_idx, val_idx, val_labels = face.ferplus_training_set(str(folder), "soft", None, 0.2, 0)
    assert len(val_idx) == 12 and not set(train_idx) & set(val_idx)
    assert sorted(np.bincount(val_labels).tolist())[-2:] == [6, 6]  # stratified
    assert targets.shape == (len(x), 7) and targets[train_idx].sum(1) == pytest.approx(1.0)
    _, majority, *_ = face.ferplus_training_set(str(folder), "majority", None, 0.2, 0)
    assert set(majority.tolist()) == {emotion_id("joy"), emotion_id("sadness")}
    with pytest.raises(DataError, match="--labels fer2013 needs --fer"):
        face.ferplus_training_set(str(folder), "fer2013", None, 0.2, 0)
    out = tmp_path / "run"
    assert face.main(["--ferplus", str(folder), "--output-dir", str(out), "--epochs", "1", "--width", "4",
                      "--batch-size", "16", "--val-fraction", "0.2"]) == 0
    import json

    report = json.loads((out / "training_report.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert report["data"] == "FER+ soft labels on FER2013 train" and "research use only" in report["licence"]
    assert metrics["n"] == 12 and 0.0 <= metrics["accuracy"] <= 1.0


def test_face_sets_list_ck_without_contempt_and_a_seeded_fer_sample(tmp_path):
    import csv

    from training.face_sets import main

    ck = tmp_path / "CK+48"
    for emotion, count in (("happy", 2), ("contempt", 3), ("sadness", 1)):
        (ck / emotion).mkdir(parents=True)
        for i in range(count):
            (ck / emotion / f"S0{i}_001_0000000{i}.png").write_bytes(b"png")
    assert main(["ck", str(ck)]) == 0
    rows = list(csv.DictReader(open(ck / "labels.csv")))
    assert sorted((r["path"], r["emotion"]) for r in rows) == [
        ("happy/S00_001_00000000.png", "joy"), ("happy/S01_001_00000001.png", "joy"),
        ("sadness/S00_001_00000000.png", "sadness")]
    fer = tmp_path / "dataset" / "train"
    for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
        (fer / name).mkdir(parents=True)
        for i in range(3):
            (fer / name / f"Training_{i}.jpg").write_bytes(b"jpg")
    out = tmp_path / "fam.csv"
    assert main(["fer", str(tmp_path), "-o", str(out), "--n", "5"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 5 and all(Path(r["path"]).is_file() for r in rows)  # absolute: the CSV is elsewhere
    assert main(["ck", str(tmp_path / "missing")]) == 1
