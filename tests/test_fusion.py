"""Late fusion of separately trained branches: the pooling rule, derived sentiment, weights, composition, and the
voice and face branches running through the pipeline on real and generated media."""

import os
import subprocess
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


def test_a_branch_weighs_its_kappa_on_data_unlike_its_training_data():
    from training.metrics import task_metrics

    labels = ("a", "b", "c")
    # by hand: agreement 3/4; chance with truth (1/2, 1/2, 0) and answers (1/4, 3/4, 0): 1/8 + 3/8 = 1/2
    # -> kappa (3/4 - 1/2) / (1 - 1/2) = 1/2
    m = task_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), labels)
    assert m["kappa"] == pytest.approx(0.5) and reliability_weight(m["kappa"]) == pytest.approx(0.5)
    # always the commonest answer: 70% accuracy and no weight at all, however unbalanced the set
    always = task_metrics(np.array([0] * 7 + [1, 2, 2]), np.zeros(10, int), labels)
    assert always["accuracy"] == pytest.approx(0.7) and reliability_weight(always["kappa"]) == 0.0
    # worse than chance gives 0, not a negative vote; one class only (kappa undefined) gives 0
    assert reliability_weight(task_metrics(np.array([0, 1]), np.array([1, 0]), labels)["kappa"]) == 0.0
    assert task_metrics(np.zeros(4, int), np.zeros(4, int), labels)["kappa"] == 0.0
    with pytest.raises(ValueError, match="kappa must be in"):
        reliability_weight(1.5)


def test_branch_weights_are_set_from_kappa_and_old_figures_are_refused(tmp_path, capsys):
    import json

    from training.branch_weights import main

    model = MultimodalSentimentModel.tiny(modalities=["text", "audio"], fusion="late", audio_backbone="whisper",
                                          derived_sentiment=["audio"], emotion_to_sentiment=TABLE)
    model.save_pretrained(str(tmp_path / "model"))
    words = {"n": 10, "emotion": {"accuracy": 0.5, "kappa": 0.27,
                                  "per_class": {"neutral": {"support": 4}, "joy": {"support": 6}}}}
    voice = {"set": "held-out corpora", "n": 30, "emotion": {"accuracy": 0.45, "chance": 0.35, "kappa": 0.25}}
    (tmp_path / "words.json").write_text(json.dumps(words))
    (tmp_path / "voice.json").write_text(json.dumps(voice))
    assert main(["--model", str(tmp_path / "model"), "--branch", "text", str(tmp_path / "words.json"), "MELD dev",
                 "--branch", "voice", str(tmp_path / "voice.json"), "corpora left out"]) == 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["branch_weights"] == {"text": 0.27, "audio": 0.25}
    assert config["branch_validation"]["text"] == {"set": "MELD dev", "n": 10, "accuracy": 0.5, "chance": 0.6,
                                                   "kappa": 0.27}
    del words["emotion"]["kappa"]
    (tmp_path / "words.json").write_text(json.dumps(words))
    assert main(["--model", str(tmp_path / "model"), "--branch", "text", str(tmp_path / "words.json"), "x"]) == 1
    assert "no kappa (made by an older version): run training.evaluate" in capsys.readouterr().err


@pytest.fixture(scope="module")
def late_model():
    torch.manual_seed(1)
    return MultimodalSentimentModel.tiny(fusion="late", audio_backbone="whisper", video_backbone="face_cnn",
                                         face_width=4, derived_sentiment=["audio", "video"],
                                         emotion_to_sentiment=TABLE,
                                         branch_weights={"text": 0.2, "audio": 0.6, "video": 0.5},
                                         branch_temperatures={"audio": {"emotion": 1.7}})


def test_two_heads_join_into_allowed_pairs_by_their_product():
    from mmsa.fusion import marginals, pairs_from_heads

    p_e = torch.tensor([[0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]])
    p_s = torch.tensor([[0.6, 0.2, 0.2]])
    pairs = pairs_from_heads(p_e.log(), p_s.log()).exp()
    # by hand, p(e) p(s) over the 8 pairs: .06 .06 .06 .08 .02 .06 .06 .02, summing to .42
    raw = np.array([.06, .06, .06, .08, .02, .06, .06, .02])
    assert pairs[0].numpy() == pytest.approx(raw / 0.42, abs=1e-6)
    log_e, log_s = marginals(pairs.log())
    assert log_e.exp()[0].numpy() == pytest.approx([.06 / .42] * 3 + [.08 / .42, .02 / .42, .06 / .42, .08 / .42],
                                                   abs=1e-6)
    assert log_s.exp()[0].numpy() == pytest.approx([.30 / .42, .02 / .42, .10 / .42], abs=1e-6)


