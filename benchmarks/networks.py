"""The trained networks against Brushwork's optimiser: speed and quality, into docs/networks.md.

    .venv/bin/python benchmarks/networks.py [--images ../shared/data/images]

1. Speed: images per second of a shipped feed-forward model and of the arbitrary-style network
   (``--arbitrary``, default the shipped default: ``wct``)
   at 256, 512 and 1024 px (square), in float32 and in bfloat16 autocast, against one
   default optimiser run (``brushwork transfer``'s defaults) on the same image.
2. Quality: ``brushwork score`` of each network's output and of the optimiser's on the
   benchmark pairs, with the images side by side.
3. Hybrid: ``--init wct`` (or ``adain``) with fewer final-scale steps against the default
   start, to show how many steps the network's start saves for the same metrics.

All in this one process, one after the other, on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from brushwork import TransferConfig, load_image, score, stylize
from brushwork.engine.devices import cpu_name, resolve_precision
from brushwork.media.image_io import captioned_row, fit_long_side, resize, save_image, tensor_to_pil
from brushwork.engine.transfer import NETWORK_INITS
from brushwork.realtime.models import DEFAULT_ARBITRARY, load_model, model_metadata, shipped_models
from brushwork.realtime.stylize import arbitrary_stylize, fast_stylize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "networks"
DOCS = ROOT / "docs"
PICTURES = DOCS / "networks"
PAIRS = ["golden_gate:starry_night", "flowers:the_wave", "beach_city:composition_vii", "columns:the_scream"]


def find(images: Path, kind: str, stem: str) -> Path:
    return sorted((images / kind).glob(stem + ".*"))[0]


def per_second(run, budget: float = 6.0, least: int = 3) -> float:
    run()  # warm-up (allocations, autocast caches)
    count, start = 0, time.perf_counter()
    while count < least or time.perf_counter() - start < budget:
        run()
        count += 1
    return count / (time.perf_counter() - start)


def speed(content: torch.Tensor, style: torch.Tensor, fast_name: str, arbitrary_name: str, sizes: list[int],
          optimiser_sizes: list[int]) -> list[dict]:
    fast = load_model(fast_name, expect="fast").network
    arbitrary = load_model(arbitrary_name, expect="arbitrary").network
    rows = []
    for size in sizes:
        image = resize(content, (size, size))
        styl = resize(style, (size, size))
        row = {"size": size}
        for precision in ("float32", "bfloat16"):
            row[f"fast_{precision}"] = per_second(lambda: fast_stylize(fast, image, precision=precision))
            row[f"arbitrary_{precision}"] = per_second(lambda: arbitrary_stylize(arbitrary, image, [styl], style_size=None,
                                                                              precision=precision))
        if size in optimiser_sizes:
            start = time.perf_counter()
            stylize(image, [styl], config=TransferConfig(size=size))
            row["optimiser"] = 1 / (time.perf_counter() - start)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def quality(images: Path, fast_for: dict[str, str], arbitrary_name: str, optimiser_dir: Path) -> list[dict]:
    arbitrary = load_model(arbitrary_name, expect="arbitrary").network
    rows = []
    PICTURES.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for pair in PAIRS:
        c, s = pair.split(":")
        content, style = load_image(find(images, "content", c)), load_image(find(images, "style", s))
        content512 = resize(content, fit_long_side(*content.shape[-2:], 512))
        outputs: dict[str, torch.Tensor] = {}
        times: dict[str, float] = {}
        optimiser_file = optimiser_dir / f"brushwork_{c}_{s}.png"
        start = time.perf_counter()
        outputs["optimiser"] = load_image(optimiser_file) if optimiser_file.exists() else stylize(content, [style])
        times["optimiser"] = float("nan") if optimiser_file.exists() else time.perf_counter() - start
        if s in fast_for:
            net = load_model(fast_for[s], expect="fast").network
            start = time.perf_counter()
            outputs[f"fast ({fast_for[s]})"] = fast_stylize(net, content512)
            times[f"fast ({fast_for[s]})"] = time.perf_counter() - start
        start = time.perf_counter()
        outputs[arbitrary_name] = arbitrary_stylize(arbitrary, content512, [style])
        times[arbitrary_name] = time.perf_counter() - start
        for method, image in outputs.items():
            save_image(image, RESULTS / f"{c}_{s}_{method.split()[0]}.png")
            rows.append({"pair": pair, "method": method, "seconds": round(times[method], 3),
                         **{k: round(v, 4) for k, v in score(image, content, style).as_dict().items()}})
            print(json.dumps(rows[-1]), flush=True)
        pictures = [tensor_to_pil(content512), tensor_to_pil(resize(style, fit_long_side(*style.shape[-2:], 512)))]
        pictures += [tensor_to_pil(im) for im in outputs.values()]
        row_image = captioned_row(pictures, ["content", "style", *outputs], height=256)
        row_image.convert("RGB").save(PICTURES / f"{c}_{s}.jpg", quality=88)
    return rows


def hybrid(images: Path, pair: str, steps: list[int], init: str) -> list[dict]:
    c, s = pair.split(":")
    content, style = load_image(find(images, "content", c)), load_image(find(images, "style", s))
    rows = []
    for start_from, n in [("content", TransferConfig().steps)] + [(init, n) for n in steps]:
        config = replace(TransferConfig(), init=start_from, steps=n,
                         scales=TransferConfig().scales if start_from == "content" else 1)
        start = time.perf_counter()
        out = stylize(content, [style], config=config)
        elapsed = time.perf_counter() - start
        rows.append({"init": start_from, "scales": config.scales, "steps": n, "seconds": round(elapsed, 1),
                     **{k: round(v, 4) for k, v in score(out, content, style).as_dict().items()}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def hybrid_verdict(rows: list[dict]) -> str:
    """One sentence: the fewest network-start steps that match the default run on both distances."""
    base, tries = rows[0], rows[1:]
    match = next((r for r in tries if r["content_distance"] <= base["content_distance"]
                  and r["style_distance"] <= base["style_distance"]), None)
    if match is None:
        best = min(tries, key=lambda r: r["style_distance"])
        return (f"No start from `{best['init']}` here matched the default run on both distances; the closest, {best['steps']} steps, "
                f"reached content {best['content_distance']:.3f} and style {best['style_distance']:.3f} "
                f"against {base['content_distance']:.3f} and {base['style_distance']:.3f}.")
    return (f"From the `{match['init']}` network's result, {match['steps']} full-size steps ({match['seconds']} s) reach both of the default "
            f"run's distances ({base['seconds']} s over {base['scales']} scales).")


def write_page(speed_rows, quality_rows, hybrid_rows, hybrid_pair: str, fast_name: str, arbitrary_name: str) -> Path:
    cpu = cpu_name()
    native_bf16 = resolve_precision("auto", torch.device("cpu")) == torch.bfloat16
    bf16_note = ("This CPU computes bfloat16 natively, so `--precision auto` uses it." if native_bf16 else
                 "This CPU has no native bfloat16 (no AVX-512 BF16 or AMX): the bf16 columns are emulated and slow, "
                 "and `--precision auto` runs float32 here.")
    measured_optimiser = any(r["method"] == "optimiser" and r["seconds"] == r["seconds"] for r in quality_rows)
    lines = ["# Real-time networks: speed and quality", "",
             "Made by `benchmarks/networks.py` (re-run it to regenerate this page) on "
             f"{cpu}, {os.cpu_count()} cores, {platform.system()}; torch {torch.__version__}. "
             "How the models were trained: [models.md](models.md).", "",
             "## Speed (images per second, square images, batch 1)", "",
             f"Feed-forward model `{fast_name}` and the arbitrary-style network `{arbitrary_name}`, each in float32 and with bfloat16 "
             "autocast, against one default optimiser run (`brushwork transfer` defaults) on the same image. "
             + bf16_note, "",
             f"| size | fast fp32 | fast bf16 | {arbitrary_name} fp32 | {arbitrary_name} bf16 | optimiser | fast (best) / optimiser |",
             "|---|---|---|---|---|---|---|"]
    for r in speed_rows:
        opt = r.get("optimiser")
        best = max(r["fast_float32"], r["fast_bfloat16"])
        lines.append(f"| {r['size']}² | {r['fast_float32']:.2f} | {r['fast_bfloat16']:.2f} | {r['arbitrary_float32']:.2f} | "
                     f"{r['arbitrary_bfloat16']:.2f} | {f'{opt:.4f}' if opt else 'not run'} | "
                     f"{f'{best / opt:,.0f}×' if opt else ''} |")
    lines += ["", "## Quality on the benchmark pairs", "",
              "`brushwork score` (see the README): lower distances are better, higher SSIM is better. "
              + ("The optimiser ran here with `brushwork transfer`'s defaults. " if measured_optimiser else
                 "The optimiser's outputs are the default runs of [benchmarks.md](benchmarks.md). ")
              + "Networks run at 512 px. The `wct` decoders saw starry_night and the_wave in training, not "
                "composition_vii nor the_scream (held out; [arbitrary.md](arbitrary.md) has more held-out pairs).", ""]
    for pair in dict.fromkeys(r["pair"] for r in quality_rows):
        c, s = pair.split(":")
        lines += [f"### {pair}", "", f"![{pair}](networks/{c}_{s}.jpg)", "",
                  "| method | seconds | content distance | style distance | SSIM | style SWD | palette | layout |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in (r for r in quality_rows if r["pair"] == pair):
            secs = "see benchmarks.md" if r["seconds"] != r["seconds"] else f"{r['seconds']:.2f}"
            lines.append(f"| {r['method']} | {secs} | {r['content_distance']:.4f} | {r['style_distance']:.4f} | "
                         f"{r['ssim']:.4f} | {r['style_swd']:.4f} | {r['palette']:.2f} | {r['layout']:.3f} |")
        lines.append("")
    lines += [f"## Hybrid: `--init {arbitrary_name}`", "",
              f"On {hybrid_pair}: the default run (content start, coarse to fine) against one full-size scale "
              f"started from the `{arbitrary_name}` network's result with fewer steps.", "",
              "| start | scales | final-scale steps | seconds | content distance | style distance | SSIM | style SWD |",
              "|---|---|---|---|---|---|---|---|"]
    for r in hybrid_rows:
        lines.append(f"| {r['init']} | {r['scales']} | {r['steps']} | {r['seconds']} | {r['content_distance']:.4f} | "
                     f"{r['style_distance']:.4f} | {r['ssim']:.4f} | {r['style_swd']:.4f} |")
    lines += ["", hybrid_verdict(hybrid_rows)]
    page = DOCS / "networks.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--optimiser-sizes", type=int, nargs="*", default=[256, 512])
    parser.add_argument("--hybrid-steps", type=int, nargs="*", default=[10, 20, 40, 60])
    parser.add_argument("--arbitrary", default=DEFAULT_ARBITRARY, choices=NETWORK_INITS,
                        help="the shipped arbitrary-style network to measure (default: %(default)s)")
    args = parser.parse_args()
    images = Path(args.images)
    models = shipped_models()
    fast_names = [n for n in models if model_metadata(n)["kind"] == "fast"]
    if args.arbitrary not in models or not fast_names:
        sys.exit("networks: train and ship the models first (see docs/models.md)")
    fast_for = {n: n for n in fast_names}  # shipped feed-forward models are named after their style
    content = load_image(find(images, "content", "golden_gate"))
    style = load_image(find(images, "style", "starry_night"))
    speed_rows = speed(content, style, fast_names[0], args.arbitrary, args.sizes, args.optimiser_sizes)
    quality_rows = quality(images, fast_for, args.arbitrary, ROOT / "benchmarks" / "results")
    hybrid_rows = hybrid(images, "flowers:the_wave", args.hybrid_steps, args.arbitrary)
    print(f"wrote {write_page(speed_rows, quality_rows, hybrid_rows, 'flowers:the_wave', fast_names[0], args.arbitrary)}")


if __name__ == "__main__":
    main()
