"""Result dataclasses. Their to_dict() is the JSON contract shared by the app, the CLI and API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .labels import EMOTIONS, SENTIMENTS


def _round(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in scores.items()}


def top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.get)


@dataclass
class UtteranceResult:
    start: float  # seconds from the start of the file
    end: float
    text: str  # transcript; empty where nothing was said
    emotion_scores: dict[str, float]  # 7 MELD emotions -> probability
    sentiment_scores: dict[str, float]  # negative/neutral/positive -> probability
    modalities: list[str]  # branches that had input for this utterance
    by_modality: dict[str, dict[str, Any]] = field(default_factory=dict)  # each branch's own prediction

    @property
    def emotion(self) -> str:
        return top(self.emotion_scores)

    @property
    def sentiment(self) -> str:
        return top(self.sentiment_scores)

    @property
    def disagreements(self) -> list[str]:
        """Human-readable notes where two branches' own sentiments or emotions differ, e.g. words vs voice."""
        notes = []
        mods = list(self.by_modality)
        for task in ("sentiment", "emotion"):
            said = {m: self.by_modality[m][task] for m in mods}
            if len(set(said.values())) > 1:
                notes.append(f"{task}: " + ", ".join(f"{m} says {v}" for m, v in said.items()))
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
            "emotion": self.emotion, "emotion_scores": _round(self.emotion_scores),
            "sentiment": self.sentiment, "sentiment_scores": _round(self.sentiment_scores),
            "modalities": list(self.modalities),
            "by_modality": {m: {"emotion": v["emotion"], "emotion_scores": _round(v["emotion_scores"]),
                                "sentiment": v["sentiment"], "sentiment_scores": _round(v["sentiment_scores"])}
                            for m, v in self.by_modality.items()},
            "disagreements": self.disagreements,
        }


@dataclass
class Summary:
    emotion_scores: dict[str, float]
    sentiment_scores: dict[str, float]

    @classmethod
    def of(cls, utterances: list[UtteranceResult]) -> "Summary":
        """Scores averaged over utterances, weighted by each one's duration."""
        weights = [max(u.end - u.start, 1e-3) for u in utterances]
        total = sum(weights) or 1.0

        def mean(key: str, labels: tuple[str, ...]) -> dict[str, float]:
            if not utterances:
                return {label: 1.0 / len(labels) for label in labels}
            return {label: sum(w * getattr(u, key)[label] for u, w in zip(utterances, weights)) / total
                    for label in labels}

        return cls(mean("emotion_scores", EMOTIONS), mean("sentiment_scores", SENTIMENTS))

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": top(self.emotion_scores), "emotion_scores": _round(self.emotion_scores),
                "sentiment": top(self.sentiment_scores), "sentiment_scores": _round(self.sentiment_scores)}


@dataclass
class Analysis:
    model: str  # which model produced this (Hub id, folder name or preset)
    duration: float  # seconds
    utterances: list[UtteranceResult]
    summary: Summary
    timings: dict[str, float]  # stage -> seconds
    source: str = ""  # file name
    asr: str = ""  # speech recogniser used
    modalities: list[str] = field(default_factory=list)  # branches used anywhere in this file
    warnings: list[str] = field(default_factory=list)  # e.g. "no speech found: fixed 5 s windows"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Analysis":
        """Rebuild from to_dict()'s output (e.g. an API answer), for exports and views."""
        us = [UtteranceResult(u["start"], u["end"], u["text"], u["emotion_scores"], u["sentiment_scores"],
                              u["modalities"], u.get("by_modality", {})) for u in data["utterances"]]
        return cls(data["model"], data["duration"], us, Summary.of(us), data.get("timings", {}),
                   data.get("source", ""), data.get("asr", ""), data.get("modalities", []), data.get("warnings", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "duration": round(self.duration, 3), "source": self.source, "asr": self.asr,
            "modalities": list(self.modalities), "warnings": list(self.warnings),
            "utterances": [u.to_dict() for u in self.utterances],
            "summary": self.summary.to_dict(),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
