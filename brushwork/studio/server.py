"""The web studio's HTTP interface (FastAPI): parse, call :mod:`brushwork.studio.jobs`, report.

``create_app(StudioSettings(data=...))`` gives an ASGI app; ``brushwork serve`` runs it with
uvicorn. The JSON API is described by the app's OpenAPI schema at ``/openapi.json`` (and
browsable at ``/docs``); the page at ``/`` is plain HTML and JavaScript using that API.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import zipfile
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, create_model
from typing_extensions import Annotated

from brushwork import __version__
from brushwork.errors import ImageTooLarge, InputError
from brushwork.engine.features import VGG19_LAYERS
from brushwork.studio.jobs import (FINAL, DataLock, EventLog, ImageStore, Job, JobRequest, JobStore, StudioSettings, Worker,
                                   remove_job_files, result_path, video_result_path)
from brushwork.studio.videos import VideoCaps, VideoStore
from brushwork.media.samples import CONTENT_SAMPLES, STYLE_SAMPLES, sample_image
from brushwork.engine.schedules import WeightSchedule
from brushwork.pipeline.runner import METHODS, check_request
from brushwork.pipeline.video import check_video_request
from brushwork.realtime.models import shipped_models, model_metadata
from brushwork.engine.transfer import TransferConfig
from brushwork.pipeline.settings import QUALITY_PRESETS

STUDIO = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""No inline script anywhere: even a string that slipped into the page as HTML could not run."""


def _option_type(name: str, info: dict) -> Any:
    """The JSON type of one TransferConfig option, with the range and choices the config enforces."""
    default = info["default"]
    if "choices" in info:
        return Literal[tuple(info["choices"])]
    if isinstance(default, WeightSchedule):
        return Annotated[str, Field(max_length=100)]
    if name.endswith("_layers"):
        # names are checked by the config itself, whose message names the unknown layer
        return Annotated[list[Annotated[str, Field(max_length=20)]], Field(min_length=1, max_length=len(VGG19_LAYERS))]
    bounds = {"ge": info["min"], "le": info["max"]} if "min" in info else {}
    if info.get("whole"):
        return Annotated[int, Strict(), Field(**bounds)]
    if default is None:  # per-layer weights
        return Annotated[list[Annotated[float, Strict(), Field(**bounds)]], Field(max_length=len(VGG19_LAYERS))]
    if "pattern" in info:
        return Annotated[str, Field(pattern=f"^(?:{info['pattern']})$")]
    return Annotated[type(default), Strict(), Field(**bounds)]


_STRICT_JSON = ConfigDict(extra="forbid", allow_inf_nan=False)

Options = create_model(  # one optional field per TransferConfig field, so the schema documents every option
    "Options",
    __config__=_STRICT_JSON,
    **{name: (Optional[_option_type(name, info)], Field(None, description=f"{info['help']} (default: {info['default']})"))
       for name, info in TransferConfig.help().items()},
)
Weight = Annotated[float, Strict(), Field(ge=0, le=1e9)]



MAX_CONTENTS = 32
"""Contents one job may carry (a folder upload): one result each."""


class JobIn(BaseModel):
    model_config = _STRICT_JSON
    content: Optional[str] = Field(None, max_length=100, description="an uploaded image's id, or sample:NAME")
    contents: Optional[list[Annotated[str, Field(max_length=100)]]] = Field(
        None, min_length=1, max_length=MAX_CONTENTS, description="several contents: one result each (instead of content)")
    video: Optional[str] = Field(None, max_length=100, description="an uploaded clip's id: a video job (instead of content)")
    method: Literal[tuple(METHODS)] = Field("optimize", description="the optimiser, or a network: fast (needs model) or adain (any style: the shipped WCT network)")  # type: ignore[valid-type]
    model: Optional[str] = Field(None, max_length=100, description="a shipped network's name (for method fast)")
    temporal: StrictBool = Field(True, description="video jobs: steady, with optical flow (false: every frame on its own)")
    styles: list[Annotated[str, Field(max_length=100)]] = Field(
        max_length=8, description="style images: upload ids or sample:NAME (at least one, except for method fast, "
                                  "whose network is its style)")
    style_weights: Optional[list[Weight]] = Field(None, max_length=8, description="blend weight per style (default: equal)")
    masks: Optional[list[Optional[Annotated[str, Field(max_length=100)]]]] = Field(
        None, max_length=8, description="one mask per style (null: everywhere)")
    quality: Optional[Literal[tuple(QUALITY_PRESETS)]] = Field(None, description="preset laid under the options")  # type: ignore[valid-type]
    options: Options = Field(default_factory=Options)  # type: ignore[valid-type]


