"""Which face is on screen when: the face branch's boxes grouped into tracks, and speakers linked to a track only
when that is unambiguous.

A track is a place on screen where a face keeps appearing (boxes overlapping by IoU >= TRACK_IOU); for the fixed
shots of interviews, calls and meetings that is one person. A speaker is linked to a track when most of their
utterances with a face show that track and no other speaker's do; otherwise (one face for two voices, a camera
that follows whoever talks to several places) the link stays empty rather than a guess.
"""

from __future__ import annotations

TRACK_IOU = 0.3
LINK_SHARE = 0.8  # share of a speaker's face-bearing utterances that must show the track
LINK_MIN = 2  # and at least this many of them


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w, h = min(ax1, bx1) - max(a[0], b[0]), min(ay1, by1) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def face_tracks(boxes: list[tuple[float, ...] | None]) -> list[str | None]:
    """A track name (F1, F2, ... in order of first appearance) per utterance's face box; None where no face."""
    tracks: list[tuple[float, ...]] = []  # each track's latest box
    names: list[str | None] = []
    for box in boxes:
        if box is None:
            names.append(None)
            continue
        best = max(range(len(tracks)), key=lambda t: _iou(tracks[t], box), default=None)
        if best is None or _iou(tracks[best], box) < TRACK_IOU:
            tracks.append(box)
            best = len(tracks) - 1
        else:
            tracks[best] = box
        names.append(f"F{best + 1}")
    return names


def link_speakers(speakers: list[str | None], tracks: list[str | None]) -> dict[str, str | None]:
    """speaker -> the face track seen during their turns, or None where that is not unambiguous."""
    seen: dict[str, list[str]] = {}
    for speaker, track in zip(speakers, tracks):
        if speaker:
            seen.setdefault(speaker, [])
            if track:
                seen[speaker].append(track)
    candidate: dict[str, str | None] = {}
    for speaker, shown in seen.items():
        top = max(set(shown), key=shown.count, default=None)
        ok = top is not None and shown.count(top) >= LINK_MIN and shown.count(top) >= LINK_SHARE * len(shown)
        candidate[speaker] = top if ok else None
    claimed = [t for t in candidate.values() if t]
    return {s: (t if t and claimed.count(t) == 1 else None) for s, t in candidate.items()}
