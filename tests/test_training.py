"""Training end to end on generated clips: MELD layout, resume, evaluate, modality probe, feature cache, push."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mmsa.labels import EMOTIONS, SENTIMENTS
from mmsa.model import MultimodalSentimentModel
from tests.helpers import LINES, MELD_HEADER, RecordingHfApi, write_meld_split

@pytest.fixture(scope="module")
def meld_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("meld")
    write_meld_split(root, "train_sent_emo.csv", "train_splits", dialogues=2, broken=True)
    write_meld_split(root, "dev_sent_emo.csv", "dev_splits_complete", dialogues=1)
    return root


def train(*args: str) -> int:
    from training.train import main

    return main(list(args))


def test_meld_layout_train_resume_evaluate_load(meld_root, tiny_model_dir, tmp_path):
    out, cache = tmp_path / "model", tmp_path / "cache"
    common = ["--train", str(meld_root / "train_sent_emo.csv"), "--dev", str(meld_root / "dev_sent_emo.csv"),
              "--init-from", str(tiny_model_dir), "--output-dir", str(out), "--cache-dir", str(cache),
              "--batch-size", "4", "--patience", "5", "--class-weighting", "balanced", "--label-smoothing", "0.1"]
    assert train(*common, "--epochs", "2") == 0
    report = json.loads((out / "training_report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == [1, 2]
    assert report["train"]["n"] == 14 and report["train"]["skipped"] == 1
    assert "dia2_utt0" in report["train"]["skipped_clips"][0]
    assert {"temperature", "ece_before", "ece_after"} <= set(report["calibration"]["emotion"])

    assert train(*common, "--epochs", "3", "--resume") == 0
    report = json.loads((out / "training_report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == [1, 2, 3]

    model = MultimodalSentimentModel.from_pretrained(str(out))
    assert model.config.emotion_temperature == pytest.approx(report["calibration"]["emotion"]["temperature"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 7 and set(metrics["emotion"]["per_class"]) == set(EMOTIONS)
    assert (out / "emotion_confusion.png").stat().st_size > 1000

    from training.evaluate import main as evaluate_main

    target = tmp_path / "eval" / "metrics.json"
    assert evaluate_main(["--model", str(out), "--csv", str(meld_root / "dev_sent_emo.csv"), "-o", str(target)]) == 0
    got = json.loads(target.read_text())
    assert set(got) >= {"n", "emotion", "sentiment"} and got["n"] == 7
    assert set(got["emotion"]) >= {"accuracy", "weighted_f1", "macro_f1", "per_class"}
    assert set(got["sentiment"]["per_class"]) == set(SENTIMENTS)
    # evaluation from the clips reproduces the training run's own dev figures
    assert got["emotion"]["weighted_f1"] == pytest.approx(metrics["emotion"]["weighted_f1"], abs=1e-6)
    assert (target.parent / "sentiment_confusion.png").is_file()


def _text_only_meld_csv(path: Path) -> None:
    """A MELD-layout CSV of one line per emotion, without clips."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MELD_HEADER)
        for u, (emotion, (text, sentiment)) in enumerate(LINES.items()):
            w.writerow([u + 1, text, "Monica", emotion, sentiment, 0, u, 1, 1, "0", "0"])


