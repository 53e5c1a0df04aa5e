"""Shared pieces of the single-branch trainers (training.face, training.voice): the branch's model, a seeded
stratified split, the epoch loop on in-memory tensors, calibration and the branch's metrics.

Voice and face learn from their own labelled sets (RAVDESS, FER2013), not from co-labelled clips, so each is a
late-fusion model with one modality; scripts/build_starter.py joins them with the text branch (mmsa.fusion).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mmsa.config import preset_config
from mmsa.labels import class_names
from mmsa.model import MultimodalSentimentModel

from .calibration import expected_calibration_error, fit_temperature
from .loop import class_weights, seed_everything
from .metrics import softmax, task_metrics

logger = logging.getLogger("mmsa.training")


def branch_model(modality: str, seed: int = 0, **overrides) -> MultimodalSentimentModel:
    """A late-fusion model with one branch whose sentiment is derived from its emotion; its initial weights are
    drawn from seed alone. torch seeds each process at random, so a model built from the global generator started
    differently in every run (training.voice's leave-one-corpus-out EmoDB figure moved by up to 0.07 between two
    runs of one command); the caller's generator is left as it was."""
    config = preset_config("cpu", modalities=[modality], fusion="late", derived_sentiment=[modality],
                           preset="branch", **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MultimodalSentimentModel(config)


def branch_labels(model: MultimodalSentimentModel, modality: str) -> tuple[str, ...]:
    """The classes a branch answers in: the 7 emotions, or its class set's (labels.CLASS_SETS)."""
    return class_names(model.config.branch_classes.get(modality))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train, val = train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(val)


def branch_logits(model: MultimodalSentimentModel, modality: str, inputs: torch.Tensor, batch: int = 256) -> np.ndarray:
    """Uncalibrated logits of one branch in its own classes, (n, 7 emotions or its class set's size)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(inputs), batch):
            emb = model.encoder(modality)(inputs[s:s + batch])
            out.append(model.branch_heads[modality](emb)[0].float())
    return torch.cat(out).numpy()


def train_branch(model: MultimodalSentimentModel, modality: str, x_train: torch.Tensor, y_train: np.ndarray,
                 x_val: torch.Tensor | None, y_val: np.ndarray | None, epochs: int, lr: float, batch_size: int,
                 augment: Callable[[torch.Tensor], torch.Tensor], weighting: float = 0.5, label_smoothing: float = 0.1,
                 weight_decay: float = 5e-4, seed: int = 0, keep_best: bool = True) -> dict:
    """AdamW with one-cycle schedule; class weights = balanced ** weighting; keeps the epoch with the best
    validation accuracy (or, without keep_best, the last one). Returns the history.

    y_train is a class id per row, or a distribution over the classes per row (n, classes) to learn as soft
    targets (FER+'s annotator votes); the class weights then count each row's most voted class."""
    seed_everything(seed)
    soft = np.ndim(y_train) == 2
    hard = np.argmax(y_train, 1) if soft else y_train
    weights = class_weights(hard, len(branch_labels(model, modality))) ** weighting
    y_t = torch.as_tensor(y_train, dtype=torch.float32 if soft else torch.long)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(y_t) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    best, best_state, history = -1.0, None, []
    for epoch in range(1, epochs + 1):
        model.train()
        t, total = time.time(), 0.0
        order = torch.randperm(len(y_t), generator=g)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            logits = model.branch_heads[modality](model.encoder(modality)(augment(x_train[idx])))[0]
            loss = torch.nn.functional.cross_entropy(logits, y_t[idx], weight=weights, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = float((branch_logits(model, modality, x_val).argmax(1) == y_val).mean()) if x_val is not None \
            else float("nan")
        history.append({"epoch": epoch, "train_loss": total / len(y_t), "val_accuracy": acc,
                        "seconds": time.time() - t})
        logger.info("epoch %d: loss %.4f, val accuracy %.4f (%.0f s)", epoch, total / len(y_t), acc, time.time() - t)
        if x_val is not None and acc > best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    kept = len(history)  # without validation, or without keep_best, the last epoch's weights stay
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
        kept = int(np.nanargmax([h["val_accuracy"] for h in history])) + 1
    return {"history": history, "best_epoch": kept}


def calibrate_and_save(model: MultimodalSentimentModel, modality: str, x_val: torch.Tensor | None,
                       y_val: np.ndarray, out_dir: Path, report: dict, logits: np.ndarray | None = None) -> dict:
    """Fit the branch's temperature on its validation split (or on given held-out logits, e.g. out-of-fold ones),
    then write the model and metrics.json: accuracy, weighted and macro F1, per class, chance (the most frequent
    class's share), calibration."""
    logits = branch_logits(model, modality, x_val) if logits is None else logits
    t = fit_temperature(torch.tensor(logits), torch.tensor(y_val))
    model.config.branch_temperatures = {modality: {"emotion": t}}
    before, after = softmax(logits), softmax(logits, t)
    labels = branch_labels(model, modality)
    metrics = task_metrics(y_val, after.argmax(1), labels)
    metrics.update(n=int(len(y_val)), chance=float(np.bincount(y_val, minlength=len(labels)).max() / len(y_val)),
                   calibration={"temperature": t, "ece_before": expected_calibration_error(before, y_val),
                                "ece_after": expected_calibration_error(after, y_val)})
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=2))
    return metrics
