"""Train an mmsa model on MELD or your own labelled clips.

    python -m training.train --train ../shared/data/meld/train_sent_emo.csv --dev ../shared/data/meld/dev_sent_emo.csv \\
        --modalities text --epochs 8 --output-dir runs/text

The same command runs on a CPU, one GPU or several (`accelerate launch -m training.train ...`), and as the entry
point of a SageMaker job (SM_CHANNEL_TRAIN / SM_CHANNEL_DEV / SM_MODEL_DIR are honoured).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("mmsa.training")

CHECKPOINT_DIR = "checkpoints"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--train", help="train CSV (MELD or path,text,emotion,sentiment), or a folder holding one "
                                   "(default: $SM_CHANNEL_TRAIN)")
    d.add_argument("--dev", help="dev CSV or folder, for early stopping and calibration (default: $SM_CHANNEL_DEV)")
    d.add_argument("--train-clips", help="clips folder for --train (MELD: train_splits)")
    d.add_argument("--dev-clips", help="clips folder for --dev (MELD: dev_splits_complete)")
    d.add_argument("--text-only", action="store_true", help="ignore clips: train on the transcripts alone")
    m = p.add_argument_group("model")
    m.add_argument("--preset", choices=["cpu", "seed"], default="cpu")
    m.add_argument("--init-from", help="start from this mmsa model (Hub id or folder) instead of a preset")
    m.add_argument("--modalities", default="text,video,audio", help="comma-separated subset of text,video,audio")
    m.add_argument("--text-backbone", help="Hub id or folder (default: the preset's; offline: packaged MiniLM)")
    m.add_argument("--text-trainable-layers", type=int, default=0, help="0 frozen, N top layers, -1 all")
    m.add_argument("--text-lora-rank", type=int, default=0, help="low-rank adapters in the text encoder (0 = none)")
    m.add_argument("--dialogue-context", type=int, default=0, help="previous utterances given as context")
    m.add_argument("--no-video-pretrained", action="store_true", help="random video backbone (no download)")
    m.add_argument("--per-modality-heads", choices=["on", "off", "preset"], default="preset")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=10)
    o.add_argument("--batch-size", type=int, default=32)
    o.add_argument("--lr", type=float, default=1e-3, help="learning rate of projections, fusion and heads")
    o.add_argument("--backbone-lr", type=float, default=3e-5, help="learning rate of fine-tuned backbone layers")
    o.add_argument("--weight-decay", type=float, default=0.01)
    o.add_argument("--warmup-ratio", type=float, default=0.06)
    o.add_argument("--class-weighting", choices=["none", "balanced"], default="none")
    o.add_argument("--label-smoothing", type=float, default=0.0)
    o.add_argument("--modality-dropout", type=float, default=0.1, help="chance to hide each modality per sample")
    o.add_argument("--aux-weight", type=float, default=0.3, help="loss weight of the per-modality heads")
    o.add_argument("--patience", type=int, default=3, help="epochs without dev improvement before stopping")
    o.add_argument("--select-metric", choices=["emotion", "sentiment", "mean"], default="mean",
                   help="dev weighted F1 used for early stopping")
    o.add_argument("--seed", type=int, default=42)
    r = p.add_argument_group("run")
    r.add_argument("--output-dir", help="model folder to write (default: $SM_MODEL_DIR, else runs/<time>)")
    r.add_argument("--cache-dir", help="feature cache (default: $MMSA_CACHE or ~/.cache/mmsa/features)")
    r.add_argument("--checkpoint-dir", help="where resumable checkpoints go (default: $SM_CHECKPOINT_DIR, "
                                            "/opt/ml/checkpoints on SageMaker, else OUTPUT/checkpoints)")
    r.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    r.add_argument("--no-calibrate", action="store_true", help="skip temperature scaling on dev")
    r.add_argument("--push-to-hub", metavar="REPO_ID", help="push the model and card (token from $HF_TOKEN)")
    r.add_argument("--private", action="store_true", help="create the Hub repo private")
    r.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    return p


def _positive(args: argparse.Namespace) -> None:
    if args.text_lora_rank < 0 or args.dialogue_context < 0:
        raise SystemExit("error: --text-lora-rank and --dialogue-context must be >= 0")
    for name in ("epochs", "batch_size", "patience"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    for name in ("lr", "backbone_lr"):
        if not getattr(args, name) > 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be > 0")
    if not 0 <= args.label_smoothing < 1 or not 0 <= args.modality_dropout < 1:
        raise SystemExit("error: --label-smoothing and --modality-dropout must be in [0, 1)")


def resolve_paths(args: argparse.Namespace) -> None:
    """Fill data and output locations from SageMaker's environment where flags are absent."""
    args.train = args.train or os.environ.get("SM_CHANNEL_TRAIN")
    args.dev = args.dev or os.environ.get("SM_CHANNEL_DEV")
    if not args.train:
        raise SystemExit("error: --train is required (a CSV, or a folder holding one)")
    args.output_dir = args.output_dir or os.environ.get("SM_MODEL_DIR") or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    if not args.checkpoint_dir:
        sm = os.environ.get("SM_CHECKPOINT_DIR") or ("/opt/ml/checkpoints" if os.environ.get("SM_MODEL_DIR") else None)
        args.checkpoint_dir = sm or str(Path(args.output_dir) / CHECKPOINT_DIR)
    args.cache_dir = args.cache_dir or os.environ.get("MMSA_CACHE") or str(Path.home() / ".cache/mmsa/features")