def test_text_only_meld_from_the_csv_alone(tmp_path, tiny_model_dir):
    from training.data import load_meld

    csv_path = tmp_path / "dev_sent_emo.csv"
    _text_only_meld_csv(csv_path)
    ds = load_meld(csv_path)
    assert len(ds) == 7 and not ds.has_clips
    out = tmp_path / "m"
    assert train("--train", str(csv_path), "--dev", str(csv_path), "--init-from", str(tiny_model_dir),
                 "--text-only", "--epochs", "1", "--output-dir", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--text-style", "asr") == 0
    trained = MultimodalSentimentModel.from_pretrained(str(out))
    assert trained.config.preset == "tiny" and json.loads((out / "metrics.json").read_text())["n"] == 7
    assert trained.config.text_style == "asr"  # the saved model reads text as it was trained to


def test_train_also_adds_a_second_csv_of_the_same_utterances(tmp_path, tiny_model_dir):
    # MELD train as subtitled and as transcribed: the same ids, other words, both learned from
    gold, heard = tmp_path / "gold" / "train_sent_emo.csv", tmp_path / "asr" / "asr_sent_emo.csv"
    for p in (gold, heard):
        p.parent.mkdir()
        _text_only_meld_csv(p)
    with open(heard, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(heard, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MELD_HEADER)
        w.writeheader()
        w.writerows({**r, "Utterance": "so " + r["Utterance"].lower()} for r in rows)
    out = tmp_path / "m"
    assert train("--train", str(gold), "--train-also", str(heard), "--init-from", str(tiny_model_dir), "--text-only",
                 "--epochs", "1", "--output-dir", str(out), "--cache-dir", str(tmp_path / "c")) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["train"]["n"] == 14 and report["args"]["train_also"] == ["asr_sent_emo.csv"]
    assert train("--train", str(gold), "--train-also", str(tmp_path / "none.csv"), "--init-from",
                 str(tiny_model_dir), "--text-only", "--epochs", "1", "--output-dir", str(tmp_path / "n")) != 0


def test_asr_style_text_is_written_as_whisper_writes_it():
    import dataclasses

    from mmsa.features import normalize_text, tokenize

    assert normalize_text("Or! Or, we could go...", "asr") == "or. or, we could go."
    assert normalize_text("What?! NO!! \u201cFine\u201d \u2014 whatever\u2026", "asr") == "what? no. fine whatever."
    assert normalize_text("You\u2019re a genius!") == "You're a genius!"  # verbatim keeps the marks
    model = MultimodalSentimentModel.tiny()
    asr = dataclasses.replace(model.config, text_style="asr")
    a, b = tokenize(model.tokenizer, ["Get OUT! Now!!"], asr), tokenize(model.tokenizer, ["get out. now."], asr)
    assert a["input_ids"].tolist() == b["input_ids"].tolist()
    with pytest.raises(ValueError, match="text_style"):
        dataclasses.replace(model.config, text_style="shouting")


def test_asr_exclaim_style_keeps_the_exclamation_marks_whisper_writes():
    import random

    from mmsa.features import drop_exclamations, normalize_text

    for raw, want in [("Or! Or, we could go...", "or! or, we could go."), ("What?! NO!! Fine!.", "what? no! fine!")]:
        assert normalize_text(raw, "asr-exclaim") == want
        assert normalize_text(want, "asr-exclaim") == want  # written once, it stays as written
        assert normalize_text(raw, "asr") == normalize_text(want, "asr")  # only the "!" differ from "asr"
    # marks brought together by a space taken out are joined too ("asr" leaves "hey., you")
    assert normalize_text("Hey! , you \u2014 there!!!", "asr-exclaim") == "hey! you there!"
    assert drop_exclamations("No! No!! Stop!", 0.0, random.Random(0)) == "No. No. Stop."
    assert drop_exclamations("No! No!! Stop!", 1.0, random.Random(0)) == "No! No!! Stop!"
    rng = random.Random(1)
    kept = sum(drop_exclamations("Go!", 0.3, rng) == "Go!" for _ in range(2000))
    assert 0.25 < kept / 2000 < 0.35


def test_training_reads_each_exclamation_mark_with_the_keep_chance(tmp_path, tiny_model_dir, capsys):
    """--exclaim-keep: in training each "!" is kept by chance, drawn anew each epoch; dev reads one fixed draw;
    a text encoder whose outputs are cached (frozen) cannot read the marks anew, and says so."""
    from training.data import load_meld
    from training.featurize import Featurizer
    from training.loop import make_loader

    csv_path = tmp_path / "dev_sent_emo.csv"
    _text_only_meld_csv(csv_path)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(csv_path, "w", newline="", encoding="utf-8") as f:  # every line exclaims
        w = csv.DictWriter(f, fieldnames=MELD_HEADER)
        w.writeheader()
        w.writerows({**r, "Utterance": r["Utterance"] + "!"} for r in rows)
    model = MultimodalSentimentModel.tiny(modalities=["text"], text_lora_rank=2, text_style="asr-exclaim")
    feats = Featurizer(model, None)(load_meld(csv_path), "train")
    assert feats.text_features is None  # adapters train: the text is read each time
    feats.texts = ["go now!"] * len(feats)

    def epoch(loader) -> list[bool]:  # per row: was the "!" read
        bang = model.tokenizer.convert_tokens_to_ids("!")
        return [bang in ids for b in loader for ids in b["input_ids"].tolist()]

    assert not any(epoch(make_loader(feats, model, 7, shuffle=True, exclaim_keep=0.0)))
    assert all(epoch(make_loader(feats, model, 7, shuffle=True)))
    train_loader = make_loader(feats, model, 7, shuffle=True, exclaim_keep=0.5)
    draws = [epoch(train_loader) for _ in range(30)]
    share = sum(map(sum, draws)) / (30 * 7)
    assert 0.35 < share < 0.65 and len({tuple(d) for d in draws}) > 1
    dev_loader = make_loader(feats, model, 7, shuffle=False, exclaim_keep=0.5)
    assert epoch(dev_loader) == epoch(dev_loader)
    common = ["--train", str(csv_path), "--dev", str(csv_path), "--init-from", str(tiny_model_dir), "--text-only",
              "--epochs", "1", "--cache-dir", str(tmp_path / "c"), "--text-style", "asr-exclaim"]
    with pytest.raises(SystemExit, match="--exclaim-keep must be in"):
        train(*common, "--exclaim-keep", "1.5", "--output-dir", str(tmp_path / "a"))
    with pytest.raises(SystemExit, match="give --text-style asr-exclaim"):
        train(*common[:-1], "asr", "--exclaim-keep", "0.3", "--output-dir", str(tmp_path / "a"))
    frozen = tmp_path / "frozen"
    MultimodalSentimentModel.tiny(modalities=["text"], text_trainable_layers=0, text_lora_rank=0).save_pretrained(
        str(frozen))
    with pytest.raises(SystemExit, match="--exclaim-keep needs a text encoder that trains"):
        train(*common[:5], str(frozen), *common[6:], "--exclaim-keep", "0.3", "--output-dir", str(tmp_path / "b"))
    assert train(*common, "--exclaim-keep", "0.3", "--output-dir", str(tmp_path / "c")) == 0
    trained = MultimodalSentimentModel.from_pretrained(str(tmp_path / "c"))
    assert trained.config.text_style == "asr-exclaim"
    assert json.loads((tmp_path / "c" / "training_report.json").read_text())["args"]["exclaim_keep"] == 0.3
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["exclaim_keep"] == 0.3  # how dev was read
    # the same figures again, reading dev with the same draw
    from training.evaluate import evaluate
    from training.evaluate import main as evaluate_main

    again, probs, _ = evaluate(trained, str(csv_path), exclaim_keep=0.3)
    saved = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert again["emotion"]["weighted_f1"] == pytest.approx(saved["emotion"]["weighted_f1"], abs=1e-9)
    assert np.array_equal(evaluate(trained, str(csv_path), exclaim_keep=0.3)[1]["emotion"], probs["emotion"])
    every = evaluate(trained, str(csv_path))[1]["emotion"]  # every "!" read: other text, other answers
    assert not np.allclose(every, probs["emotion"])
    with pytest.raises(SystemExit):
        evaluate_main(["--model", str(tmp_path / "c"), "--csv", str(csv_path), "--exclaim-keep", "2"])
    assert "--exclaim-keep must be in [0, 1]" in capsys.readouterr().err


def test_unknown_label_names_the_row(tmp_path):
    from training.data import DataError, load_generic

    p = tmp_path / "mine.csv"
    p.write_text("path,text,emotion,sentiment\na.mp4,hi,joy,positive\nb.mp4,hey,happiness,positive\n")
    with pytest.raises(DataError, match=r"mine.csv, row 3: unknown emotion label 'happiness'"):
        load_generic(p)
    assert train("--train", str(p), "--epochs", "1", "--output-dir", str(tmp_path / "o")) == 1


# ---------------------------------------------------------------- modality probe
PROBE_CLASSES = ["anger", "joy", "sadness"]


def _probe_dataset(root: Path, carrier: str, per_class: int) -> Path:
    """A generic CSV whose label only the `carrier` modality can tell; the other two are constant."""
    root.mkdir(parents=True, exist_ok=True)
    colours = {"anger": "red", "joy": "yellow", "sadness": "blue"}
    pitches = {"anger": 220, "joy": 880, "sadness": 3000}
    words = {"anger": "banana", "joy": "umbrella", "sadness": "keyboard"}
    rows = []
    for c in PROBE_CLASSES:
        for k in range(per_class):
            path = root / f"{c}_{k}.mp4"
            colour = colours[c] if carrier == "video" else "gray"
            freq = pitches[c] if carrier == "audio" else 440
            # jitter so examples differ within a class
            size = "48x48"
            _render(path, colour, freq * (1 + 0.03 * (k % 3)), size, duration=1.0 + 0.1 * k)
            text = f"{words[c]} number {k}" if carrier == "text" else f"hello number {k}"
            sentiment = {"anger": "negative", "joy": "positive", "sadness": "negative"}[c]
            rows.append([path.name, text, c, sentiment])
    csv_path = root / "data.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "text", "emotion", "sentiment"])
        w.writerows(rows)
    return csv_path


def _render(path: Path, colour: str, freq: float, size: str, duration: float) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"color=c={colour}:size={size}:rate=8",
                    "-f", "lavfi", "-i", f"sine=frequency={freq:.0f}:sample_rate=16000", "-t", f"{duration:.2f}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
                   check=True)


@pytest.mark.parametrize("carrier", ["video", "audio", "text"])
def test_modality_probe_every_branch_learns(carrier, tmp_path, tiny_model_dir):
    train_csv = _probe_dataset(tmp_path / "train", carrier, per_class=8)
    dev_csv = _probe_dataset(tmp_path / "dev", carrier, per_class=4)
    out = tmp_path / "model"
    assert train("--train", str(train_csv), "--dev", str(dev_csv), "--init-from", str(tiny_model_dir),
                 "--epochs", "60", "--patience", "60", "--batch-size", "8", "--lr", "3e-3", "--backbone-lr", "1e-3",
                 "--modality-dropout", "0", "--aux-weight", "1.0", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--seed", "0") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["emotion"]["accuracy"] >= 0.9, (carrier, metrics["emotion"])
    # and the carrier's own head learned it too: which modality said what is real
    from training.data import load_generic

    model = MultimodalSentimentModel.from_pretrained(str(out))
    from training.featurize import Featurizer
    from training.loop import make_loader, model_inputs

    feats = Featurizer(model, tmp_path / "cache")(load_generic(dev_csv), "dev")
    import torch

    with torch.no_grad():
        preds, truth = [], []
        for batch in make_loader(feats, model, 16, shuffle=False):
            out_ = model(**model_inputs(batch))
            preds.append(out_.modality_logits[carrier]["emotion"].argmax(1))
            truth.append(batch["emotion"])
    acc = float((torch.cat(preds) == torch.cat(truth)).float().mean())
    assert acc >= 0.9, (carrier, acc)


# ---------------------------------------------------------------- feature cache
def test_feature_cache_hits_and_invalidates(meld_root, tmp_path, minilm_dir):
    import torch

    from training.data import load_meld
    from training.featurize import Featurizer

    model = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, pretrained=False,
                                                 num_frames=2, frame_size=32)
    ds = load_meld(meld_root / "dev_sent_emo.csv")
    first = Featurizer(model, tmp_path / "c")
    a = first(ds)
    assert first.cache.misses > 0 and first.cache.hits == 0
    second = Featurizer(model, tmp_path / "c")
    b = second(load_meld(meld_root / "dev_sent_emo.csv"))
    assert second.cache.misses == 0 and second.cache.hits == first.cache.misses
    assert np.allclose(a.video_features.numpy(), b.video_features.numpy())
    assert np.allclose(a.text_features.numpy(), b.text_features.numpy())
    model.config.num_frames = 3  # a preprocessing change must not reuse old features
    third = Featurizer(model, tmp_path / "c")
    third(load_meld(meld_root / "dev_sent_emo.csv"))
    assert third.cache.misses == 7  # video recomputed; audio and text still valid
    with torch.no_grad():  # so must different backbone weights (e.g. another checkpoint)
        model.text_encoder.backbone.embeddings.word_embeddings.weight[5, 7] += 1e-3
    fourth = Featurizer(model, tmp_path / "c")
    fourth(load_meld(meld_root / "dev_sent_emo.csv"))
    assert fourth.cache.misses == 7 and fourth.cache.hits == 14  # text recomputed; audio and video reused
    assert a.present["video"].all() and a.present["audio"].all()


# ---------------------------------------------------------------- push
def test_push_to_hub_uploads_model_and_card(meld_root, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from huggingface_hub import ModelCard

    RecordingHfApi.reset(tmp_path / "pushed")
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHfApi)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    out = tmp_path / "model"
    assert train("--train", str(meld_root / "dev_sent_emo.csv"), "--dev", str(meld_root / "dev_sent_emo.csv"),
                 "--init-from", str(tiny_model_dir), "--epochs", "1", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "c"), "--push-to-hub", "someone/mmsa-test") == 0
    kinds = [c[0] for c in RecordingHfApi.calls]
    assert kinds == ["init", "create_repo", "create_commit"] and RecordingHfApi.calls[0][1] is True
    files = RecordingHfApi.calls[2][2]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "emotion_confusion.png",
            "metrics.json"} <= set(files)
    card = ModelCard.load(tmp_path / "pushed" / "README.md")
    assert card.data.library_name == "mmsa" and card.data.license == "apache-2.0"
    results = card.data.eval_results
    assert results and {r.metric_name for r in results} >= {"emotion weighted f1", "sentiment accuracy"}
    assert "Intended use and limits" in card.text and "poria-etal-2019-meld" in card.text
    assert "hf_secret_token_value" not in capsys.readouterr().err + (out / "training_report.json").read_text()


