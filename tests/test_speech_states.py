"""The recogniser's encoder states, kept and reused by the voice branch (mmsa.speech_states)."""

import numpy as np
import pytest

from mmsa.media import SAMPLE_RATE, decode_audio
from mmsa.speech_states import SpeechStates, encode_speech, recording_features, speech_bounds
from mmsa.transcribe import default_asr, fixed_windows, load_asr, transcribe, transcribe_speech


def test_pool_reads_the_recordings_time_through_the_speech_kept():
    # speech at 1-2 s and 3-4 s of the recording; joined, 2 s: 100 states of 20 ms
    states = SpeechStates([{"start": SAMPLE_RATE, "end": 2 * SAMPLE_RATE},
                           {"start": 3 * SAMPLE_RATE, "end": 4 * SAMPLE_RATE}])
    index = np.arange(100, dtype=np.float32)
    states.add(0, np.stack([index, np.ones(100, np.float32)], 1)[None])
    first = states.pool(0.0, 1.5)  # only 1.0-1.5 s is speech: states 0-24
    assert first[0] == pytest.approx(12.0) and first[1] == 1.0 and first[2] == pytest.approx(np.arange(25).std())
    assert states.pool(3.5, 4.0)[0] == pytest.approx(87.0)  # the second chunk starts at state 50
    assert states.pool(0.0, 5.0)[0] == pytest.approx(49.5)  # all of it, the silences skipped
    assert states.pool(2.1, 2.9) is None  # silence the VAD removed
    assert states.pool(1.0, 1.05) is None  # 0.05 s: too short to describe a voice
    # a later window (seek in 10 ms mel frames) overwrites the overlap; states past the speech are dropped
    states.add(150, np.full((1, 100, 2), -1.0, np.float32))
    assert states.pool(3.5, 4.0)[0] == -1.0 and states.pool(1.0, 1.5)[0] == pytest.approx(12.0)
    assert SpeechStates([]).pool(0.0, 10.0) is None


@pytest.mark.e2e
def test_the_recognisers_states_are_those_the_voice_would_encode(speech_video):
    """Transcription with its states kept writes what faster-whisper's own VAD path writes, and the states it kept
    are those of encoding the same speech (one window: the clip is under 30 s)."""
    asr = load_asr(default_asr())
    audio = decode_audio(speech_video)
    spans, states = transcribe_speech(asr, audio)
    assert spans and [(s.start, s.end, s.text) for s in spans] == \
        [(s.start, s.end, s.text) for s in transcribe(asr, audio)]
    segments, _ = asr.transcribe(audio, language="en", beam_size=1, temperature=0.0, condition_on_previous_text=False,
                                 vad_filter=True, word_timestamps=True)
    assert [(round(s.start, 2), round(s.end, 2), s.text.strip()) for s in segments] == \
        [(round(s.start, 2), round(s.end, 2), s.text) for s in spans]
    own = encode_speech(asr, audio)
    assert states.windows[0] == 0 and own.windows == [0]
    # the recogniser's first window is the one encoded here; where its decoding stopped short of the end, it read the
    # rest from a later window (how far it gets depends on the CPU's kernels), whose states replace these from there
    later = states.windows[1] // 2 if len(states.windows) > 1 else states.n_states
    assert later > 0 and states.filled.all()
    np.testing.assert_allclose(states.states[:later], own.states[:later], atol=1e-4)
    for s in spans:
        kept = states.pool(s.start, s.end)
        assert kept is not None and kept.shape == (2 * 384,) and np.isfinite(kept).all()
        if len(states.windows) == 1:
            np.testing.assert_allclose(kept, own.pool(s.start, s.end), atol=1e-4)
    assert transcribe_speech(asr, np.zeros(3 * SAMPLE_RATE, np.float32)) [0] == []


@pytest.mark.e2e
def test_a_clip_heard_alone_is_a_recording_of_one(speech_video):
    asr = load_asr(default_asr())
    audio = decode_audio(speech_video)
    alone = recording_features(asr, [audio])[0]
    lo, hi = speech_bounds(audio)  # pooled from the first speech to the last, as an utterance from its words
    assert 0 < lo < hi <= audio.size
    np.testing.assert_array_equal(alone, encode_speech(asr, audio).pool(lo / SAMPLE_RATE, hi / SAMPLE_RATE))
    # two clips heard as one recording: each pooled over its own speech; the second sits later in the window, which
    # changes its states (Whisper's states depend on position: why training packs clips as recordings are heard)
    both = recording_features(asr, [audio, audio])
    assert len(both) == 2 and all(v.shape == (768,) and np.isfinite(v).all() for v in both)
    assert not np.allclose(both[0], both[1], atol=1e-3)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    assert recording_features(asr, [tone])[0] is None  # no speech: no voice, rather than a voice read from a tone


