"""The Hub model card: model_card/template.md rendered with huggingface_hub.ModelCard and its metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from mmsa.labels import TASKS
from mmsa.settings import project_url

DATASET_ID = "declare-lab/MELD"


def template_path() -> Path:
    """model_card/template.md: installed as training/model_card (pyproject maps it), or in a checkout."""
    for candidate in (Path(__file__).parent / "model_card" / "template.md",
                      Path(__file__).resolve().parents[1] / "model_card" / "template.md"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("the model card template (model_card/template.md) is missing from this installation")


def _eval_results(metrics: dict[str, Any], dataset_name: str, split: str) -> list[EvalResult]:
    results = []
    for task in TASKS:
        for key, name in (("accuracy", "accuracy"), ("weighted_f1", "f1"), ("macro_f1", "f1")):
            results.append(EvalResult(
                task_type="video-classification", task_name=f"{task} recognition",
                dataset_type=DATASET_ID, dataset_name=dataset_name, dataset_split=split,
                metric_type=name, metric_name=f"{task} {key.replace('_', ' ')}", metric_value=round(metrics[task][key], 4),
                metric_config=key,
            ))
    return results


def _per_class(metrics: dict[str, Any]) -> str:
    parts = []
    for task in TASKS:
        rows = [f"**{task}** per class", "", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for label, m in metrics[task]["per_class"].items():
            rows.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


MELD_DATA = "MELD (GNU GPL v3)."


def render_card(model, metrics: dict[str, Any] | None = None, report: dict[str, Any] | None = None,
                repo_id: str = "ORG/NAME", title: str | None = None, summary: str | None = None,
                extra_limits: str = "", image_dir: Path | None = None, license: str = "apache-2.0",
                data_licence: str = MELD_DATA, branch_results: str = "") -> ModelCard:
    """The card of a model folder. license is the weights' licence id on the Hub; data_licence names every
    dataset the weights learned from and the terms that follow from it."""
    from .metrics import markdown_table

    cfg = model.config
    report = report or {}
    dev_name = (report.get("dev") or {}).get("name") or "dev"
    card_data = ModelCardData(
        language="en", license=license, library_name="mmsa", pipeline_tag="video-classification",
        tags=["emotion-recognition", "sentiment-analysis", "multimodal", "meld", *cfg.modalities],
        datasets=[DATASET_ID], base_model=cfg.text_backbone if "/" in cfg.text_backbone else None,
        model_name=repo_id.split("/")[-1],
        eval_results=_eval_results(metrics, "MELD", dev_name) if metrics else None,
    )
    results = markdown_table(metrics) if metrics else "No evaluation was run for this model."
    if metrics:
        read = (f", each subtitle '!' read with chance {metrics['exclaim_keep']} (the recogniser writes fewer than "
                f"subtitles do)" if metrics.get("exclaim_keep") is not None else "")
        results = (f"On **{dev_name}** (n = {metrics['n']}{read}), the split used for early stopping and calibration:"
                   f"\n\n" + results)
    calib = report.get("calibration")
    calibration = ""
    if calib:
        calibration = "**Calibration** (temperature scaling on dev; expected calibration error, 15 bins):\n\n" + \
            "| head | temperature | ECE before | ECE after |\n|---|---:|---:|---:|\n" + "\n".join(
                f"| {t} | {c['temperature']:.3f} | {c['ece_before']:.3f} | {c['ece_after']:.3f} |"
                for t, c in calib.items())
    confusion = ""
    if image_dir is not None and (image_dir / "emotion_confusion.png").is_file():
        confusion = "![emotion confusion matrix](emotion_confusion.png)\n![sentiment confusion matrix](sentiment_confusion.png)"
    args = report.get("args") or {}
    training = "Not recorded." if not args else "\n".join(
        [f"- data: {report['train']['name']} (n = {report['train']['n']}, unreadable clips skipped: "
         f"{report['train']['skipped']}), dev {dev_name}",
         f"- best epoch {report.get('best_epoch')} of {len(report.get('history', []))}, "
         f"{report.get('seconds', 0) / 60:.1f} min",
         "- hyperparameters: " + ", ".join(f"`{k}={args[k]}`" for k in (
             "preset", "modalities", "text_trainable_layers", "text_lora_rank", "dialogue_context", "epochs", "batch_size", "lr",
             "backbone_lr", "weight_decay", "class_weighting", "label_smoothing", "modality_dropout", "seed")
             if k in args)]
        + ([f"- also learned from a teacher's probabilities (knowledge distillation, training.distill): "
            f"`soft_labels={args['soft_labels']}`, `distill_weight={args.get('distill_weight')}`, "
            f"`distill_temperature={args.get('distill_temperature')}`; the teacher's own card names its backbone "
            f"and data"] if args.get("soft_labels") else []))
    if "video" not in cfg.modalities:
        video = "—"
    elif cfg.video_backbone == "face_cnn":
        video = (f"face CNN on the largest face (MediaPipe BlazeFace, eyes levelled; OpenCV's Haar cascade where "
                 f"mediapipe is missing) of {cfg.num_frames} frames per utterance, {cfg.face_size} px grayscale "
                 f"crops, averaged")
    else:
        video = f"{cfg.video_backbone}, {cfg.num_frames} frames of {cfg.frame_size} px"
    if "audio" not in cfg.modalities:
        audio = "—"
    elif cfg.audio_backbone == "whisper":
        made = ("the recording's speech encoded in 30 s windows, the very states the recogniser computes"
                if cfg.voice_context == "recording" else "each utterance encoded alone")
        audio = (f"Whisper {cfg.whisper_encoder} encoder states (the speech recogniser's own, CTranslate2 int8; "
                 f"{made}), mean and std over time, then a small MLP")
    else:
        audio = f"Conv1d over {cfg.n_mels}-band log-mel, up to {cfg.audio_max_frames} frames"
    url = project_url()
    return ModelCard.from_template(
        card_data, template_path=str(template_path()), model_title=title or f"mmsa {cfg.preset} model",
        summary=summary or "Emotion and sentiment recognition per utterance of a video.",
        built_with=f"[mmsa]({url})" if url else "mmsa", repo_id=repo_id, modalities=", ".join(cfg.modalities),
        text_encoder=(f"{cfg.text_backbone} ({cfg.text_pooling} pooling, {_text_training(cfg)})"
                      if "text" in cfg.modalities else "—"),
        video_encoder=video, audio_encoder=audio,
        dialogue_context=f"{cfg.dialogue_context} previous utterances" if cfg.dialogue_context else "off",
        per_modality_heads="yes" if cfg.per_modality_heads else "no",
        emotion_temperature=f"{cfg.emotion_temperature:.3f}", sentiment_temperature=f"{cfg.sentiment_temperature:.3f}",
        parameters=f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M",
        results=results, per_class=_per_class(metrics) if metrics else "", calibration=calibration,
        confusion=confusion, training=training, extra_limits=extra_limits, license=license,
        data_licence=data_licence, branch_results=branch_results,
    )


def _text_training(cfg) -> str:
    if cfg.text_trainable_layers == -1:
        how = "fully fine-tuned"
    elif cfg.text_trainable_layers > 0:
        how = f"top {cfg.text_trainable_layers} layers fine-tuned"
    else:
        how = "frozen"
    return how + (f" + rank-{cfg.text_lora_rank} adapters" if cfg.text_lora_rank else "")


def write_card(model, out_dir: Path, metrics=None, report=None, repo_id: str | None = None, **kwargs) -> Path:
    card = render_card(model, metrics, report, repo_id=repo_id or f"ORG/{Path(out_dir).name}", image_dir=out_dir,
                       **kwargs)
    path = Path(out_dir) / "README.md"
    card.save(str(path))
    return path
