"""What --translate costs: Whisper base writing speech in another language as English (its translate task)
against writing it in English directly (what --asr base does without --translate), on the same files.

    python -m benchmarks.translate --audio DIR [--limit 20]

DIR holds speech files in another language, e.g. EmoDB's German (`dataset/*/*.wav`, searched recursively).
Prints seconds of work per second of speech (median over files) for both, their ratio, and the first outputs
side by side so the words can be judged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import benchmarks.common  # noqa: F401  (sets the offline defaults)

AUDIO = (".wav", ".mp3", ".flac", ".ogg", ".m4a")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.translate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio", required=True, help="folder of speech files in a language other than English")
    p.add_argument("--limit", type=int, default=20, help="files read (spread evenly over the folder)")
    args = p.parse_args(argv)
    from mmsa.loading import whisper_base_dir
    from mmsa.media import SAMPLE_RATE, decode_audio
    from mmsa.transcribe import load_asr, transcribe

    files = sorted(f for f in Path(args.audio).rglob("*") if f.suffix.lower() in AUDIO)
    if not files:
        print(f"error: no audio files in {Path(args.audio).name}", file=sys.stderr)
        return 2
    if whisper_base_dir() is None:
        print("error: Whisper base is not installed: pip install 'mmsa[base]'", file=sys.stderr)
        return 2
    files = files[::max(1, len(files) // args.limit)][:args.limit]
    asr = load_asr("base")
    transcribe(asr, decode_audio(files[0]))  # warm
    rates: dict[bool, list[float]] = {False: [], True: []}
    texts: dict[bool, list[str]] = {False: [], True: []}
    for f in files:
        audio = decode_audio(f)
        for translate in (False, True):
            t = time.perf_counter()
            spans = transcribe(asr, audio, translate=translate)
            rates[translate].append((time.perf_counter() - t) / (len(audio) / SAMPLE_RATE))
            texts[translate].append(" ".join(s.text for s in spans))
    english, translated = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"{len(files)} files; seconds per second of speech (median): written in English {english:.3f}, "
          f"translated {translated:.3f}, ratio {translated / english:.2f}")
    for name, a, b in list(zip((f.name for f in files), texts[False], texts[True]))[:5]:
        print(f"{name}\n  English:    {a}\n  translated: {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
