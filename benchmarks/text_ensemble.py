"""Do words models read better together? Each model, then every combination of them, on each labelled CSV: the
members' calibrated pair log-probabilities averaged (what a words branch of several members would answer), scored
as the app shows labels.

    python -m benchmarks.text_ensemble --model starter-text --model runs/text-asr \\
        --csv ../shared/data/meld/dev_sent_emo.csv --csv runs/asr_dev/asr_sent_emo.csv

A combination of k models costs k times the words' time per utterance. Prints emotion weighted F1 / macro F1 /
sentiment weighted F1 per CSV. Tune on dev; never select on the test split.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import benchmarks.common  # noqa: F401  (sets the offline defaults)


def pair_log_probs(model, csv_path: str):
    """(calibrated pair log-probabilities (n, 8), true labels {"emotion", "sentiment"}) of a two-head words model."""
    from training.data import load_split
    from training.teacher import calibrated_pair_log_probs

    return calibrated_pair_log_probs(model, load_split(csv_path, None, True, model.config.dialogue_context))


def ensemble_metrics(members: list, truth: dict) -> dict:
    """Metrics of the members' averaged pair log-probabilities (renormalised), labels as the app shows them."""
    import torch

    from mmsa.fusion import marginals
    from training.metrics import all_metrics

    log_pairs = torch.log_softmax(torch.stack(members).mean(0), -1)
    log_e, log_s = marginals(log_pairs)
    return all_metrics(truth, {"emotion": log_e.exp().numpy(), "sentiment": log_s.exp().numpy()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="words model folder or name (repeat)")
    parser.add_argument("--csv", action="append", required=True, help="labelled CSV (repeat; dev, never test)")
    args = parser.parse_args(argv)
    for path in args.csv:
        if not Path(path).is_file():
            parser.error(f"--csv {path}: no such file")

    from mmsa.model import ModelNotFoundError, load_model

    shown, log_probs, truth = [], {}, {}
    for i, name in enumerate(args.model):
        try:
            model, label = load_model(name)
        except ModelNotFoundError as e:
            parser.error(f"--model {name}: {e}")
        if model.config.modalities != ["text"] or model.config.fusion == "late":
            parser.error(f"--model {name}: not a words-only model with emotion and sentiment heads (train one with "
                         f"training.train --text-only --modalities text)")
        model.eval()
        shown.append(label)
        for path in args.csv:
            try:
                log_probs[i, path], truth[path] = pair_log_probs(model, path)  # by position: names may repeat
            except ValueError as e:  # training.data.DataError among them: a CSV that is not a labelled split
                parser.error(f"--csv {path}: {e}")

    print("emotion weighted F1 / macro F1 / sentiment weighted F1, members' pair log-probabilities averaged\n")
    for k in range(1, len(shown) + 1):
        for combo in itertools.combinations(range(len(shown)), k):
            cells = []
            for path in args.csv:
                m = ensemble_metrics([log_probs[i, path] for i in combo], truth[path])
                cells.append(f"{Path(path).name}: {m['emotion']['weighted_f1']:.3f} / {m['emotion']['macro_f1']:.3f}"
                             f" / {m['sentiment']['weighted_f1']:.3f}")
            print(f"{' + '.join(shown[i] for i in combo)}  ({k}x the words' cost)\n    " + "\n    ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
