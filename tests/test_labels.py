import subprocess
import sys

import pytest

from mmsa import labels


def test_label_order_is_melds():
    assert labels.EMOTIONS == ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
    assert labels.SENTIMENTS == ("negative", "neutral", "positive")


def test_ids_follow_the_label_order():
    assert [labels.emotion_id(name) for name in labels.EMOTIONS] == list(range(7))
    assert [labels.sentiment_id(name) for name in labels.SENTIMENTS] == list(range(3))


def test_lookup_is_forgiving_about_case_and_strict_about_names():
    assert labels.emotion_id(" Joy ") == 3
    with pytest.raises(ValueError, match="expected one of anger, disgust"):
        labels.emotion_id("happiness")
    with pytest.raises(ValueError, match="unknown task"):
        labels.label_id("mood", "joy")


def test_import_mmsa_is_light():
    code = (
        "import sys, mmsa; "
        "heavy = [m for m in ('gradio', 'sagemaker', 'boto3', 'faster_whisper', 'accelerate', 'torch', 'transformers') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import mmsa pulled in {out}"


def test_model_module_does_not_import_app_or_cloud_deps():
    code = (
        "import sys; from mmsa.model import MultimodalSentimentModel; import mmsa.analyze, mmsa.cli; "
        "print(','.join(m for m in ('gradio', 'sagemaker', 'boto3', 'faster_whisper', 'accelerate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing the library pulled in {out}"
