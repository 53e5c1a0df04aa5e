"""Helpers shared by the tests: the speech the tests render, and an independent reference of the tutorial's
architecture (as its model.pth was laid out) for the conversion tests."""

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import torch
from torch import nn
from torchvision.models.video import r3d_18
from transformers import BertModel

SPEECH_TEXT = "Hello my friend. I am very happy today because the weather is wonderful."
SPEECH_WORDS = ("friend", "happy", "today")



class SeedTextEncoder(nn.Module):
    def __init__(self, bert_config):
        super().__init__()
        self.bert = BertModel(bert_config)
        self.projection = nn.Linear(bert_config.hidden_size, 128)

    def forward(self, input_ids, attention_mask):
        return self.projection(self.bert(input_ids=input_ids, attention_mask=attention_mask).pooler_output)


class SeedVideoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = r3d_18(weights=None)
        self.backbone.fc = nn.Sequential(nn.Linear(self.backbone.fc.in_features, 128), nn.ReLU(), nn.Dropout(0.2))

    def forward(self, x):  # (batch, frames, channels, h, w)
        return self.backbone(x.transpose(1, 2))


class SeedAudioEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv1d(64, 64, kernel_size=3), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(64, 128, kernel_size=3), nn.BatchNorm1d(128), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
        )
        self.projection = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.2))

    def forward(self, x):  # (batch, 1, 64, frames)
        return self.projection(self.conv_layers(x.squeeze(1)).squeeze(-1))


class SeedModel(nn.Module):
    def __init__(self, bert_config):
        super().__init__()
        self.text_encoder = SeedTextEncoder(bert_config)
        self.video_encoder = SeedVideoEncoder()
        self.audio_encoder = SeedAudioEncoder()
        self.fusion_layer = nn.Sequential(nn.Linear(128 * 3, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3))
        self.emotion_classifier = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 7))
        self.sentiment_classifier = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 3))

    def forward(self, text_inputs, video_frames, audio_features):
        t = self.text_encoder(text_inputs["input_ids"], text_inputs["attention_mask"])
        v = self.video_encoder(video_frames)
        a = self.audio_encoder(audio_features)
        fused = self.fusion_layer(torch.cat([t, v, a], dim=1))
        return {"emotions": self.emotion_classifier(fused), "sentiments": self.sentiment_classifier(fused)}


# ---------------------------------------------------------------- MELD-layout data made by the tests
LINES = {  # one line per emotion, with a sentiment that fits it
    "anger": ("I am so angry with you right now", "negative"),
    "disgust": ("That is absolutely disgusting", "negative"),
    "fear": ("I am scared something terrible will happen", "negative"),
    "joy": ("This is the best day of my life", "positive"),
    "neutral": ("The meeting is at three o'clock", "neutral"),
    "sadness": ("I miss her so much", "negative"),
    "surprise": ("Wow, I did not expect that", "positive"),
}
MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
               "Episode", "StartTime", "EndTime"]


def write_meld_split(root: Path, csv_name: str, clip_dir: str, dialogues: int, broken: bool = False,
                     size: tuple[int, int] = (64, 48), fps: int = 10) -> Path:
    (root / clip_dir).mkdir(parents=True, exist_ok=True)
    rows = []
    for d in range(dialogues):
        for u, (emotion, (text, sentiment)) in enumerate(LINES.items()):
            rows.append([len(rows) + 1, text.replace("'", "\u2019"), "Ross", emotion, sentiment, d, u, 1, 1,
                         "00:00:01,000", "00:00:02,000"])
            _make_video(root / clip_dir / f"dia{d}_utt{u}.mp4", text, size=size, fps=fps)
    if broken:  # a clip that cannot be read: skipped and reported, never a crash
        rows.append([len(rows) + 1, "Broken clip here", "Joey", "joy", "positive", dialogues, 0, 1, 1,
                     "00:00:01,000", "00:00:02,000"])
        (root / clip_dir / f"dia{dialogues}_utt0.mp4").write_text("not a video")
    path = root / csv_name
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MELD_HEADER)
        w.writerows(rows)
    return path



def _make_video(*args, **kwargs):
    from mmsa.synth import make_video

    return make_video(*args, **kwargs)


# ---------------------------------------------------------------- the Hub, recorded (it is unreachable here)
class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records calls and writes what a commit would upload to a folder."""

    calls: list = []
    snapshot: Path | None = None

    @classmethod
    def reset(cls, snapshot: Path | None = None) -> None:
        cls.calls, cls.snapshot = [], snapshot

    def __init__(self, token=None):
        RecordingHfApi.calls.append(("init", bool(token)))

    def create_repo(self, repo_id, **kwargs):
        RecordingHfApi.calls.append(("create_repo", repo_id, kwargs))

    def create_commit(self, repo_id, operations, commit_message="", **kwargs):
        files = sorted(op.path_in_repo for op in operations)
        if RecordingHfApi.snapshot is not None:
            RecordingHfApi.snapshot.mkdir(parents=True, exist_ok=True)
            for op in operations:
                with op.as_file() as f:
                    (RecordingHfApi.snapshot / op.path_in_repo).write_bytes(f.read())
        RecordingHfApi.calls.append(("create_commit", repo_id, files))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


# ---------------------------------------------------------------- the app as a real server
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log: Path, **env_overrides: str):
    """`python app.py` on a free loopback port; yields its URL, stops it afterwards."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False")
    env.update(env_overrides)
    env = {k: v for k, v in env.items() if v is not None}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail(f"app did not start:\n{log.read_text()[-3000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()




def recorded_requests(endpoint: str) -> list[str]:
    """Every request moto's recorder saw, as one string each (headers, URL, body)."""
    import base64
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording") as r:
        lines = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
    return [json.dumps(e["headers"]) + e["url"] + (base64.b64decode(e["body"]).decode("latin-1")
                                                   if e.get("body_encoded") else e.get("body") or "")
            for e in lines]
