"""Ray as a second way to run the same requests: batches, videos' frames and studio jobs.

Brushwork does not schedule work across machines itself; Ray does (``pip install
'brushwork[ray]'``). Each front end keeps its own logic and hands only the running to Ray:
:func:`ray_executor` is a batch :data:`~brushwork.pipeline.batch.Executor` (``run_batch``
plans, skips what is done and keeps the manifest exactly as for a local batch);
:func:`ray_painter` a video :data:`~brushwork.pipeline.video.Painter` (the networks' passes
on the workers, the temporal filter in order on the driver; the optimiser's frames in chunks
on the workers, cross-faded on the driver); :class:`RemoteRunner` a
runner for the studio's worker, relaying the optimiser's steps back as progress events.

The scheme, and why:

- **Inputs travel, outputs come back.** The driver reads each input file once and puts its
  bytes in Ray's object store; a worker writes them to a local cache (named by their hash)
  and runs the request there; the encoded output file (with its metadata) returns to the
  driver, which writes it atomically into the output folder. So a cluster without shared
  storage works as one with it, and outputs are never half-written on some node's disk.
  The metadata records the driver's paths, so a resumed batch recognises its outputs.
- **One model per worker.** Each worker process keeps one
  :class:`~brushwork.pipeline.runner.Runner` for as long as it lives: VGG-19, a network or
  a style's targets are loaded once per worker, not once per item.
- **Nothing lost.** Tasks are not retried by Ray but by the driver, which sees why a task
  failed: an item whose worker process or node died runs again on whichever worker is free,
  up to ``retries`` times, and its manifest line counts the ``attempts``. A driver stopped
  mid-batch leaves a manifest of what finished; run again, the batch skips those.
- **At most ``workers`` items in flight**, each asking Ray for ``threads_per_worker`` CPUs
  (and one GPU where the cluster has them), so the inputs in the object store stay bounded
  however long the batch.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib.util
import itertools
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor

from brushwork.engine.optimize import Progress
from brushwork.errors import BrushworkError, InputError
from brushwork.media.image_io import atomic_write
from brushwork.options import check_fields, option
from brushwork.pipeline.batch import Executor, Pending, run_item
from brushwork.pipeline.runner import Runner, TransferRequest
from brushwork.pipeline.video import Chunk, Drawn, Groups, Painter, VideoRequest, chunked_painter, draw_frames, \
    optimize_frames

INSTALL_HINT = "pip install 'brushwork[ray]'"
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@dataclass(frozen=True)
class RaySettings:
    """Where and how widely a batch runs on Ray."""

    address: str | None = option(None, "Ray cluster to attach to, e.g. 10.0.0.5:6379 (default: $RAY_ADDRESS, else a "
                                 "Ray instance started on this machine for the batch)")
    workers: int | None = option(None, "items computed at once (default: the cluster's CPUs / threads per worker)",
                                 min=1, max=100_000)
    threads_per_worker: int = option(1, "CPU threads each worker computes with", min=1, max=1024)
    retries: int = option(2, "times an item whose worker died is run again on another", min=0, max=100)

    def __post_init__(self) -> None:
        check_fields(self)


def check_ray_installed() -> None:
    """An InputError saying how to install Ray, where it is not (without importing it)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except ValueError:  # a "ray" module in sys.modules without a spec (None: imports of it fail)
        found = sys.modules.get("ray") is not None
    if not found:
        raise InputError(f"Ray is not installed; install it with: {INSTALL_HINT}")


def import_ray() -> Any:
    """The ``ray`` module, or an InputError saying how to install it."""
    check_ray_installed()
    try:
        import ray
    except ImportError as exc:
        raise InputError(f"Ray cannot be imported ({exc}); reinstall it with: {INSTALL_HINT}") from None
    return ray


