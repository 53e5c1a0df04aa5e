"""One input contract per branch: what it reads from media, what stands in when it has nothing, when it counts as
present, and how a batch of its inputs is laid out for the model.

Inference (mmsa.analyze), training (training.featurize / training.loop) and branch evaluation
(training.branch_eval) all build model inputs through these processors, so a model never sees its inputs prepared
one way in training and another in use. Each processor has:

- read(raw) -> item or None: from what the media gives (text, a 16 kHz waveform, decoded frames) to what the
  branch keeps per utterance; None when there is nothing usable (no words, too little audio, no face);
- collate(items) -> (model inputs, present): a batch, with a filler where an item is None and a bool mask of
  which rows are present (the model leaves absent rows out, mmsa.model);
- signature(): what changes read()'s output, for training's feature cache keys.

Video processors also say how frames are to be decoded for them (side, square: mmsa.media.iter_span_frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from . import features
from .config import ModelConfig
from .faces import FRAME_SIDE as FACE_FRAME_SIDE
from .faces import image_face, utterance_faces
from .media import SAMPLE_RATE


class Processor(Protocol):
    modality: str

    def collate(self, items: Sequence[Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]: ...

    def signature(self) -> list: ...


class TextProcessor:
    """Items are (utterance, dialogue context, heard) with heard how clearly the recogniser heard the words
    (mmsa.results.Span.heard; None for text that was not recognised, e.g. typed); an utterance without words
    is absent. heard is what the words' familiarity is measured on (mmsa.model)."""

    modality = "text"

    def __init__(self, tokenizer, config: ModelConfig):
        self.tokenizer, self.config = tokenizer, config

    def read(self, text: str, context: str = "", heard: float | None = None) -> tuple[str, str, float | None] | None:
        text = text or ""
        if not features.normalize_text(text, self.config.text_style).strip():
            return None
        return text, context or "", None if heard is None or not np.isfinite(heard) else float(heard)

    def collate(self, items: Sequence[tuple | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        rows = [item or ("", "", None) for item in items]  # the filler: an empty utterance, never read by the model
        tok = features.tokenize(self.tokenizer, [r[0] for r in rows], self.config, [r[1] for r in rows])
        inputs = {"input_ids": tok["input_ids"], "attention_mask": tok["attention_mask"]}
        if tok.get("token_type_ids") is not None:
            inputs["token_type_ids"] = tok["token_type_ids"]
        heard = [r[2] for r in rows]
        if any(h is not None for h in heard):  # NaN: not recognised, nothing to measure
            inputs["text_heard"] = torch.tensor([float("nan") if h is None else h for h in heard])
        return inputs, torch.tensor([item is not None for item in items], dtype=torch.bool)

    def signature(self) -> list:
        c = self.config
        return ["text", c.text_max_length, c.text_style, c.dialogue_context]


class LogMelProcessor:
    """Items are standardised log-mel spectrograms (n_mels, frames) of the utterance's audio (features.log_mel);
    audio shorter than one FFT window is absent."""

    modality = "audio"

    def __init__(self, config: ModelConfig):
        self.config = config

    def read(self, wave: np.ndarray | None) -> torch.Tensor | None:
        if wave is None or np.asarray(wave).size < self.config.n_fft:
            return None
        return features.log_mel(wave, self.config)

    def collate(self, items: Sequence[torch.Tensor | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        c = self.config
        audio = torch.zeros(len(items), c.n_mels, c.audio_max_frames)  # the filler: silence-level zeros
        lengths = torch.ones(len(items), dtype=torch.long)
        for i, mel in enumerate(items):
            if mel is not None:
                audio[i, :, :mel.shape[1]] = mel.float()
                lengths[i] = mel.shape[1]
        return {"audio": audio, "audio_lengths": lengths}, torch.tensor([m is not None for m in items])

    def signature(self) -> list:
        c = self.config
        return ["log_mel", c.sample_rate, c.n_mels, c.n_fft, c.hop_length, c.audio_max_frames]


class WhisperVoiceProcessor:
    """Items are the Whisper encoder's states pooled over the utterance's speech (2 * width,); under 0.1 s of speech
    is absent. How the states are made follows config.voice_context:
    - "recording": the recording's speech encoded as the recogniser encodes it, in 30 s windows
      (speech_states; the pipeline reuses the recogniser's own states, read_recording); a lone clip (read) is
      heard as a recording of its own;
    - "utterance": each utterance encoded alone, trimmed to what the recogniser's VAD hears (earlier branches).
    With config.voice_movement an item also carries the utterance's pitch statistics after its states
    (features.pitch_statistics), from which normalise() measures how much each speaker's voice moves.

    whisper: the faster-whisper model named by config.whisper_encoder; loaded on first use when not given."""

    modality = "audio"

    def __init__(self, config: ModelConfig, whisper=None):
        self.config, self._whisper = config, whisper

    @property
    def whisper(self):
        if self._whisper is None:
            from .loading import whisper_source
            from .transcribe import available_cores, load_asr

            self._whisper = load_asr(whisper_source(self.config.whisper_encoder), available_cores())
        return self._whisper

    @property
    def reads_recording(self) -> bool:
        return self.config.voice_context == "recording"

    @property
    def measures_movement(self) -> bool:
        """Whether items carry the utterance's pitch statistics after its states (config.voice_movement)."""
        return bool(self.config.voice_movement)

    def _with_pitch(self, item: np.ndarray | None, wave: np.ndarray) -> np.ndarray | None:
        if item is None or not self.measures_movement:
            return item
        return np.concatenate([item, features.pitch_statistics(wave)]).astype(np.float32)

    def read(self, wave: np.ndarray | None) -> np.ndarray | None:
        if wave is None or np.asarray(wave).size < features.VOICE_MIN_SAMPLES:
            return None
        wave = np.asarray(wave, np.float32)
        if self.reads_recording:
            from .speech_states import recording_features

            return self._with_pitch(recording_features(self.whisper, [wave])[0], wave)
        return self._with_pitch(features.voice_features(self.whisper, features.trim_to_speech(wave)), wave)

    def read_recording(self, audio: np.ndarray | None, spans: Sequence, states=None) -> list[np.ndarray | None]:
        """Every span's item in one recording (16 kHz mono audio; spans with .start and .end in seconds). states:
        the recogniser's speech_states.SpeechStates of this audio, when it is this branch's encoder and the branch
        reads recordings; otherwise the audio is encoded here."""
        if audio is None:
            return [None] * len(spans)
        if not self.reads_recording:
            return [self.read(audio[int(s.start * SAMPLE_RATE):int(s.end * SAMPLE_RATE)]) for s in spans]
        if states is None or states.states is None:
            from .speech_states import encode_speech

            states = encode_speech(self.whisper, audio)
        return [self._with_pitch(states.pool(s.start, s.end),
                                 audio[int(s.start * SAMPLE_RATE):int(s.end * SAMPLE_RATE)]) for s in spans]

    def normalise(self, items: Sequence[np.ndarray | None], speakers: Sequence) -> list[np.ndarray | None]:
        """The read items of one recording as the branch reads them: where it was trained per speaker
        (config.voice_normalisation), each standardised with its speaker's other utterances, and alone
        (features.voice_pair); absent items stay absent. speakers: one label per item (None where unknown: those
        count as one speaker); an item that is not all numbers becomes absent."""
        prior = self.config.voice_normalisation
        if not prior:
            return list(items)
        width = 2 * self.config.whisper_width
        # an utterance whose features are not numbers is absent: it must not spoil its speaker's statistics (its
        # pitch may be unmeasured, NaN: then it only has no say in how its speaker's voice moves)
        out = [v if v is not None and np.isfinite(v[:width]).all() else None for v in items]
        rows = [i for i, v in enumerate(out) if v is not None]
        if not rows:
            return out
        states = np.stack([out[i] for i in rows])
        groups = [speakers[i] for i in rows]
        paired = features.voice_pair(states[:, :width], groups, prior)
        if self.measures_movement:  # the speaker's movement rides after the pair, for collate to take off
            moves = features.voice_movement(states[:, width:], groups, self.config.voice_movement)
            paired = np.concatenate([paired, moves[:, None].astype(np.float32)], axis=1)
        for k, i in enumerate(rows):
            out[i] = paired[k]
        return out

    def collate(self, items: Sequence[np.ndarray | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        width = 2 * self.config.whisper_width * (2 if self.config.voice_normalisation else 1)
        moves = self.measures_movement
        rows = [np.asarray(v, np.float32) if v is not None else np.zeros(width + int(moves), np.float32)
                for v in items]
        x = torch.from_numpy(np.stack(rows))
        present = torch.tensor([v is not None for v in items])
        if moves:  # normalise() put the speaker's movement last
            return {"audio": x[:, :width], "voice_movement": x[:, width]}, present
        return {"audio": x}, present

    def signature(self) -> list:  # the cache holds read() items: normalisation is applied after, per recording
        context = [] if self.config.voice_context == "utterance" else [self.config.voice_context]  # old caches stay valid
        pitch = ["pitch", features.PITCH_STATISTICS] if self.measures_movement else []  # items carry it too
        return ["whisper_voice", self.config.whisper_encoder, features.VOICE_MIN_SAMPLES, *context, *pitch]


class FrameProcessor:
    """Items are RGB frames (num_frames, size, size, 3) uint8 sampled across the utterance and centre-cropped
    square; a span without decodable frames is absent."""

    modality = "video"
    square = True

    def __init__(self, config: ModelConfig):
        self.config = config
        self.side = config.frame_size

    def read(self, frames: np.ndarray | None) -> np.ndarray | None:
        return frames if frames is not None and len(frames) else None

    def collate(self, items: Sequence[np.ndarray | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        present = torch.tensor([f is not None for f in items], dtype=torch.bool)
        if not bool(present.any()):  # the branch is not run: no input at all
            return {}, present
        c = self.config
        empty = np.zeros((c.num_frames, c.frame_size, c.frame_size, 3), np.uint8)
        return {"video": torch.stack([features.frames_to_tensor(f if f is not None else empty, c.frame_norm)
                                      for f in items])}, present

    def signature(self) -> list:
        c = self.config
        return ["frames", c.num_frames, c.frame_size]


class FaceProcessor:
    """Items are grey face crops (num_frames, face_size, face_size) uint8 of the speaker's face in frames sampled
    across the utterance (mmsa.faces); a span where no face is found is absent."""

    modality = "video"
    square = False  # the face is searched in the whole frame, kept at its aspect

    def __init__(self, config: ModelConfig):
        self.config = config
        self.side = FACE_FRAME_SIDE

    def read_with_box(self, frames: np.ndarray | None) -> tuple[np.ndarray | None, tuple[float, ...] | None]:
        """The crops and where the face was (x, y, w, h as fractions of the frame), or (None, None)."""
        if frames is None or not len(frames):
            return None, None
        crops, _, box = utterance_faces(frames, self.config.face_size)
        return crops, box

    def read(self, frames: np.ndarray | None) -> np.ndarray | None:
        return self.read_with_box(frames)[0]

    def read_image(self, gray: np.ndarray) -> np.ndarray:
        """A still grey image (a face photo): its largest face (or, in a tight crop, the image itself), repeated
        for every frame."""
        c = self.config
        return np.repeat(image_face(gray, c.face_size)[None], c.num_frames, axis=0)

    def collate(self, items: Sequence[np.ndarray | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        present = torch.tensor([f is not None for f in items], dtype=torch.bool)
        if not bool(present.any()):
            return {}, present
        c = self.config
        empty = np.zeros((c.num_frames, c.face_size, c.face_size), np.uint8)
        return {"video": torch.stack([features.face_tensor(f if f is not None else empty) for f in items])}, present

    def signature(self) -> list:
        c = self.config
        return ["faces", c.num_frames, c.face_size, FACE_FRAME_SIDE]


def processors_for(model, whisper=None) -> dict[str, Any]:
    """The processor of each of the model's branches. whisper: an already loaded faster-whisper model to reuse
    for the voice branch (it must be the one config.whisper_encoder names)."""
    c: ModelConfig = model.config
    out: dict[str, Any] = {}
    if "text" in c.modalities:
        out["text"] = TextProcessor(model.tokenizer, c)
    if "audio" in c.modalities:
        out["audio"] = WhisperVoiceProcessor(c, whisper) if c.audio_backbone == "whisper" else LogMelProcessor(c)
    if "video" in c.modalities:
        out["video"] = FaceProcessor(c) if c.video_backbone == "face_cnn" else FrameProcessor(c)
    return out


def batch_inputs(processors: dict[str, Any], items: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Keyword arguments of MultimodalSentimentModel.forward for a batch: items[m] holds one item (or None) per
    row for each branch m; a branch not in items is absent from every row."""
    n = len(next(iter(items.values()))) if items else 0
    inputs: dict[str, Any] = {"present": {}}
    for m, processor in processors.items():
        tensors, present = processor.collate(items.get(m, [None] * n))
        inputs.update(tensors)
        inputs["present"][m] = present
    return inputs
