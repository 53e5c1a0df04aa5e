"""Learn from a teacher's soft labels as well as from the gold ones (knowledge distillation).

A larger text model fine-tuned on the same data (training.teacher) knows more than a one-hot label says: that a
"really?" is a little surprised and a little angry. Its probabilities for each training text, in a soft-labels CSV,
give the student a second target:

    loss = (1 - w) x gold loss + w x T^2 x KL(teacher^(1/T) || student at temperature T)

on the final emotion and sentiment heads (the per-branch heads keep the gold labels). Texts are matched after the
student's own text style is applied, so a teacher that wrote its CSV ASR-style serves an ASR-style student; a
training text the CSV lacks learns from its gold label alone.

The CSV: a `text` column, then `emotion_<name>` for the 7 emotions and `sentiment_<name>` for the 3 sentiments
(mmsa.labels order or any order), each row a probability distribution.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from mmsa.features import normalize_text
from mmsa.labels import EMOTIONS, SENTIMENTS

from .data import DataError, read_csv

logger = logging.getLogger("mmsa.training")
SUM_TOLERANCE = 0.02  # rows written with 5 decimals sum to 1 within rounding


def soft_label_columns() -> list[str]:
    return ["text", *[f"emotion_{c}" for c in EMOTIONS], *[f"sentiment_{c}" for c in SENTIMENTS]]


def read_soft_labels(path: str | os.PathLike, style: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """text (in the student's style) -> (emotion probabilities (7,), sentiment probabilities (3,))."""
    rows = read_csv(path)
    name = os.path.basename(str(path))
    missing = [c for c in soft_label_columns() if rows and c not in rows[0]]
    if not rows or missing:
        raise DataError(f"{name}: not a soft-labels CSV (it needs the columns {', '.join(soft_label_columns())}"
                        + (f"; missing {', '.join(missing)}" if missing else "; it has no rows")
                        + "): write one with python -m training.teacher")
    table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, row in enumerate(rows, start=2):  # line numbers as a spreadsheet shows them
        try:
            e = np.array([float(row[f"emotion_{c}"]) for c in EMOTIONS], dtype=np.float32)
            s = np.array([float(row[f"sentiment_{c}"]) for c in SENTIMENTS], dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{name}, line {i}: a probability is not a number") from None
        for what, p in (("emotion", e), ("sentiment", s)):
            if not np.all(np.isfinite(p)) or (p < 0).any() or abs(float(p.sum()) - 1) > SUM_TOLERANCE:
                raise DataError(f"{name}, line {i}: the {what} probabilities must be >= 0 and sum to 1 "
                                f"(they sum to {float(p.sum()):.3f})")
        probs = (e / e.sum(), s / s.sum())
        # as written (training.teacher writes texts already in the student's style, and writing "asr" style twice
        # can change a text again: "ah, ....y'know" -> "ah,.y'know" -> "ah,y'know"), and in the student's style
        table.setdefault(row["text"], probs)
        table.setdefault(normalize_text(row["text"], style), probs)
    return table


def attach_soft_labels(feats, table: dict[str, tuple[np.ndarray, np.ndarray]], style: str, split: str) -> int:
    """Give each training example its teacher's probabilities where the table has its text; returns how many."""
    n = len(feats)
    soft_e, soft_s = torch.zeros(n, len(EMOTIONS)), torch.zeros(n, len(SENTIMENTS))
    has = torch.zeros(n, dtype=torch.bool)
    for j, text in enumerate(feats.texts):
        hit = table.get(normalize_text(text, style))
        if hit is not None:
            soft_e[j], soft_s[j], has[j] = torch.from_numpy(hit[0]), torch.from_numpy(hit[1]), True
    found = int(has.sum())
    if found == 0:
        raise DataError(f"the soft labels match none of the {n} {split} texts: write them from the same training "
                        "CSVs (python -m training.teacher --train ... --train-also ...)")
    if found < n:
        logger.warning("soft labels: %d of %d %s texts have none and learn from their gold label alone", n - found,
                       n, split)
    feats.soft_emotion, feats.soft_sentiment, feats.has_soft = soft_e, soft_s, has
    return found


def distillation_loss(out, batch: dict, temperature: float) -> torch.Tensor:
    """T^2 x KL(teacher || student softened by T), over the batch's examples that have soft labels."""
    has = batch["has_soft"]
    if not bool(has.any()):
        return out.emotion_logits.new_zeros(())
    total = out.emotion_logits.new_zeros(())
    for logits, target in ((out.emotion_logits, batch["soft_emotion"]), (out.sentiment_logits, batch["soft_sentiment"])):
        # the teacher's distribution softened by the same temperature: p^(1/T), renormalised
        teacher = torch.softmax(torch.log(target[has].clamp_min(1e-8)) / temperature, dim=-1)
        student = torch.log_softmax(logits[has] / temperature, dim=-1)
        total = total + torch.nn.functional.kl_div(student, teacher, reduction="batchmean") * temperature ** 2
    return total * has.float().mean()  # examples without soft labels count as zero, as in a per-example mean