def connect(settings: RaySettings) -> tuple[Any, bool]:
    """Ray, attached to ``settings.address`` (or $RAY_ADDRESS), or started on this machine
    on loopback with ``workers x threads_per_worker`` CPUs; and whether we started it (then
    the caller shuts it down). A Ray already initialised in this process is used as it is."""
    address = settings.address or os.environ.get("RAY_ADDRESS")
    if not address:
        # Ray's switch for "no cluster" (meant for laptops) makes it take 127.0.0.1 as this
        # node's address, so every server of the instance listens on loopback only. It is
        # read when ray is imported, hence before.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=True)
    # ray.init replaces the process's SIGTERM handler with one that exits at once; a caller
    # that handles SIGTERM itself (the studio requeues its running job) keeps its own.
    own = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            cpus = (settings.workers or os.cpu_count() or 1) * settings.threads_per_worker
            ray.init(num_cpus=cpus, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise InputError(f"cannot start or reach {where} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None
    finally:
        if callable(own):
            signal.signal(signal.SIGTERM, own)
    return ray, True


def task_layout(ray: Any, settings: RaySettings) -> tuple[int, dict[str, Any]]:
    """How many tasks to keep in flight (``settings.workers``, or the cluster's CPUs divided by
    the threads per worker) and what each asks Ray for (its CPUs, and a GPU where the cluster
    has them)."""
    threads = settings.threads_per_worker
    workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    resources: dict[str, Any] = {"num_cpus": threads}
    if ray.cluster_resources().get("GPU", 0) >= 1:
        resources["num_gpus"] = 1
    return workers, resources


_RUNNER: Runner | None = None
"""The worker process's runner: its networks and prepared styles outlive each item."""


def _worker_runner(threads: int) -> Runner:
    """This worker process's runner, computing with ``threads`` threads."""
    global _RUNNER
    torch.set_num_threads(threads)
    _RUNNER = _RUNNER or Runner()
    return _RUNNER


@contextlib.contextmanager
def _here(request: TransferRequest, names: Sequence[str], blobs: Sequence[bytes]) -> Iterator[TransferRequest]:
    """The request as this worker runs it: its input files from the driver's bytes, its
    output into a temporary file (read back and sent to the driver), and the driver's paths
    and parameters recorded in the output, so that a resumed batch recognises it."""
    local = _local_inputs(names, blobs)
    recorded = {"content": str(request.content), "styles": [str(s) for s in request.styles],
                "parameters": request.parameters()}
    with tempfile.TemporaryDirectory(prefix="brushwork-item-") as folder:
        yield replace(request, content=local.get(str(request.content), request.content),
                      styles=[local.get(str(s), s) for s in request.styles],
                      output=Path(folder) / f"output{request.output.suffix if request.output else '.png'}",
                      metadata={**recorded, **request.metadata})


def stylize_item(request: TransferRequest, base: dict[str, Any], scores: bool, threads: int,
                 names: Sequence[str], *blobs: bytes) -> dict[str, Any]:
    """Run on a Ray worker: one batch item. ``names`` are the request's input files as the
    driver knows them and ``blobs`` their bytes; returns the manifest line, the encoded
    output file (or None) and who computed it."""
    runner = _worker_runner(threads)
    with _here(request, names, blobs) as here:
        line = run_item(runner, here, base, scores)
        data = here.output.read_bytes() if line["status"] == "done" else None
    return {"line": line, "data": data, "worker": f"{socket.gethostname()}:{os.getpid()}"}


def paint_frames(frames: Any, styles: Sequence[str], config: Any, method: str, model: str | None, threads: int,
                 names: Sequence[str], *blobs: bytes) -> Any:
    """Run on a Ray worker: one network pass over a video's frames (a (N, 3, H, W) tensor)."""
    local = _local_inputs(names, blobs)
    return draw_frames(_worker_runner(threads), frames, [local.get(s, s) for s in styles], config, method, model)


def paint_chunk(frames: Tensor, previous: tuple[Tensor, Tensor] | None, request: VideoRequest, threads: int,
                names: Sequence[str], *blobs: bytes) -> Tensor:
    """Run on a Ray worker: the optimiser's paintings of a chunk of a video's frames (N, 3, H, W), in order."""
    local = _local_inputs(names, blobs)
    here = replace(request, styles=[local.get(str(s), s) for s in request.styles])
    return torch.cat(list(optimize_frames(_worker_runner(threads), list(frames.split(1)), here, previous)))


def _as_shown(image: Tensor) -> Tensor:
    """A relayed step's picture is already post-processed."""
    return image


def run_relayed(request: TransferRequest, relay: Any, preview_every: float, threads: int,
                names: Sequence[str], *blobs: bytes) -> dict[str, Any]:
    """Run on a Ray worker: one request, its optimiser steps put on ``relay`` (a Ray queue);
    returns the image, the encoded output file and its metadata."""
    runner = _worker_runner(threads)
    last = [0.0]

    def relay_step(p: Progress) -> None:  # the step's figures; its picture (the heavy part) now and then
        now = time.monotonic()
        image = p.preview() if now - last[0] >= preview_every or p.step == p.total_steps else None
        if image is not None:
            last[0] = now
        relay.put_nowait(replace(p, image=image, finish=_as_shown, weights=dict(p.weights)))

    with _here(request, names, blobs) as here:
        result = runner.run(here, callback=relay_step)
        return {"image": result.image, "metadata": result.metadata, "data": here.output.read_bytes()}


class RemoteRunner:
    """Runs requests one at a time on Ray, relaying the optimiser's progress to ``callback``
    in this process: the studio's worker uses it in place of a local
    :class:`~brushwork.pipeline.runner.Runner` under ``brushwork serve --ray``. The output
    comes back and is written here, atomically. An exception raised by ``callback`` (a
    cancel, a server stop) cancels the remote run; a request whose worker died runs again,
    up to ``retries`` times."""

    def __init__(self, settings: RaySettings = RaySettings(), *, preview_every: float = 0.5) -> None:
        self.settings, self.preview_every = settings, preview_every
        self.ray, self.started = connect(settings)
        self.task = self.ray.remote(**task_layout(self.ray, settings)[1], max_retries=0)(run_relayed)

    def run(self, request: TransferRequest, *, callback: Any = None) -> Any:
        from ray.util.queue import Queue

        from brushwork.pipeline.runner import TransferResult

        ray, started = self.ray, time.perf_counter()
        names = _input_files(request)
        blobs = [ray.put(Path(name).read_bytes()) for name in names]
        for attempt in itertools.count(1):
            relay = Queue(actor_options={"num_cpus": 0})
            ref = self.task.remote(request, relay, self.preview_every, self.settings.threads_per_worker, names, *blobs)
            try:
                while True:
                    ready, _ = ray.wait([ref], timeout=0.2)
                    for event in relay.get_nowait_batch(relay.qsize()):
                        if callback is not None:
                            callback(event)
                    if ready:
                        break
                out = ray.get(ref)
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                if attempt > self.settings.retries:
                    raise InputError(f"the Ray worker running this died {attempt} times ({type(exc).__name__})") from None
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, BrushworkError) else exc) from None
            except BaseException:
                ray.cancel(ref, force=True)
                raise
            finally:
                relay.shutdown()
            if request.output is not None:
                request.output.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(request.output) as handle:
                    handle.write(out["data"])
            return TransferResult(out["image"], request.output, out["metadata"], time.perf_counter() - started)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _local_inputs(names: Sequence[str], blobs: Sequence[bytes]) -> dict[str, str]:
    """Each input file as the driver names it -> its copy on this worker."""
    return {name: _cached_input(name, data) for name, data in zip(names, blobs)}


