"""Peak memory of `mmsa analyze` on odd media against a normal clip: the same speech in a 4096x8 and a 4000x16
picture (which once became 184,320 px wide frames) and a float WAV with NaN samples. Each run is a fresh process;
the figure is its peak resident memory (ru_maxrss), median of the runs.

    python -m benchmarks.odd_media_memory [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# analyse one file and print the process's own peak memory (kB on Linux) as the last line
RUN = ("import resource, sys\nfrom mmsa.analyze import Analyzer\na = Analyzer()\nr = a.analyze(sys.argv[1])\n"
       "print(len(r.utterances), '|'.join(r.warnings))\n"
       "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")


def make_media(folder: Path) -> dict[str, Path]:
    from mmsa.media import decode_audio
    from mmsa.synth import make_video, write_float_wav

    normal = make_video(folder / "normal.mp4", "Hello my friend. I am very happy today because the weather is "
                        "wonderful.", size=(640, 360))
    out = {"normal 640x360": normal}
    for w, h in ((4096, 8), (4000, 16)):
        path = folder / f"thin_{w}x{h}.mp4"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=25",
                        "-i", str(normal), "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "libx264", "-preset",
                        "ultrafast", "-c:a", "copy", str(path)], check=True)
        out[f"{w}x{h}"] = path
    samples = decode_audio(normal)
    samples[8000:16000] = np.nan
    out["NaN samples (WAV)"] = write_float_wav(folder / "nan.wav", samples)
    return out


def peak_mb(path: Path) -> tuple[float, str]:
    proc = subprocess.run([sys.executable, "-c", RUN, str(path)], capture_output=True, text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    return int(lines[-1]) / 1024, lines[-2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        media = make_media(Path(tmp))
        rows = {}
        for name, path in media.items():
            runs = [peak_mb(path) for _ in range(args.repeat)]
            rows[name] = (statistics.median(r[0] for r in runs), runs[0][1])
    base = rows["normal 640x360"][0]
    print(f"{'file':<22} {'peak MB (median of ' + str(args.repeat) + ')':>24} {'vs normal':>10}  warnings")
    for name, (mb, warnings) in rows.items():
        print(f"{name:<22} {mb:>24.0f} {mb / base:>9.2f}x  {warnings.split(' ', 1)[1][:110] if ' ' in warnings else ''}")
    print(json.dumps({k: round(v[0], 1) for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
