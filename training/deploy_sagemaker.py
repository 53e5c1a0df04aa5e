"""Serve a model from a SageMaker endpoint: real-time, serverless or asynchronous; and take it down again.

    python -m training.deploy_sagemaker --model ID_OR_S3 --endpoint-name NAME --bucket BUCKET --role ARN \\
        [--serverless | --async --output s3://BUCKET/async/] [--instance-type ml.c7i.xlarge]
    python -m training.deploy_sagemaker --endpoint-name NAME --delete

The endpoint runs the AWS PyTorch inference container with training.sagemaker_inference as its handler (packed,
with the model's files if it comes from S3, into the model.tar.gz the container reads, under code/): send a
video's bytes (or JSON {"s3_uri": ...}) and get the JSON contract of `mmsa analyze` back. Asynchronous endpoints
suit videos best: requests up to 1 GB read from S3, answers written to --output, runs up to an hour. --model: a Hub
id or starter name (fetched by the container), or an s3:// model.tar.gz (what training jobs write).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from training.sagemaker_common import (LaunchError, check_credentials, check_instance, check_region, check_role,
                                       pytorch_image, split_s3_uri, stage_source)

DEFAULT_INSTANCE = "ml.c7i.xlarge"
FRAMEWORK_VERSION = "2.5"
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
REQUIREMENTS = Path(__file__).with_name("requirements-analysis.txt")
SHIM = ("# written by training.deploy_sagemaker: the container imports the handler from this file\n"
        "from training.sagemaker_inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.deploy_sagemaker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint-name", required=True, help="letters, digits and hyphens, at most 46")
    p.add_argument("--delete", action="store_true", help="delete the endpoint, its configuration and model")
    p.add_argument("--model", default="starter", help="Hub id, starter name, or s3://.../model.tar.gz")
    p.add_argument("--role", default=os.environ.get("SAGEMAKER_ROLE"), help="execution role ARN ($SAGEMAKER_ROLE)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    p.add_argument("--bucket", default=os.environ.get("MMSA_S3_BUCKET"), help="where the code archive is put")
    p.add_argument("--prefix", default="mmsa", help="key prefix inside the bucket")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--serverless", action="store_true", help="pay per request (short clips: 6 MB, 60 s)")
    mode.add_argument("--async", dest="async_", action="store_true", help="queue requests; answers go to --output")
    p.add_argument("--output", help="--async: s3:// prefix for the answers (failures go below it, in failures/)")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE)
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--memory-mb", type=int, default=6144, help=f"--serverless: one of {SERVERLESS_MEMORY_MB}")
    p.add_argument("--max-concurrency", type=int, default=2, help="--serverless: concurrent requests")
    p.add_argument("--framework-version", default=FRAMEWORK_VERSION)
    return p


def validate(args: argparse.Namespace) -> None:
    name = args.endpoint_name
    # at most 46: the model and configuration are named NAME-YYYYmmdd-HHMMSS, and SageMaker names stop at 63
    if not (0 < len(name) <= 46 and name.replace("-", "").isalnum() and name[0].isalnum() and name[-1].isalnum()):
        raise LaunchError(f"--endpoint-name must be 1-46 letters, digits and inner hyphens, got {name!r}")
    check_region(args.region)
    if not args.delete:
        check_role(args.role)
        if not args.bucket or "/" in args.bucket:
            raise LaunchError("--bucket (or $MMSA_S3_BUCKET): a bucket name (no s3://) for the endpoint's code")
        if args.async_:
            if not args.output:
                raise LaunchError("--async needs --output s3://BUCKET/PREFIX/ for the answers")
            split_s3_uri(args.output, "--output")
        elif args.output:
            raise LaunchError("--output is only used with --async")
        if args.serverless:
            if args.memory_mb not in SERVERLESS_MEMORY_MB:
                raise LaunchError(f"--memory-mb must be one of {SERVERLESS_MEMORY_MB}, got {args.memory_mb}")
            if not 1 <= args.max_concurrency <= 200:
                raise LaunchError(f"--max-concurrency must be 1-200, got {args.max_concurrency}")
        else:
            check_instance(args.instance_type, args.instance_count, DEFAULT_INSTANCE)
        if args.model.startswith("s3://"):
            split_s3_uri(args.model, "--model")
            if not args.model.endswith(".tar.gz"):
                raise LaunchError(f"--model from S3 must be a model.tar.gz, got {args.model!r}")
    check_credentials(args.region)


def model_archive(s3, model: str, scratch: Path) -> bytes:
    """model.tar.gz as the PyTorch inference container (1.2+) wants it: the model's files (from an s3:// archive,
    unpacked with training.push_to_hub's checks) at the top, and code/ with inference.py (the handler),
    requirements.txt and the mmsa and training packages."""
    from training.push_to_hub import safe_extract

    root = scratch / "model"
    root.mkdir()
    if model.startswith("s3://"):
        bucket, key = split_s3_uri(model, "--model")
        s3.download_file(bucket, key, str(scratch / "model.tar.gz"))
        safe_extract(scratch / "model.tar.gz", root)
    code = stage_source(root / "code")
    (code / "inference.py").write_text(SHIM)
    (code / "requirements.txt").write_text(REQUIREMENTS.read_text())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(str(path), arcname=path.relative_to(root).as_posix(), recursive=False)
    return buf.getvalue()


def endpoint_requests(args: argparse.Namespace, model_uri: str, image: str, stamp: str) -> tuple[dict, dict, dict]:
    """(CreateModel, CreateEndpointConfig, CreateEndpoint) requests."""
    name = args.endpoint_name
    environment = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_REGION": args.region,
                   "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
                   "SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"}
    container = {"Image": image, "ModelDataUrl": model_uri, "Environment": environment}
    if not args.model.startswith("s3://"):
        environment["MMSA_MODEL"] = args.model  # fetched by the container (a Hub id) or bundled (a starter)
    model = {"ModelName": f"{name}-{stamp}", "ExecutionRoleArn": args.role, "PrimaryContainer": container}
    variant = {"VariantName": "AllTraffic", "ModelName": model["ModelName"]}
    if args.serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": args.memory_mb, "MaxConcurrency": args.max_concurrency}
    else:
        variant.update(InstanceType=args.instance_type, InitialInstanceCount=args.instance_count)
    config = {"EndpointConfigName": f"{name}-{stamp}", "ProductionVariants": [variant]}
    if args.async_:
        out = args.output.rstrip("/")
        config["AsyncInferenceConfig"] = {
            "OutputConfig": {"S3OutputPath": f"{out}/", "S3FailurePath": f"{out}/failures/"},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1}}
    return model, config, {"EndpointName": name, "EndpointConfigName": config["EndpointConfigName"]}


def delete(sm, name: str) -> int:
    """The endpoint, then its configuration and the model it served."""
    from botocore.exceptions import ClientError

    try:
        config_name = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    except ClientError:
        print(f"error: there is no endpoint {name!r} in this region", file=sys.stderr)
        return 1
    config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=config_name)
    for variant in config["ProductionVariants"]:
        sm.delete_model(ModelName=variant["ModelName"])
    print(f"deleted endpoint {name}, its configuration {config_name} and its model")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        validate(args)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sm = boto3.client("sagemaker", region_name=args.region)
    if args.delete:
        return delete(sm, args.endpoint_name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        s3 = boto3.client("s3", region_name=args.region)
        key = f"{args.prefix}/endpoints/{args.endpoint_name}/{stamp}/model.tar.gz"
        with tempfile.TemporaryDirectory(prefix="mmsa_model_") as tmp:
            s3.put_object(Bucket=args.bucket, Key=key, Body=model_archive(s3, args.model, Path(tmp)))
        # serverless has no instance type: the CPU build of the container serves it
        image = pytorch_image(args.region, args.framework_version,
                              "ml.c5.xlarge" if args.serverless else args.instance_type, "inference")
        model, config, endpoint = endpoint_requests(args, f"s3://{args.bucket}/{key}", image, stamp)
        sm.create_model(**model)
        sm.create_endpoint_config(**config)
        sm.create_endpoint(**endpoint)
    except (BotoCoreError, ClientError, ValueError) as e:
        print(f"error: the endpoint could not be created: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    kind = "serverless" if args.serverless else "asynchronous" if args.async_ else "real-time"
    print(f"{kind} endpoint {args.endpoint_name} is being created (several minutes); model {model['ModelName']}")
    if args.async_:
        print(f"send: upload the video to S3, then sagemaker-runtime invoke_endpoint_async(EndpointName="
              f"'{args.endpoint_name}', InputLocation='s3://...', ContentType='video/mp4'); answers: {args.output}")
    else:
        print(f"send: sagemaker-runtime invoke_endpoint(EndpointName='{args.endpoint_name}', "
              f"ContentType='video/mp4', Body=open('clip.mp4', 'rb'))  (or JSON {{\"s3_uri\": ...}} over 6 MB)")
    print(f"take it down: python -m training.deploy_sagemaker --endpoint-name {args.endpoint_name} "
          f"--region {args.region} --delete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
