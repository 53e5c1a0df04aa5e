"""The bundled starter model: small trained head weights shipped in the package, assembled at load time."""

from __future__ import annotations

from pathlib import Path

STARTER_DIR = Path(__file__).parent / "starter_model"


def starter_dir() -> Path:
    return STARTER_DIR


def starter_available() -> bool:
    return (STARTER_DIR / "config.json").is_file() and (STARTER_DIR / "model.safetensors").is_file()
