"""What the SageMaker launchers share: settings checks made before any request, S3 URIs, the staged code."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE_IGNORE = ("__pycache__", "*.pyc", "*.mp4")
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")


class LaunchError(ValueError):
    """Bad or missing settings, found before any AWS request."""


def check_role(role: str | None) -> None:
    if not role:
        raise LaunchError("missing --role (or $SAGEMAKER_ROLE): the SageMaker execution role ARN")
    if not role.startswith("arn:aws:iam::") or ":role/" not in role:
        raise LaunchError(f"--role must be an IAM role ARN like arn:aws:iam::123456789012:role/NAME, got {role!r}")


def check_region(region: str | None) -> None:
    if not region:
        raise LaunchError("missing --region (or $AWS_REGION): e.g. us-east-1")


def check_instance(instance_type: str, count: int, example: str) -> None:
    if count < 1:
        raise LaunchError(f"--instance-count must be >= 1, got {count}")
    if not instance_type.startswith("ml."):
        raise LaunchError(f"--instance-type must be a SageMaker type like {example}, got {instance_type!r}")


def check_credentials(region: str) -> None:
    import boto3

    if boto3.Session(region_name=region).get_credentials() is None:
        raise LaunchError("no AWS credentials found: run `aws configure`, or set AWS_PROFILE or "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")


def split_s3_uri(uri: str, what: str) -> tuple[str, str]:
    """s3://bucket/key/prefix -> (bucket, 'key/prefix'); anything else is refused naming `what`."""
    m = _S3_URI.match(uri or "")
    if not m:
        raise LaunchError(f"{what} must be an S3 URI like s3://my-bucket/some/prefix, got {uri!r}")
    return m.group(1), (m.group(2) or "")


def stage_source(dest: Path) -> Path:
    """The code a job runs: the mmsa and training packages and the card template, copied from wherever they
    are installed (a checkout or site-packages), and nothing else."""
    import shutil

    import mmsa
    import training
    from training.card import template_path

    ignore = shutil.ignore_patterns(*SOURCE_IGNORE)
    for package in (mmsa, training):
        shutil.copytree(Path(package.__file__).parent, dest / package.__name__, ignore=ignore)
    (dest / "model_card").mkdir()
    shutil.copy(template_path(), dest / "model_card" / "template.md")
    return dest


def pytorch_image(region: str, version: str, instance_type: str, scope: str) -> str:
    """The AWS PyTorch container for this region and instance type (CPU or GPU build), training or inference."""
    from sagemaker.core import image_uris

    return image_uris.retrieve(framework="pytorch", region=region, version=version, py_version="py311",
                               instance_type=instance_type, image_scope=scope)
