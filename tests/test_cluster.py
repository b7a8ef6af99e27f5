"""Batches on Ray: the same files as a local batch, nothing lost when a worker dies, resumable.

One local Ray instance of 2 CPUs (loopback only) serves the whole module and is shut down
at its end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import TransferConfig
from brushwork.frontends.cli import main
from brushwork.media.image_io import read_metadata
from brushwork.pipeline.batch import MANIFEST, plan_batch, run_batch
from brushwork.pipeline.cluster import LOOPBACK_ONLY, RaySettings, ray_executor
from brushwork.pipeline.runner import TransferRequest

CONFIG = TransferConfig(size=64, steps=3, scales=1, device="cpu", precision="float32", seed=2)
SLOW = TransferConfig(size=96, steps=40, scales=1, device="cpu", precision="float32", seed=2)  # a few seconds an item
WORKERS = RaySettings(workers=2, threads_per_worker=1)


@pytest.fixture(scope="module")
def ray_instance():
    os.environ.setdefault(LOOPBACK_ONLY, "0")  # before ray is imported: its servers listen on loopback only
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture()
def photos(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(1)
    for index in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)).resize((96, 64)).save(root / f"p{index}.png")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    return root


def requests(config):
    return lambda item: TransferRequest(item.content, [item.style], config, output=item.output)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_a_ray_batch_writes_what_a_local_batch_writes(ray_instance, photos, tmp_path):
    """Same seeds, same threads, same machine: the same pixels and the same recorded inputs."""
    contents = [str(p) for p in sorted(photos.glob("*.png"))[:3]]
    local = plan_batch(contents, [str(tmp_path / "style.png")], tmp_path / "local")
    on_ray = plan_batch(contents, [str(tmp_path / "style.png")], tmp_path / "ray")
    threads = torch.get_num_threads()
    torch.set_num_threads(WORKERS.threads_per_worker)
    try:
        run_batch(local, requests(CONFIG), tmp_path / "local" / MANIFEST, scores=False)
    finally:
        torch.set_num_threads(threads)
    with ray_executor(WORKERS, scores=True) as executor:
        summary = run_batch(on_ray, requests(CONFIG), tmp_path / "ray" / MANIFEST, executor=executor)
    assert (summary.done, summary.failed) == (3, 0)
    for a, b in zip(local, on_ray):
        assert np.array_equal(pixels(a.output), pixels(b.output)), b.output
        assert read_metadata(b.output)["parameters"] == read_metadata(a.output)["parameters"]
        assert read_metadata(b.output)["content"] == a.content  # the driver's path, not the worker's copy
    lines = [json.loads(text) for text in (tmp_path / "ray" / MANIFEST).read_text().splitlines()]
    assert all(line["attempts"] == 1 and line["worker"] and line["scores"]["style_distance"] > 0 for line in lines)
    assert not list((tmp_path / "ray").glob(".*.tmp"))  # written atomically: no leftovers


def _kill_one_running_item(killed: list[int], stop: threading.Event) -> None:
    """Find a Ray worker process busy with an item (Ray titles it after the task) and kill it."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::stylize_item"):
                time.sleep(0.5)  # well into the item
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.05)


def test_an_item_whose_worker_is_killed_runs_again_and_the_batch_completes(ray_instance, photos, tmp_path):
    items = plan_batch([str(photos)], [str(tmp_path / "style.png")], tmp_path / "out")
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_one_running_item, args=(killed, stop), daemon=True)
    killer.start()
    try:
        with ray_executor(WORKERS, scores=False) as executor:
            summary = run_batch(items, requests(SLOW), tmp_path / "out" / MANIFEST, executor=executor)
    finally:
        stop.set()
    assert killed, "no worker was found busy with an item"
    assert (summary.done, summary.failed) == (4, 0)
    assert all(item.output.is_file() for item in items)
    retried = [line for line in summary.lines if line["attempts"] > 1]
    assert len(retried) == 1 and not retried[0]["worker"].endswith(f":{killed[0]}"), summary.lines


def test_a_stopped_ray_batch_resumes_without_redoing_finished_items(ray_instance, photos, tmp_path):
    items = plan_batch([str(photos)], [str(tmp_path / "style.png")], tmp_path / "out")
    manifest = tmp_path / "out" / MANIFEST

    def stop_after_first(index, item, line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), ray_executor(WORKERS, scores=False) as executor:
        run_batch(items, requests(CONFIG), manifest, executor=executor, on_item=stop_after_first)
    finished = [Path(json.loads(text)["output"]) for text in manifest.read_text().splitlines()]
    assert len(finished) == 1 and finished[0].is_file()
    written = finished[0].stat().st_mtime_ns
    with ray_executor(WORKERS, scores=False) as executor:
        summary = run_batch(items, requests(CONFIG), manifest, executor=executor)
    assert (summary.skipped, summary.done) == (1, 3)
    assert finished[0].stat().st_mtime_ns == written


