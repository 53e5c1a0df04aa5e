"""Weighted vs macro F1 as rare emotions are favoured more or less: the trade-off behind class weighting.

    python -m benchmarks.class_tradeoff --model runs/text --csv ../shared/data/meld/dev_sent_emo.csv \\
        --train ../shared/data/meld/train_sent_emo.csv

Favouring rare classes by a strength t is measured without retraining, by logit adjustment: each class's
log-probability is lowered by t * log(its share of the train labels). t = 0 is the model as trained; t = 0.5 is
about what square-root class weights do, t = 1 what balanced weights do. Prints emotion weighted and macro F1 and
sentiment weighted F1 per strength.
"""

from __future__ import annotations

import argparse

import numpy as np

import benchmarks.common  # noqa: F401  (sets the offline defaults)

STRENGTHS = (-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or name (default: the starter)")
    parser.add_argument("--csv", required=True, help="labelled split to measure on (dev; never the test split)")
    parser.add_argument("--train", required=True, help="train CSV: the class shares come from its labels")
    args = parser.parse_args(argv)

    from sklearn.metrics import f1_score

    from mmsa.model import load_model
    from training.data import load_split
    from training.evaluate import evaluate

    model, name = load_model(args.model)
    model.eval()
    _, probs, truth = evaluate(model, args.csv)
    train = load_split(args.train, None, True)
    print(f"{name} on {args.csv.rsplit('/', 1)[-1]}\n")
    print(f"{'strength':>8} {'emotion wF1':>11} {'macro F1':>9} {'sentiment wF1':>13}")
    for t in STRENGTHS:
        row = []
        for task, n in (("emotion", 7), ("sentiment", 3)):
            labels = np.array([getattr(e, task) for e in train.examples])
            share = np.bincount(labels, minlength=n) / len(labels)
            adjusted = np.log(np.asarray(probs[task]) + 1e-9) - t * np.log(share + 1e-9)
            pred, gold = adjusted.argmax(1), np.asarray(truth[task]).reshape(-1)
            row.append((f1_score(gold, pred, average="weighted"), f1_score(gold, pred, average="macro")))
        print(f"{t:8.2f} {row[0][0]:11.3f} {row[0][1]:9.3f} {row[1][0]:13.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
