"""Late fusion: each branch is a calibrated classifier on its own; the fused answer pools their probabilities.

Used when the branches learn from separate labelled sets (words from MELD, voice from RAVDESS, faces from
FER2013) and no clip carries all three labels. The rule, weighted log-linear pooling over the branches present:

    log p(y) = sum_m w_m log p_m(y) / sum_m w_m + const,   m over the branches the utterance has,

with p_m the branch's temperature-calibrated probabilities and w_m its weight (set from each branch's validation
reliability when the model is built). A branch that is absent does not vote; with none present the answer is
uniform. Voice and face learn emotions only: their sentiment is sum_e p_m(e) P(sentiment | e), with the table
P(sentiment | emotion) counted on MELD train.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig


def classifier(in_dim: int, hidden: int, n: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n))


class BranchHead(nn.Module):
    """One branch's own classifier: embedding -> trunk -> emotion logits (and sentiment logits unless derived).

    The layout matches the learned-fusion path over one modality (fusion_layer, emotion_classifier,
    sentiment_classifier), so a text-only model's fused head becomes a text branch head unchanged."""

    def __init__(self, config: ModelConfig, sentiment: bool = True):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(config.proj_dim, config.fusion_dim), nn.BatchNorm1d(config.fusion_dim),
                                   nn.ReLU(), nn.Dropout(config.fusion_dropout))
        self.emotion = classifier(config.fusion_dim, config.head_hidden, config.num_emotions, config.dropout)
        self.sentiment = classifier(config.fusion_dim, config.head_hidden, config.num_sentiments, config.dropout) \
            if sentiment else None

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(embedding)
        return self.emotion(h), (self.sentiment(h) if self.sentiment is not None else None)


def branch_log_probs(config: ModelConfig, modality: str, emotion_logits: torch.Tensor,
                     sentiment_logits: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Calibrated log-probabilities of one branch: (batch, 7) and (batch, 3)."""
    temps = config.branch_temperatures.get(modality, {})
    log_e = torch.log_softmax(emotion_logits.float() / temps.get("emotion", 1.0), dim=-1)
    if sentiment_logits is None:
        table = torch.tensor(config.emotion_to_sentiment, dtype=log_e.dtype, device=log_e.device)
        log_s = torch.log((log_e.exp() @ table).clamp_min(1e-8))
    else:
        log_s = torch.log_softmax(sentiment_logits.float() / temps.get("sentiment", 1.0), dim=-1)
    return log_e, log_s


def pool(log_probs: dict[str, torch.Tensor], present: dict[str, torch.Tensor],
         weights: dict[str, float]) -> torch.Tensor:
    """Weighted log-linear pooling over the branches present per sample; returns normalised log-probabilities.

    log_probs[m]: (batch, n); present[m]: bool (batch,); rows with no branch present come out uniform."""
    some = next(iter(log_probs.values()))
    total = torch.zeros_like(some)
    weight_sum = torch.zeros(some.shape[0], 1, dtype=some.dtype, device=some.device)
    for m, lp in log_probs.items():
        w = present[m].to(some.dtype).unsqueeze(1) * float(weights.get(m, 1.0))
        total = total + w * torch.nan_to_num(lp, neginf=-30.0)
        weight_sum = weight_sum + w
    return torch.log_softmax(total / weight_sum.clamp_min(1e-6), dim=-1)


def reliability_weight(accuracy: float, chance: float) -> float:
    """A branch's weight from its validation accuracy: how far above chance it is, as a share of the way from
    chance to perfect (0 for a branch no better than always answering the most frequent class)."""
    if not 0.0 <= chance < 1.0:
        raise ValueError(f"chance must be in [0, 1), got {chance}")
    return max(0.0, (accuracy - chance) / (1.0 - chance))
