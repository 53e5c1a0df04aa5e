"""Analyse every video under an S3 prefix with a SageMaker Processing job, on as many instances as you like.

    python -m training.analyze_sagemaker s3://BUCKET/videos/ s3://BUCKET/results/ --model ID_OR_S3 \\
        --role ARN --region us-east-1 [--instance-type ml.c7i.2xlarge] [--instance-count N] [--wait]

The same code as `mmsa analyze` runs over the videos (mmsa.batch): one JSON per video at
RESULTS/<path under the videos prefix>.json, and a manifest (video, status, utterances, seconds, error). Videos whose
result already exists are left out of the job, so re-running finishes what an earlier run left. The videos to do
are listed in an S3 manifest file and shared out across instances by key (ShardedByS3Key). --model: a Hub id, a
starter name, or an s3:// model.tar.gz (what training jobs write). No token or secret goes into the job.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from training.sagemaker_common import (LaunchError, check_credentials, check_instance, check_region, check_role,
                                       pytorch_image, split_s3_uri, stage_source)

DEFAULT_INSTANCE = "ml.c7i.2xlarge"
FRAMEWORK_VERSION = "2.5"
CODE_DIR = "/opt/ml/processing/input/code"
REQUIREMENTS = "training/requirements-analysis.txt"
JOBS = "_jobs"  # under the results prefix: each job's video list and code
MANIFEST = "manifest.csv"
PARTS = "_manifest"  # each instance's manifest part, written by training.analyze_entry
RUN_SCRIPT = f"""set -e
cd {CODE_DIR}
pip install --quiet --no-cache-dir -r {REQUIREMENTS}
exec python training/analyze_entry.py
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.analyze_sagemaker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", help="s3:// prefix holding the videos (every object below it is analysed)")
    p.add_argument("results", help="s3:// prefix for the results (one JSON per video, manifest.csv)")
    p.add_argument("--model", default="starter", help="Hub id, starter name, or s3://.../model.tar.gz")
    p.add_argument("--role", default=os.environ.get("SAGEMAKER_ROLE"), help="execution role ARN ($SAGEMAKER_ROLE)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE, help="CPU instances suit the pipeline")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--volume-gb", type=int, default=100, help="disk per instance; its share of the videos must fit")
    p.add_argument("--max-runtime-hours", type=float, default=24.0)
    p.add_argument("--max-duration", type=float, default=None,
                   help="longest video analysed, seconds (default: the job's default, 600); longer ones are "
                        "reported as errors")
    p.add_argument("--spot", action="store_true", help="refused: Processing jobs have no spot capacity")
    p.add_argument("--job-name", default="mmsa-analyze", help="base job name")
    p.add_argument("--framework-version", default=FRAMEWORK_VERSION)
    p.add_argument("--wait", action="store_true", help="follow the job, then write the combined manifest.csv")
    return p


def validate(args: argparse.Namespace) -> tuple[tuple[str, str], tuple[str, str]]:
    """Everything checkable without a request; returns the (bucket, prefix) of videos and results."""
    if args.spot:
        raise LaunchError("--spot: SageMaker offers spot capacity to training jobs only, not to Processing jobs; "
                          "run without it (an ml.c7i.2xlarge costs about $0.36 an hour on demand)")
    check_role(args.role)
    check_region(args.region)
    check_instance(args.instance_type, args.instance_count, DEFAULT_INSTANCE)
    videos = split_s3_uri(args.videos, "the videos prefix")
    results = split_s3_uri(args.results, "the results prefix")
    norm = [(b, k.rstrip("/") + "/" if k else "") for b, k in (videos, results)]
    if norm[0][0] == norm[1][0] and (norm[1][1].startswith(norm[0][1]) or norm[0][1].startswith(norm[1][1])):
        raise LaunchError("the results prefix must not be inside the videos prefix (nor the other way round): "
                          "results would be analysed as videos")
    if args.model.startswith("s3://"):
        split_s3_uri(args.model, "--model")
        if not args.model.endswith(".tar.gz"):
            raise LaunchError(f"--model from S3 must be a model.tar.gz (what a training job writes), got {args.model!r}")
    elif not args.model.strip():
        raise LaunchError("--model is empty: give a Hub id, a starter name, or s3://.../model.tar.gz")
    if args.max_duration is not None and not (math.isfinite(args.max_duration) and args.max_duration > 0):
        raise LaunchError(f"--max-duration must be a number of seconds > 0, got {args.max_duration}")
    if args.max_runtime_hours <= 0 or args.max_runtime_hours > 120:
        raise LaunchError("--max-runtime-hours must be in (0, 120]: SageMaker stops Processing jobs at 5 days")
    check_credentials(args.region)
    return norm[0], norm[1]


