"""Convert the tutorial's published checkpoint (model.pth) into an mmsa model folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

logger = logging.getLogger("mmsa")

# seed key prefix -> mmsa key prefix; everything else keeps its name
SEED_RENAMES: tuple[tuple[str, str], ...] = (
    ("text_encoder.bert.", "text_encoder.backbone."),
    ("video_encoder.backbone.fc.0.", "video_encoder.projection.0."),
)
# buffers older transformers saved that current ones rebuild (not weights)
IGNORED_SUFFIXES: tuple[str, ...] = ("embeddings.position_ids",)


def convert_seed_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.endswith(IGNORED_SUFFIXES):
            continue
        new = key
        for old_prefix, new_prefix in SEED_RENAMES:
            if key.startswith(old_prefix):
                new = new_prefix + key[len(old_prefix):]
                break
        out[new] = value
    return out


def load_seed_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a seed model.pth safely (weights_only: no arbitrary pickle code runs)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{p}: not a loadable weights-only PyTorch checkpoint ({e})") from e
    if isinstance(state, dict) and "model_state_dict" in state:  # the tutorial's training checkpoints wrap it
        state = state["model_state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{p}: expected a state dict of tensors")
    if not any(k.startswith("text_encoder.bert.") for k in state):
        raise ValueError(f"{p}: no text_encoder.bert.* keys; is this the tutorial's model.pth?")
    return state


def convert_seed(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                 text_backbone: str = "bert-base-uncased"):
    """Build a seed-preset model, load every tensor of the checkpoint into it strictly, save it to out_dir.

    text_backbone gives the BERT config and tokenizer (a Hub id or a local folder); its weights are not used.
    """
    from .model import MultimodalSentimentModel, _load_state_strict

    state = convert_seed_state_dict(load_seed_checkpoint(checkpoint))
    model = MultimodalSentimentModel.from_preset("seed", text_backbone=text_backbone, pretrained=False)
    # the seed never saw a missing modality: its placeholders stay zero and are reported as untrained
    for name, p in model.missing_embeddings.items():
        state.setdefault(f"missing_embeddings.{name}", torch.zeros_like(p))
    _load_state_strict(model, state, source=str(checkpoint))
    model.save_pretrained(str(out_dir))
    logger.info("converted %d tensors into %s", len(state), out_dir)
    return model