def test_an_emotion_only_branch_adds_no_sentiment_prior_of_its_own():
    from mmsa.fusion import marginals, pairs_from_emotion

    p_e = torch.tensor([[0.2, 0.0, 0.0, 0.3, 0.1, 0.0, 0.4]])
    pairs = pairs_from_emotion(p_e.log()).exp()
    # surprise's 0.4 is split evenly between its two pairs; every other emotion has one pair
    assert pairs[0].numpy() == pytest.approx([0.2, 0, 0, 0.3, 0.1, 0, 0.2, 0.2], abs=1e-6)
    log_e, log_s = marginals(pairs.log())
    assert log_e.exp()[0].numpy() == pytest.approx(p_e[0].numpy(), abs=1e-6)
    assert log_s.exp()[0].numpy() == pytest.approx([0.4, 0.1, 0.5], abs=1e-6)


def test_pooling_weighs_each_vote_by_weight_times_familiarity_and_silence_gives_melds_prior(late_model):
    from mmsa.fusion import familiarity, feature_distance, prior_log_probs

    # familiarity: 1 up to the typical distance, 0 from the limit, linear between
    cal = {"typical": 1.0, "limit": 3.0}
    assert familiarity(torch.tensor([0.5, 1.0, 2.0, 2.5, 9.0]), cal).tolist() == pytest.approx([1, 1, .5, .25, 0])
    assert familiarity(torch.tensor([9.0]), None).tolist() == [1.0]
    whiten = {"mean": [1.0, 1.0], "whiten": [[2.0, 0.0]]}
    assert feature_distance(torch.tensor([[2.0, 5.0]]), whiten).tolist() == pytest.approx([4.0])  # (2 * 1)^2
    assert feature_distance(torch.tensor([[1.0, 3.0]]), None).tolist() == pytest.approx([5.0])  # (1 + 9) / 2
    # per-sample weights: text 1, voice 3 x familiarity 0.5 = 1.5
    p_text = torch.tensor([[0.7, 0.2, 0.1]]).log()
    p_voice = torch.tensor([[0.1, 0.3, 0.6]]).log()
    out = pool({"text": p_text, "voice": p_voice}, {"text": torch.tensor([True]), "voice": torch.tensor([True])},
               {"text": torch.tensor([1.0]), "voice": torch.tensor([3.0]) * 0.5}).exp()
    raw = np.array([0.7 * 0.1 ** 1.5, 0.2 * 0.3 ** 1.5, 0.1 * 0.6 ** 1.5]) ** (1 / 2.5)
    assert out[0].numpy() == pytest.approx(raw / raw.sum(), abs=1e-6)
    # no branch with a say: MELD train's pair frequencies (neutral 4,710 of 9,989)
    with torch.no_grad():
        silent = late_model(audio=torch.zeros(1, 2 * late_model.config.whisper_width),
                            present={"audio": torch.tensor([False]), "text": torch.tensor([False]),
                                     "video": torch.tensor([False])})
    assert silent.pair_logits.exp()[0].numpy() == pytest.approx(prior_log_probs().exp().numpy(), abs=1e-6)
    assert late_model.probabilities(silent)["emotion"][0, 4].item() == pytest.approx(4710 / 9989, abs=1e-6)


def test_the_labels_shown_are_always_an_allowed_pair():
    from mmsa.labels import EMOTIONS, PAIRS, SENTIMENTS
    from mmsa.results import Prediction

    # marginals whose separate winners (joy, negative) are a pair MELD never gives
    p = Prediction(dict(zip(EMOTIONS, [0.2, 0.05, 0.05, 0.3, 0.1, 0.2, 0.1])), dict(zip(SENTIMENTS, [0.6, 0.1, 0.3])))
    assert (p.emotion, p.sentiment) == ("joy", "positive")
    rng = np.random.default_rng(0)
    for _ in range(2000):
        e, s = rng.dirichlet(np.ones(7) * 0.3), rng.dirichlet(np.ones(3) * 0.3)
        pairs = rng.dirichlet(np.ones(8) * 0.3) if rng.random() < 0.5 else None
        q = Prediction.from_probabilities(e.tolist(), s.tolist(), None if pairs is None else pairs.tolist())
        assert (q.emotion, q.sentiment) in PAIRS


