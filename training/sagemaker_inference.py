"""The handler the SageMaker PyTorch inference container calls (real-time, serverless and asynchronous endpoints).

Requests: the video's bytes (Content-Type video/*, audio/* or application/octet-stream), or JSON
{"s3_uri": "s3://bucket/key"} for a video already in S3 (real-time requests are capped at 6 MB, so larger videos go
this way or through an asynchronous endpoint). Answer: the JSON contract of `mmsa analyze`. A file that is not a
usable video is answered with an error that names the problem, never a server path.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

MAX_S3_BYTES = 2 * 1024 ** 3  # a video fetched by URI: bounded like an upload to the app
BYTE_TYPES = ("video/", "audio/", "application/octet-stream")
SUFFIXES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
            "video/x-msvideo": ".avi", "video/x-flv": ".flv", "audio/wav": ".wav", "audio/x-wav": ".wav",
            "audio/mpeg": ".mp3", "audio/ogg": ".ogg"}


def model_fn(model_dir: str):
    """The analyzer: the model in model_dir (from ModelDataUrl's model.tar.gz), else $MMSA_MODEL, else the
    bundled starter."""
    from mmsa.analyze import Analyzer

    folder = Path(model_dir)
    return Analyzer(str(folder) if (folder / "config.json").is_file() else None)


def _staging_file(suffix: str) -> Path:
    # a fresh folder per request and a plain name: error messages then say "upload.mp4", not a server path
    return Path(tempfile.mkdtemp(prefix="mmsa_request_")) / f"upload{suffix}"


def _from_s3(uri: str) -> Path:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from training.sagemaker_common import LaunchError, split_s3_uri

    try:
        bucket, key = split_s3_uri(uri, "s3_uri")
    except LaunchError as e:
        raise ValueError(str(e)) from None
    s3 = boto3.client("s3")
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > MAX_S3_BYTES:
            raise ValueError(f"the video at s3_uri is {size / 1024 ** 3:.1f} GB; the limit is "
                             f"{MAX_S3_BYTES / 1024 ** 3:.0f} GB")
        path = _staging_file(Path(key).suffix.lower()[:8])
        s3.download_file(bucket, key, str(path))
    except (BotoCoreError, ClientError) as e:
        raise ValueError(f"could not read s3_uri {uri!r} with the endpoint's role: {e}") from None
    return path


def input_fn(request_body: bytes | str, content_type: str) -> Path:
    """The request as a local file for the pipeline."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            payload = json.loads(request_body)
            uri = payload["s3_uri"]
        except (ValueError, TypeError, KeyError):
            raise ValueError('a JSON request must be {"s3_uri": "s3://bucket/key"}') from None
        return _from_s3(str(uri))
    if not kind.startswith(BYTE_TYPES):
        raise ValueError(f"unsupported content type {content_type!r}: send the video's bytes as video/*, audio/* "
                         f'or application/octet-stream, or JSON {{"s3_uri": "s3://..."}}')
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body)
    if not body:
        raise ValueError("the request is empty: send the video's bytes")
    path = _staging_file(SUFFIXES.get(kind, ".bin"))
    path.write_bytes(body)
    return path


def predict_fn(path: Path, analyzer) -> dict:
    """The analysis of one request's video; its staging folder is removed whatever happens."""
    try:
        analysis = analyzer.analyze(path)
        return analysis.to_dict()
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def output_fn(prediction: dict, accept: str | None) -> str:
    kind = (accept or "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "*/*", ""):
        raise ValueError(f"unsupported Accept {accept!r}: the answer is application/json")
    return json.dumps(prediction, ensure_ascii=False)
