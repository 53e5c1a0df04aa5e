"""Fine-tune a larger text encoder as a teacher and write its probabilities for every training text, so that the
shipped words model can learn from them (training.train --soft-labels; training.distill).

    python -m training.teacher --backbone sentence-transformers/all-mpnet-base-v2 \\
        --train ../shared/data/meld/train_sent_emo.csv --train-also runs/asr_train/asr_sent_emo.csv \\
        --dev ../shared/data/meld/dev_sent_emo.csv --dev-also runs/asr_dev/asr_sent_emo.csv --output-dir runs/teacher

Every weight of the backbone is trained (mean-pooled tokens, a linear emotion head and a linear sentiment head,
AdamW, warm-up then linear decay). Rows of --train and --train-also with the same utterance id and labels (MELD's
Dialogue_ID/Utterance_ID, or a generic CSV's row) are one utterance written two ways, e.g. as subtitled and as
transcribed: each epoch reads every utterance once, in one of its forms drawn at random, so a second form costs
no extra time. The teacher is only needed at training time and is not saved (pass --save-model to keep it): its
soft_labels.csv, metrics.json and README.md are written to --output-dir.

Or let words models already trained teach, their calibrated answers averaged (an ensemble, distilled into one
model of one model's cost):

    python -m training.teacher --model starter-text --model runs/text-asr --train ... --train-also ... --output-dir DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmsa.config import TEXT_STYLES
from mmsa.features import normalize_text
from mmsa.labels import EMOTIONS, SENTIMENTS

from .data import DataError, load_split
from .distill import soft_label_columns

logger = logging.getLogger("mmsa.training")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.teacher", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--backbone", help="Hub id or folder of a transformers text encoder, fine-tuned here")
    who.add_argument("--model", action="append", metavar="MODEL",
                     help="instead, an mmsa words model already trained (starter-text, a folder or a Hub id) that "
                          "teaches as it is; repeat it to average several (an ensemble distilled into one model)")
    p.add_argument("--train", required=True, help="train CSV (MELD or path,text,emotion,sentiment)")
    p.add_argument("--train-also", action="append", default=[], metavar="CSV",
                   help="the same utterances written another way (e.g. transcribed; repeatable)")
    p.add_argument("--dev", help="dev CSV to score the teacher on")
    p.add_argument("--dev-also", action="append", default=[], metavar="CSV", help="more CSVs to score it on")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--text-style", choices=TEXT_STYLES, default="asr",
                   help="how the texts are written before reading (as the student reads them)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the utterances (a fraction is allowed)")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64, help="tokens per text")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-model", action="store_true", help="also save the fine-tuned teacher (large)")
    return p


class Teacher(torch.nn.Module):
    """Encoder, mean pooling over real tokens, dropout, one linear head per task."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.dropout = encoder, torch.nn.Dropout(0.1)
        width = encoder.config.hidden_size
        self.emotion, self.sentiment = torch.nn.Linear(width, len(EMOTIONS)), torch.nn.Linear(width, len(SENTIMENTS))

    def forward(self, tokens: dict) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp_min(1))
        return self.emotion(pooled), self.sentiment(pooled)


def utterances(train: str, also: list[str], style: str) -> list[tuple[list[str], int, int]]:
    """(its written forms, emotion, sentiment) per training utterance; forms matched by id and labels."""
    groups: dict[tuple, list[str]] = {}
    for location in [train, *also]:
        for e in load_split(location, text_only=True).examples:
            text = normalize_text(e.text, style)
            forms = groups.setdefault((e.uid, e.emotion, e.sentiment), [])
            if text and text not in forms:
                forms.append(text)
    return [(forms, key[1], key[2]) for key, forms in groups.items() if forms]


def load_backbone(name: str):
    from transformers import AutoModel, AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name), AutoModel.from_pretrained(name)
    except (OSError, ValueError) as e:  # not a folder with a model, no network for a Hub id
        raise ValueError(f"--backbone {Path(name).name!r} could not be loaded as a text encoder ({type(e).__name__}): "
                         "give a Hub id reachable from here or a folder with config.json, weights and a "
                         "tokenizer") from None


