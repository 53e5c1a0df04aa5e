"""mmsa Space: upload or record a video, see emotion and sentiment per utterance over time.

Settings come from the environment through mmsa.settings (MMSA_MODEL, MMSA_ASR, limits, MMSA_MCP=1 for an MCP
server; the README lists them all), plus GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as usual.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from mmsa import export, views
from mmsa.analyze import Analyzer
from mmsa.media import MediaError
from mmsa.results import Analysis
from mmsa.settings import Settings, SettingsError

logger = logging.getLogger("mmsa.app")

try:
    SETTINGS, SETTINGS_ERROR = Settings.from_env(), None
except SettingsError as e:  # the page says which variable is wrong instead of failing to start
    SETTINGS, SETTINGS_ERROR = Settings(), str(e)
EXAMPLES_DIR = Path(__file__).parent / "examples"
CACHE_TTL_S = 3600  # Gradio's cache of served files is emptied on this schedule


def _load() -> tuple[Analyzer | None, str | None]:
    """The model and speech recogniser, loaded once at start and warmed up; or the reason they are not."""
    if SETTINGS_ERROR:
        return None, SETTINGS_ERROR
    try:
        analyzer = Analyzer(max_duration=SETTINGS.max_duration, time_limit=SETTINGS.time_limit)
        analyzer.warm_up()
        return analyzer, None
    except (OSError, ValueError) as e:  # ModelNotFoundError, a bad config.json, an unloadable ASR: they explain
        logger.error("model not loaded: %s", e)
        return None, _public(str(e))
    except Exception as e:  # anything else still leaves a page that says so, never a crashed import
        logger.exception("model not loaded")
        return None, f"loading failed unexpectedly ({type(e).__name__}); see the server log"


def _public(text: str) -> str:
    """Hide server folders (uploads, caches, the working directory) from messages shown to users."""
    for folder in sorted({str(Path(tempfile.gettempdir())), str(Path.cwd()), str(Path.home()),
                          str(Path(__file__).resolve().parent)}, key=len, reverse=True):
        if len(folder) > 1:
            text = text.replace(folder, "…")
    return text


warnings.simplefilter("ignore", RuntimeWarning)  # numerical warnings name files of the installation in the log
ANALYZER, LOAD_ERROR = _load()
LICENCE = getattr(ANALYZER.model.config, "license", "") if ANALYZER else ""
WEIGHTS = views.weights_note(ANALYZER.model.config) if ANALYZER else ""


class Recent:
    """What the page shows beside the JSON of the last few analyses made here: their face crops (the contract
    carries no images) and their download files. The files live in one folder per process under Gradio's temp
    folder, one sub-folder per analysis, written once and removed when the analysis drops out of the list; a result
    this server did not make gets no files, so no caller can make the page write without analysing."""

    KEPT = 16

    def __init__(self):
        self.items: OrderedDict[str, dict] = OrderedDict()
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            base = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
            base.mkdir(parents=True, exist_ok=True)
            self._root = Path(tempfile.mkdtemp(prefix="mmsa-exports-", dir=base))
            atexit.register(shutil.rmtree, self._root, True)
        return self._root

    def add(self, key: str, faces: list) -> None:
        self.items[key] = {"faces": faces, "files": None}
        self.items.move_to_end(key)
        while len(self.items) > self.KEPT:
            _, old = self.items.popitem(last=False)
            if old["files"]:
                shutil.rmtree(Path(old["files"][0]).parent, ignore_errors=True)

    def faces(self, key: str) -> list:
        return self.items[key]["faces"] if key in self.items else []

    def files(self, key: str, analysis: Analysis) -> list[str]:
        """The downloads (JSON, CSV, SRT, VTT last) of an analysis made here, written on first ask; [] otherwise."""
        item = self.items.get(key)
        if item is None:
            return []
        if item["files"] is None:
            folder = Path(tempfile.mkdtemp(dir=self.root))
            stem = Path(analysis.source or "analysis").stem or "analysis"
            files = []
            for fmt in ("json", "csv", "srt", "vtt"):
                path = folder / f"{stem}.{fmt}"
                path.write_text(export.export(analysis, fmt), encoding="utf-8")
                files.append(str(path))
            item["files"] = files
        return item["files"]


RECENT = Recent()


def _key(result: dict) -> str:
    """The same for a result and its copy that went through the browser (where 1.0 comes back as 1)."""
    spans = [f"{float(u['start']):.3f}-{float(u['end']):.3f}:{u['text']}" for u in result.get("utterances", [])]
    return hashlib.sha1(json.dumps([result.get("model"), result.get("source"), spans]).encode()).hexdigest()


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
    result["source"] = Path(_public(result.get("source", ""))).name
    RECENT.add(_key(result), [u.face for u in analysis.utterances])
    return result


def render(video: str | None, result: dict | None):
    """Everything a person looks at, built from the JSON result."""
    if not result:
        return [gr.skip()] * 11
    try:
        analysis = Analysis.from_dict(result)
    except (KeyError, TypeError, ValueError) as e:
        raise gr.Error("The result could not be displayed: it is not an mmsa analysis.") from e
    key = _key(result)
    for u, face in zip(analysis.utterances, RECENT.faces(key)):
        u.face = face
    strip = views.face_strip(analysis)
    emotion, sentiment = views.overall_labels(analysis)
    headers, modality_rows = views.modality_rows(analysis)
    files = RECENT.files(key, analysis)
    vtt = files[-1] if files else None
    playback = gr.Video(value=video, subtitles=vtt) if video and vtt else gr.skip()
    return (
        views.model_note(analysis, LICENCE, WEIGHTS), emotion, sentiment, views.timeline_figure(analysis),
        views.highlighted_transcript(analysis), views.utterance_rows(analysis),
        # only worth a table when at least two branches can disagree
        gr.Dataframe(value=modality_rows, headers=headers, visible=len(headers) > 5), playback, files[:3],
        gr.Image(value=strip, visible=strip is not None),
        # who said it: only when the voices told more than one person apart, so one speaker looks as before
        gr.Dataframe(value=views.speaker_rows(analysis), headers=views.SPEAKER_HEADERS,
                     visible=len(views.speaker_names(analysis)) > 1),
    )


def _example_paths() -> list[str]:
    """Example clips rendered with espeak-ng and ffmpeg on first start, when both are installed."""
    try:
        from mmsa.synth import make_examples

        return [str(p) for p in make_examples(EXAMPLES_DIR)]
    except Exception as e:  # examples are a convenience; the app works without them
        logger.warning("no example clips: %s", e)
        return []


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="mmsa — emotion & sentiment in video", delete_cache=(CACHE_TTL_S, CACHE_TTL_S)) as demo:
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
        speaker_table = gr.Dataframe(headers=views.SPEAKER_HEADERS, label="Speakers (told apart by their voices)",
                                     interactive=False, visible=False, elem_id="speakers")
        transcript = gr.HighlightedText(label="Transcript coloured by emotion", color_map=views.EMOTION_COLORS,
                                        show_legend=True, show_inline_category=False, elem_id="transcript")
        table = gr.Dataframe(headers=views.UTTERANCE_HEADERS, label="Utterances", wrap=True, elem_id="utterances",
                             interactive=False, column_widths=["11%", "13%", "13%", "49%", "14%"])
        with gr.Row():
            playback = gr.Video(label="Playback with emotion subtitles", interactive=False)
            downloads = gr.File(label="Downloads (JSON, CSV, SRT)", file_count="multiple", interactive=False)
        modality_table = gr.Dataframe(label="Which modality said what (each branch's own answer and confidence)",
                                      wrap=True, interactive=False, visible=False, elem_id="modalities")
        faces = gr.Image(label="The face the face branch read, per utterance (time, then its answer)",
                         interactive=False, visible=False, elem_id="faces")
        with gr.Accordion("Raw JSON (the API answer)", open=False):
            raw = gr.JSON(label="Result")

        button.click(analyze, inputs=video_in, outputs=raw, api_name="analyze", concurrency_limit=1,
                     concurrency_id="analysis").success(
            render, inputs=[video_in, raw],
            outputs=[note, emotion, sentiment, plot, transcript, table, modality_table, playback, downloads, faces,
                     speaker_table],
            api_visibility="private",
        )
    return demo


demo = build_demo()
demo.queue(max_size=SETTINGS.queue_size, default_concurrency_limit=1)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # show_error stays off: gr.Error messages (written for users) still show, other exceptions' text does not
    demo.launch(max_file_size=SETTINGS.max_file_size, mcp_server=SETTINGS.mcp, show_error=False)
