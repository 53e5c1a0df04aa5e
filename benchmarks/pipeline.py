"""End-to-end pipeline timings on a 60 s speech video: cpu preset, seed preset, and a seed-style reference.

The seed-style reference is how the tutorial served a video: per utterance, cut it with ffmpeg (libx264
re-encode) to a temp file, extract its audio to WAV with ffmpeg, read the first 30 frames at 224x224 with OpenCV,
mel from the WAV, and one forward pass of the seed model per utterance. All three use the same ASR model.
Peak memory of a 10-minute video is compared with a 1-minute one in fresh processes.

    python -m benchmarks.pipeline [--skip-seed] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from benchmarks.common import bert_base_dir

SCRIPT = [
    "Hey, did you hear what happened at the office today? I honestly could not believe it.",
    "The manager walked in and announced that everyone is getting a bonus this year.",
    "I was so happy I almost started dancing right there in the middle of the meeting.",
    "But then Mark said his whole team was being moved to another city next month.",
    "He looked really upset, and honestly I feel terrible for him and his family.",
    "Why would they do something like that without asking anyone first? It makes me so angry.",
    "Anyway, we are going out for dinner tonight to celebrate. Do you want to come with us?",
    "Oh no, wait. I completely forgot that I promised my mother I would visit her this evening.",
    "She has been feeling lonely since my father passed away last winter.",
    "Maybe we can all get together this weekend instead. That would be really nice.",
]


def make_minute_video(path: Path) -> Path:
    """About 60 s: the script spoken by espeak-ng over moving 640x360 frames."""
    from mmsa.synth import make_video

    return make_video(path, " ".join(SCRIPT), size=(640, 360), fps=25, duration=60.0)


def make_long_video(minute: Path, path: Path, minutes: int = 10) -> Path:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-stream_loop", str(minutes - 1), "-i", str(minute),
                    "-c", "copy", str(path)], check=True)
    return path


def run_pipeline(model, asr, video: Path) -> dict:
    from mmsa.analyze import Analyzer

    analyzer = Analyzer(model, asr)
    analyzer.warm_up()
    t = time.perf_counter()
    analysis = analyzer.analyze(video)
    wall = time.perf_counter() - t
    return {"wall": wall, "timings": analysis.timings, "utterances": len(analysis.utterances)}


def run_seed_reference(model, asr, video: Path) -> dict:
    """The tutorial's serving path, re-created: re-encode every utterance, decode it again, first 30 frames."""
    import cv2
    import numpy as np
    import torch
    import torchaudio

    from mmsa.transcribe import ASR_BEAM_SIZE

    timings = {"transcribe": 0.0, "cut_reencode": 0.0, "decode": 0.0, "features": 0.0, "model": 0.0}
    mel_tf = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=64, n_fft=1024, hop_length=512)
    t_all = time.perf_counter()
    t = time.perf_counter()
    segments, _ = asr.transcribe(str(video), language="en", beam_size=ASR_BEAM_SIZE, condition_on_previous_text=False,
                                 vad_filter=True)
    segments = list(segments)
    timings["transcribe"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        for i, seg in enumerate(segments):
            clip, wav = Path(tmp) / f"seg{i}.mp4", Path(tmp) / f"seg{i}.wav"
            t = time.perf_counter()
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-ss", f"{seg.start}",
                            "-to", f"{seg.end}", "-c:v", "libx264", "-c:a", "aac", "-preset", "fast", str(clip)],
                           check=True)
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(clip), "-vn", "-acodec", "pcm_s16le",
                            "-ar", "16000", "-ac", "1", str(wav)], check=True)
            timings["cut_reencode"] += time.perf_counter() - t
            t = time.perf_counter()
            cap = cv2.VideoCapture(str(clip))
            frames = []
            while len(frames) < 30:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(cv2.resize(frame, (224, 224)) / 255.0)
            cap.release()
            while len(frames) < 30:
                frames.append(np.zeros((224, 224, 3)))
            waveform = read_wav(wav)  # (torchaudio.load needs torchcodec in 2.11; the cost is the same)
            timings["decode"] += time.perf_counter() - t
            t = time.perf_counter()
            video_t = torch.tensor(np.stack(frames), dtype=torch.float32).permute(0, 3, 1, 2).unsqueeze(0)
            mel = mel_tf(waveform)
            mel = (mel - mel.mean()) / mel.std()
            mel = torch.nn.functional.pad(mel, (0, max(0, 300 - mel.shape[2])))[:, :, :300]
            tok = model.tokenizer(seg.text, padding="max_length", truncation=True, max_length=128, return_tensors="pt")
            timings["features"] += time.perf_counter() - t
            t = time.perf_counter()
            with torch.inference_mode():
                model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"], audio=mel,
                      audio_lengths=torch.tensor([300]), video=video_t)
            timings["model"] += time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    return {"wall": timings["total"], "timings": timings, "utterances": len(segments)}