@pytest.mark.e2e
def test_the_pipeline_reuses_the_recognisers_states(speech_video, monkeypatch):
    """A voice trained on recording states (voice_context "recording") with the recogniser's own encoder: the
    encoder runs once per window, for the recogniser, and the voice reads every utterance from those states."""
    from faster_whisper import WhisperModel

    from mmsa.analyze import Analyzer
    from training.branches import branch_model

    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en", voice_context="recording",
                         branch_classes={"audio": "voice4"})
    analyzer = Analyzer(model, asr=default_asr())
    assert analyzer.voice is analyzer.asr
    calls = []
    encode = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode", lambda self, features: calls.append(1) or encode(self, features))
    analysis = analyzer.analyze(speech_video)
    assert analysis.utterances and all("audio" in u.modalities for u in analysis.utterances)
    analysed = len(calls)
    audio = decode_audio(speech_video)
    calls.clear()
    transcribe(analyzer.asr, audio)
    assert analysed == len(calls) >= 1  # the encoder ran for the recogniser's windows only, none for the voice
    # the same model read with a recogniser it was not trained on encodes the speech itself, to the same answer
    proc = analyzer.processors["audio"]
    spans, kept = transcribe_speech(analyzer.asr, audio)
    own = proc.read_recording(audio, spans)
    assert all(v is not None and v.shape == (768,) for v in own)
    if len(kept.windows) == 1:  # one window in both (see the test above for why a CPU may read a second)
        np.testing.assert_allclose(np.stack(own), np.stack(proc.read_recording(audio, spans, kept)), atol=1e-4)
    # no speech heard: the fixed windows have no voice
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    assert proc.read_recording(tone, fixed_windows(4.0)) == [None]


@pytest.mark.e2e
def test_the_pipeline_measures_how_much_each_speakers_pitch_moves(speech_video):
    """A voice with a movement calibration (config.voice_movement): each utterance it reads carries its pitch
    statistics, and the whole pipeline runs with the voice's say scaled by its speaker's movement."""
    from mmsa.analyze import Analyzer
    from mmsa.config import PITCH_STATISTICS
    from training.branches import branch_model

    move = {"mean": [30.0] + [1.0] * 6, "std": [5.0] + [1.0] * 6, "directions": [[1.0] + [0.0] * 6],
            "low": 0.5, "high": 2.0}
    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en", voice_context="recording",
                         branch_classes={"audio": "voice4"}, voice_movement=move,
                         voice_normalisation={"mean": [0.0] * 768, "var": [1.0] * 768, "weight": 4.0})
    analyzer = Analyzer(model, asr=default_asr())
    audio = decode_audio(speech_video)
    spans, kept = transcribe_speech(analyzer.asr, audio)
    items = analyzer.processors["audio"].read_recording(audio, spans, kept)
    read = [v for v in items if v is not None]
    assert read and all(v.shape == (768 + PITCH_STATISTICS,) for v in read)
    # espeak-ng's speech is voiced: the longest utterance's pitch is measured (how the recogniser splits the speech,
    # and so how short the others are, differs between CPUs)
    longest = max((k for k, v in enumerate(items) if v is not None), key=lambda k: spans[k].end - spans[k].start)
    assert np.isfinite(items[longest][768:]).all()
    analysis = analyzer.analyze(speech_video)
    voiced = [u for u in analysis.utterances if "audio" in u.modalities]
    assert voiced and all(0.0 <= u.by_modality["audio"].weight <= 1.0 for u in voiced)


@pytest.mark.e2e
def test_a_voice_trained_on_lone_utterances_still_reads_them_alone(speech_video):
    from mmsa import features
    from mmsa.processors import WhisperVoiceProcessor
    from training.branches import branch_model

    model = branch_model("audio", audio_backbone="whisper", whisper_encoder="tiny.en",
                         branch_classes={"audio": "voice4"})
    assert model.config.voice_context == "utterance"  # what a config.json without the field means
    asr = load_asr(default_asr())
    proc = WhisperVoiceProcessor(model.config, asr)
    audio = decode_audio(speech_video)
    spans = transcribe(asr, audio)
    cut = audio[int(spans[0].start * SAMPLE_RATE):int(spans[0].end * SAMPLE_RATE)]
    np.testing.assert_array_equal(proc.read_recording(audio, spans[:1])[0],
                                  features.voice_features(asr, features.trim_to_speech(cut)))