def test_push_without_token_is_a_clear_error(tmp_path, tiny_model_dir, monkeypatch):
    from training.push_to_hub import push_folder

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(ValueError, match="set HF_TOKEN"):
        push_folder(tiny_model_dir, "someone/x")


def test_report_paths_are_relative_and_a_failed_push_writes_nothing(meld_root, tiny_model_dir, tmp_path,
                                                                     monkeypatch):
    from training.push_to_hub import main as push_main

    out = tmp_path / "model"
    assert train("--train", str(meld_root / "dev_sent_emo.csv"), "--init-from", str(tiny_model_dir), "--text-only",
                 "--epochs", "1", "--output-dir", str(out), "--cache-dir", str(tmp_path / "c")) == 0
    report = (out / "training_report.json").read_text()
    args = json.loads(report)["args"]
    assert str(tmp_path) not in report and str(meld_root) not in report
    assert (args["train"], args["output_dir"], args["init_from"]) == ("dev_sent_emo.csv", "model", tiny_model_dir.name)
    (out / "README.md").unlink()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert push_main(["--from-dir", str(out), "--repo-id", "me/model"]) == 1
    assert not (out / "README.md").exists()  # the card goes into the commit, never into the user's folder


def test_push_of_a_folder_without_a_card_commits_one(tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from training.push_to_hub import push_folder

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "README.md").unlink(missing_ok=True)
    RecordingHfApi.reset(tmp_path / "pushed")
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHfApi)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    push_folder(folder, "me/model")
    assert "README.md" in RecordingHfApi.calls[-1][2] and not (folder / "README.md").exists()
    assert "Intended use and limits" in (tmp_path / "pushed" / "README.md").read_text()


