import json
import math

import pytest

from mmsa.analyze import Analyzer
from mmsa.labels import EMOTIONS, SENTIMENTS
from mmsa.media import MediaError
from mmsa.synth import make_video
from tests.helpers import SPEECH_WORDS

pytestmark = pytest.mark.e2e  # real speech recognition, a browser or a moto server


@pytest.fixture(scope="module")
def analyzer(tiny_model):
    return Analyzer(tiny_model, model_name="tiny")


def _check_distribution(scores, labels):
    assert list(scores) == list(labels)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-3)


def _check_contract(result: dict, duration: float):
    assert {"model", "duration", "utterances", "summary", "timings"} <= set(result)
    assert result["utterances"], "at least one utterance"
    for u in result["utterances"]:
        assert {"start", "end", "text", "emotion", "emotion_scores", "sentiment", "sentiment_scores",
                "modalities", "by_modality"} <= set(u)
        assert 0.0 <= u["start"] < u["end"] <= duration + 1e-3
        _check_distribution(u["emotion_scores"], EMOTIONS)
        _check_distribution(u["sentiment_scores"], SENTIMENTS)
        assert u["emotion"] == max(u["emotion_scores"], key=u["emotion_scores"].get)
        for m, pred in u["by_modality"].items():
            assert m in u["modalities"]
            _check_distribution(pred["emotion_scores"], EMOTIONS)
    _check_distribution(result["summary"]["emotion_scores"], EMOTIONS)
    _check_distribution(result["summary"]["sentiment_scores"], SENTIMENTS)
    json.dumps(result)  # JSON-serialisable


def test_speech_video_end_to_end(analyzer, speech_video):
    steps = []
    analysis = analyzer.analyze(speech_video, progress=lambda f, msg: steps.append((f, msg)))
    result = analysis.to_dict()
    _check_contract(result, analysis.duration)
    text = " ".join(u["text"] for u in result["utterances"]).lower()
    assert all(w in text for w in SPEECH_WORDS), text
    assert result["utterances"] and all(set(u["modalities"]) == {"text", "audio", "video"} for u in result["utterances"])
    assert {"probe", "decode_audio", "transcribe", "decode_frames", "model", "total"} <= set(result["timings"])
    assert steps[0][0] == 0.0 and steps[-1][0] == 1.0
    assert any("Transcribing" in m for _, m in steps) and any("Analysing utterances" in m for _, m in steps)
    # the summary is the duration-weighted mean of the utterances
    us = analysis.utterances
    w = [u.end - u.start for u in us]
    joy = sum(wi * u.prediction.emotion_scores["joy"] for wi, u in zip(w, us)) / sum(w)
    assert math.isclose(analysis.summary.emotion_scores["joy"], joy, rel_tol=1e-6)


def test_same_file_same_answer(analyzer, speech_video):
    a, b = analyzer.analyze(speech_video).to_dict(), analyzer.analyze(speech_video).to_dict()
    a.pop("timings"), b.pop("timings")
    assert a == b


def test_video_without_audio_is_analysed_from_the_picture(analyzer, media_dir):
    path = make_video(media_dir / "no_audio.mp4", None, duration=7.0, audio=False)
    analysis = analyzer.analyze(path)
    result = analysis.to_dict()
    _check_contract(result, analysis.duration)
    assert result["utterances"] and all(u["modalities"] == ["video"] and u["text"] == "" for u in result["utterances"])
    assert len(result["utterances"]) == 1 and "no audio track" in " ".join(result["warnings"])


def test_silent_video_gets_fixed_windows(analyzer, media_dir):
    path = make_video(media_dir / "silent.mp4", None, duration=11.0)
    result = analyzer.analyze(path).to_dict()
    assert len(result["utterances"]) == 2
    assert result["utterances"] and all(set(u["modalities"]) == {"video", "audio"} for u in result["utterances"])
    assert any("no speech" in w for w in result["warnings"])


def test_audio_only_file_is_analysed_as_audio_and_text(analyzer, media_dir):
    path = make_video(media_dir / "voice only.wav", "I am really angry about my car", video=False)
    result = analyzer.analyze(path).to_dict()
    assert "angry" in " ".join(u["text"] for u in result["utterances"]).lower()
    assert result["utterances"] and all(set(u["modalities"]) == {"text", "audio"} for u in result["utterances"])


def test_very_short_clip(analyzer, media_dir):
    path = make_video(media_dir / "short.mp4", None, duration=0.3)
    analysis = analyzer.analyze(path)
    assert len(analysis.utterances) == 1 and analysis.utterances[0].end <= analysis.duration + 1e-3


def test_bad_input_raises_media_error(analyzer, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    with pytest.raises(MediaError, match="notes.mp4: not a readable"):
        analyzer.analyze(bad)


def test_text_only_model_skips_frames(media_dir, speech_video):
    from mmsa.model import MultimodalSentimentModel

    analyzer = Analyzer(MultimodalSentimentModel.tiny(modalities=["text"]))
    result = analyzer.analyze(speech_video).to_dict()
    assert "decode_frames" not in result["timings"]
    assert result["utterances"] and all(u["modalities"] == ["text"] for u in result["utterances"])


def test_dialogue_context_uses_previous_utterances(speech_video):
    from mmsa import features
    from mmsa.model import MultimodalSentimentModel

    model = MultimodalSentimentModel.tiny(dialogue_context=2)
    assert features.context_of(["a b", "c", "d e"], model.config) == "c d e"
    tok = features.tokenize(model.tokenizer, ["now"], model.config, ["before that"])
    decoded = model.tokenizer.decode(tok["input_ids"][0])
    assert "now" in decoded and "before that" in decoded
    result = Analyzer(model).analyze(speech_video).to_dict()
    assert result["utterances"]


def test_the_duration_limit_is_read_when_the_analyzer_is_made(tiny_model, monkeypatch):
    # batch jobs and endpoints set MMSA_MAX_DURATION in their environment and construct Analyzer() without it
    monkeypatch.setenv("MMSA_MAX_DURATION", "1800")
    assert Analyzer(tiny_model, speakers=False).max_duration == 1800.0
    assert Analyzer(tiny_model, speakers=False, max_duration=5.0).max_duration == 5.0


def test_a_timeout_during_the_frames_stops_the_analysis_with_its_own_message(tiny_model, speech_video):
    from mmsa.analyze import AnalysisTimeout

    analyzer = Analyzer(tiny_model, batch_size=1, speakers=False)

    def stop_after_the_first_batch(fraction, message):
        if message.startswith("Analysing utterances 1 of"):
            raise AnalysisTimeout("speech.mp4: analysis stopped after the time limit of 5 s; try a shorter clip")

    with pytest.raises(AnalysisTimeout, match="time limit"):
        analyzer.analyze(speech_video, progress=stop_after_the_first_batch)


def test_after_warm_up_an_analysis_imports_nothing_new(speech_video):
    import subprocess
    import sys

    # a fresh interpreter (other tests here have imported everything already), and the default model: every stage
    code = ("import sys\nfrom mmsa.analyze import Analyzer\n"
            "a = Analyzer()\na.warm_up()\nbefore = set(sys.modules)\n"
            f"a.analyze({str(speech_video)!r})\n"
            "print(sorted(m for m in set(sys.modules) - before if not m.startswith('encodings')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
