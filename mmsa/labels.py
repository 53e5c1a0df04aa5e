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

# The (emotion, sentiment) pairs MELD's annotation holds (train and dev: no other pair occurs). Every answer is
# one distribution over these, so the pair shown is always one a person could have been given (mmsa.fusion).
PAIRS: tuple[tuple[str, str], ...] = (
    ("anger", "negative"), ("disgust", "negative"), ("fear", "negative"), ("joy", "positive"),
    ("neutral", "neutral"), ("sadness", "negative"), ("surprise", "negative"), ("surprise", "positive"),
)
PAIR_NAMES: tuple[str, ...] = tuple(f"{e}/{s}" for e, s in PAIRS)
# emotion -> the sentiments it can go with, in SENTIMENTS order
SENTIMENTS_OF: dict[str, tuple[str, ...]] = {e: tuple(s for s in SENTIMENTS if (e, s) in PAIRS) for e in EMOTIONS}

# what people call each branch (modality names are the model's)
BRANCH_NAMES: dict[str, str] = {"text": "words", "audio": "voice", "video": "face"}
