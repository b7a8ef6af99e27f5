"""The same look at every size: one pair stylized at 128 to 2048 px, compared at common sizes.

    .venv/bin/python benchmarks/sizes.py [--images ../shared/data/images] [--sizes 128 256 512 1024 2048]
        [--before-sizes 128 256 512] [--content paris.jpg --style starry_night.jpg]

Runs the optimiser's defaults at each size twice: as Brushwork does now (every output shares
the pyramid of ``--reference-size`` 512 and smaller outputs are computed at 512 and scaled
down) and as before (``--reference-size 0``: the pyramid ends at the output's size, so a 128 px
output is optimised at 32, 64 and 128 px). For each output: layout (coarse luminance
correlation with the content, :func:`brushwork.engine.metrics.layout`; target at least 0.8 at
every size), and for 512 px and larger the style and content distances (``brushwork score``)
of the output scaled to 512 px (target: within 20% of each other across 512-2048). Quality
only: times are in docs/highres.md (this script may share the machine). About 15 minutes.

Writes docs/sizes.md and docs/gallery/sizes.jpg (every output shown at the same size).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from vs_pastiche import machine  # noqa: E402

COMMON = 512
"""Long side at which the distances of outputs of 512 px and more are compared."""
SHOWN = 640
"""Long side every output is shown at on the gallery sheet (a 128 px preview enlarged, a print reduced)."""


def main() -> None:
    from brushwork.engine.metrics import grid_strength, layout, score
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import fit_long_side, labelled_grid, load_image, resize, tensor_to_pil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--before-sizes", type=int, nargs="*", default=[128, 256, 512],
                        help="sizes for the run as before (its large sizes take long and change little)")
    parser.add_argument("--content", default="paris.jpg")
    parser.add_argument("--style", default="starry_night.jpg")
    args = parser.parse_args()
    content = load_image(Path(args.images) / "content" / args.content)
    style = load_image(Path(args.images) / "style" / args.style)
    runs = {"now (reference 512)": (TransferConfig(), args.sizes),
            "before (reference 0)": (TransferConfig(reference_size=0), args.before_sizes)}
    rows, pictures = [], {}
    for name, (config, sizes) in runs.items():
        pictures[name] = []
        for size in sizes:
            out = stylize(content, [style], config=replace(config, size=size))
            row = {"run": name, "size": size, "layout": layout(out, content), "grid": grid_strength(out, 4)}
            if size >= COMMON:
                scores = score(resize(out, fit_long_side(*out.shape[-2:], COMMON)), content, style)
                row.update(style=scores.style_distance, content=scores.content_distance)
            rows.append(row)
            pictures[name].append(tensor_to_pil(resize(out, fit_long_side(*out.shape[-2:], SHOWN))))  # small ones enlarged
            print(row, flush=True)
    blank = Image.new("RGB", (8, 8), "white")
    cells = [pictures[name] + [blank] * (len(args.sizes) - len(pictures[name])) for name in runs]
    photo = tensor_to_pil(resize(content, fit_long_side(*content.shape[-2:], 256)))
    painting = tensor_to_pil(resize(style, fit_long_side(*style.shape[-2:], 256)))
    sheet = labelled_grid(cells, [photo] * len(runs), [painting] * len(args.sizes), list(runs),
                          [f"{size} px" for size in args.sizes], cell=320)
    gallery = ROOT / "docs" / "gallery" / "sizes.jpg"
    sheet.convert("RGB").save(gallery, quality=90)

    def spread(run: str, key: str) -> str:
        values = [r[key] for r in rows if r["run"] == run and key in r]
        return f"{max(values) / min(values):.2f}" if len(values) > 1 else "-"

    lines = ["# The same look at every size", "",
             f"Measured by `benchmarks/sizes.py` on {machine()}, one invocation; `{args.content}` with "
             f"`{args.style}`, the optimiser's defaults, `--size` as in the column. Layout: correlation of the "
             f"output's and the photo's luminance averaged to 32 px (1 = the photo's composition kept; target "
             f"at least 0.8). Distances (`brushwork score`) of the output scaled to {COMMON} px, for outputs of "
             f"{COMMON} px and more (target: within 20% of each other, i.e. max/min at most 1.2). Grid: "
             f"`metrics.grid_strength` at a period of 4 px, across/down (1.00: no grid; outputs under 512 px are "
             f"512 px runs scaled down, which hides it).", "",
             "| run | size | layout | style distance | content distance | grid |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        extra = f"{r['style']:.4f} | {r['content']:.3f}" if "style" in r else "- | -"
        lines.append(f"| {r['run']} | {r['size']} | {r['layout']:.3f} | {extra} | {r['grid'][0]:.2f}/{r['grid'][1]:.2f} |")
    lines += ["", "| run | max/min style distance | max/min content distance | lowest layout |", "|---|---:|---:|---:|"]
    for run in runs:
        lowest = min(r["layout"] for r in rows if r["run"] == run)
        lines.append(f"| {run} | {spread(run, 'style')} | {spread(run, 'content')} | {lowest:.3f} |")
    lines += ["", "Every output shown at the same size, the smaller ones enlarged (top: now; bottom: before, at the sizes it ran):", "",
              "![one pair at every size](gallery/sizes.jpg)", ""]
    (ROOT / "docs" / "sizes.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
