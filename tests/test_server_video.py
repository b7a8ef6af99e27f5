"""Video jobs in the web studio: upload a clip, follow its frames, download the MP4 with its
sound; caps at upload; a server stop mid-clip resumes from the finished frames."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from brushwork.media.video import probe
from brushwork.pipeline import runner
from brushwork.studio.server import StudioSettings, create_app

from clips import make_clip
from test_server import events, png_bytes, wait_for

FAST = {"method": "fast", "model": "starry_night", "styles": [], "options": {"size": 64}}


def studio(data, **caps) -> TestClient:
    return TestClient(base_url="http://localhost", app=create_app(StudioSettings(data=data, preview_every=0.0, **caps)))


def upload_clip(client, path, name="clip.mp4"):
    return client.post("/api/videos", files={"file": (name, path.read_bytes(), "application/octet-stream")})


def test_upload_a_clip_follow_its_frames_and_download_it_with_sound(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=12, size=(96, 64), vfr=True)
    with studio(tmp_path / "studio") as client:
        video = upload_clip(client, clip).json()
        assert (video["frames"], video["width"], video["height"], video["audio"]) == (12, 96, 64, True)
        assert video["name"] == "clip.mp4"
        assert client.get(video["poster_url"]).headers["content-type"] == "image/jpeg"
        response = client.post("/api/jobs", json={**FAST, "video": video["id"]})
        assert response.status_code == 201, response.text
        job = response.json()
        seen = events(client, job["id"])
        frames = [e["data"] for e in seen if e["event"] == "progress"]
        assert [p["frame"] for p in frames] == list(range(1, 13))
        assert all(p["frames"] == 12 and p["fps"] > 0 and p["eta"] >= 0 for p in frames)
        assert seen[-1]["data"] == {"status": "done"}
        record = client.get(f"/api/jobs/{job['id']}").json()
        assert record["labels"][video["id"]] == "clip.mp4" and record["result_urls"] == [f"/api/jobs/{job['id']}/result"]
        result = client.get(record["result_url"])
        assert result.headers["content-type"] == "video/mp4" and "clip.mp4" in result.headers["content-disposition"]
        out = tmp_path / "out.mp4"
        out.write_bytes(result.content)
        info = probe(out)
        assert (info.frames, info.has_audio, max(info.width, info.height)) == (12, True, 64)
        assert abs(info.duration - probe(clip).duration) < 1e-3
        assert client.get(f"/api/jobs/{job['id']}/results.zip").status_code == 409
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert not (tmp_path / "studio" / "results" / f"{job['id']}.mp4").exists()


@pytest.mark.parametrize("kind, status, message", [
    ("long", 422, "s long"), ("large", 422, "pixels per frame"), ("bytes", 413, "limit for a clip"),
    ("image", 422, "still image"), ("text", 422, "not a video"),
])
def test_clips_beyond_the_caps_are_refused_at_upload(tmp_path, kind, status, message):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=30, fps=10, size=(96, 64))  # 3 s, 6,144 pixels a frame
    caps = {"long": {"max_video_seconds": 2.0}, "large": {"max_video_pixels": 6000},
            "bytes": {"max_video_bytes": 2000}}.get(kind, {})
    if kind == "image":
        clip.write_bytes(png_bytes())
    elif kind == "text":
        clip.write_text("hello")
    with studio(tmp_path / "studio", **caps) as client:
        response = upload_clip(client, clip)
        assert response.status_code == status and message in response.json()["detail"], response.text
        assert not list((tmp_path / "studio" / "videos").iterdir())  # nothing kept


@pytest.mark.parametrize("body, message", [
    ({"video": "0" * 64}, "no video"),
    ({"options": {"size": 2000}}, "limit of 1024 px"),
    ({"content": "sample:chelsea"}, "give one of"),
    ({"method": "optimize", "styles": []}, "at least one style"),
    ({"model": "no_such_model"}, "no_such_model"),
])
def test_bad_video_jobs_get_422_and_say_why(tmp_path, body, message):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=4)
    with studio(tmp_path / "studio", run_jobs=False) as client:
        video = upload_clip(client, clip).json()
        response = client.post("/api/jobs", json={**FAST, "video": video["id"], **body})
        assert response.status_code == 422 and message in response.json()["detail"], response.text


def test_a_server_stop_mid_clip_resumes_from_the_finished_frames(tmp_path, monkeypatch):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=24, size=(96, 64))
    calls = []
    real = runner.Runner.run

    def slow(self, request, **kwargs):  # a frame takes long enough for the stop to land mid-clip
        calls.append(1)
        time.sleep(0.1)
        return real(self, request, **kwargs)

    monkeypatch.setattr(runner.Runner, "run", slow)
    data = tmp_path / "studio"
    with studio(data) as client:
        video = upload_clip(client, clip).json()
        job = client.post("/api/jobs", json={**FAST, "video": video["id"]}).json()
        events(client, job["id"], stop_after=lambda seen: any(e["data"].get("frame", 0) >= 6 for e in seen))
    done_before = len(list((data / "work" / job["id"]).glob("*.npy")))
    assert 6 <= done_before < 24
    calls.clear()
    with studio(data) as client:
        record = client.get(f"/api/jobs/{job['id']}").json()
        assert record["restarts"] == 1 and "resumes from its finished frames" in record["note"]
        assert wait_for(client, job["id"], {"done", "failed"})["status"] == "done"
        out = tmp_path / "out.mp4"
        out.write_bytes(client.get(f"/api/jobs/{job['id']}/result").content)
    assert probe(out).frames == 24 and len(calls) == 24 - done_before  # no finished frame redone
    assert not (data / "work" / job["id"]).exists()
