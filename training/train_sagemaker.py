"""Launch training.train as an AWS SageMaker training job (sagemaker 3.x ModelTrainer).

    python -m training.train_sagemaker --train data/meld_train --dev data/meld_dev --role ARN \\
        --region us-east-1 --bucket my-bucket [--instance-type ml.g5.xlarge] [--spot] [--wait] \\
        [--push-to-hub ORG/NAME --hub-token-secret SECRET_NAME] [training flags: --epochs 10 ...]

Local folders are uploaded to s3://BUCKET/PREFIX/...; s3:// URIs are used as they are. The Hub token never
travels in the job request: the job reads it from AWS Secrets Manager by name (its role needs
secretsmanager:GetSecretValue on that secret), or you push afterwards with training.push_to_hub --from-s3.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from training.push_to_hub import TOKEN_SECRET_ENV
from training.sagemaker_common import (LaunchError, check_credentials, check_instance, check_role, pytorch_image,
                                       stage_source)
from training.train import add_training_arguments, training_flags

DEFAULT_INSTANCE = "ml.g5.xlarge"
FRAMEWORK_VERSION = "2.5"  # the newest PyTorch training image line the SDK resolves here
# GPUs per instance, for torchrun's processes per node (types not listed count as one)
GPUS = {"ml.g5.12xlarge": 4, "ml.g5.24xlarge": 4, "ml.g5.48xlarge": 8, "ml.g6.12xlarge": 4, "ml.g6.48xlarge": 8,
        "ml.p3.8xlarge": 4, "ml.p3.16xlarge": 8, "ml.p4d.24xlarge": 8, "ml.p5.48xlarge": 8}
ENTRY_SCRIPT = "training/sagemaker_entry.py"
REQUIREMENTS = "training/requirements-sagemaker.txt"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_sagemaker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    aws = p.add_argument_group("AWS")
    aws.add_argument("--train", required=True, help="train data: a local folder (CSV + clips) or s3:// URI")
    aws.add_argument("--dev", help="dev data: a local folder or s3:// URI")
    aws.add_argument("--role", default=os.environ.get("SAGEMAKER_ROLE"),
                     help="SageMaker execution role ARN (default $SAGEMAKER_ROLE)")
    aws.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                     help="AWS region (default $AWS_REGION)")
    aws.add_argument("--bucket", default=os.environ.get("MMSA_S3_BUCKET"),
                     help="S3 bucket for data, code, checkpoints and output (default $MMSA_S3_BUCKET)")
    aws.add_argument("--prefix", default="mmsa", help="key prefix inside the bucket")
    aws.add_argument("--instance-type", default=DEFAULT_INSTANCE)
    aws.add_argument("--instance-count", type=int, default=1)
    aws.add_argument("--volume-gb", type=int, default=100)
    aws.add_argument("--spot", action="store_true", help="managed spot training, resuming from S3 checkpoints")
    aws.add_argument("--max-runtime-hours", type=float, default=24.0, help="stopping condition")
    aws.add_argument("--max-wait-hours", type=float, default=48.0, help="spot: runtime plus waiting for capacity")
    aws.add_argument("--job-name", help="base job name (default mmsa-<preset>)")
    aws.add_argument("--framework-version", default=FRAMEWORK_VERSION)
    aws.add_argument("--wait", action="store_true", help="follow the job and its logs until it ends")
    aws.add_argument("--push-to-hub", metavar="REPO_ID", help="the job pushes the model when it ends "
                                                               "(needs --hub-token-secret)")
    aws.add_argument("--hub-token-secret", metavar="NAME",
                     help="AWS Secrets Manager secret (name or ARN) holding a Hub write token; the job reads it "
                          "with its role, so the token is never in the job's settings")
    aws.add_argument("--private", action="store_true", help="with --push-to-hub: create the Hub repo private")
    add_training_arguments(p)  # every training flag, one to one, with training.train's defaults and help
    return p


def training_hyperparameters(args: argparse.Namespace) -> dict:
    """The local training flags as SageMaker hyperparameters, named exactly as the flags (without --)."""
    hps = {}
    for dest, flag in training_flags().items():
        value = getattr(args, dest, None)
        if value is not None and value is not False:
            hps[flag.lstrip("-")] = value
    return hps


def validate(args: argparse.Namespace) -> None:
    """Everything checkable without a request: names what is missing and how to set it."""
    missing = []
    if not args.role:
        missing.append("--role (or $SAGEMAKER_ROLE): the SageMaker execution role ARN")
    if not args.region:
        missing.append("--region (or $AWS_REGION): e.g. us-east-1")
    if not args.bucket:
        missing.append("--bucket (or $MMSA_S3_BUCKET): an S3 bucket in that region")
    if missing:
        raise LaunchError("missing settings:\n  - " + "\n  - ".join(missing))
    check_role(args.role)
    if args.bucket.startswith("s3://") or "/" in args.bucket:
        raise LaunchError(f"--bucket takes a bucket name only (no s3:// or /), got {args.bucket!r}")
    check_instance(args.instance_type, args.instance_count, DEFAULT_INSTANCE)
    if args.spot and args.max_wait_hours < args.max_runtime_hours:
        raise LaunchError("--max-wait-hours must be at least --max-runtime-hours for spot training")
    for name in ("train", "dev"):
        value = getattr(args, name)
        if value and not value.startswith("s3://") and not Path(value).is_dir():
            raise LaunchError(f"--{name} {value!r}: not an s3:// URI nor a local folder (a folder with the CSV "
                              f"and its clips, e.g. MELD's train_sent_emo.csv + train_splits/)")
    if args.push_to_hub and not args.hub_token_secret:
        raise LaunchError("--push-to-hub needs --hub-token-secret NAME: an AWS Secrets Manager secret holding a Hub "
                          "write token, readable by the job's role (a token is never put in the job's settings). "
                          "Or leave out --push-to-hub and push when the job ends: python -m training.push_to_hub "
                          "--from-s3 s3://.../model.tar.gz --repo-id ORG/NAME")
    if args.hub_token_secret and not args.push_to_hub:
        raise LaunchError("--hub-token-secret is only used with --push-to-hub ORG/NAME")
    check_credentials(args.region)


def build_trainer(args: argparse.Namespace, source_dir: Path):
    """A ModelTrainer for the job; local data and source_dir are staged to S3 by the SDK when train() runs."""
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import CheckpointConfig, Compute, InputData, OutputDataConfig, SourceCode
    from sagemaker.train.configs import StoppingCondition
    from sagemaker.train.distributed import Torchrun

    session = Session(boto_session=boto3.Session(region_name=args.region), default_bucket=args.bucket,
                      default_bucket_prefix=args.prefix)
    image = pytorch_image(args.region, args.framework_version, args.instance_type, "training")
    base = args.job_name or f"mmsa-{args.preset}"
    s3_root = f"s3://{args.bucket}/{args.prefix}"
    gpus = GPUS.get(args.instance_type, 1)
    environment = {"HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
    hps = training_hyperparameters(args)
    if args.push_to_hub:
        environment[TOKEN_SECRET_ENV] = args.hub_token_secret  # the secret's name; the job fetches the value
        hps["push-to-hub"] = args.push_to_hub
        if args.private:
            hps["private"] = True
    trainer = ModelTrainer(
        sagemaker_session=session, role=args.role, base_job_name=base, training_image=image,
        source_code=SourceCode(source_dir=str(source_dir), entry_script=ENTRY_SCRIPT, requirements=REQUIREMENTS),
        compute=Compute(instance_type=args.instance_type, instance_count=args.instance_count,
                        volume_size_in_gb=args.volume_gb, enable_managed_spot_training=args.spot),
        distributed=Torchrun(process_count_per_node=gpus) if args.instance_count > 1 or gpus > 1 else None,
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=int(args.max_runtime_hours * 3600),
            max_wait_time_in_seconds=int(args.max_wait_hours * 3600) if args.spot else None),
        checkpoint_config=CheckpointConfig(s3_uri=f"{s3_root}/checkpoints/{base}", local_path="/opt/ml/checkpoints"),
        output_data_config=OutputDataConfig(s3_output_path=f"{s3_root}/output"),
        hyperparameters=hps, environment=environment, input_s3_key_prefix=f"data/{base}",
    )
    channels = [InputData(channel_name="train", data_source=args.train)]
    if args.dev:
        channels.append(InputData(channel_name="dev", data_source=args.dev))
    return trainer, channels


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        validate(args)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="mmsa_source_") as tmp:
            trainer, channels = build_trainer(args, stage_source(Path(tmp)))
            started = time.time()
            trainer.train(input_data_config=channels, wait=args.wait, logs=args.wait)
    except Exception as e:  # botocore ClientError, SDK validation: one readable line, not a traceback
        print(f"error: SageMaker job could not be started: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    job = trainer._latest_training_job
    name = getattr(job, "training_job_name", "?")
    print(f"training job: {name}")
    print(f"logs: https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}"
          f"#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs (stream prefix {name})")
    print(f"model artifact: s3://{args.bucket}/{args.prefix}/output/{name}/output/model.tar.gz")
    print(f"checkpoints: s3://{args.bucket}/{args.prefix}/checkpoints/{trainer.base_job_name}")
    if args.push_to_hub:
        print(f"the job pushes to https://huggingface.co/{args.push_to_hub} when it ends (token read from the "
              f"secret {args.hub_token_secret!r} inside the job)")
    else:
        print(f"push it later: python -m training.push_to_hub --from-s3 s3://{args.bucket}/{args.prefix}/output/"
              f"{name}/output/model.tar.gz --repo-id ORG/NAME")
    if args.wait:
        print(f"finished after {(time.time() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
