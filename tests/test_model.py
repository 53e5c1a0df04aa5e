import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from mmsa.config import ModelConfig
from mmsa.model import MultimodalSentimentModel


def _inputs(model, batch=3, texts=None):
    cfg = model.config
    texts = texts or ["I love this", "this is awful", "okay then"][:batch]
    tok = model.tokenizer(texts, padding=True, return_tensors="pt")
    g = torch.Generator().manual_seed(0)
    return dict(
        input_ids=tok["input_ids"], attention_mask=tok["attention_mask"], token_type_ids=tok.get("token_type_ids"),
        audio=torch.randn(batch, cfg.n_mels, cfg.audio_max_frames, generator=g),
        audio_lengths=torch.tensor([cfg.audio_max_frames, cfg.audio_max_frames // 2, 40][:batch]),
        video=torch.randn(batch, cfg.num_frames, 3, cfg.frame_size, cfg.frame_size, generator=g),
    )


def test_tiny_forward_shapes_and_per_modality_heads(tiny_model):
    out = tiny_model(**_inputs(tiny_model))
    assert out.emotion_logits.shape == (3, 7) and out.sentiment_logits.shape == (3, 3)
    assert set(out.modality_logits) == {"text", "audio", "video"}
    probs = tiny_model.probabilities(out)
    assert torch.allclose(probs["emotion"].sum(-1), torch.ones(3), atol=1e-5)


def test_missing_modality_uses_placeholder_not_zeros(tiny_model):
    x = _inputs(tiny_model)
    present = {"video": torch.tensor([True, False, True])}
    with torch.no_grad():
        out = tiny_model(**x, present=present)
        # the sample without video must equal a run where its video input is something else entirely
        x2 = dict(x, video=x["video"].clone())
        x2["video"][1] = 123.0
        out2 = tiny_model(**x2, present=present)
        # and differ from feeding zeros as if they were real frames
        x3 = dict(x, video=x["video"].clone())
        x3["video"][1] = 0.0
        out3 = tiny_model(**x3)
    assert torch.allclose(out.emotion_logits[1], out2.emotion_logits[1])
    assert not torch.allclose(out.emotion_logits[1], out3.emotion_logits[1])
    assert out.present["video"].tolist() == [True, False, True]
    # a modality not given at all is missing for every sample
    with torch.no_grad():
        no_audio = tiny_model(**{k: v for k, v in x.items() if k not in ("audio", "audio_lengths")})
    assert not no_audio.present["audio"].any()


def test_placeholder_is_a_trained_parameter(tiny_model):
    names = [n for n, p in tiny_model.named_parameters() if n.startswith("missing_embeddings.")]
    assert sorted(names) == ["missing_embeddings.audio", "missing_embeddings.text", "missing_embeddings.video"]


def test_round_trip_identical_offline(tmp_path, tiny_model, no_network):
    model = MultimodalSentimentModel.tiny()
    with torch.no_grad():  # make the placeholders and BN stats non-trivial so the test can fail
        for p in model.missing_embeddings.values():
            p.normal_()
    model.set_temperatures(1.7, 0.8)
    model.save_pretrained(str(tmp_path))
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in written and "config.json" in written and "tokenizer.json" in written
    assert not [n for n in written if n.endswith((".bin", ".pth", ".pt", ".pkl"))], written
    allowed = {"model.safetensors", "config.json", "README.md", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt"}
    assert set(written) <= allowed, set(written) - allowed
    loaded = MultimodalSentimentModel.from_pretrained(str(tmp_path))
    assert loaded.config == model.config and loaded.config.emotion_temperature == 1.7
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = _inputs(model)
    with torch.no_grad():
        assert torch.equal(model(**x).emotion_logits, loaded(**x).emotion_logits)
    assert loaded.tokenizer("hello")["input_ids"] == model.tokenizer("hello")["input_ids"]


def test_config_json_rebuilds_the_model(tmp_path, tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["text_config"]["model_type"] == "bert"
    assert config["modalities"] == ["text", "video", "audio"]
    rebuilt = MultimodalSentimentModel(ModelConfig.from_dict(config))
    assert set(rebuilt.state_dict()) == set(load_file(str(tiny_model_dir / "model.safetensors")))


@pytest.mark.parametrize("tamper", ["drop", "extra", "shape"])
def test_tampered_checkpoint_fails_to_load(tmp_path, tiny_model_dir, tamper):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    state = load_file(str(folder / "model.safetensors"))
    if tamper == "drop":
        state.pop("emotion_classifier.3.weight")
    elif tamper == "extra":
        state["surprise.weight"] = torch.zeros(2)
    else:
        state["fusion_layer.0.weight"] = torch.zeros(5, 5)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="does not match its config.json"):
        MultimodalSentimentModel.from_pretrained(str(folder))


def test_folder_missing_files_is_a_clear_error(tmp_path, tiny_model_dir):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        MultimodalSentimentModel.from_pretrained(str(folder))
    shutil.copy(tiny_model_dir / "model.safetensors", folder)
    for f in folder.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        MultimodalSentimentModel.from_pretrained(str(folder))


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="unknown video_backbone 'resnet999'"):
        ModelConfig(video_backbone="resnet999", modalities=["video"])
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        ModelConfig(modalities=["smell"])
    with pytest.raises(ValueError, match="unknown preset"):
        MultimodalSentimentModel.from_preset("huge")


def test_wrong_input_shapes_name_the_expected_shape(tiny_model):
    with pytest.raises(ValueError, match=r"audio input must have shape \(batch, 32"):
        tiny_model(audio=torch.randn(2, 10, 100))
    with pytest.raises(ValueError, match=r"video input must have shape \(batch, frames, 3"):
        tiny_model(video=torch.randn(2, 4, 32, 32))
    text_only = MultimodalSentimentModel.tiny(modalities=["text"])
    with pytest.raises(ValueError, match="got audio input but this model's modalities are"):
        text_only(audio=torch.randn(1, 32, 100))


def test_subset_of_modalities(tmp_path):
    model = MultimodalSentimentModel.tiny(modalities=["audio", "video"])
    assert not hasattr(model, "text_encoder") and model.tokenizer is None
    x = _inputs(MultimodalSentimentModel.tiny())
    out = model(audio=x["audio"], audio_lengths=x["audio_lengths"], video=x["video"])
    assert out.emotion_logits.shape == (3, 7)
    model.save_pretrained(str(tmp_path))
    assert not list(tmp_path.glob("tokenizer*"))
    assert MultimodalSentimentModel.from_pretrained(str(tmp_path)).modalities == ["video", "audio"]


@pytest.mark.parametrize("preset", ["cpu", "seed"])
def test_presets_build_and_run(preset, minilm_dir, no_network):
    model = MultimodalSentimentModel.from_preset(preset, text_backbone=minilm_dir, pretrained=False)
    cfg = model.config
    assert cfg.preset == preset and cfg.text_config["hidden_size"] == 384
    if preset == "seed":
        assert (cfg.video_backbone, cfg.num_frames, cfg.frame_size, cfg.n_mels) == ("r3d_18", 30, 224, 64)
        assert model.fusion_layer[0].in_features == 384 and model.fusion_layer[0].out_features == 256
        assert model.emotion_classifier[0].out_features == 64 and not cfg.per_modality_heads
    else:
        assert cfg.video_backbone == "mobilenet_v3_small" and cfg.per_modality_heads
    with torch.no_grad():
        out = model(**_inputs(model, batch=2))
    assert out.emotion_logits.shape == (2, 7) and torch.isfinite(out.emotion_logits).all()


def test_from_preset_loads_pretrained_text_weights(minilm_dir):
    from transformers import AutoModel

    model = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, pretrained=True,
                                                 video_pretrained=False, modalities=["text"])
    ref = AutoModel.from_pretrained(str(minilm_dir))
    w = "embeddings.word_embeddings.weight"
    assert torch.equal(model.text_encoder.backbone.state_dict()[w], ref.state_dict()[w])
    assert model.config.text_backbone == "sentence-transformers/all-MiniLM-L6-v2"  # not a machine path
    frozen = [p.requires_grad for p in model.text_encoder.backbone.parameters()]
    assert not any(frozen)


def test_top_layers_fine_tuning_is_a_config_choice(minilm_dir):
    model = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, pretrained=False,
                                                 modalities=["text"], text_trainable_layers=2)
    layers = model.text_encoder.backbone.encoder.layer
    assert all(p.requires_grad for p in layers[-1].parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())


