"""The studio against an attacker: hostile options, foreign Host names, weak tokens, a
second server on the same data, and a prompt, lossless stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from brushwork.frontends.cli import main
from brushwork.errors import InputError
from brushwork.studio.server import CONTENT_SECURITY_POLICY, StudioSettings, create_app

TINY = {"size": 64, "steps": 6, "scales": 1, "precision": "float32"}


@pytest.fixture()
def client(tmp_path):
    with TestClient(create_app(StudioSettings(data=tmp_path / "d", run_jobs=False)), base_url="http://localhost") as c:
        yield c


def post_job(client, **options):
    return client.post("/api/jobs", json={"content": "sample:chelsea", "styles": ["sample:strokes"],
                                          "options": {**TINY, **options}})


@pytest.mark.parametrize("options, message", [
    ({"device": "cuda:0<img src=x onerror=alert(1)>"}, "device"),
    ({"seed": 2**64}, "seed"),
    ({"seed": -1}, "seed"),
    ({"content_layers": []}, "content_layers"),
    ({"size": 8}, "output 8x5 is too small for layer relu5_1"),
    ({"size": 1}, "output 1x1 is too small"),
    ({"size": True}, "size"),
    ({"steps": 2.0}, "steps"),
    ({"lbfgs_history": 10**9}, "lbfgs_history"),
    ({"style_layer_weights": [1, 1]}, "2 style layer weights given for 5 style layers"),
    ({"tile": [128]}, "tile"),
    ({"tile": 64}, "tile"),
    ({"size": 256, "tile": 256}, "tile 256 px is not smaller than the output"),
])
def test_options_the_engine_would_refuse_are_refused_at_submission(client, options, message):
    response = post_job(client, **options)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert client.get("/api/jobs").json() == []


def test_a_size_that_does_not_fit_even_in_tiles_is_refused_at_submission(client, monkeypatch):
    from brushwork.engine import devices

    monkeypatch.setattr(devices, "available_memory", lambda device: int(1.5 * 2**30))
    response = post_job(client, size=2048)
    assert response.status_code == 422, response.text
    assert "even in tiles" in response.json()["detail"]
    assert client.get("/api/jobs").json() == []


def test_a_tile_is_one_whole_number(client):
    assert post_job(client, size=256, tile=128).status_code == 201


def test_every_page_forbids_inline_script(client):
    for path in ("/", "/studio/app.js", "/api/config"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    page = client.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and not re.search(r"\son[a-z]+\s*=", page)  # nothing inline


def test_without_a_token_only_loopback_names_are_answered(tmp_path):
    app = create_app(StudioSettings(data=tmp_path / "d", run_jobs=False))
    for base, status in (("http://localhost:8000", 200), ("http://127.0.0.1:8000", 200), ("http://[::1]:8000", 200),
                         ("http://evil.example:8000", 421), ("http://127.0.0.1.evil.example", 421)):
        with TestClient(app, base_url=base) as client:
            assert client.get("/api/jobs").status_code == status, base
            if status == 421:
                assert client.post("/api/jobs", json={}).status_code == 421


@pytest.mark.parametrize("token", ["", "short", "x" * 15])
def test_weak_tokens_are_refused(tmp_path, capsys, token):
    assert main(["serve", "--host", "0.0.0.0", "--token", token, "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("brushwork: error: a token needs at least 16 characters") and "\n" not in err


def test_a_second_server_on_the_same_data_is_refused(tmp_path, capsys):
    data = tmp_path / "d"
    first = create_app(StudioSettings(data=data, run_jobs=False))
    with pytest.raises(InputError, match="in use by another Brushwork studio"):
        create_app(StudioSettings(data=data, run_jobs=False))
    assert main(["serve", "--port", "8125", "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"data folder '{data}' is in use by another Brushwork studio (process {os.getpid()})" in err
    with TestClient(first, base_url="http://localhost"):
        pass  # its lifespan ends: the lock goes with it
    with TestClient(create_app(StudioSettings(data=data, run_jobs=False)), base_url="http://localhost") as client:
        assert client.get("/api/jobs").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("extra, within", [([], 10), (["--ray"], 30)], ids=["local", "ray"])
def test_sigterm_stops_promptly_while_a_browser_follows_a_job(tmp_path, extra, within):
    """On Ray too: the job running on a worker is requeued (Ray's own SIGTERM handler, which
    exits at once, must not replace the studio's); stopping its Ray instance takes longer."""
    port, data = _free_port(), tmp_path / "d"
    server = subprocess.Popen([sys.executable, "-m", "brushwork", "serve", "--port", str(port), "--data", str(data),
                               "--device", "cpu", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/config", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        job = httpx.post(base + "/api/jobs", json={"content": "sample:chelsea", "styles": ["sample:strokes"],
                                                   "options": {"size": 64, "steps": 5000, "scales": 1}}).json()
        following = threading.Event()
        stream_ended = threading.Event()

        def follow():
            with httpx.stream("GET", f"{base}/api/jobs/{job['id']}/events", timeout=120) as stream:
                for line in stream.iter_lines():
                    if line.startswith("event: progress"):
                        following.set()
            stream_ended.set()

        threading.Thread(target=follow, daemon=True).start()
        assert following.wait(60), "no progress event"
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=within + 10)
        assert time.monotonic() - stopped_at < within, "the server waited for the job instead of stopping"
        assert stream_ended.wait(5)
    finally:
        if server.poll() is None:
            server.kill()
    with sqlite3.connect(data / "brushwork.sqlite3") as db:
        status, restarts, note = db.execute("SELECT status, restarts, note FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert status == "queued" and restarts == 1 and "interrupted at step" in note, (status, restarts, note)


def test_uploads_are_stored_upright(client):
    import io

    from PIL import Image

    image, exif = Image.new("RGB", (120, 40), (200, 30, 30)), Image.Exif()
    exif[0x0112] = 6  # shown turned by a quarter: a portrait
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    stored = client.post("/api/images", files={"file": ("phone.jpg", buffer.getvalue(), "image/jpeg")}).json()
    assert (stored["width"], stored["height"]) == (40, 120)
