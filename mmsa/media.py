"""Probe, validate and decode media: audio once to 16 kHz mono float32, frames in one sequential pass.

Every problem with a user's file surfaces as MediaError, whose message names the file, the problem and the fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .features import resize_frame, sample_times

logger = logging.getLogger("mmsa")

SAMPLE_RATE = 16000  # what faster-whisper and the audio branch expect
MAX_DURATION_S = 600.0  # default limit: 10 minutes keeps one analysis bounded on a 2-core box
MAX_FRAME_SIDE = 4096  # decoding larger frames costs seconds per frame and gigabytes; ask for a downscale
MIN_DURATION_S = 0.05  # shorter than this there is nothing to hear or see
DURATION_GRACE_S = 1.0  # containers overshoot by a few ms: a "10 minute" file must pass a 10 minute limit


class MediaError(ValueError):
    """A user's file cannot be analysed; the message says why and what to do."""


@dataclass
class MediaInfo:
    path: str
    size_bytes: int
    duration: float  # seconds
    has_audio: bool
    has_video: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _name(path: str | os.PathLike) -> str:
    return Path(path).name or str(path)


def probe(path: str | os.PathLike, max_duration: float | None = MAX_DURATION_S) -> MediaInfo:
    """Open a file and read its streams; raise MediaError if it cannot be analysed."""
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: file not found")
    if not p.is_file():
        raise MediaError(f"{p}: not a file (is it a folder?)")
    size = p.stat().st_size
    if size == 0:
        raise MediaError(f"{_name(p)}: the file is empty (0 bytes); upload the video again")
    try:
        container = av.open(str(p))
    except Exception as e:  # av.error.InvalidDataError and friends; PyAV raises many subclasses
        raise MediaError(
            f"{_name(p)}: not a readable audio or video file, or truncated ({_reason(e)}). "
            f"Use a complete video such as .mp4, .mov, .webm or .mkv, or audio such as .wav or .mp3."
        ) from e
    with container:
        videos = [s for s in container.streams.video if not _is_cover_art(s)]
        audios = list(container.streams.audio)
        video = videos[0] if videos else None
        audio = audios[0] if audios else None
        if video is None and audio is None:
            raise MediaError(f"{_name(p)}: has no audio or video stream (format {container.format.name!r}); "
                             f"use a video or audio file")
        duration = _duration(container, video, audio)
        info = MediaInfo(
            path=str(p), size_bytes=size, duration=duration, has_audio=audio is not None,
            has_video=video is not None,
            width=int(video.codec_context.width or 0) if video else 0,
            height=int(video.codec_context.height or 0) if video else 0,
            fps=float(video.average_rate or video.guessed_rate or 0) if video else 0.0,
            video_codec=video.codec_context.name if video else "",
            audio_codec=audio.codec_context.name if audio else "",
        )
    if info.has_video and max(info.width, info.height) > MAX_FRAME_SIDE:
        raise MediaError(
            f"{_name(p)}: frame size {info.width}x{info.height} is larger than the supported "
            f"{MAX_FRAME_SIDE}x{MAX_FRAME_SIDE}; downscale it first, e.g. ffmpeg -i in.mp4 -vf scale=1280:-2 out.mp4"
        )
    if info.duration < MIN_DURATION_S:
        raise MediaError(f"{_name(p)}: duration {info.duration:.2f} s is too short to analyse "
                         f"(at least {MIN_DURATION_S} s)")
    if max_duration is not None and info.duration > max_duration + DURATION_GRACE_S:
        raise MediaError(
            f"{_name(p)}: is {_clock(info.duration)} long; the limit is {_clock(max_duration)}. "
            f"Trim it (ffmpeg -i in.mp4 -t {int(max_duration)} -c copy out.mp4) or raise the limit "
            f"(--max-duration / MMSA_MAX_DURATION)."
        )
    return info


def _is_cover_art(stream) -> bool:
    import av

    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except AttributeError:
        return False


