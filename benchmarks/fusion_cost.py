"""What familiarity and pair pooling cost: the default starter with its familiarity calibration against the same
model without it (every input then counts fully), in the same process, alternating, so both see the same machine.

1. the model alone: one batch of 16 utterances (tokens, voice states, face crops) through forward + probabilities;
2. the whole pipeline on a 30 s speech video (`Analyzer.analyze`).

    python -m benchmarks.fusion_cost [--repeat 7]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import median_time

SCRIPT = ("I cannot believe you told everyone about the party. It was supposed to be a surprise. Well, at least "
          "the cake is still a secret. Honestly I am a little bit upset, but I will get over it. Let us just go "
          "and enjoy the evening with our friends.")


def batch_inputs(model, n: int = 16) -> dict:
    from mmsa.processors import processors_for

    procs = processors_for(model)
    rng = np.random.default_rng(0)
    voices = [rng.standard_normal(2 * model.config.whisper_width).astype(np.float32) for _ in range(n)]
    if hasattr(procs["audio"], "normalise"):  # a per-speaker voice reads each utterance with its speaker's others
        voices = procs["audio"].normalise(voices, [k % 2 for k in range(n)])
    items = {"text": [procs["text"].read("well that was a surprise, I guess", heard=0.3 + 0.04 * k) for k in range(n)],
             "audio": voices,
             "video": [rng.integers(0, 255, (model.config.num_frames, model.config.face_size, model.config.face_size),
                                    dtype=np.uint8) for _ in range(n)]}
    from mmsa.processors import batch_inputs as collate

    return collate(procs, items)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    from mmsa.analyze import Analyzer
    from mmsa.model import load_model
    from mmsa.synth import make_video

    with_familiarity, name = load_model("starter")
    without = copy.deepcopy(with_familiarity)
    without.config.branch_familiarity = {}
    inputs = batch_inputs(with_familiarity)

    def forward(model):
        with torch.inference_mode():
            model.probabilities(model(**inputs))

    model_times = {"with": [], "without": []}
    for _ in range(args.repeat):  # alternate, so drift on the machine hits both alike
        model_times["with"].append(median_time(lambda: forward(with_familiarity), repeat=5))
        model_times["without"].append(median_time(lambda: forward(without), repeat=5))
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_video(Path(tmp) / "talk.mp4", SCRIPT, duration=30.0)
        analyzers = {"with": Analyzer(with_familiarity, speakers=False), "without": Analyzer(without, speakers=False)}
        for a in analyzers.values():
            a.analyze(clip)  # warm
        pipeline_times = {"with": [], "without": []}
        for _ in range(max(3, args.repeat // 2)):
            for key, a in analyzers.items():
                t = time.perf_counter()
                a.analyze(clip)
                pipeline_times[key].append(time.perf_counter() - t)
    print(f"{'what':<40} {'with familiarity':>17} {'without':>10} {'ratio':>7}")
    for label, times, unit, scale in (("model: 16 utterances, forward + probs", model_times, "ms", 1000),
                                      ("pipeline: 30 s speech video", pipeline_times, "s", 1)):
        w, wo = statistics.median(times["with"]) * scale, statistics.median(times["without"]) * scale
        print(f"{label:<40} {w:>14.2f} {unit:<2} {wo:>7.2f} {unit:<2} {w / wo:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
