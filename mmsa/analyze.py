"""The pipeline: a video file -> Analysis. Each stream is decoded once; utterances go through the model in batches."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import features
from .face_tracks import face_tracks
from .face_detection import FaceDetectorUnavailable
from .labels import BRANCH_NAMES, class_names
from .media import SAMPLE_RATE, MediaError, decode_audio, iter_span_frames, probe
from .processors import batch_inputs, processors_for
from .results import Analysis, Prediction, UtteranceResult, summarize
from .settings import Settings
from .transcribe import (Span, asr_display_name, available_cores, check_translation, default_asr, fixed_windows,
                         load_asr, shape_utterances, transcribe_speech)

logger = logging.getLogger("mmsa")

MODALITY_NAMES = {**BRANCH_NAMES, "fused": "fused"}
BATCH_SIZE = 16  # utterances per forward pass: amortises the per-call overhead, bounds memory
Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)


def _measured(value: torch.Tensor) -> float | None:
    """A familiarity as a number; None where it was not measured (NaN: e.g. typed words)."""
    v = float(value)
    return None if v != v else v


def unfamiliar_notes(results: list[UtteranceResult]) -> list[str]:
    """Sentences for the warnings: which branches found inputs unlike their training data (and so counted less or
    not at all), and the utterances where no branch had a say."""
    notes = []
    n = len(results)
    for m in ("audio", "video", "text"):
        own = [u.by_modality[m] for u in results if m in u.by_modality]
        unfamiliar = [p for p in own if p.familiar is False]
        if unfamiliar:
            dropped = sum(1 for p in unfamiliar if not p.counted)
            what = {"text": "the recogniser was unsure of the words",
                    "audio": "the voice was unlike what its branch learned from, or its speaker's pitch did not move "
                             "enough between utterances (or had one utterance) to be read"}.get(
                m, f"the {MODALITY_NAMES[m]} was unlike what its branch learned from")
            notes.append(f"{what} in {len(unfamiliar)} of {n} utterance(s): counted less there"
                         + (f", not at all in {dropped}" if dropped else ""))
    silent = [u for u in results if u.by_modality and not any(p.counted for p in u.by_modality.values())]
    worded = sum(1 for u in silent if "text" in u.by_modality)
    if worded:
        notes.append(f"in {worded} utterance(s) no branch was familiar with its input: their labels are the words' "
                     f"own reading")
    if len(silent) > worded:
        notes.append(f"in {len(silent) - worded} utterance(s) no branch could be counted: their labels are MELD's "
                     f"label frequencies, not a reading of the clip")
    return notes


class AnalysisTimeout(MediaError):
    """The analysis ran past the configured time limit."""


class Analyzer:
    """Loads a model and a speech recogniser once; analyses many files.

    model: a MultimodalSentimentModel, or a Hub id / folder for from_pretrained (default: MMSA_MODEL, else the
    bundled starter model); asr: a faster-whisper name or folder, or a loaded WhisperModel (default: MMSA_ASR,
    else the packaged tiny.en); max_duration: longest file accepted, in seconds (default: MMSA_MAX_DURATION, read
    when the analyzer is made, else 600).
    """

    def __init__(self, model: Any = None, asr: Any = None, *, batch_size: int = BATCH_SIZE,
                 max_duration: float | None = None, threads: int | None = None,
                 model_name: str | None = None, time_limit: float | None = None, speakers: bool = True,
                 translate: bool = False):
        from .model import load_model

        self.threads = threads or available_cores()
        torch.set_num_threads(self.threads)
        if model is None or isinstance(model, (str, os.PathLike)):
            model, loaded_name = load_model(model)
            model_name = model_name or loaded_name
        self.model = model.eval()
        self.model_name = model_name or getattr(model.config, "preset", "custom")
        if asr is None or isinstance(asr, (str, os.PathLike)):
            self.asr_name = str(asr or default_asr())
            self.asr = load_asr(self.asr_name, self.threads)
        else:
            self.asr_name, self.asr = getattr(asr, "name", "custom"), asr
        check_translation(self.asr, translate)  # refused now, before any file is read
        self.translate = translate
        self.voice = None  # the Whisper model whose encoder states the voice branch reads
        if "audio" in self.config.modalities and self.config.audio_backbone == "whisper":
            from .loading import whisper_source

            source = whisper_source(self.config.whisper_encoder)
            # the model was trained on this encoder's states: reuse the ASR only when it is that same model
            self.voice = self.asr if os.path.abspath(self.asr_name) == os.path.abspath(source) or \
                self.asr_name == source else load_asr(source, self.threads)
        self.processors = processors_for(self.model, whisper=self.voice)  # what each branch reads, as in training
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number of utterances >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        # read now, not at import: batch jobs and endpoints set MMSA_MAX_DURATION in their environment
        self.max_duration = max_duration if max_duration is not None else Settings.from_env().max_duration
        self.time_limit = time_limit  # seconds per analysis; checked between stages, batches and ASR segments
        self.speakers = speakers  # tell speakers apart (S1, S2, ...) by their voices

    def warm_up(self) -> None:
        """One analysis of a generated one-second clip, then the speaker step, so the first user pays for no lazy
        initialisation: decoders, the recogniser and its VAD, the model, the face detector, the speaker encoder
        and scikit-learn's clustering (a real file's speakers would otherwise import it)."""
        import tempfile

        from .synth import make_plain_clip

        with tempfile.TemporaryDirectory(prefix="mmsa_warm_up_") as tmp:
            self.analyze(make_plain_clip(Path(tmp) / "warm_up.mkv"))
        if self.speakers:
            from .speakers import SpeakerEncoderUnavailable
            from .speakers import warm_up as speakers_warm_up

            try:
                speakers_warm_up()
            except SpeakerEncoderUnavailable:  # analyze() says so for each file
                pass

    @property
    def faces(self) -> bool:
        """Whether the video branch reads face crops (else whole frames)."""
        return "video" in self.config.modalities and self.config.video_backbone == "face_cnn"

    @property
    def config(self):
        return self.model.config

    def analyze(self, path: str | os.PathLike, progress: Progress | None = None) -> Analysis:
        """Analyse one file. Raises MediaError (a ValueError) with a readable message for unusable input."""
        timings: dict[str, float] = {}
        warnings: list[str] = []
        t_all = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if self.time_limit is not None and time.perf_counter() - t_all > self.time_limit:
                raise AnalysisTimeout(f"{Path(path).name}: analysis stopped after the time limit of "
                                      f"{self.time_limit:.0f} s; try a shorter clip")
            if progress is not None:
                progress(fraction, message)

        @contextmanager
        def stage(name: str):
            t = time.perf_counter()
            yield
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t

        report(0.0, "Reading the file")
        with stage("probe"):
            info = probe(path, self.max_duration)
        audio = None
        if info.has_audio:
            report(0.02, "Decoding audio")
            with stage("decode_audio"):
                audio = decode_audio(path, SAMPLE_RATE, max_seconds=info.duration + 1.0,
                                     stated_duration=info.duration, warnings=warnings)
            if audio.size < SAMPLE_RATE * 0.05:
                warnings.append("the audio track is empty or unreadable: analysed without audio and speech")
                audio = None
        else:
            warnings.append("no audio track: nothing to transcribe, analysed in fixed windows")
        duration = info.duration
        spans: list[Span] = []
        speech = None  # the recogniser's encoder states, for a voice that reads them (speech_states)
        if audio is not None:
            report(0.05, "Transcribing speech")
            with stage("transcribe"):
                spans, speech = transcribe_speech(self.asr, audio,
                                                  lambda f: report(0.05 + 0.55 * f, "Transcribing speech"),
                                                  translate=self.translate, keep_states=self._voice_reads_asr)
            spans = shape_utterances(spans, duration)
            if not spans:
                warnings.append("no speech found: analysed in fixed windows without text")
            elif self.speakers:
                report(0.6, "Telling speakers apart")
                with stage("speakers"):
                    spans = self._speakers(audio, spans, warnings)
        if not spans:
            spans, speech = fixed_windows(duration), None
        use_video = "video" in self.config.modalities and info.has_video
        if "video" in self.config.modalities and not info.has_video:
            warnings.append("no video stream: analysed without the picture")
        results = self._classify(path, spans, audio, speech, use_video, report, stage, warnings)
        warnings.extend(unfamiliar_notes(results))
        used = [m for m in self.config.modalities if any(m in u.modalities for u in results)]
        missing_all = [i for i, u in enumerate(results) if not u.modalities]
        if missing_all:
            warnings.append(f"{len(missing_all)} utterance(s) had no input this model uses "
                            f"({', '.join(self.config.modalities)}): their labels are the model's prior")
        timings["total"] = time.perf_counter() - t_all
        report(1.0, "Done")
        return Analysis(model=self.model_name, duration=duration, utterances=results, summary=summarize(results),
                        timings=timings, source=Path(path).name, asr=self._asr_shown(),
                        modalities=used, warnings=warnings)

    @staticmethod
    def _speakers(audio: np.ndarray, spans: list[Span], warnings: list[str]) -> list[Span]:
        from .speakers import SpeakerEncoderUnavailable, assign_speakers

        try:
            return assign_speakers(audio, spans)
        except SpeakerEncoderUnavailable as e:
            warnings.append(f"speakers not told apart: {e}")
        except Exception as e:  # the emotions must not be lost to a failure of this optional step
            logger.warning("speaker step failed: %s", e)
            warnings.append("speakers could not be told apart in this file")
        return spans

    def _classify(self, path, spans: list[Span], audio: np.ndarray | None, speech, use_video: bool,
                  report: Progress, stage, warnings: list[str]) -> list[UtteranceResult]:
        cfg = self.config
        n = len(spans)
        frames: dict[int, np.ndarray | None] = {}  # span -> the video branch's item; None: no face found
        boxes: dict[int, tuple[float, ...] | None] = {}  # span -> where the face was, as fractions of the frame
        results: list[UtteranceResult | None] = [None] * n
        done = 0
        unusable: dict[str, int] = {}  # branch -> utterances whose answer was not a number (left out)

        with stage("features"):
            try:
                voices = self._voices(spans, audio, speech)
            except Exception as e:  # the words and the face must not be lost to the voice
                logger.warning("voice features failed (%s)", type(e).__name__)  # its text may hold a path
                warnings.append("the voice could not be read in this file: analysed without it")
                voices = None

        def run_batch(lo: int, hi: int) -> None:
            nonlocal done
            with stage("features"):
                inputs = self._inputs(spans, lo, hi, voices, frames)
            with stage("model"), torch.inference_mode():
                out, probs = self._forward_finite(inputs, unusable)
            for j, i in enumerate(range(lo, hi)):
                results[i] = self._result(spans[i], out, probs, j)
                face = frames.pop(i, None)
                if self.faces and face is not None:
                    results[i].face = face[len(face) // 2]
            done = hi
            report(0.6 + 0.4 * done / n, f"Analysing utterances {done} of {n}")

        report(0.6, f"Analysing utterances 0 of {n}")
        frames_read = False
        if use_video:
            video = self.processors["video"]
            frame_iter = iter_span_frames(path, [(s.start, s.end) for s in spans], cfg.num_frames, video.side,
                                          warnings, square=video.square)
            try:
                while True:
                    with stage("decode_frames"):
                        item = next(frame_iter, None)
                    if item is None:
                        break
                    if self.faces:
                        with stage("faces"):
                            frames[item[0]], boxes[item[0]] = video.read_with_box(item[1])
                    else:
                        frames[item[0]] = video.read(item[1])
                    # run every full batch whose frames have all arrived; frames of finished batches are freed
                    while done + self.batch_size <= n and \
                            all(i in frames for i in range(done, done + self.batch_size)):
                        run_batch(done, done + self.batch_size)
                frames_read = True
            except AnalysisTimeout:  # a MediaError too, but it ends the analysis: it is not about the frames
                raise
            except MediaError as e:
                warnings.append(f"video frames unreadable ({e}): analysed without the picture")
            except FaceDetectorUnavailable as e:
                warnings.append(f"faces could not be looked for ({e}): analysed without the picture")
            except Exception as e:  # a decoder failure must not lose the text and audio results
                logger.warning("frame decoding failed: %s", e)
                warnings.append("video frames could not be decoded: analysed without the picture")
        while done < n:
            run_batch(done, min(done + self.batch_size, n))
        for m, count in unusable.items():
            warnings.append(f"the {MODALITY_NAMES.get(m, m)} branch gave no usable answer for {count} utterance(s) "
                            f"(not a number): it was left out of those")
        if self.faces and frames_read:
            faceless = sum(1 for r in results if r is not None and "video" not in r.modalities)
            if faceless:
                warnings.append(f"no face in {faceless} of {n} utterances: those were read without the picture")
            for r, track in zip(results, face_tracks([boxes.get(i) for i in range(n)])):
                if r is not None:
                    r.face_track = track
        return [r for r in results if r is not None]

    def _forward_finite(self, inputs: dict[str, Any], unusable: dict[str, int]):
        """(model output, probabilities) of a batch in which no branch's answer is NaN or infinite: a branch that
        gives one for an utterance is marked absent there and the batch is run again, so one broken input never
        spoils the fused answer (nor the JSON, which cannot hold NaN)."""
        out = self.model(**inputs)
        present = inputs["present"]
        changed = False
        for m, logits in out.modality_logits.items():
            finite = torch.isfinite(logits["emotion"]).all(1)
            if logits.get("sentiment") is not None:
                finite &= torch.isfinite(logits["sentiment"]).all(1)
            bad = present[m] & ~finite
            if bool(bad.any()):
                present[m] = present[m] & ~bad
                unusable[m] = unusable.get(m, 0) + int(bad.sum())
                changed = True
        probs = None
        if not changed:
            probs = self.model.probabilities(out)
            rows = ~(torch.isfinite(probs["emotion"]).all(1) & torch.isfinite(probs["sentiment"]).all(1))
            if bool(rows.any()):  # no branch to blame (learned fusion): those rows fall back to the prior
                for m in present:
                    present[m] = present[m] & ~rows
                unusable["fused"] = unusable.get("fused", 0) + int(rows.sum())
                changed = True
        if changed:
            out = self.model(**inputs)
            probs = self.model.probabilities(out)
        return out, probs

    def _asr_shown(self) -> str:
        return asr_display_name(self.asr_name) + (", translated to English" if self.translate else "")

    @property
    def _voice_reads_asr(self) -> bool:
        """The voice branch reads the recogniser's own encoder states: keep them while transcribing."""
        proc = self.processors.get("audio")
        return self.voice is self.asr and bool(getattr(proc, "reads_recording", False))

    def _voices(self, spans: list[Span], audio: np.ndarray | None, speech) -> list | None:
        """The audio branch's item of every span, read before any batch runs: a voice may be standardised
        against its speaker's other utterances (processors.WhisperVoiceProcessor.normalise). speech: the
        recogniser's encoder states (speech_states.SpeechStates) when kept."""
        if "audio" not in self.processors:
            return None
        proc = self.processors["audio"]
        if hasattr(proc, "read_recording"):
            items = proc.read_recording(audio, spans, speech)
        else:
            items = [proc.read(audio[int(s.start * SAMPLE_RATE):int(s.end * SAMPLE_RATE)] if audio is not None
                               else None) for s in spans]
        return proc.normalise(items, [s.speaker for s in spans]) if hasattr(proc, "normalise") else items

    def _inputs(self, spans: list[Span], lo: int, hi: int, voices: list | None,
                frames: dict[int, np.ndarray | None]) -> dict[str, Any]:
        """Model inputs for spans[lo:hi] with per-sample presence masks (mmsa.processors)."""
        cfg = self.config
        items: dict[str, list] = {}
        if "text" in self.processors:
            items["text"] = [self.processors["text"].read(spans[i].text,
                                                          features.context_of([p.text for p in spans[:i]], cfg),
                                                          spans[i].heard)
                             for i in range(lo, hi)]
        if voices is not None:
            items["audio"] = voices[lo:hi]
        if "video" in self.processors:
            items["video"] = [frames.get(i) for i in range(lo, hi)]
        return batch_inputs(self.processors, items)

    def _result(self, span: Span, out, probs: dict[str, torch.Tensor], j: int) -> UtteranceResult:
        present = [m for m in self.config.modalities if bool(out.present[m][j])]
        by_modality = {}
        for m in present:
            if m not in out.modality_logits:
                continue
            own = out.modality_logits[m]
            pairs = own.get("pairs")
            by_modality[m] = Prediction.from_probabilities(
                torch.softmax(own["emotion"][j].float(), -1).tolist(), torch.softmax(own["sentiment"][j].float(), -1).tolist(),
                pairs=torch.softmax(pairs[j].float(), -1).tolist() if pairs is not None else None,
                weight=float(out.weights[m][j]) if m in out.weights else None,
                familiarity=_measured(out.familiarity[m][j]) if m in out.familiarity else None,
                classes=dict(zip(class_names(self.config.branch_classes.get(m)), own["classes"][j].exp().tolist()))
                if "classes" in own else None)
        return UtteranceResult(
            start=span.start, end=span.end, text=span.text, speaker=span.speaker,
            prediction=Prediction.from_probabilities(probs["emotion"][j].tolist(), probs["sentiment"][j].tolist(),
                                                     pairs=probs["pairs"][j].tolist()),
            modalities=present, by_modality=by_modality,
        )