def test_unreachable_hub_id_is_a_clear_error(no_network):
    with pytest.raises(OSError, match="could not fetch model 'nobody/no-such-model'"):
        MultimodalSentimentModel.from_pretrained("nobody/no-such-model")


def test_lora_adapters_start_at_the_base_and_round_trip(tmp_path, minilm_dir):
    base = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, modalities=["text"])
    lora = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, modalities=["text"],
                                                text_lora_rank=4)
    tok = base.tokenizer(["that was so much fun"], return_tensors="pt")
    with torch.no_grad():  # B starts at zero: the adapted encoder equals the pretrained one
        a = base.text_encoder.embed(tok["input_ids"], tok["attention_mask"])
        b = lora.text_encoder.embed(tok["input_ids"], tok["attention_mask"])
    assert torch.allclose(a, b, atol=1e-5)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert not [n for n in trainable if n.startswith("text_encoder.backbone.")]
    assert len([n for n in trainable if n.startswith("text_encoder.lora.")]) == 6 * 6 * 2  # 6 layers x 6 linears
    with torch.no_grad():
        for adapter in lora.text_encoder.lora.values():
            adapter.B.normal_()
        changed = lora.text_encoder.embed(tok["input_ids"], tok["attention_mask"])
    assert not torch.allclose(a, changed, atol=1e-3)
    lora.save_pretrained(str(tmp_path))
    loaded = MultimodalSentimentModel.from_pretrained(str(tmp_path))
    with torch.no_grad():
        assert torch.allclose(loaded.text_encoder.embed(tok["input_ids"], tok["attention_mask"]), changed, atol=1e-6)