@torch.no_grad()
def test_random_branch_outputs_never_give_an_impossible_pair(late_model):
    """A property test: random inputs and presence through the late model and through a learned-fusion model."""
    from mmsa.labels import PAIRS
    from mmsa.results import Prediction

    learned = MultimodalSentimentModel.tiny(modalities=["audio"], audio_backbone="whisper")
    width = 2 * late_model.config.whisper_width
    for seed in range(30):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(8, width, generator=g) * (1 + 10 * torch.rand(1, generator=g))
        present = torch.rand(8, generator=g) < 0.8
        for model in (late_model, learned):
            out = model(audio=x, present={"audio": present})
            probs = model.probabilities(out)
            assert torch.allclose(probs["pairs"].sum(1), torch.ones(8), atol=1e-5)
            for j in range(8):
                fused = Prediction.from_probabilities(probs["emotion"][j].tolist(), probs["sentiment"][j].tolist(),
                                                      probs["pairs"][j].tolist())
                assert (fused.emotion, fused.sentiment) in PAIRS
                own = out.modality_logits.get("audio")
                if own is not None:
                    branch = Prediction.from_probabilities(own["emotion"][j].softmax(-1).tolist(),
                                                           own["sentiment"][j].softmax(-1).tolist())
                    assert (branch.emotion, branch.sentiment) in PAIRS


@torch.no_grad()
def test_an_unfamiliar_voice_counts_less_down_to_nothing(late_model):
    import copy

    model = copy.deepcopy(late_model)
    model.config.branch_familiarity = {"audio": {"typical": 1.0, "limit": 3.0}}
    width = 2 * model.config.whisper_width
    familiar, strange = torch.zeros(1, width), torch.full((1, width), 2.0)  # distance 0 and 4 (standardised)
    out = model(audio=torch.cat([familiar, strange]))
    assert out.familiarity["audio"].tolist() == pytest.approx([1.0, 0.0])
    assert out.weights["audio"].tolist() == pytest.approx([0.6, 0.0])  # branch weight 0.6 x familiarity


@torch.no_grad()
def test_words_heard_unclearly_count_less_and_alone_they_still_answer(late_model):
    """The words' familiarity is how clearly the recogniser heard them (1 - heard as the distance); typed words
    (NaN) are not measured and count fully; with no branch familiar the answer is the words' own."""
    import copy

    from mmsa.processors import processors_for

    model = copy.deepcopy(late_model).eval()
    model.config.branch_familiarity = {"text": {"typical": 0.25, "limit": 0.75},
                                       "audio": {"typical": 1.0, "limit": 3.0}}
    proc = processors_for(model)["text"]
    items = [proc.read("I am so happy", heard=h) for h in (0.9, 0.5, 0.1, None)]
    inputs, present = proc.collate(items)
    assert torch.equal(inputs["text_heard"][:3], torch.tensor([0.9, 0.5, 0.1])) and inputs["text_heard"][3].isnan()
    assert "text_heard" not in proc.collate([proc.read("typed only")])[0]
    uncalibrated = model.__class__(model.config.__class__.from_dict(
        dict(model.config.to_dict(), branch_familiarity={})))  # the words' clarity is not measured without one
    assert "text" not in uncalibrated.eval()(**inputs, present={"text": present}).familiarity
    width = 2 * model.config.whisper_width
    strange = torch.full((4, width), 2.0)  # distance 4: a voice that does not count
    out = model(**inputs, audio=strange, present={"text": present, "audio": torch.ones(4, dtype=torch.bool)})
    f = out.familiarity["text"]
    assert f[:3].tolist() == pytest.approx([1.0, 0.5, 0.0]) and f[3].isnan()
    assert out.weights["text"].tolist() == pytest.approx([0.2, 0.1, 0.0, 0.2])  # weight 0.2 x familiarity
    assert out.weights["audio"].tolist() == [0.0] * 4
    # the third has no familiar branch left: its answer is the words' own, not MELD's prior
    assert out.pair_logits[2].exp().numpy() == pytest.approx(out.modality_logits["text"]["pairs"][2].exp().numpy(),
                                                             abs=1e-6)


