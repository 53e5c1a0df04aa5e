"""Evaluate a model on a labelled CSV (with clips, or text only when there are none), or one branch of it.

    python -m training.evaluate --csv ../shared/data/meld/dev_sent_emo.csv [--model ID_OR_DIR] [--clips-dir DIR] \\
        [-o metrics.json]
    python -m training.evaluate --branch voice --csv wavs.csv       # path,emotion[,sentiment][,text]
    python -m training.evaluate --branch face --csv faces.csv       # paths of images or videos

Writes metrics.json shaped {"n", "emotion": {"accuracy", "weighted_f1", "macro_f1", "per_class"}, "sentiment": {...}}
and confusion-matrix PNGs beside it. --model defaults to what the app uses ($MMSA_MODEL, else the starter model).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mmsa.labels import TASKS


def evaluate(model, csv_path: str, clips_dir: str | None = None, cache_dir: str | None = None,
             batch_size: int = 64, encoding: str | None = None,
             exclaim_keep: float | None = None) -> tuple[dict, dict, dict]:
    """(metrics, probabilities, truth) with the model's own calibration, scoring the labels a person is shown.
    exclaim_keep: each "!" of the text read with this chance, one fixed draw per row, as training.train's dev
    set is read with --exclaim-keep (an asr-exclaim model's own figures)."""
    from .data import clip_folder_beside, load_split
    from .featurize import Featurizer
    from .loop import make_loader, predict_logits
    from .metrics import evaluate_logits

    text_only = clips_dir is None and clip_folder_beside(csv_path) is None
    ds = load_split(csv_path, clips_dir, text_only, model.config.dialogue_context, encoding)
    feats = Featurizer(model, cache_dir)(ds, "eval")
    pred = predict_logits(model, make_loader(feats, model, batch_size, shuffle=False, exclaim_keep=exclaim_keep))
    temps = {"emotion": model.config.emotion_temperature, "sentiment": model.config.sentiment_temperature}
    # scored as the app shows them: a two-head model's heads joined over the allowed pairs
    metrics, probs = evaluate_logits(pred, temps, joint=model.config.fusion != "late")
    metrics["skipped"] = len(ds.skipped)
    return metrics, probs, {t: pred[t] for t in TASKS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Hub id or folder (default: $MMSA_MODEL, else the starter)")
    parser.add_argument("--csv", required=True, help="MELD CSV or path,text,emotion,sentiment CSV")
    parser.add_argument("--clips-dir", default=None, help="clips folder; without it (and none beside the CSV), "
                                                          "text only")
    parser.add_argument("-o", "--output", default="metrics.json", help="metrics JSON (PNGs go beside it)")
    parser.add_argument("--cache-dir", default=None, help="feature cache folder (default: none)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoding", help="text encoding of the CSV (default: UTF-8, else Windows-1252)")
    parser.add_argument("--branch", choices=["fused", "text", "voice", "face"],
                        help="evaluate one branch (or the fused answer) on a CSV of path,emotion[,sentiment][,text] "
                             "whose paths are audio files, videos or still images")
    parser.add_argument("--exclaim-keep", type=float, default=None, metavar="P",
                        help="read each '!' of the text with chance P (else a full stop), one fixed draw per row: "
                             "subtitles as the recogniser might write them (0: a flat voice; it writes far fewer "
                             "than subtitles do, benchmarks/asr_marks.py)")
    args = parser.parse_args(argv)
    if args.exclaim_keep is not None and not 0 <= args.exclaim_keep <= 1:
        parser.error(f"--exclaim-keep must be in [0, 1], got {args.exclaim_keep}")
    if args.exclaim_keep is not None and args.branch:
        parser.error("--exclaim-keep reads the words of a MELD-style CSV: leave out --branch")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    from mmsa.model import load_model

    from mmsa.labels import CLASS_SETS

    from .metrics import markdown_table, save_confusion_matrices

    try:
        model, name = load_model(args.model)
        if args.branch:
            from .branch_eval import evaluate_branch

            metrics, probs, truth = evaluate_branch(model, args.csv, args.branch, args.encoding)
        else:
            metrics, probs, truth = evaluate(model, args.csv, args.clips_dir, args.cache_dir, args.batch_size,
                                             args.encoding, exclaim_keep=args.exclaim_keep)
    except (FileNotFoundError, ValueError) as e:  # ModelNotFoundError, DataError: they name the problem
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    metrics["model"] = name
    out.write_text(json.dumps(metrics, indent=2))
    save_confusion_matrices(truth, probs, out.parent, title=f"({Path(args.csv).stem})")
    what = f"{name} ({args.branch} branch)" if args.branch and args.branch != "fused" else name
    read = "" if args.exclaim_keep is None else f", each '!' read with chance {args.exclaim_keep}"
    print(f"{what} on {Path(args.csv).name} (n = {metrics['n']}, skipped {metrics.get('skipped', 0)}{read}):")
    if metrics.get("classes"):
        print(f"(scored in the branch's own classes, {metrics['classes']}: {', '.join(CLASS_SETS[metrics['classes']])})")
    print(markdown_table(metrics))
    print(f"wrote {out} and confusion matrices in {out.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
