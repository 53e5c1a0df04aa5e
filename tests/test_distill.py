"""Knowledge distillation: a teacher fine-tuned and its probabilities written (training.teacher), a student that
learns from them (training.train --soft-labels, training.distill), and the soft-labels CSV's errors."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmsa.labels import EMOTIONS, SENTIMENTS
from tests.helpers import LINES, MELD_HEADER


def train(*args: str) -> int:
    from training.train import main

    return main(list(args))


def _meld_csv(path: Path, rewrite=lambda text: text) -> Path:
    """A MELD-layout CSV of one line per emotion, without clips; rewrite gives a second written form."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MELD_HEADER)
        for u, (emotion, (text, sentiment)) in enumerate(LINES.items()):
            w.writerow([u + 1, rewrite(text), "Monica", emotion, sentiment, 0, u, 1, 1, "0", "0"])
    return path


def _soft_csv(path: Path, rows: list[list]) -> Path:
    from training.distill import soft_label_columns

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(soft_label_columns())
        w.writerows(rows)
    return path


def _one_hot(n: int, k: int) -> list[float]:
    return [1.0 if i == k else 0.0 for i in range(n)]


def test_distillation_loss_vanishes_at_the_teacher_and_pulls_a_student_to_it():
    from training.distill import distillation_loss

    g = torch.Generator().manual_seed(0)
    teacher_e = torch.softmax(torch.randn(6, 7, generator=g) * 2, -1)
    teacher_s = torch.softmax(torch.randn(6, 3, generator=g) * 2, -1)
    batch = {"soft_emotion": teacher_e, "soft_sentiment": teacher_s, "has_soft": torch.ones(6, dtype=torch.bool)}
    for t in (1.0, 2.0, 4.0):  # a student whose logits are the teacher's log-probabilities agrees at any temperature
        at_teacher = SimpleNamespace(emotion_logits=teacher_e.log(), sentiment_logits=teacher_s.log())
        assert float(distillation_loss(at_teacher, batch, t)) == pytest.approx(0.0, abs=1e-5)
    logits_e = torch.zeros(6, 7, requires_grad=True)
    logits_s = torch.zeros(6, 3, requires_grad=True)
    student = SimpleNamespace(emotion_logits=logits_e, sentiment_logits=logits_s)
    start = float(distillation_loss(student, batch, 2.0).detach())
    opt = torch.optim.SGD([logits_e, logits_s], lr=1.0)
    for _ in range(300):
        opt.zero_grad()
        distillation_loss(student, batch, 2.0).backward()
        opt.step()
    assert start > 0.1 and float(distillation_loss(student, batch, 2.0).detach()) < 0.01 * start
    assert torch.equal(logits_e.argmax(1), teacher_e.argmax(1)) and torch.equal(logits_s.argmax(1), teacher_s.argmax(1))
    # examples without soft labels add nothing: half the batch unlabelled halves the loss
    half = dict(batch, has_soft=torch.tensor([True, True, True, False, False, False]))
    fresh = SimpleNamespace(emotion_logits=torch.zeros(6, 7), sentiment_logits=torch.zeros(6, 3))
    full = float(distillation_loss(fresh, dict(batch, soft_emotion=teacher_e[[0, 1, 2] * 2],
                                                 soft_sentiment=teacher_s[[0, 1, 2] * 2]), 2.0))
    assert float(distillation_loss(fresh, half, 2.0)) == pytest.approx(full / 2, rel=1e-5)


