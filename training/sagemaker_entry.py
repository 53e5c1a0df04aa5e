"""Entry point inside a SageMaker training job: the job's hyperparameters become training.train's flags.

SageMaker passes hyperparameters as JSON in SM_HPS; every key is a training.train flag (without "--"), and a
true boolean is a bare switch. Data, model and checkpoint folders come from SM_CHANNEL_* / SM_MODEL_DIR /
/opt/ml/checkpoints, which training.train reads itself. --resume is always on, so a spot job that was
interrupted continues from its last checkpoint. With --push-to-hub, the Hub token is read here from the AWS
Secrets Manager secret named by MMSA_HF_TOKEN_SECRET (the job's role must be allowed to read it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# SageMaker runs this file as a script from the uploaded source folder, so Python puts training/ (not its
# parent) on the path; the parent is where the mmsa and training packages are
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


def hub_token_from_secret(secret_id: str, region: str | None = None) -> str:
    """The Hub token stored in a Secrets Manager secret: the plain string, or a JSON object's HF_TOKEN."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as e:
        raise SystemExit(f"error: could not read the Hub token secret {secret_id!r}: {type(e).__name__}; the job's "
                         f"role needs secretsmanager:GetSecretValue on it") from None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value.strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("HF_TOKEN"), str):
        return parsed["HF_TOKEN"]
    raise SystemExit(f"error: secret {secret_id!r} must hold the token, or JSON with an HF_TOKEN key")


def main() -> int:
    from training.push_to_hub import TOKEN_SECRET_ENV
    from training.train import main as train_main

    hps = json.loads(os.environ.get("SM_HPS", "{}"))
    argv = hyperparameters_to_argv(hps)
    if "--resume" not in argv:
        argv.append("--resume")
    secret = os.environ.get(TOKEN_SECRET_ENV)
    if secret and "--push-to-hub" in argv:
        os.environ["HF_TOKEN"] = hub_token_from_secret(secret, os.environ.get("AWS_REGION"))
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
