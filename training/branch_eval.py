"""Evaluate one branch (or the fused answer) of a model on labelled files: a CSV with path,emotion and optional
sentiment and text columns, whose paths are audio files, videos or still images (relative to the CSV).

The inputs are prepared as in use: speech trimmed by the recogniser's VAD, then the Whisper encoder's pooled
states (voice); the largest face of frames sampled across the clip, or of the image (face; a tight crop in which
no face is found is the face itself); the text column (text).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mmsa import features
from mmsa.labels import EMOTIONS, emotion_id, sentiment_id
from mmsa.faces import FRAME_SIDE as FACE_FRAME_SIDE
from mmsa.media import MediaError, decode_audio, iter_span_frames, probe

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
                    "text": (row.get("text") or "").strip()}
            if (row.get("sentiment") or "").strip():
                item["sentiment"] = sentiment_id(row["sentiment"])
        except ValueError as e:
            raise DataError(f"{path.name}, row {n}: {e}") from None
        out.append(item)
    return out


def voice_input(model, whisper, path: Path) -> np.ndarray | None:
    from .voice import trim_to_speech

    audio = decode_audio(path)
    return features.voice_features(whisper, trim_to_speech(audio)) if audio.size else None


def face_input(model, path: Path) -> np.ndarray | None:
    """(num_frames, size, size) crops, or None when no face is found in a video."""
    import cv2

    from mmsa.faces import image_face, utterance_faces

    cfg = model.config
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise MediaError(f"{path.name}: not a readable image")
        return np.repeat(image_face(image, cfg.face_size)[None], cfg.num_frames, axis=0)
    info = probe(path)
    if not info.has_video:
        return None
    frames = next((f for _, f in iter_span_frames(path, [(0.0, info.duration)], cfg.num_frames, FACE_FRAME_SIDE,
                                                  square=False)), None)
    return utterance_faces(frames, cfg.face_size)[0] if frames is not None else None


def evaluate_branch(model, csv_path: str, branch: str, encoding: str | None = None,
                    batch_size: int = 32) -> tuple[dict, dict, dict]:
    """(metrics, probabilities, truth) of one branch ("text", "voice", "face") or of the fused answer ("fused")."""
    from .metrics import all_metrics, task_metrics

    cfg = model.config
    wanted = list(BRANCHES.values()) if branch == "fused" else [BRANCHES[branch]]
    missing = [m for m in wanted if m not in cfg.modalities] if branch != "fused" else []
    if missing:
        raise ValueError(f"this model has no {branch} branch (its modalities: {', '.join(cfg.modalities)})")
    if "audio" in wanted and "audio" in cfg.modalities and cfg.audio_backbone != "whisper":
        raise ValueError("--branch voice reads Whisper states; this model's audio branch reads log-mel")
    if "video" in wanted and "video" in cfg.modalities and cfg.video_backbone != "face_cnn":
        raise ValueError("--branch face reads face crops; this model's video branch reads whole frames")
    rows = load_rows(csv_path, encoding)
    whisper = None
    if "audio" in wanted and "audio" in cfg.modalities:
        from mmsa.loading import whisper_source
        from mmsa.transcribe import load_asr

        whisper = load_asr(whisper_source(cfg.whisper_encoder))
    kept, skipped = [], []
    for row in rows:
        try:
            if "audio" in cfg.modalities and "audio" in wanted:
                row["voice"] = voice_input(model, whisper, row["path"])
            if "video" in cfg.modalities and "video" in wanted:
                row["face"] = face_input(model, row["path"])
        except (MediaError, OSError) as e:
            skipped.append(f"{row['path'].name}: {e}")
            continue
        have = {"text": bool(row["text"]) and "text" in cfg.modalities,
                "audio": row.get("voice") is not None, "video": row.get("face") is not None}
        if not any(have[m] for m in wanted):
            skipped.append(f"{row['path'].name}: no {branch} input (no speech, face or text)")
            continue
        row["have"] = have
        kept.append(row)
    if not kept:
        raise DataError(f"{Path(csv_path).name}: no row has {branch} input; e.g. {skipped[:2]}")
    probs_e, probs_s = [], []
    model.eval()
    for s in range(0, len(kept), batch_size):
        batch = kept[s:s + batch_size]
        inputs: dict = {"present": {}}
        if "text" in cfg.modalities:
            tok = features.tokenize(model.tokenizer, [r["text"] if "text" in wanted else "" for r in batch], cfg)
            inputs.update(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                          token_type_ids=tok.get("token_type_ids"))
            inputs["present"]["text"] = torch.tensor([r["have"]["text"] and "text" in wanted for r in batch])
        if "audio" in cfg.modalities:
            width = 2 * cfg.whisper_width
            inputs["audio"] = torch.from_numpy(np.stack([r.get("voice") if r["have"]["audio"] and "audio" in wanted
                                                         else np.zeros(width, np.float32) for r in batch]))
            inputs["present"]["audio"] = torch.tensor([r["have"]["audio"] and "audio" in wanted for r in batch])
        if "video" in cfg.modalities:
            empty = np.zeros((cfg.num_frames, cfg.face_size, cfg.face_size), np.uint8)
            inputs["video"] = torch.stack([features.face_tensor(r["face"] if r["have"]["video"] and "video" in wanted
                                                                else empty) for r in batch])
            inputs["present"]["video"] = torch.tensor([r["have"]["video"] and "video" in wanted for r in batch])
        with torch.inference_mode():
            out = model(**inputs)
            if branch == "fused":
                p = model.probabilities(out)
                probs_e.append(p["emotion"])
                probs_s.append(p["sentiment"])
            else:
                logits = out.modality_logits[BRANCHES[branch]]
                probs_e.append(torch.softmax(logits["emotion"].float(), -1))
                probs_s.append(torch.softmax(logits["sentiment"].float(), -1))
    probs = {"emotion": torch.cat(probs_e).numpy(), "sentiment": torch.cat(probs_s).numpy()}
    truth = {"emotion": np.array([r["emotion"] for r in kept])}
    if all("sentiment" in r for r in kept):
        truth["sentiment"] = np.array([r["sentiment"] for r in kept])
        metrics = all_metrics(truth, probs)
    else:  # emotion labels only (e.g. RAVDESS, FER2013): the same shape, without the sentiment block
        metrics = {"n": len(kept), "emotion": task_metrics(truth["emotion"], probs["emotion"].argmax(1), EMOTIONS)}
        probs = {"emotion": probs["emotion"]}
    metrics.update(branch=branch, skipped=len(skipped))
    return metrics, probs, truth
