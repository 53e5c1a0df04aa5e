"""Which model to use: an explicit id or folder, else MMSA_MODEL, else the bundled starter model."""

from __future__ import annotations

import os
from pathlib import Path


class ModelNotFoundError(FileNotFoundError):
    """No model could be found or loaded; the message says what to set."""


def default_model() -> str | None:
    """MMSA_MODEL if set, else the bundled starter model (assembled on first use), else None."""
    if os.environ.get("MMSA_MODEL"):
        return os.environ["MMSA_MODEL"]
    from .starter import assemble_starter, starter_available

    return str(assemble_starter()) if starter_available() else None


def load_model(name_or_dir: str | os.PathLike | None = None):
    """(model, display name). Raises ModelNotFoundError with what to set when nothing loads."""
    from .model import MultimodalSentimentModel

    target = str(name_or_dir) if name_or_dir else default_model()
    if not target:
        raise ModelNotFoundError(
            "no model configured: set MMSA_MODEL (or --model) to a Hub repo id or a model folder; "
            "`python -m mmsa init-model DIR --preset cpu` makes an untrained one for trying the pipeline"
        )
    path = Path(target).expanduser()
    looks_local = path.exists() or target.startswith((".", "/", "~")) or target.count("/") > 1
    if looks_local and not path.is_dir():
        raise ModelNotFoundError(f"model folder {target!r} does not exist")
    try:
        model = MultimodalSentimentModel.from_pretrained(str(path) if looks_local else target)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"could not load model {target!r}: {e}") from e
    name = target if not looks_local else path.resolve().name
    from .starter import STARTER_NAME

    if name.startswith(STARTER_NAME):
        name = STARTER_NAME  # not the cache folder's fingerprint
    return model, name