def test_late_model_round_trips_and_rejects_bad_fusion_settings(late_model, tmp_path):
    from mmsa.config import ModelConfig

    late_model.save_pretrained(str(tmp_path))
    again = MultimodalSentimentModel.from_pretrained(str(tmp_path))
    x = torch.randn(2, 2 * late_model.config.whisper_width)
    with torch.no_grad():
        assert torch.allclose(again(audio=x).emotion_logits, late_model(audio=x).emotion_logits)
    with pytest.raises(ValueError, match="emotion_to_sentiment must be a 7 x 3 table"):  # old configs still checked
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
    joined = compose(text, voice, face, {"text": 0.3, "audio": 0.6, "video": 0.4})
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
    # a heard column lets the fused answer count the words as in use; a value outside [0, 1] is named
    model = late_model.__class__.from_pretrained(str(model_dir))
    model.config.branch_familiarity = {"text": {"typical": 0.25, "limit": 0.75}}
    (tmp_path / "words.csv").write_text("path,emotion,text,heard\nspeech.wav,joy,what a lovely day,0.1\n"
                                        "speech.wav,joy,what a lovely day,\n")
    _, fused, _ = evaluate_branch(model, str(tmp_path / "words.csv"), "fused")
    _, voice, _ = evaluate_branch(model, str(tmp_path / "words.csv"), "voice")
    # heard 0.1: the words do not count and the voice answers alone; unmeasured, the words count fully
    assert fused["emotion"][0] == pytest.approx(voice["emotion"][0], abs=1e-5)
    assert np.abs(fused["emotion"][1] - voice["emotion"][1]).max() > 1e-3
    # kept across readings of the same files, each is decoded once, and the answers are the same
    import training.branch_eval as branch_eval

    decoded, decode = [], branch_eval.decode_audio
    kept: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(branch_eval, "decode_audio", lambda path: decoded.append(path) or decode(path))
        _, fused_kept, _ = evaluate_branch(model, str(tmp_path / "words.csv"), "fused", voice_items=kept)
        _, voice_kept, _ = evaluate_branch(model, str(tmp_path / "words.csv"), "voice", voice_items=kept)
    assert len(decoded) == 1 and list(kept) == [str(tmp_path / "speech.wav")]
    assert np.array_equal(fused_kept["emotion"], fused["emotion"]) and np.array_equal(voice_kept["emotion"],
                                                                                      voice["emotion"])
    (tmp_path / "bad.csv").write_text("path,emotion,text,heard\nspeech.wav,joy,hello there,1.7\n")
    from training.data import DataError

    with pytest.raises(DataError, match=r"bad.csv, row 2: heard must be in \[0, 1\], got 1.7"):
        evaluate_branch(model, str(tmp_path / "bad.csv"), "fused")


def test_words_familiarity_is_calibrated_on_how_clearly_dev_was_heard(late_model, tmp_path, capsys):
    import json

    from training.familiarity import WORDS_PERCENTILES, main

    model_dir = tmp_path / "model"
    late_model.save_pretrained(str(model_dir))
    heard = np.linspace(0.0, 1.0, 101)
    (tmp_path / "asr.csv").write_text("Utterance,heard\n" + "".join(f"x,{h:.2f}\n" for h in heard) + "y,\n")
    assert main(["--model", str(model_dir), "--branch", "words", "--csv", str(tmp_path / "asr.csv")]) == 0
    cal = json.loads((model_dir / "config.json").read_text())["branch_familiarity"]["text"]
    # distance 1 - heard: the 50th and 99th percentiles of 0.00 .. 1.00 are 0.50 and 0.99
    assert WORDS_PERCENTILES == (50, 99) and cal == {"typical": 0.5, "limit": 0.99}
    assert MultimodalSentimentModel.from_pretrained(str(model_dir)).config.branch_familiarity["text"] == cal
    (tmp_path / "no_heard.csv").write_text("Utterance\nx\n")
    assert main(["--model", str(model_dir), "--branch", "words", "--csv", str(tmp_path / "no_heard.csv")]) == 1
    assert "no_heard.csv: expected a heard column (benchmarks.asr_gap writes it)" in capsys.readouterr().err


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


