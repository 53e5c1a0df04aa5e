"""Every environment variable mmsa reads, in one place, with its default and what it means.

The app, the CLI, the library and training read their settings through `Settings.from_env()`, so a default is
written once, a bad value is refused with the variable named, and the README's table is made from `VARIABLES`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# no public repository exists yet: the Hub mixin and the model card link to a project page only when one is set
PROJECT_URL_VARIABLE = "MMSA_PROJECT_URL"

# name -> (default shown to people, meaning); the order is the README's order
VARIABLES: dict[str, tuple[str, str]] = {
    "MMSA_MODEL": ("the bundled starter model", "model to use: a Hub repo id or a model folder"),
    "MMSA_ASR": ("the packaged faster-whisper tiny.en",
                 "speech recogniser: a faster-whisper name (base.en, small.en, distil-small.en, ...), a Hub repo id "
                 "or a CTranslate2 folder"),
    "MMSA_MAX_DURATION": ("600", "longest file accepted, in seconds"),
    "MMSA_MAX_FILE_SIZE": ("500mb", "largest upload the app accepts (Gradio size string)"),
    "MMSA_TIME_LIMIT": ("900", "seconds one analysis may run in the app before it is stopped"),
    "MMSA_QUEUE_SIZE": ("16", "requests that may wait in the app's queue; more are turned away"),
    "MMSA_MCP": ("0", "1 serves the analysis as an MCP tool as well"),
    "MMSA_FACE_DETECTOR": ("mediapipe", "face detector: mediapipe (MediaPipe's BlazeFace, packaged: finds turned, dim "
                           "and small faces and levels the eyes) or haar (OpenCV's frontal-face cascade)"),
    "MMSA_CACHE_DIR": ("~/.cache/mmsa", "one cache root: the assembled starter model and training's feature cache"),
    PROJECT_URL_VARIABLE: ("none", "project home page, written into the Hub metadata and model cards"),
}


class SettingsError(ValueError):
    """An environment variable holds a value mmsa cannot use; the message names it and the expected form."""


def _number(name: str, default: float, integer: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind}; unset it or give e.g. {name}={int(default)}") from None
    if not (value > 0 and math.isfinite(value)):
        raise SettingsError(f"{name} must be > 0 and finite, got {raw!r}")
    return value


_FILE_SIZE = re.compile(r"\s*([1-9][0-9]*)\s*(b|kb|mb|gb|tb)\s*", re.IGNORECASE)  # what Gradio's launch() reads


def _file_size(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    match = _FILE_SIZE.fullmatch(raw)
    if match is None:
        raise SettingsError(f"{name}={raw!r} is not a file size; give a whole number and a unit (b, kb, mb, gb, "
                            f"tb), e.g. {name}={default}")
    return f"{match.group(1)}{match.group(2).lower()}"


def _folder(name: str, default: Path) -> Path:
    raw = os.environ.get(name, "").strip()
    path = Path(raw).expanduser() if raw else default
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name}={raw!r} is not a folder; give a folder mmsa may write to, e.g. "
                            f"{name}=~/.cache/mmsa")
    return path


FACE_DETECTORS = ("mediapipe", "haar")


def face_detector() -> str:
    """MMSA_FACE_DETECTOR, checked: read on its own, so a library call that detects faces is not refused for
    another variable's sake."""
    raw = os.environ.get("MMSA_FACE_DETECTOR", "").strip().lower() or FACE_DETECTORS[0]
    if raw not in FACE_DETECTORS:
        raise SettingsError(f"MMSA_FACE_DETECTOR={raw!r} is not a face detector: use one of "
                            f"{', '.join(FACE_DETECTORS)}")
    return raw


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the bundled starter
    asr: str | None = None  # None: the packaged tiny.en
    max_duration: float = 600.0  # 10 minutes keeps one analysis bounded on a 2-core box
    max_file_size: str = "500mb"
    time_limit: float = 900.0
    queue_size: int = 16
    mcp: bool = False
    face_detector: str = "mediapipe"
    cache_dir: Path = Path.home() / ".cache" / "mmsa"
    project_url: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        """Read the environment now (not at import), so tests and launchers can set variables first."""
        url = os.environ.get(PROJECT_URL_VARIABLE, "").strip() or None
        if url is not None and not url.startswith(("https://", "http://")):
            raise SettingsError(f"{PROJECT_URL_VARIABLE}={url!r} must be an http(s) URL")
        return cls(
            model=os.environ.get("MMSA_MODEL", "").strip() or None,
            asr=os.environ.get("MMSA_ASR", "").strip() or None,
            max_duration=_number("MMSA_MAX_DURATION", cls.max_duration),
            max_file_size=_file_size("MMSA_MAX_FILE_SIZE", cls.max_file_size),
            time_limit=_number("MMSA_TIME_LIMIT", cls.time_limit),
            queue_size=int(_number("MMSA_QUEUE_SIZE", cls.queue_size, integer=True)),
            mcp=_flag("MMSA_MCP"),
            face_detector=face_detector(),
            cache_dir=_folder("MMSA_CACHE_DIR", cls.cache_dir),
            project_url=url,
        )


def project_url() -> str | None:
    """The project's home page if one is configured; never an invented address."""
    url = os.environ.get(PROJECT_URL_VARIABLE, "").strip()
    return url if url.startswith(("https://", "http://")) else None


def markdown_table() -> str:
    """The README's settings table, made from VARIABLES."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {default} | {meaning} |" for name, (default, meaning) in VARIABLES.items()]
    return "\n".join(rows)