def test_inference_folds_the_adapters_into_their_layers_and_the_state_stays_unfolded(minilm_dir):
    """Folding W + scale B A is the same arithmetic as the hooks (checked in float64, where rounding cannot hide a
    difference); the fold is redone when an adapter changes and never enters the saved state."""
    lora = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, modalities=["text"],
                                                text_lora_rank=4).eval().double()
    enc = lora.text_encoder
    tok = lora.tokenizer(["you did what?", "that was so much fun"], return_tensors="pt", padding=True)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for adapter in enc.lora.values():
            adapter.B.copy_(torch.randn(adapter.B.shape, generator=g, dtype=adapter.B.dtype) * 0.05)
    state = {k: v.clone() for k, v in lora.state_dict().items()}

    def hooked():  # the adapters as hooks, as in training
        with torch.enable_grad():
            return enc.embed(tok["input_ids"], tok["attention_mask"]).detach()

    with torch.inference_mode():  # folded: one matrix per layer
        folded = enc.embed(tok["input_ids"], tok["attention_mask"])
    assert enc._merged_cache is not None and torch.allclose(folded, hooked(), atol=1e-10)
    assert all(torch.equal(v, state[k]) for k, v in lora.state_dict().items())  # nothing folded into the state
    with torch.no_grad():  # a changed adapter is folded again
        next(iter(enc.lora.values())).B.mul_(3)
        again = enc.embed(tok["input_ids"], tok["attention_mask"])
    assert torch.allclose(again, hooked(), atol=1e-10) and not torch.allclose(again, folded, atol=1e-4)
    lora.train()
    assert enc._merged_cache is None


def test_inference_reads_rows_of_similar_length_together_with_the_same_answer(minilm_dir):
    """A long utterance among short ones: inference runs each length group cut to its own longest row, and the
    pooled embedding is the one the whole padded batch gives (float64: no rounding to hide a difference), with
    dialogue context as the second segment too."""
    from mmsa.encoders import length_groups

    # by hand: from 2 tokens up to max(1.5 x 2, 2 + 8) = 10; from 12 up to 20; from 23 up to 34.5; 51 alone
    assert [g.tolist() for g in length_groups(torch.tensor([9, 51, 9, 16, 12, 23, 2]))] == [[6, 0, 2], [4, 3], [5],
                                                                                             [1]]
    model = MultimodalSentimentModel.from_preset("cpu", text_backbone=minilm_dir, modalities=["text"],
                                                 text_lora_rank=4).eval().double()
    enc = model.text_encoder
    texts = ["oh.", "you did what?", "that was so much fun, we should go back there every single summer from now on "
             "and bring everyone we know", "no.", "fine"]
    for context in (None, ["hi there"] * len(texts)):
        tok = model.tokenizer(texts, context, return_tensors="pt", padding=True)
        args = (tok["input_ids"], tok["attention_mask"], tok.get("token_type_ids"))
        assert len(length_groups(tok["attention_mask"].sum(1))) > 1  # the case under test: several groups
        with torch.enable_grad():  # the whole padded batch at once, as in training
            whole = enc.embed(*args).detach()
        with torch.inference_mode():
            grouped = enc.embed(*args)
        assert torch.allclose(grouped, whole, atol=1e-9)
        with torch.inference_mode():  # one row alone gives its own answer too
            assert torch.allclose(enc.embed(*(a[2:3] if a is not None else None for a in args)), whole[2:3],
                                  atol=1e-9)


def test_dialogue_context_pools_the_utterance_tokens_only(tiny_model):
    from mmsa import features

    cfg = tiny_model.config
    cfg_ctx = type(cfg).from_dict(dict(cfg.to_dict(), dialogue_context=2))
    tok = features.tokenize(tiny_model.tokenizer, ["i love it"], cfg_ctx, ["you broke my car yesterday"])
    assert bool((tok["token_type_ids"] == 1).any())
    enc = tiny_model.text_encoder
    with torch.no_grad():
        got = enc.embed(tok["input_ids"], tok["attention_mask"], tok["token_type_ids"])
        hidden = enc.backbone(**tok).last_hidden_state
    own = (tok["token_type_ids"] == 0) & (tok["attention_mask"] == 1)
    expected = hidden[0][own[0]].mean(0)
    assert torch.allclose(got[0], expected, atol=1e-5)
    # and the context still matters through attention
    alone = features.tokenize(tiny_model.tokenizer, ["i love it"], cfg_ctx)
    with torch.no_grad():
        solo = enc.embed(alone["input_ids"], alone["attention_mask"], alone["token_type_ids"])
    assert not torch.allclose(got, solo, atol=1e-4)