def _cached_input(name: str, data: bytes) -> str:
    """The input's bytes as a file on this worker, named by their hash (written once per worker machine)."""
    folder = Path(tempfile.gettempdir()) / "brushwork-ray-inputs"
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{Path(name).suffix}"
    if not path.is_file():
        with atomic_write(path) as handle:
            handle.write(data)
    return str(path)


def _input_files(request: TransferRequest) -> list[str]:
    """The request's inputs that are files (samples are built into every worker)."""
    return [str(s) for s in (request.content, *request.styles) if not str(s).startswith("sample:")]


@contextlib.contextmanager
def ray_painter(settings: RaySettings, request: VideoRequest, *,
                heartbeat: Callable[[], None] | None = None) -> Iterator[Painter]:
    """A :data:`~brushwork.pipeline.video.Painter` drawing a video's frames on Ray, up to
    ``workers`` tasks in flight, each loading its network or VGG-19 once per worker (Ray
    reruns a task whose worker died, up to ``retries`` times: a task has no side effect).

    - The networks: a task per group of frames; the frames come back in order and the
      temporal filter (which needs the previous frame) runs on the driver, so the video is
      the local one's.
    - The optimiser: a task per chunk of the clip
      (:func:`~brushwork.pipeline.video.chunked_painter`); each worker computes its chunk's
      optical flow and paints its frames in order, the driver cross-fades the chunks.

    ``heartbeat`` is called about twice a second while the driver waits for a task (a chunk
    takes minutes): a caller that stops on request (the studio's cancel) raises from it, and
    the tasks still running are cancelled."""
    ray, started = connect(settings)
    try:
        threads = settings.threads_per_worker
        workers, resources = task_layout(ray, settings)
        styles = [str(s) for s in request.styles]
        names = [s for s in styles if not s.startswith("sample:")]
        blobs = [ray.put(Path(name).read_bytes()) for name in names]
        if request.method == "optimize":
            chunk_task = ray.remote(**resources, max_retries=settings.retries)(paint_chunk)

            def run_chunks(chunks: Iterator[Chunk]) -> Iterator[list[Tensor]]:
                jobs = ((None, chunk_task.remote(torch.cat([f.image for f in chunk.frames]), chunk.previous, request,
                                                 threads, names, *blobs)) for chunk in chunks)
                for _, frames in _in_order(ray, jobs, workers, heartbeat):
                    yield list(frames.split(1))

            yield chunked_painter(request, workers, run_chunks)
            return
        task = ray.remote(**resources, max_retries=settings.retries)(paint_frames)

        def paint(groups: Groups, finished: Any, total: int) -> Iterator[Drawn]:
            jobs = (((group, todo), None if not todo else task.remote(torch.cat([f.image for f in todo]), styles,
                                                                       request.config, request.method, request.model,
                                                                       threads, names, *blobs))
                    for group, todo in groups)
            last = time.perf_counter()
            for (group, todo), images in _in_order(ray, jobs, workers, heartbeat):
                if images is None:
                    yield group, {}, 0.0
                    continue
                now = time.perf_counter()  # a frame's time is the wait since the group before (throughput)
                seconds, last = (now - last) / len(todo), now
                yield group, {f.index: images[i:i + 1] for i, f in enumerate(todo)}, seconds

        yield paint
    finally:
        if started:
            ray.shutdown()