def test_a_student_learns_what_the_soft_labels_say(tmp_path, tiny_model_dir):
    """Soft labels that call every line joy, at full weight: the student answers joy for lines labelled otherwise."""

    gold = _meld_csv(tmp_path / "train_sent_emo.csv")
    soft = _soft_csv(tmp_path / "soft.csv", [[text, *_one_hot(7, EMOTIONS.index("joy")),
                                               *_one_hot(3, SENTIMENTS.index("positive"))]
                                              for text, _ in LINES.values()])
    common = ["--train", str(gold), "--init-from", str(tiny_model_dir), "--text-only", "--epochs", "25",
              "--patience", "25", "--lr", "1e-2", "--batch-size", "7", "--modality-dropout", "0", "--no-calibrate",
              "--cache-dir", str(tmp_path / "c")]
    assert train(*common, "--soft-labels", str(soft), "--distill-weight", "1", "--output-dir", str(tmp_path / "s")) == 0
    report = json.loads((tmp_path / "s" / "training_report.json").read_text())
    assert report["args"]["soft_labels"] == "soft.csv" and report["args"]["distill_weight"] == 1.0
    assert "soft_labels=soft.csv" in (tmp_path / "s" / "README.md").read_text()
    assert train(*common, "--output-dir", str(tmp_path / "g")) == 0  # the same run without them

    soft_preds = _predict(tmp_path / "s", gold)
    gold_preds = _predict(tmp_path / "g", gold)
    assert soft_preds.count("joy") == 7, soft_preds
    assert gold_preds.count("joy") < 7, gold_preds


def _predict(folder: Path, csv_path: Path) -> list[str]:
    from mmsa.model import MultimodalSentimentModel
    from training.data import load_meld
    from training.featurize import Featurizer
    from training.loop import make_loader, model_inputs

    model = MultimodalSentimentModel.from_pretrained(str(folder)).eval()
    feats = Featurizer(model, None)(load_meld(csv_path, text_only=True), "check")
    with torch.no_grad():
        out = [model(**model_inputs(b)).emotion_logits.argmax(1) for b in make_loader(feats, model, 7, shuffle=False)]
    return [EMOTIONS[i] for i in torch.cat(out).tolist()]


