"""Join separately trained branches into one late-fusion model (mmsa.fusion): the text branch of a text model
(its fused head over the words becomes the text branch's head, unchanged), a voice branch and a face branch
(training.voice, training.face). Each keeps its calibration; the weights are given (training.branch_weights
measures them on data unlike each branch's training data), and voice and face map into the label pairs by their
emotion alone (mmsa.fusion).
"""

from __future__ import annotations

from mmsa.config import ModelConfig
from mmsa.model import MultimodalSentimentModel

FACE_FRAMES = 4  # frames per utterance the face branch reads: faces change slowly, and each costs a detection
# the learned-fusion layers of a text-only model -> the text branch head of a late-fusion model
TEXT_HEAD_RENAMES = {"fusion_layer.": "branch_heads.text.trunk.", "emotion_classifier.": "branch_heads.text.emotion.",
                     "sentiment_classifier.": "branch_heads.text.sentiment."}


def compose(text: MultimodalSentimentModel, voice: MultimodalSentimentModel, face: MultimodalSentimentModel,
            weights: dict[str, float], preset: str = "starter") -> MultimodalSentimentModel:
    tc, vc, fc = text.config, voice.config, face.config
    if tc.modalities != ["text"] or tc.fusion != "learned":
        raise ValueError("the text model must be a text-only model with learned fusion (e.g. the text starter)")
    for c in (vc, fc):
        if (c.proj_dim, c.fusion_dim, c.head_hidden) != (tc.proj_dim, tc.fusion_dim, tc.head_hidden):
            raise ValueError("the branches' head sizes differ; train them with the same proj/fusion/head sizes")
    config = ModelConfig(**{
        **tc.to_dict(),
        "modalities": ["text", "audio", "video"], "fusion": "late", "per_modality_heads": True,
        "audio_backbone": "whisper", "whisper_encoder": vc.whisper_encoder,
        "voice_normalisation": vc.voice_normalisation, "voice_context": vc.voice_context,
        "voice_movement": vc.voice_movement,
        "video_backbone": "face_cnn", "face_size": fc.face_size, "face_width": fc.face_width,
        "num_frames": FACE_FRAMES,
        "branch_temperatures": {"text": {"emotion": tc.emotion_temperature, "sentiment": tc.sentiment_temperature},
                                "audio": vc.branch_temperatures["audio"], "video": fc.branch_temperatures["video"]},
        "branch_weights": weights, "derived_sentiment": ["audio", "video"], "emotion_to_sentiment": [],
        # what each branch brings from its own training: its class set and its familiarity calibration, if any
        "branch_classes": {**vc.branch_classes, **fc.branch_classes},
        "branch_familiarity": {**vc.branch_familiarity, **fc.branch_familiarity},
        "emotion_temperature": 1.0, "sentiment_temperature": 1.0, "preset": preset,
        "license": "CC BY-NC-SA 4.0 (RAVDESS), research use only (FER2013)",
    })
    model = MultimodalSentimentModel(config)
    state = {}
    for key, value in text.state_dict().items():
        for old, new in TEXT_HEAD_RENAMES.items():
            if key.startswith(old):
                key = new + key[len(old):]
        if key.startswith(("text_encoder.", "branch_heads.text.")):
            state[key] = value
    for branch in (voice, face):
        state.update({k: v for k, v in branch.state_dict().items()
                      if k.startswith(("audio_encoder.", "video_encoder.", "branch_heads."))})
    model.load_state_dict(state, strict=True)
    model.tokenizer = text.tokenizer
    return model.eval()


def branch_of(model: MultimodalSentimentModel, modality: str) -> MultimodalSentimentModel:
    """One branch (voice or face) of a late-fusion model, as the one-branch model it was trained as
    (training.voice, training.face): its encoder, head, calibration, classes and familiarity, no weight."""
    from .branches import branch_model

    c = model.config
    if c.fusion != "late" or modality not in c.derived_sentiment:
        raise ValueError(f"the model has no emotion-only {modality} branch to take out (late fusion only)")
    overrides = {"audio": {"audio_backbone": "whisper", "whisper_encoder": c.whisper_encoder,
                           "voice_normalisation": c.voice_normalisation, "voice_context": c.voice_context,
                           "voice_movement": c.voice_movement},
                 "video": {"video_backbone": "face_cnn", "face_size": c.face_size, "face_width": c.face_width,
                           "num_frames": 1}}[modality]
    branch = branch_model(modality, **overrides, proj_dim=c.proj_dim, fusion_dim=c.fusion_dim,
                          head_hidden=c.head_hidden,
                          branch_classes={m: s for m, s in c.branch_classes.items() if m == modality},
                          branch_temperatures={modality: dict(c.branch_temperatures.get(modality, {}))},
                          branch_familiarity={m: v for m, v in c.branch_familiarity.items() if m == modality})
    prefixes = (f"{'audio' if modality == 'audio' else 'video'}_encoder.", f"branch_heads.{modality}.")
    branch.load_state_dict({k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}, strict=True)
    branch.config.license = c.license
    return branch.eval()
