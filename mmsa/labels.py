"""Label sets of MELD, in MELD's order, and name -> id lookup."""

from __future__ import annotations

# MELD's order: checkpoints trained on MELD index their heads this way.
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

TASKS: dict[str, tuple[str, ...]] = {"emotion": EMOTIONS, "sentiment": SENTIMENTS}


def label_id(task: str, name: str) -> int:
    """Id of a label name, case- and space-insensitive; raises ValueError listing the valid names."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    key = str(name).strip().lower()
    labels = TASKS[task]
    if key not in labels:
        raise ValueError(f"unknown {task} label {name!r}; expected one of {', '.join(labels)}")
    return labels.index(key)


def emotion_id(name: str) -> int:
    return label_id("emotion", name)


def sentiment_id(name: str) -> int:
    return label_id("sentiment", name)