class Reader:
    """Batched probabilities of a teacher for many texts, similar lengths together to pad less."""

    def __init__(self, model: Teacher, tokenizer, max_length: int):
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length

    def tokens(self, texts: list[str]) -> dict:
        return dict(self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt"))

    @torch.inference_mode()
    def __call__(self, texts: list[str], batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        self.model.eval()
        emo, sent = np.zeros((len(texts), len(EMOTIONS)), np.float32), np.zeros((len(texts), len(SENTIMENTS)), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for s in range(0, len(texts), batch):
            idx = order[s:s + batch]
            e, t = self.model(self.tokens([texts[j] for j in idx]))
            emo[idx], sent[idx] = e.softmax(-1).numpy(), t.softmax(-1).numpy()
        self.model.train()
        return emo, sent


def calibrated_pair_log_probs(model, dataset) -> tuple[torch.Tensor, dict]:
    """A two-head words model's calibrated pair log-probabilities (n, 8) on a dataset, and its true labels."""
    from mmsa.fusion import pairs_from_heads

    from .featurize import Featurizer
    from .loop import make_loader, predict_logits

    pred = predict_logits(model, make_loader(Featurizer(model, None)(dataset, "eval"), model, 64, shuffle=False))
    log_e = torch.log_softmax(torch.as_tensor(pred["emotion_logits"]).float() / model.config.emotion_temperature, -1)
    log_s = torch.log_softmax(torch.as_tensor(pred["sentiment_logits"]).float() / model.config.sentiment_temperature,
                              -1)
    return pairs_from_heads(log_e, log_s), {t: pred[t] for t in ("emotion", "sentiment")}


class EnsembleReader:
    """The members' calibrated pair log-probabilities averaged, as benchmarks.text_ensemble scores them, read back
    as emotion and sentiment probabilities (the pairs' marginals, so the allowed pairs shape them)."""

    def __init__(self, members: list):
        self.members = members

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from mmsa.fusion import marginals

        from .data import Dataset, Example

        ds = Dataset("texts", [Example(uid=f"t{i}", text=t, emotion=0, sentiment=0) for i, t in enumerate(texts)])
        pairs = [calibrated_pair_log_probs(model, ds)[0] for model in self.members]
        log_e, log_s = marginals(torch.log_softmax(torch.stack(pairs).mean(0), -1))
        return log_e.exp().numpy(), log_s.exp().numpy()


def load_members(names: list[str]) -> list:
    from mmsa.model import ModelNotFoundError, load_model

    members = []
    for name in names:
        try:
            model, _ = load_model(name)
        except ModelNotFoundError as e:
            raise ValueError(f"--model {Path(name).name!r}: {e}") from None
        if model.config.modalities != ["text"] or model.config.fusion == "late" or model.config.dialogue_context:
            raise ValueError(f"--model {Path(name).name!r}: not a words-only model that reads one utterance at a time "
                             "(train one with training.train --text-only --modalities text)")
        members.append(model.eval())
    return members


def train(model: Teacher, reader: Reader, items: list[tuple[list[str], int, int]], args) -> None:
    rng = np.random.default_rng(args.seed)
    steps = max(1, int(math.ceil(len(items) / args.batch_size * args.epochs)))
    warmup = max(1, int(0.06 * steps))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: min((i + 1) / warmup, max(0.0, (steps - i) / max(1, steps - warmup))))
    emotion = torch.tensor([it[1] for it in items])
    sentiment = torch.tensor([it[2] for it in items])
    model.train()
    step, t0 = 0, time.time()
    while step < steps:
        order = rng.permutation(len(items))
        for s in range(0, len(order), args.batch_size):
            if step >= steps:
                break
            idx = order[s:s + args.batch_size]
            texts = [items[j][0][rng.integers(len(items[j][0]))] for j in idx]  # one written form, drawn
            e, t = model(reader.tokens(texts))
            loss = torch.nn.functional.cross_entropy(e, emotion[idx]) + \
                torch.nn.functional.cross_entropy(t, sentiment[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 50 == 0 or step == steps:
                logger.info("step %d/%d, loss %.3f, %.0f s", step, steps, loss.item(), time.time() - t0)


def score(reader: Reader, location: str, style: str) -> dict:
    from sklearn.metrics import f1_score

    examples = load_split(location, text_only=True).examples
    emo, sent = reader([normalize_text(e.text, style) for e in examples])
    y_e, y_s = [e.emotion for e in examples], [e.sentiment for e in examples]
    return {"n": len(examples),
            "emotion_weighted_f1": float(f1_score(y_e, emo.argmax(1), average="weighted")),
            "emotion_macro_f1": float(f1_score(y_e, emo.argmax(1), average="macro")),
            "sentiment_weighted_f1": float(f1_score(y_s, sent.argmax(1), average="weighted"))}


def write_soft_labels(path: Path, texts: list[str], emo: np.ndarray, sent: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(soft_label_columns())
        for text, e, s in zip(texts, emo, sent):
            w.writerow([text, *[f"{v:.5f}" for v in e], *[f"{v:.5f}" for v in s]])


def write_card(path: Path, args, metrics: dict, n_utterances: int, n_texts: int) -> None:
    from .run import portable_path

    data = ", ".join(portable_path(p) for p in [args.train, *args.train_also])
    rows = "\n".join(f"| {name} | {m['n']} | {m['emotion_weighted_f1']:.3f} | {m['emotion_macro_f1']:.3f} | "
                     f"{m['sentiment_weighted_f1']:.3f} |" for name, m in metrics.items())
    if args.model:
        who = (f"The mmsa words model(s) {', '.join(f'`{Path(m).name}`' for m in args.model)} as trained, their "
               "calibrated answers averaged; their cards name their data and licences, which apply to these "
               "probabilities and to a model distilled from them.")
        recipe = ""
    else:
        who = (f"Backbone `{Path(args.backbone).name}`, every weight fine-tuned; its licence, and the training "
               "data's, apply to these probabilities and to a model distilled from them.")
        recipe = (f"- recipe: {args.epochs} epoch(s), lr {args.lr}, batch {args.batch_size}, max {args.max_length} "
                  f"tokens, seed {args.seed}\n")
    path.write_text(
        f"# Teacher soft labels\n\n{who}\n\n"
        f"- texts: {data} ({n_utterances} utterances, {n_texts} distinct texts, {args.text_style} style)\n{recipe}"
        f"\n| scored on | n | emotion wF1 | emotion macro F1 | sentiment wF1 |\n|---|---|---|---|---|\n"
        f"{rows}\n", encoding="utf-8")


def run(args) -> Path:
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    items = utterances(args.train, args.train_also, args.text_style)
    if not items:
        raise DataError("the training CSVs hold no text to learn from")
    logger.info("teacher: %d utterances, %d written forms", len(items), sum(len(it[0]) for it in items))
    if args.model:
        model, reader = None, EnsembleReader(load_members(args.model))
    else:
        tokenizer, encoder = load_backbone(args.backbone)
        model = Teacher(encoder)
        reader = Reader(model, tokenizer, args.max_length)
        train(model, reader, items, args)
    metrics = {Path(loc).stem: score(reader, loc, args.text_style) for loc in ([args.dev] if args.dev else [])
               + args.dev_also}
    for name, m in metrics.items():
        logger.info("%s: emotion wF1 %.4f, macro %.4f, sentiment wF1 %.4f", name, m["emotion_weighted_f1"],
                    m["emotion_macro_f1"], m["sentiment_weighted_f1"])
    texts = sorted({t for forms, _, _ in items for t in forms})
    emo, sent = reader(texts)
    out.mkdir(parents=True, exist_ok=True)
    write_soft_labels(out / "soft_labels.csv", texts, emo, sent)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_card(out / "README.md", args, metrics, len(items), len(texts))
    if args.save_model and model is not None:
        torch.save(model.state_dict(), out / "teacher.pt")
        tokenizer.save_pretrained(out / "tokenizer")
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.epochs > 0 or not args.lr > 0 or args.batch_size <= 0 or args.max_length <= 0:
        raise SystemExit("error: --epochs, --lr, --batch-size and --max-length must be > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        out = run(args)
    except (FileNotFoundError, ValueError) as e:  # DataError, a backbone that cannot be loaded
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"soft labels: {out / 'soft_labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
