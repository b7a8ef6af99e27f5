"""Jobs of the web studio: records in SQLite, images as files beside it, one worker thread.

Everything lives under one data directory, so that stopping the server loses nothing::

    DATA/brushwork.sqlite3   one row per job: its request, status, progress and loss history
    DATA/images/ID.png       uploaded images, re-encoded as PNG; ID is the SHA-256 of the upload
    DATA/results/ID.png      finished images, with their parameters in PNG metadata
    DATA/previews/ID.jpg     the latest preview of a running job

A job that was running when the server stopped is queued again when it starts, with its
``restarts`` count raised and a note saying so; queued jobs simply run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from torch import Tensor

from brushwork.engine.devices import release_memory
from brushwork.errors import BrushworkError, ImageTooLarge, InputError
from brushwork.options import check_fields, option
from brushwork.media.image_io import atomic_write, decode_image, tensor_to_pil
from brushwork.engine.optimize import Progress
from brushwork.media.samples import SAMPLES
from brushwork.pipeline.cluster import RaySettings, RemoteRunner, ray_painter
from brushwork.pipeline.runner import METHODS, Method, Runner, TransferRequest
from brushwork.pipeline.video import VideoProgress, VideoRequest, stylize_video
from brushwork.studio.videos import VideoStore, clean_name
from brushwork.engine.transfer import TransferConfig
from brushwork.pipeline.settings import build_config

log = logging.getLogger("brushwork.studio.jobs")

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL = frozenset({"done", "failed", "cancelled"})
_IMAGE_ID = re.compile(r"[0-9a-f]{64}")
_JOB_ID = re.compile(r"[0-9a-f]{32}")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Host names a server without a token answers to: a web page elsewhere that rebinds its own
name to 127.0.0.1 (DNS rebinding) still sends its own name, and is refused."""
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class StudioSettings:
    """How a studio server runs; ``brushwork serve`` fills it from its flags."""

    data: Path
    token: str | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_pixels: int = 40_000_000
    max_size: int = option(2048, "largest output size a job may ask for, in pixels", min=32, max=16384)
    max_video_seconds: float = option(20.0, "longest clip a user may upload, in seconds", min=0.1, max=3600.0)
    max_video_pixels: int = option(1920 * 1080, "largest frame of an uploaded clip, in pixels (width x height)",
                                   min=64, max=8192 * 8192)
    max_video_bytes: int = option(200 * 1024 * 1024, "largest clip upload, in bytes", min=1024, max=1 << 40)
    max_video_size: int = option(1024, "largest long side of a stylized video, in pixels", min=32, max=8192)
    max_steps: int = 5000
    run_jobs: bool = True
    device: str = "auto"
    preview_every: float = 0.5
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    ray: RaySettings | None = None
    """Run the jobs on Ray (``brushwork serve --ray``): images and the networks' video frames."""

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise InputError(f"a token needs at least {MIN_TOKEN_LENGTH} characters (got {len(self.token)}); "
                             "leave --token out to have a strong one generated")
        check_fields(self)


