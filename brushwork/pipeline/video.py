"""Stylizing a video: a loop over the image path, with what makes it steady.

Every frame goes through the same engine as an image (prepared styles computed once for
the whole clip, the runner for the networks). Between frames, the optical flow of the
*original* video carries the previous result into the current frame's place:

- ``optimize`` (Ruder, Dosovitskiy & Brox 2016): the first frame gets the full
  coarse-to-fine run; each later frame starts from the previous result carried along the
  flow (the current photo where the flow does not hold) and adds a temporal term, the
  masked squared distance to that carried result, running ``config.steps`` at full size.
- ``fast`` and ``adain``: one network pass per frame, then :class:`TemporalFilter`.

Elsewhere (a :data:`Painter`, e.g. on Ray) the networks' passes run ahead and the filter
stays here, in order. The optimiser's frames each start from the one before, so there the
clip is cut into chunks (:func:`chunked_painter`): each chunk is painted in order on its
own, starting ``chunk_overlap`` frames early with a full coarse-to-fine run, and those
lead-in frames are cross-faded into the tail of the chunk before. Chunks run at once on
several workers; the only unsteady frames are the cross-fades, a few per chunk.

Finished frames are kept in a work folder beside the output, so an interrupted run
resumes where it stopped; the folder is removed once the video is written.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from brushwork.engine.optimize import ProgressCallback, Term
from brushwork.engine.temporal import Motion, TemporalFilter, restore_strokes, warp
from brushwork.engine.transfer import TransferConfig, stylize
from brushwork.errors import InputError
from brushwork.media.image_io import atomic_write, image_size, load_image
from brushwork.engine.devices import resolve_device
from brushwork.media.video import Frame, TruncatedVideo, VideoInfo, VideoWriter, check_video_output, probe, read_frames
from brushwork.pipeline.runner import Method, Runner, Source, TransferRequest, check_request


@dataclass
class VideoRequest:
    """One video to stylize, as any front end asks for it."""

    input: Path
    output: Path | str
    styles: Sequence[Source]
    config: TransferConfig = field(default_factory=TransferConfig)
    method: Method = "optimize"
    model: str | None = None
    start: float = 0.0
    duration: float | None = None
    temporal: bool = True
    """False: every frame on its own (the flickering baseline the docs compare against)."""
    temporal_weight: float = 200.0
    """Weight of the optimiser's temporal term (relative to the content weight)."""
    filter_strength: float = 0.7
    """The networks' temporal filter: 0 off; how much of the carried previous frame to keep."""
    work_dir: Path | None = None
    batch: int | None = None
    """Frames per network pass; None: 1 on a CPU (batches ran slower there: benchmarks/video.py),
    8 on a GPU. The optimiser always paints one frame at a time."""
    chunk_frames: int | None = None
    """The optimiser's frames per chunk where chunks run elsewhere (:func:`chunked_painter`);
    None: the clip shared evenly among the workers, at most ``MAX_CHUNK_FRAMES`` a chunk."""
    chunk_overlap: int = 24
    """Frames each chunk starts early, cross-faded with the tail of the chunk before. The
    fade blends two different paintings, so a seam adds to E_warp about their difference
    divided by the overlap: 8 frames gave 1.3-1.7x a local run's E_warp on 40-50 frames,
    10 frames 1.5x (``benchmarks/scale.py`` has the default's figure)."""

    def __post_init__(self) -> None:
        if self.chunk_frames is not None and not 1 <= self.chunk_frames <= 100_000:
            raise InputError(f"chunk frames must be 1-100000, got {self.chunk_frames}")
        if not 0 <= self.chunk_overlap <= 1000:
            raise InputError(f"chunk overlap must be 0-1000 frames, got {self.chunk_overlap}")

    def key(self) -> str:
        """A short hash of everything that decides the frames, naming the work folder."""
        text = json.dumps({**asdict(self), "config": asdict(self.config.resolved()), "output": None, "work_dir": None,
                           "batch": None}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def frames_per_pass(self, device: torch.device) -> int:
        if self.method == "optimize" or (self.method == "adain" and self.config.preserve_color == "histogram"):
            return 1  # one frame at a time; histogram matching recolours the paintings for each frame
        return self.batch or (1 if device.type == "cpu" else 8)


@dataclass(frozen=True)
class VideoProgress:
    frame: int
    """Frames done (written to the work folder), this one included."""
    frames: int
    seconds: float
    eta: float
    resumed: bool
    """True when this frame came from the work folder of an earlier, interrupted run."""
    image: Tensor | None = None
    """The stylized frame, for a preview."""


@dataclass
class VideoResult:
    path: Path
    frames: int
    seconds: float
    truncated: str | None = None
    """The reason, when the input broke off and only the frames before the break were written."""


def temporal_term(carried: Tensor, mask: Tensor):
    """The temporal loss of Ruder et al.: mean squared distance to the previous result
    carried along the flow, where the flow holds (resized to the image being optimised)."""

    def loss(image: Tensor, features) -> Tensor:
        size = tuple(image.shape[-2:])
        target = carried if tuple(carried.shape[-2:]) == size else torch.nn.functional.interpolate(
            carried, size=size, mode="bilinear", align_corners=False)
        weights = mask if tuple(mask.shape[-2:]) == size else torch.nn.functional.interpolate(mask, size=size, mode="area")
        return ((image - target).pow(2) * weights).sum() / (weights.sum() * 3).clamp_min(1)

    return loss


def check_video_request(request: VideoRequest) -> VideoInfo:
    """What :func:`stylize_video` would refuse, from the files' headers: not a video, no
    frames, a start past the end, an unusable output, unreadable styles, a frame size beyond
    the memory check. Returns the input's description."""
    info = probe(request.input, "input video")
    check_video_output(request.output)
    if request.start >= info.duration:
        raise InputError(f"--start {request.start:g} s is past the end of the video ({info.duration:.2f} s)")
    for style in request.styles:
        if not isinstance(style, Tensor):
            image_size(style, "style image")
    # the frames as the engine sees them: a request of the right size, with no pixels behind it
    frame = torch.empty((1, 3, info.height, info.width), device="meta")
    check_request(TransferRequest(frame, request.styles, request.config, method=request.method, model=request.model))
    return info


Drawn = tuple[list[Frame], dict[int, Tensor], float]
"""A group of frames, the picture of each that was to be drawn (by index), and the seconds a
drawn frame took."""
Groups = Iterator[tuple[list[Frame], list[Frame]]]
"""The clip in order, a group of frames at a time, with the group's frames still to draw (the
others are finished, from an interrupted run)."""
Painter = Callable[[Groups, Callable[[int], Tensor], int], Iterator[Drawn]]
"""Draws frames elsewhere: takes the groups, a way to load a finished frame by index and the
clip's expected frame count, and yields :data:`Drawn` in the groups' order, possibly working
ahead (on Ray: several groups at once, :func:`brushwork.pipeline.cluster.ray_painter`). The
networks' frames are then filtered here, in order; the optimiser's come back final."""


def draw_frames(runner: Runner, frames: Tensor, styles: Sequence[Source], config: TransferConfig, method: Method,
                model: str | None) -> Tensor:
    """One network pass over frames (N, 3, H, W), here or on a Ray worker."""
    return runner.run(TransferRequest(frames, styles, config, method=method, model=model)).image


def local_painter(runner: Runner, request: VideoRequest) -> Painter:
    """One network pass per group, in this process."""

    def paint(groups: Groups, finished: Callable[[int], Tensor], total: int) -> Iterator[Drawn]:
        for group, todo in groups:
            if not todo:
                yield group, {}, 0.0
                continue
            started = time.perf_counter()
            images = draw_frames(runner, torch.cat([f.image for f in todo]), request.styles, request.config,
                                 request.method, request.model)
            yield group, {f.index: images[i:i + 1] for i, f in enumerate(todo)}, (time.perf_counter() - started) / len(todo)

    return paint


MAX_CHUNK_FRAMES = 120
"""A chunk's frames are held by the driver until it is sent: this bounds them (a clip longer
than workers x this makes more chunks than workers, run a window of ``workers`` at a time)."""


@dataclass
class Chunk:
    """Consecutive frames the optimiser paints in order, on their own."""

    frames: list[Frame]
    lead_in: int
    """How many of ``frames`` are the tail of the chunk before, painted only to be cross-faded into it."""
    previous: tuple[Tensor, Tensor] | None = None
    """(photo, painting) of the finished frame before, where an interrupted run resumes: the
    chunk continues from it instead of starting afresh."""


ChunkRunner = Callable[[Iterator[Chunk]], Iterator[list[Tensor]]]
"""Paints chunks (each with :func:`optimize_frames`) and yields each chunk's frames, in order."""


def optimize_frames(runner: Runner, images: Sequence[Tensor], request: VideoRequest,
                    previous: tuple[Tensor, Tensor] | None = None,
                    callback: ProgressCallback | None = None) -> Iterator[Tensor]:
    """The optimiser's paintings of consecutive frames, each starting from the one before
    (the first from ``previous`` if given, else a full coarse-to-fine run): a chunk of a
    clip, here or on a worker."""
    styles = runner.styles(request.styles, request.config)
    for image in images:
        out = _optimize_frame(image, styles, request, previous, callback)
        previous = (image, out)
        yield out


def local_chunks(runner: Runner, request: VideoRequest) -> ChunkRunner:
    """Chunks painted one after another in this process (what a worker does with each)."""

    def run(chunks: Iterator[Chunk]) -> Iterator[list[Tensor]]:
        for chunk in chunks:
            yield list(optimize_frames(runner, [f.image for f in chunk.frames], request, chunk.previous))

    return run


def chunked_painter(request: VideoRequest, workers: int, run_chunks: ChunkRunner) -> Painter:
    """The optimiser's frames painted in chunks that need not wait for each other (see the
    module's notes): each chunk but the first starts ``request.chunk_overlap`` frames early,
    and over those frames the chunk before fades linearly into it. Chunks are the frames
    still to do (after an interrupted run's, which the first chunk continues from) shared
    evenly among ``workers`` but at least twice the overlap (a short clip makes fewer chunks
    than workers rather than seams close together), or ``request.chunk_frames`` long; the
    overlap is at most half a chunk. With one chunk this is the local run, frame for frame."""

    def paint(groups: Groups, finished: Callable[[int], Tensor], total: int) -> Iterator[Drawn]:
        passed: collections.deque[list[Frame]] = collections.deque()  # finished groups, before the first chunk
        stopped: list[BaseException] = []
        overlap = request.chunk_overlap if request.temporal else 0  # at most half a chunk, once chunks are known

        def chunks() -> Iterator[Chunk]:
            nonlocal overlap
            own: list[Frame] = []
            lead: list[Frame] = []
            before: Frame | None = None
            length = 0
            try:
                for group, todo in groups:
                    if not todo and not own and not length:
                        passed.append(group)
                        before = group[-1]
                        continue
                    if not length:
                        start = group[0].index
                        shared = max(math.ceil(max(total - start, 1) / workers), 2 * overlap)
                        length = request.chunk_frames or min(MAX_CHUNK_FRAMES, shared)
                        overlap = min(overlap, length // 2)
                    own.extend(group)
                    if len(own) >= length:
                        yield _chunk(lead, own, before, finished)
                        lead, own, before = own[len(own) - min(overlap, len(own)):], [], None
            except TruncatedVideo as exc:
                stopped.append(exc)
            if own:
                yield _chunk(lead, own, before, finished)

        tail: list[tuple[Frame, Tensor]] = []  # the last chunk's last frames, waiting for the next one's lead-in
        last = time.perf_counter()
        sent: collections.deque[Chunk] = collections.deque()  # chunks handed to run_chunks, not yet back

        def sending() -> Iterator[Chunk]:
            for chunk in chunks():
                sent.append(chunk)
                yield chunk

        for painted in run_chunks(sending()):
            chunk = sent.popleft()
            while passed:
                yield passed.popleft(), {}, 0.0
            now = time.perf_counter()
            share, last = (now - last) / max(len(chunk.frames) - chunk.lead_in, 1), now
            for i, ((frame, out), fresh) in enumerate(zip(tail, painted[:chunk.lead_in])):
                fade = (i + 1) / (chunk.lead_in + 1)  # strokes that do not line up: a plain blend washes out
                blend = restore_strokes((1 - fade) * out + fade * fresh, fresh if fade >= 0.5 else out)
                yield [frame], {frame.index: blend}, share
            ready = list(zip(chunk.frames[chunk.lead_in:], painted[chunk.lead_in:]))
            keep = min(overlap, len(ready))
            for frame, out in ready[:len(ready) - keep]:
                yield [frame], {frame.index: out}, share
            tail = ready[len(ready) - keep:]
        while passed:
            yield passed.popleft(), {}, 0.0
        for frame, out in tail:
            yield [frame], {frame.index: out}, 0.0
        if stopped:
            raise stopped[0]

    return paint


def _chunk(lead: list[Frame], own: list[Frame], before: Frame | None, finished: Callable[[int], Tensor]) -> Chunk:
    previous = None if before is None else (before.image, finished(before.index))
    return Chunk(lead + own, len(lead), previous)


def stylize_video(request: VideoRequest, *, runner: Runner | None = None,
                  on_frame: Callable[[VideoProgress], None] | None = None,
                  callback: ProgressCallback | None = None, painter: Painter | None = None) -> VideoResult:
    """Stylize ``request.input`` into ``request.output`` (see the module docstring).
    ``painter`` draws the frames elsewhere (the networks': :func:`local_painter` by default;
    the optimiser's, in chunks: :func:`chunked_painter`; by default they are painted here in
    order, each from the one before)."""
    runner = runner or Runner()
    info = check_video_request(request)  # everything refusable, before any file or folder exists
    config = request.config
    final = request.method == "optimize" and painter is not None  # frames come back finished
    if request.method == "optimize" and painter is None:
        styles = runner.styles(request.styles, config)
    painter = painter or local_painter(runner, request)
    span = info.duration - request.start
    frames_total = min(info.frames, round((request.duration or span) * info.fps + 0.5))
    work = request.work_dir or Path(request.output).parent / f".{Path(request.output).name}.{request.key()}.frames"
    work.mkdir(parents=True, exist_ok=True)
    cache = _FrameCache(work)
    writer = VideoWriter(request.output, time_base=info.time_base, fps=info.fps, audio_from=request.input,
                         audio_start=request.start,
                         audio_end=None if request.duration is None else request.start + request.duration,
                         metadata={"brushwork": "video", "method": request.method, "model": request.model,
                                   "styles": [str(s) for s in request.styles], "temporal": request.temporal,
                                   "config": {k: str(v) for k, v in asdict(config.resolved()).items()}})
    steady = TemporalFilter(request.filter_strength if request.temporal else 0.0)
    previous: tuple[Tensor, Tensor] | None = None  # (original, stylized) of the last frame
    started, count, truncated = time.perf_counter(), 0, None
    timings: list[float] = []  # seconds of each frame computed in this run
    batch = request.frames_per_pass(resolve_device(config.device))
    try:
        try:
            frames = read_frames(request.input, start=request.start, duration=request.duration, long_side=config.size,
                                 role="input video")
            groups = ((group, [f for f in group if not cache.path(f.index).exists()]) for group in _groups(frames, batch))
            if request.method == "optimize" and not final:
                painted: Iterator[Drawn] = ((group, {}, 0.0) for group, _ in groups)
            else:
                painted = painter(groups, cache.load, frames_total)
            for group, drawn, share in painted:
                for frame in group:
                    resumed = frame.index not in drawn and cache.path(frame.index).exists()
                    frame_started = time.perf_counter()
                    if resumed:
                        out = cache.load(frame.index)
                        steady.previous = out
                    elif final:
                        out = drawn[frame.index]
                    elif request.method == "optimize":
                        out = _optimize_frame(frame.image, styles, request, previous, callback)
                    else:
                        motion = Motion.between(previous[0], frame.image) if previous is not None and request.temporal \
                            else None
                        out = steady(drawn[frame.index], motion)
                    if not resumed:
                        cache.save(frame.index, out)
                        timings.append(time.perf_counter() - frame_started + share)
                    writer.write(out, frame.pts)
                    previous = (frame.image, out)
                    count += 1
                    if on_frame is not None:
                        on_frame(VideoProgress(count, frames_total, time.perf_counter() - started,
                                               _seconds_per_frame(timings) * max(frames_total - count, 0), resumed, out))
        except TruncatedVideo as exc:
            if count == 0:
                raise
            truncated = str(exc)
        finally:
            cache.close()  # every finished frame on disk, whatever happens next
        path = writer.close()
    except BaseException:
        writer.abort()  # no partial video; the finished frames stay in the work folder for a resume
        raise
    shutil.rmtree(work, ignore_errors=True)
    return VideoResult(path, count, time.perf_counter() - started, truncated)


class _FrameCache:
    """Finished frames in the work folder, for a resume: 8-bit RGB as raw arrays, written
    atomically by a background thread (a PNG took 15-57 ms a frame and even a raw write 11 ms
    on this disk: a tenth of a network frame's time, now spent beside the loop). Flushed
    whenever the run ends, interrupted or not."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brushwork-frames")
        self.pending: list = []

    def path(self, index: int) -> Path:
        return self.folder / f"{index:06d}.npy"

    def load(self, index: int) -> Tensor:
        return torch.from_numpy(np.load(self.path(index))).permute(2, 0, 1)[None].float().div_(255)

    def save(self, index: int, image: Tensor) -> None:
        array = (image[0].detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        self.pending = [p for p in self.pending if not p.done()]
        self.pending.append(self.writer.submit(self._write, self.path(index), array))

    @staticmethod
    def _write(path: Path, array: np.ndarray) -> None:
        with atomic_write(path) as handle:
            np.save(handle, array)

    def close(self) -> None:
        for pending in self.pending:
            pending.result()
        self.writer.shutdown()


def _groups(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    """Frames in lists of ``size``; a video that breaks off gives the frames before the break
    (as a last, shorter list) before its :class:`TruncatedVideo` is raised."""
    group: list[Frame] = []
    try:
        for frame in frames:
            group.append(frame)
            if len(group) == size:
                yield group
                group = []
    except TruncatedVideo:
        if group:
            yield group
        raise
    if group:
        yield group


def _seconds_per_frame(timings: list[float]) -> float:
    """The time a frame still to come should take: the mean of the last ten computed, leaving
    out the first (the optimiser gives it a full coarse-to-fine run, the others a short one)."""
    recent = (timings[1:] if len(timings) > 1 else timings)[-10:]
    return sum(recent) / len(recent) if recent else 0.0


def _optimize_frame(image: Tensor, styles, request: VideoRequest, previous: tuple[Tensor, Tensor] | None,
                    callback: ProgressCallback | None) -> Tensor:
    """One frame: a full run without a frame before it (or with ``request.temporal`` off),
    else from the frame before carried along the flow, with the temporal term."""
    config = request.config
    if previous is None or not request.temporal:
        return stylize(image, styles, config=config, callback=callback)
    m = Motion.between(previous[0], image).at(tuple(image.shape[-2:]))
    carried = warp(previous[1], m.flow)
    start = m.mask * carried + (1 - m.mask) * image  # where the flow fails, the photo itself
    later = replace(config, scales=1, init="image", reference_size=0)  # one scale, at the frame's size
    term = temporal_term(carried, m.mask)
    return stylize(image, styles, init_image=start, config=later, callback=callback,
                   extra_losses={"temporal": (term, Term(request.temporal_weight))})


def score_video(original: str | Path, stylized: str | Path, *, style: Source | None = None, samples: int = 4) -> dict:
    """Steadiness and faithfulness of a stylized video against its original.

    ``warping_error``: E_warp of Lai et al. 2018 on the stylized frames, with the flow and
    occlusion masks of the *original* frames (resized to the stylized size). Frame counts,
    frame rates, durations and audio of both files; with ``style``, the mean ``brushwork
    score`` distances of ``samples`` frames spread over the clip.
    """
    from brushwork.engine.metrics import score
    from brushwork.engine.temporal import warping_error
    from brushwork.media.image_io import resize

    before, after = probe(original, "original video"), probe(stylized, "stylized video")
    outs = [f.image for f in read_frames(stylized, role="stylized video")]
    size = tuple(outs[0].shape[-2:])
    ins = [resize(f.image, size) for f in read_frames(original, long_side=max(size), role="original video")]
    count = min(len(ins), len(outs))
    motions = [Motion.between(a, b) for a, b in zip(ins[:count], ins[1:count])]
    result = {"warping_error": warping_error(outs[:count], motions),
              "original": {"frames": before.frames, "fps": round(before.fps, 3), "duration": round(before.duration, 3),
                           "audio": before.has_audio},
              "stylized": {"frames": after.frames, "fps": round(after.fps, 3), "duration": round(after.duration, 3),
                           "audio": after.has_audio}}
    if style is not None:
        picture = style if isinstance(style, Tensor) else load_image(style, "style image", long_side=max(size))
        picks = sorted({round(i * (count - 1) / max(samples - 1, 1)) for i in range(samples)})
        figures = [score(outs[i], ins[i], picture).as_dict() for i in picks]
        result["scores"] = {k: sum(f[k] for f in figures) / len(figures) for k in figures[0]}
    return result
