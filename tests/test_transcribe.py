from mmsa.media import decode_audio
from mmsa.transcribe import Span, default_asr, fixed_windows, load_asr, shape_utterances, transcribe
from tests.helpers import SPEECH_WORDS


def test_packaged_tiny_en_transcribes_generated_speech(speech_video):
    asr = load_asr(default_asr())
    spans = transcribe(asr, decode_audio(speech_video))
    text = " ".join(s.text for s in spans).lower()
    assert all(w in text for w in SPEECH_WORDS), text
    assert spans and all(0 <= s.start < s.end <= 10 for s in spans)


def test_short_segments_merge_and_long_ones_split():
    spans = [Span(0.0, 0.4, "Oh."), Span(0.5, 3.0, "I did not expect that."), Span(3.1, 33.1, " ".join(["word"] * 30))]
    shaped = shape_utterances(spans, duration=40.0, min_len=1.0, max_len=12.0)
    assert shaped[0].text == "Oh. I did not expect that." and shaped[0].start == 0.0 and shaped[0].end == 3.0
    long_parts = shaped[1:]
    assert len(long_parts) == 3 and all(p.duration <= 12.0 for p in long_parts)
    assert sum(len(p.text.split()) for p in long_parts) == 30
    assert long_parts[0].start == 3.1 and abs(long_parts[-1].end - 33.1) < 1e-9


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
