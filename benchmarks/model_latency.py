"""Parameters and CPU forward latency per utterance, batch 1 and batch 16, for the presets and video candidates.

    python -m benchmarks.model_latency [--repeat 5]
"""

from __future__ import annotations

import argparse


import torch

from benchmarks.common import bert_base_dir, median_time
from mmsa.model import MultimodalSentimentModel
from mmsa.loading import minilm_dir
from mmsa.transcribe import available_cores

SENTENCE = "Oh my god, I can't believe you actually did that, it's amazing!"


def inputs(model, batch: int):
    cfg = model.config
    tok = model.tokenizer([SENTENCE] * batch, padding=True, return_tensors="pt")
    return dict(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                token_type_ids=tok.get("token_type_ids"),
                audio=torch.randn(batch, cfg.n_mels, cfg.audio_max_frames),
                audio_lengths=torch.full((batch,), cfg.audio_max_frames // 2),
                video=torch.randn(batch, cfg.num_frames, 3, cfg.frame_size, cfg.frame_size))


def measure(name: str, model, repeat: int) -> dict:
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    row = {"name": name, "params_m": params / 1e6}
    for batch in (1, 16):
        x = inputs(model, batch)
        with torch.inference_mode():
            t = median_time(lambda: model(**x), repeat=repeat)
        row[f"ms_per_utt_b{batch}"] = 1000 * t / batch
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(available_cores())
    minilm = str(minilm_dir())
    candidates = [
        ("seed (BERT-base, r3d_18 30x224)", MultimodalSentimentModel.from_preset(
            "seed", text_backbone=bert_base_dir(), pretrained=False)),
        ("cpu (MiniLM, mobilenet_v3_small 8x112)", MultimodalSentimentModel.from_preset(
            "cpu", text_backbone=minilm, pretrained=False)),
        ("cpu + resnet18 8x112", MultimodalSentimentModel.from_preset(
            "cpu", text_backbone=minilm, pretrained=False, video_backbone="resnet18")),
        ("cpu + r3d_18 8x112", MultimodalSentimentModel.from_preset(
            "cpu", text_backbone=minilm, pretrained=False, video_backbone="r3d_18", frame_norm="kinetics")),
        ("cpu + mobilenet_v3_small 16x160", MultimodalSentimentModel.from_preset(
            "cpu", text_backbone=minilm, pretrained=False, num_frames=16, frame_size=160)),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeat}")
    print("| model | params (M) | ms/utterance, batch 1 | ms/utterance, batch 16 |")
    print("|---|---:|---:|---:|")
    rows = []
    for name, model in candidates:
        row = measure(name, model, args.repeat)
        rows.append(row)
        print(f"| {name} | {row['params_m']:.1f} | {row['ms_per_utt_b1']:.1f} | {row['ms_per_utt_b16']:.1f} |",
              flush=True)
    seed, cpu = rows[0], rows[1]
    print(f"cpu vs seed speed-up per utterance: batch 1 {seed['ms_per_utt_b1'] / cpu['ms_per_utt_b1']:.1f}x, "
          f"batch 16 {seed['ms_per_utt_b16'] / cpu['ms_per_utt_b16']:.1f}x")


if __name__ == "__main__":
    main()