def _cartoon_faces(n: int = 5) -> list[np.ndarray]:
    """Drawn faces: an outline, two eyes and a mouth on a flat background."""
    import cv2

    rng = np.random.default_rng(0)
    faces = []
    for _ in range(n):
        img = np.full((96, 96), int(rng.integers(180, 255)), np.uint8)
        cv2.ellipse(img, (48, 50), (30, 40), 0, 0, 360, int(rng.integers(0, 80)), 2)
        cv2.circle(img, (36, 40), 4, 0, -1)
        cv2.circle(img, (60, 40), 4, 0, -1)
        cv2.ellipse(img, (48, 68), (14, int(rng.integers(3, 10))), 0, 0, 180, 0, 2)
        faces.append(img)
    return faces


@torch.no_grad()
def test_the_starter_finds_a_cartoon_face_unfamiliar():
    from mmsa.model import load_model
    from mmsa.processors import processors_for

    model, _ = load_model("starter")
    face = processors_for(model)["video"]
    inputs, _ = face.collate([face.read_image(img) for img in _cartoon_faces()])
    out = model(video=inputs["video"])
    assert (out.familiarity["video"] < 0.5).all(), out.familiarity["video"]
    assert (out.weights["video"] < model.config.branch_weights["video"]).all()
    noise = face.collate([face.read_image(np.random.default_rng(1).integers(0, 255, (48, 48), dtype=np.uint8))])
    assert model(video=noise[0]["video"]).familiarity["video"].tolist() == [0.0]  # noise is no face at all


@pytest.mark.e2e
def test_the_starters_voice_answers_in_its_classes_with_its_measured_weight(speech_video):
    """espeak-ng's clear read English: the cross-corpus voice finds it typical (its distance, measured on each
    utterance alone, lies among those of the acted corpora' held-out speakers), so it counts with its weight times
    its familiarity, names its own class on the page and disagrees on sentiment only."""
    from mmsa import views
    from mmsa.analyze import Analyzer
    from mmsa.labels import CLASS_SETS, PAIRS, pairs_of_class

    analyzer = Analyzer()
    weight = analyzer.model.config.branch_weights["audio"]
    analysis = analyzer.analyze(speech_video)
    assert analysis.utterances
    for u in analysis.utterances:
        voice = u.by_modality["audio"]
        assert voice.label in CLASS_SETS["voice4"] and sum(voice.class_scores.values()) == pytest.approx(1, abs=1e-3)
        assert 0.0 <= voice.familiarity <= 1.0 and voice.weight == pytest.approx(weight * voice.familiarity, abs=1e-4)
        assert f"{voice.emotion}/{voice.sentiment}" in pairs_of_class(tuple(voice.class_scores), voice.label)
        assert (u.emotion, u.sentiment) in PAIRS
        assert not any(d.startswith("emotion") and "audio says" in d for d in u.disagreements)
    headers, rows = views.modality_rows(analysis)
    voice_cells = [row[headers.index("voice")] for row in rows]
    for u, cell in zip(analysis.utterances, voice_cells):
        p = u.by_modality["audio"]
        assert cell.startswith(f"{p.label} {p.class_scores[p.label]:.0%}"), cell
        assert ("not counted" in cell) == (not p.counted) and (p.counted and f"weight {p.weight:.2f}" in cell
                                                                or not p.counted)


@pytest.mark.e2e
def test_music_without_speech_or_face_gives_melds_prior_and_says_why(tmp_path):
    from mmsa.analyze import Analyzer

    clip = tmp_path / "music.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=220:duration=6", "-f",
                    "lavfi", "-i", "sine=frequency=277:duration=6", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=10:duration=6", "-filter_complex",
                    "[0][1]amix=inputs=2,volume=2,tremolo=f=4:d=0.6[a]", "-map", "2:v", "-map", "[a]", "-c:v",
                    "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)], check=True)
    analysis = Analyzer().analyze(clip)
    assert [u.text for u in analysis.utterances] == [""] * len(analysis.utterances)
    for u in analysis.utterances:
        voice = u.by_modality.get("audio")  # the voice reads speech the VAD hears: music gives it none, or if the
        assert voice is None or not voice.counted  # VAD takes some for speech, a voice unlike any it learned
        assert (u.emotion, u.sentiment) == ("neutral", "neutral")
        assert u.prediction.emotion_scores["neutral"] == pytest.approx(4710 / 9989, abs=1e-3)  # MELD's share
    # said either way: no branch had an input, or none it had could be counted
    assert any("no branch could be counted" in w or "had no input this model uses" in w
               for w in analysis.warnings), analysis.warnings


