"""Epoch time with and without the feature cache, on generated clips in MELD layout (cpu preset).

Without the cache every epoch decodes each clip and runs the frozen text and video backbones again; with a warm
cache an epoch reads stored features and trains only what trains.

    python -m benchmarks.feature_cache [--clips 24] [--epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


import benchmarks.common  # noqa: F401  (sets the offline defaults)
from tests.helpers import write_meld_split


def one_epoch(model, dataset_csv: Path, cache_dir: Path | None) -> float:
    """A run's first epoch: features (decoded and encoded, or read from the cache), then one pass of training."""
    import torch

    from training.data import load_meld
    from training.featurize import Featurizer
    from training.loop import loss_fn, make_loader, model_inputs

    t = time.perf_counter()
    feats = Featurizer(model, cache_dir)(load_meld(dataset_csv), "bench")
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for batch in make_loader(feats, model, 8, shuffle=True):
        loss = loss_fn(model(**model_inputs(batch)), batch, None, None, 0.0, 0.3)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=28, help="clips (multiples of 7)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="clip frame size (MELD's clips are 1280x720)")
    parser.add_argument("--fps", type=int, default=24)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    from mmsa.model import MultimodalSentimentModel
    from mmsa.loading import minilm_dir

    root = Path(tempfile.mkdtemp(prefix="mmsa_cache_bench_"))
    csv_path = write_meld_split(root, "train_sent_emo.csv", "train_splits", dialogues=max(1, args.clips // 7),
                                size=size, fps=args.fps)
    model = MultimodalSentimentModel.from_preset("cpu", text_backbone=str(minilm_dir()), pretrained=True,
                                                 video_pretrained=False)
    uncached = [one_epoch(model, csv_path, None) for _ in range(args.epochs)]
    cache = root / "cache"
    first = one_epoch(model, csv_path, cache)  # fills the cache
    cached = [one_epoch(model, csv_path, cache) for _ in range(args.epochs)]
    u, c = statistics.median(uncached), statistics.median(cached)
    print(f"{args.clips} clips of {args.size} at {args.fps} fps, cpu preset (frozen MiniLM + MobileNetV3, trainable "
          f"audio CNN); a run's first epoch (features + training), medians of {args.epochs}")
    print(f"| epoch | seconds |\n|---|---:|\n| no cache | {u:.2f} |\n| filling the cache | {first:.2f} |\n"
          f"| warm cache | {c:.2f} |")
    print(f"warm cache is {u / c:.1f}x faster per epoch")


if __name__ == "__main__":
    main()
