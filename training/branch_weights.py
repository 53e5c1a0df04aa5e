"""Set a late-fusion model's branch weights from how well each branch did on data unlike its training data.

    python -m training.branch_weights --model DIR \\
        --branch text runs/eval_words_asr/metrics.json "MELD dev, spoken by espeak-ng, transcribed by tiny.en" \\
        --branch voice runs/voice/cross_corpus.json "leave-one-corpus-out: RAVDESS, EmoDB, TurEV-DB" \\
        --branch face runs/eval_face_ck/metrics.json "CK+ (posed, lab), 6 classes"

Each metrics.json is what `python -m training.evaluate [--branch ...]` wrote (for the voice, training.voice's
cross_corpus.json). A branch's weight is Cohen's kappa of its answers there (mmsa.fusion.reliability_weight):
agreement beyond chance, on one scale whatever the set's number and balance of classes; a branch that always gives
one answer gets 0, whatever its score on its own validation data. The figures go into config.json
(branch_validation) beside the weights, for the card and the page.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BRANCHES = {"text": "text", "voice": "audio", "face": "video"}


def measured(metrics: dict) -> dict:
    """{"n", "accuracy", "chance", "kappa"} of an evaluation's emotion figures (training.evaluate's metrics.json), or
    of a cross-corpus summary that states its chance (training.voice's cross_corpus.json: means over held-out
    corpora). chance is the most frequent class's share, shown beside the accuracy; kappa sets the weight."""
    emotion = metrics["emotion"]
    if "kappa" not in emotion:
        raise ValueError("the figures have no kappa (made by an older version): run training.evaluate (or "
                         "training.voice) again")
    kappa = round(float(emotion["kappa"]), 4)
    if "chance" in emotion:
        return {"n": int(metrics["n"]), "accuracy": round(float(emotion["accuracy"]), 4),
                "chance": round(float(emotion["chance"]), 4), "kappa": kappa}
    support = [c.get("support", 0) for c in emotion["per_class"].values()]
    n = int(metrics.get("n") or sum(support))
    if n <= 0:
        raise ValueError("the evaluation holds no examples")
    return {"n": n, "accuracy": round(float(emotion["accuracy"]), 4), "chance": round(max(support) / n, 4),
            "kappa": kappa}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.branch_weights", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="late-fusion model folder or starter name (its config.json is updated)")
    p.add_argument("--branch", nargs=3, action="append", required=True, metavar=("NAME", "METRICS", "SET"),
                   help="text|voice|face, a metrics.json of training.evaluate, what the set was")
    args = p.parse_args(argv)
    from mmsa.fusion import reliability_weight
    from mmsa.model import load_model
    from mmsa.starter import config_path_of

    config_path = config_path_of(args.model)
    try:
        config = json.loads(config_path.read_text())
        if config.get("fusion") != "late":
            raise ValueError(f"{Path(args.model).name} is not a late-fusion model: its weights are learned")
        for name, metrics_path, set_name in args.branch:
            if name not in BRANCHES:
                raise ValueError(f"unknown branch {name!r}; expected one of {', '.join(BRANCHES)}")
            modality = BRANCHES[name]
            if modality not in config["modalities"]:
                raise ValueError(f"the model has no {name} branch")
            figures = measured(json.loads(Path(metrics_path).read_text()))
            weight = round(reliability_weight(figures["kappa"]), 4)
            config.setdefault("branch_validation", {})[modality] = {"set": set_name, **figures}
            config.setdefault("branch_weights", {})[modality] = weight
            print(f"{name}: kappa {figures['kappa']:.3f}, accuracy {figures['accuracy']:.3f} on {set_name} (n = "
                  f"{figures['n']}, most frequent class {figures['chance']:.3f}) -> weight {weight:.3f}")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    config_path.write_text(json.dumps(config, indent=2))
    load_model(args.model)  # the model still loads
    return 0


if __name__ == "__main__":
    sys.exit(main())
