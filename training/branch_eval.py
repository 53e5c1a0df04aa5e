"""Evaluate one branch (or the fused answer) of a model on labelled files: a CSV with path,emotion and optional
sentiment and text columns, whose paths are audio files, videos or still images (relative to the CSV). A `heard`
column (how clearly the recogniser heard the text, in [0, 1]; benchmarks.asr_gap writes it) lets the fused answer
count the words by it, as in use.

The inputs are prepared as in use, by the same processors (mmsa.processors): the whole file's speech for the
voice (standardised per speaker where the branch was trained so, a `speaker` column naming the groups; without it
each file stands alone, as a one-utterance video would); the face in frames sampled across the clip, or in the image (a tight crop in which no face is found is the
face itself); the text column for the words.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mmsa.labels import CLASS_OF_EMOTION, CLASS_SETS, EMOTIONS, PAIR_NAMES, emotion_id, sentiment_id
from mmsa.media import MediaError, decode_audio, iter_span_frames, probe
from mmsa.processors import batch_inputs, processors_for

from .data import DataError, read_csv

logger = logging.getLogger("mmsa.training")
BRANCHES = {"text": "text", "voice": "audio", "face": "video"}  # --branch name -> modality
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def load_rows(csv_path: str | Path, encoding: str | None = None) -> list[dict]:
    path = Path(csv_path)
    rows = read_csv(path, encoding)
    if not rows:
        raise DataError(f"{path.name}: has no data rows; expected path,emotion[,sentiment][,text]")
    if not {"path", "emotion"} <= set(rows[0]):
        raise DataError(f"{path.name}: expected columns path,emotion (optional sentiment,text), got {list(rows[0])}")
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            item = {"path": path.parent / row["path"].strip(), "emotion": emotion_id(row["emotion"]),
                    "text": (row.get("text") or "").strip(), "speaker": (row.get("speaker") or "").strip() or n}
            if (row.get("sentiment") or "").strip():
                item["sentiment"] = sentiment_id(row["sentiment"])
            if (row.get("heard") or "").strip():
                item["heard"] = float(row["heard"])
                if not 0.0 <= item["heard"] <= 1.0:
                    raise ValueError(f"heard must be in [0, 1], got {item['heard']}")
        except ValueError as e:
            raise DataError(f"{path.name}, row {n}: {e}") from None
        out.append(item)
    return out


def face_input(processor, path: Path) -> np.ndarray | None:
    """The face branch's item for a still image or a video (frames sampled across all of it), or None when no face
    is found in a video."""
    import cv2

    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise MediaError(f"{path.name}: not a readable image")
        return processor.read_image(image)
    info = probe(path)
    if not info.has_video:
        return None
    frames = next((f for _, f in iter_span_frames(path, [(0.0, info.duration)], processor.config.num_frames,
                                                  processor.side, square=processor.square)), None)
    return processor.read(frames)


def fold_pairs(pairs: np.ndarray, class_set: str) -> np.ndarray:
    """Pair probabilities (n, 8) summed into a class set's classes (n, classes)."""
    classes = list(CLASS_SETS[class_set].values())
    return np.stack([pairs[:, [PAIR_NAMES.index(p) for p in members]].sum(1) for members in classes], axis=1)


