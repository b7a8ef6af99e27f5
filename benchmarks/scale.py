"""Batches on Ray against the plain local batch: throughput, Ray's overhead per item, a killed worker.

    make bench-deps; .venv/bin/python benchmarks/scale.py [--images ../shared/data/images] [--items 16] [--size 256]

One invocation, nothing else on the machine. A batch of ``--items`` photos (the shared
photos and their mirror images) with ``starry_night.jpg`` at ``--size`` px, run as:

- the plain local batch (``run_batch``) with 1 thread, and with every core;
- on a local Ray instance with 1 worker and with 2 workers of 1 thread each (the Ray
  instance is started per row, its start timed apart: a cluster is started once a day);
- again with 2 workers while one worker process is killed midway (the fault test).

Then a video: the first ``--video-seconds`` of Big Buck Bunny at ``--video-size`` px with
the network ``starry_night`` and its temporal filter, locally and with its frames drawn by 2
Ray workers; and its first ``--optimiser-video-seconds`` at ``--optimiser-video-size`` px
with the optimiser, locally and in two chunks on 2 Ray workers: frames a second and E_warp (``score-video``), which must agree
within 10%.

Twice: the optimiser (``--reference-size`` = ``--size``, so each item is optimised at
its own size; seconds an item) and the per-style network ``starry_night`` (milliseconds an
item, so Ray's own cost per item shows). Then the cost on paper of larger work, from the
measured seconds an item. Writes docs/scale.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from batch import PHOTOS  # noqa: E402
from pages import write_page  # noqa: E402
from vs_pastiche import machine  # noqa: E402


def make_photos(images: Path, count: int, folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        image = Image.open(images / "content" / PHOTOS[i % len(PHOTOS)]).convert("RGB")
        if i // len(PHOTOS) % 2:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"{i:03d}.jpg"
        image.save(path, quality=92)
        paths.append(str(path))
    return paths


def warm_up(ray, workers: int) -> None:
    """Start each worker process and import torch and Brushwork there, as a running cluster
    would have done long before a batch (timed as Ray's start, not as the items')."""

    def imports() -> int:
        importlib.import_module("brushwork.pipeline.cluster")  # torch with it

        time.sleep(1.0)  # long enough that each task gets a worker of its own
        return os.getpid()

    ray.get([ray.remote(num_cpus=1)(imports).remote() for _ in range(workers)])


def kill_one_busy_worker(killed: list[str], stop: threading.Event, after: float) -> None:
    """Once ``after`` seconds have passed, kill a Ray worker busy with an item."""
    time.sleep(after)
    while not stop.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::stylize_item"):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def run_row(name: str, photos: list[str], style: str, out: Path, request, *, threads: int | None = None,
            workers: int | None = None, kill_after: float | None = None) -> dict:
    import torch

    from brushwork.pipeline.batch import MANIFEST, plan_batch, run_batch
    from brushwork.pipeline.cluster import RaySettings, connect, ray_executor

    items = plan_batch(photos, [style], out)
    row: dict = {"run": name, "items": len(items), "start_s": None}
    if workers is None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads or previous)
        start = time.perf_counter()
        summary = run_batch(items, request, out / MANIFEST, scores=False)
        row["seconds"] = time.perf_counter() - start
        torch.set_num_threads(previous)
    else:
        settings = RaySettings(workers=workers, threads_per_worker=1)
        start = time.perf_counter()
        ray, _ = connect(settings)
        warm_up(ray, workers)
        row["start_s"] = time.perf_counter() - start
        killed: list[str] = []
        stop = threading.Event()
        if kill_after is not None:
            threading.Thread(target=kill_one_busy_worker, args=(killed, stop, kill_after), daemon=True).start()
        try:
            with ray_executor(settings, scores=False) as executor:
                start = time.perf_counter()
                summary = run_batch(items, request, out / MANIFEST, scores=False, executor=executor)
                row["seconds"] = time.perf_counter() - start
        finally:
            stop.set()
            ray.shutdown()
        retried = [Path(line["output"]).name for line in summary.lines if line.get("attempts", 1) > 1]
        row["fault"] = {"killed": len(killed), "retried": retried}
    row["done"] = summary.done
    row["outputs"] = sum(1 for item in items if item.output.is_file())
    row["per_item_s"] = row["seconds"] / len(items)
    row["megapixels"] = sum(Image.open(item.output).width * Image.open(item.output).height
                            for item in items if item.output.is_file()) / 1e6
    print(row, flush=True)
    return row


def video_rows(clip: Path, seconds: float, size: int, tmp: Path, method: str, style: str) -> list[dict]:
    """The clip locally and on 2 Ray workers: the network's frames drawn on the workers, or
    the optimiser's chunks painted there."""
    from brushwork.engine.transfer import TransferConfig
    from brushwork.pipeline.cluster import RaySettings, connect, ray_painter
    from brushwork.pipeline.video import VideoRequest, score_video, stylize_video

    config = TransferConfig(size=size, device="cpu")
    rows = []
    for name, workers in (("local", None), ("Ray, 2 workers x 1 thread", 2)):
        out = tmp / f"video-{method}-{workers or 0}.mp4"
        if method == "fast":
            request = VideoRequest(clip, out, [], config, method="fast", model="starry_night", duration=seconds)
        else:
            request = VideoRequest(clip, out, [style], config, duration=seconds)
        if workers is None:
            start = time.perf_counter()
            result = stylize_video(request)
            row = {"run": name, "start_s": None}
        else:
            settings = RaySettings(workers=workers, threads_per_worker=1)
            start = time.perf_counter()
            ray, _ = connect(settings)
            warm_up(ray, workers)
            row = {"run": name, "start_s": time.perf_counter() - start}
            try:
                with ray_painter(settings, request) as painter:
                    start = time.perf_counter()
                    result = stylize_video(request, painter=painter)
            finally:
                ray.shutdown()
        figures = score_video(clip, out, style=None if method == "fast" else style)
        row.update(frames=result.frames, seconds=time.perf_counter() - start, warping_error=figures["warping_error"],
                   style_distance=figures.get("scores", {}).get("style_distance"))
        row["fps"] = row["frames"] / row["seconds"]
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    from brushwork.engine.transfer import TransferConfig
    from brushwork.pipeline.runner import TransferRequest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--video", help="clip for the video part (default: video/bigbuckbunny.mp4 beside --images)")
    parser.add_argument("--video-seconds", type=float, default=2.0, help="the network's clip")
    parser.add_argument("--video-size", type=int, default=384)
    parser.add_argument("--optimiser-video-size", type=int, default=160)
    parser.add_argument("--optimiser-video-seconds", type=float, default=5.0)
    args = parser.parse_args()
    images = Path(args.images)
    args.video = args.video or str(images.parent / "video" / "bigbuckbunny.mp4")
    style = str(images / "style" / "starry_night.jpg")
    cores = os.cpu_count() or 1
    methods = {
        "optimiser": TransferConfig(size=args.size, reference_size=args.size, device="cpu"),
        "network starry_night": TransferConfig(size=args.size, device="cpu"),
    }
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        photos = make_photos(images, args.items, tmp / "photos")
        for method, config in methods.items():
            kind = "optimize" if method == "optimiser" else "fast"

            def request(item, config=config, kind=kind):
                return TransferRequest(item.content, [item.style] if kind == "optimize" else [], config, method=kind,
                                       model=None if kind == "optimize" else "starry_night", output=item.output)

            tag = method.split()[0]
            rows[method] = [
                run_row("local, 1 thread", photos, style, tmp / f"{tag}-local1", request, threads=1),
                run_row(f"local, {cores} threads", photos, style, tmp / f"{tag}-local", request, threads=cores),
                run_row("Ray, 1 worker x 1 thread", photos, style, tmp / f"{tag}-ray1", request, workers=1),
                run_row("Ray, 2 workers x 1 thread", photos, style, tmp / f"{tag}-ray2", request, workers=2),
            ]
            clean = rows[method][-1]["seconds"]
            rows[method].append(run_row("Ray, 2 workers, one killed midway", photos, style, tmp / f"{tag}-fault", request,
                                        workers=2, kill_after=clean / 2))
        video = {"fast": video_rows(Path(args.video), args.video_seconds, args.video_size, tmp, "fast", style),
                 "optimize": video_rows(Path(args.video), args.optimiser_video_seconds, args.optimiser_video_size, tmp,
                                        "optimize", style)}
    report(rows, video, args, cores)


