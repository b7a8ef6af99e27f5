"""The studio page in headless Chromium (Debian's package), driven by Playwright.

The test starts a real server on a free port, uploads a content and a style image through
the page, starts a tiny job, watches the preview change and downloads the result. Where
Chromium is missing the test is skipped, unless BRUSHWORK_REQUIRE_BROWSER=1 (CI sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from brushwork.media.image_io import save_image
from brushwork.studio.server import StudioSettings, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if CHROMIUM is None:
    if os.environ.get("BRUSHWORK_REQUIRE_BROWSER") == "1":
        raise RuntimeError("BRUSHWORK_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    import uvicorn

    port = free_port()
    app = create_app(StudioSettings(data=tmp_path / "studio", preview_every=0.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_upload_start_watch_and_download(server, tmp_path, content, style):
    content_file, style_file = tmp_path / "photo.png", tmp_path / "painting.png"
    save_image(content, content_file)
    save_image(style, style_file)
    screenshot = Path(os.environ.get("BRUSHWORK_SCREENSHOT", tmp_path / "studio.png"))

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(server + "/")
        page.wait_for_selector("#content-picker button")

        page.set_input_files("#content-file", str(content_file))
        page.wait_for_selector("#content-picker button.chosen[data-ref]:not([data-ref^='sample:'])")
        page.set_input_files("#style-file", str(style_file))
        page.wait_for_selector("#styles li")

        page.fill("#size", "64")
        page.fill("#steps", "12")
        page.click("details summary")
        page.fill("#opt-scales", "1")
        page.click("#start")

        previews: set[str] = set()
        deadline = time.monotonic() + 120
        while len(previews) < 2:
            assert time.monotonic() < deadline, f"the preview never changed: {previews}"
            src = page.get_attribute("#preview", "src") or ""
            if "/preview" in src and page.evaluate("document.getElementById('preview').naturalWidth") > 0:
                previews.add(src)
            time.sleep(0.02)
        assert "Step" in page.inner_text("#status") or "done" in page.inner_text("#status")
        shown, natural = page.evaluate("[document.getElementById('preview').clientWidth, document.getElementById('preview').naturalWidth]")
        assert shown > 2 * natural, (shown, natural)  # a 64 px preview fills the panel, not a stamp in its corner

        page.wait_for_selector("#download:not(.hidden)", timeout=120_000)
        assert "done" in page.inner_text("#status")
        with page.expect_download() as info:
            page.click("#download")
        downloaded = tmp_path / "result.png"
        info.value.save_as(downloaded)
        page.wait_for_selector(".card .badge.done")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()

    with Image.open(downloaded) as image:
        assert max(image.size) == 64
        meta = json.loads(image.info["brushwork"])
    assert meta["config"]["steps"] == 12 and meta["config"]["scales"] == 1


HOSTILE = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>", '"><svg onload="window.__xss=3">']


def test_hostile_strings_show_as_text_and_never_run(server, tmp_path):
    """Every string the gallery shows (request, options, note, error) is rendered as text.
    The records are written straight into the job table, as an older server or a bug might
    have left them: the page must not trust what the API accepts today."""
    from brushwork.studio.jobs import JobRequest, JobStore

    store = JobStore(tmp_path / "studio" / "brushwork.sqlite3")
    for i, text in enumerate(HOSTILE):
        job = store.add(JobRequest(contents=[text], styles=[text], options={"device": text, "style_schedule": text},
                                   quality=text))
        store.update(job.id, status="failed", finished=time.time(), error=f"error {i}: {text}", note=f"note {i}: {text}")
    store.close()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(server + "/")
        page.wait_for_selector(".card .note")
        time.sleep(0.5)  # give any injected handler the chance to fire
        assert page.evaluate("window.__xss") is None
        assert page.locator("#gallery img[src='x'], #gallery svg, #gallery script").count() == 0
        text = page.inner_text("#gallery")
        for i, hostile in enumerate(HOSTILE):
            assert f"error {i}: {hostile}" in text and f"note {i}: {hostile}" in text
        browser.close()


def test_presets_show_their_values_help_is_visible_and_several_photos_go_in_one_job(server, tmp_path, content):
    files = []
    for i in range(2):
        files.append(tmp_path / f"photo{i}.png")
        save_image(content.flip(-1) if i else content, files[-1])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 400, "height": 800})  # a phone-sized screen
        page.goto(server + "/")
        page.wait_for_selector("#content-picker button")
        assert page.locator(".settings .help").count() >= 8 and page.is_visible(".settings .help")
        page.select_option("#quality", "best")
        assert page.input_value("#steps") == "100"  # the preset's steps, shown where they run
        page.select_option("#quality", "draft")
        assert page.input_value("#steps") == "10"
        page.set_input_files("#content-file", [str(f) for f in files])
        page.wait_for_selector("#content-count:has-text('2 photos')")
        assert page.locator("#content-picker button.chosen").count() == 2
        assert "photo0.png" in page.get_attribute("#content-picker button.chosen >> nth=0", "title")
        browser.close()



def test_a_clip_uploads_shows_its_frames_and_comes_back_as_mp4_with_sound(server, tmp_path):
    from brushwork.media.video import probe

    from clips import make_clip

    clip = tmp_path / "walk.mp4"
    make_clip(clip, frames=16, size=(96, 64))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(server + "/")
        page.wait_for_selector("#content-picker button")
        page.check("#mode-video")
        assert page.is_hidden("#content-picker") and page.is_visible("#video-file")
        page.set_input_files("#video-file", str(clip))
        page.wait_for_selector("#clip-info:has-text('16 frames')")
        assert "with sound" in page.inner_text("#clip-info")
        page.select_option("#method", "fast")
        assert page.is_visible("#model")
        page.fill("#size", "64")
        page.click("#start")
        page.wait_for_selector("#status:has-text('Frame')", timeout=60_000)
        page.wait_for_selector("#download:not(.hidden)", timeout=120_000)
        assert page.is_visible("#result-video") and page.is_hidden("#preview")
        assert page.inner_text("#download") == "Download MP4"
        with page.expect_download() as info:
            page.click("#download")
        downloaded = tmp_path / "result.mp4"
        info.value.save_as(downloaded)
        page.wait_for_selector(".card .badge.done")
        assert "walk.mp4 (video)" in page.inner_text("#gallery")
        browser.close()
    result = probe(downloaded)
    assert (result.frames, result.has_audio, max(result.width, result.height)) == (16, True, 64)
