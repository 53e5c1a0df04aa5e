"""One training run, in named steps: data and features, model, schedule, epochs with early stopping and
checkpoints, calibration and report, save and push. training.train is its command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mmsa.labels import TASKS

from .calibration import expected_calibration_error, fit_temperature
from .data import Dataset, load_split
from .distill import attach_soft_labels, read_soft_labels
from .featurize import Featurizer, Features
from .loop import class_weights, loss_fn, make_loader, model_inputs, predict_logits, seed_everything
from .metrics import evaluate_logits, save_confusion_matrices

logger = logging.getLogger("mmsa.training")
REPORT_FILES = ("training_report.json", "metrics.json", "emotion_confusion.png", "sentiment_confusion.png")


@dataclass
class Splits:
    train: Dataset
    dev: Dataset | None
    train_features: Features
    dev_features: Features | None
    feature_seconds: float


def build_model(args: argparse.Namespace):
    """A fresh model from a preset and the flags, or the --init-from model."""
    from mmsa.loading import offline_text_backbone
    from mmsa.model import MultimodalSentimentModel, load_model

    if args.init_from:  # a starter name ("starter", "starter-text"), a model folder or a Hub id
        model, _ = load_model(args.init_from)
        if args.text_style:
            model.config.text_style = args.text_style
        return model
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    overrides = dict(modalities=modalities, text_trainable_layers=args.text_trainable_layers,
                     dialogue_context=args.dialogue_context, text_lora_rank=args.text_lora_rank)
    if args.text_style:
        overrides["text_style"] = args.text_style
    if args.per_modality_heads != "preset":
        overrides["per_modality_heads"] = args.per_modality_heads == "on"
    try:
        return MultimodalSentimentModel.from_preset(
            args.preset, text_backbone=offline_text_backbone(args.text_backbone), pretrained=True,
            video_pretrained=not args.no_video_pretrained, **overrides)
    except RuntimeError as e:  # torchvision weights that cannot be downloaded
        raise ValueError(f"{e}. Offline, train without the video branch (--modalities text,audio), or with a "
                         f"random video backbone (--no-video-pretrained)") from e


def prepare_data(args: argparse.Namespace, model) -> Splits:
    """Load both splits with the model's dialogue context and compute (or read cached) features."""
    context = model.config.dialogue_context
    train_ds = load_split(args.train, args.train_clips, args.text_only, context, args.encoding)
    for extra in getattr(args, "train_also", None) or []:  # each read with its own dialogues' context
        more = load_split(extra, None, True, context, args.encoding)
        train_ds = Dataset(f"{train_ds.name}+{more.name}", train_ds.examples + more.examples,
                           train_ds.skipped + more.skipped)
    dev_ds = load_split(args.dev, args.dev_clips, args.text_only, context, args.encoding) if args.dev else None
    featurizer = Featurizer(model, args.cache_dir)
    t = time.time()
    train_f = featurizer(train_ds, "train")
    dev_f = featurizer(dev_ds, "dev") if dev_ds is not None else None
    seconds = time.time() - t
    logger.info("features: %d train, %d dev in %.1fs (cache hits %d, misses %d)", len(train_f),
                len(dev_f) if dev_f else 0, seconds, featurizer.cache.hits, featurizer.cache.misses)
    if len(train_f) == 0:
        raise ValueError("no usable training examples (every clip was unreadable?)")
    if dev_f is not None and len(dev_f) == 0:
        raise ValueError("no usable dev examples (every clip was unreadable?)")
    if args.soft_labels:
        style = model.config.text_style
        found = attach_soft_labels(train_f, read_soft_labels(args.soft_labels, style), style, "train")
        logger.info("soft labels: %d of %d train texts (distillation weight %.2f, temperature %.1f)", found,
                    len(train_f), args.distill_weight, args.distill_temperature)
    return Splits(train_ds, dev_ds, train_f, dev_f, seconds)


