"""training.compress_text: a fully fine-tuned words model folded into packaged weights + adapters + its head."""

import csv
import json

import pytest
import torch

from mmsa.model import MultimodalSentimentModel
from tests.helpers import LINES, MELD_HEADER


def _teacher_and_packaged(change_rank: int, seed: int = 0):
    """A tiny words model (the packaged encoder) and a copy whose adapted layers moved by a change of the given
    rank and whose LayerNorms moved a little (the fine-tuned teacher)."""
    torch.manual_seed(seed)
    packaged = MultimodalSentimentModel.tiny(modalities=["text"])
    teacher = MultimodalSentimentModel.tiny(modalities=["text"])
    teacher.load_state_dict(packaged.state_dict())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in teacher.text_encoder.backbone.named_modules():
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ("query", "value", "dense"):
                out_f, in_f = module.weight.shape
                module.weight += 0.2 * torch.randn(out_f, change_rank, generator=g) @ torch.randn(change_rank, in_f,
                                                                                                   generator=g)
            if isinstance(module, torch.nn.LayerNorm):
                module.weight += 0.01
    teacher.tokenizer = packaged.tokenizer
    return teacher.eval(), packaged.text_encoder.backbone.state_dict()


def _logits(model, texts):
    from mmsa.processors import batch_inputs, processors_for

    procs = processors_for(model)
    with torch.inference_mode():
        return model(**batch_inputs(procs, {"text": [procs["text"].read(t) for t in texts]})).emotion_logits


def test_a_change_within_the_rank_is_carried_exactly():
    from training.compress_text import compressed

    teacher, packaged = _teacher_and_packaged(change_rank=2)
    texts = list(t for t, _ in LINES.values())
    for rank, exact in ((2, True), (1, False)):
        student, report = compressed(teacher, rank, packaged)
        assert student.config.text_lora_rank == rank and student.config.text_trainable_layers == 0
        # the packaged weights are untouched: only adapters and the head differ from a fresh model
        assert torch.equal(student.text_encoder.backbone.state_dict()["encoder.layer.0.attention.self.query.weight"],
                           packaged["encoder.layer.0.attention.self.query.weight"])
        assert report["change_kept"] == pytest.approx(1.0, abs=1e-4) if exact else report["change_kept"] < 0.95
        assert 0 < report["change_left_as_packaged"] < 0.2  # the LayerNorms' small move stays behind
    from training.data import DataError

    with pytest.raises(DataError, match="give at most 32"):  # the tiny encoder's layers are 32 wide
        compressed(teacher, 64, packaged)
    with pytest.raises(RuntimeError, match="size mismatch"):  # another backbone: the command says so
        compressed(teacher, 2, {**packaged, "pooler.dense.weight": torch.zeros(1)})
    student, _ = compressed(teacher, 2, packaged)
    for m in (teacher, student):  # the LayerNorms apart, the two read text alike
        for name, module in m.text_encoder.backbone.named_modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.data = packaged[f"{name}.weight"].clone()
    assert torch.allclose(_logits(student, texts), _logits(teacher, texts), atol=1e-4)


def test_the_command_writes_a_calibrated_run_and_refuses_a_model_with_adapters(tmp_path, capsys):
    from training.compress_text import main

    teacher, packaged = _teacher_and_packaged(change_rank=3)
    teacher.save_pretrained(str(tmp_path / "teacher"))
    backbone = MultimodalSentimentModel.tiny(modalities=["text"]).text_encoder.backbone
    backbone.load_state_dict(packaged)
    backbone.save_pretrained(str(tmp_path / "packaged"))
    dev = tmp_path / "dev_sent_emo.csv"
    with open(dev, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MELD_HEADER)
        for u, (emotion, (text, sentiment)) in enumerate(LINES.items()):
            w.writerow([u + 1, text, "Monica", emotion, sentiment, 0, u, 1, 1, "0", "0"])
    out = tmp_path / "student"
    assert main(["--model", str(tmp_path / "teacher"), "--rank", "3", "--dev", str(dev), "--output-dir", str(out),
                 "--backbone", str(tmp_path / "packaged")]) == 0
    student = MultimodalSentimentModel.from_pretrained(str(out))
    assert student.config.text_lora_rank == 3 and student.config.text_trainable_layers == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["compression"]["rank"] == 3 and report["compression"]["change_kept"] == pytest.approx(1, abs=1e-4)
    assert json.loads((out / "metrics.json").read_text())["n"] == len(LINES)
    assert main(["--model", str(out), "--dev", str(dev), "--output-dir", str(tmp_path / "again")]) == 1
    assert "fine-tuned without adapters" in capsys.readouterr().err
