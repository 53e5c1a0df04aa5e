"""What the app shows, built from the JSON contract (no Gradio here): plot, coloured transcript, tables."""

from __future__ import annotations

from typing import Any

from .labels import EMOTIONS, SENTIMENTS

# one colour per emotion, shared by the plot and the coloured transcript
EMOTION_COLORS: dict[str, str] = {
    "anger": "#e5484d", "disgust": "#8e4ec6", "fear": "#f76b15", "joy": "#ffc53d",
    "neutral": "#8b8d98", "sadness": "#0090ff", "surprise": "#30a46c",
}
SENTIMENT_COLORS: dict[str, str] = {"negative": "#e5484d", "neutral": "#8b8d98", "positive": "#30a46c"}


def clock(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def overall_labels(result: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Summary scores for two gr.Label components."""
    return dict(result["summary"]["emotion_scores"]), dict(result["summary"]["sentiment_scores"])


def highlighted_transcript(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(text, emotion) pieces for gr.HighlightedText; silent spans read as a bracketed time range."""
    pieces: list[tuple[str, str | None]] = []
    for u in result["utterances"]:
        text = u["text"] or f"[no speech {clock(u['start'])}–{clock(u['end'])}]"
        pieces.append((text, u["emotion"]))
        pieces.append((" ", None))
    return pieces[:-1]


def utterance_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Rows for the utterance table: start, end, text, emotion (conf), sentiment (conf), modalities."""
    rows = []
    for u in result["utterances"]:
        rows.append([
            clock(u["start"]), clock(u["end"]), u["text"] or "—",
            f"{u['emotion']} ({u['emotion_scores'][u['emotion']]:.0%})",
            f"{u['sentiment']} ({u['sentiment_scores'][u['sentiment']]:.0%})",
            " + ".join(u["modalities"]) or "none",
        ])
    return rows


UTTERANCE_HEADERS = ["start", "end", "text", "emotion", "sentiment", "modalities"]


def modality_rows(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Which modality said what: per utterance the fused call and each branch's own, with disagreements."""
    branches = [m for m in ("text", "video", "audio") if any(m in u["by_modality"] for u in result["utterances"])]
    headers = ["time", "text", "fused"] + branches + ["disagreement"]
    rows = []
    for u in result["utterances"]:
        row = [f"{clock(u['start'])}–{clock(u['end'])}", u["text"] or "—", f"{u['emotion']} / {u['sentiment']}"]
        for m in branches:
            b = u["by_modality"].get(m)
            row.append(f"{b['emotion']} / {b['sentiment']}" if b else "absent")
        row.append("; ".join(u.get("disagreements", [])) or "—")
        rows.append(row)
    return headers, rows


def timeline_figure(result: dict[str, Any]):
    """Emotion probabilities (stacked, per utterance span) and sentiment polarity over the video's time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    duration = max(result["duration"], 1e-3)
    fig, (ax_e, ax_s) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, height_ratios=[3, 1.3],
                                     constrained_layout=True)
    for u in result["utterances"]:
        bottom = 0.0
        for e in EMOTIONS:
            p = u["emotion_scores"][e]
            ax_e.bar(u["start"], p, width=u["end"] - u["start"], bottom=bottom, align="edge",
                     color=EMOTION_COLORS[e], edgecolor="white", linewidth=0.3)
            bottom += p
        polarity = u["sentiment_scores"]["positive"] - u["sentiment_scores"]["negative"]
        ax_s.bar(u["start"], polarity, width=u["end"] - u["start"], align="edge",
                 color=SENTIMENT_COLORS[u["sentiment"]], edgecolor="white", linewidth=0.3)
    ax_e.set_ylim(0, 1)
    ax_e.set_ylabel("emotion")
    ax_e.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=EMOTION_COLORS[e]) for e in EMOTIONS], labels=list(EMOTIONS),
                loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax_s.axhline(0, color="#999", linewidth=0.6)
    ax_s.set_ylim(-1, 1)
    ax_s.set_yticks([-1, 0, 1], ["neg", "0", "pos"])
    ax_s.set_ylabel("sentiment")
    ax_s.set_xlim(0, duration)
    ax_s.set_xlabel("time (s)")
    for ax in (ax_e, ax_s):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def model_note(result: dict[str, Any]) -> str:
    """A short markdown line saying which model, modalities and ASR produced the result, plus warnings."""
    used = ", ".join(result.get("modalities") or []) or "none"
    lines = [f"**Model** `{result['model']}` · **modalities used** {used} · **speech** `{result.get('asr', '')}` · "
             f"{len(result['utterances'])} utterance(s) in {result['duration']:.1f} s, "
             f"analysed in {result['timings'].get('total', 0):.1f} s"]
    lines += [f"⚠️ {w}" for w in result.get("warnings", [])]
    return "\n\n".join(lines)


__all__ = ["EMOTIONS", "SENTIMENTS", "EMOTION_COLORS", "SENTIMENT_COLORS", "overall_labels", "highlighted_transcript",
           "utterance_rows", "UTTERANCE_HEADERS", "modality_rows", "timeline_figure", "model_note"]