def test_the_flat_voice_check_compares_fused_and_words_on_the_same_utterances(tmp_path, capsys):
    """benchmarks.fusion (a): utterances the recogniser wrote nothing for are left out (the words have no answer
    there), the heard column travels with each row, each espeak-ng voice is a speaker whose utterances are
    standardised in groups of 8 as in a video ((a1): each alone), and a folder from before heard or voice existed is
    named."""
    import csv
    from collections import Counter

    from benchmarks.asr_gap import voice_of, write_asr_csv
    from benchmarks.fusion import VIDEO_GROUP, flat_voice_alone_csv, flat_voice_csv

    n, voices = 40, ["en-us", "en-gb"]
    meld = [{"Sr No.": str(i), "Utterance": "x", "Emotion": "joy", "Sentiment": "positive"} for i in range(n)]
    (tmp_path / "audio").mkdir()
    for i in range(n):
        (tmp_path / "audio" / f"{i}.wav").write_bytes(b"RIFF")
    texts = ["oh my god", " "] + ["fine."] * (n - 2)
    heard = ["0.8123", ""] + ["0.4000"] * (n - 2)
    write_asr_csv(meld, texts, tmp_path / "asr_sent_emo.csv", heard, voices)
    rows = list(csv.DictReader(open(flat_voice_csv(tmp_path, tmp_path / "out"), encoding="utf-8")))
    assert len(rows) == n - 1 and (rows[0]["text"], rows[0]["heard"]) == ("oh my god", "0.8123")
    assert "1 spoken utterances with no words recognised are left out" in capsys.readouterr().out
    assert [r["voice"] for r in rows] == [voice_of(i, voices) for i in range(n) if i != 1]
    groups = Counter(r["speaker"] for r in rows)  # 20 en-us utterances and 19 en-gb ones (row 1 is silent)
    assert sorted(groups.values()) == [3, 4, 8, 8, 8, 8]
    assert all(len({r["voice"] for r in rows if r["speaker"] == g}) == 1 for g in groups)  # one voice a group
    # shuffled: some group is not a run of consecutive utterances of its voice (those span 2 x 7 rows at most)
    rows_of = {g: [int(Path(r["path"]).stem) for r in rows if r["speaker"] == g] for g in groups}
    assert any(max(ids) - min(ids) > 2 * (VIDEO_GROUP - 1) for ids in rows_of.values())
    alone = list(csv.DictReader(open(flat_voice_alone_csv(tmp_path, tmp_path / "out"), encoding="utf-8")))
    assert [r["path"] for r in alone] == [r["path"] for r in rows] and len({r["speaker"] for r in alone}) == n - 1
    write_asr_csv(meld, texts, tmp_path / "asr_sent_emo.csv", heard)  # no voice column
    with pytest.raises(SystemExit, match="has no voice column"):
        flat_voice_csv(tmp_path, tmp_path / "out")
    write_asr_csv(meld, texts, tmp_path / "asr_sent_emo.csv")  # no heard column
    with pytest.raises(SystemExit, match="has no heard column"):
        flat_voice_csv(tmp_path, tmp_path / "out")


def test_the_page_says_how_much_each_branch_counts_and_where_that_was_measured():
    from mmsa.views import weights_note

    validation = {"text": {"set": "MELD dev as transcribed", "n": 1109, "accuracy": 0.47, "chance": 0.42,
                           "kappa": 0.27}}
    config = MultimodalSentimentModel.tiny(modalities=["text", "audio"], fusion="late", audio_backbone="whisper",
                                           derived_sentiment=["audio"], emotion_to_sentiment=TABLE,
                                           branch_weights={"text": 0.27, "audio": 0.25},
                                           branch_validation=validation).config
    note = weights_note(config)
    assert "words 0.27 (kappa 0.27 on MELD dev as transcribed: accuracy 0.47, most frequent class 0.42)" in note
    assert "voice 0.25 (not measured outside its training data)" in note
    assert weights_note(MultimodalSentimentModel.tiny(modalities=["text"]).config) == ""
