"""Screenshot the web studio mid-job into docs/studio.png (needs Debian's chromium).

    .venv/bin/python docs/make_studio_screenshot.py [--images ../shared/data/images]

Starts a studio on a free port with a fresh data folder, drives the page like a user
(upload a photo and a painting, pick settings, start), waits until the preview and the loss
curve have moved, and screenshots the page. A first, draft job is left in the gallery.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from brushwork.studio.server import StudioSettings, create_app

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--output", default=str(ROOT / "docs" / "studio.png"))
    args = parser.parse_args()
    images = Path(args.images)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="brushwork-studio-"))
    server = uvicorn.Server(uvicorn.Config(create_app(StudioSettings(data=data, preview_every=1.0)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#content-picker button")
            # a first, quick job so that the gallery has something in it
            page.click("#style-picker button")
            page.fill("#size", "192")
            page.select_option("#quality", "draft")
            page.click("#start")
            page.wait_for_selector("#download:not(.hidden)", timeout=300_000)
            page.click("#styles li button")  # remove that style again
            # the job in the screenshot: a shared photo and painting, uploaded through the page
            page.set_input_files("#content-file", str(next((images / "content").glob("golden_gate.*"))))
            page.wait_for_selector("#content-picker button.chosen[data-ref]:not([data-ref^='sample:'])")
            page.set_input_files("#style-file", str(next((images / "style").glob("starry_night.*"))))
            page.wait_for_selector("#styles li")
            page.fill("#size", "384")
            page.select_option("#quality", "default")
            page.click("#start")
            deadline = time.monotonic() + 600
            while "scale 3/3" not in page.inner_text("#status"):
                assert time.monotonic() < deadline, "the job never reached its last scale"
                time.sleep(0.5)
            time.sleep(6)
            page.screenshot(path=args.output, full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(60)  # the worker requeues its job and stops before the process ends
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