@dataclass
class JobRequest:
    """What a user asks for: images by reference (an upload's id or ``sample:NAME``) and options.

    A job may carry several contents (a folder upload, a multi-select): each gets its own
    result, with the same styles and options.
    """

    contents: list[str]
    styles: list[str]
    style_weights: list[float] | None = None
    masks: list[str | None] | None = None
    quality: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    method: Method = "optimize"
    model: str | None = None
    """The network for ``fast`` (a shipped name); ``adain`` defaults to the shipped arbitrary-style one (WCT)."""
    video: str | None = None
    """An uploaded clip's id: a video job, whose one result is an MP4 (``contents`` is empty)."""
    temporal: bool = True
    """Video jobs: steady (optical flow) or every frame on its own."""

    def config(self, *, max_size: int, max_steps: int, device: str = "auto") -> TransferConfig:
        """The run's settings, checked; the server's caps on size and steps included, and
        ``device`` (the server's) in place of ``auto``."""
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.video is not None and (self.contents or self.style_weights or self.masks):
            raise InputError("a video job takes a clip and styles only (no contents, style weights or masks)")
        if self.video is None and not self.contents:
            raise InputError("give a content image (or a clip for a video job)")
        if not self.styles and self.method != "fast":
            raise InputError("choose at least one style (only method fast, whose network is its style, needs none)")
        config = build_config(self.options, quality=self.quality)
        if config.size > max_size:
            raise InputError(f"size {config.size} px is over this server's limit of {max_size} px")
        for name in ("steps", "refine_steps"):
            if getattr(config, name) > max_steps:
                raise InputError(f"{name} {getattr(config, name)} is over this server's limit of {max_steps}")
        if config.init == "image":
            raise InputError("init 'image' is not offered by the studio; use content or noise")
        if device != "auto" and config.device == "auto":
            config = replace(config, device=device)
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobRequest":
        """A stored request; rows written before jobs had several contents name one ``content``."""
        data = dict(data)
        if "content" in data:
            data["contents"] = [data.pop("content")]
        return cls(**data)

    def transfer_request(self, images: "ImageStore", config: TransferConfig, output: Path | None = None,
                         item: int = 0) -> TransferRequest:
        """The engine's request for content ``item`` of this job: files in place of references,
        which the output's metadata records as given."""
        content = self.contents[item]
        masks = None if self.masks is None else [None if m is None else images.source(m) for m in self.masks]
        return TransferRequest(images.source(content), [images.source(s) for s in self.styles], config,
                               method=self.method, model=self.model,
                               style_weights=self.style_weights, masks=masks, output=output,
                               metadata={"content": content, "styles": self.styles, "masks": self.masks})

    def video_request(self, videos: VideoStore, images: "ImageStore", config: TransferConfig, output: Path,
                      work_dir: Path) -> VideoRequest:
        """The engine's request for a video job; finished frames are kept in ``work_dir``, so a
        job interrupted by a server stop resumes from them."""
        return VideoRequest(videos.path(self.video), output, [images.source(s) for s in self.styles], config,
                            method=self.method, model=self.model, temporal=self.temporal, work_dir=work_dir)


@dataclass
class Job:
    """One row of the job table, as the API shows it."""

    id: str
    status: str
    request: JobRequest
    created: float
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] | None = None
    history: list[list[float]] = field(default_factory=list)
    error: str | None = None
    restarts: int = 0
    note: str | None = None


class ImageStore:
    """Uploaded images under ``DATA/images``, addressed by content hash; built-in samples by name."""

    def __init__(self, root: Path, *, max_bytes: int, max_pixels: int) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_pixels = max_bytes, max_pixels

    def add(self, data: bytes, name: str | None = None) -> tuple[str, int, int]:
        """Decode fully (the bytes decide, not the name), re-encode as PNG; return id, width,
        height. The upload's file name is kept beside it, as a label to show (never a path)."""
        if len(data) > self.max_bytes:
            raise ImageTooLarge(f"upload is {len(data):,} bytes; the limit is {self.max_bytes:,}")
        if not data:
            raise InputError("upload is empty")
        image = decode_image(data, "upload", max_pixels=self.max_pixels)
        image_id = hashlib.sha256(data).hexdigest()
        path = self.root / f"{image_id}.png"
        if not path.exists():
            with atomic_write(path) as handle:
                image.save(handle, format="PNG")
        label = clean_name(name)
        if label:
            with atomic_write(self.root / f"{image_id}.name") as handle:
                handle.write(label.encode())
        return image_id, image.width, image.height

    def name(self, ref: str) -> str:
        """What to call an image: a sample's name, an upload's file name, or its id's start."""
        if ref.startswith("sample:"):
            return ref[len("sample:"):]
        if _IMAGE_ID.fullmatch(ref):
            label = self.root / f"{ref}.name"
            if label.is_file():
                return label.read_text(errors="replace")
        return f"upload {ref[:6]}"

    def path(self, ref: str) -> Path:
        """The file of an uploaded image; only well-formed ids ever reach the file system."""
        if not _IMAGE_ID.fullmatch(ref):
            raise InputError(f"no image {ref!r}")
        path = self.root / f"{ref}.png"
        if not path.is_file():
            raise InputError(f"no image {ref!r}")
        return path

    def check(self, ref: str) -> None:
        if ref.startswith("sample:"):
            if ref[len("sample:"):] not in SAMPLES:
                raise InputError(f"unknown sample {ref!r}; samples are {', '.join(SAMPLES)}")
        else:
            self.path(ref)

    def source(self, ref: str) -> str | Path:
        """The file of an upload, or the sample's name, for the engine to read."""
        return ref if ref.startswith("sample:") else self.path(ref)


