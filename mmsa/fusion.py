"""Late fusion: each branch is a calibrated classifier on its own; the fused answer pools their probabilities
over the (emotion, sentiment) pairs MELD allows, and emotion and sentiment are that distribution's marginals.

Used when the branches learn from separate labelled sets (words from MELD, voice from acted speech, faces from
FER2013) and no clip carries all three labels.

One label space. An answer is a distribution over the 8 pairs of labels.PAIRS. A branch maps into it as follows:
- with an emotion and a sentiment head (words): p(e, s) ∝ p(e) p(s) over the allowed pairs (a product of the two
  heads, renormalised), so each head vetoes the pairs the other finds unlikely;
- with an emotion head only (face): p(e, s) = p(e) / n(e), n(e) the number of sentiments e allows (1, or 2
  for surprise). The branch says nothing about sentiment beyond its emotion, and adds no prior of its own.
- with a coarser class set (the voice's "voice4", labels.CLASS_SETS): p(pair) = p(c) / n(c), c the class that
  stands for the pair and n(c) how many pairs it stands for; again no prior of its own. E.g. the voice's
  "positive" at 0.6 gives joy/positive 0.3 and surprise/positive 0.3.
Emotion and sentiment are the marginals of the pooled pairs, and the labels shown are a pair (results.Prediction).

Pooling. Weighted log-linear pooling over the branches present for an utterance:

    log p(pair) = sum_m w_m f_m log p_m(pair) / sum_m w_m f_m + const,

with p_m the branch's temperature-calibrated pair distribution, w_m its weight (its Cohen's kappa on data unlike
its training data, reliability_weight) and f_m in [0, 1] how familiar this input is to it:
- voice and face: how near their training features the input lies (feature_distance, familiarity()); the voice's
  times how much its speaker's pitch moves between utterances, where its config measures it (features.voice_movement:
  the voice's states move with the words as much as with emotion, and a voice that does not move carries none);
- words: how clearly the recogniser heard them (Span.heard: exp of Whisper's mean token log-probability; 1 - heard
  is the distance, calibrated on MELD dev as the pipeline transcribes it); typed words are not measured and count
  fully.
An absent branch does not vote; a branch with w_m f_m = 0 does not either. With no vote left the answer is the
words' own (when there are words), else MELD train's pair frequencies (mostly neutral), not a guess.
Hand-computed cases are in tests/test_fusion.py.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .labels import CLASS_SETS, EMOTIONS, PAIR_NAMES, PAIRS, SENTIMENTS

# how often each pair occurs in MELD train (9,989 utterances): the answer when no branch has a say
MELD_PAIR_COUNTS = (1109, 271, 268, 1743, 4710, 683, 614, 591)
PAIR_EMOTION = torch.tensor([EMOTIONS.index(e) for e, _ in PAIRS])  # pair -> emotion id
PAIR_SENTIMENT = torch.tensor([SENTIMENTS.index(s) for _, s in PAIRS])  # pair -> sentiment id
# log n(e) per pair: how many pairs share its emotion (2 for surprise)
PAIR_LOG_SPLIT = torch.log(torch.bincount(PAIR_EMOTION, minlength=len(EMOTIONS))[PAIR_EMOTION].float())


def _class_of_pair(class_set: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(pair -> class id (8,), log of how many pairs that class stands for (8,)) of a class set."""
    classes = list(CLASS_SETS[class_set].values())
    index = torch.tensor([next(i for i, ps in enumerate(classes) if name in ps) for name in PAIR_NAMES])
    sizes = torch.tensor([len(ps) for ps in classes], dtype=torch.float32)
    return index, torch.log(sizes[index])


def classifier(in_dim: int, hidden: int, n: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n))


class BranchHead(nn.Module):
    """One branch's own classifier: embedding -> trunk -> emotion logits (and sentiment logits unless derived).

    The layout matches the learned-fusion path over one modality (fusion_layer, emotion_classifier,
    sentiment_classifier), so a text-only model's fused head becomes a text branch head unchanged."""

    def __init__(self, config: ModelConfig, sentiment: bool = True, classes: int | None = None):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(config.proj_dim, config.fusion_dim), nn.BatchNorm1d(config.fusion_dim),
                                   nn.ReLU(), nn.Dropout(config.fusion_dropout))
        # classes: the size of the branch's class set when it answers in one (labels.CLASS_SETS), else 7 emotions
        self.emotion = classifier(config.fusion_dim, config.head_hidden, classes or config.num_emotions,
                                  config.dropout)
        self.sentiment = classifier(config.fusion_dim, config.head_hidden, config.num_sentiments, config.dropout) \
            if sentiment else None

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(embedding)
        return self.emotion(h), (self.sentiment(h) if self.sentiment is not None else None)


def prior_log_probs() -> torch.Tensor:
    """MELD train's pair frequencies as log-probabilities, (8,)."""
    counts = torch.tensor(MELD_PAIR_COUNTS, dtype=torch.float32)
    return torch.log(counts / counts.sum())


