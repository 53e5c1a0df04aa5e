"""Late fusion of separately trained branches: the pooling rule, derived sentiment, weights, composition, and the
voice and face branches running through the pipeline on real and generated media."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mmsa.fusion import pool, reliability_weight
from mmsa.labels import EMOTIONS
from mmsa.model import MultimodalSentimentModel

TABLE = [[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.05, 0.15, 0.8], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1],
         [0.3, 0.2, 0.5]]
CREMA_D = Path(os.environ.get("MMSA_TEST_CLIPS", "/nonexistent"))


def test_pooling_is_weighted_log_linear_over_the_branches_present():
    p_text = torch.tensor([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]]).log()
    p_voice = torch.tensor([[0.1, 0.3, 0.6], [0.1, 0.3, 0.6]]).log()
    present = {"text": torch.tensor([True, True]), "voice": torch.tensor([True, False])}
    out = pool({"text": p_text, "voice": p_voice}, present, {"text": 1.0, "voice": 3.0}).exp()
    # by hand: p ~ (p_text^1 * p_voice^3) ^ (1/4)
    raw = np.array([0.7 * 0.1 ** 3, 0.2 * 0.3 ** 3, 0.1 * 0.6 ** 3]) ** 0.25
    assert out[0].numpy() == pytest.approx(raw / raw.sum(), abs=1e-6)
    assert out[1].numpy() == pytest.approx([0.7, 0.2, 0.1], abs=1e-6)  # voice absent: the words alone
    none = pool({"text": p_text}, {"text": torch.tensor([False, False])}, {}).exp()
    assert none.numpy() == pytest.approx(np.full((2, 3), 1 / 3), abs=1e-6)  # nothing present: uniform


def test_reliability_weight():
    assert reliability_weight(0.75, 0.25) == pytest.approx(2 / 3)
    assert reliability_weight(0.2, 0.25) == 0.0
    with pytest.raises(ValueError):
        reliability_weight(0.5, 1.0)


@pytest.fixture(scope="module")
def late_model():
    torch.manual_seed(1)
    return MultimodalSentimentModel.tiny(fusion="late", audio_backbone="whisper", video_backbone="face_cnn",
                                         face_width=4, derived_sentiment=["audio", "video"],
                                         emotion_to_sentiment=TABLE,
                                         branch_weights={"text": 0.2, "audio": 0.6, "video": 0.5},
                                         branch_temperatures={"audio": {"emotion": 1.7}})


@torch.no_grad()
def test_voice_and_face_sentiment_follow_their_emotion(late_model):
    width = 2 * late_model.config.whisper_width
    out = late_model(audio=torch.randn(3, width))
    emotion = out.modality_logits["audio"]["emotion"].exp()
    sentiment = out.modality_logits["audio"]["sentiment"].exp()
    assert sentiment.numpy() == pytest.approx((emotion @ torch.tensor(TABLE)).numpy(), abs=1e-5)
    # only voice present: the fused answer is the voice branch's, calibrated with its temperature
    assert out.emotion_logits.exp().numpy() == pytest.approx(emotion.numpy(), abs=1e-5)
    logits = late_model.branch_heads["audio"](late_model.audio_encoder(torch.zeros(1, width)))[0]
    calibrated = torch.softmax(logits / 1.7, -1)
    assert late_model(audio=torch.zeros(1, width)).modality_logits["audio"]["emotion"].exp().numpy() == \
        pytest.approx(calibrated.numpy(), abs=1e-5)


def test_late_model_round_trips_and_rejects_bad_fusion_settings(late_model, tmp_path):
    from mmsa.config import ModelConfig

    late_model.save_pretrained(str(tmp_path))
    again = MultimodalSentimentModel.from_pretrained(str(tmp_path))
    x = torch.randn(2, 2 * late_model.config.whisper_width)
    with torch.no_grad():
        assert torch.allclose(again(audio=x).emotion_logits, late_model(audio=x).emotion_logits)
    with pytest.raises(ValueError, match="emotion_to_sentiment must be a 7 x 3 table"):
        ModelConfig(modalities=["audio"], fusion="late", derived_sentiment=["audio"], emotion_to_sentiment=[[1.0]])
    with pytest.raises(ValueError, match="branch_weights must map some of"):
        ModelConfig(modalities=["audio"], fusion="late", branch_weights={"video": 1.0})


def test_compose_keeps_the_text_answer_of_the_text_model(tmp_path):
    from training.compose import compose

    torch.manual_seed(2)
    text = MultimodalSentimentModel.tiny(modalities=["text"], emotion_temperature=1.3, sentiment_temperature=0.8)
    text.eval()
    voice = MultimodalSentimentModel.tiny(modalities=["audio"], fusion="late", audio_backbone="whisper",
                                          derived_sentiment=["audio"], emotion_to_sentiment=TABLE,
                                          branch_temperatures={"audio": {"emotion": 2.0}})
    face = MultimodalSentimentModel.tiny(modalities=["video"], fusion="late", video_backbone="face_cnn",
                                         face_width=4, derived_sentiment=["video"], emotion_to_sentiment=TABLE,
                                         branch_temperatures={"video": {"emotion": 1.5}})
    joined = compose(text, voice, face, TABLE, {"text": 0.3, "audio": 0.6, "video": 0.4})
    from mmsa import features

    tok = features.tokenize(text.tokenizer, ["I am so happy", "leave me alone"], text.config)
    with torch.no_grad():
        want = text.probabilities(text(**tok))
        got = joined.probabilities(joined(**tok))
    assert got["emotion"].numpy() == pytest.approx(want["emotion"].numpy(), abs=1e-5)
    assert got["sentiment"].numpy() == pytest.approx(want["sentiment"].numpy(), abs=1e-5)
    assert joined.config.branch_temperatures["audio"] == {"emotion": 2.0} and joined.config.num_frames == 4


@pytest.mark.e2e
def test_voice_features_of_generated_speech(speech_video):
    from mmsa import features
    from mmsa.loading import whisper_source
    from mmsa.media import decode_audio
    from mmsa.transcribe import load_asr

    whisper = load_asr(whisper_source("tiny.en"))
    audio = decode_audio(speech_video)
    v = features.voice_features(whisper, audio)
    assert v.shape == (768,) and np.isfinite(v).all() and v[384:].min() >= 0  # means, then standard deviations
    assert np.array_equal(v, features.voice_features(whisper, audio))
    assert features.voice_features(whisper, audio[:800]) is None  # 0.05 s: too little to describe a voice


@pytest.mark.e2e
def test_pipeline_reads_voice_and_says_when_there_is_no_face(late_model, speech_video):
    from mmsa.analyze import Analyzer

    analysis = Analyzer(late_model).analyze(speech_video)  # generated frames: a test pattern, no face
    assert analysis.utterances and all(set(u.modalities) == {"text", "audio"} for u in analysis.utterances)
    n = len(analysis.utterances)
    assert f"no face in {n} of {n} utterances: those were read without the picture" in analysis.warnings
    assert all(set(u.by_modality) == {"text", "audio"} for u in analysis.utterances)


@pytest.mark.e2e
@pytest.mark.skipif(not CREMA_D.is_dir(), reason="CREMA-D smoke clips not downloaded (set MMSA_TEST_CLIPS)")
def test_real_acted_clips_give_words_voice_and_face(late_model):
    from mmsa.analyze import Analyzer

    analyzer = Analyzer(late_model)
    clips = sorted(CREMA_D.glob("*.flv"))
    assert len(clips) == 6
    for clip in clips:
        analysis = analyzer.analyze(clip)
        assert analysis.utterances, clip.name
        assert set(analysis.modalities) == {"text", "audio", "video"}, (clip.name, analysis.warnings)
        u = analysis.utterances[0]
        assert u.face is not None and u.face.shape == (48, 48) and u.face.std() > 10


@pytest.mark.e2e
def test_evaluate_branches_on_labelled_files(late_model, tmp_path, speech_video):
    import cv2

    from training.evaluate import main

    model_dir = tmp_path / "model"
    late_model.save_pretrained(str(model_dir))
    rng = np.random.default_rng(0)
    for i in range(3):  # tight "crops" with no detectable face: the whole image is the face
        cv2.imwrite(str(tmp_path / f"face{i}.jpg"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    (tmp_path / "faces.csv").write_text("path,emotion\nface0.jpg,joy\nface1.jpg,anger\nface2.jpg,neutral\n")
    assert main(["--branch", "face", "--csv", str(tmp_path / "faces.csv"), "--model", str(model_dir),
                 "-o", str(tmp_path / "face" / "metrics.json")]) == 0
    import json

    m = json.loads((tmp_path / "face" / "metrics.json").read_text())
    assert m["n"] == 3 and m["branch"] == "face" and set(m) >= {"emotion", "skipped"} and "sentiment" not in m
    wav = tmp_path / "speech.wav"
    import subprocess

    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(speech_video), "-vn", str(wav)], check=True)
    (tmp_path / "voice.csv").write_text("path,emotion,sentiment\nspeech.wav,joy,positive\nface0.jpg,joy,positive\n")
    assert main(["--branch", "voice", "--csv", str(tmp_path / "voice.csv"), "--model", str(model_dir),
                 "-o", str(tmp_path / "voice" / "metrics.json")]) == 0
    m = json.loads((tmp_path / "voice" / "metrics.json").read_text())
    assert m["n"] == 1 and m["skipped"] == 1
    # the written figure is the voice branch's own answer on that one clip, scored against its label
    from training.branch_eval import evaluate_branch

    _, probs, _ = evaluate_branch(late_model, str(tmp_path / "voice.csv"), "voice")
    assert m["emotion"]["accuracy"] == float(probs["emotion"].argmax(1)[0] == EMOTIONS.index("joy"))
    assert (tmp_path / "voice" / "emotion_confusion.png").is_file()


@pytest.mark.e2e
def test_darkness_and_music_read_only_what_is_there(late_model, tmp_path):
    """A black picture over a tone: no words, no face; the voice branch hears the sound; each absence is said."""
    import subprocess

    from mmsa.analyze import Analyzer

    clip = tmp_path / "dark_music.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=black:size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "6", "-c:v", "libx264",
                    "-c:a", "aac", "-shortest", str(clip)], check=True)
    analysis = Analyzer(late_model).analyze(clip)
    n = len(analysis.utterances)
    assert n >= 1 and all(u.modalities == ["audio"] and u.text == "" for u in analysis.utterances)
    assert "no speech found: analysed in fixed windows without text" in analysis.warnings
    assert f"no face in {n} of {n} utterances: those were read without the picture" in analysis.warnings