def _duration(container, video, audio) -> float:
    import av

    if container.duration:
        return container.duration / av.time_base
    for s in (video, audio):
        if s is not None and s.duration and s.time_base:
            return float(s.duration * s.time_base)
    # no header duration (e.g. some webm recordings): scan packet timestamps, cheap compared to decoding
    end = 0.0
    try:
        for packet in container.demux():
            if packet.pts is not None and packet.time_base:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except Exception as e:
        logger.warning("could not scan the stream for its duration: %s", _reason(e))
    return end


def _reason(e: BaseException) -> str:
    """The gist of a decoder error, without the file path FFmpeg appends."""
    text = getattr(e, "strerror", None) or str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{seconds:.1f} s"


def decode_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
                 max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream, decoded once and resampled: mono float32, shape = (samples,).

    A stream that breaks off part way (truncated download) keeps what decoded, with a warning.
    """
    import av

    chunks: list[np.ndarray] = []
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    got = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{_name(path)}: has no audio stream")
            stream = container.streams.audio[0]
            stream.thread_type = "AUTO"
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            try:
                for frame in container.decode(stream):
                    frame.pts = None  # the resampler re-times frames itself; odd pts in the input upset it
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1)
                        chunks.append(chunk)
                        got += chunk.size
                    if limit is not None and got >= limit:
                        break
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
            except (av.error.InvalidDataError, av.error.EOFError) as e:
                logger.warning("%s: audio stops early (%s); using the %.1f s that decoded",
                               _name(path), _reason(e), got / sample_rate)
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(f"{_name(path)}: the audio could not be decoded ({_reason(e)})") from e
    audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    return audio[:limit] if limit is not None else audio


def iter_span_frames(path: str | os.PathLike, spans: Sequence[tuple[float, float]], num_frames: int,
                     size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Read the video once, front to back, and yield (span index, frames) as soon as a span is complete.

    Each span gets num_frames RGB frames sampled across its whole length, resized to (size, size):
    frames shape = (num_frames, size, size, 3), uint8. Only the sampled frames are converted and kept, and a
    span's frames are released once yielded, so memory does not grow with the video's length.
    Spans must be sorted by start time. If the stream ends early, the last frame read fills the rest.
    """
    import cv2

    if not spans:
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"{_name(path)}: the video stream cannot be opened for reading")
    # targets sorted by time: (time, span index, slot)
    targets = sorted(
        (float(t), i, k) for i, (s, e) in enumerate(spans) for k, t in enumerate(sample_times(s, e, num_frames))
    )
    buffers: dict[int, np.ndarray] = {}
    filled = [0] * len(spans)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frame_dur = 1.0 / fps if 1.0 <= fps <= 240.0 else 1.0 / 30.0
    ptr, last_rgb, last_ts, index = 0, None, None, 0
    try:
        while ptr < len(targets):
            if not cap.grab():
                break
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not ts and index:  # some containers report no timestamps: count frames instead
                ts = index * frame_dur
            if last_ts is not None and 0 < ts - last_ts < 1.0:
                frame_dur = ts - last_ts
            last_ts, index = ts, index + 1
            if targets[ptr][0] > ts + frame_dur / 2:
                continue  # not needed: skip the colour conversion and resize
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                continue
            last_rgb = resize_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
            while ptr < len(targets) and targets[ptr][0] <= ts + frame_dur / 2:
                _, i, k = targets[ptr]
                buf = buffers.setdefault(i, np.empty((num_frames, size, size, 3), np.uint8))
                buf[k] = last_rgb
                filled[i] += 1
                ptr += 1
                if filled[i] == num_frames:
                    yield i, buffers.pop(i)
    finally:
        cap.release()
    if last_rgb is None:
        raise MediaError(f"{_name(path)}: no video frame could be decoded")
    # stream ended before the last targets (container duration longer than the frames): repeat the last frame
    for _, i, k in targets[ptr:]:
        buf = buffers.setdefault(i, np.empty((num_frames, size, size, 3), np.uint8))
        buf[k] = last_rgb
        filled[i] += 1
        if filled[i] == num_frames:
            yield i, buffers.pop(i)