class JobStore:
    """The job table. One connection guarded by a lock: the worker and the server share it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.db: sqlite3.Connection | None = None
        self.open()

    def open(self) -> None:
        """Connect (again, after :meth:`close`): an app may be started and stopped repeatedly."""
        with self.lock:
            if self.db is not None:
                return
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, "
                "status TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, "
                "progress TEXT, history TEXT NOT NULL DEFAULT '[]', error TEXT, restarts INTEGER NOT NULL DEFAULT 0, "
                "note TEXT)"
            )

    def _row(self, row: tuple) -> Job:
        (_, id_, status, request, created, started, finished, progress, history, error, restarts, note) = row
        return Job(id_, status, JobRequest.from_dict(json.loads(request)), created, started, finished,
                   json.loads(progress) if progress else None, json.loads(history), error, restarts, note)

    def add(self, request: JobRequest) -> Job:
        job = Job(uuid.uuid4().hex, "queued", request, time.time())
        with self.lock:
            self.db.execute("INSERT INTO jobs (id, status, request, created) VALUES (?, ?, ?, ?)",
                            (job.id, job.status, json.dumps(asdict(request)), job.created))
        return job

    def get(self, job_id: str) -> Job | None:
        if not _JOB_ID.fullmatch(job_id):
            return None
        with self.lock:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(row) if row else None

    def page(self, limit: int, offset: int = 0) -> list[Job]:
        """Jobs newest first, ``limit`` of them after skipping ``offset``."""
        with self.lock:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [self._row(r) for r in rows]

    def queue(self) -> list[str]:
        """Ids of the running and queued jobs, in the order they run."""
        with self.lock:
            rows = self.db.execute(
                "SELECT id FROM jobs WHERE status IN ('running', 'queued') ORDER BY status = 'queued', seq").fetchall()
        return [r[0] for r in rows]

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it."""
        with self.lock:
            row = self.db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self.db.execute("UPDATE jobs SET status = 'running', started = ? WHERE seq = ?", (time.time(), row[0]))
        job = self._row(row)
        job.status = "running"
        return job

    def update(self, job_id: str, **values: Any) -> None:
        for key in ("progress", "history"):
            if key in values and not isinstance(values[key], str):
                values[key] = json.dumps(values[key])
        assignments = ", ".join(f"{k} = ?" for k in values)  # keys are this module's own, never a request's
        with self.lock:
            self.db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id))

    def delete(self, job_id: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def requeue(self, job_id: str, note: str) -> None:
        """Put a running job back at the head of the queue (a server stopping mid-job)."""
        with self.lock:
            self.db.execute("UPDATE jobs SET status = 'queued', restarts = restarts + 1, progress = NULL, history = '[]', "
                            "note = ? WHERE id = ? AND status = 'running'", (note, job_id))

    def requeue_interrupted(self) -> list[str]:
        """At start-up: jobs left running by a stopped server go back to the head of the queue."""
        with self.lock:
            rows = self.db.execute("SELECT id, progress, request FROM jobs WHERE status = 'running'").fetchall()
            for job_id, progress, request in rows:
                note = interruption_note(JobRequest.from_dict(json.loads(request)), json.loads(progress) if progress else None)
                self.db.execute(
                    "UPDATE jobs SET status = 'queued', restarts = restarts + 1, progress = NULL, history = '[]', "
                    "note = ? WHERE id = ?", (note, job_id))
        return [r[0] for r in rows]

    def close(self) -> None:
        with self.lock:
            if self.db is not None:
                self.db.close()
                self.db = None


def interruption_note(request: JobRequest, progress: dict[str, Any] | None) -> str:
    """What a job requeued after a server stop says: image jobs start again, video jobs keep
    their finished frames."""
    progress = progress or {}
    if request.video is not None:
        where = f" at frame {progress['frame']}" if progress.get("frame") else ""
        return f"interrupted{where} when the server stopped; resumes from its finished frames"
    where = f" at step {progress['step']}" if progress.get("step") else ""
    return f"interrupted{where} when the server stopped; restarted from the beginning"


class DataLock:
    """An exclusive lock on a data folder, so that two servers never run the same jobs.

    The lock is the operating system's (``flock`` on ``DATA/brushwork.lock``): it goes away
    with the process that held it, so a crashed server never leaves a stale lock behind.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / "brushwork.lock"
        self.handle = None

    def acquire(self) -> None:
        if self.handle is not None:
            return
        handle = open(self.path, "a+")
        try:
            _lock_file(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise InputError(f"data folder {str(self.path.parent)!r} is in use by another Brushwork studio "
                             f"(process {holder}); stop it, or give this one another --data folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the lock
            self.handle = None


def _lock_file(handle) -> None:
    """Take an exclusive, non-blocking lock on an open file; OSError if another process has it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class EventLog:
    """Per job, the events of this server's lifetime, numbered from 1, for Server-Sent Events.

    The worker appends; any number of readers poll :meth:`since` with the last number they saw.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list[dict[str, Any]]] = {}

    def append(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            log_ = self.events.setdefault(job_id, [])
            log_.append({"id": len(log_) + 1, "event": kind, "data": data})

    def since(self, job_id: str, last: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.get(job_id, [])[last:])

    def forget(self, job_id: str) -> None:
        with self.lock:
            self.events.pop(job_id, None)


class _Cancelled(Exception):
    """Raised from the progress callback to abandon a run (cancel or server stop)."""


class Worker:
    """Runs queued jobs one at a time in a background thread (one device, one job)."""

    def __init__(self, data: Path, store: JobStore, images: ImageStore, events: EventLog, *,
                 videos: VideoStore | None = None, preview_every: float = 0.5, device: str = "auto",
                 ray: RaySettings | None = None) -> None:
        self.store, self.images, self.events, self.videos = store, images, events, videos
        self.data = data
        self.results, self.previews = data / "results", data / "previews"
        self.results.mkdir(parents=True, exist_ok=True)
        self.previews.mkdir(parents=True, exist_ok=True)
        self.preview_every, self.device = preview_every, device
        self.runner = Runner()  # keeps the last styles' targets for the jobs that follow
        self.ray, self.remote = ray, None  # with Ray: a RemoteRunner while the worker runs
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancel_requested: set[str] = set()
        self.current: str | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopping.clear()
        if self.ray is not None and self.remote is None:
            self.remote = RemoteRunner(self.ray, preview_every=self.preview_every)
        self.thread = threading.Thread(target=self._loop, name="brushwork-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current step; the running job stays 'running' in the table, so the
        next start-up queues it again (exactly as after a crash)."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.remote is not None:
            self.remote.close()
            self.remote = None

    def submit(self) -> None:
        self.wake.set()

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False if it had already ended."""
        job = self.store.get(job_id)
        if job is None or job.status in FINAL:
            return False
        if job.status == "queued":
            self.store.update(job_id, status="cancelled", finished=time.time())
            self.events.append(job_id, "status", {"status": "cancelled"})
        else:
            self.cancel_requested.add(job_id)
        return True

    def _loop(self) -> None:
        while not self.stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self.current = job.id
            try:
                self._run(job)
            finally:
                self.current = None
                self.cancel_requested.discard(job.id)
                release_memory()

    def _run(self, job: Job) -> None:
        self.events.append(job.id, "status", {"status": "running", "restarts": job.restarts})
        run = _JobRun(self, job)
        try:
            note = run.video() if job.request.video is not None else run.images()
        except _Cancelled:
            if self.stopping.is_set() and job.id not in self.cancel_requested:
                log.info("job %s interrupted by server stop", job.id)
                self.store.requeue(job.id, interruption_note(job.request, run.progress))
                return
            self._finish(job.id, "cancelled", run.history)
            return
        except BrushworkError as exc:
            self._finish(job.id, "failed", run.history, str(exc))
            return
        except Exception as exc:  # a bug or an exhausted device must not kill the worker
            log.exception("job %s failed", job.id)
            self._finish(job.id, "failed", run.history, f"internal error: {type(exc).__name__}: {exc}")
            return
        finally:
            if job.request.video is not None and not self.stopping.is_set():
                shutil.rmtree(work_folder(self.data, job.id), ignore_errors=True)  # kept only for a resume
        if note:
            self.store.update(job.id, note=note)
        self._finish(job.id, "done", run.history)

    def _finish(self, job_id: str, status: str, history: list, error: str | None = None) -> None:
        self.store.update(job_id, status=status, finished=time.time(), history=history, error=error)
        self.events.append(job_id, "status", {"status": status, **({"error": error} if error else {})})

    def _write_preview(self, job_id: str, image: Tensor) -> None:
        with atomic_write(self.previews / f"{job_id}.jpg") as handle:
            tensor_to_pil(image).save(handle, format="JPEG", quality=85)


class _JobRun:
    """One run of one job: turns the engine's progress into the job's events, previews and
    table row, and stops the engine (by raising) when the job is cancelled or the server stops."""

    def __init__(self, worker: Worker, job: Job) -> None:
        self.worker, self.job = worker, job
        self.history: list[list[float]] = []
        self.progress: dict[str, Any] = {}
        self.last_preview = 0.0
        self.previews = 0
        self.frame: dict[str, Any] = {}  # a video job's frame counters, shown beside the optimiser's steps

    def check(self) -> None:
        if self.worker.stopping.is_set() or self.job.id in self.worker.cancel_requested:
            raise _Cancelled

    def report(self, progress: dict[str, Any], preview: Callable[[], Tensor] | None, *, final: bool = False) -> None:
        """Send an event; every ``preview_every`` seconds (and at the end) also write a preview
        and the table row."""
        worker = self.worker
        now = time.monotonic()
        self.progress = progress
        due = final or now - self.last_preview >= worker.preview_every
        image = preview() if due and preview is not None else None  # a relayed step may carry none
        if image is not None:
            self.previews += 1
            worker._write_preview(self.job.id, image)
            self.last_preview = now
        progress["preview"] = self.previews
        if due:
            worker.store.update(self.job.id, progress=progress, history=self.history)
        worker.events.append(self.job.id, "progress", progress)

    def on_step(self, p: Progress, later: float = 0.0, **extra: Any) -> None:
        """The optimiser's step: losses for the chart, time left including ``later`` seconds."""
        self.check()
        total = p.losses.get("total", sum(p.losses.values()))
        self.history.append([len(self.history) + 1, round(total, 6)])
        progress = {"step": p.step, "total_steps": p.total_steps, "scale": p.scale, "scales": p.scales,
                    "width": p.size[1], "height": p.size[0], "losses": p.losses, "elapsed": round(p.elapsed, 2),
                    "eta": round(p.eta + later, 2), "weights": dict(p.weights), **self.frame, **extra}
        self.report(progress, p.preview, final=p.step == p.total_steps)

    def images(self) -> str | None:
        """Each content in turn; results finished before a restart are kept, not redone."""
        worker, request = self.worker, self.job.request
        config = request.config(max_size=1 << 30, max_steps=1 << 30, device=worker.device)
        items = len(request.contents)
        per_item: list[float] = []
        for item in range(items):
            output = result_path(worker.data, self.job.id, item)
            if output.exists():
                continue
            started = time.monotonic()

            def on_step(p: Progress) -> None:
                this_item = p.elapsed + p.eta
                later = (items - item - 1) * (sum(per_item) / len(per_item) if per_item else this_item)
                self.on_step(p, later, item=item + 1, items=items)

            transfer = request.transfer_request(worker.images, config, output=output, item=item)
            transfer.metadata["job"] = self.job.id
            result = (worker.remote or worker.runner).run(transfer, callback=on_step)
            worker._write_preview(self.job.id, result.image)
            per_item.append(time.monotonic() - started)
        return None

    def video(self) -> str | None:
        """The clip, frame by frame; finished frames stay in the job's work folder until the
        MP4 is written, so a server stop costs at most the frame that was running."""
        worker, request = self.worker, self.job.request
        if worker.videos is None:
            raise InputError("this server takes no video jobs")
        config = request.config(max_size=1 << 30, max_steps=1 << 30, device=worker.device)
        output = video_result_path(worker.data, self.job.id)
        video = request.video_request(worker.videos, worker.images, config, output, work_folder(worker.data, self.job.id))

        later = 0.0  # seconds the frames after the running one should take

        def on_frame(p: VideoProgress) -> None:
            nonlocal later
            self.check()
            self.frame = {"frame": min(p.frame + 1, p.frames), "frames": p.frames}
            later = p.eta / max(p.frames - p.frame, 1) * max(p.frames - p.frame - 1, 0)
            self.report({"frame": p.frame, "frames": p.frames, "fps": round(p.frame / max(p.seconds, 1e-9), 3),
                         "elapsed": round(p.seconds, 2), "eta": round(p.eta, 2), "resumed": p.resumed},
                        lambda: p.image, final=p.frame == p.frames)

        self.frame = {"frame": 1}
        on_ray = ray_painter(worker.ray, video, heartbeat=self.check) if worker.remote is not None else None
        with on_ray or contextlib.nullcontext(None) as painter:
            result = stylize_video(video, runner=worker.runner, on_frame=on_frame,
                                   callback=lambda p: self.on_step(p, later), painter=painter)
        return f"the clip broke off: {result.truncated}" if result.truncated else None


def work_folder(data: Path, job_id: str) -> Path:
    """Where a video job keeps its finished frames while it runs."""
    return data / "work" / job_id


def video_result_path(data: Path, job_id: str) -> Path:
    return data / "results" / f"{job_id}.mp4"


def result_path(data: Path, job_id: str, item: int = 0) -> Path:
    """Where content ``item`` of a job puts its image: ``ID.png``, then ``ID-2.png``, ..."""
    return data / "results" / (f"{job_id}.png" if item == 0 else f"{job_id}-{item + 1}.png")


def remove_job_files(data: Path, job: Job) -> None:
    """Delete a job's results and preview (ids are checked by the caller's lookup)."""
    for item in range(len(job.request.contents)):
        result_path(data, job.id, item).unlink(missing_ok=True)
    video_result_path(data, job.id).unlink(missing_ok=True)
    shutil.rmtree(work_folder(data, job.id), ignore_errors=True)
    (data / "previews" / f"{job.id}.jpg").unlink(missing_ok=True)