def test_offline_training_with_video_names_the_offline_options(tmp_path, no_network, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached torchvision weights to fall back on
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("path,text,emotion,sentiment\n,hello there,joy,positive\n")
    assert train("--train", str(csv_path), "--epochs", "1", "--output-dir", str(tmp_path / "o")) == 1
    err = capsys.readouterr().err
    assert "mobilenet_v3_small" in err and "--no-video-pretrained" in err and "--modalities text,audio" in err
    assert "Traceback" not in err


def test_without_dev_the_best_epoch_is_kept_and_written(tmp_path, tiny_model_dir):
    """Without --dev the score is -loss (well below -1 early): the first epoch must still count as progress."""
    csv_path = tmp_path / "train_sent_emo.csv"
    _text_only_meld_csv(csv_path)
    out, ckpt = tmp_path / "m", tmp_path / "ckpt"
    assert train("--train", str(csv_path), "--init-from", str(tiny_model_dir), "--text-only", "--epochs", "3",
                 "--patience", "1", "--lr", "1e-6", "--output-dir", str(out), "--checkpoint-dir", str(ckpt),
                 "--cache-dir", str(tmp_path / "c")) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["best_epoch"] >= 1
    assert (ckpt / "best.safetensors").is_file()


def test_a_branch_trained_without_validation_reports_its_last_epoch():
    import torch

    from training.branches import branch_model, train_branch

    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en")
    x = torch.randn(16, 2 * model.config.whisper_width)
    y = np.arange(16) % 7
    result = train_branch(model, "audio", x, y, None, None, 3, 1e-3, 8, augment=lambda t: t)
    assert result["best_epoch"] == 3


def test_training_continues_from_the_shipped_starter(meld_root, tmp_path):
    """The starter reads Whisper voice states and face crops: the featurizer must prepare those, as the app does."""
    out = tmp_path / "from_starter"
    assert train("--train", str(meld_root / "train_sent_emo.csv"), "--dev", str(meld_root / "dev_sent_emo.csv"),
                 "--init-from", "starter", "--epochs", "1", "--batch-size", "4", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "cache")) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["train"]["n"] == 14 and report["train"]["skipped"] == 1  # only the broken clip is skipped
    trained = MultimodalSentimentModel.from_pretrained(str(out))
    assert (trained.config.audio_backbone, trained.config.video_backbone) == ("whisper", "face_cnn")
    from training.data import load_meld
    from training.featurize import Featurizer

    feats = Featurizer(trained, tmp_path / "cache")(load_meld(meld_root / "dev_sent_emo.csv"))
    # the starter's voice is standardised per speaker: each item is voice_pair's, with its dialogue and alone, then
    # how much its speaker's pitch moves (config.voice_movement, carried from the starter)
    assert trained.config.voice_normalisation and trained.config.voice_movement
    assert feats.present["audio"].all() and feats.items["audio"][0].shape == (4 * trained.config.whisper_width + 1,)
    assert 0.0 <= feats.items["audio"][0][-1] <= 1.0
