"""How much a text model loses when it reads what the speech recogniser hears instead of the gold subtitles.

    python -m benchmarks.asr_gap --csv ../shared/data/meld/dev_sent_emo.csv --out runs/asr_dev \\
        --model starter-text --model runs/text-asr

1. every utterance of the CSV is spoken by espeak-ng (voices taken in turn from --voices), decoded to 16 kHz and
   transcribed by the packaged tiny.en exactly as the pipeline does (VAD, greedy, no temperature fallback);
2. the spoken WAVs are kept in OUT/audio/ (benchmarks.fusion reads them) and the transcripts are saved beside a
   copy of the CSV with the ASR text in place of the gold one
   (OUT/asr_sent_emo.csv, MELD layout: `python -m training.evaluate --csv` reads it) with a heard column (how
   clearly the recogniser heard each utterance: mmsa.results.Span.heard), and reused on later runs;
3. the word error rate (jiwer, case and punctuation ignored) and, per model, emotion / sentiment F1 on gold vs
   ASR text are printed side by side.

espeak-ng speaks without emotion and Whisper writes no "!" for it, so this bounds the text branch alone: on real
excited speech the transcript keeps a little more of the cue.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOICES = "en-us,en-gb,en-us+m3,en-us+f3,en-gb-x-rp+m7,en-us+f4"
ASR_CSV = "asr_sent_emo.csv"
AUDIO_DIR = "audio"  # OUT/audio/<Sr No.>.wav: the spoken utterances


def voice_of(i: int, voices: list[str]) -> str:
    """The espeak-ng voice that speaks row i: taken in turn, so each voice is one speaker (benchmarks.fusion)."""
    return voices[i % len(voices)]


def transcribe_split(rows: list[dict[str, str]], out_csv: Path, voices: list[str],
                     fallback: bool = False) -> tuple[list[str], list[str]]:
    """The ASR text of every row, in order, and how clearly each was heard (mmsa.results.Span.heard, "" with
    nothing recognised); rows already in out_csv (a run cut short) are not transcribed again, and kept WAVs not spoken again."""
    from mmsa.media import SAMPLE_RATE, decode_audio
    from mmsa.synth import speak
    from mmsa.transcribe import span_heard
    from mmsa.transcribe import ASR_TEMPERATURE, WHISPER_FALLBACK, default_asr, load_asr, shape_utterances, transcribe

    done: dict[str, tuple[str, str]] = {}
    if out_csv.is_file():
        with open(out_csv, newline="", encoding="utf-8") as f:
            done = {r["Sr No."]: (r["Utterance"], r["heard"]) for r in csv.DictReader(f) if "heard" in r}
    asr = load_asr(default_asr())
    texts, heard, started = [], [], time.perf_counter()
    audio_dir = out_csv.parent / AUDIO_DIR  # kept: benchmarks.fusion reads the same speech
    audio_dir.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        key = row["Sr No."]
        wav = audio_dir / f"{key}.wav"
        if key not in done or not wav.is_file():
            if not wav.is_file():
                speak(row["Utterance"], wav, voice=voice_of(i, voices))
            audio = decode_audio(wav)
            temperature = WHISPER_FALLBACK if fallback else ASR_TEMPERATURE
            spans = shape_utterances(transcribe(asr, audio, temperature=temperature), len(audio) / SAMPLE_RATE)
            clarity = span_heard(spans)
            done[key] = (" ".join(s.text for s in spans), "" if clarity is None else f"{clarity:.4f}")
        texts.append(done[key][0])
        heard.append(done[key][1])
        if (i + 1) % 50 == 0:
            rate = (time.perf_counter() - started) / (i + 1)
            print(f"  {i + 1}/{len(rows)} utterances ({rate:.2f} s each)", flush=True)
            write_asr_csv(rows[: i + 1], texts, out_csv, heard, voices)
    write_asr_csv(rows, texts, out_csv, heard, voices)
    return texts, heard


def write_asr_csv(rows: list[dict[str, str]], texts: list[str], out_csv: Path, heard: list[str] | None = None,
                  voices: list[str] | None = None) -> None:
    """The split in its own layout, the Utterance column replaced by what the recogniser wrote (and, given, a heard
    column: how clearly it heard it, and a voice column: the espeak-ng voice that spoke it)."""
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    extra = (["heard"] if heard is not None else []) + (["voice"] if voices else [])
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) + extra)
        writer.writeheader()
        for k, (row, text) in enumerate(zip(rows, texts)):
            writer.writerow({**row, "Utterance": text, **({"heard": heard[k]} if heard is not None else {}),
                             **({"voice": voice_of(k, voices)} if voices else {})})


def word_error_rate(gold: list[str], heard: list[str]) -> float:
    """Corpus WER over lower-cased words without punctuation (Whisper and subtitles punctuate differently)."""
    import jiwer

    from mmsa.features import normalize_text

    def words(t: str) -> str:
        return " ".join(re.sub(r"[^\w' ]+", " ", normalize_text(t).lower()).split())

    pairs = [(words(g), words(h)) for g, h in zip(gold, heard) if words(g)]
    return jiwer.wer([g for g, _ in pairs], [h if h else "" for _, h in pairs])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True, help="MELD-layout CSV (dev: tune on it; test only as a release check)")
    parser.add_argument("--out", required=True, help="folder for the ASR transcripts (reused when present)")
    parser.add_argument("--model", action="append", default=[], help="model to compare (repeat); default: starter")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances (0 = all)")
    parser.add_argument("--voices", default=VOICES, help="espeak-ng voices, taken in turn")
    parser.add_argument("--fallback", action="store_true", help="transcribe with Whisper's temperature fallback "
                        "schedule instead of the pipeline's greedy-only setting (use another --out)")
    args = parser.parse_args(argv)

    from mmsa.model import load_model
    from training.data import read_csv
    from training.evaluate import evaluate

    rows = read_csv(args.csv)
    if args.limit > 0:
        rows = rows[: args.limit]
    out = Path(args.out)
    gold_csv, asr_csv = out / "gold_sent_emo.csv", out / ASR_CSV
    write_asr_csv(rows, [r["Utterance"] for r in rows], gold_csv)
    print(f"speaking and transcribing {len(rows)} utterances -> {asr_csv}")
    heard, _ = transcribe_split(rows, asr_csv, [v.strip() for v in args.voices.split(",") if v.strip()],
                                args.fallback)
    wer = word_error_rate([r["Utterance"] for r in rows], heard)
    print(f"\nword error rate (jiwer): {wer:.3f} over {len(rows)} utterances\n")

    header = f"{'model':<28} {'text':<5} {'emotion wF1':>11} {'macro F1':>9} {'sentiment wF1':>13}"
    print(header + f" {'emotion gap':>11}")
    print("-" * (len(header) + 12))
    for name in args.model or ["starter"]:
        model, shown = load_model(name)
        model.eval()
        scores = {}
        for label, path in (("gold", gold_csv), ("asr", asr_csv)):
            m, _, _ = evaluate(model, str(path))
            scores[label] = m
            gap = "" if label == "gold" else f"{m['emotion']['weighted_f1'] - scores['gold']['emotion']['weighted_f1']:+11.3f}"
            print(f"{shown[:28]:<28} {label:<5} {m['emotion']['weighted_f1']:11.3f} {m['emotion']['macro_f1']:9.3f} "
                  f"{m['sentiment']['weighted_f1']:13.3f} {gap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
