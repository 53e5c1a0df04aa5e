"""An independent reference of the tutorial's architecture (as its model.pth was laid out), for conversion tests."""

import torch
from torch import nn
from torchvision.models.video import r3d_18
from transformers import BertModel


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
