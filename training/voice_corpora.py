"""The acted-speech corpora the voice branch learns from, read into one list of labelled clips.

Each reader takes the corpus folder as fetched (see the README's "Voice data" section) and returns Clip rows:
the file, the corpus, the speaker (so validation can hold speakers and corpora out) and the MELD emotion.

- RAVDESS speech, actors 01-20 only (21-24 are never read): 8 emotions, calm merged into neutral.
  CC BY-NC-SA 4.0.
- EmoDB, the original 16 kHz files (10 German actors): anger, joy, neutral, sadness. Free for research.
  The 22.05 kHz copies padded to 2 s are a different format; a training set never mixes the two, so they are
  not read here.
- TurEV-DB (6 Turkish actors, single words): anger, neutral (calm), joy, sadness. Non-commercial research
  (its README says CC BY-NC-ND 4.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .data import DataError

RAVDESS_LABELS = {"01": "neutral", "02": "neutral", "03": "joy", "04": "sadness", "05": "anger", "06": "fear",
                  "07": "disgust", "08": "surprise"}
RAVDESS_ACTORS = range(1, 21)  # 21-24 are for release checks only and never read
EMODB_FOLDERS = {"Angry": "anger", "Happy": "joy", "Neutral": "neutral", "Sad": "sadness"}
# EmoDB's file-name code <speaker:2><text:3><emotion letter><version>
EMODB_LETTERS = {"W": "anger", "F": "joy", "N": "neutral", "T": "sadness", "E": "disgust", "A": "fear"}
TUREV_FOLDERS = {"Angry": "anger", "Calm": "neutral", "Happy": "joy", "Sad": "sadness"}

LICENCES = {
    "ravdess": "RAVDESS (Livingstone & Russo 2018), actors 01-20: CC BY-NC-SA 4.0",
    "emodb": "EmoDB (Burkhardt et al. 2005), original 16 kHz files: free for research",
    "turev": "TurEV-DB (Canpolat et al. 2020): CC BY-NC-ND 4.0 per its README, non-commercial research",
}
CORPORA = tuple(LICENCES)


@dataclass(frozen=True)
class Clip:
    path: Path
    corpus: str
    speaker: str  # unique across corpora: "<corpus>:<id>"
    emotion: str  # a MELD emotion name


def _find(root: Path, *names: str) -> Path:
    """root itself or the first of root/name that exists (a corpus folder, or a folder holding it)."""
    for name in names:
        if (root / name).is_dir():
            return root / name
    return root


def ravdess(location: str | Path) -> list[Clip]:
    root = _find(Path(location), "RavdessDataSet")
    out = []
    for actor in RAVDESS_ACTORS:
        for wav in sorted((root / f"Actor_{actor:02d}").glob("03-01-*.wav")):
            parts = wav.stem.split("-")
            if len(parts) == 7 and parts[2] in RAVDESS_LABELS and int(parts[6]) == actor:
                out.append(Clip(wav, "ravdess", f"ravdess:{actor:02d}", RAVDESS_LABELS[parts[2]]))
    if not out:
        raise DataError(f"{Path(location).name}: no RAVDESS speech files (expected Actor_01/03-01-EE-II-SS-RR-01.wav"
                        f" ...)")
    return out


def _by_folder(root: Path, corpus: str, folders: dict[str, str], speaker_of) -> list[Clip]:
    """Clips of a corpus laid out one folder per emotion; speaker_of(wav, emotion) names the file's speaker, or
    None for a file that does not belong (its name does not fit the corpus's code)."""
    out = []
    for folder, emotion in folders.items():
        for wav in sorted((root / folder).glob("*.wav")):
            speaker = speaker_of(wav, emotion)
            if speaker is not None:
                out.append(Clip(wav, corpus, f"{corpus}:{speaker}", emotion))
    return out


def _emodb_speaker(wav: Path, emotion: str) -> str | None:
    code = wav.stem  # <speaker:2><text:3><emotion letter><version>; the letter must match the folder
    return code[:2] if len(code) >= 6 and code[:2].isdigit() and EMODB_LETTERS.get(code[5]) == emotion else None


def _turev_speaker(wav: Path, emotion: str) -> str | None:
    speaker = wav.stem.split("_")[0]
    return speaker if speaker.isdigit() else None


def emodb(location: str | Path) -> list[Clip]:
    out = _by_folder(_find(Path(location), "dataset"), "emodb", EMODB_FOLDERS, _emodb_speaker)
    if not out:
        raise DataError(f"{Path(location).name}: no EmoDB files (expected Angry/03a01Wa.wav, Happy/..., Neutral/..., "
                        f"Sad/... at 16 kHz)")
    return out


def turev(location: str | Path) -> list[Clip]:
    out = _by_folder(_find(Path(location), "Sound Source"), "turev", TUREV_FOLDERS, _turev_speaker)
    if not out:
        raise DataError(f"{Path(location).name}: no TurEV-DB files (expected Angry/, Calm/, Happy/, Sad/ of "
                        f"<speaker>_<...>.wav)")
    return out


READERS = {"ravdess": ravdess, "emodb": emodb, "turev": turev}


def read_corpora(locations: dict[str, str | Path]) -> list[Clip]:
    """Every clip of the corpora given as {name: folder}."""
    unknown = sorted(set(locations) - set(READERS))
    if unknown:
        raise DataError(f"unknown voice corpus {', '.join(unknown)}; known: {', '.join(READERS)}")
    clips = []
    for name, folder in locations.items():
        if not Path(folder).is_dir():
            raise DataError(f"--{name}: {Path(folder).name} is not a folder")
        clips.extend(READERS[name](folder))
    return clips