def report(rows: dict[str, list[dict]], video: dict[str, list[dict]], args: argparse.Namespace, cores: int) -> None:
    lines = ["# Scale-out on Ray", "",
             f"Measured by `benchmarks/scale.py` on {machine()}, one invocation, nothing else running: "
             f"{args.items} photos (the shared photos and their mirror images) with `starry_night.jpg` at {args.size} px. "
             "Ray runs on this machine (a local instance, loopback only); its start (the instance, and each worker process "
             "importing torch and Brushwork, as on a cluster that is already up) is timed apart. Seconds include each "
             "worker's first item, where it loads VGG-19 or the network once; the local rows run in one process, "
             "which has them loaded from the first row on.", ""]
    for method, table in rows.items():
        local1, ray1, ray2 = table[0], table[2], table[3]
        lines += [f"## {method}", "", "| run | wall s | s per item | items/s | vs local 1 thread | outputs | Ray start s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in table:
            start = "-" if row["start_s"] is None else f"{row['start_s']:.1f}"
            lines.append(f"| {row['run']} | {row['seconds']:.1f} | {row['per_item_s']:.2f} | {1 / row['per_item_s']:.2f} | "
                         f"{local1['seconds'] / row['seconds']:.2f}x | {row['outputs']}/{row['items']} | {start} |")
        fault = table[4]
        overhead = (ray1["seconds"] - local1["seconds"]) / local1["items"]
        lines += ["", f"- 2 workers against 1: **{ray1['seconds'] / ray2['seconds']:.2f}x** the throughput (target at "
                  f"least 1.7x).",
                  f"- Ray's overhead per item (1 worker against the local batch, both 1 thread): **{overhead:.2f} s** "
                  "(target under 0.5 s).",
                  f"- Fault: {fault['fault']['killed']} worker killed midway; {fault['outputs']}/{fault['items']} outputs; "
                  f"retried: {', '.join(fault['fault']['retried']) or 'none'} (named in the manifest by `attempts`); "
                  f"time lost against the clean 2-worker run: {fault['seconds'] - ray2['seconds']:.1f} s.", ""]
    from brushwork.pipeline.video import VideoRequest

    overlap = VideoRequest.chunk_overlap
    lines += ["## Video", "", "Big Buck Bunny (`bigbuckbunny.mp4`, CC BY, Blender Foundation), locally and on 2 Ray workers.",
              ""]
    for method, what in (("fast", f"The first {args.video_seconds:g} s, network `starry_night` with its temporal filter at "
                                  f"{args.video_size} px: the workers draw the frames, the driver filters them in order."),
                         ("optimize", f"The first {args.optimiser_video_seconds:g} s, the optimiser (defaults, "
                                      f"`starry_night.jpg`) at {args.optimiser_video_size} px: locally each frame starts "
                                      "from the one before; on Ray the clip is cut into one chunk per worker, the second "
                                      f"starting {overlap} frames early and cross-faded into the first over those frames.")):
        table = video[method]
        lines += [what, "", "| run | frames | wall s | frames/s | E_warp | style distance | Ray start s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in table:
            start = "-" if row["start_s"] is None else f"{row['start_s']:.1f}"
            style = "-" if row["style_distance"] is None else f"{row['style_distance']:.4f}"
            lines.append(f"| {row['run']} | {row['frames']} | {row['seconds']:.1f} | {row['fps']:.2f} | "
                         f"{row['warping_error']:.6f} | {style} | {start} |")
        local, remote = table
        lines += ["", f"E_warp on Ray against local: **{remote['warping_error'] / local['warping_error']:.3f}x** (target "
                  f"within 10%); frames a second {remote['fps'] / local['fps']:.2f}x.", ""]
    lines += ["The network's frames on Ray are the local ones up to float rounding between thread counts; on 2 cores "
              "the driver's share (decoding, optical flow, the filter, encoding) competes with the workers for the same "
              "CPUs, on a cluster it does not. The optimiser's chunks differ from the local run only from the cross-fade "
              "on.", ""]

    def per_megapixel(method: str) -> float:  # seconds a megapixel on one worker of 1 thread (2-worker row)
        row = rows[method][3]
        return row["seconds"] * 2 / row["megapixels"]

    optimiser, network = per_megapixel("optimiser"), per_megapixel("network starry_night")
    photo_1024 = 1024 * 683 / 1e6  # a 3:2 photo at 1024 px
    lines += ["## On paper", "",
              f"From the 2-worker rows above: one worker of 1 thread does a megapixel in {optimiser:.0f} s with the "
              f"optimiser and {network:.2f} s with the network. Taking the cost as proportional to the pixels (true of "
              "both to within the pyramid's share) and the same throughput per worker on every node:", "",
              "| work | one worker of 1 thread | 100 such workers |", "|---|---:|---:|"]
    for name, seconds in (("10,000 photos at 1024 px, optimiser", 10_000 * photo_1024 * optimiser),
                          ("10,000 photos at 1024 px, network", 10_000 * photo_1024 * network),
                          ("1 hour of 1080p video (90,000 frames), network per frame", 90_000 * 1920 * 1080 / 1e6 * network)):
        lines.append(f"| {name} | {seconds / 3600:,.1f} h | {seconds / 3600 / 100:,.2f} h |")
    lines += [""]
    write_page(ROOT / "docs" / "scale.md", lines)


if __name__ == "__main__":
    main()
