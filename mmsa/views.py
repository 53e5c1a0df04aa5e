"""What the app shows, built from an Analysis (no Gradio here): plot, coloured transcript, tables."""

from __future__ import annotations

from typing import Any

from .config import MODALITIES
from .labels import BRANCH_NAMES, EMOTIONS
from .results import Analysis

# one colour per emotion, shared by the plot and the coloured transcript
EMOTION_COLORS: dict[str, str] = {
    "anger": "#e5484d", "disgust": "#8e4ec6", "fear": "#f76b15", "joy": "#ffc53d",
    "neutral": "#8b8d98", "sadness": "#0090ff", "surprise": "#30a46c",
}
SENTIMENT_COLORS: dict[str, str] = {"negative": "#e5484d", "neutral": "#8b8d98", "positive": "#30a46c"}
UTTERANCE_HEADERS = ["time", "emotion", "sentiment", "text", "read from"]
# what people call each branch on the page


def clock(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def speaker_names(analysis: Analysis) -> list[str]:
    """The speakers told apart, in order of first appearance; one name or none means nothing to split."""
    return list(dict.fromkeys(u.speaker for u in analysis.utterances if u.speaker))


def _who(analysis: Analysis):
    """A function prefixing "S2: " to an utterance's text when several people speak (else the text as is)."""
    several = len(speaker_names(analysis)) > 1
    return lambda u, text: f"{u.speaker}: {text}" if several and u.speaker else text


SPEAKER_HEADERS = ["speaker", "spoke for", "emotion", "sentiment", "emotions (share of their time)"]


def speaker_rows(analysis: Analysis) -> list[list[Any]]:
    """One row per speaker: time spoken and their duration-weighted emotion and sentiment."""
    rows = []
    for s in analysis.speakers:
        p = s.prediction
        top = sorted(p.emotion_scores.items(), key=lambda kv: -kv[1])[:3]
        rows.append([s.speaker, clock(s.seconds), f"{p.emotion} {p.emotion_confidence:.0%}",
                     f"{p.sentiment} {p.sentiment_confidence:.0%}", ", ".join(f"{e} {v:.0%}" for e, v in top)])
    return rows


def overall_labels(analysis: Analysis) -> tuple[dict[str, float], dict[str, float]]:
    """Summary scores for two gr.Label components."""
    return dict(analysis.summary.emotion_scores), dict(analysis.summary.sentiment_scores)


def highlighted_transcript(analysis: Analysis) -> list[tuple[str, str | None]]:
    """(text, emotion) pieces for gr.HighlightedText; silent spans read as a bracketed time range."""
    pieces: list[tuple[str, str | None]] = []
    who = _who(analysis)
    for u in analysis.utterances:
        text = who(u, u.text) if u.text else f"[no speech {clock(u.start)}–{clock(u.end)}]"
        pieces.append((text, u.emotion))
        pieces.append((" ", None))
    return pieces[:-1]


def utterance_rows(analysis: Analysis) -> list[list[Any]]:
    """Rows for the utterance table, labels first so they stay in view on a narrow page:
    time span, emotion (confidence), sentiment (confidence), text, the branches that had input."""
    rows = []
    who = _who(analysis)
    for u in analysis.utterances:
        p = u.prediction
        rows.append([
            f"{clock(u.start)}–{clock(u.end)}", f"{p.emotion} {p.emotion_confidence:.0%}",
            f"{p.sentiment} {p.sentiment_confidence:.0%}", who(u, u.text) if u.text else "—",
            " + ".join(BRANCH_NAMES.get(m, m) for m in u.modalities) or "none",
        ])
    return rows


def _said(p) -> str:
    return f"{p.emotion} {p.emotion_confidence:.0%} / {p.sentiment} {p.sentiment_confidence:.0%}"


def _branch_said(p, modality: str = "") -> str:
    """A branch's own answer (in its own classes where it has them), and the say it had in the fused one: its
    weight, or that it was not counted (and why: an unfamiliar input; for the words, heard unclearly; for the voice,
    also a speaker whose pitch did not move, or could not be seen to, config.voice_movement)."""
    said = f"{p.label} {p.class_scores[p.label]:.0%}" if p.class_scores else _said(p)
    if p.weight is None:
        return said
    if p.familiar is False:
        why = {"text": "words heard unclearly", "audio": "unfamiliar or unmoving voice"}.get(modality, "unfamiliar input")
        return f"{said} · {why}, " + ("not counted" if not p.counted else f"weight {p.weight:.2f}")
    return f"{said} · weight {p.weight:.2f}" if p.counted else f"{said} · not counted (weight 0)"


def modality_rows(analysis: Analysis) -> tuple[list[str], list[list[Any]]]:
    """Which modality said what: per utterance the fused call and each branch's own, with its confidence and the
    weight it got in the fused call (or that it was not counted), and a flag where counted branches disagree."""
    branches = [m for m in MODALITIES if any(m in u.by_modality for u in analysis.utterances)]
    headers = ["time", "fused"] + [BRANCH_NAMES.get(m, m) for m in branches] + ["disagreement", "text"]
    rows = []
    for u in analysis.utterances:
        row = [f"{clock(u.start)}–{clock(u.end)}", _said(u.prediction)]
        for m in branches:
            b = u.by_modality.get(m)
            row.append(_branch_said(b, m) if b else "absent")
        notes = u.disagreements
        for m, name in BRANCH_NAMES.items():
            notes = [n.replace(f"{m} says", f"{name} says") for n in notes]
        row += [("⚠ " + "; ".join(notes)) if notes else "—", u.text or "—"]
        rows.append(row)
    return headers, rows


FACE_TILE = 96  # px per face in the strip


def face_strip(analysis: Analysis, per_row: int = 10):
    """The faces of face_gallery side by side, each with its time and the face branch's answer under it:
    one RGB image (uint8), or None when no face was read."""
    import cv2
    import numpy as np

    items = face_gallery(analysis)
    if not items:
        return None
    label_h, rows = 34, (len(items) + per_row - 1) // per_row
    cols = min(per_row, len(items))
    strip = np.full((rows * (FACE_TILE + label_h), cols * FACE_TILE, 3), 255, np.uint8)
    for k, (face, caption) in enumerate(items):
        r, c = divmod(k, per_row)
        y, x = r * (FACE_TILE + label_h), c * FACE_TILE
        tile = cv2.resize(np.asarray(face, np.uint8), (FACE_TILE - 4, FACE_TILE - 4), interpolation=cv2.INTER_CUBIC)
        strip[y + 2:y + FACE_TILE - 2, x + 2:x + FACE_TILE - 2] = tile[..., None]
        when, said = caption.split(" · face: ")
        for line, text in enumerate((when, said)):
            cv2.putText(strip, text, (x + 4, y + FACE_TILE + 12 + 14 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.36,
                        (40, 40, 40), 1, cv2.LINE_AA)
    return strip


def face_gallery(analysis: Analysis) -> list[tuple[Any, str]]:
    """(face crop, caption) of every utterance whose face the face branch read, in time order."""
    items = []
    for u in analysis.utterances:
        if u.face is not None and "video" in u.by_modality:
            face = u.by_modality["video"]
            items.append((u.face, f"{clock(u.start)} · face: {face.emotion} {face.emotion_confidence:.0%}"))
    return items


def timeline_figure(analysis: Analysis):
    """Emotion probabilities (stacked, per utterance span) and sentiment polarity over the video's time axis; with
    several speakers, one emotion lane per speaker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    duration = max(analysis.duration, 1e-3)
    lanes = speaker_names(analysis)
    lanes = lanes if len(lanes) > 1 else [None]
    fig, axes = plt.subplots(len(lanes) + 1, 1, figsize=(10, 2.9 + 1.3 * len(lanes)), sharex=True,
                             height_ratios=[3 if len(lanes) == 1 else 1.6] * len(lanes) + [1.3],
                             constrained_layout=True)
    emotion_axes, ax_s = list(axes[:-1]), axes[-1]
    for u in analysis.utterances:
        ax_e = emotion_axes[lanes.index(u.speaker)] if u.speaker in lanes else emotion_axes[0]
        scores, width = u.prediction.emotion_scores, u.end - u.start
        bottom = 0.0
        for e in EMOTIONS:
            ax_e.bar(u.start, scores[e], width=width, bottom=bottom, align="edge",
                     color=EMOTION_COLORS[e], edgecolor="white", linewidth=0.3)
            bottom += scores[e]
        sentiment = u.prediction.sentiment_scores
        ax_s.bar(u.start, sentiment["positive"] - sentiment["negative"], width=width, align="edge",
                 color=SENTIMENT_COLORS[u.sentiment], edgecolor="white", linewidth=0.3)
        if u.disagreements:  # the branches do not agree here: a marker above the span
            ax_e.plot(u.start + width / 2, 1.04, marker="v", color="#202020", markersize=6, clip_on=False)
    top = emotion_axes[0]
    if any(u.disagreements for u in analysis.utterances):
        top.text(1.0, 1.06, "▼ branches disagree", transform=top.transAxes, ha="right", va="bottom", fontsize=8)
    for ax_e, lane in zip(emotion_axes, lanes):
        ax_e.set_ylim(0, 1)
        ax_e.set_ylabel("emotion" if lane is None else f"{lane}\nemotion")
    top.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=EMOTION_COLORS[e]) for e in EMOTIONS], labels=list(EMOTIONS),
               loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax_s.axhline(0, color="#999", linewidth=0.6)
    ax_s.set_ylim(-1, 1)
    ax_s.set_yticks([-1, 0, 1], ["neg", "0", "pos"])
    ax_s.set_ylabel("sentiment")
    ax_s.set_xlim(0, duration)
    ax_s.set_xlabel("time (s)")
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def weights_note(config) -> str:
    """How much each branch of a late-fusion model counts and where that was measured, one markdown line; "" for
    other models. config: the model's ModelConfig."""
    if getattr(config, "fusion", "") != "late" or not config.branch_weights:
        return ""
    parts = []
    for m in MODALITIES:
        if m not in config.branch_weights:
            continue
        v = config.branch_validation.get(m)
        where = (f" (kappa {v['kappa']:.2f} on {v['set']}: accuracy {v['accuracy']:.2f}, most frequent class "
                 f"{v['chance']:.2f})" if v and "kappa" in v else
                 f" ({v['accuracy']:.2f} accuracy on {v['set']}, chance {v['chance']:.2f})" if v else
                 " (not measured outside its training data)")
        parts.append(f"{BRANCH_NAMES.get(m, m)} {config.branch_weights[m]:.2f}{where}")
    return ("**How much each branch counts** (its weight, from data unlike its training data; an input unlike that "
            "data counts less, down to nothing): " + "; ".join(parts))


def model_note(analysis: Analysis, licence: str = "", weights: str = "") -> str:
    """A short markdown line saying which model (and its licence), modalities and ASR produced the result, how much
    each branch counts (weights_note), plus warnings."""
    used = ", ".join(BRANCH_NAMES.get(m, m) for m in analysis.modalities) or "none"
    shown = f" ({licence})" if licence else ""
    lines = [f"**Model** `{analysis.model}`{shown} · **read from** {used} · **speech** `{analysis.asr}` · "
             f"{len(analysis.utterances)} utterance(s) in {analysis.duration:.1f} s, "
             f"analysed in {analysis.timings.get('total', 0):.1f} s"]
    if weights:
        lines.append(weights)
    lines += [f"⚠️ {w}" for w in analysis.warnings]
    return "\n\n".join(lines)