def read_wav(path: Path):
    """16-bit PCM WAV -> float tensor (1, samples)."""
    import wave

    import numpy as np
    import torch

    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    return torch.from_numpy(data).unsqueeze(0)


def memory_child(model_dir: str, video: str) -> None:
    from mmsa.analyze import Analyzer

    analyzer = Analyzer(model_dir)
    before = peak_rss_mb()
    analysis = analyzer.analyze(video)
    print(json.dumps({"peak_mb": peak_rss_mb(), "after_load_mb": before, "utterances": len(analysis.utterances),
                      "total_s": analysis.timings["total"]}))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over exec from the
    parent, so a child of a big benchmark process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(model_dir: Path, video: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.pipeline", "--memory-child", str(model_dir), str(video)],
                         cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_timings(timings: dict) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-seed", action="store_true", help="skip the seed preset and the reference")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(*args.memory_child)

    import torch

    from mmsa.model import MultimodalSentimentModel
    from mmsa.loading import minilm_dir
    from mmsa.transcribe import available_cores, default_asr, load_asr

    work = Path(tempfile.mkdtemp(prefix="mmsa_bench_"))
    minute = make_minute_video(work / "minute.mp4")
    torch.set_num_threads(available_cores())
    asr = load_asr(default_asr(), available_cores())
    cpu = MultimodalSentimentModel.from_preset("cpu", text_backbone=str(minilm_dir()), pretrained=False)
    print(f"video: 60 s, 640x360, 25 fps; ASR {default_asr()}; {available_cores()} cores", flush=True)
    results = {"cpu preset": run_pipeline(cpu, asr, minute)}
    print(f"cpu preset: {results['cpu preset']['wall']:.2f}s ({fmt_timings(results['cpu preset']['timings'])})",
          flush=True)
    if not args.skip_seed:
        seed = MultimodalSentimentModel.from_preset("seed", text_backbone=bert_base_dir(), pretrained=False)
        results["seed preset"] = run_pipeline(seed, asr, minute)
        print(f"seed preset: {results['seed preset']['wall']:.2f}s "
              f"({fmt_timings(results['seed preset']['timings'])})", flush=True)
        results["seed-style reference"] = run_seed_reference(seed, asr, minute)
        print(f"seed-style reference: {results['seed-style reference']['wall']:.2f}s "
              f"({fmt_timings(results['seed-style reference']['timings'])})", flush=True)
    print("\n| pipeline | utterances | end to end (s) | transcribe (s) | everything else (s) | else / transcribe |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        tr = r["timings"]["transcribe"]
        rest = r["wall"] - tr
        print(f"| {name} | {r['utterances']} | {r['wall']:.2f} | {tr:.2f} | {rest:.2f} | {rest / tr:.2f} |")
    if "seed-style reference" in results:
        print(f"\ncpu preset end to end vs seed-style reference: "
              f"{results['seed-style reference']['wall'] / results['cpu preset']['wall']:.1f}x faster")
    if not args.skip_memory:
        long_video = make_long_video(minute, work / "ten_minutes.mp4")
        model_dir = work / "cpu_model"
        cpu.save_pretrained(str(model_dir))
        one, ten = measure_memory(model_dir, minute), measure_memory(model_dir, long_video)
        print(f"\npeak RSS: 1 min {one['peak_mb']:.0f} MB ({one['utterances']} utterances, {one['total_s']:.1f}s), "
              f"10 min {ten['peak_mb']:.0f} MB ({ten['utterances']} utterances, {ten['total_s']:.1f}s); "
              f"ratio {ten['peak_mb'] / one['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
