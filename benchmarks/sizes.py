"""The same look at every size: pairs stylized at 128 to 2048 px, compared at common sizes.

    .venv/bin/python benchmarks/sizes.py [--images ../shared/data/images] [--sizes 128 256 512 1024 2048]
        [--before-sizes 128 256] [--pairs paris:starry_night golden_gate:the_wave ...]

Runs the optimiser's defaults at each size twice: as Brushwork does now (every output shares
the pyramid of ``--reference-size`` 512 and smaller outputs are computed at 512 and scaled
down) and as before (``--reference-size 0``: the pyramid ends at the output's size, so a 128 px
output is optimised at 32, 64 and 128 px; at 512 px the two are the same run, so it is not
repeated). For each output: layout (coarse luminance correlation with the content,
:func:`brushwork.engine.metrics.layout`; target at least 0.8 at every size), and for 512 px
and larger the style and content distances (``brushwork score``) of the output scaled to
512 px (target: within 20% of each other across 512-2048). Quality only: times are in
docs/highres.md (this script may share the machine). About 7 minutes a pair.

Writes docs/sizes.md and one sheet a pair, docs/gallery/sizes_CONTENT_STYLE.jpg (every output
shown at the same size).
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
from vs_pastiche import find, machine  # noqa: E402

COMMON = 512
"""Long side at which the distances of outputs of 512 px and more are compared."""
SHOWN = 640
"""Long side every output is shown at on the gallery sheet (a 128 px preview enlarged, a print reduced)."""
DEFAULT_PAIRS = ["paris:starry_night", "golden_gate:the_wave", "cat:bedroom_in_arles"]
"""A city under a painting of swirls and a moon, a bridge under a wave with a title, a close-up
portrait under a room of objects."""
NOW, BEFORE = "now (reference 512)", "before (reference 0)"


def sheet_name(pair: str) -> str:
    return "sizes_{}_{}.jpg".format(*pair.split(":"))


def run_pair(pair: str, images: Path, sizes: list[int], before_sizes: list[int]) -> list[dict]:
    """Every output of one pair, measured; writes its sheet."""
    from brushwork.engine.metrics import grid_strength, layout, score
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import fit_long_side, labelled_grid, load_image, resize, tensor_to_pil

    content_name, style_name = pair.split(":")
    content = load_image(find(images, "content", content_name))
    style = load_image(find(images, "style", style_name))
    runs = {NOW: (TransferConfig(), sizes), BEFORE: (TransferConfig(reference_size=0), before_sizes)}
    rows, pictures = [], {}
    for name, (config, run_sizes) in runs.items():
        pictures[name] = {}
        for size in run_sizes:
            out = stylize(content, [style], config=replace(config, size=size))
            row = {"pair": pair, "run": name, "size": size, "layout": layout(out, content), "grid": grid_strength(out, 4)}
            if size >= COMMON:
                scores = score(resize(out, fit_long_side(*out.shape[-2:], COMMON)), content, style)
                row.update(style=scores.style_distance, content=scores.content_distance)
            rows.append(row)
            pictures[name][size] = tensor_to_pil(resize(out, fit_long_side(*out.shape[-2:], SHOWN)))  # small ones enlarged
            print(row, flush=True)
    if COMMON in pictures[NOW] and COMMON not in before_sizes:  # the same run at the reference size
        pictures[BEFORE][COMMON] = pictures[NOW][COMMON]
        rows += [dict(r, run=BEFORE) for r in rows if r["run"] == NOW and r["size"] == COMMON]
    blank = Image.new("RGB", (8, 8), "white")
    cells = [[pictures[name].get(size, blank) for size in sizes] for name in runs]
    photo = tensor_to_pil(resize(content, fit_long_side(*content.shape[-2:], 256)))
    painting = tensor_to_pil(resize(style, fit_long_side(*style.shape[-2:], 256)))
    sheet = labelled_grid(cells, [photo] * len(runs), [painting] * len(sizes), list(runs),
                          [f"{style_name}, {size} px" for size in sizes], cell=320)
    sheet.convert("RGB").save(ROOT / "docs" / "gallery" / sheet_name(pair), quality=90)
    return rows


def ratio(rows: list[dict], key: str) -> float | None:
    """max/min of ``key`` over the rows that have it (None if fewer than two)."""
    values = [r[key] for r in rows if key in r]
    return max(values) / min(values) if len(values) > 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--before-sizes", type=int, nargs="*", default=[128, 256],
                        help="sizes for the run as before (at 512 px it is the same run; its large sizes take long)")
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="CONTENT:STYLE")
    args = parser.parse_args()
    if COMMON in args.sizes:  # the run as before is the same run at the reference size
        args.before_sizes = sorted(set(args.before_sizes) - {COMMON})
    rows = []
    for pair in args.pairs:
        rows += run_pair(pair, Path(args.images), args.sizes, args.before_sizes)

    lines = ["# The same look at every size", "",
             f"Measured by `benchmarks/sizes.py` on {machine()}, one invocation; the optimiser's defaults, "
             f"`--size` as in the column. Layout: correlation of the output's and the photo's luminance averaged to "
             f"32 px (1 = the photo's composition kept; target at least 0.8). Distances (`brushwork score`) of the "
             f"output scaled to {COMMON} px, for outputs of {COMMON} px and more (target: within 20% of each other, "
             f"i.e. max/min at most 1.2). Grid: `metrics.grid_strength` at a period of 4 px, across/down (1.00: no "
             f"grid; outputs under {COMMON} px are {COMMON} px runs scaled down, which hides it). At {COMMON} px the "
             f"run as before is the same run as now (its pyramid ends at {COMMON} px either way).", "",
             "| pair | run | size | layout | style distance | content distance | grid |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        extra = f"{r['style']:.4f} | {r['content']:.3f}" if "style" in r else "- | -"
        lines.append(f"| {r['pair']} | {r['run']} | {r['size']} | {r['layout']:.3f} | {extra} | "
                     f"{r['grid'][0]:.2f}/{r['grid'][1]:.2f} |")
    lines += ["", "| pair | run | max/min style distance | max/min content distance | lowest layout |",
              "|---|---|---:|---:|---:|"]
    for pair in args.pairs:
        for run in (NOW, BEFORE):
            these = [r for r in rows if r["pair"] == pair and r["run"] == run]
            spreads = [ratio(these, key) for key in ("style", "content")]
            lowest = min(r["layout"] for r in these)
            lines.append(f"| {pair} | {run} | " + " | ".join("-" if s is None else f"{s:.2f}" for s in spreads)
                         + f" | {lowest:.3f} |")
    lines += ["", "Every output shown at the same size, the smaller ones enlarged (top row: now; bottom row: before, "
              "at the sizes it ran):", ""]
    for pair in args.pairs:
        lines += [f"**{pair}**", "", f"![{pair} at every size](gallery/{sheet_name(pair)})", ""]
    (ROOT / "docs" / "sizes.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
