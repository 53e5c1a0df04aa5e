"""Entry point inside a SageMaker training job: the job's hyperparameters become training.train's flags.

SageMaker passes hyperparameters as JSON in SM_HPS; every key is a training.train flag (without "--"), and a
true boolean is a bare switch. Data, model and checkpoint folders come from SM_CHANNEL_* / SM_MODEL_DIR /
/opt/ml/checkpoints, which training.train reads itself. --resume is always on, so a spot job that was
interrupted continues from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def hyperparameters_to_argv(hps: dict) -> list[str]:
    argv: list[str] = []
    for key, value in hps.items():
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if value is True:
            argv.append(f"--{key}")
        elif value is False or value is None or value == "":
            continue
        else:
            argv += [f"--{key}", str(value)]
    return argv


def main() -> int:
    from training.train import main as train_main

    hps = json.loads(os.environ.get("SM_HPS", "{}"))
    argv = hyperparameters_to_argv(hps)
    if "--resume" not in argv:
        argv.append("--resume")
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