def list_keys(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return keys


def pending_videos(s3, videos: tuple[str, str], results: tuple[str, str]) -> tuple[list[str], list[str]]:
    """(videos to analyse, videos already done), as paths relative to the videos prefix."""
    (vb, vp), (rb, rp) = videos, results
    done = {k[len(rp):-len(".json")] for k in list_keys(s3, rb, rp)
            if k.endswith(".json") and not k[len(rp):].startswith((JOBS + "/", PARTS + "/"))}
    all_videos = [k[len(vp):] for k in list_keys(s3, vb, vp)]
    rel = [v for v in all_videos if not any(part.startswith(".") for part in v.split("/"))]
    return [v for v in rel if v not in done], [v for v in rel if v in done]


def upload_folder(s3, folder: Path, bucket: str, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())


def processing_request(args: argparse.Namespace, job: str, videos: tuple[str, str], results: tuple[str, str],
                       image: str) -> dict:
    """The CreateProcessingJob request: videos by manifest file, sharded by key; code (and an S3 model) whole."""
    rb, rp = results
    jobs = f"s3://{rb}/{rp}{JOBS}/{job}"

    def s3_input(name: str, uri: str, local: str, data_type: str = "S3Prefix", sharded: bool = False) -> dict:
        return {"InputName": name, "S3Input": {
            "S3Uri": uri, "LocalPath": local, "S3DataType": data_type, "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key" if sharded else "FullyReplicated"}}

    inputs = [s3_input("videos", f"{jobs}/videos.manifest", "/opt/ml/processing/input/videos", "ManifestFile",
                       sharded=True),
              s3_input("code", f"{jobs}/code/", CODE_DIR)]
    environment = {"HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    if args.max_duration is not None:  # the entry point's Analyzer reads it (mmsa.settings)
        environment["MMSA_MAX_DURATION"] = f"{args.max_duration:g}"
    if args.model.startswith("s3://"):
        inputs.append(s3_input("model", args.model, "/opt/ml/processing/input/model"))
    else:
        environment["MMSA_MODEL"] = args.model
    return {
        "ProcessingJobName": job,
        "RoleArn": args.role,
        "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": ["bash", f"{CODE_DIR}/run.sh"]},
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "results", "S3Output": {
            "S3Uri": f"s3://{rb}/{rp.rstrip('/')}", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "Continuous"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": args.instance_count,
                                                  "InstanceType": args.instance_type,
                                                  "VolumeSizeInGB": args.volume_gb}},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(args.max_runtime_hours * 3600)},
        "Environment": environment,
    }


def combined_manifest(s3, results: tuple[str, str]) -> tuple[str, dict[str, int]]:
    """Every instance's manifest part (this run's and earlier runs') as one CSV, the newest row per video."""
    rb, rp = results
    latest: dict[str, dict] = {}
    for key in sorted(list_keys(s3, rb, f"{rp}{PARTS}/")):
        body = s3.get_object(Bucket=rb, Key=key)["Body"].read().decode("utf-8")
        for row in csv.DictReader(io.StringIO(body)):
            if row.get("status") != "skipped" or row.get("video") not in latest:
                latest[row["video"]] = row
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["video", "status", "utterances", "seconds", "error"],
                            extrasaction="ignore")
    writer.writeheader()
    for video in sorted(latest):
        writer.writerow(latest[video])
    counts: dict[str, int] = {}
    for row in latest.values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return buf.getvalue(), counts


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        videos, results = validate(args)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", region_name=args.region)
    sm = boto3.client("sagemaker", region_name=args.region)
    rb, rp = results
    try:
        todo, done = pending_videos(s3, videos, results)
        print(f"{len(todo) + len(done)} videos under s3://{videos[0]}/{videos[1]}: {len(done)} already have a "
              f"result, {len(todo)} to analyse")
        if not todo:
            print(f"nothing to do; results: s3://{rb}/{rp}")
            return 0
        job = f"{args.job_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        manifest = [{"prefix": f"s3://{videos[0]}/{videos[1]}"}, *todo]
        s3.put_object(Bucket=rb, Key=f"{rp}{JOBS}/{job}/videos.manifest", Body=json.dumps(manifest).encode())
        with tempfile.TemporaryDirectory(prefix="mmsa_source_") as tmp:
            source = stage_source(Path(tmp))
            (source / "run.sh").write_text(RUN_SCRIPT)
            upload_folder(s3, source, rb, f"{rp}{JOBS}/{job}/code/")
        image = pytorch_image(args.region, args.framework_version, args.instance_type, "training")
        sm.create_processing_job(**processing_request(args, job, videos, results, image))
    except (BotoCoreError, ClientError, ValueError) as e:
        print(f"error: the job could not be started: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"processing job: {job} ({args.instance_count} x {args.instance_type})")
    print(f"results: s3://{rb}/{rp} (one JSON per video, written as each finishes)")
    print(f"logs: CloudWatch log group /aws/sagemaker/ProcessingJobs, streams {job}/...")
    if not args.wait:
        print(f"when it ends: python -m training.analyze_sagemaker {args.videos} {args.results} --wait "
              f"(skips finished videos) writes s3://{rb}/{rp}{MANIFEST}")
        return 0
    status = wait_for(sm, s3, job, results, len(todo))
    text, counts = combined_manifest(s3, results)
    s3.put_object(Bucket=rb, Key=f"{rp}{MANIFEST}", Body=text.encode("utf-8"))
    print(f"job {status}; manifest: s3://{rb}/{rp}{MANIFEST} "
          f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})")
    return 0 if status == "Completed" else 1


def wait_for(sm, s3, job: str, results: tuple[str, str], total: int, poll_s: float = 30.0) -> str:
    """Poll the job, printing how many results have arrived, until it ends; returns its final status."""
    rb, rp = results
    while True:
        status = sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"]
        written = sum(1 for k in list_keys(s3, rb, rp) if k.endswith(".json") and f"/{JOBS}/" not in f"/{k}")
        print(f"  {status}: {written} results under the prefix ({total} in this job)", flush=True)
        if status in ("Completed", "Failed", "Stopped"):
            return status
        time.sleep(poll_s)


if __name__ == "__main__":
    sys.exit(main())