def test_soft_label_csv_errors_name_the_line_and_the_fix(tmp_path, tiny_model_dir, capsys):
    from mmsa.features import normalize_text
    from training.data import DataError
    from training.distill import attach_soft_labels, read_soft_labels
    from training.featurize import Features

    good = [*_one_hot(7, 0), *_one_hot(3, 0)]
    cases = {
        "columns.csv": (None, "not a soft-labels CSV"),
        "number.csv": ([["hello", "x", *good[1:]]], "line 2: a probability is not a number"),
        "sum.csv": ([["hello", *[0.5] * 7, *good[7:]]], "line 2: the emotion probabilities must be >= 0 and sum to 1"),
        "negative.csv": ([["hello", *good[:7], 1.5, -0.5, 0]], "the sentiment probabilities must be >= 0"),
    }
    for name, (rows, message) in cases.items():
        path = tmp_path / name
        if rows is None:
            path.write_text("text,emotion\nhello,joy\n", encoding="utf-8")
        else:
            _soft_csv(path, rows)
        with pytest.raises(DataError, match=message):
            read_soft_labels(path, "asr")
    # texts match after the student's style: the CSV's spelling of punctuation and case does not matter
    table = read_soft_labels(_soft_csv(tmp_path / "ok.csv", [["Wow, I did NOT expect that!", *good]]), "asr")
    assert np.allclose(table["wow, i did not expect that."][0], good[:7])
    # a text the teacher wrote in the student's style is found even where writing that style twice changes it
    raw = "Well ah, ........y'know."
    once = normalize_text(raw, "asr")
    assert normalize_text(once, "asr") != once
    table = read_soft_labels(_soft_csv(tmp_path / "styled.csv", [[once, *good]]), "asr")
    feats = Features(examples=[None], texts=[raw], contexts=[""])
    assert attach_soft_labels(feats, table, "asr", "train") == 1 and bool(feats.has_soft[0])

    gold = _meld_csv(tmp_path / "train_sent_emo.csv")
    common = ["--train", str(gold), "--init-from", str(tiny_model_dir), "--text-only", "--epochs", "1",
              "--cache-dir", str(tmp_path / "c")]
    unrelated = _soft_csv(tmp_path / "unrelated.csv", [["nothing anyone said", *good]])
    capsys.readouterr()
    for soft, message in ((tmp_path / "sum.csv", "sum to 1"), (unrelated, "match none of the 7 train texts")):
        assert train(*common, "--soft-labels", str(soft), "--output-dir", str(tmp_path / "bad")) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and str(tmp_path) not in err
    with pytest.raises(SystemExit, match="--distill-weight must be in"):
        train(*common, "--soft-labels", str(unrelated), "--distill-weight", "1.5", "--output-dir", str(tmp_path / "b"))


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory, minilm_dir) -> Path:
    """A small random BERT with MiniLM's tokenizer: a real transformers folder a teacher can be trained from."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def test_teacher_writes_soft_labels_for_every_written_form(tmp_path, tiny_encoder_dir, capsys):
    from training.distill import read_soft_labels
    from training.teacher import main as teacher

    gold = _meld_csv(tmp_path / "gold" / "train_sent_emo.csv")
    heard = _meld_csv(tmp_path / "asr" / "asr_sent_emo.csv", lambda t: "so " + t.lower())
    out = tmp_path / "teacher"
    assert teacher(["--backbone", str(tiny_encoder_dir), "--train", str(gold), "--train-also", str(heard),
                    "--dev", str(gold), "--dev-also", str(heard), "--epochs", "30", "--lr", "3e-3",
                    "--batch-size", "7", "--output-dir", str(out)]) == 0
    table = read_soft_labels(out / "soft_labels.csv", "asr")
    assert len(table) == 14  # seven utterances, each as subtitled and as heard
    # it learned the lines: every form's most likely emotion is its label
    for emotion, (text, _) in LINES.items():
        for form in (text, "so " + text.lower()):
            from mmsa.features import normalize_text

            probs = table[normalize_text(form, "asr")][0]
            assert EMOTIONS[int(np.argmax(probs))] == emotion, (form, probs)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"train_sent_emo", "asr_sent_emo"} and metrics["train_sent_emo"]["n"] == 7
    assert metrics["train_sent_emo"]["emotion_weighted_f1"] == 1.0
    card = (out / "README.md").read_text()
    assert tiny_encoder_dir.name in card and "asr_sent_emo.csv" in card and str(tmp_path) not in card
    assert not (out / "teacher.pt").exists()  # not kept unless asked

    capsys.readouterr()
    assert teacher(["--backbone", str(tmp_path / "missing"), "--train", str(gold), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "could not be loaded as a text encoder" in err and str(tmp_path) not in err and "Traceback" not in err


def test_words_models_already_trained_teach_as_an_ensemble(tmp_path, tiny_model_dir, minilm_dir, capsys):
    from mmsa.model import MultimodalSentimentModel
    from training.distill import read_soft_labels
    from training.teacher import EnsembleReader, load_members
    from training.teacher import main as teacher

    torch.manual_seed(0)
    words = tmp_path / "words"
    MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, pretrained=False, modalities=["text"],
                                         text_style="asr").save_pretrained(str(words))
    gold = _meld_csv(tmp_path / "gold" / "train_sent_emo.csv")
    out = tmp_path / "ens"
    assert teacher(["--model", str(words), "--model", str(words), "--train", str(gold), "--dev", str(gold),
                    "--output-dir", str(out)]) == 0
    table = read_soft_labels(out / "soft_labels.csv", "asr")
    assert len(table) == 7
    # a model averaged with itself teaches what it answers alone: its pair probabilities' marginals
    texts = sorted(table)
    emo, sent = EnsembleReader(load_members([str(words)]))(texts)
    assert np.allclose(np.stack([table[t][0] for t in texts]), emo, atol=1e-4)
    assert np.allclose(np.stack([table[t][1] for t in texts]), sent, atol=1e-4)
    assert "`words`" in (out / "README.md").read_text() and json.loads((out / "metrics.json").read_text())

    capsys.readouterr()
    assert teacher(["--model", str(tiny_model_dir), "--train", str(gold), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not a words-only model" in err and str(tmp_path) not in err
