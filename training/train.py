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
import sys
import time
from pathlib import Path

from mmsa.config import TEXT_STYLES
from mmsa.settings import Settings

CHECKPOINT_DIR = "checkpoints"


def add_location_arguments(p: argparse.ArgumentParser) -> None:
    """Where data, outputs and checkpoints are: set by the machine that runs the job, not hyperparameters."""
    d = p.add_argument_group("data and outputs")
    d.add_argument("--train", help="train CSV (MELD or path,text,emotion,sentiment), or a folder holding one "
                                   "(default: $SM_CHANNEL_TRAIN)")
    d.add_argument("--train-also", action="append", default=[], metavar="CSV",
                   help="another train CSV read with --train, text only (repeatable): e.g. MELD train as the "
                        "recogniser transcribes it (benchmarks.asr_gap's asr_sent_emo.csv), so the words learn from "
                        "what the pipeline reads as well as from the subtitles")
    d.add_argument("--soft-labels", metavar="CSV",
                   help="a teacher's probabilities for the training texts (python -m training.teacher): the words "
                        "learn from them as well as from the gold labels (knowledge distillation)")
    d.add_argument("--dev", help="dev CSV or folder, for early stopping and calibration (default: $SM_CHANNEL_DEV)")
    d.add_argument("--train-clips", help="clips folder for --train (MELD: train_splits)")
    d.add_argument("--dev-clips", help="clips folder for --dev (MELD: dev_splits_complete)")
    d.add_argument("--output-dir", help="model folder to write (default: $SM_MODEL_DIR, else runs/<time>)")
    d.add_argument("--cache-dir", help="feature cache (default: $MMSA_CACHE_DIR/features, ~/.cache/mmsa/features)")
    d.add_argument("--checkpoint-dir", help="where resumable checkpoints go (default: $SM_CHECKPOINT_DIR, "
                                            "/opt/ml/checkpoints on SageMaker, else OUTPUT/checkpoints)")
    d.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    d.add_argument("--push-to-hub", metavar="REPO_ID", help="push the model and card (token from $HF_TOKEN)")
    d.add_argument("--private", action="store_true", help="create the Hub repo private")
    d.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Every flag that changes what is learned. Each flag's name is its dest with dashes, so the SageMaker
    launcher passes them one to one as hyperparameters."""
    d = p.add_argument_group("data handling")
    d.add_argument("--text-only", action="store_true", help="ignore clips: train on the transcripts alone")
    d.add_argument("--encoding", help="text encoding of the CSVs (default: UTF-8, else Windows-1252)")
    m = p.add_argument_group("model")
    m.add_argument("--preset", choices=["cpu", "seed"], default="cpu")
    m.add_argument("--init-from", help="start from this mmsa model (starter, starter-text, a Hub id or a folder) instead of a preset")
    m.add_argument("--modalities", default="text,video,audio", help="comma-separated subset of text,video,audio")
    m.add_argument("--text-backbone", help="Hub id or folder (default: the preset's; offline: packaged MiniLM)")
    m.add_argument("--text-trainable-layers", type=int, default=0, help="0 frozen, N top layers, -1 all")
    m.add_argument("--text-lora-rank", type=int, default=0, help="low-rank adapters in the text encoder (0 = none)")
    m.add_argument("--dialogue-context", type=int, default=0, help="previous utterances given as context")
    m.add_argument("--text-style", choices=TEXT_STYLES, default=None,
                   help="asr: read text as a speech recogniser writes it (no '!', lower case), in training and use; "
                        "asr-exclaim: the same, keeping the '!' the recogniser writes for excited speech (see "
                        "--exclaim-keep) (default: the preset's, verbatim, or the --init-from model's)")
    m.add_argument("--no-video-pretrained", action="store_true", help="random video backbone (no download)")
    m.add_argument("--per-modality-heads", choices=["on", "off", "preset"], default="preset")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=10)
    o.add_argument("--batch-size", type=int, default=32)
    o.add_argument("--lr", type=float, default=1e-3, help="learning rate of projections, fusion and heads")
    o.add_argument("--backbone-lr", type=float, default=3e-5, help="learning rate of fine-tuned backbone layers")
    o.add_argument("--weight-decay", type=float, default=0.01)
    o.add_argument("--warmup-ratio", type=float, default=0.06)
    o.add_argument("--class-weighting", choices=["none", "sqrt", "balanced"], default="none",
                   help="loss weight of rare classes: balanced = inverse frequency, sqrt = its square root")
    o.add_argument("--label-smoothing", type=float, default=0.0)
    o.add_argument("--modality-dropout", type=float, default=0.1, help="chance to hide each modality per sample")
    o.add_argument("--exclaim-keep", type=float, default=1.0,
                   help="with --text-style asr-exclaim: the chance each '!' of a training subtitle is kept (else a "
                        "full stop), drawn anew each epoch; the recogniser writes '!' less often than subtitles do")
    o.add_argument("--aux-weight", type=float, default=0.3, help="loss weight of the per-modality heads")
    o.add_argument("--patience", type=int, default=3, help="epochs without dev improvement before stopping")
    o.add_argument("--select-metric", choices=["emotion", "sentiment", "mean"], default="mean",
                   help="dev weighted F1 used for early stopping")
    o.add_argument("--distill-weight", type=float, default=0.5,
                   help="with --soft-labels: share of the loss given to the teacher's probabilities")
    o.add_argument("--distill-temperature", type=float, default=2.0,
                   help="with --soft-labels: temperature both distributions are softened by")
    o.add_argument("--seed", type=int, default=42)
    o.add_argument("--no-calibrate", action="store_true", help="skip temperature scaling on dev")


def training_flags() -> dict[str, str]:
    """dest -> flag of every add_training_arguments option."""
    probe = argparse.ArgumentParser(add_help=False)
    add_training_arguments(probe)
    return {dest: "--" + dest.replace("_", "-") for dest in vars(probe.parse_args([]))}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_arguments(p)
    add_training_arguments(p)
    return p


def check_values(args: argparse.Namespace) -> None:
    """Ranges argparse cannot express; SystemExit names the flag."""
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
    if not 0 <= args.distill_weight <= 1 or not args.distill_temperature > 0:
        raise SystemExit("error: --distill-weight must be in [0, 1] and --distill-temperature > 0")
    if not 0 <= args.exclaim_keep <= 1:
        raise SystemExit(f"error: --exclaim-keep must be in [0, 1], got {args.exclaim_keep}")


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
    args.cache_dir = args.cache_dir or str(Settings.from_env().cache_dir / "features")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_values(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from .run import run_training

    try:
        resolve_paths(args)
        run_training(args)
    except (FileNotFoundError, ValueError) as e:  # DataError, a bad model or setting: a message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
