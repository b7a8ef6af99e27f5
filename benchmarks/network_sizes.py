"""The arbitrary-style network's look at every size: one pair at 1024-4096 px, compared at 1024 px.

    .venv/bin/python benchmarks/network_sizes.py [--images ../shared/data/images]
        [--content paris.jpg --style starry_night.jpg] [--sizes 1024 2048 4096]

Runs ``brushwork adain``'s library call (the shipped WCT model) at each size twice: with the
default ``--reference-size`` (coarse levels at 1024 px, each finer level at twice the size
of the one above, the photo's detail added back) and with ``--reference-size 0`` (every
level at the output's size, as before). Each output is scaled to the smallest size and
compared with the smallest output: mean absolute difference (pixel range 1), style and
content distance, layout. Seconds are wall time in this process (run nothing else).
About 4 minutes on 2 CPU cores. Writes docs/network_sizes.md and docs/gallery/network_sizes.jpg.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from pages import write_page  # noqa: E402
from vs_pastiche import machine  # noqa: E402


def main() -> None:
    from brushwork.engine.metrics import score
    from PIL import Image

    from brushwork.media.image_io import captioned_row, fit_long_side, load_image, resize, tensor_to_pil
    from brushwork.options import describe
    from brushwork.realtime.models import DEFAULT_ARBITRARY, load_model
    from brushwork.realtime.stylize import AdaINOptions, arbitrary_stylize
    from brushwork.realtime.tiling import network_tiling

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--content", default="paris.jpg")
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    args = parser.parse_args()
    options = describe(AdaINOptions)
    net = load_model(DEFAULT_ARBITRARY, expect="arbitrary").network
    photo = load_image(Path(args.images) / "content" / args.content)
    style = load_image(Path(args.images) / "style" / args.style)
    style = resize(style, fit_long_side(*style.shape[-2:], options["style_size"]["default"]))
    default = options["reference_size"]["default"]
    runs = {f"--reference-size {default} (default)": default, "--reference-size 0 (every level at full size)": 0}
    sizes = sorted(args.sizes)
    rows, sheet = [], []
    for name, reference in runs.items():
        first, pictures = None, []
        for size in sizes:
            content = resize(photo, fit_long_side(*photo.shape[-2:], size))
            start = time.perf_counter()
            out = arbitrary_stylize(net, content, [style], reference_size=reference,
                                    tiling=network_tiling(None, options["overlap"]["default"], tuple(content.shape[-2:])))
            seconds = time.perf_counter() - start
            small = resize(out, fit_long_side(*out.shape[-2:], sizes[0]))
            first = small if first is None else first
            s = score(small, resize(photo, tuple(small.shape[-2:])), style)
            rows.append(f"| {name} | {size} | {seconds:.1f} | {float((small - first).abs().mean()):.3f} | "
                        f"{s.style_distance:.3f} | {s.content_distance:.3f} | {s.layout:.2f} |")
            pictures.append(tensor_to_pil(small))
            print(rows[-1], flush=True)
        sheet.append(pictures)
    thumbnail = tensor_to_pil(resize(photo, fit_long_side(*photo.shape[-2:], sizes[0])))
    strips = [captioned_row([thumbnail, *pictures], ["photo", *(f"{size} px, --reference-size {reference}" for size in sizes)],
                            height=320) for pictures, reference in zip(sheet, runs.values())]
    grid = Image.new("RGB", (max(s.width for s in strips), sum(s.height for s in strips)), "white")
    for i, strip in enumerate(strips):
        grid.paste(strip, (0, sum(s.height for s in strips[:i])))
    grid.save(ROOT / "docs" / "gallery" / "network_sizes.jpg", quality=88)
    lines = ["# The arbitrary-style network at every size", "",
             f"Measured by `benchmarks/network_sizes.py` on {machine()}, one invocation: `{args.content}` with "
             f"`{args.style}`, the shipped `{DEFAULT_ARBITRARY}` model, each output scaled to {sizes[0]} px and compared "
             f"with the {sizes[0]} px output (difference: mean absolute, pixel range 1; distances as `brushwork score`).",
             "",
             "| run | output long side | seconds | difference from the smallest | style distance | content distance | layout |",
             "|---|---:|---:|---:|---:|---:|---:|", *rows, "",
             "Every output shown at the same size (top: the default; bottom: every level at full size):", "",
             "![the same pair at every size](gallery/network_sizes.jpg)", ""]
    write_page(ROOT / "docs" / "network_sizes.md", lines)


if __name__ == "__main__":
    main()
