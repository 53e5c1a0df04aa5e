"""How often the packaged recogniser writes "!" (and "?") for emotional speech, per emotion, beside how often MELD's
subtitles do: the measured basis of the words' "asr-exclaim" style and of training.train --exclaim-keep.

    python -m benchmarks.asr_marks --ravdess DATA/RavdessDataSet --meld ../shared/data/meld/train_sent_emo.csv

RAVDESS actors 01-20 only (21-24 are held out); every clip is one of two lexically neutral sentences ("Kids are
talking by the door", "Dogs are sitting by the door"), so a "!" there comes from the voice alone, transcribed
exactly as the pipeline does (VAD, greedy). espeak-ng's flat voice, the words' transcribed benchmark
(benchmarks.asr_gap), gets almost none.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import benchmarks.common  # noqa: F401  (sets the offline defaults)

# RAVDESS file names: modality-channel-emotion-intensity-statement-repetition-actor.wav
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
                    "07": "disgust", "08": "surprised"}
MELD_OF = {"neutral": "neutral", "calm": "neutral", "happy": "joy", "sad": "sadness", "angry": "anger",
           "fearful": "fear", "disgust": "disgust", "surprised": "surprise"}
ACTORS = range(1, 21)


def ravdess_clips(folder: Path) -> list[tuple[Path, str]]:
    clips = [(wav, RAVDESS_EMOTIONS[wav.name.split("-")[2]]) for actor in ACTORS
             for wav in sorted((folder / f"Actor_{actor:02d}").glob("*.wav")) if wav.name.count("-") == 6]
    if not clips:
        raise SystemExit(f"no RAVDESS clips in {folder.name}/ (expected Actor_01/ ... Actor_20/ with .wav files)")
    return clips


def subtitle_shares(meld_csv: Path) -> dict[str, float]:
    """The share of MELD subtitles holding a "!", per emotion."""
    seen, marked = Counter(), Counter()
    with open(meld_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            seen[row["Emotion"]] += 1
            marked[row["Emotion"]] += "!" in row["Utterance"]
    return {e: marked[e] / seen[e] for e in seen}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.asr_marks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ravdess", type=Path, required=True, help="RAVDESS speech: the RavdessDataSet folder")
    p.add_argument("--meld", type=Path, help="a MELD CSV, for the subtitles' share beside the recogniser's")
    args = p.parse_args(argv)
    from mmsa.media import SAMPLE_RATE, decode_audio
    from mmsa.transcribe import default_asr, load_asr, shape_utterances, transcribe

    clips = ravdess_clips(args.ravdess)
    subtitles = subtitle_shares(args.meld) if args.meld else {}
    asr = load_asr(default_asr())
    seen, exclaimed, asked = Counter(), Counter(), Counter()
    for i, (wav, emotion) in enumerate(clips):
        audio = decode_audio(wav)
        text = " ".join(s.text for s in shape_utterances(transcribe(asr, audio), len(audio) / SAMPLE_RATE))
        seen[emotion] += 1
        exclaimed[emotion] += "!" in text
        asked[emotion] += "?" in text
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(clips)} clips", flush=True)
    print(f"\n{'RAVDESS emotion':<16} {'clips':>6} {'tiny.en writes !':>17} {'?':>6}   {'MELD subtitles with !'}")
    for emotion in RAVDESS_EMOTIONS.values():
        n = seen[emotion]
        if not n:  # a partial copy of the corpus
            continue
        sub = subtitles.get(MELD_OF[emotion])
        print(f"{emotion:<16} {n:>6} {exclaimed[emotion] / n:>17.3f} {asked[emotion] / n:>6.3f} "
              f"  {'' if sub is None else f'{sub:.3f} ({MELD_OF[emotion]})'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