def make_scheduler(optimizer, steps: int, warmup_ratio: float):
    """Linear warm-up over warmup_ratio of the steps, then cosine decay to zero."""
    warmup = int(warmup_ratio * steps)

    def factor(step: int) -> float:
        progress = min(1.0, max(0, step - warmup) / max(1, steps - warmup))
        return min(1.0, (step + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model, loader, optimizer, scheduler, accelerator, weights: dict, args, desc: str) -> float:
    """One pass over the training data; returns the mean loss per example."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, leave=False, mininterval=2.0, disable=not accelerator.is_local_main_process)
    for batch in bar:
        out = model(**model_inputs(batch))
        loss = loss_fn(out, batch, weights["emotion"], weights["sentiment"], args.label_smoothing, args.aux_weight,
                       args.distill_weight if args.soft_labels else 0.0, args.distill_temperature)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * len(batch["emotion"])
        count += len(batch["emotion"])
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    return total / max(count, 1)


def selection_score(metrics: dict, select: str) -> float:
    if select == "mean":
        return (metrics["emotion"]["weighted_f1"] + metrics["sentiment"]["weighted_f1"]) / 2
    return metrics[select]["weighted_f1"]


def calibrate_and_report(raw_model, pred: dict[str, np.ndarray], calibrate: bool, out_dir: Path,
                         is_main: bool) -> tuple[dict, dict]:
    """Fit a temperature per head on dev (stored in the model's config); (metrics, calibration report)."""
    _, probs_before = evaluate_logits(pred)
    temps = {"emotion": 1.0, "sentiment": 1.0}
    if calibrate:
        temps = {t: fit_temperature(torch.tensor(pred[f"{t}_logits"]), torch.tensor(pred[t])) for t in TASKS}
        raw_model.set_temperatures(temps["emotion"], temps["sentiment"])
    # the reported figures are what the app shows: a two-head model's heads joined over the allowed pairs
    metrics, probs = evaluate_logits(pred, temps, joint=raw_model.config.fusion != "late")
    calibration = {t: {"temperature": temps[t], "ece_before": expected_calibration_error(probs_before[t], pred[t]),
                       "ece_after": expected_calibration_error(probs[t], pred[t])} for t in TASKS}
    if is_main:
        save_confusion_matrices({t: pred[t] for t in TASKS}, probs, out_dir, title="(dev)")
    return metrics, calibration


def run_training(args: argparse.Namespace) -> Path:
    from accelerate import Accelerator

    seed_everything(args.seed)
    accelerator = Accelerator(cpu=args.cpu)
    out_dir, ckpt_dir = Path(args.output_dir), Path(args.checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    model = build_model(args)
    data = prepare_data(args, model)
    weights = {"emotion": None, "sentiment": None}
    if args.class_weighting != "none":
        power = 0.5 if args.class_weighting == "sqrt" else 1.0
        weights = {"emotion": class_weights(data.train_features.emotion.numpy(), 7, power).to(accelerator.device),
                   "sentiment": class_weights(data.train_features.sentiment.numpy(), 3, power).to(accelerator.device)}
    if args.exclaim_keep < 1 and model.config.text_style != "asr-exclaim":
        raise SystemExit(f"error: --exclaim-keep reads the '!' a model keeps: give --text-style asr-exclaim (this "
                         f"model reads {model.config.text_style} text)")
    keep = args.exclaim_keep if args.exclaim_keep < 1 else None
    if keep is not None and data.train_features.text_features is not None:
        raise SystemExit("error: --exclaim-keep needs a text encoder that trains (--text-lora-rank or "
                         "--text-trainable-layers): a frozen one's outputs are cached, and its '!' cannot be redrawn")
    train_loader = make_loader(data.train_features, model, args.batch_size, shuffle=True,
                               modality_dropout=args.modality_dropout, seed=args.seed, exclaim_keep=keep)
    # the dev subtitles read with "!" as often as the training ones, for early stopping and calibration alike
    dev_loader = make_loader(data.dev_features, model, max(args.batch_size, 64), shuffle=False, exclaim_keep=keep) \
        if data.dev_features is not None else None
    optimizer = torch.optim.AdamW(model.parameter_groups(args.lr, args.backbone_lr, args.weight_decay))
    steps = args.epochs * math.ceil(len(data.train_features) / args.batch_size / accelerator.num_processes)
    scheduler = make_scheduler(optimizer, steps, args.warmup_ratio)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if dev_loader is not None:
        dev_loader = accelerator.prepare(dev_loader)
    raw_model = accelerator.unwrap_model(model)

    # best_score None: no epoch scored yet, so the first one is always progress (scores may be -loss, far below 0)
    state = {"epoch": 0, "best_score": None, "best_epoch": 0, "bad_epochs": 0, "history": []}
    if args.resume:
        state = _load_checkpoint(ckpt_dir, raw_model, optimizer, scheduler, state)
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        t_epoch = time.time()
        loss = train_epoch(model, train_loader, optimizer, scheduler, accelerator, weights, args,
                           f"epoch {epoch}/{args.epochs}")
        record = {"epoch": epoch, "train_loss": loss, "epoch_seconds": time.time() - t_epoch}
        if dev_loader is not None:
            metrics, _ = evaluate_logits(predict_logits(model, dev_loader, accelerator))
            score = selection_score(metrics, args.select_metric)
            record.update(dev_emotion_wf1=metrics["emotion"]["weighted_f1"],
                          dev_sentiment_wf1=metrics["sentiment"]["weighted_f1"],
                          dev_emotion_macro_f1=metrics["emotion"]["macro_f1"], dev_score=score)
        else:
            score = -loss
        state["history"].append(record)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in record.items() if k != "epoch"))
        state["epoch"] = epoch
        # a tie keeps the later (longer-trained) weights but does not count as progress for early stopping
        if state["best_score"] is None or score >= state["best_score"]:
            improved = state["best_score"] is None or score > state["best_score"]
            state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
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

    report = _report(args, data, state)
    metrics = None
    if dev_loader is not None:
        metrics, report["calibration"] = calibrate_and_report(
            raw_model, predict_logits(model, dev_loader, accelerator), not args.no_calibrate, out_dir,
            accelerator.is_main_process)
        if keep is not None:  # how the dev text was read: training.evaluate(exclaim_keep=) gives these figures again
            metrics["exclaim_keep"] = keep
        report["dev_metrics"] = metrics
    report["seconds"] = time.time() - t_start
    if accelerator.is_main_process:
        save_outputs(raw_model, out_dir, metrics, report)
        if args.push_to_hub:
            from .push_to_hub import push_folder

            url = push_folder(out_dir, args.push_to_hub, private=args.private)
            logger.info("pushed to %s", url)
    return out_dir


def save_outputs(raw_model, out_dir: Path, metrics: dict | None, report: dict) -> None:
    """The model folder: weights, config, tokenizer, card, metrics, report (and a copy for SageMaker)."""
    from .card import write_card

    raw_model.save_pretrained(str(out_dir))
    if metrics is not None:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=2, default=str))
    write_card(raw_model, out_dir, metrics=metrics, report=report)
    logger.info("model written to %s", out_dir)
    target = os.environ.get("SM_OUTPUT_DATA_DIR")  # on SageMaker: the job's output.tar.gz, beside the model
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for name in REPORT_FILES:
            if (out_dir / name).is_file():
                shutil.copy(out_dir / name, Path(target) / name)


