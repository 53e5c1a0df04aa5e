"""mmsa: per-utterance emotion and sentiment from a video's words, voice and picture.

Light on import: torch and transformers load here, but gradio, faster-whisper, accelerate, sagemaker and boto3
only where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .labels import EMOTIONS, SENTIMENTS

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "SENTIMENTS", "ModelConfig", "MultimodalSentimentModel", "Analyzer", "Analysis", "__version__"]

if TYPE_CHECKING:
    from .analyze import Analysis, Analyzer
    from .config import ModelConfig
    from .model import MultimodalSentimentModel

_LAZY = {"ModelConfig": "config", "MultimodalSentimentModel": "model", "Analyzer": "analyze", "Analysis": "results"}


def __getattr__(name: str) -> Any:
    # torch-heavy names load on first use so `import mmsa` (and `python -m mmsa --help`) stays fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'mmsa' has no attribute {name!r}")
