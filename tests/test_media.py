import numpy as np
import pytest

from mmsa.media import MAX_FRAME_SIDE, MediaError, decode_audio, iter_span_frames, probe
from mmsa.synth import make_video


def test_probe_speech_video(speech_video):
    info = probe(speech_video)
    assert info.has_audio and info.has_video
    assert (info.width, info.height) == (320, 240)
    assert 3.0 < info.duration < 10.0 and abs(info.fps - 25) < 0.5


def test_decode_audio_once_at_16k_mono(speech_video):
    audio = decode_audio(speech_video)
    info = probe(speech_video)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / 16000 - info.duration) < 0.2
    assert 0.01 < np.abs(audio).max() <= 1.0


def test_audio_that_changes_sample_rate_part_way_is_read_whole(tmp_path):
    """Two AAC recordings joined byte for byte (44.1 kHz, then 22.05 kHz; each ADTS frame states its own rate): both
    halves are read, resampled to 16 kHz, instead of failing at the change."""
    import subprocess

    parts = []
    for rate, freq in ((44100, 440), (22050, 880)):
        part = tmp_path / f"{rate}.aac"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"sine=frequency={freq}:sample_rate={rate}:duration=2", "-c:a", "aac", str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.aac"
    joined.write_bytes(b"".join(parts))
    audio = decode_audio(joined)
    # 4 s, and a little more: each AAC encoding adds its priming and padding frames (about 0.07 s)
    assert audio.dtype == np.float32 and abs(audio.size - 4 * 16000) < 0.25 * 16000
    first, second = audio[4000:28000], audio[36000:60000]  # away from the edges and the join
    assert np.abs(first).mean() > 0.02 and np.abs(second).mean() > 0.02  # both halves heard, not silence
    spectrum = [np.abs(np.fft.rfft(x)) for x in (first, second)]  # 1 Hz per bin over 24,000 samples at 16 kHz
    assert abs(int(np.argmax(spectrum[0])) * 16000 / 24000 - 440) < 5
    assert abs(int(np.argmax(spectrum[1])) * 16000 / 24000 - 880) < 5


def test_frames_sampled_across_the_whole_span(media_dir):
    # the frame colour encodes time: red for the first 2 s, then green, then blue
    path = media_dir / "colours.mp4"
    make_video(path, None, duration=6, audio=False,
               pattern="color=c=red:size=64x48:rate=10:d=2[r];color=c=green:size=64x48:rate=10:d=2[g];"
                       "color=c=blue:size=64x48:rate=10:d=2[b];[r][g][b]concat=n=3")
    got = dict(iter_span_frames(path, [(0.0, 6.0), (4.2, 5.9)], num_frames=3, size=16))
    dominant = lambda f: int(np.argmax(f.reshape(-1, 3).mean(0)))  # 0 red, 1 green, 2 blue
    assert [dominant(f) for f in got[0]] == [0, 1, 2]  # the seed took the first frames only: all red
    assert [dominant(f) for f in got[1]] == [2, 2, 2]
    assert got[0].shape == (3, 16, 16, 3) and got[0].dtype == np.uint8


def test_frames_past_the_end_repeat_the_last_frame(media_dir):
    path = media_dir / "short_frames.mp4"
    make_video(path, None, duration=1.0, audio=False)
    got = dict(iter_span_frames(path, [(0.5, 3.0)], num_frames=4, size=8))
    assert got[0].shape == (4, 8, 8, 3)


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "folder", "missing"])
def test_bad_files_give_clear_errors(tmp_path, speech_video, kind):
    target = tmp_path / f"bad_{kind}.mp4"
    if kind == "text":
        target.write_text("this is not a video at all\n" * 20)
        expected = "not a readable audio or video file"
    elif kind == "empty":
        target.touch()
        expected = "the file is empty"
    elif kind == "truncated":
        data = speech_video.read_bytes()
        target.write_bytes(data[: len(data) // 2])  # ffmpeg writes the index at the end: it is cut off
        expected = "not a readable audio or video file, or truncated"
    elif kind == "folder":
        target.mkdir()
        expected = "is a folder"
    else:
        expected = "file not found"
    with pytest.raises(MediaError, match=expected):
        probe(target)


def test_too_long_names_the_limit(speech_video):
    with pytest.raises(MediaError, match=r"the limit is 2.0 s.*--max-duration"):
        probe(speech_video, max_duration=2.0)


def test_huge_frames_are_refused_with_a_fix(media_dir):
    path = media_dir / "huge.mp4"
    make_video(path, None, duration=0.2, audio=False, size=(MAX_FRAME_SIDE + 256, 64), fps=5)
    with pytest.raises(MediaError, match=r"frame size 4352x64 is larger than the supported.*scale="):
        probe(path)


def test_audio_only_and_video_only(media_dir):
    wav = make_video(media_dir / "voice.wav", "just my voice", video=False)
    info = probe(wav)
    assert info.has_audio and not info.has_video
    silent = make_video(media_dir / "mute.mp4", None, duration=1.0, audio=False)
    info = probe(silent)
    assert info.has_video and not info.has_audio


def test_unicode_and_spaces_in_path(media_dir, speech_video):
    target = media_dir / "ünïcödé clip 😀 (1).mp4"
    target.write_bytes(speech_video.read_bytes())
    assert probe(target).has_audio
    assert decode_audio(target).size > 16000
    assert len(dict(iter_span_frames(target, [(0.0, 1.0)], 2, 8))) == 1


def test_sampled_frames_land_on_their_time_in_a_stream_with_b_frames(media_dir):
    """The reader skips frames nothing refers to while the next sampled time is far ahead; the frame it hands out
    for a time is still the one shown at that time (each frame's grey level here is twice its number)."""
    import subprocess

    from mmsa.media import sample_times

    path = media_dir / "numbered.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=black:size=64x48:rate=30:d=4,format=gray,geq=lum='2*N'", "-c:v", "libx264",
                    "-preset", "medium", "-bf", "3", "-g", "250", "-pix_fmt", "yuv420p", str(path)], check=True)
    spans = [(0.0, 1.0), (1.3, 2.2), (2.5, 3.9)]
    got = dict(iter_span_frames(path, spans, num_frames=4, size=48))
    for i, (s, e) in enumerate(spans):
        shown = [round(float(f.mean()) / 2) for f in got[i]]  # the frame number each sampled frame shows
        expected = [round(t * 30) for t in sample_times(s, e, 4)]
        assert all(abs(a - b) <= 1 for a, b in zip(shown, expected)), (shown, expected)
