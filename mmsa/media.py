"""Probe, validate and decode media: audio once to 16 kHz mono float32, frames in one sequential pass.

Every problem with a user's file surfaces as MediaError, whose message names the file, the problem and the fix.
Every open goes through open_media(): a regular file, read with the file protocol only, by an allow-listed
container demuxer. Playlists (HLS), concat lists and other formats that pull in further files or URLs are
refused before they read anything beyond the upload.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .settings import available_cores

logger = logging.getLogger("mmsa")

SAMPLE_RATE = 16000  # what faster-whisper and the audio branch expect
MAX_FRAME_SIDE = 4096  # decoding larger frames costs seconds per frame and gigabytes; ask for a downscale
MIN_DURATION_S = 0.05  # shorter than this there is nothing to hear or see
DURATION_GRACE_S = 1.0  # containers overshoot by a few ms: a "10 minute" file must pass a 10 minute limit
SHORT_STREAM_RATIO = 0.9  # a stream that decodes to less than this share of its stated length gets a warning
SHORT_STREAM_MIN_S = 0.5  # ... when the gap is at least this long
RESAMPLE_BLOCK = 1 << 16  # decoded audio samples resampled at a time (about 1.5 s at 44.1 kHz)
MAX_ASPECT = 4.0  # sampled frames are at most this many times longer than their shorter side, bounding memory
MAX_PEAK = 1.5  # float audio may overshoot full scale (1.0) a little; far beyond that it is broken, not loud
# the frame reader skips non-reference frames while the next sampled time is further ahead than this: a run of
# B-frames is about 0.1 s at 30 fps, so a sampled time is hit to within a frame (at 1.0 s, frames of the 50 s
# talking-head clip took 0.46 s instead of 0.41 s, benchmarks.talking_head)
SKIP_AHEAD_S = 0.15
# FFmpeg demuxers that read one self-contained file (names as FFmpeg matches them). Not here, on purpose: hls,
# dash, concat, image2 (file patterns), tee and every network or device input, which open further files or URLs.
ALLOWED_DEMUXERS: tuple[str, ...] = (
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "asf", "ogg",
    "wav", "mp3", "flac", "aac", "w64", "aiff", "caf", "amr", "au", "dv", "ivf", "nut", "mxf", "h264", "hevc",
    "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "gif", "tiff_pipe",
)
STILL_IMAGE_FORMATS: tuple[str, ...] = ("png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe")
OPEN_OPTIONS = {"format_whitelist": ",".join(ALLOWED_DEMUXERS), "protocol_whitelist": "file"}


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


def _name(path: str | os.PathLike) -> str:
    return Path(path).name or str(path)


def open_media(path: str | os.PathLike):
    """An av container for a user's file, under the rules in this module's docstring. Raises MediaError."""
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{_name(p)}: file not found")
    if p.is_dir():
        raise MediaError(f"{_name(p)}: is a folder; give a video or audio file")
    if not p.is_file():  # a FIFO or a device would block or never end
        raise MediaError(f"{_name(p)}: not a regular file (a pipe or a device?); give a video or audio file")
    # an absolute path, so names such as "concat:a|b" or "subfile,,..." are never read as FFmpeg protocols
    try:
        return av.open(os.path.abspath(p), container_options=OPEN_OPTIONS)
    except av.error.ArgumentError as e:  # the probed format is not allowed
        raise MediaError(
            f"{_name(p)}: not a supported audio or video container. Playlists (.m3u8), concat lists and other "
            f"files that point to further files or URLs are refused; upload the video itself (.mp4, .mov, "
            f".webm, .mkv, .avi) or audio (.wav, .mp3, .m4a, .ogg, .flac)."
        ) from e
    except Exception as e:  # av.error.InvalidDataError and friends; PyAV raises many subclasses
        raise MediaError(
            f"{_name(p)}: not a readable audio or video file, or truncated ({_reason(e)}). "
            f"Use a complete video such as .mp4, .mov, .webm or .mkv, or audio such as .wav or .mp3."
        ) from e


def probe(path: str | os.PathLike, max_duration: float | None = None) -> MediaInfo:
    """Open a file and read its streams; raise MediaError if it cannot be analysed."""
    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise MediaError(f"{_name(p)}: the file is empty (0 bytes); upload the video again")
    container = open_media(p)
    size = p.stat().st_size
    with container:
        if container.format.name in STILL_IMAGE_FORMATS:
            raise MediaError(f"{_name(p)}: is a still image ({container.format.name.removesuffix('_pipe')}), not a "
                             f"video; upload a video or audio file")
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


def _decoded(container, stream, counts: dict[str, int]) -> Iterator:
    """Frames of one stream, packet by packet: a damaged packet is skipped and counted, not fatal; a stream
    that breaks off ends the iteration (counts["cut"] = 1)."""
    return (frame for _, frame in _decoded_streams(container, [stream], counts))


def decode_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None,
                 stated_duration: float | None = None, warnings: list[str] | None = None) -> np.ndarray:
    """The audio, decoded once and resampled: mono float32, shape = (samples,). A file with several audio tracks
    is read whole, and the track with the most speech is kept (the loudest when none has speech).

    Damaged packets are skipped and unusable samples cleaned (clean_samples); when that happens, when another
    track than the first was chosen, or the audio ends well before stated_duration (a cut file), a sentence saying
    so is appended to warnings.
    """
    import av

    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    counts: dict[str, int] = {}
    with open_media(path) as container:
        streams = list(container.streams.audio)
        if not streams:
            raise MediaError(f"{_name(path)}: has no audio stream")
        indices = [s.index for s in streams]  # read now: a stream object is not usable once the file is closed
        chunks: dict[int, list[np.ndarray]] = {i: [] for i in indices}
        got = dict.fromkeys(chunks, 0)
        # frames gathered into large blocks before resampling: one resampler call per AAC frame (1,024 samples)
        # costs more than the decoding itself (0.16 -> 0.07 s for 50 s of 44.1 kHz AAC, same samples out)
        fifos: dict[int, Any] = {}
        resamplers: dict[int, Any] = {}
        layouts: dict[int, tuple] = {}  # the (rate, channels, sample format) each track's fifo holds
        for s in streams:
            s.thread_type = "AUTO"

        def resample(index: int, block) -> None:
            for out in resamplers[index].resample(block):
                chunk = out.to_ndarray().reshape(-1)
                chunks[index].append(chunk)
                got[index] += chunk.size

        def flush(index: int) -> None:
            if fifos[index].samples:
                resample(index, fifos[index].read())
            resample(index, None)  # what the resampler still holds

        try:
            for index, frame in _decoded_streams(container, streams, counts):
                if limit is not None and got[index] >= limit:
                    if all(n >= limit for n in got.values()):
                        break
                    continue
                frame.pts = None  # the resampler re-times frames itself; odd pts in the input upset it
                layout = (frame.sample_rate, frame.layout.name, frame.format.name)
                if layouts.get(index) != layout:  # a first frame, or a stream that changes rate or channels part way
                    if index in fifos:
                        flush(index)
                    fifos[index], layouts[index] = av.AudioFifo(), layout
                    resamplers[index] = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
                fifos[index].write(frame)
                if fifos[index].samples >= RESAMPLE_BLOCK:
                    resample(index, fifos[index].read())
            for index in fifos:
                flush(index)
        except av.error.FFmpegError as e:
            raise MediaError(f"{_name(path)}: the audio could not be decoded ({_reason(e)})") from e
    tracks = []
    for i in indices:
        audio = np.concatenate(chunks[i]).astype(np.float32, copy=False) if chunks[i] else np.zeros(0, np.float32)
        tracks.append(audio[:limit] if limit is not None else audio)
    chosen, why = (0, "") if len(tracks) == 1 else _track_with_speech(tracks, sample_rate)
    audio, notes = clean_samples(tracks[chosen])
    if len(tracks) > 1:
        notes.insert(0, f"the file has {len(tracks)} audio tracks: track {chosen + 1} was read ({why}), the others "
                        f"were not")
    if counts.get("bad"):
        notes.append(f"{counts['bad']} damaged audio packet(s) skipped")
    seconds = audio.size / sample_rate
    if stated_duration and seconds < SHORT_STREAM_RATIO * stated_duration \
            and stated_duration - seconds >= SHORT_STREAM_MIN_S:
        notes.append(f"audio decodes to {seconds:.1f} s of the {stated_duration:.1f} s the file states "
                     f"(damaged or cut short?): the rest is analysed without sound")
    if notes and warnings is not None:
        warnings.append("; ".join(notes))
    return audio


def _decoded_streams(container, streams, counts: dict[str, int]) -> Iterator:
    """(stream index, frame) of several streams in one pass; damaged packets are skipped and counted."""
    import av

    try:
        for packet in container.demux(*streams):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                counts["bad"] = counts.get("bad", 0) + 1
                continue
            for frame in frames:
                yield packet.stream.index, frame
    except av.error.FFmpegError as e:
        logger.info("stream stops early: %s", _reason(e))
        counts["cut"] = 1


def _track_with_speech(tracks: list[np.ndarray], sample_rate: int) -> tuple[int, str]:
    """The index of the track with the most speech (the recogniser's VAD), else of the loudest one; and why."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    tracks = [clean_samples(t)[0] for t in tracks]
    speech = []
    for t in tracks:
        spans = get_speech_timestamps(t, VadOptions(), sampling_rate=sample_rate) if t.size else []
        speech.append(sum(s["end"] - s["start"] for s in spans))
    if max(speech) > 0:
        return int(np.argmax(speech)), "the one with the most speech"
    loudness = [float(np.sqrt(np.mean(t.astype(np.float64) ** 2))) if t.size else 0.0 for t in tracks]
    return int(np.argmax(loudness)), "no track has speech; this one is the loudest"


def clean_samples(audio: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Samples every later step can use: NaN and infinite samples (possible in float WAVs) become silence, and a
    float stream louder than full scale is scaled back to it. Returns the audio and sentences saying what changed.
    Left alone, one NaN makes every spectrogram and every probability NaN, and 1e30 overflows them."""
    notes = []
    bad = ~np.isfinite(audio)
    if bad.any():
        audio = np.where(bad, np.float32(0.0), audio)
        notes.append(f"{int(bad.sum())} audio sample(s) were not numbers (NaN or infinite) and were read as silence")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > MAX_PEAK:
        audio = audio / np.float32(peak)
        notes.append(f"the audio is {peak:.3g} times louder than full scale: it was scaled back to full scale")
    return audio.astype(np.float32, copy=False), notes


def sample_times(start: float, end: float, n: int) -> np.ndarray:
    """n timestamps spread over [start, end], each at the centre of its 1/n slice. shape = (n,)"""
    span = max(end - start, 0.0)
    return start + (np.arange(n) + 0.5) * span / n


def scaled_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to size, aspect kept; the longer side never beyond
    MAX_ASPECT * size (a 4096x8 stream would otherwise become 184,320 px wide), so the shorter one may end smaller."""
    scale = min(size / max(min(width, height), 1), MAX_ASPECT * size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def center_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) with min(h, w) <= size -> (size, size, 3): the centre, padded with black where a side is short."""
    h, w = frame.shape[:2]
    if h < size or w < size:
        padded = np.zeros((max(h, size), max(w, size), *frame.shape[2:]), frame.dtype)
        top, left = (padded.shape[0] - h) // 2, (padded.shape[1] - w) // 2
        padded[top:top + h, left:left + w] = frame
        frame, h, w = padded, padded.shape[0], padded.shape[1]
    top, left = (h - size) // 2, (w - size) // 2
    return frame[top:top + size, left:left + size]


def iter_span_frames(path: str | os.PathLike, spans: Sequence[tuple[float, float]], num_frames: int,
                     size: int, warnings: list[str] | None = None,
                     square: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Read the video once, front to back, and yield (span index, frames) as soon as a span is complete.

    Each span gets num_frames RGB frames sampled across its whole length, the shorter side scaled to size and,
    with square, centre-cropped: frames shape = (num_frames, size, size, 3) uint8 (without square, the frame's
    aspect is kept: (num_frames, h, w, 3) with min(h, w) == size). Only the sampled frames are converted, scaled by the
    converter straight from the decoder's YUV to the small RGB size (a 4K frame is never made RGB at 4K), and a
    span's frames are released once yielded, so memory does not grow with the video's length.
    Spans must be sorted by start time. If the stream ends early, the last frame read fills the rest, and a
    sentence saying so goes to warnings.
    """
    if not spans:
        return
    # targets sorted by time: (time, span index, slot)
    targets = sorted(
        (float(t), i, k) for i, (s, e) in enumerate(spans) for k, t in enumerate(sample_times(s, e, num_frames))
    )
    buffers: dict[int, np.ndarray] = {}
    filled = [0] * len(spans)
    counts: dict[str, int] = {}
    ptr, last_rgb, last_ts, index = 0, None, None, 0
    out_size: tuple[int, int] | None = None
    notes: list[str] = []

    def put(slot_ptr: int, rgb: np.ndarray) -> tuple[int, np.ndarray] | None:
        _, i, k = targets[slot_ptr]
        buf = buffers.setdefault(i, np.empty((num_frames, *rgb.shape), np.uint8))
        buf[k] = rgb
        filled[i] += 1
        return (i, buffers.pop(i)) if filled[i] == num_frames else None

    with open_media(path) as container:
        videos = [s for s in container.streams.video if not _is_cover_art(s)]
        if not videos:
            raise MediaError(f"{_name(path)}: has no video stream")
        stream = videos[0]
        stream.thread_type = "AUTO"  # frame threads: decoding is the cost of a video branch on 2 cores
        # one thread per core: FFmpeg's default (cores + 1) decodes a 50 s 480x360 H.264 clip 10% slower on 2 cores
        stream.codec_context.thread_count = available_cores()
        # no deblocking: about a third of H.264 decoding, invisible once a frame is scaled down to a few hundred px
        stream.codec_context.options = {"skip_loop_filter": "all"}
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        frame_dur = 1.0 / rate if 1.0 <= rate <= 240.0 else 1.0 / 30.0
        for frame in _decoded(container, stream, counts):
            if ptr >= len(targets):
                break
            ts = frame.time if frame.time is not None else index * frame_dur
            if last_ts is not None and 0 < ts - last_ts < 1.0:
                frame_dur = ts - last_ts
            last_ts, index = ts, index + 1
            if max(frame.width, frame.height) > MAX_FRAME_SIDE:  # every frame: a stream may change size part way
                raise MediaError(f"{_name(path)}: the picture grows to {frame.width}x{frame.height} at "
                                 f"{_clock(ts)}, larger than the supported {MAX_FRAME_SIDE}x{MAX_FRAME_SIDE}; "
                                 f"downscale it first, e.g. ffmpeg -i in.mp4 -vf scale=1280:-2 out.mp4")
            # far from the next sampled time, frames no other frame refers to need not be decoded at all
            stream.codec_context.skip_frame = "NONREF" if targets[ptr][0] - ts > SKIP_AHEAD_S else "DEFAULT"
            if targets[ptr][0] > ts + frame_dur / 2:
                continue  # not needed: no conversion at all
            # one output size per video (a stream that changes resolution part way is scaled to its first)
            if out_size is None:
                out_size = scaled_size(frame.width, frame.height, size)
                if max(frame.width, frame.height) > MAX_ASPECT * min(frame.width, frame.height):
                    notes.append(f"the picture is {frame.width}x{frame.height}, far from a usual shape: it was "
                                 f"read scaled to {out_size[0]}x{out_size[1]}")
            last_rgb = frame.to_ndarray(format="rgb24", width=out_size[0], height=out_size[1], interpolation="AREA")
            if square:
                last_rgb = center_crop(last_rgb, size)
            while ptr < len(targets) and targets[ptr][0] <= ts + frame_dur / 2:
                done = put(ptr, last_rgb)
                ptr += 1
                if done:
                    yield done
    if last_rgb is None:
        raise MediaError(f"{_name(path)}: no video frame could be decoded")
    if counts.get("bad"):
        notes.append(f"{counts['bad']} damaged video packet(s) skipped")
    if ptr < len(targets):
        notes.append(f"the picture ends at {last_ts or 0:.1f} s: later utterances repeat the last frame")
    if notes and warnings is not None:
        warnings.append("; ".join(notes))
    # stream ended before the last targets (container duration longer than the frames): repeat the last frame
    for p in range(ptr, len(targets)):
        done = put(p, last_rgb)
        if done:
            yield done
