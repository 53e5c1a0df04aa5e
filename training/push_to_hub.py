"""Push a trained model to the Hub: from a local folder, or from a SageMaker job's model.tar.gz on S3.

    python -m training.push_to_hub --from-s3 s3://BUCKET/mmsa/output/JOB/output/model.tar.gz --repo-id ORG/NAME
    python -m training.push_to_hub --from-dir runs/text --repo-id ORG/NAME

The archive is unpacked safely (absolute paths, members escaping the folder, links and devices are refused),
the folder must load with from_pretrained, and then it is uploaded with its card. Token: $HF_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is not a plain file or folder."""


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Unpack a tar(.gz) after checking every member; nothing is written if one member is unsafe."""
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise UnsafeArchiveError(f"{archive}: not a readable tar archive ({e})") from e
    with tar:
        members = tar.getmembers()
        for m in members:
            name = PurePosixPath(m.name)
            if name.is_absolute() or ".." in name.parts:
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} escapes the target folder; refusing")
            if not (m.isfile() or m.isdir()):
                kind = "link" if (m.issym() or m.islnk()) else "device or special file"
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a {kind}; refusing")
            if not (target / m.name).resolve().is_relative_to(target):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} escapes the target folder; refusing")
        tar.extractall(target, members=members, filter="data")
    return target


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri.endswith("/"):
        raise ValueError(f"expected s3://BUCKET/KEY/model.tar.gz, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def fetch_s3(uri: str, dest: Path) -> Path:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(uri)
    path = dest / Path(key).name
    try:
        boto3.client("s3").download_file(bucket, key, str(path))
    except (BotoCoreError, ClientError) as e:
        raise ValueError(f"could not download {uri}: {e}") from e
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.push_to_hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-s3", help="s3:// URI of a SageMaker model.tar.gz")
    src.add_argument("--from-dir", help="a local model folder")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    from .card import write_card
    from .push import push_folder

    try:
        with tempfile.TemporaryDirectory(prefix="mmsa_push_") as tmp:
            if args.from_s3:
                archive = fetch_s3(args.from_s3, Path(tmp))
                folder = safe_extract(archive, Path(tmp) / "model")
            else:
                folder = Path(args.from_dir)
                if not folder.is_dir():
                    raise ValueError(f"--from-dir {folder}: no such folder")
            if not (folder / "README.md").is_file():  # a job without a card still publishes an honest one
                from mmsa.model import MultimodalSentimentModel

                write_card(MultimodalSentimentModel.from_pretrained(str(folder)), folder, repo_id=args.repo_id)
            url = push_folder(folder, args.repo_id, private=args.private)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"pushed {args.repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
