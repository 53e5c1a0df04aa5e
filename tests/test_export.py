import csv
import io
import json

from mmsa.export import export, to_srt, to_vtt
from mmsa.results import Analysis, Prediction, UtteranceResult, summarize
from mmsa.labels import EMOTIONS, SENTIMENTS


def _analysis():
    def scores(labels, winner):
        return {l: (0.7 if l == winner else 0.3 / (len(labels) - 1)) for l in labels}

    words = Prediction(scores(EMOTIONS, "joy"), scores(SENTIMENTS, "positive"))
    voice = Prediction(scores(EMOTIONS, "anger"), scores(SENTIMENTS, "negative"))
    us = [UtteranceResult(0.5, 2.25, "I can't believe it!",
                          Prediction(scores(EMOTIONS, "surprise"), scores(SENTIMENTS, "positive")), ["text", "audio"],
                          {"text": words, "audio": voice}),
          UtteranceResult(3661.0, 3662.5, "Fine --> whatever",
                          Prediction(scores(EMOTIONS, "anger"), scores(SENTIMENTS, "negative")), ["text"])]
    return Analysis("tiny", 3663.0, us, summarize(us), {"total": 1.0})


def test_srt_has_times_text_and_labels():
    srt = to_srt(_analysis())
    blocks = srt.strip().split("\n\n")
    assert blocks[0].splitlines() == ["1", "00:00:00,500 --> 00:00:02,250", "I can't believe it!",
                                      "[surprise 70% · positive 70%]"]
    assert blocks[1].splitlines()[1] == "01:01:01,000 --> 01:01:02,500"
    assert "Fine -> whatever" in blocks[1]


def test_vtt_header_and_dot_milliseconds():
    vtt = to_vtt(_analysis())
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\n")
    assert vtt.count("-->") == 2  # the one inside the text was neutralised


def test_csv_and_json_round_trip():
    rows = list(csv.DictReader(io.StringIO(export(_analysis(), "csv"))))
    assert rows[0]["emotion"] == "surprise" and rows[0]["modalities"] == "text+audio"
    assert float(rows[1]["sentiment_confidence"]) == 0.7
    data = json.loads(export(_analysis(), "json"))
    assert data["utterances"][1]["emotion"] == "anger" and data["summary"]["emotion"] in EMOTIONS


def test_from_dict_round_trips():
    a = _analysis()
    b = Analysis.from_dict(json.loads(json.dumps(a.to_dict())))
    assert b.to_dict() == a.to_dict()
    assert b.utterances[0].by_modality["audio"].emotion == "anger"


def test_one_prediction_shape_for_fused_branches_and_summary():
    d = _analysis().to_dict()
    shape = {"emotion", "emotion_scores", "sentiment", "sentiment_scores"}
    assert set(d["summary"]) == shape | {"speakers"} and d["summary"]["speakers"] == []  # nobody was told apart
    assert set(d["utterances"][0]["by_modality"]["text"]) == shape
    assert shape <= set(d["utterances"][0])
    assert d["utterances"][0]["disagreements"] == ["sentiment: text says positive, audio says negative",
                                                   "emotion: text says joy, audio says anger"]
    # the summary weighs utterances by duration: 1.75 s of surprise against 1.5 s of anger
    summary = d["summary"]["emotion_scores"]
    assert summary["surprise"] == round((1.75 * 0.7 + 1.5 * 0.05) / 3.25, 4)


def test_views_read_an_analysis():
    from mmsa import views

    a = _analysis()
    headers, rows = views.modality_rows(a)
    assert headers == ["time", "fused", "words", "voice", "disagreement", "text"]
    assert rows[0][2:4] == ["joy 70% / positive 70%", "anger 70% / negative 70%"]
    assert rows[1][2:4] == ["absent", "absent"] and rows[1][4] == "—"
    assert rows[0][4] == "⚠ sentiment: words says positive, voice says negative; emotion: words says joy, voice says anger"
    assert views.utterance_rows(a)[0] == ["0:00.5–0:02.2", "surprise 70%", "positive 70%", "I can't believe it!",
                                          "words + voice"]
    assert views.highlighted_transcript(a)[0] == ("I can't believe it!", "surprise")
    assert views.overall_labels(a)[1]["negative"] == a.summary.sentiment_scores["negative"]
    assert views.face_gallery(a) == []  # no face read
    import numpy as np

    from mmsa.results import Prediction

    a.utterances[1].face = np.zeros((48, 48), np.uint8)
    a.utterances[1].by_modality["video"] = Prediction(dict(a.utterances[1].prediction.emotion_scores),
                                                      dict(a.utterances[1].prediction.sentiment_scores))
    (image, caption), = views.face_gallery(a)
    assert image.shape == (48, 48) and caption == "61:01.0 · face: anger 70%"
    strip = views.face_strip(a)
    assert strip.shape == (views.FACE_TILE + 34, views.FACE_TILE, 3) and strip[2:90, 2:90].max() == 0
