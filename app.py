"""mmsa Space: upload or record a video, see emotion and sentiment per utterance over time.

Environment: MMSA_MODEL / MMSA_ASR (Hub id or folder), MMSA_MAX_DURATION (seconds), MMSA_MCP=1 to serve the
analysis as an MCP tool, GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as usual.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import gradio as gr

from mmsa import export, views
from mmsa.analyze import Analyzer
from mmsa.loading import ModelNotFoundError
from mmsa.media import MediaError
from mmsa.results import Analysis

logger = logging.getLogger("mmsa.app")

MAX_DURATION_S = float(os.environ.get("MMSA_MAX_DURATION", 600))  # longest clip accepted (10 min)
MAX_FILE_SIZE = os.environ.get("MMSA_MAX_FILE_SIZE", "500mb")  # uploads beyond this are refused by the server
TIME_LIMIT_S = float(os.environ.get("MMSA_TIME_LIMIT", 900))  # one analysis may not hold the CPU longer
QUEUE_SIZE = int(os.environ.get("MMSA_QUEUE_SIZE", 16))  # waiting requests beyond this are turned away
MCP_SERVER = os.environ.get("MMSA_MCP", "").lower() in ("1", "true", "yes")
EXAMPLES_DIR = Path(__file__).parent / "examples"


def _load() -> tuple[Analyzer | None, str | None]:
    """The model and speech recogniser, loaded once at start and warmed up; or the reason they are not."""
    try:
        analyzer = Analyzer(max_duration=MAX_DURATION_S, time_limit=TIME_LIMIT_S)
        analyzer.warm_up()
        return analyzer, None
    except (ModelNotFoundError, ValueError, OSError) as e:
        logger.error("model not loaded: %s", e)
        return None, str(e)


ANALYZER, LOAD_ERROR = _load()


def analyze(video: str | None, progress: gr.Progress = gr.Progress()) -> dict:
    """Analyse the emotion and sentiment of every utterance in a video, from its words, voice and picture.

    Args:
        video: the video (or audio) file to analyse, e.g. an .mp4, .mov, .webm or .wav; at most 10 minutes.

    Returns:
        The analysis: model, duration, utterances (times, text, emotion and sentiment with scores), summary.
    """
    if ANALYZER is None:
        raise gr.Error(f"The model is not available: {LOAD_ERROR}", duration=None)
    if not video:
        raise gr.Error("Upload or record a video first.")
    try:
        analysis = ANALYZER.analyze(video, progress=lambda f, msg: progress(f, desc=msg))
    except MediaError as e:
        raise gr.Error(_public(str(e)), duration=None) from e
    except Exception as e:  # never a traceback in the page; the server keeps serving
        logger.exception("analysis failed")
        raise gr.Error(f"The analysis failed unexpectedly ({type(e).__name__}). Try another file.") from e
    result = analysis.to_dict()
    result["source"] = _public(result.get("source", ""))
    return result


def _public(text: str) -> str:
    """Hide the server's upload folder from messages shown to users."""
    return text.replace(str(Path(tempfile.gettempdir())), "…")


def render(video: str | None, result: dict | None):
    """Everything a person looks at, built from the JSON result."""
    if not result:
        return [gr.skip()] * 9
    emotion, sentiment = views.overall_labels(result)
    headers, modality_rows = views.modality_rows(result)
    out_dir = Path(tempfile.mkdtemp(prefix="mmsa_"))
    stem = Path(result.get("source") or "analysis").stem or "analysis"
    analysis = Analysis.from_dict(result)
    files = []
    for fmt in ("json", "csv", "srt"):
        path = out_dir / f"{stem}.{fmt}"
        path.write_text(export.export(analysis, fmt), encoding="utf-8")
        files.append(str(path))
    vtt = out_dir / f"{stem}.vtt"
    vtt.write_text(export.to_vtt(analysis), encoding="utf-8")
    playback = gr.Video(value=video, subtitles=str(vtt)) if video else gr.skip()
    return (
        views.model_note(result), emotion, sentiment, views.timeline_figure(result),
        views.highlighted_transcript(result), views.utterance_rows(result),
        # only worth a table when at least two branches can disagree
        gr.Dataframe(value=modality_rows, headers=headers, visible=len(headers) > 5), playback, files,
    )


def _example_paths() -> list[str]:
    """Example clips rendered by scripts/make_examples.py; made on first start if espeak-ng is available."""
    try:
        from scripts.make_examples import make_examples

        return [str(p) for p in make_examples(EXAMPLES_DIR)]
    except Exception as e:  # examples are a convenience; the app works without them
        logger.warning("no example clips: %s", e)
        return []


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="mmsa — emotion & sentiment in video") as demo:
        gr.Markdown(
            "# 🎭 mmsa — emotion & sentiment, utterance by utterance\n"
            "Upload or record a video. mmsa transcribes it, then tells for each utterance which emotion and sentiment "
            "its **words**, **voice** and **picture** express, and how sure it is. "
            "Labels describe how something comes across, not what a person feels."
        )
        if LOAD_ERROR:
            gr.Markdown(f"⚠️ **The model could not be loaded:** {LOAD_ERROR}", elem_id="load-error")
        with gr.Row():
            with gr.Column(scale=1):
                video_in = gr.Video(label="Video", sources=["upload", "webcam"], include_audio=True,
                                    elem_id="video-in")
                button = gr.Button("Analyze", variant="primary", elem_id="analyze-btn")
                examples = _example_paths()
                if examples:
                    gr.Examples(examples=[[p] for p in examples], inputs=[video_in], label="Example clips")
            with gr.Column(scale=1):
                note = gr.Markdown(elem_id="model-note")
                with gr.Row():
                    emotion = gr.Label(label="Overall emotion", num_top_classes=3)
                    sentiment = gr.Label(label="Overall sentiment")
        plot = gr.Plot(label="Emotion and sentiment over time")
        transcript = gr.HighlightedText(label="Transcript coloured by emotion", color_map=views.EMOTION_COLORS,
                                        show_legend=True, show_inline_category=False, elem_id="transcript")
        table = gr.Dataframe(headers=views.UTTERANCE_HEADERS, label="Utterances", wrap=True, elem_id="utterances",
                             interactive=False)
        with gr.Row():
            playback = gr.Video(label="Playback with emotion subtitles", interactive=False)
            downloads = gr.File(label="Downloads (JSON, CSV, SRT)", file_count="multiple", interactive=False)
        modality_table = gr.Dataframe(label="Which modality said what", wrap=True, interactive=False, visible=False)
        with gr.Accordion("Raw JSON (the API answer)", open=False):
            raw = gr.JSON(label="Result")

        button.click(analyze, inputs=video_in, outputs=raw, api_name="analyze", concurrency_limit=1,
                     concurrency_id="analysis").success(
            render, inputs=[video_in, raw],
            outputs=[note, emotion, sentiment, plot, transcript, table, modality_table, playback, downloads],
            api_visibility="private",
        )
    return demo


demo = build_demo()
demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    demo.launch(max_file_size=MAX_FILE_SIZE, mcp_server=MCP_SERVER, show_error=True)
