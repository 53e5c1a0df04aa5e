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

# Coarser label sets a branch may answer in instead of the 7 emotions (ModelConfig.branch_classes). Each class
# stands for the pairs it names, which partition labels.PAIRS; its probability is split evenly over them
# (mmsa.fusion), so the branch adds no prior of its own. "voice4": what a voice carries across speakers,
# languages and studios is arousal and valence, not anger vs fear vs disgust (training.voice measures this
# leave-one-corpus-out), so the voice answers in four classes.
CLASS_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "voice4": {
        "negative, aroused": ("anger/negative", "disgust/negative", "fear/negative", "surprise/negative"),
        "negative, subdued": ("sadness/negative",),
        "positive": ("joy/positive", "surprise/positive"),
        "neutral": ("neutral/neutral",),
    },
}
# the class an acted emotion label trains, per class set (surprise is acted as pleasant surprise in RAVDESS)
CLASS_OF_EMOTION: dict[str, dict[str, str]] = {
    "voice4": {"anger": "negative, aroused", "disgust": "negative, aroused", "fear": "negative, aroused",
               "sadness": "negative, subdued", "joy": "positive", "surprise": "positive", "neutral": "neutral"},
}
for _name, _classes in CLASS_SETS.items():  # import-time invariants: a partition of the pairs, one sentiment a class
    assert sorted(p for ps in _classes.values() for p in ps) == sorted(PAIR_NAMES), _name
    assert all(len({p.split("/")[1] for p in ps}) == 1 for ps in _classes.values()), _name


def pairs_of_class(classes: tuple[str, ...], name: str) -> tuple[str, ...]:
    """The pairs a class stands for, in PAIRS order, given the class names of its set."""
    for members in CLASS_SETS.values():
        if tuple(members) == tuple(classes):
            return tuple(p for p in PAIR_NAMES if p in members[name])
    raise ValueError(f"no class set has the classes {', '.join(classes)}")


def class_names(class_set: str | None) -> tuple[str, ...]:
    """The labels a branch answers in: the 7 emotions, or a class set's classes."""
    return tuple(CLASS_SETS[class_set]) if class_set else EMOTIONS
