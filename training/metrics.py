"""Classification metrics (scikit-learn) and confusion-matrix images for both heads."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mmsa.labels import EMOTIONS, SENTIMENTS, SENTIMENTS_OF, TASKS


def task_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # undefined (one class only): NaN, made 0 below
        kappa = float(cohen_kappa_score(y_true, y_pred, labels=ids))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # agreement beyond chance given both the true and the predicted label frequencies: 0 for a reader that
        # always gives one answer, whatever the class balance (mmsa.fusion.reliability_weight); NaN -> 0 when
        # truth and answers are one class only
        "kappa": kappa if np.isfinite(kappa) else 0.0,
        "weighted_f1": float(f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_class": {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, name in enumerate(labels)},
    }


def shown_labels(probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The label ids a person is shown: the most probable emotion, then the most probable sentiment that emotion
    can go with (results.Prediction), so every scored prediction is a pair MELD allows."""
    emotion = probs["emotion"].argmax(1)
    allowed = np.array([[s in SENTIMENTS_OF[e] for s in SENTIMENTS] for e in EMOTIONS])  # (7, 3)
    sentiment = np.where(allowed[emotion], probs["sentiment"], -1.0).argmax(1)
    return {"emotion": emotion, "sentiment": sentiment}


def all_metrics(truth: dict[str, np.ndarray], probs: dict[str, np.ndarray]) -> dict[str, Any]:
    """{"n", "emotion": {...}, "sentiment": {...}} from true ids and predicted probabilities per task, scoring the
    labels shown (shown_labels)."""
    out: dict[str, Any] = {"n": int(len(truth["emotion"]))}
    shown = shown_labels(probs)
    for task, labels in TASKS.items():
        out[task] = task_metrics(truth[task], shown[task], labels)
    return out


def joint_probabilities(emotion_logits: np.ndarray, sentiment_logits: np.ndarray,
                        temps: dict[str, float]) -> dict[str, np.ndarray]:
    """Emotion and sentiment probabilities as a model with two heads shows them: the marginals of the heads'
    product over the allowed pairs (mmsa.fusion.pairs_from_heads), after calibration."""
    import torch

    from mmsa.fusion import marginals, pairs_from_heads

    log_e = torch.log_softmax(torch.as_tensor(emotion_logits).float() / temps["emotion"], -1)
    log_s = torch.log_softmax(torch.as_tensor(sentiment_logits).float() / temps["sentiment"], -1)
    e, s = marginals(pairs_from_heads(log_e, log_s))
    return {"emotion": e.exp().numpy(), "sentiment": s.exp().numpy()}


def softmax(x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = x / temperature
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def evaluate_logits(pred: dict[str, np.ndarray], temps: dict[str, float] | None = None,
                    joint: bool = False) -> tuple[dict, dict]:
    """(metrics, probabilities) of predict_logits' output, with optional calibration temperatures per task.

    joint: score the probabilities the app shows for a two-head model (joint_probabilities) rather than each head
    on its own; a late-fusion model's outputs are such marginals already (leave joint off)."""
    if len(pred["emotion"]) == 0:
        raise ValueError("nothing to evaluate: the data has no usable examples")
    temps = temps or {"emotion": 1.0, "sentiment": 1.0}
    if joint:
        probs = joint_probabilities(pred["emotion_logits"], pred["sentiment_logits"], temps)
    else:
        probs = {t: softmax(pred[f"{t}_logits"], temps[t]) for t in TASKS}
    return all_metrics({t: pred[t] for t in TASKS}, probs), probs


def save_confusion_matrices(truth: dict[str, np.ndarray], probs: dict[str, np.ndarray], out_dir: Path,
                            title: str = "") -> list[Path]:
    """emotion_confusion.png and sentiment_confusion.png, rows normalised to recall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, labels in TASKS.items():
        if task not in truth:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 5.5) if len(labels) > 3 else (4.5, 3.8), constrained_layout=True)
        shown = shown_labels(probs)[task] if "sentiment" in probs else probs[task].argmax(1)
        ConfusionMatrixDisplay.from_predictions(truth[task], shown, labels=list(range(len(labels))),
                                                display_labels=list(labels), normalize="true", values_format=".2f",
                                                cmap="Blues", ax=ax, colorbar=False)
        ax.set_title(f"{task} {title}".strip())
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
        path = out_dir / f"{task}_confusion.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def markdown_table(metrics: dict[str, Any]) -> str:
    rows = ["| task | accuracy | weighted F1 | macro F1 |", "|---|---:|---:|---:|"]
    for task in (t for t in TASKS if t in metrics):
        m = metrics[task]
        rows.append(f"| {task} | {m['accuracy']:.3f} | {m['weighted_f1']:.3f} | {m['macro_f1']:.3f} |")
    return "\n".join(rows)
