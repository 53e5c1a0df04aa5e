"""Publish a model folder to the Hugging Face Hub: from a local folder, or from a SageMaker job's model.tar.gz.

    python -m training.push_to_hub --from-s3 s3://BUCKET/mmsa/output/JOB/output/model.tar.gz --repo-id ORG/NAME
    python -m training.push_to_hub --from-dir runs/text --repo-id ORG/NAME

The archive is unpacked safely (absolute paths, members escaping the folder, links and devices, too many
members, too many bytes and decompression bombs are refused), the folder must load with from_pretrained, and
then it is uploaded in one commit with its card. A folder without a card gets one in the commit; nothing is
written into the folder. Token: $HF_TOKEN (or, inside a SageMaker job, the secret named by MMSA_HF_TOKEN_SECRET).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

PUSH_PATTERNS = ["config.json", "model.safetensors", "tokenizer*", "vocab*", "special_tokens_map.json", "README.md",
                 "*.png", "metrics.json", "training_report.json"]
# environment variable of a SageMaker job that names the Secrets Manager secret holding the Hub token
TOKEN_SECRET_ENV = "MMSA_HF_TOKEN_SECRET"
# archive limits: far above a real model folder (a handful of files, a few GB of weights that barely compress),
# far below what an archive crafted to fill the disk unpacks to
MAX_MEMBERS = 1_000
MAX_TOTAL_BYTES = 32 * 1024**3
MAX_RATIO = 50  # unpacked bytes per archive byte, checked once more than RATIO_FLOOR_BYTES would be written
RATIO_FLOOR_BYTES = 256 * 1024**2


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, is not a plain file or folder, or the archive
    unpacks to more than the limits allow."""


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike, max_members: int = MAX_MEMBERS,
                 max_bytes: int = MAX_TOTAL_BYTES, max_ratio: float = MAX_RATIO,
                 ratio_floor: int = RATIO_FLOOR_BYTES) -> Path:
    """Unpack a tar(.gz) after checking every member and the totals; nothing is written if one check fails."""
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    name = Path(archive).name
    packed = max(Path(archive).stat().st_size, 1)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise UnsafeArchiveError(f"{name}: not a readable tar archive ({e})") from e
    with tar:
        members, total = [], 0
        try:
            for m in tar:  # streamed: a crafted archive is refused at the first member over a limit
                members.append(m)
                if len(members) > max_members:
                    raise UnsafeArchiveError(f"{name}: more than {max_members} members; a model folder has a "
                                             f"handful. Refusing")
                _check_member(name, m, target)
                total += m.size if m.isfile() else 0
                if total > max_bytes:
                    raise UnsafeArchiveError(f"{name}: unpacks to more than {max_bytes / 1024**3:.0f} GiB "
                                             f"(the limit); refusing")
                if total > ratio_floor and total / packed > max_ratio:
                    raise UnsafeArchiveError(f"{name}: unpacks to over {max_ratio:g} times its size "
                                             f"({packed} bytes -> more than {total} bytes), a decompression bomb; "
                                             f"refusing")
        except (tarfile.TarError, EOFError, OSError) as e:
            raise UnsafeArchiveError(f"{name}: damaged tar archive ({e})") from e
        tar.extractall(target, members=members, filter="data")
    return target


def _check_member(archive: str, m: tarfile.TarInfo, target: Path) -> None:
    path = PurePosixPath(m.name)
    if path.is_absolute() or ".." in path.parts or not (target / m.name).resolve().is_relative_to(target):
        raise UnsafeArchiveError(f"{archive}: member {m.name!r} escapes the target folder; refusing")
    if not (m.isfile() or m.isdir()):
        kind = "link" if (m.issym() or m.islnk()) else "device or special file"
        raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a {kind}; refusing")


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


def hub_token() -> str:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise ValueError("pushing needs a Hugging Face token with write access: set HF_TOKEN")
    return token


def push_folder(folder: str | os.PathLike, repo_id: str, private: bool = False,
                commit_message: str = "Upload mmsa model") -> str:
    """Check the folder loads, then create the repo if needed and upload the model files and a card in one
    commit (a card is rendered for a folder without README.md). Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from mmsa.model import MultimodalSentimentModel

    folder = Path(folder)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"--push-to-hub expects ORG/NAME, got {repo_id!r}")
    model = MultimodalSentimentModel.from_pretrained(str(folder))  # never publish a folder that does not load
    files = sorted(p for p in folder.iterdir() if p.is_file() and any(fnmatch.fnmatch(p.name, pat)
                                                                      for pat in PUSH_PATTERNS))
    operations = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in files]
    if not (folder / "README.md").is_file():  # a job without a card still publishes an honest one
        from .card import render_card

        card = str(render_card(model, repo_id=repo_id)).encode("utf-8")
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card))
    api = HfApi(token=hub_token())
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                             commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.push_to_hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-s3", help="s3:// URI of a SageMaker model.tar.gz")
    src.add_argument("--from-dir", help="a local model folder")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="mmsa_push_") as tmp:
            if args.from_s3:
                archive = fetch_s3(args.from_s3, Path(tmp))
                folder = safe_extract(archive, Path(tmp) / "model")
            else:
                folder = Path(args.from_dir)
                if not folder.is_dir():
                    raise ValueError(f"--from-dir {folder}: no such folder")
            url = push_folder(folder, args.repo_id, private=args.private)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the Hub's HTTP errors: one line, never the token
        print(f"error: the push failed ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    print(f"pushed {args.repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