def portable_path(value) -> str:
    """A path as the report records it: relative to the working folder when inside it, else its name only
    (the report is published with the model; machine paths stay on the machine)."""
    p = Path(str(value))
    if not p.is_absolute():
        return str(value)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return p.name


PATH_ARGS = ("train", "dev", "train_clips", "dev_clips", "output_dir", "cache_dir", "checkpoint_dir", "init_from",
             "soft_labels")


def _report(args: argparse.Namespace, data: Splits, state: dict) -> dict:
    recorded = {k: (portable_path(v) if k in PATH_ARGS and v else v) for k, v in vars(args).items()}
    if recorded.get("train_also"):
        recorded["train_also"] = [portable_path(v) for v in recorded["train_also"]]

    def split(ds: Dataset | None, feats: Features | None) -> dict:
        skipped = [s.split(":", 1)[0] for s in ds.skipped] if ds else []  # clip ids; reasons are in the log
        return {"name": ds.name if ds else None, "n": len(feats) if feats else 0, "skipped": len(skipped),
                "skipped_clips": skipped}

    return {"args": recorded, "train": split(data.train, data.train_features),
            "dev": split(data.dev, data.dev_features), "feature_seconds": data.feature_seconds,
            "history": state["history"], "best_epoch": state["best_epoch"]}


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
