"""`mmsa` (or `python -m mmsa`): analyze videos, make a model folder, convert the seed checkpoint."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import warnings
from pathlib import Path

from .export import FORMATS
from .settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):  # nan would switch the limit off
        raise argparse.ArgumentTypeError(f"must be > 0 and finite, in seconds; got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def output_names(videos: list[str], fmt: str) -> list[str]:
    """One output file name per video, all different: a stem seen before (d1/x.mp4 and d2/x.mp4) gets -2, -3, ..."""
    names, taken = [], set()
    for video in videos:
        stem = Path(video).stem or "analysis"
        name, n = f"{stem}.{fmt}", 1
        while name.lower() in taken:  # case-insensitive: macOS and Windows folders would merge X.json and x.json
            n += 1
            name = f"{stem}-{n}.{fmt}"
        taken.add(name.lower())
        names.append(name)
    return names


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmsa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="emotion and sentiment per utterance of one or more videos")
    a.add_argument("videos", nargs="+", help="video or audio files")
    a.add_argument("--model", default=None, help="Hub id or folder (default: $MMSA_MODEL, else the starter model)")
    a.add_argument("--asr", default=None, help="faster-whisper name or folder (default: $MMSA_ASR, else tiny.en)")
    a.add_argument("--format", choices=FORMATS, default="json", help="output format (default json)")
    a.add_argument("-o", "--output", default=None,
                   help="output file (one video) or folder (several); default: standard output")
    a.add_argument("--max-duration", type=_positive_float, default=settings.max_duration,
                   help=f"longest file accepted, seconds (default $MMSA_MAX_DURATION or {Settings.max_duration:g})")
    a.add_argument("--batch-size", type=_positive_int, default=16, help="utterances per forward pass")
    a.add_argument("--no-speakers", action="store_true", help="do not tell speakers apart (no S1, S2, ...)")
    a.add_argument("--translate", action="store_true",
                   help="speech in another language written in English for the words branch (needs --asr base)")

    i = sub.add_parser("init-model", help="write an untrained model folder of a preset")
    i.add_argument("out_dir")
    i.add_argument("--preset", choices=["seed", "cpu"], default="cpu")
    i.add_argument("--text-backbone", default=None, help="Hub id or folder (default: the preset's; offline: "
                                                          "the packaged MiniLM is used when present)")
    i.add_argument("--no-pretrained", action="store_true", help="random backbones (no weight downloads)")
    i.add_argument("--modalities", default="text,audio,video", help="comma-separated subset of text,audio,video")

    c = sub.add_parser("convert-seed", help="convert the tutorial's model.pth to an mmsa model folder")
    c.add_argument("model_pth")
    c.add_argument("out_dir")
    c.add_argument("--text-backbone", default="bert-base-uncased",
                   help="where the BERT config and tokenizer come from (Hub id or folder)")
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .analyze import Analyzer
    from .export import export
    from .loading import ModelNotFoundError
    from .media import MediaError

    try:
        analyzer = Analyzer(args.model, args.asr, max_duration=args.max_duration, batch_size=args.batch_size,
                            speakers=not args.no_speakers, translate=args.translate)
    except (ModelNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    out = Path(args.output) if args.output else None
    several = len(args.videos) > 1
    into_folder = out is not None and (several or out.is_dir() or args.output.endswith(("/", os.sep)))
    if into_folder:
        out.mkdir(parents=True, exist_ok=True)
    failures = 0
    names = output_names(args.videos, args.format)
    for video, name in zip(args.videos, names):
        bar = tqdm(total=100, desc=Path(video).name[:40], unit="%", file=sys.stderr, leave=False,
                   disable=not sys.stderr.isatty())

        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(int(fraction * 100) - bar.n)

        try:
            analysis = analyzer.analyze(video, progress=progress)
        except MediaError as e:
            failures += 1
            print(f"error: {e}", file=sys.stderr)
            continue
        except Exception as e:  # one broken file never stops the others
            failures += 1
            logging.getLogger("mmsa").debug("analysis failed", exc_info=True)
            print(f"error: {video}: analysis failed ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        finally:
            bar.close()
        text = export(analysis, args.format)
        for w in analysis.warnings:
            print(f"note: {Path(video).name}: {w}", file=sys.stderr)
        if out is None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            target = out / name if into_folder else out
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(args.videos)} file(s) failed", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def _init_model(args: argparse.Namespace) -> int:
    from .loading import offline_text_backbone
    from .model import MultimodalSentimentModel

    backbone = offline_text_backbone(args.text_backbone)
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    model = MultimodalSentimentModel.from_preset(args.preset, text_backbone=backbone,
                                                 pretrained=not args.no_pretrained, modalities=modalities)
    model.save_pretrained(args.out_dir)
    print(f"wrote {args.preset} model to {args.out_dir}", file=sys.stderr)
    return EXIT_OK


def _convert_seed(args: argparse.Namespace) -> int:
    from .convert import convert_seed

    convert_seed(args.model_pth, args.out_dir, text_backbone=args.text_backbone)
    print(f"wrote converted seed model to {args.out_dir}", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser(settings).parse_args(argv)
    if not args.verbose:  # numerical warnings name files inside the installation; the notes say what matters
        warnings.simplefilter("ignore", RuntimeWarning)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for noisy in ("faster_whisper", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    handlers = {"analyze": _analyze, "init-model": _init_model, "convert-seed": _convert_seed}
    try:
        return handlers[args.command](args)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