def _in_order(ray: Any, jobs: Iterator[tuple[Any, Any]], window: int,
              heartbeat: Callable[[], None] | None = None) -> Iterator[tuple[Any, Any]]:
    """Results of ``jobs`` ((key, object ref or None), submitted as they are drawn, at most
    ``window`` at a time) as (key, result or None), in the jobs' order, ``heartbeat`` called
    while waiting. Those still running when the caller stops are cancelled."""
    waiting: collections.deque = collections.deque()

    def oldest() -> tuple[Any, Any]:
        key, ref = waiting[0]
        if ref is not None and heartbeat is not None:
            while not ray.wait([ref], timeout=0.5)[0]:
                heartbeat()
        waiting.popleft()
        return key, None if ref is None else ray.get(ref)

    try:
        for job in jobs:
            waiting.append(job)
            if len(waiting) >= window:
                yield oldest()
        while waiting:
            yield oldest()
    finally:
        for _, ref in waiting:
            if ref is not None:
                ray.cancel(ref, force=True)


@contextlib.contextmanager
def ray_executor(settings: RaySettings = RaySettings(), *, scores: bool = True) -> Iterator[Executor]:
    """An executor that runs batch items as Ray tasks (see the module's notes); a Ray
    instance started for it is shut down on leaving."""
    ray, started = connect(settings)
    try:
        yield _executor(ray, settings, scores)
    finally:
        if started:
            ray.shutdown()


def _executor(ray: Any, settings: RaySettings, scores: bool) -> Executor:
    threads = settings.threads_per_worker
    workers, resources = task_layout(ray, settings)
    task = ray.remote(**resources, max_retries=0)(stylize_item)  # retries are the driver's (counted in the manifest)
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OwnerDiedError,
            ray.exceptions.ObjectLostError)

    def execute(pending: Sequence[Pending]) -> Iterator[tuple[int, dict[str, Any]]]:
        queue = collections.deque((index, request, base, 1) for index, request, base in pending)
        running: dict[Any, tuple[int, TransferRequest, dict[str, Any], int]] = {}
        kept: dict[str, Any] = {}  # object refs of inputs used by many items (the styles), put once

        def submit(index: int, request: TransferRequest, base: dict[str, Any], attempt: int) -> None:
            names = _input_files(request)
            blobs = []
            for name in names:
                if name in kept:
                    blobs.append(kept[name])
                    continue
                data = Path(name).read_bytes()
                ref = ray.put(data)
                if name in map(str, request.styles):
                    kept[name] = ref
                blobs.append(ref)
            running[task.remote(request, base, scores, threads, names, *blobs)] = (index, request, base, attempt)

        try:
            while queue or running:
                while queue and len(running) < workers:
                    index, request, base, attempt = queue.popleft()
                    try:
                        submit(index, request, base, attempt)
                    except OSError as exc:  # an input gone since the batch was planned
                        yield index, {**base, "status": "failed", "seconds": 0.0, "scores": None, "attempts": attempt,
                                      "error": f"cannot read an input ({exc.strerror or exc})"}
                if not running:
                    continue
                [ref], _ = ray.wait(list(running), num_returns=1)
                index, request, base, attempt = running.pop(ref)
                try:
                    result = ray.get(ref)
                except died as exc:
                    if attempt <= settings.retries:
                        queue.appendleft((index, request, base, attempt + 1))
                        continue
                    line = {**base, "status": "failed", "seconds": None, "scores": None,
                            "error": f"its worker died {attempt} times (last: {type(exc).__name__})"}
                except ray.exceptions.RayTaskError as exc:  # a bug, not bad input: say what it was
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    line = {**base, "status": "failed", "seconds": None, "scores": None,
                            "error": f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"}
                else:
                    line = {**result["line"], "worker": result["worker"]}
                    if result["data"] is not None:
                        request.output.parent.mkdir(parents=True, exist_ok=True)
                        with atomic_write(request.output) as handle:
                            handle.write(result["data"])
                yield index, {**line, "attempts": attempt}
        finally:  # stopped early (Ctrl-C, an error): the items still running are abandoned
            for ref in running:
                ray.cancel(ref, force=True)

    return execute
