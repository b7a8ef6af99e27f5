"""The web studio's JSON API, through an HTTP client: uploads, jobs, events, restarts, safety."""

from __future__ import annotations

import io
import json
import random
import re
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from brushwork.studio.server import StudioSettings, create_app

TINY = {"size": 64, "steps": 6, "scales": 1, "precision": "float32"}
LONG = {"size": 64, "steps": 4000, "scales": 1, "precision": "float32"}


def png_bytes(size=(80, 60), color=(200, 40, 40), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 8):  # some structure, so the style has something to work on
        image.paste((20, 20, 200), (x, 0, x + 3, size[1]))
    image.save(buffer, fmt)
    return buffer.getvalue()


def noise_png(side: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(0).randbytes(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def data(tmp_path):
    return tmp_path / "studio"


@pytest.fixture()
def client(data):
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, preview_every=0.0))) as c:
        yield c


def upload(client, payload: bytes, name="image.png"):
    return client.post("/api/images", files={"file": (name, payload, "application/octet-stream")})


def submit(client, content="sample:chelsea", styles=("sample:strokes",), **extra):
    body = {"content": content, "styles": list(styles), "options": dict(TINY), **extra}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def events(client, job_id: str, stop_after=None) -> list[dict]:
    """Read a job's event stream until it ends (or ``stop_after(events)`` says to stop)."""
    seen: list[dict] = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event: dict = {}
        for line in stream.iter_lines():
            if not line:
                seen.append(event)
                event = {}
                if stop_after and stop_after(seen):
                    break
                continue
            key, _, value = line.partition(": ")
            event[key] = json.loads(value) if key == "data" else value
    return seen


def wait_for(client, job_id: str, statuses: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}")


def test_upload_submit_follow_and_download(client):
    content = upload(client, png_bytes()).json()
    style = upload(client, png_bytes((64, 64), (240, 220, 60))).json()
    assert (content["width"], content["height"]) == (80, 60)
    assert client.get(content["url"]).headers["content-type"] == "image/png"
    job = submit(client, content["id"], [style["id"]])
    assert job["status"] == "queued" and job["position"] in (0, 1)

    seen = events(client, job["id"])
    ids = [int(e["id"]) for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    progress = [e["data"] for e in seen if e["event"] == "progress"]
    steps = [p["step"] for p in progress]
    assert steps == list(range(1, TINY["steps"] + 1)), "one progress event per step, in order"
    assert all({"scale", "scales", "eta", "losses", "total_steps"} <= p.keys() for p in progress)
    assert seen[-1] == {"id": seen[-1]["id"], "event": "status", "data": {"status": "done"}}
    assert progress[-1]["losses"]["total"] < progress[0]["losses"]["total"]

    result = client.get(f"/api/jobs/{job['id']}/result")
    assert result.status_code == 200 and "attachment" in result.headers["content-disposition"]
    image = Image.open(io.BytesIO(result.content))
    assert max(image.size) == 64
    meta = json.loads(image.info["brushwork"])
    assert meta["job"] == job["id"] and meta["config"]["steps"] == TINY["steps"] and meta["styles"] == [style["id"]]
    record = client.get(f"/api/jobs/{job['id']}").json()
    assert record["status"] == "done" and record["position"] is None and len(record["history"]) == TINY["steps"]
    assert client.get(f"/api/jobs/{job['id']}/preview").headers["content-type"] == "image/jpeg"


def test_cancel_running_and_queued_jobs_and_the_queue(client):
    running = submit(client, options=LONG)
    queued = submit(client, options=LONG)
    first = events(client, running["id"], stop_after=lambda seen: any(e["event"] == "progress" for e in seen))
    assert any(e["event"] == "progress" for e in first)
    assert client.get("/api/queue").json() == {"running": running["id"], "queued": [queued["id"]]}
    listed = {j["id"]: j["position"] for j in client.get("/api/jobs").json()}
    assert listed == {running["id"]: 0, queued["id"]: 1}

    assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{running['id']}/cancel").status_code == 200
    ended = wait_for(client, running["id"], {"cancelled", "done", "failed"})
    assert ended["status"] == "cancelled" and ended["progress"]["step"] < LONG["steps"]
    assert events(client, running["id"])[-1]["data"] == {"status": "cancelled"}
    assert client.get(f"/api/jobs/{running['id']}/result").status_code == 409
    assert client.post(f"/api/jobs/{running['id']}/cancel").status_code == 409
    assert client.get("/api/queue").json() == {"running": None, "queued": []}


def test_restart_with_the_same_data_keeps_every_job(data):
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, preview_every=0.0))) as client:
        done = submit(client)
        wait_for(client, done["id"], {"done"})
        interrupted = submit(client, options=LONG)
        events(client, interrupted["id"], stop_after=lambda seen: sum(e["event"] == "progress" for e in seen) >= 2)
    # the server stopped mid-job; a job submitted while no worker runs stays queued
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, run_jobs=False))) as client:
        waiting = submit(client)
        assert client.get(f"/api/jobs/{waiting['id']}").json()["status"] == "queued"

    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, preview_every=0.0))) as client:
        jobs = {j["id"]: j for j in client.get("/api/jobs").json()}
        assert set(jobs) == {done["id"], interrupted["id"], waiting["id"]}
        assert jobs[done["id"]]["status"] == "done"
        assert client.get(f"/api/jobs/{done['id']}/result").status_code == 200
        assert events(client, done["id"]) == [{"id": "1", "event": "status", "data": {"status": "done"}}]
        again = jobs[interrupted["id"]]
        assert again["restarts"] == 1 and "interrupted" in again["note"]
        # the interrupted job runs first, then the queued one
        assert client.get("/api/queue").json()["queued"][-1] == waiting["id"]
        client.post(f"/api/jobs/{interrupted['id']}/cancel")
        assert wait_for(client, waiting["id"], {"done", "failed"})["status"] == "done"


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (b"this is a text file, not an image", 422, "not an image"),
        (noise_png()[:3000], 422, "corrupt or truncated"),
        (b"", 422, "empty"),
        (b"GIF89a" + b"\0" * 40, 422, "upload"),
    ],
    ids=["text", "truncated-png", "empty", "fake-gif-header"],
)
def test_bad_uploads_are_rejected_with_a_message(client, payload, status, message):
    response = upload(client, payload, name="photo.png")
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_upload_caps(data):
    settings = StudioSettings(data=data, max_upload_bytes=5000, max_upload_pixels=100 * 100, run_jobs=False)
    with TestClient(base_url="http://localhost", app=create_app(settings)) as client:
        noisy = io.BytesIO()
        Image.frombytes("RGB", (60, 60), bytes(range(256)) * 42 + bytes(48)).save(noisy, "BMP")
        assert upload(client, noisy.getvalue()).status_code == 413
        big = upload(client, png_bytes((200, 120)))
        assert big.status_code == 413 and "pixels" in big.json()["detail"]
        assert upload(client, png_bytes((90, 90))).status_code == 201
        assert client.post("/api/images").status_code == 422  # no file at all