def evaluate_branch(model, csv_path: str, branch: str, encoding: str | None = None,
                    batch_size: int = 32, classes: str | None = None,
                    voice_items: dict | None = None) -> tuple[dict, dict, dict]:
    """(metrics, probabilities, truth) of one branch ("text", "voice", "face") or of the fused answer ("fused").

    classes: score in a class set (labels.CLASS_SETS) instead of the 7 emotions: the answer's pair probabilities
    summed per class, the true emotion mapped to its class. A branch that answers in a class set (the voice's
    "voice4") is scored in it by default. voice_items: a dict the caller keeps for one model, file path -> what its
    voice read from that file before standardisation, so that several readings of the same files (the voice alone,
    the fused answer, other speaker groups) decode and encode each file once."""
    from .metrics import all_metrics, task_metrics

    cfg = model.config
    if classes is None and branch != "fused":
        classes = cfg.branch_classes.get(BRANCHES[branch])
    if classes is not None and classes not in CLASS_SETS:
        raise ValueError(f"unknown class set {classes!r}; expected one of {', '.join(CLASS_SETS)}")
    wanted = list(BRANCHES.values()) if branch == "fused" else [BRANCHES[branch]]
    missing = [m for m in wanted if m not in cfg.modalities] if branch != "fused" else []
    if missing:
        raise ValueError(f"this model has no {branch} branch (its modalities: {', '.join(cfg.modalities)})")
    if "audio" in wanted and "audio" in cfg.modalities and cfg.audio_backbone != "whisper":
        raise ValueError("--branch voice reads Whisper states; this model's audio branch reads log-mel")
    if "video" in wanted and "video" in cfg.modalities and cfg.video_backbone != "face_cnn":
        raise ValueError("--branch face reads face crops; this model's video branch reads whole frames")
    rows = load_rows(csv_path, encoding)
    procs = processors_for(model)  # the voice branch loads its Whisper encoder on first use
    kept, skipped = [], []
    for row in rows:
        try:
            if "audio" in cfg.modalities and "audio" in wanted:
                key = str(row["path"])
                if voice_items is None or key not in voice_items:
                    audio = decode_audio(row["path"])
                    item = procs["audio"].read(audio if audio.size else None)
                    if voice_items is not None:
                        voice_items[key] = item
                row["audio"] = voice_items[key] if voice_items is not None else item
            if "video" in cfg.modalities and "video" in wanted:
                row["video"] = face_input(procs["video"], row["path"])
        except (MediaError, OSError) as e:
            skipped.append(f"{row['path'].name}: {e}")
            continue
        if "text" in cfg.modalities and "text" in wanted:
            row["text_item"] = procs["text"].read(row["text"], heard=row.get("heard"))
        if not any(row.get("text_item" if m == "text" else m) is not None for m in wanted):
            skipped.append(f"{row['path'].name}: no {branch} input (no speech, face or text)")
            continue
        kept.append(row)
    if not kept:
        raise DataError(f"{Path(csv_path).name}: no row has {branch} input; e.g. {skipped[:2]}")
    if "audio" in wanted and hasattr(procs.get("audio"), "normalise"):
        voices = procs["audio"].normalise([r.get("audio") for r in kept], [r["speaker"] for r in kept])
        for r, v in zip(kept, voices):
            r["audio"] = v
    probs_e, probs_s, probs_p = [], [], []
    model.eval()
    for s in range(0, len(kept), batch_size):
        batch = kept[s:s + batch_size]
        # a branch not evaluated is absent from every row, so it casts no vote
        items = {m: [r.get("text_item" if m == "text" else m) for r in batch] for m in procs if m in wanted}
        inputs = batch_inputs(procs, items)
        with torch.inference_mode():
            out = model(**inputs)
            if branch == "fused":
                p = model.probabilities(out)
                probs_e.append(p["emotion"])
                probs_s.append(p["sentiment"])
                probs_p.append(p["pairs"])
            else:
                logits = out.modality_logits[BRANCHES[branch]]
                probs_e.append(torch.softmax(logits["emotion"].float(), -1))
                probs_s.append(torch.softmax(logits["sentiment"].float(), -1))
                if classes is not None:
                    if "pairs" not in logits:
                        raise ValueError(f"the {branch} branch gives no pair probabilities to score in {classes}")
                    probs_p.append(torch.softmax(logits["pairs"].float(), -1))
    probs = {"emotion": torch.cat(probs_e).numpy(), "sentiment": torch.cat(probs_s).numpy()}
    truth = {"emotion": np.array([r["emotion"] for r in kept])}
    if classes is not None:
        names = tuple(CLASS_SETS[classes])
        probs = {"classes": fold_pairs(torch.cat(probs_p).numpy(), classes)}
        truth = {"classes": np.array([names.index(CLASS_OF_EMOTION[classes][EMOTIONS[e]]) for e in truth["emotion"]])}
        metrics = {"n": len(kept), "classes": classes,
                   "emotion": task_metrics(truth["classes"], probs["classes"].argmax(1), names)}
        metrics.update(branch=branch, skipped=len(skipped))
        return metrics, probs, truth
    if all("sentiment" in r for r in kept):
        truth["sentiment"] = np.array([r["sentiment"] for r in kept])
        metrics = all_metrics(truth, probs)
    else:  # emotion labels only (e.g. RAVDESS, FER2013): the same shape, without the sentiment block
        metrics = {"n": len(kept), "emotion": task_metrics(truth["emotion"], probs["emotion"].argmax(1), EMOTIONS)}
        probs = {"emotion": probs["emotion"]}
    metrics.update(branch=branch, skipped=len(skipped))
    return metrics, probs, truth
