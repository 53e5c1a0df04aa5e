"""One training run: features, epochs with early stopping and checkpoints, calibration, evaluation, save, push."""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mmsa.labels import TASKS

from .calibration import expected_calibration_error, fit_temperature
from .data import attach_context
from .featurize import Featurizer
from .loop import loss_fn, make_loader, model_inputs, predict_logits, softmax
from .metrics import all_metrics, save_confusion_matrices
from .train import build_model, class_weights, load_split, param_groups, seed_everything

logger = logging.getLogger("mmsa.training")


def _score(metrics: dict, select: str) -> float:
    if select == "mean":
        return (metrics["emotion"]["weighted_f1"] + metrics["sentiment"]["weighted_f1"]) / 2
    return metrics[select]["weighted_f1"]


def evaluate_logits(pred: dict[str, np.ndarray], temps: dict[str, float] | None = None) -> tuple[dict, dict]:
    temps = temps or {"emotion": 1.0, "sentiment": 1.0}
    probs = {t: softmax(pred[f"{t}_logits"], temps[t]) for t in TASKS}
    truth = {t: pred[t] for t in TASKS}
    return all_metrics(truth, probs), probs


def run_training(args: argparse.Namespace) -> Path:
    from accelerate import Accelerator

    seed_everything(args.seed)
    accelerator = Accelerator(cpu=args.cpu)
    out_dir, ckpt_dir = Path(args.output_dir), Path(args.checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    train_ds = load_split(args.train, args.train_clips, args.text_only, args.dialogue_context)
    dev_ds = load_split(args.dev, args.dev_clips, args.text_only, args.dialogue_context) if args.dev else None
    model = build_model(args)
    if args.init_from:  # the loaded model's config rules; the data must follow its context setting
        for ds in (train_ds, dev_ds):
            if ds is not None:
                attach_context(ds, model.config.dialogue_context)
    featurizer = Featurizer(model, args.cache_dir)
    t = time.time()
    train_f = featurizer(train_ds, "train")
    dev_f = featurizer(dev_ds, "dev") if dev_ds is not None else None
    feature_seconds = time.time() - t
    logger.info("features: %d train, %d dev in %.1fs (cache hits %d, misses %d)", len(train_f),
                len(dev_f) if dev_f else 0, feature_seconds, featurizer.cache.hits, featurizer.cache.misses)
    if len(train_f) == 0:
        raise ValueError("no usable training examples (every clip was unreadable?)")

    weights = {"emotion": None, "sentiment": None}
    if args.class_weighting == "balanced":
        weights = {"emotion": class_weights(train_f.emotion.numpy(), 7),
                   "sentiment": class_weights(train_f.sentiment.numpy(), 3)}
    train_loader = make_loader(train_f, model, args.batch_size, shuffle=True,
                               modality_dropout=args.modality_dropout, seed=args.seed)
    dev_loader = make_loader(dev_f, model, max(args.batch_size, 64), shuffle=False) if dev_f else None
    optimizer = torch.optim.AdamW(param_groups(model, args.lr, args.backbone_lr, args.weight_decay))
    steps = args.epochs * math.ceil(len(train_f) / args.batch_size / accelerator.num_processes)
    warmup = int(args.warmup_ratio * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (
        1 + math.cos(math.pi * min(1.0, max(0, s - warmup) / max(1, steps - warmup)))))
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if dev_loader is not None:
        dev_loader = accelerator.prepare(dev_loader)
    raw_model = accelerator.unwrap_model(model)
    dev_w = {k: (v.to(accelerator.device) if v is not None else None) for k, v in weights.items()}

    state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": []}
    if args.resume:
        state = _load_checkpoint(ckpt_dir, raw_model, optimizer, scheduler, state)
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        model.train()
        t_epoch, total, count = time.time(), 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, mininterval=2.0,
                   disable=not accelerator.is_local_main_process)
        for batch in bar:
            out = model(**model_inputs(batch))
            loss = loss_fn(out, batch, dev_w["emotion"], dev_w["sentiment"], args.label_smoothing, args.aux_weight)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch["emotion"])
            count += len(batch["emotion"])
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        record = {"epoch": epoch, "train_loss": total / max(count, 1), "epoch_seconds": time.time() - t_epoch}
        if dev_loader is not None:
            metrics, _ = evaluate_logits(predict_logits(model, dev_loader, accelerator))
            score = _score(metrics, args.select_metric)
            record.update(dev_emotion_wf1=metrics["emotion"]["weighted_f1"],
                          dev_sentiment_wf1=metrics["sentiment"]["weighted_f1"],
                          dev_emotion_macro_f1=metrics["emotion"]["macro_f1"], dev_score=score)
        else:
            score = -record["train_loss"]
        state["history"].append(record)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in record.items() if k != "epoch"))
        state["epoch"] = epoch
        # a tie keeps the later (longer-trained) weights but does not count as progress for early stopping
        if score >= state["best_score"]:
            state["bad_epochs"] = 0 if score > state["best_score"] else state["bad_epochs"] + 1
            state.update(best_score=score, best_epoch=epoch)
            if accelerator.is_main_process:
                ckpt_dir.mkdir(parents=True, exist_ok=True)
                save_file({k: v.contiguous() for k, v in raw_model.state_dict().items()},
                          str(ckpt_dir / "best.safetensors"))
        else:
            state["bad_epochs"] += 1
        if accelerator.is_main_process:
            _save_checkpoint(ckpt_dir, raw_model, optimizer, scheduler, state)
        if state["bad_epochs"] >= args.patience:
            logger.info("early stop: no dev improvement for %d epochs (best epoch %d)", args.patience,
                        state["best_epoch"])
            break
    accelerator.wait_for_everyone()
    if (ckpt_dir / "best.safetensors").is_file():
        raw_model.load_state_dict(load_file(str(ckpt_dir / "best.safetensors")))

    report = {"args": dict(vars(args)),
              "train": {"name": train_ds.name, "n": len(train_f), "skipped": len(train_ds.skipped),
                        "skipped_clips": train_ds.skipped},
              "dev": {"name": dev_ds.name if dev_ds else None, "n": len(dev_f) if dev_f else 0,
                      "skipped": len(dev_ds.skipped) if dev_ds else 0,
                      "skipped_clips": dev_ds.skipped if dev_ds else []},
              "feature_seconds": feature_seconds, "history": state["history"], "best_epoch": state["best_epoch"]}
    metrics = None
    if dev_loader is not None:
        pred = predict_logits(model, dev_loader, accelerator)
        before, probs_before = evaluate_logits(pred)
        temps = {"emotion": 1.0, "sentiment": 1.0}
        if not args.no_calibrate:
            temps = {t: fit_temperature(torch.tensor(pred[f"{t}_logits"]), torch.tensor(pred[t])) for t in TASKS}
            raw_model.set_temperatures(temps["emotion"], temps["sentiment"])
        metrics, probs = evaluate_logits(pred, temps)
        report["calibration"] = {t: {"temperature": temps[t],
                                     "ece_before": expected_calibration_error(probs_before[t], pred[t]),
                                     "ece_after": expected_calibration_error(probs[t], pred[t])} for t in TASKS}
        report["dev_metrics"] = metrics
        if accelerator.is_main_process:
            save_confusion_matrices({t: pred[t] for t in TASKS}, probs, out_dir, title="(dev)")
    report["seconds"] = time.time() - t_start
    if accelerator.is_main_process:
        from .card import write_card

        raw_model.save_pretrained(str(out_dir))
        if metrics is not None:
            (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (out_dir / "training_report.json").write_text(json.dumps(report, indent=2, default=str))
        write_card(raw_model, out_dir, metrics=metrics, report=report)
        logger.info("model written to %s", out_dir)
        _copy_reports(out_dir)
        if args.push_to_hub:
            from .push import push_folder

            url = push_folder(out_dir, args.push_to_hub, private=args.private)
            logger.info("pushed to %s", url)
    return out_dir


def _copy_reports(out_dir: Path) -> None:
    """On SageMaker, reports also go to SM_OUTPUT_DATA_DIR (the job's output.tar.gz), beside the model."""
    import os
    import shutil

    target = os.environ.get("SM_OUTPUT_DATA_DIR")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for name in ("training_report.json", "metrics.json", "emotion_confusion.png", "sentiment_confusion.png"):
        if (out_dir / name).is_file():
            shutil.copy(out_dir / name, Path(target) / name)


def _save_checkpoint(ckpt_dir: Path, model, optimizer, scheduler, state: dict) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt_dir / "last.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               ckpt_dir / "optimizer.pt")
    (ckpt_dir / "state.json").write_text(json.dumps(state, indent=2))


def _load_checkpoint(ckpt_dir: Path, model, optimizer, scheduler, default: dict) -> dict:
    if not (ckpt_dir / "state.json").is_file():
        logger.warning("--resume: no checkpoint in %s; starting from scratch", ckpt_dir)
        return default
    model.load_state_dict(load_file(str(ckpt_dir / "last.safetensors")))
    opt = torch.load(ckpt_dir / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    state = json.loads((ckpt_dir / "state.json").read_text())
    logger.info("resumed after epoch %d (best epoch %d)", state["epoch"], state["best_epoch"])
    return state