def find_csv(location: str) -> tuple[Path, Path | None]:
    """A CSV path, or a folder (e.g. a SageMaker channel) with one CSV and maybe MELD's clips folder."""
    from .data import MELD_CLIP_DIRS, DataError

    p = Path(location)
    if p.is_file():
        return p, None
    if p.is_dir():
        csvs = sorted(p.glob("*.csv"))
        if len(csvs) != 1:
            raise DataError(f"{p}: expected exactly one CSV in the folder, found {[c.name for c in csvs]}")
        clips = next((p / d for d in [*MELD_CLIP_DIRS.values(), "clips"] if (p / d).is_dir()), None)
        return csvs[0], clips
    raise DataError(f"{p}: no such file or folder")


def load_split(location: str, clips: str | None, text_only: bool, context: int):
    from .data import attach_context, load_dataset

    csv_path, found = find_csv(location)
    ds = load_dataset(csv_path, clips or found, text_only=text_only)
    attach_context(ds, context)
    return ds


def build_model(args: argparse.Namespace):
    from mmsa.model import MultimodalSentimentModel
    from mmsa.packaged import minilm_dir

    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if args.init_from:
        model = MultimodalSentimentModel.from_pretrained(args.init_from)
        return model
    backbone = args.text_backbone
    if backbone is None and os.environ.get("HF_HUB_OFFLINE") and minilm_dir():
        backbone = str(minilm_dir())  # the only text encoder reachable offline
    overrides = dict(modalities=modalities, text_trainable_layers=args.text_trainable_layers,
                     dialogue_context=args.dialogue_context, text_lora_rank=args.text_lora_rank)
    if args.per_modality_heads != "preset":
        overrides["per_modality_heads"] = args.per_modality_heads == "on"
    return MultimodalSentimentModel.from_preset(args.preset, text_backbone=backbone, pretrained=True,
                                                video_pretrained=not args.no_video_pretrained, **overrides)


def class_weights(labels: np.ndarray, n: int) -> torch.Tensor:
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    w = np.ones(n, dtype=np.float32)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return torch.tensor(w, dtype=torch.float32)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_groups(model, lr: float, backbone_lr: float, weight_decay: float) -> list[dict]:
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (backbone if ".backbone." in name else rest).append(p)
    groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay}]
    if backbone:
        groups.append({"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay})
    return groups


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _positive(args)
    resolve_paths(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from .data import DataError

    try:
        from .run import run_training

        run_training(args)
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
