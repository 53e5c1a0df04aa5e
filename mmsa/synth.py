"""Make real media for examples and tests: espeak-ng speech over moving ffmpeg frames (both needed on PATH), and
a plain one-second clip written by PyAV alone, which the analyzer's warm-up reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .media import SAMPLE_RATE


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} is not installed; on Debian/Ubuntu: apt-get install {tool}")
    return path


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def speak(text: str, wav_path: str | os.PathLike, voice: str = "en-us", speed: int = 150, pitch: int = 50) -> Path:
    """Synthesise speech with espeak-ng into a WAV file."""
    # "--" ends the options: a line such as MELD's "-leg?" would otherwise be read as a flag and no file written
    _run([_need("espeak-ng"), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav_path), "--", text])
    return Path(wav_path)


def make_video(path: str | os.PathLike, text: str | None = None, *, duration: float | None = None,
               size: tuple[int, int] = (320, 240), fps: int = 25, pattern: str = "testsrc2",
               audio: bool = True, video: bool = True, voice: str = "en-us", pitch: int = 50,
               lead_silence: float = 0.3) -> Path:
    """Render a clip: moving test-pattern frames and, with text, that text spoken by espeak-ng.

    Without text, audio (if wanted) is silence. duration defaults to the speech plus a little padding.
    pattern is any ffmpeg lavfi video source expression, e.g. "testsrc2", "color=c=red".
    """
    ffmpeg = _need("ffmpeg")
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        inputs: list[str] = []
        speech_len = 0.0
        if audio and text:
            wav = speak(text, Path(tmp) / "speech.wav", voice=voice, pitch=pitch)
            speech_len = _wav_seconds(wav)
            inputs += ["-i", str(wav)]
        total = duration if duration is not None else speech_len + lead_silence + 0.5
        if video:
            src = pattern if "=" in pattern else f"{pattern}=size={size[0]}x{size[1]}:rate={fps}"
            if "size=" not in src and "s=" not in src:
                src += f":size={size[0]}x{size[1]}:rate={fps}"
            inputs = ["-f", "lavfi", "-i", src] + inputs
        if audio and not text:
            inputs += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono"]
        cmd = [ffmpeg, "-y", "-loglevel", "error", *inputs, "-t", f"{total:.3f}"]
        if audio and text:  # delay the speech a little so it starts inside the clip, then pad with silence
            idx = 1 if video else 0
            delay = int(lead_silence * 1000)
            cmd += ["-filter_complex", f"[{idx}:a]adelay={delay}:all=1,apad[a]", "-map", "[a]"]
            if video:
                cmd += ["-map", "0:v"]
        if video:
            cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        if audio:
            cmd += ["-c:a", "aac" if path.suffix.lower() in (".mp4", ".mov", ".m4a") else _audio_codec(path)]
        _run(cmd + [str(path)])
    return path


# the app's example clips: (file name, spoken text, voice pitch, moving background). The pictures are generated
# (no face in them: the face branch says so); the voices are espeak-ng's.
EXAMPLES = [
    ("good_news.mp4", "Oh my god, I got the job! This is the best day of my life. I am so happy!", 70,
     "gradients=c0=0xffd166:c1=0xef476f:speed=0.02"),
    ("bad_day.mp4", "I can't believe you did that again. I am so angry right now. Just leave me alone.", 30,
     "life=ratio=0.2:mold=10:life_color=0xe5484d:death_color=0x301010"),
    ("quiet_talk.mp4", "I miss her so much. Everything feels empty since she left. I don't know what to do.", 40,
     "gradients=c0=0x0b3c5d:c1=0x328cc1:speed=0.005"),
]


def make_examples(out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    """Render the app's example clips into out_dir (kept when they exist, unless force)."""
    import hashlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text, pitch, pattern in EXAMPLES:
        recipe = hashlib.sha1(f"{text}|{pitch}|{pattern}".encode()).hexdigest()[:8]  # a changed recipe renders anew
        path = out / f"{Path(name).stem}-{recipe}{Path(name).suffix}"
        if force or not path.exists():
            make_video(path, text, pitch=pitch, pattern=pattern, size=(480, 270))
        paths.append(path)
    return paths


