"""Reproduce the bundled starter model from the MELD CSVs (text only, packaged MiniLM), then ship its head.

    python scripts/build_starter.py --meld ../shared/data/meld

Trains with training.train (the flags below), writes the non-backbone weights, card and metrics to
mmsa/starter_model/, assembles the full model from the packaged MiniLM, and checks that training.evaluate on dev
reproduces the card's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# the recipe: MiniLM with rank-8 adapters (its 22.7M weights stay as packaged, so the shipped file stays ~2 MB)
STARTER_FLAGS = ["--modalities", "text", "--text-lora-rank", "8", "--epochs", "5", "--patience", "2",
                 "--batch-size", "32", "--lr", "1e-3", "--select-metric", "emotion", "--class-weighting", "balanced",
                 "--seed", "42"]

TITLE = "mmsa starter model (text only, MiniLM, MELD)"
SUMMARY = ("The model the mmsa app and CLI use when no other is configured. It reads **only the words**: "
           "all-MiniLM-L6-v2 (the packaged copy, frozen) with low-rank adapters, trained on the MELD train "
           "transcripts (gold subtitles), early-stopped and calibrated on MELD dev. No audio or video branch: "
           "MELD's clips are not available where it was built, so those branches could not be trained honestly "
           "and are left out rather than shipped random. It ships inside the mmsa package (mmsa/starter_model: "
           "about 2 MB of adapter and head weights, joined at load time with the packaged MiniLM) and is what "
           "`python app.py` and `python -m mmsa analyze` use when MMSA_MODEL is not set.")
LIMITS = ("- Text only: tone of voice and facial expression are ignored; silent clips get no prediction that "
          "means anything (their utterances list no modality).\n"
          "- For a full multimodal model, train with clips: `python -m training.train --modalities text,video,audio "
          "...` on MELD's videos locally or on SageMaker (`python -m training.train_sagemaker`).")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meld", default=str(ROOT.parent / "shared/data/meld"), help="folder with the MELD CSVs")
    parser.add_argument("--run-dir", default=str(ROOT / "runs/starter"))
    parser.add_argument("--from-run", help="skip training: ship this finished run folder (made with the recipe)")
    parser.add_argument("extra", nargs="*", help="extra training.train flags (override the recipe)")
    args = parser.parse_args()

    from mmsa.model import MultimodalSentimentModel
    from mmsa.starter import STARTER_DIR, assemble_starter, export_head
    from training.card import write_card
    from training.evaluate import evaluate
    from training.train import main as train

    meld = Path(args.meld)
    if args.from_run:
        run = Path(args.from_run)
    else:
        rc = train(["--train", str(meld / "train_sent_emo.csv"), "--dev", str(meld / "dev_sent_emo.csv"),
                    "--text-only", "--output-dir", args.run_dir, *STARTER_FLAGS, *args.extra])
        if rc != 0:
            return rc
        run = Path(args.run_dir)
    model = MultimodalSentimentModel.from_pretrained(str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    report = json.loads((run / "training_report.json").read_text())
    write_card(model, run, metrics=metrics, report=report, repo_id="mmsa/starter-text-minilm", title=TITLE,
               summary=SUMMARY, extra_limits=LIMITS)
    head = export_head(run, STARTER_DIR)
    print(f"shipped {head} ({head.stat().st_size / 1e6:.2f} MB)")
    assembled = assemble_starter()
    check, _, _ = evaluate(MultimodalSentimentModel.from_pretrained(str(assembled)), str(meld / "dev_sent_emo.csv"))
    for task in ("emotion", "sentiment"):
        for key in ("accuracy", "weighted_f1", "macro_f1"):
            a, b = metrics[task][key], check[task][key]
            assert abs(a - b) < 1e-6, f"assembled starter does not reproduce {task} {key}: {a} vs {b}"
    print("assembled starter reproduces the dev metrics:",
          {t: round(check[t]["weighted_f1"], 4) for t in ("emotion", "sentiment")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
