"""Helpers shared by the benchmarks: offline backbones of the right size, timing."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bert_base_dir() -> Path:
    """A folder with BERT-base's architecture config and the (identical) uncased WordPiece tokenizer.

    The Hub is out of reach here, so weights are random: latency does not depend on the values.
    """
    from transformers import BertConfig

    from mmsa.loading import minilm_dir

    folder = Path(tempfile.mkdtemp(prefix="bert_base_"))
    BertConfig().save_pretrained(str(folder))  # defaults are bert-base: 12 layers, 768 wide, 30522 vocab
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(Path(minilm_dir()) / f, folder / f)
    return folder


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
