import json
import os
import subprocess
import sys

import pytest

from mmsa.synth import make_video
from tests.helpers import SPEECH_WORDS


def run(*args, env=None, timeout=300):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "mmsa", *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


@pytest.mark.e2e
def test_analyze_json_to_stdout(tiny_model_dir, speech_video):
    proc = run("analyze", str(speech_video), "--model", str(tiny_model_dir))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    text = " ".join(u["text"] for u in result["utterances"]).lower()
    assert all(w in text for w in SPEECH_WORDS)
    assert result["model"] == tiny_model_dir.name and result["asr"] == "tiny.en"


@pytest.mark.e2e
def test_model_and_format_from_env_and_flags(tiny_model_dir, speech_video, tmp_path):
    out = tmp_path / "subs.vtt"
    proc = run("analyze", str(speech_video), "--format", "vtt", "-o", str(out), env={"MMSA_MODEL": str(tiny_model_dir)})
    assert proc.returncode == 0, proc.stderr
    vtt = out.read_text()
    assert vtt.startswith("WEBVTT") and "-->" in vtt and "happy" in vtt.lower()


@pytest.mark.e2e
def test_several_files_one_bad_does_not_stop_the_others(tiny_model_dir, speech_video, tmp_path):
    bad = tmp_path / "not a video.mp4"
    bad.write_text("plain text")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    good_copy = tmp_path / "clip ünï.mp4"
    good_copy.write_bytes(speech_video.read_bytes())
    out = tmp_path / "out"
    proc = run("analyze", str(bad), str(speech_video), str(empty), str(good_copy), "--model", str(tiny_model_dir),
               "--format", "srt", "-o", str(out))
    assert proc.returncode == 1
    assert "not a video.mp4: not a readable audio or video file" in proc.stderr
    assert "empty.mp4: the file is empty" in proc.stderr
    assert "2 of 4 file(s) failed" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip ünï.srt", "speech.srt"]


@pytest.mark.e2e
@pytest.mark.parametrize("case", ["too_long", "huge", "missing_model", "bad_flag", "bad_duration", "translate_en"])
def test_errors_are_messages_not_tracebacks(case, tiny_model_dir, speech_video, media_dir, tmp_path):
    if case == "too_long":
        proc = run("analyze", str(speech_video), "--model", str(tiny_model_dir), "--max-duration", "1")
        expected = "the limit is 1.0 s"
    elif case == "huge":
        huge = make_video(tmp_path / "huge.mp4", None, duration=0.2, audio=False, size=(4400, 32), fps=5)
        proc = run("analyze", str(huge), "--model", str(tiny_model_dir))
        expected = "is larger than the supported"
    elif case == "missing_model":
        proc = run("analyze", str(speech_video), "--model", str(tmp_path / "nope"))
        expected = "does not exist"
    elif case == "bad_flag":
        proc = run("analyze", str(speech_video), "--format", "docx")
        expected = "invalid choice: 'docx'"
    elif case == "translate_en":
        proc = run("analyze", str(speech_video), "--model", str(tiny_model_dir), "--translate")
        expected = "translation needs a multilingual speech recogniser: add --asr base"
    else:
        proc = run("analyze", str(speech_video), "--max-duration", "-3")
        expected = "must be > 0"
    assert proc.returncode in (1, 2)
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_init_model_writes_a_loadable_folder(tmp_path, minilm_dir):
    from mmsa.model import MultimodalSentimentModel

    proc = run("init-model", str(tmp_path / "m"), "--preset", "cpu", "--text-backbone", str(minilm_dir),
               "--no-pretrained")
    assert proc.returncode == 0, proc.stderr
    model = MultimodalSentimentModel.from_pretrained(str(tmp_path / "m"))
    assert model.config.preset == "cpu" and model.modalities == ["text", "video", "audio"]
