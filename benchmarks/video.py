"""Steadiness, style and speed of `brushwork video`, with and without its temporal part.

    .venv/bin/python benchmarks/video.py [--video ../shared/data/video/bigbuckbunny.mp4]
                                         [--images ../shared/data/images] [--optimizer-seconds 1]

For each clip (the shared Big Buck Bunny excerpt, and a clip this script makes from a
shared photo with a known camera move: a pan and a zoom) and each method, runs the real
command twice (temporal and ``--no-temporal``) in this invocation, then ``score-video``:
E_warp (Lai et al.), the mean style distance of four frames, and seconds end to end.
Targets (issue 13): E_warp at least 3x lower with the style distance at most 15% higher;
the networks at 640x360 at least 5 frames per second. Writes docs/video.md and a small
side-by-side GIF (per frame | temporal) into docs/gallery/.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT.parent / "shared/data/video/bigbuckbunny.mp4"))
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--optimizer-seconds", type=float, default=0.4)
    args = parser.parse_args()
    style = Path(args.images) / "style" / args.style
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        camera = tmp / "pan_zoom.mp4"
        pan_and_zoom(Path(args.images) / "content" / "paris.jpg", camera)
        clips = {"Big Buck Bunny (5.3 s, 132 frames)": Path(args.video), "pan and zoom over paris.jpg (3 s, 75 frames)": camera}
        methods = {"fast (starry_night)": ["--method", "fast", "--model", "starry_night", "--size", "640"],
                   "adain": ["--method", "adain", "--size", "640"],
                   f"optimize ({args.optimizer_seconds:g} s, 384 px)": ["--size", "384", "--duration", str(args.optimizer_seconds)]}
        for clip_name, clip in clips.items():
            for method, flags in methods.items():
                figures = {}
                for mode, extra in (("temporal", []), ("per frame", ["--no-temporal"])):
                    out = tmp / f"{len(rows)}-{mode.replace(' ', '_')}.mp4"
                    seconds = brushwork("video", str(clip), "-o", str(out), "--style", str(style), "--quiet", *flags, *extra)
                    result = score(clip, out, style)
                    figures[mode] = {"seconds": seconds, "frames": result["stylized"]["frames"], "out": out,
                                     "e_warp": result["warping_error"], "style": result["scores"]["style_distance"]}
                    print(clip_name, method, mode, figures[mode], flush=True)
                rows.append((clip_name, method, figures))
                if method.startswith("fast") and clip == Path(args.video):
                    side_by_side(figures["per frame"]["out"], figures["temporal"]["out"],
                                 ROOT / "docs" / "gallery" / "video_side_by_side.gif")
    lines = ["# Video", "",
             f"Measured by `benchmarks/video.py` on {machine()}, one invocation (compare only figures from one run). "
             "Each row runs `brushwork video` with and without `--no-temporal` and scores both with "
             "`brushwork score-video` against the original: E_warp (Lai et al. 2018; lower is steadier) and the mean "
             f"style distance of four frames to `{args.style}`. Targets: E_warp at least 3x lower with the style "
             "distance at most 15% higher; the networks at 640x360 at least 5 frames per second end to end.", "",
             "Big Buck Bunny: (c) copyright 2008, Blender Foundation / www.bigbuckbunny.org, CC BY 3.0.", "",
             "| clip | method | E_warp per frame | E_warp temporal | ratio | style per frame | style temporal | change | "
             "fps per frame | fps temporal |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for clip_name, method, f in rows:
        a, b = f["per frame"], f["temporal"]
        lines.append(f"| {clip_name} | {method} | {a['e_warp']:.5f} | {b['e_warp']:.5f} | {a['e_warp'] / b['e_warp']:.1f}x | "
                     f"{a['style']:.4f} | {b['style']:.4f} | {100 * (b['style'] / a['style'] - 1):+.0f}% | "
                     f"{a['frames'] / a['seconds']:.2f} | {b['frames'] / b['seconds']:.2f} |")
    lines += ["", "Per frame (left) against temporal (right), every second frame of the first 30, with the starry_night network:", "",
              "![per frame against temporal](gallery/video_side_by_side.gif)", ""]
    (ROOT / "docs" / "video.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