def pairs_from_heads(log_e: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the pairs, (batch, 8), from an emotion (batch, 7) and a sentiment (batch, 3)
    log-distribution: their product over the allowed pairs, renormalised."""
    return torch.log_softmax(log_e[:, PAIR_EMOTION] + log_s[:, PAIR_SENTIMENT], dim=-1)


def pairs_from_emotion(log_e: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the pairs, (batch, 8), of a branch with an emotion head only: each emotion's mass
    split evenly over the sentiments it allows."""
    return log_e[:, PAIR_EMOTION] - PAIR_LOG_SPLIT.to(log_e.device, log_e.dtype)


def marginals(log_pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(emotion (batch, 7), sentiment (batch, 3)) log-marginals of a pair log-distribution (batch, 8)."""
    def fold(index: torch.Tensor, n: int) -> torch.Tensor:
        onehot = torch.zeros(len(PAIRS), n, dtype=log_pairs.dtype, device=log_pairs.device)
        onehot[torch.arange(len(PAIRS)), index] = 1.0
        # logsumexp over the pairs of each label; a label with no pair (none here) would be -inf
        return torch.logsumexp(log_pairs.unsqueeze(-1) + torch.log(onehot).unsqueeze(0), dim=1)

    return fold(PAIR_EMOTION, len(EMOTIONS)), fold(PAIR_SENTIMENT, len(SENTIMENTS))


def pairs_from_classes(log_c: torch.Tensor, class_set: str) -> torch.Tensor:
    """Log-probabilities of the pairs, (batch, 8), of a branch answering in a class set (batch, classes): each
    class's mass split evenly over the pairs it stands for."""
    index, log_size = _class_of_pair(class_set)
    return log_c[:, index.to(log_c.device)] - log_size.to(log_c.device, log_c.dtype)


def branch_log_probs(config: ModelConfig, modality: str, emotion_logits: torch.Tensor,
                     sentiment_logits: torch.Tensor | None) -> torch.Tensor:
    """Calibrated pair log-probabilities of one branch, (batch, 8)."""
    temps = config.branch_temperatures.get(modality, {})
    log_e = torch.log_softmax(emotion_logits.float() / temps.get("emotion", 1.0), dim=-1)
    if modality in config.branch_classes:
        return pairs_from_classes(log_e, config.branch_classes[modality])
    if sentiment_logits is None:
        return pairs_from_emotion(log_e)
    log_s = torch.log_softmax(sentiment_logits.float() / temps.get("sentiment", 1.0), dim=-1)
    return pairs_from_heads(log_e, log_s)


def pool(log_probs: dict[str, torch.Tensor], present: dict[str, torch.Tensor],
         weights: dict[str, float | torch.Tensor]) -> torch.Tensor:
    """Weighted log-linear pooling over the branches present per sample; returns normalised log-probabilities.

    log_probs[m]: (batch, n); present[m]: bool (batch,); weights[m]: a number or a per-sample tensor (batch,)
    (weight x familiarity). Rows where no branch votes come out uniform."""
    some = next(iter(log_probs.values()))
    total = torch.zeros_like(some)
    weight_sum = torch.zeros(some.shape[0], 1, dtype=some.dtype, device=some.device)
    for m, lp in log_probs.items():
        w = torch.as_tensor(weights.get(m, 1.0), dtype=some.dtype, device=some.device)
        w = (present[m].to(some.dtype) * w).unsqueeze(1)
        # a row that does not vote must not bring NaN in through 0 * NaN
        total = total + torch.where(w > 0, w * torch.nan_to_num(lp, neginf=-30.0), torch.zeros_like(lp))
        weight_sum = weight_sum + w
    return torch.log_softmax(total / weight_sum.clamp_min(1e-6), dim=-1)


def feature_distance(features: torch.Tensor, calibration: dict | None) -> torch.Tensor:
    """How far a branch's features (batch, F) lie from its training features, (batch,): the mean squared
    whitened deviation, mean((W (x - mean))^2) with the calibration's "mean" (F,) and "whiten" (k, F) (principal
    directions of the training features scaled to unit variance); without them, mean(x^2) of features that are
    standardised already (the voice's)."""
    x = features.float()
    if calibration and "whiten" in calibration:
        mean = torch.tensor(calibration["mean"], dtype=x.dtype, device=x.device)
        whiten = torch.tensor(calibration["whiten"], dtype=x.dtype, device=x.device)
        x = (x - mean) @ whiten.T
    return (x ** 2).mean(1)


def familiarity(distance: torch.Tensor, calibration: dict[str, float] | None) -> torch.Tensor:
    """How familiar inputs are to a branch, in [0, 1], from their distance to its training features (batch,).

    calibration: {"typical": the median distance of the branch's own validation inputs, "limit": the distance
    at which an input no longer counts}; 1 up to typical, falling linearly to 0 at limit. Without calibration
    every input counts fully."""
    if not calibration:
        return torch.ones_like(distance)
    typical, limit = float(calibration["typical"]), float(calibration["limit"])
    return ((limit - distance) / max(limit - typical, 1e-6)).clamp(0.0, 1.0)


def reliability_weight(kappa: float) -> float:
    """A branch's weight from Cohen's kappa of its answers on data unlike its training data: how far its agreement
    with the truth goes beyond what chance gives with the same label frequencies, (accuracy - p_e) / (1 - p_e) with
    p_e = sum over labels of (true share x answered share). 0 for a branch that always gives one answer or does no
    better than guessing, whatever the set's class balance and number of classes; so the words (7 emotions on
    MELD, mostly neutral) and the voice (4 balanced classes on acted corpora) are measured on one scale.

    Accuracy's share of the way from the most frequent class to perfect, used before, was not: it cut the words
    (a 42% majority) to 0.09 against 0.16 for the voice, and the fused answer trailed the words on a voice the
    branch did not know (benchmarks.fusion, check (a))."""
    if not -1.0 <= kappa <= 1.0:
        raise ValueError(f"kappa must be in [-1, 1], got {kappa}")
    return max(0.0, float(kappa))