@pytest.mark.parametrize("path", ["/api/images/..%2F..%2Fetc%2Fpasswd", "/api/images/" + "a" * 63 + "g",
                                  "/api/images/sample:..%2Fsecret", "/api/jobs/..%2Fbrushwork.sqlite3",
                                  "/api/jobs/" + "0" * 32 + "/result"])
def test_no_request_reaches_the_file_system_unchecked(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "body, message",
    [
        ({"content": "../../etc/passwd"}, "no image"),
        ({"content": "a" * 64}, "no image"),
        ({"styles": ["sample:nonesuch"]}, "unknown sample"),
        ({"options": {"size": 100000}}, "size"),
        ({"options": {"size": 64, "style_weight": -1}}, "style_weight"),
        ({"options": {"size": 64, "style_layers": ["relu9_9"]}}, "relu9_9"),
        ({"options": {"size": 64, "steps": 0}}, "steps"),
        ({"options": {"size": 64, "refine_steps": 99_999}}, "refine_steps 99999 is over this server"),
        ({"options": {"size": 64, "tv_schedule": "wobbly:1:2"}}, "schedule"),
        ({"style_weights": [1, 2]}, "2 style weights"),
    ],
)
def test_bad_job_requests_get_422_and_say_why(data, body, message):
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, run_jobs=False, max_size=1024))) as client:
        request = {"content": "sample:chelsea", "styles": ["sample:strokes"], "options": TINY} | body
        response = client.post("/api/jobs", json=request)
        assert response.status_code == 422
        assert message in json.dumps(response.json()["detail"])
        assert client.get("/api/jobs").json() == []


def test_bad_masks_are_refused_at_submission(client):
    tall_mask = upload(client, png_bytes((20, 90), (255, 255, 255))).json()["id"]
    black = io.BytesIO()
    Image.new("L", (90, 60), 0).save(black, "PNG")
    black_mask = upload(client, black.getvalue()).json()["id"]
    for mask, message in ((tall_mask, "mask 1 is 20x90 but the content image is 451x300"),
                          (black_mask, "mask 1 .* is entirely black")):
        body = {"content": "sample:chelsea", "styles": ["sample:strokes"], "options": TINY, "masks": [mask]}
        response = client.post("/api/jobs", json=body)
        assert response.status_code == 422 and re.search(message, response.json()["detail"]), response.text
    assert client.get("/api/jobs").json() == []