class RerunIn(BaseModel):
    model_config = _STRICT_JSON
    quality: Optional[Literal[tuple(QUALITY_PRESETS)]] = None  # type: ignore[valid-type]
    options: Options = Field(default_factory=Options)  # type: ignore[valid-type]


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    request: dict[str, Any]
    created: float
    started: Optional[float]
    finished: Optional[float]
    progress: Optional[dict[str, Any]]
    history: list[list[float]] = Field(description="[step, total loss] per step; empty in job lists unless history=true")
    error: Optional[str]
    restarts: int
    note: Optional[str]
    position: Optional[int] = Field(description="place in the queue (0: running), null when ended")
    result_url: Optional[str]
    result_urls: list[str] = Field(description="one per content, for the results that exist")
    zip_url: Optional[str] = Field(description="every result in one zip, once the job is done")
    preview_url: Optional[str]
    labels: dict[str, str] = Field(description="a name to show for each image the request names (upload file names)")


class VideoOut(BaseModel):
    id: str
    width: int
    height: int
    frames: int
    fps: float
    duration: float
    audio: bool
    name: str
    poster_url: str


class ImageOut(BaseModel):
    id: str
    width: int
    height: int
    url: str
    name: str


class QueueOut(BaseModel):
    running: Optional[str]
    queued: list[str]


class Message(BaseModel):
    detail: str


ERRORS = {404: {"model": Message}, 409: {"model": Message}, 422: {"model": Message}}


def create_app(settings: StudioSettings) -> FastAPI:
    """The studio app. It locks ``settings.data`` at once (a second server on the same folder
    is refused with an InputError) and releases the lock when it shuts down."""
    data = Path(settings.data)
    data.mkdir(parents=True, exist_ok=True)
    lock = DataLock(data)
    lock.acquire()
    images = ImageStore(data / "images", max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels)
    events = EventLog()
    store = JobStore(data / "brushwork.sqlite3")
    videos = VideoStore(data / "videos", VideoCaps(settings.max_video_bytes, settings.max_video_seconds,
                                                  settings.max_video_pixels))
    worker = Worker(data, store, images, events, videos=videos, preview_every=settings.preview_every,
                    device=settings.device, ray=settings.ray)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lock.acquire()  # again, if an earlier lifetime of this app released it
        store.open()
        store.requeue_interrupted()
        worker.stopping.clear()
        if settings.run_jobs:
            worker.start()
        try:
            yield
        finally:
            if settings.run_jobs:
                await asyncio.to_thread(worker.stop)
            store.close()
            lock.release()

    app = FastAPI(title="Brushwork studio", version=__version__, lifespan=lifespan,
                  description="Neural style transfer jobs: upload images, submit, follow progress, download.")
    app.state.begin_shutdown = worker.stopping.set  # event streams end and the running job is requeued
    app.mount("/studio", StaticFiles(directory=STUDIO), name="studio")
    _add_guards(app, settings)

    studio = _Studio(settings, data, images, videos, events, store, worker)
    _add_error_handlers(app)
    _add_page_and_images(app, studio)
    _add_job_routes(app, studio)
    _add_result_routes(app, studio)
    _add_event_routes(app, studio)
    return app


