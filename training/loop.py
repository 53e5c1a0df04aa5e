"""Batches, loss, class weights, seeding, prediction: the pieces run.py strings together."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmsa.features import drop_exclamations
from mmsa.model import MultimodalSentimentModel
from mmsa.processors import batch_inputs, processors_for

from .distill import distillation_loss
from .featurize import Features


class Collator:
    """Indices -> a model batch, through the branches' processors (mmsa.processors) as at inference; a frozen
    backbone's cached outputs stand in for its inputs."""

    def __init__(self, feats: Features, model: MultimodalSentimentModel, modality_dropout: float = 0.0,
                 exclaim_keep: float | None = None, seed: int = 0, fixed: bool = False):
        self.f, self.model, self.cfg = feats, model, model.config
        self.procs = processors_for(model)
        self.modality_dropout = modality_dropout
        # each "!" kept with this chance (features.drop_exclamations): in training drawn anew each epoch; in
        # evaluation (fixed) the same draw for a row every time, so that epochs are compared on one text
        self.exclaim_keep, self.rng, self.fixed = exclaim_keep, random.Random(seed), fixed

    def __call__(self, idx: list[int]) -> dict:
        f = self.f
        i = torch.tensor(idx, dtype=torch.long)
        items: dict[str, list] = {m: [rows[j] for j in idx] for m, rows in f.items.items()}
        if "text" in self.procs and f.text_features is None:
            texts = [f.texts[j] for j in idx]
            if self.exclaim_keep is not None:
                texts = [drop_exclamations(t, self.exclaim_keep, random.Random(j) if self.fixed else self.rng)
                         if t else t for t, j in zip(texts, idx)]
            items["text"] = [self.procs["text"].read(t, f.contexts[j]) for t, j in zip(texts, idx)]
        batch = batch_inputs({m: p for m, p in self.procs.items() if m in items}, items)
        if f.text_features is not None:
            batch["text_features"] = f.text_features[i]
        if f.video_features is not None:
            batch["video_features"] = f.video_features[i]
        batch["present"] = {m: f.present[m][i].clone() for m in f.present}
        if self.modality_dropout > 0:
            # hide a modality now and then so the learned placeholder stands for "missing", as at inference
            for m, mask in batch["present"].items():
                drop = torch.rand(len(idx)) < self.modality_dropout
                batch["present"][m] = mask & ~drop
        batch["emotion"], batch["sentiment"] = f.emotion[i], f.sentiment[i]
        if f.has_soft is not None:
            batch.update(soft_emotion=f.soft_emotion[i], soft_sentiment=f.soft_sentiment[i], has_soft=f.has_soft[i])
        return batch


def make_loader(feats: Features, model, batch_size: int, shuffle: bool, modality_dropout: float = 0.0,
                seed: int = 0, exclaim_keep: float | None = None) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(list(range(len(feats))), batch_size=batch_size, shuffle=shuffle, generator=g,
                      collate_fn=Collator(feats, model, modality_dropout, exclaim_keep, seed, fixed=not shuffle),
                      drop_last=False)


TARGETS = ("emotion", "sentiment", "soft_emotion", "soft_sentiment", "has_soft")


def model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k not in TARGETS}


def loss_fn(out, batch: dict, emotion_weight: torch.Tensor | None, sentiment_weight: torch.Tensor | None,
            label_smoothing: float, aux_weight: float, distill_weight: float = 0.0,
            distill_temperature: float = 1.0) -> torch.Tensor:
    ce = torch.nn.functional.cross_entropy
    e, s = batch["emotion"], batch["sentiment"]
    loss = ce(out.emotion_logits, e, weight=emotion_weight, label_smoothing=label_smoothing) + \
        ce(out.sentiment_logits, s, weight=sentiment_weight, label_smoothing=label_smoothing)
    if distill_weight > 0 and "has_soft" in batch:
        loss = (1 - distill_weight) * loss + distill_weight * distillation_loss(out, batch, distill_temperature)
    # each branch's own heads learn from the samples that have that branch ("which modality said what")
    for m, heads in out.modality_logits.items():
        mask = out.present[m]
        if aux_weight > 0 and bool(mask.any()):
            loss = loss + aux_weight * (
                ce(heads["emotion"][mask], e[mask], weight=emotion_weight, label_smoothing=label_smoothing)
                + ce(heads["sentiment"][mask], s[mask], weight=sentiment_weight, label_smoothing=label_smoothing))
    return loss


@torch.no_grad()
def predict_logits(model, loader, accelerator=None) -> dict[str, np.ndarray]:
    """Fused logits and true labels over a loader, in order."""
    model.eval()
    logits_e, logits_s, ye, ys = [], [], [], []
    for batch in loader:
        if accelerator is not None:
            batch = _to_device(batch, accelerator.device)
        out = model(**model_inputs(batch))
        if accelerator is not None:
            out_e, out_s, be, bs = accelerator.gather_for_metrics(
                (out.emotion_logits, out.sentiment_logits, batch["emotion"], batch["sentiment"]))
        else:
            out_e, out_s, be, bs = out.emotion_logits, out.sentiment_logits, batch["emotion"], batch["sentiment"]
        logits_e.append(out_e.float().cpu())
        logits_s.append(out_s.float().cpu())
        ye.append(be.cpu())
        ys.append(bs.cpu())
    if not ye:  # an empty split: evaluate_logits names the problem
        return {"emotion_logits": np.zeros((0, 7), np.float32), "sentiment_logits": np.zeros((0, 3), np.float32),
                "emotion": np.zeros(0, np.int64), "sentiment": np.zeros(0, np.int64)}
    return {"emotion_logits": torch.cat(logits_e).numpy(), "sentiment_logits": torch.cat(logits_s).numpy(),
            "emotion": torch.cat(ye).numpy(), "sentiment": torch.cat(ys).numpy()}


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def class_weights(labels: np.ndarray, n: int, power: float = 1.0) -> torch.Tensor:
    """Balanced weights (n_samples / (n_classes * count)) ** power per class; a class absent from labels weighs 1.
    power 0.5 softens them: rare classes gain recall without giving up as much weighted F1."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    w = np.ones(n, dtype=np.float32)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return torch.tensor(w ** power, dtype=torch.float32)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