def test_failed_job_reports_its_error_and_the_worker_goes_on(client, data):
    blocker = submit(client, options=LONG)
    content = upload(client, png_bytes((90, 60), (10, 200, 30))).json()["id"]
    bad = submit(client, content)
    good = submit(client)
    (data / "images" / f"{content}.png").unlink()  # gone between submission and run
    client.post(f"/api/jobs/{blocker['id']}/cancel")
    failed = wait_for(client, bad["id"], {"done", "failed"})
    assert failed["status"] == "failed" and failed["error"] == f"no image '{content}'"
    assert wait_for(client, good["id"], {"done", "failed"})["status"] == "done"


def test_rerun_with_tweaks_and_delete(client, data):
    first = submit(client)
    wait_for(client, first["id"], {"done"})
    rerun = client.post(f"/api/jobs/{first['id']}/rerun", json={"options": {"steps": 3}}).json()
    assert rerun["id"] != first["id"] and rerun["request"]["options"] == {**TINY, "steps": 3}
    assert client.delete(f"/api/jobs/{rerun['id']}").status_code in (204, 409)  # 409 while it runs
    wait_for(client, rerun["id"], {"done"})
    assert client.delete(f"/api/jobs/{first['id']}").status_code == 204
    assert client.get(f"/api/jobs/{first['id']}").status_code == 404
    assert not (data / "results" / f"{first['id']}.png").exists()


def test_token_is_required_when_set(data):
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, token="s3cret-s3cret-s3cret", run_jobs=False))) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer s3cret-s3cret-s3cret"}).status_code == 200
        page = client.get("/?token=s3cret-s3cret-s3cret")
        assert page.status_code == 200 and "brushwork_token" in page.headers["set-cookie"]
        assert client.get("/api/jobs").status_code == 200  # the cookie now carries it


def test_page_and_schema_describe_the_api(client):
    page = client.get("/")
    assert page.status_code == 200 and "Brushwork studio" in page.text
    assert client.get("/studio/app.js").status_code == 200
    schema = client.get("/openapi.json").json()
    options = schema["components"]["schemas"]["Options"]["properties"]
    assert {"size", "steps", "style_weight", "preserve_color", "init"} <= options.keys()
    config = client.get("/api/config").json()
    assert config["options"]["style_weight"]["default"] > 0 and "sample:chelsea" in config["samples"]["content"]


def test_serve_generates_a_token_off_loopback(tmp_path, monkeypatch, capsys):
    import uvicorn

    from brushwork.frontends.cli import main

    started = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: started.update(app=self.config.app, host=self.config.host))
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123", "--data", str(tmp_path / "d")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Brushwork studio: http://0.0.0.0:8123/?token=") and "a token guards it" in lines[1]
    token = lines[0].split("token=")[1]
    assert len(token) >= 16 and started["host"] == "0.0.0.0"
    with TestClient(base_url="http://203.0.113.9", app=started["app"]) as client:  # any name, with the token
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert main(["serve", "--port", "8124", "--data", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "?token=" not in out and "without a token: only this machine can connect" in out
    assert main(["serve", "--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err


def test_a_job_with_several_contents_gives_one_result_each_and_a_zip(client):
    import zipfile

    photo = upload(client, png_bytes((90, 60), (30, 160, 60)), name="holiday/beach day.png").json()
    assert photo["name"] == "beach day.png"  # the file name is kept as a label, never as a path
    body = {"contents": ["sample:chelsea", photo["id"]], "styles": ["sample:strokes"], "options": TINY}
    job = client.post("/api/jobs", json=body).json()
    seen = events(client, job["id"])
    items = {e["data"]["item"] for e in seen if e["event"] == "progress"}
    assert items == {1, 2} and all(e["data"]["items"] == 2 for e in seen if e["event"] == "progress")
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["status"] == "done" and len(done["result_urls"]) == 2 and done["labels"][photo["id"]] == "beach day.png"
    second = client.get(done["result_urls"][1])
    assert second.status_code == 200 and "beach_day" in second.headers["content-disposition"]
    assert json.loads(Image.open(io.BytesIO(second.content)).info["brushwork"])["content"] == photo["id"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(done["zip_url"]).content))
    names = archive.namelist()
    assert len(names) == 2 and any("chelsea" in n for n in names) and any("beach_day" in n for n in names)
    assert client.get(f"/api/jobs/{job['id']}/result?item=3").status_code == 404
    assert client.post("/api/jobs", json={**body, "content": "sample:coffee"}).status_code == 422  # one or the other


def test_job_lists_are_pages_of_summaries(data):
    with TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, run_jobs=False))) as client:
        ids = [submit(client)["id"] for _ in range(5)]
        page = client.get("/api/jobs?limit=2").json()
        assert [j["id"] for j in page] == ids[::-1][:2] and all(j["history"] == [] for j in page)
        assert [j["id"] for j in client.get("/api/jobs?limit=2&offset=4").json()] == [ids[0]]
        assert client.get("/api/jobs?limit=0").status_code == 422
