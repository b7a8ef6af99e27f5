"""Edge enhancement and noise reduction after the optimiser: what they do to the picture and its scores.

    .venv/bin/python benchmarks/finishing.py [--images ../shared/data/images] [--size 1024]

Runs the optimiser's defaults once per pair at ``--size``, then applies ``--sharpen`` and
``--denoise`` at a few settings to that output (the same as running with the options: the
finishing is applied to the optimiser's final picture, tested in tests/test_postprocess.py)
and scores each with ``brushwork score``. Quality only, no times. A few minutes.

Writes docs/finishing.md and docs/gallery/finishing.jpg (100% crops, before and after).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from pages import write_page  # noqa: E402
from vs_pastiche import machine  # noqa: E402

PAIRS = [("golden_gate.jpg", "starry_night.jpg"), ("columns.jpg", "the_scream.jpg"), ("flowers.jpg", "the_wave.jpg")]
SETTINGS = [("none", 0.0, 0.0), ("--sharpen 0.5", 0.5, 0.0), ("--sharpen 1", 1.0, 0.0), ("--denoise 0.5", 0.0, 0.5),
            ("--denoise 1", 0.0, 1.0), ("--denoise 0.5 --sharpen 0.5", 0.5, 0.5)]
CROP = 256
"""Side of the 100% crops on the gallery sheet."""


def main() -> None:
    from brushwork.engine.metrics import score
    from brushwork.engine.postprocess import finish_picture
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import load_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    rows, crops = [], []
    for content_name, style_name in PAIRS:
        content = load_image(Path(args.images) / "content" / content_name)
        style = load_image(Path(args.images) / "style" / style_name)
        out = stylize(content, [style], config=TransferConfig(size=args.size))
        h, w = out.shape[-2:]
        top, left = (h - CROP) // 2, (w - CROP) // 2
        row_crops = []
        for name, amount, strength in SETTINGS:
            finished = finish_picture(out, sharpen_amount=amount, denoise_strength=strength)
            figures = score(finished, content, style).as_dict()
            rows.append({"pair": f"{content_name} + {style_name}", "setting": name, **figures})
            print(rows[-1], flush=True)
            row_crops.append(finished[..., top:top + CROP, left:left + CROP])
        crops.append(row_crops)
    write(rows, crops, args)


def write(rows: list[dict], crops: list[list], args: argparse.Namespace) -> None:
    from PIL import Image

    from brushwork.media.image_io import tensor_to_pil

    gap = 8
    columns, lines = len(SETTINGS), len(crops)
    sheet = Image.new("RGB", (columns * CROP + (columns - 1) * gap, lines * CROP + (lines - 1) * gap), "white")
    for i, row in enumerate(crops):
        for j, crop in enumerate(row):
            sheet.paste(tensor_to_pil(crop.clamp(0, 1)), (j * (CROP + gap), i * (CROP + gap)))
    gallery = ROOT / "docs" / "gallery" / "finishing.jpg"
    sheet.save(gallery, quality=92)
    lines_out = ["# Finishing: edge enhancement and noise reduction", "",
                 f"Measured by `benchmarks/finishing.py` on {machine()}: the optimiser's defaults at {args.size} px, then "
                 "the finishing options applied to that output (the same as passing them to `brushwork transfer`), each "
                 "scored with `brushwork score`. Lower distances are closer; layout (coarse luminance correlation with "
                 "the photo) higher keeps more of it.", "",
                 "| pair | setting | content distance | style distance | style SWD | layout | palette |",
                 "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines_out.append(f"| {r['pair']} | `{r['setting']}` | {r['content_distance']:.3f} | {r['style_distance']:.4f} | "
                         f"{r['style_swd']:.4f} | {r['layout']:.3f} | {r['palette']:.1f} |")
    base = {r["pair"]: r for r in rows if r["setting"] == "none"}
    lines_out += ["", "Against no finishing (mean over the pairs, ratio of each figure):", "",
                  "| setting | content distance | style distance | style SWD |", "|---|---:|---:|---:|"]
    for name, _, _ in SETTINGS[1:]:
        ratios = {k: sum(r[k] / base[r["pair"]][k] for r in rows if r["setting"] == name) / len(base)
                  for k in ("content_distance", "style_distance", "style_swd")}
        lines_out.append(f"| `{name}` | {ratios['content_distance']:.2f}x | {ratios['style_distance']:.2f}x | "
                         f"{ratios['style_swd']:.2f}x |")
    lines_out += ["", f"100% crops ({CROP} px from the middle of each output), left to right: "
                  + ", ".join(f"`{s[0]}`" for s in SETTINGS) + "; one pair per row, in the table's order.", "",
                  "![finishing](gallery/finishing.jpg)", ""]
    write_page(ROOT / "docs" / "finishing.md", lines_out)


if __name__ == "__main__":
    main()
