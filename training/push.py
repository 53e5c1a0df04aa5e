"""Publish a model folder (weights, config, tokenizer, card, images, metrics) to the Hugging Face Hub."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import HfApi

logger = logging.getLogger("mmsa.training")
PUSH_PATTERNS = ["config.json", "model.safetensors", "tokenizer*", "vocab*", "special_tokens_map.json", "README.md",
                 "*.png", "metrics.json", "training_report.json"]


def hub_token() -> str:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise ValueError("pushing needs a Hugging Face token with write access: set HF_TOKEN")
    return token


def push_folder(folder: str | os.PathLike, repo_id: str, private: bool = False,
                commit_message: str = "Upload mmsa model") -> str:
    """Check the folder loads, then create the repo if needed and upload the model files. Returns the commit URL."""
    from mmsa.model import MultimodalSentimentModel

    folder = Path(folder)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"--push-to-hub expects ORG/NAME, got {repo_id!r}")
    MultimodalSentimentModel.from_pretrained(str(folder))  # never publish a folder that does not load
    api = HfApi(token=hub_token())
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                             allow_patterns=PUSH_PATTERNS, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