def test_ray_without_ray_installed_says_how_to_install_it(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    code = main(["batch", str(photos), "--style", "sample:strokes", "-o", str(tmp_path / "out"), "--ray", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pip install 'brushwork[ray]'" in err
    assert not (tmp_path / "out").exists()


def test_workers_without_ray_is_refused(photos, tmp_path, capsys):
    code = main(["batch", str(photos), "--style", "sample:strokes", "-o", str(tmp_path / "out"), "--workers", "2"])
    assert code == 2 and "--ray" in capsys.readouterr().err


def test_video_frames_painted_on_ray_are_the_local_ones(ray_instance, tmp_path, capsys):
    """The networks' passes run ahead on the workers; the temporal filter runs in order here,
    so the frames (and their steadiness) are those of a local run with as many threads."""
    from clips import make_clip

    from brushwork.pipeline.cluster import ray_painter
    from brushwork.pipeline.video import VideoRequest, stylize_video

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=12, size=(96, 64))
    config = TransferConfig(size=96, precision="float32", device="cpu")

    def request(name):
        return VideoRequest(clip, f"{tmp_path / name}/", ["sample:strokes"], config, method="adain")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stylize_video(request("local"))
    finally:
        torch.set_num_threads(threads)
    with ray_painter(WORKERS, request("ray")) as painter:
        result = stylize_video(request("ray"), painter=painter)
    assert result.frames == 12
    local, remote = sorted((tmp_path / "local").glob("*.png")), sorted((tmp_path / "ray").glob("*.png"))
    assert len(local) == len(remote) == 12
    for a, b in zip(local, remote):
        assert np.abs(pixels(a).astype(int) - pixels(b).astype(int)).max() <= 1, b


def test_the_optimisers_video_on_ray_is_the_chunked_local_run(ray_instance, tmp_path, capsys):
    """brushwork video --ray with the optimiser: two chunks painted on the two workers (each
    computing its own flow), cross-faded here: the frames of the same chunks painted locally."""
    from clips import make_clip

    from brushwork.pipeline.runner import Runner
    from brushwork.pipeline.video import VideoRequest, chunked_painter, local_chunks, stylize_video

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=12, size=(64, 48), audio=False)
    flags = ["--size", "64", "--steps", "4", "--scales", "2", "--precision", "float32", "--device", "cpu",
             "--seed", "0", "--chunk-overlap", "3"]
    code = main(["video", str(clip), "-o", f"{tmp_path / 'ray'}/", "--style", "sample:strokes", "--ray",
                 "--workers", "2", "--quiet", *flags])
    assert code == 0, capsys.readouterr().err
    config = TransferConfig(size=64, steps=4, scales=2, precision="float32", device="cpu", seed=0)
    request = VideoRequest(clip, f"{tmp_path / 'local'}/", ["sample:strokes"], config, chunk_overlap=3)
    runner = Runner()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stylize_video(request, runner=runner, painter=chunked_painter(request, 2, local_chunks(runner, request)))
    finally:
        torch.set_num_threads(threads)
    local, remote = sorted((tmp_path / "local").glob("*.png")), sorted((tmp_path / "ray").glob("*.png"))
    assert len(local) == len(remote) == 12
    for a, b in zip(local, remote):
        assert np.abs(pixels(a).astype(int) - pixels(b).astype(int)).max() <= 1, b


class Stop(Exception):
    pass


def test_a_heartbeat_stops_a_ray_video_while_a_chunk_is_painted(ray_instance, tmp_path):
    """A chunk takes minutes: the driver calls the heartbeat while it waits (the studio's
    cancel raises from it), so a stop takes effect at once, and the chunk's task is cancelled."""
    from clips import make_clip

    from brushwork.pipeline.cluster import ray_painter
    from brushwork.pipeline.video import VideoRequest, stylize_video

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=6, size=(96, 64), audio=False)
    slow = TransferConfig(size=96, steps=400, scales=1, device="cpu", precision="float32")
    request = VideoRequest(clip, tmp_path / "out.mp4", ["sample:strokes"], slow, chunk_overlap=0)
    beats = []

    def heartbeat():
        beats.append(time.monotonic())
        if beats[-1] - beats[0] > 1.0:
            raise Stop

    started = time.monotonic()
    with pytest.raises(Stop):
        with ray_painter(WORKERS, request, heartbeat=heartbeat) as painter:
            stylize_video(request, painter=painter)
    assert time.monotonic() - started < 15 and len(beats) >= 2
    assert not (tmp_path / "out.mp4").exists()


def test_the_studio_on_ray_runs_jobs_with_their_progress_and_cancels_them(ray_instance, tmp_path, monkeypatch):
    """serve --ray: the jobs run on Ray workers (the server's own runner is never called),
    with one progress event per step, a downloadable result, and cancel stopping a job."""
    from fastapi.testclient import TestClient

    from brushwork.pipeline.runner import Runner
    from brushwork.studio.jobs import StudioSettings
    from brushwork.studio.server import create_app

    def not_here(self, request, **kwargs):
        raise AssertionError("the job ran in the server's process")

    monkeypatch.setattr(Runner, "run", not_here)
    tiny = {"size": 64, "steps": 6, "scales": 1, "precision": "float32", "reference_size": 0}  # computed at 64 px
    settings = StudioSettings(data=tmp_path / "studio", preview_every=0.0, ray=WORKERS)
    with TestClient(base_url="http://localhost", app=create_app(settings)) as client:
        job = client.post("/api/jobs", json={"content": "sample:chelsea", "styles": ["sample:strokes"],
                                             "options": tiny}).json()
        done = _wait(client, job["id"], {"done", "failed"})
        assert done["status"] == "done", done
        assert [step for step, _ in done["history"]] == list(range(1, 7))
        result = client.get(f"/api/jobs/{job['id']}/result")
        image = Image.open(__import__("io").BytesIO(result.content))
        assert result.status_code == 200 and max(image.size) == 64
        assert json.loads(image.info["brushwork"])["job"] == job["id"]

        long = client.post("/api/jobs", json={"content": "sample:chelsea", "styles": ["sample:strokes"],
                                              "options": {**tiny, "steps": 2000}}).json()
        _wait(client, long["id"], {"running"}, progress=True)
        assert client.post(f"/api/jobs/{long['id']}/cancel").status_code == 200
        ended = _wait(client, long["id"], {"cancelled", "done", "failed"})
        assert ended["status"] == "cancelled" and ended["progress"]["step"] < 2000


def _wait(client, job_id: str, statuses: set[str], *, progress: bool = False, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses and (not progress or job.get("progress")):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")