def _audio_codec(path: Path) -> str:
    return {".wav": "pcm_s16le", ".mp3": "libmp3lame", ".webm": "libopus", ".mkv": "aac", ".ogg": "libvorbis"}.get(
        path.suffix.lower(), "aac")


def _wav_seconds(wav: Path) -> float:
    import wave

    with wave.open(str(wav)) as w:
        return w.getnframes() / float(w.getframerate())


# distinct espeak-ng voices (variant, pitch) for generated conversations: S1, S2, ... in this order
# (picked for the largest speaker-embedding distances among espeak-ng's English voices and variants, the most
# distinct three first; even these are closer to each other than real people usually are)
CONVERSATION_VOICES = [("en-gb+f3", 75), ("en-gb-x-rp+f4", 60), ("en-us+klatt", 50), ("en-us+m7", 15),
                       ("en-gb-scotland+f2", 85), ("en-us+m3", 35), ("en-029+m2", 30), ("en-us+m6", 25)]


def make_conversation(path: str | os.PathLike, turns: list[tuple[int, str]], pause: float = 0.5,
                      voices: list[tuple[str, int]] | None = None) -> list[tuple[float, float, int]]:
    """A WAV (or, for a video suffix, a video with moving frames) of turns (speaker index, text) spoken by
    different voices with `pause` seconds between turns; returns the truth: (start, end, speaker) per turn."""
    import numpy as np

    voices = voices or CONVERSATION_VOICES
    rate = SAMPLE_RATE
    pieces, truth, t = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (speaker, text) in enumerate(turns):
            voice, pitch = voices[speaker % len(voices)]
            wav = speak(text, Path(tmp) / f"{i}.wav", voice=voice, pitch=pitch)
            _run([_need("ffmpeg"), "-v", "error", "-y", "-i", str(wav), "-ar", str(rate), "-ac", "1", "-f", "s16le",
                  str(Path(tmp) / f"{i}.raw")])
            samples = np.fromfile(Path(tmp) / f"{i}.raw", dtype=np.int16)
            truth.append((t, t + len(samples) / rate, speaker))
            pieces += [samples, np.zeros(int(pause * rate), np.int16)]
            t += len(samples) / rate + pause
        raw = Path(tmp) / "all.raw"
        np.concatenate(pieces).tofile(raw)
        out = Path(path)
        audio_in = ["-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", str(raw)]
        if out.suffix.lower() == ".wav":
            _run([_need("ffmpeg"), "-v", "error", "-y", *audio_in, str(out)])
        else:
            _run([_need("ffmpeg"), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:d={t:.2f}",
                  *audio_in, "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a",
                  _audio_codec(out), str(out)])
    return truth


def make_plain_clip(path: str | os.PathLike, seconds: float = 1.0, side: int = 64) -> Path:
    """A Matroska clip of grey frames (MPEG-4 part 2) and faint noise (16 kHz PCM), written with PyAV only: no
    ffmpeg or espeak-ng needed, so any install can make it."""
    import av
    import numpy as np

    rate, fps = SAMPLE_RATE, 10
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=rate)
        audio.layout = "mono"
        grey = av.VideoFrame.from_ndarray(np.full((side, side, 3), 128, np.uint8), format="rgb24")
        for _ in range(int(seconds * fps)):
            out.mux(video.encode(grey))
        out.mux(video.encode())
        samples = (rng.standard_normal((1, int(seconds * rate))) * 300).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return Path(path)


def write_float_wav(path: str | os.PathLike, samples, rate: int = SAMPLE_RATE) -> Path:
    """A mono 32-bit float WAV holding exactly these samples, NaN and infinities included (ffmpeg will not write
    those): what a broken or hostile float file looks like."""
    import struct

    import numpy as np

    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # format 3: IEEE float
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return Path(path)