@dataclass
class _Studio:
    """What the routes share: settings, the data folder, images, events, jobs, the worker."""

    settings: StudioSettings
    data: Path
    images: ImageStore
    videos: VideoStore
    events: EventLog
    store: JobStore
    worker: Worker

    def job_out(self, job: Job, queue: list[str], *, history: bool = True) -> JobOut:
        done = job.status == "done"
        items = range(len(job.request.contents))
        refs = [*job.request.contents, *job.request.styles, *[m for m in job.request.masks or [] if m]]
        labels = {ref: self.images.name(ref) for ref in refs}
        if job.request.video is not None:
            labels[job.request.video] = self.videos.name(job.request.video)
            results = [f"/api/jobs/{job.id}/result"] if video_result_path(self.data, job.id).is_file() else []
        else:
            results = [f"/api/jobs/{job.id}/result?item={i + 1}" for i in items if result_path(self.data, job.id, i).is_file()]
        return JobOut(
            **{k: v for k, v in asdict(job).items() if k not in ("request", "history")}, request=asdict(job.request),
            history=job.history if history else [],
            position=queue.index(job.id) if job.id in queue else None,
            result_url=f"/api/jobs/{job.id}/result" if done else None,
            result_urls=results,
            zip_url=f"/api/jobs/{job.id}/results.zip" if done and len(items) > 1 else None,
            preview_url=f"/api/jobs/{job.id}/preview" if job.progress or done else None,
            labels=labels,
        )

    def find(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job



def _add_error_handlers(app: FastAPI) -> None:
    """Every error a request can meet, answered as plain JSON with one sentence."""
    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413 if isinstance(exc, ImageTooLarge) else 422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One plain sentence per problem: never the rejected value itself (NaN and Infinity
        cannot even be written as JSON), so every 422 is valid JSON of one shape."""
        problems = [f"{'.'.join(str(p) for p in error['loc'][1:]) or 'body'}: {error['msg']}" for error in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)


def _add_page_and_images(app: FastAPI, s: _Studio) -> None:
    """The page, the config it is built from, uploads and samples."""
    settings, images = s.settings, s.images

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STUDIO / "index.html").read_text())

    @app.get("/api/config", summary="Options with defaults and help, presets, samples and limits")
    def config() -> dict[str, Any]:
        options = {name: {**info, "default": str(info["default"]) if isinstance(info["default"], WeightSchedule)
                          else info["default"]} for name, info in TransferConfig.help().items()}
        return {"version": __version__, "options": options, "presets": QUALITY_PRESETS,
                "samples": {"content": [f"sample:{s}" for s in CONTENT_SAMPLES],
                            "style": [f"sample:{s}" for s in STYLE_SAMPLES]},
                "methods": list(METHODS),
                "models": [name for name in shipped_models() if model_metadata(name).get("kind") == "fast"],
                "limits": {"max_size": settings.max_size, "max_steps": settings.max_steps,
                           "max_upload_bytes": settings.max_upload_bytes, "max_upload_pixels": settings.max_upload_pixels,
                           "max_video_seconds": settings.max_video_seconds, "max_video_pixels": settings.max_video_pixels,
                           "max_video_bytes": settings.max_video_bytes, "max_video_size": settings.max_video_size}}

    @app.post("/api/images", status_code=201, response_model=ImageOut, responses={413: {"model": Message}, 422: {"model": Message}},
              summary="Upload an image (decoded and checked, stored as PNG)")
    async def upload(file: UploadFile = File(...)) -> ImageOut:
        data = await file.read(settings.max_upload_bytes + 1)
        image_id, width, height = await asyncio.to_thread(images.add, data, file.filename)
        return ImageOut(id=image_id, width=width, height=height, url=f"/api/images/{image_id}", name=images.name(image_id))

    @app.post("/api/videos", status_code=201, response_model=VideoOut, responses={413: {"model": Message}, 422: {"model": Message}},
              summary="Upload a clip (probed in full; the server's caps on length, frame size and bytes apply)")
    async def upload_video(file: UploadFile = File(...)) -> VideoOut:
        data = await file.read(settings.max_video_bytes + 1)
        video_id, info = await asyncio.to_thread(s.videos.add, data, file.filename)
        return VideoOut(id=video_id, width=info.width, height=info.height, frames=info.frames, fps=round(info.fps, 3),
                        duration=round(info.duration, 3), audio=info.has_audio, name=s.videos.name(video_id),
                        poster_url=f"/api/videos/{video_id}/poster")

    @app.get("/api/videos/{ref}/poster", response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": Message}},
             summary="An uploaded clip's first frame (JPEG)")
    def video_poster(ref: str) -> FileResponse:
        try:
            return FileResponse(s.videos.poster(ref), media_type="image/jpeg")
        except InputError as exc:
            raise NotFound(str(exc)) from None

    @app.get("/api/images/{ref}", responses={200: {"content": {"image/png": {}}}, 404: {"model": Message}},
             response_class=Response, summary="An uploaded image or a built-in sample, as PNG")
    def image(ref: str) -> Response:
        if ref.startswith("sample:"):
            try:
                picture = sample_image(ref[len("sample:"):])
            except InputError as exc:
                raise NotFound(str(exc)) from None
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})
        try:
            return FileResponse(images.path(ref), media_type="image/png")
        except InputError as exc:
            raise NotFound(str(exc)) from None


def _add_job_routes(app: FastAPI, s: _Studio) -> None:
    """Submit, list, cancel, re-run and delete jobs."""
    settings, data, images, events, store, worker = s.settings, s.data, s.images, s.events, s.store, s.worker
    job_out, find = s.job_out, s.find

    def submit(request: JobRequest) -> JobOut:
        """Refuse at once everything the engine would refuse, with the engine's own words, so
        that no bad option ever reaches the worker and fails there."""
        max_size = settings.max_video_size if request.video is not None else settings.max_size
        config = request.config(max_size=min(max_size, settings.max_size), max_steps=settings.max_steps,
                                device=settings.device)
        for ref in [*request.contents, *request.styles, *[m for m in request.masks or [] if m]]:
            images.check(ref)
        for item in range(len(request.contents)):
            check_request(request.transfer_request(images, config, item=item))  # the worker's own checks, now
        if request.video is not None:
            check_video_request(request.video_request(s.videos, images, config, video_result_path(data, "check"),
                                                      data / "work" / "check"))
        job = store.add(request)
        events.append(job.id, "status", {"status": "queued"})
        worker.submit()
        return job_out(job, store.queue())

    @app.post("/api/jobs", status_code=201, response_model=JobOut, responses=ERRORS, summary="Queue a style-transfer job")
    def create_job(body: JobIn) -> JobOut:
        if sum(x is not None for x in (body.content, body.contents, body.video)) != 1:
            raise InputError("give one of content (one image), contents (several) or video (an uploaded clip)")
        contents = body.contents or ([body.content] if body.content is not None else [])
        return submit(JobRequest(contents=contents, styles=body.styles,
                                 style_weights=body.style_weights, masks=body.masks, quality=body.quality,
                                 options=body.options.model_dump(exclude_none=True), method=body.method,
                                 model=body.model, video=body.video, temporal=body.temporal))

    @app.get("/api/jobs", response_model=list[JobOut], summary="Jobs, newest first, a page at a time (without loss histories)")
    def list_jobs(limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=10**9),
                  history: bool = False) -> list[JobOut]:
        queue = store.queue()
        return [job_out(job, queue, history=history) for job in store.page(limit, offset)]

    @app.get("/api/queue", response_model=QueueOut, summary="The running job and the queued ones, in order")
    def queue() -> QueueOut:
        ids = store.queue()
        running = ids[0] if ids and store.get(ids[0]).status == "running" else None
        return QueueOut(running=running, queued=ids[1:] if running else ids)

    @app.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
    def get_job(job_id: str) -> JobOut:
        return job_out(find(job_id), store.queue())

    @app.post("/api/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, summary="Cancel a queued or running job")
    def cancel_job(job_id: str) -> JobOut:
        find(job_id)
        if not worker.cancel(job_id):
            raise Conflict(f"job {job_id} has already ended")
        return job_out(find(job_id), store.queue())

    @app.post("/api/jobs/{job_id}/rerun", status_code=201, response_model=JobOut, responses=ERRORS,
              summary="Queue a copy of a job, with options changed")
    def rerun_job(job_id: str, body: RerunIn) -> JobOut:
        old = find(job_id).request
        options = {**old.options, **body.options.model_dump(exclude_none=True)}
        return submit(replace(old, quality=body.quality or old.quality, options=options))

    @app.delete("/api/jobs/{job_id}", status_code=204, response_class=Response, responses=ERRORS,
                summary="Delete an ended job and its images")
    def delete_job(job_id: str) -> Response:
        job = find(job_id)
        if job.status not in FINAL:
            raise Conflict(f"job {job_id} is {job.status}; cancel it first")
        store.delete(job_id)
        events.forget(job_id)
        remove_job_files(data, job)
        return Response(status_code=204)


def _add_result_routes(app: FastAPI, s: _Studio) -> None:
    """Results (one per content), their zip, and previews."""
    data, images = s.data, s.images
    find = s.find

    @app.get("/api/jobs/{job_id}/result", response_class=FileResponse, responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             summary="The finished image (PNG with its parameters in metadata), or a video job's MP4 (with the clip's sound)")
    def result(job_id: str, item: int = Query(1, ge=1, le=MAX_CONTENTS, description="which content's result, from 1")) -> FileResponse:
        job = find(job_id)
        if job.request.video is not None:
            path = video_result_path(data, job.id)
            if not path.is_file():
                raise Conflict(f"job {job_id} has no video yet (it is {job.status})")
            return FileResponse(path, media_type="video/mp4",
                                filename=_download_name(job, s.videos.name(job.request.video), ".mp4"))
        if item > len(job.request.contents):
            raise NotFound(f"job {job_id} has {len(job.request.contents)} contents")
        path = result_path(data, job.id, item - 1)
        if not path.is_file():
            raise Conflict(f"job {job_id} has no result {item} yet (it is {job.status})")
        return FileResponse(path, media_type="image/png",
                            filename=_download_name(job, images.name(job.request.contents[item - 1]), ".png"))

    def _download_name(job: Job, label: str, suffix: str) -> str:
        """``brushwork-JOB-NAME.png``: the input's name, with only safe characters."""
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(label).stem)[:60] or "result"
        return f"brushwork-{job.id[:8]}-{stem}{suffix}"

    @app.get("/api/jobs/{job_id}/results.zip", response_class=Response, responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
             summary="Every result of a finished job, in one zip")
    def results_zip(job_id: str) -> Response:
        job = find(job_id)
        if job.status != "done":
            raise Conflict(f"job {job_id} is {job.status}; its zip comes when it is done")
        if len(job.request.contents) < 2:
            raise Conflict(f"job {job_id} has one result; download it from /api/jobs/{job_id}/result")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
            names: set[str] = set()
            for item in range(len(job.request.contents)):
                name = _download_name(job, images.name(job.request.contents[item]), ".png")
                if name in names:
                    name = name.replace(".png", f"-{item + 1}.png")
                names.add(name)
                archive.write(result_path(data, job.id, item), name)
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="brushwork-{job.id[:8]}.zip"'})

    @app.get("/api/jobs/{job_id}/preview", response_class=FileResponse, responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
             summary="The latest preview of a job (JPEG)")
    def preview(job_id: str) -> FileResponse:
        job = find(job_id)
        path = data / "previews" / f"{job.id}.jpg"
        if not path.is_file():
            raise NotFound(f"job {job_id} has no preview yet")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _add_event_routes(app: FastAPI, s: _Studio) -> None:
    """Server-Sent Events: a job's progress as it happens."""
    events, store, worker = s.events, s.store, s.worker
    find = s.find

    @app.get("/api/jobs/{job_id}/events", response_class=StreamingResponse, responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
             summary="Server-Sent Events: status and progress (step, scale, losses, time left), then the end")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        find(job_id)
        last_seen = request.headers.get("last-event-id", "0")
        start = int(last_seen) if last_seen.isdigit() else 0
        return StreamingResponse(_event_stream(job_id, start, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _event_stream(job_id: str, last: int, request: Request):
        ended = False
        while True:
            job = store.get(job_id)
            pending = events.since(job_id, last)
            for event in pending:
                last = event["id"]
                ended = ended or (event["event"] == "status" and event["data"]["status"] in FINAL)
                yield f"id: {last}\nevent: {event['event']}\ndata: {json.dumps(event['data'])}\n\n"
            if job is None or job.status in FINAL:
                if job is not None and not ended:  # ended in an earlier server lifetime, or just now
                    final = {"status": job.status, **({"error": job.error} if job.error else {})}
                    yield f"id: {last + 1}\nevent: status\ndata: {json.dumps(final)}\n\n"
                return
            if await request.is_disconnected() or worker.stopping.is_set():
                return  # a stopping server must not wait for a job's end to close its streams
            await asyncio.sleep(0.1)


def _add_guards(app: FastAPI, settings: StudioSettings) -> None:
    """Token (when set), Host names (when not), and headers that keep the page's script its own."""

    def host_allowed(host: str) -> bool:
        name = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]  # without the port
        return name.lower() in settings.allowed_hosts

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if settings.token is None:
            if not host_allowed(request.headers.get("host", "")):
                return JSONResponse({"detail": "this studio has no token, so it answers only to the host names "
                                     f"{', '.join(settings.allowed_hosts)}"}, status_code=421)
        else:
            given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                     or request.query_params.get("token") or request.cookies.get("brushwork_token") or "")
            if not secrets.compare_digest(given.encode(), settings.token.encode()):
                return JSONResponse({"detail": "a valid token is required (Authorization: Bearer TOKEN or ?token=TOKEN)"},
                                    status_code=401)
        response = await call_next(request)
        if settings.token is not None and request.query_params.get("token"):
            response.set_cookie("brushwork_token", settings.token, httponly=True, samesite="strict")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path not in ("/docs", "/redoc"):  # FastAPI's API browser is a third-party page
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            response.headers["X-Frame-Options"] = "DENY"
        return response


def serve(settings: StudioSettings, host: str, port: int, *, announce=print) -> None:
    """Run the studio until SIGINT or SIGTERM, then stop promptly: event streams close, the
    running job goes back to the queue (it restarts on the next start), the process exits."""
    import uvicorn

    app = create_app(settings)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.begin_shutdown()
            super().handle_exit(sig, frame)

    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if settings.token:
        announce(f"Brushwork studio: {url}?token={settings.token}")
        announce(f"listening on {host}:{port}; a token guards it (open the address above once, or send "
                 "Authorization: Bearer TOKEN)")
    else:
        announce(f"Brushwork studio: {url}")
        announce(f"listening on {host}:{port} without a token: only this machine can connect, and only by the "
                 f"names {', '.join(settings.allowed_hosts)}")
    announce(f"jobs and images in {Path(settings.data).resolve()}; API schema at /docs; Ctrl-C stops (jobs resume on the next start)")
    _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)).run()


class NotFound(Exception):
    """Answered with 404."""


class Conflict(Exception):
    """Answered with 409: the job is in the wrong state for this."""
