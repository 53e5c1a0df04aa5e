"""Analysis -> JSON, CSV, SRT and WebVTT. Subtitles carry the emotion and sentiment under the words."""

from __future__ import annotations

import csv
import io
import json

from .results import Analysis, UtteranceResult

FORMATS = ("json", "csv", "srt", "vtt")


def to_json(analysis: Analysis) -> str:
    return json.dumps(analysis.to_dict(), ensure_ascii=False, indent=2)


def to_csv(analysis: Analysis) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["start", "end", "speaker", "text", "emotion", "emotion_confidence", "sentiment", "sentiment_confidence",
                     "modalities"])
    for u in analysis.utterances:
        p = u.prediction
        writer.writerow([f"{u.start:.3f}", f"{u.end:.3f}", u.speaker or "", u.text, p.emotion, f"{p.emotion_confidence:.4f}",
                         p.sentiment, f"{p.sentiment_confidence:.4f}", "+".join(u.modalities)])
    return buf.getvalue()


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def caption(u: UtteranceResult, with_speaker: bool = False) -> str:
    """Two lines: what was said (after "S2: " when several people speak), then [emotion 87% · sentiment 64%]."""
    p = u.prediction
    label = f"[{p.emotion} {p.emotion_confidence:.0%} · {p.sentiment} {p.sentiment_confidence:.0%}]"
    text = " ".join(u.text.replace("-->", "->").split())  # no cue separators or blank lines inside a cue
    if text and with_speaker and u.speaker:
        text = f"{u.speaker}: {text}"
    return f"{text}\n{label}" if text else label


def several_speakers(analysis: Analysis) -> bool:
    return len({u.speaker for u in analysis.utterances if u.speaker}) > 1


def to_srt(analysis: Analysis) -> str:
    named = several_speakers(analysis)
    blocks = [f"{i}\n{_stamp(u.start, ',')} --> {_stamp(u.end, ',')}\n{caption(u, named)}\n"
              for i, u in enumerate(analysis.utterances, 1)]
    return "\n".join(blocks)


def to_vtt(analysis: Analysis) -> str:
    named = several_speakers(analysis)
    blocks = [f"{_stamp(u.start, '.')} --> {_stamp(u.end, '.')}\n{caption(u, named)}\n" for u in analysis.utterances]
    return "WEBVTT\n\n" + "\n".join(blocks)


def export(analysis: Analysis, fmt: str) -> str:
    writers = {"json": to_json, "csv": to_csv, "srt": to_srt, "vtt": to_vtt}
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return writers[fmt](analysis)
