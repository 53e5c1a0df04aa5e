"""Result dataclasses. Their to_dict() is the JSON contract shared by the app, the CLI and API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .face_tracks import link_speakers
from .labels import EMOTIONS, PAIR_NAMES, SENTIMENTS, SENTIMENTS_OF, pairs_of_class


def _round(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in scores.items()}


def _top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.get)


@dataclass
class Word:
    """One recognised word and when it was said (the recogniser's word timestamps)."""

    start: float
    end: float
    text: str


@dataclass
class Span:
    """A stretch of the video to classify; text is empty where nothing was said. words, when the recogniser gave
    them, time the text word by word: sentences and long spans are cut at real word boundaries."""

    start: float
    end: float
    text: str = ""
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None  # set by mmsa.speakers
    # how clearly the recogniser heard the text, in (0, 1]: exp of its mean log-probability per token over the
    # segment(s) the span comes from; None where nothing was recognised (what the words' familiarity reads)
    heard: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


FAMILIAR = 0.5  # a branch whose familiarity with an input is below this says "unfamiliar"


@dataclass
class Prediction:
    """Emotion and sentiment probabilities, and the pair of labels they pick: the fused result of an utterance,
    one branch's own answer, or a whole video's summary.

    The labels are always a pair MELD allows (labels.PAIRS): the most probable emotion, then the most probable
    sentiment that emotion can go with (by pair_scores when known). A branch's own answer also carries the weight
    it got in the fused answer and how familiar the input was to it."""

    emotion_scores: dict[str, float]  # 7 MELD emotions -> probability
    sentiment_scores: dict[str, float]  # negative/neutral/positive -> probability
    pair_scores: dict[str, float] | None = None  # "joy/positive" -> probability, over labels.PAIRS
    weight: float | None = None  # a branch's weight in this utterance's fused answer (weight x familiarity)
    familiarity: float | None = None  # a branch's familiarity with this input, in [0, 1]
    # a branch that answers in its own classes (labels.CLASS_SETS, the voice's "voice4"): class -> probability
    class_scores: dict[str, float] | None = None

    @property
    def emotion(self) -> str:
        if self.class_scores:  # a coarse branch: the emotion of its top pair within its top class
            return self._class_pair[0]
        return _top(self.emotion_scores)

    @property
    def _class_pair(self) -> tuple[str, str]:
        """(emotion, sentiment) of the most probable pair the top class stands for (the first on a tie)."""
        members = pairs_of_class(tuple(self.class_scores), self.label)
        best = max(members, key=lambda p: (self.pair_scores or {}).get(p, 0.0))
        emotion, sentiment = best.split("/")
        return emotion, sentiment

    @property
    def sentiment(self) -> str:
        if self.class_scores:  # every pair of a class shares its sentiment (labels.CLASS_SETS)
            return self._class_pair[1]
        allowed = SENTIMENTS_OF[self.emotion]
        if self.pair_scores:
            return max(allowed, key=lambda s: self.pair_scores.get(f"{self.emotion}/{s}", 0.0))
        return max(allowed, key=lambda s: self.sentiment_scores.get(s, 0.0))

    @property
    def label(self) -> str:
        """What the branch itself answered: its top class where it has its own classes, else the pair."""
        return _top(self.class_scores) if self.class_scores else f"{self.emotion}/{self.sentiment}"

    @property
    def familiar(self) -> bool | None:
        return None if self.familiarity is None else self.familiarity >= FAMILIAR

    @property
    def counted(self) -> bool:
        """Whether this (branch) answer had any say in the fused one."""
        return self.weight is None or self.weight > 0

    @property
    def emotion_confidence(self) -> float:
        return float(self.emotion_scores[self.emotion])

    @property
    def sentiment_confidence(self) -> float:
        return float(self.sentiment_scores[self.sentiment])

    @classmethod
    def from_probabilities(cls, emotion: list[float], sentiment: list[float], pairs: list[float] | None = None,
                           weight: float | None = None, familiarity: float | None = None,
                           classes: dict[str, float] | None = None) -> "Prediction":
        return cls(dict(zip(EMOTIONS, map(float, emotion))), dict(zip(SENTIMENTS, map(float, sentiment))),
                   dict(zip(PAIR_NAMES, map(float, pairs))) if pairs is not None else None,
                   None if weight is None else float(weight), None if familiarity is None else float(familiarity),
                   {k: float(v) for k, v in classes.items()} if classes else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Prediction":
        pairs = data.get("pair_scores")
        classes = data.get("class_scores")
        return cls(dict(data["emotion_scores"]), dict(data["sentiment_scores"]), dict(pairs) if pairs else None,
                   data.get("weight"), data.get("familiarity"), dict(classes) if classes else None)

    def to_dict(self) -> dict[str, Any]:
        out = {"emotion": self.emotion, "emotion_scores": _round(self.emotion_scores),
               "sentiment": self.sentiment, "sentiment_scores": _round(self.sentiment_scores)}
        if self.pair_scores is not None:
            out["pair_scores"] = _round(self.pair_scores)
        if self.weight is not None:
            out["weight"] = round(self.weight, 4)
        if self.familiarity is not None:
            out.update(familiarity=round(self.familiarity, 4), familiar=self.familiar)
        if self.class_scores:
            out.update(label=self.label, class_scores=_round(self.class_scores))
        return out


@dataclass
class UtteranceResult:
    start: float  # seconds from the start of the file
    end: float
    text: str  # transcript; empty where nothing was said
    prediction: Prediction  # the fused answer
    modalities: list[str]  # branches that had input for this utterance
    by_modality: dict[str, Prediction] = field(default_factory=dict)  # each branch's own answer
    speaker: str | None = None  # S1, S2, ... in order of first appearance; None where nobody speaks
    face_track: str | None = None  # F1, F2, ...: where on screen the face the face branch read was
    # the face crop the face branch read (grayscale, middle sampled frame); for display, not in the JSON contract
    face: Any = field(default=None, repr=False, compare=False)

    @property
    def emotion(self) -> str:
        return self.prediction.emotion

    @property
    def sentiment(self) -> str:
        return self.prediction.sentiment

    @property
    def disagreements(self) -> list[str]:
        """Human-readable notes where two branches' own sentiments or emotions differ, e.g. words vs voice."""
        notes = []
        counted = {m: p for m, p in self.by_modality.items() if p.counted}  # a branch not counted did not disagree
        for task in ("sentiment", "emotion"):
            # a branch with its own coarse classes (the voice) names no single emotion, so it only has a sentiment
            said = {m: getattr(p, task) for m, p in counted.items() if task == "sentiment" or not p.class_scores}
            if len(set(said.values())) > 1:
                notes.append(f"{task}: " + ", ".join(f"{m} says {v}" for m, v in said.items()))
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker,
            "face_track": self.face_track, "text": self.text,
            **self.prediction.to_dict(),
            "modalities": list(self.modalities),
            "by_modality": {m: p.to_dict() for m, p in self.by_modality.items()},
            "disagreements": self.disagreements,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UtteranceResult":
        return cls(float(data["start"]), float(data["end"]), data["text"], Prediction.from_dict(data),
                   list(data["modalities"]),
                   {m: Prediction.from_dict(p) for m, p in data.get("by_modality", {}).items()}, data.get("speaker"),
                   data.get("face_track"))


def summarize(utterances: list[UtteranceResult]) -> Prediction:
    """Scores averaged over utterances, weighted by each one's duration (uniform when there are none)."""
    weights = [max(u.end - u.start, 1e-3) for u in utterances]
    total = sum(weights) or 1.0

    def mean(task: str, labels: tuple[str, ...]) -> dict[str, float]:
        if not utterances:
            return {label: 1.0 / len(labels) for label in labels}
        return {label: sum(w * getattr(u.prediction, f"{task}_scores")[label] for u, w in zip(utterances, weights))
                / total for label in labels}

    pairs = None
    if utterances and all(u.prediction.pair_scores for u in utterances):
        pairs = {name: sum(w * u.prediction.pair_scores[name] for u, w in zip(utterances, weights)) / total
                 for name in PAIR_NAMES}
    return Prediction(mean("emotion", EMOTIONS), mean("sentiment", SENTIMENTS), pairs)


@dataclass
class SpeakerSummary:
    speaker: str  # S1, S2, ...
    seconds: float  # how long they spoke
    prediction: Prediction  # their utterances' scores, weighted by duration
    face_track: str | None = None  # the face on screen during their turns, only when that is unambiguous

    def to_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "seconds": round(self.seconds, 3), "face_track": self.face_track,
                **self.prediction.to_dict()}


def summarize_speakers(utterances: list[UtteranceResult]) -> list[SpeakerSummary]:
    """One summary per speaker, in order of first appearance."""
    order = list(dict.fromkeys(u.speaker for u in utterances if u.speaker))
    faces = link_speakers([u.speaker for u in utterances], [u.face_track for u in utterances])
    out = []
    for name in order:
        theirs = [u for u in utterances if u.speaker == name]
        out.append(SpeakerSummary(name, sum(u.end - u.start for u in theirs), summarize(theirs), faces.get(name)))
    return out


@dataclass
class Analysis:
    model: str  # which model produced this (Hub id, folder name or preset)
    duration: float  # seconds
    utterances: list[UtteranceResult]
    summary: Prediction  # duration-weighted over the utterances
    timings: dict[str, float]  # stage -> seconds
    source: str = ""  # file name
    asr: str = ""  # speech recogniser used
    modalities: list[str] = field(default_factory=list)  # branches used anywhere in this file
    warnings: list[str] = field(default_factory=list)  # e.g. "no speech found: fixed 5 s windows"

    @property
    def speakers(self) -> list[SpeakerSummary]:
        return summarize_speakers(self.utterances)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Analysis":
        """Rebuild from to_dict()'s output (e.g. an API answer), for exports and views."""
        us = [UtteranceResult.from_dict(u) for u in data["utterances"]]
        return cls(data["model"], float(data["duration"]), us, summarize(us), data.get("timings", {}),
                   data.get("source", ""), data.get("asr", ""), data.get("modalities", []), data.get("warnings", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "duration": round(self.duration, 3), "source": self.source, "asr": self.asr,
            "modalities": list(self.modalities), "warnings": list(self.warnings),
            "utterances": [u.to_dict() for u in self.utterances],
            "summary": {**self.summary.to_dict(), "speakers": [s.to_dict() for s in self.speakers]},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
