"""The real app on a loopback port: gradio_client, headless Chromium, bad input, concurrency."""

import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import SPEECH_WORDS, start_app

pytestmark = pytest.mark.e2e  # real speech recognition, a browser or a moto server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app_url(tiny_model_dir, tmp_path_factory):
    yield from start_app(tmp_path_factory.mktemp("app") / "app.log", MMSA_MODEL=str(tiny_model_dir))


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("timings", "source")}


def _assert_close(a, b, path="result"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert abs(a - b) <= 2e-4, f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_client_gets_the_analyzer_answer(client, speech_video, tiny_model_dir):
    from gradio_client import handle_file

    from mmsa.analyze import Analyzer

    result = client.predict(handle_file(str(speech_video)), api_name="/analyze")
    assert {"model", "duration", "utterances", "summary", "timings"} <= set(result)
    text = " ".join(u["text"] for u in result["utterances"]).lower()
    assert all(w in text for w in SPEECH_WORDS), text
    expected = Analyzer(str(tiny_model_dir)).analyze(speech_video).to_dict()
    _assert_close(_strip(result), _strip(expected))


def test_bad_file_fails_over_the_api_and_the_next_request_succeeds(client, speech_video, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "notes.txt"
    bad.write_text("this is a text file, not a video\n")
    with pytest.raises(Exception, match="not a readable audio or video file"):
        client.predict(handle_file(str(bad)), api_name="/analyze")
    ok = client.predict(handle_file(str(speech_video)), api_name="/analyze")
    assert ok["utterances"]


def test_four_concurrent_requests_all_complete(client, speech_video):
    from gradio_client import handle_file

    def one(_):
        return client.predict(handle_file(str(speech_video)), api_name="/analyze")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(4), timeout=600))
    assert len(results) == 4
    assert all(r["utterances"] and "happy" in " ".join(u["text"] for u in r["utterances"]).lower() for r in results)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile; never a downloaded browser."""
    from playwright.sync_api import sync_playwright

    assert Path("/usr/bin/chromium").exists(), "apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path="/usr/bin/chromium", headless=True,
            viewport={"width": 1280, "height": 1800},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"])
        yield context
        context.close()


def _upload(page, app_url, path: Path):
    page.goto(app_url, wait_until="networkidle")
    page.locator("#video-in input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(1000)
    page.locator("#analyze-btn").click()


def test_browser_upload_analyze_and_read_results(browser, app_url, speech_video, tmp_path):
    page = browser.new_page()
    _upload(page, app_url, speech_video)
    from playwright.sync_api import expect

    table = page.locator("#utterances")
    expect(table).to_contain_text("happy", timeout=120_000)
    expect(page.locator("#transcript")).to_contain_text("happy")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "analysis.png"), full_page=True)
    body = page.inner_text("body").lower()
    assert all(w in body for w in SPEECH_WORDS)
    assert any(e in table.inner_text().lower() for e in ("anger", "disgust", "fear", "joy", "neutral", "sadness",
                                                           "surprise"))
    assert "tiny.en" in page.inner_text("#model-note")
    assert not page.locator("#speakers").is_visible()  # one voice: no speaker table, as before
    page.close()


def test_browser_shows_a_lane_and_a_row_per_speaker(browser, app_url, tmp_path):
    from playwright.sync_api import expect

    from mmsa.synth import make_conversation

    clip = tmp_path / "interview.mp4"
    make_conversation(clip, [(0, "Welcome to the show, it is good to have you here."),
                             (1, "Thank you, I am very happy to be here today."),
                             (0, "Tell me about your new book and how it started."),
                             (1, "It started as a small story about my grandmother.")])
    page = browser.new_page()
    _upload(page, app_url, clip)
    speakers = page.locator("#speakers")
    expect(speakers).to_contain_text("S2", timeout=120_000)
    text = speakers.inner_text()
    assert "S1" in text and "S3" not in text and "%" in text
    expect(page.locator("#transcript")).to_contain_text("S2: ")
    page.screenshot(path=str(tmp_path / "speakers.png"), full_page=True)
    page.close()


def test_browser_shows_an_error_for_a_text_file(browser, app_url, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is a text file pretending to be a video\n")
    page = browser.new_page()
    _upload(page, app_url, bad)
    page.get_by_text("not a readable audio or video file", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "error.png"))
    page.close()


def test_mcp_server_lists_the_analyze_tool(tiny_model_dir, tmp_path):
    import json as _json

    server = start_app(tmp_path / "mcp.log", MMSA_MODEL=str(tiny_model_dir), MMSA_MCP="1")
    url = next(server)
    try:
        schema = _json.loads(urllib.request.urlopen(url + "gradio_api/mcp/schema", timeout=10).read())
    finally:
        next(server, None)
    tool = next(t for t in schema if t["name"] == "analyze")
    assert "emotion and sentiment of every utterance" in tool["description"]
    assert "video" in tool["inputSchema"]["properties"]
    assert "at most 10 minutes" in tool["inputSchema"]["properties"]["video"]["description"]


def _no_server_paths(text: str) -> bool:
    import tempfile

    return not any(p in text for p in (str(ROOT), tempfile.gettempdir() + "/", str(Path.home()) + "/"))


def test_hostile_and_broken_uploads_between_good_ones(client, speech_video, tmp_path, tmp_path_factory):
    from gradio_client import handle_file

    secret = tmp_path_factory.mktemp("server_side") / "private.mp4"  # a file the server has, the user does not
    secret.write_bytes(speech_video.read_bytes())
    playlist = tmp_path / "upload.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5,\n{secret}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 200)
    first = client.predict(handle_file(str(speech_video)), api_name="/analyze")
    for bad, expected in ((playlist, "Playlists (.m3u8), concat lists"), (noise, "not a readable audio or video"),
                          (concat, "Playlists (.m3u8), concat lists")):
        with pytest.raises(Exception) as err:
            client.predict(handle_file(str(bad)), api_name="/analyze")
        assert expected in str(err.value) and _no_server_paths(str(err.value)), str(err.value)
        again = client.predict(handle_file(str(speech_video)), api_name="/analyze")
        _assert_close(_strip(again), _strip(first))


def test_a_crafted_payload_gets_no_internals(app_url):
    """A file reference the server never handed out: refused, and the answer names no path and no library."""
    import json as _json

    body = _json.dumps({"data": [{"path": str(ROOT / "app.py"), "meta": {"_type": "gradio.FileData"}}]}).encode()
    req = urllib.request.Request(app_url + "gradio_api/call/analyze", data=body,
                                 headers={"Content-Type": "application/json"})
    event = _json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(f"{app_url}gradio_api/call/analyze/{event}", timeout=60).read().decode()
    assert "event: error" in stream
    assert _no_server_paths(stream) and "app.py" not in stream and "pydantic" not in stream.lower(), stream


def test_a_malformed_model_folder_shows_the_banner(tiny_model_dir, tmp_path):
    import json as _json
    import shutil

    from gradio_client import Client, handle_file

    folder = tmp_path / "broken_model"
    shutil.copytree(tiny_model_dir, folder)
    config = _json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(_json.dumps(dict(config, dropout="0.2")))
    server = start_app(tmp_path / "broken.log", MMSA_MODEL=str(folder))
    url = next(server)
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "The model could not be loaded" in page and "dropout must be a number" in page
        with pytest.raises(Exception, match="The model is not available: .*dropout must be a number") as err:
            Client(url, verbose=False).predict(handle_file(str(tmp_path / "broken.log")), api_name="/analyze")
        assert _no_server_paths(str(err.value))
    finally:
        next(server, None)


def test_downloads_are_per_process_bounded_and_only_for_analyses_made_here(tiny_model_dir, tmp_path, speech_video):
    import os
    import subprocess
    import sys

    # render() is reachable through the queue API (the page calls it): it must not write for results it never made
    code = ("import json, sys, app\n"
            f"result = app.analyze({str(speech_video)!r})\n"
            "forged = json.loads(json.dumps(result)); forged['utterances'][0]['text'] = 'not made here'\n"
            "app.render(None, forged); print('forged', sorted(p.name for p in app.RECENT.root.iterdir()))\n"
            "files = [app.render(None, result)[8] for _ in range(3)]\n"
            "print('same', files[0] == files[1] == files[2], len(files[0]), list(app.RECENT.root.iterdir()) != [])\n"
            "for i in range(app.Recent.KEPT): app.RECENT.add(str(i), [])\n"
            "print('evicted', [p for p in app.RECENT.root.iterdir()])\n"
            "print('root', app.RECENT.root.parent.name, app.demo.delete_cache, app.RECENT.root.name)\n")
    env = dict(os.environ, MMSA_MODEL=str(tiny_model_dir), GRADIO_TEMP_DIR=str(tmp_path / "gradio"),
               HF_HUB_OFFLINE="1")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300, check=True).stdout.splitlines()[-4:] for _ in range(2)]
    for lines in runs:
        assert lines[0] == "forged []", lines
        assert lines[1] == "same True 3 True", lines
        assert lines[2] == "evicted []", lines
        assert lines[3].startswith("root gradio (3600, 3600) mmsa-exports-"), lines
    # each process had a folder of its own, removed when it ended: one instance never deletes another's files
    assert runs[0][3] != runs[1][3]
    assert list((tmp_path / "gradio").glob("mmsa-exports-*")) == []


CREMA_D = Path(os.environ.get("MMSA_TEST_CLIPS", "/nonexistent"))


@pytest.mark.skipif(not CREMA_D.is_dir(), reason="CREMA-D smoke clips not downloaded (set MMSA_TEST_CLIPS)")
def test_page_shows_every_branch_and_the_faces_it_read(browser, tmp_path):
    """A late-fusion model on a real acted clip: the modality table lists words, voice and face with their
    confidence, and the gallery shows the face crop the face branch read."""
    import subprocess

    import torch

    from mmsa.model import MultimodalSentimentModel

    torch.manual_seed(3)
    table = [[0.2, 0.5, 0.3]] * 7
    model = MultimodalSentimentModel.tiny(fusion="late", audio_backbone="whisper", video_backbone="face_cnn",
                                          face_width=4, derived_sentiment=["audio", "video"],
                                          emotion_to_sentiment=table)
    model.save_pretrained(str(tmp_path / "late"))
    clip = tmp_path / "clip.mp4"  # the browser plays mp4; the acted clip is FLV
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(CREMA_D / "1001_DFA_HAP_XX.flv"), "-c:v",
                    "libx264", "-c:a", "aac", str(clip)], check=True)
    server = start_app(tmp_path / "late.log", MMSA_MODEL=str(tmp_path / "late"))
    url = next(server)
    try:
        page = browser.new_page()
        _upload(page, url, clip)
        from playwright.sync_api import expect

        expect(page.locator("#modalities")).to_contain_text("face", timeout=120_000)
        text = page.locator("#modalities").inner_text()
        assert "words" in text and "voice" in text and "%" in text
        expect(page.locator("#faces img").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "faces.png"), full_page=True)
        page.close()
    finally:
        next(server, None)
