import shutil
import subprocess
import sys

import pytest
import torch
from transformers import BertConfig

from mmsa.model import MultimodalSentimentModel
from tests.helpers import SeedModel


@pytest.fixture(scope="module")
def seed_checkpoint(tmp_path_factory, minilm_dir):
    """A random tutorial-architecture checkpoint and a folder with its BERT config + tokenizer."""
    root = tmp_path_factory.mktemp("seed")
    bert_config = BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                             vocab_size=30522)
    torch.manual_seed(0)
    ref = SeedModel(bert_config)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a dropped buffer would show
        for m in ref.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm3d)):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = ref.state_dict()
    torch.save(state, root / "model.pth")
    backbone = root / "bert"
    backbone.mkdir()
    bert_config.save_pretrained(str(backbone))
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm_dir / f, backbone / f)
    return root, ref.eval(), state, backbone


def test_convert_seed_cli_every_tensor_lands_and_outputs_match(seed_checkpoint, tmp_path):
    root, ref, state, backbone = seed_checkpoint
    out = tmp_path / "converted"
    proc = subprocess.run([sys.executable, "-m", "mmsa", "convert-seed", str(root / "model.pth"), str(out),
                           "--text-backbone", str(backbone)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    model = MultimodalSentimentModel.from_pretrained(str(out))
    assert model.config.preset == "seed"
    converted = model.state_dict()
    renames = {"text_encoder.bert.": "text_encoder.backbone.", "video_encoder.backbone.fc.0.": "video_encoder.projection.0."}
    for key, value in state.items():
        new = key
        for old, repl in renames.items():
            if key.startswith(old):
                new = repl + key[len(old):]
        assert torch.equal(converted[new], value), key
    tok = model.tokenizer(["we did it", "oh no"], padding=True, return_tensors="pt")
    g = torch.Generator().manual_seed(1)
    video = torch.randn(2, 8, 3, 112, 112, generator=g)
    audio = torch.randn(2, 64, 300, generator=g)
    with torch.no_grad():
        expected = ref({"input_ids": tok["input_ids"], "attention_mask": tok["attention_mask"]}, video,
                       audio.unsqueeze(1))
        got = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                    token_type_ids=tok.get("token_type_ids"), audio=audio, video=video)
    assert torch.allclose(got.emotion_logits, expected["emotions"], atol=1e-5)
    assert torch.allclose(got.sentiment_logits, expected["sentiments"], atol=1e-5)


def test_convert_seed_refuses_other_checkpoints(tmp_path, seed_checkpoint):
    _, _, _, backbone = seed_checkpoint
    torch.save({"foo.weight": torch.zeros(2)}, tmp_path / "other.pth")
    proc = subprocess.run([sys.executable, "-m", "mmsa", "convert-seed", str(tmp_path / "other.pth"),
                           str(tmp_path / "out"), "--text-backbone", str(backbone)], capture_output=True, text=True)
    assert proc.returncode == 1 and "is this the tutorial's model.pth" in proc.stderr
    assert "Traceback" not in proc.stderr
