"""The classic experiments as reproducible studies: optimisers, starting images, layers.

    .venv/bin/python benchmarks/studies.py [--images ../shared/data/images] [--only optimisers inits layers]
        [--content paris.jpg --style starry_night.jpg] [--size 384] [--grid-size 320]

Needs matplotlib (requirements-docs.txt; `make test` installs it). Writes docs/studies.md
and its plots and sheets in docs/studies/. One pair throughout, seeded; every run is the
library's ``stylize`` with one setting changed from the defaults, timed from the call (so a
network start's own pass and the style targets count). Times are only compared within
one invocation: nothing else should run meanwhile. About 25 minutes on 2 CPU cores.

- **Optimisers**: L-BFGS against Adam at several step sizes, the loss at every step against
  steps and against wall time, at one scale (every step at full size) and at three (the
  default pyramid: ``step_growth`` squared times the steps at a quarter of the size, once
  at half).
- **Starts**: the photo, white noise, and the shipped arbitrary-style networks' pictures
  (``--init adain`` / ``wct``): the time to come within 10% of the lowest loss any start reached.
- **Layers**: the content layer (relu1_2 .. relu5_2) against the style layers (the first
  1 .. 5 blocks), a grid of pictures like the papers' figures.

Losses are the weighted objective that the optimiser minimises (content, style and total
variation terms, each relative to its target's size, so that scales are comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from pages import write_page  # noqa: E402
from vs_pastiche import machine  # noqa: E402

DOCS = ROOT / "docs"
FIGURES = DOCS / "studies"
ADAM_RATES = (0.005, 0.02, 0.05, 0.1)
"""Adam step sizes tried (pixels are in [0, 1]; 0.02 is Brushwork's default)."""
STARTS = ("content", "noise", "adain", "wct")
CONTENT_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
STYLE_BLOCKS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
WITHIN = 1.10
"""A start has "arrived" when its loss is within this factor of the lowest loss any start reached."""


def timed_run(content, style, config) -> tuple[object, list[dict]]:
    """``stylize`` with a record of every step: seconds since the call, scale, loss terms."""
    from brushwork.engine.transfer import stylize

    trace: list[dict] = []
    start = time.perf_counter()

    def record(event) -> None:
        trace.append({"seconds": round(time.perf_counter() - start, 3), "scale": event.scale, "scales": event.scales,
                      **{name: float(f"{value:.5g}") for name, value in event.losses.items()}})

    image = stylize(content, [style], config=config, callback=record)
    trace.append({"seconds": time.perf_counter() - start, "end": True})
    return image, trace


def optimiser_study(content, style, size: int, steps: int) -> list[dict]:
    from brushwork.engine.transfer import TransferConfig

    base = TransferConfig(size=size, reference_size=0, seed=0)
    runs = []
    for scales, final_steps in ((1, steps), (3, steps // 4)):  # the same evaluations at full size would cost more at 3
        for name, lr in [("L-BFGS", None)] + [(f"Adam {lr:g}", lr) for lr in ADAM_RATES]:
            optimizer = "lbfgs" if lr is None else "adam"
            config = replace(base, scales=scales, steps=final_steps, optimizer=optimizer,
                             learning_rate=lr if lr is not None else base.learning_rate)
            _, trace = timed_run(content, style, config)
            runs.append({"optimiser": name, "scales": scales, "steps": final_steps, "trace": trace})
            print(f"  {name:10s} {scales} scale(s): loss {trace[-2]['total']:.4g} in {trace[-1]['seconds']:.1f} s", flush=True)
    return runs


def start_study(content, style, size: int, steps: int) -> tuple[list[dict], dict]:
    from brushwork.engine.metrics import score
    from brushwork.engine.transfer import TransferConfig

    base = TransferConfig(size=size, reference_size=0, scales=1, steps=steps, seed=0)
    runs, pictures = [], {}
    for start in STARTS:
        image, trace = timed_run(content, style, replace(base, init=start))
        s = score(image, content, style)
        runs.append({"start": start, "trace": trace, "content_distance": s.content_distance,
                     "style_distance": s.style_distance, "layout": s.layout})
        pictures[start] = image
        print(f"  {start:8s} loss {trace[-2]['total']:.4g} in {trace[-1]['seconds']:.1f} s", flush=True)
    return runs, pictures


def layer_study(content, style, size: int) -> tuple[list[list[object]], list[dict]]:
    from brushwork.engine.metrics import score
    from brushwork.engine.transfer import TransferConfig, stylize

    base = TransferConfig(size=size, reference_size=size, seed=0)
    grid, rows = [], []
    for content_layer in CONTENT_LAYERS:
        row = []
        for blocks in range(1, len(STYLE_BLOCKS) + 1):
            config = replace(base, content_layers=(content_layer,), style_layers=STYLE_BLOCKS[:blocks])
            image = stylize(content, [style], config=config)
            s = score(image, content, style)
            rows.append({"content_layer": content_layer, "style_blocks": blocks, "content_distance": s.content_distance,
                         "style_distance": s.style_distance, "layout": s.layout})
            row.append(image)
        grid.append(row)
        print(f"  {content_layer} done", flush=True)
    return grid, rows


def steps_of(run: dict) -> list[dict]:
    """A run's recorded steps (its trace without the end marker)."""
    return [s for s in run["trace"] if "total" in s]


def seconds_cell(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.1f}"


def arrival(trace: list[dict], target: float) -> float | None:
    """Seconds until the loss first came within ``target`` (at the final scale), or None."""
    for step in trace:
        if "total" in step and step["scale"] == step["scales"] and step["total"] <= target:
            return step["seconds"]
    return None


def plot_optimisers(runs: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharey="row")
    for row, scales in enumerate((1, 3)):
        for run in (r for r in runs if r["scales"] == scales):
            steps = steps_of(run)
            style = "-" if run["optimiser"] == "L-BFGS" else "--"
            axes[row, 0].plot(range(1, len(steps) + 1), [s["total"] for s in steps], style, label=run["optimiser"])
            axes[row, 1].plot([s["seconds"] for s in steps], [s["total"] for s in steps], style, label=run["optimiser"])
        if scales > 1:  # where each finer scale begins
            first = next(r for r in runs if r["scales"] == scales)
            steps = steps_of(first)
            for i in range(1, len(steps)):
                if steps[i]["scale"] != steps[i - 1]["scale"]:
                    axes[row, 0].axvline(i + 0.5, color="grey", lw=0.6)
        title = "one scale (every step at full size)" if scales == 1 else "three scales (quarter, half, full size)"
        for col, xlabel in enumerate(("step (loss evaluation)", "seconds since the call")):
            axes[row, col].set_yscale("log")
            axes[row, col].set_xlabel(xlabel)
            axes[row, col].set_title(title, fontsize=10)
        axes[row, 0].set_ylabel("objective (weighted sum)")
    axes[0, 1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_starts(runs: list[dict], target: float, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        steps = steps_of(run)
        ax.plot([s["seconds"] for s in steps], [s["total"] for s in steps], label=f"--init {run['start']}")
    ax.axhline(target, color="grey", lw=0.8, ls=":", label=f"within {WITHIN - 1:.0%} of the lowest")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the call (a network's pass included)")
    ax.set_ylabel("objective (weighted sum)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def layer_sheet(grid: list[list[object]], path: Path) -> None:
    import matplotlib.pyplot as plt

    from brushwork.media.image_io import tensor_to_pil

    rows, cols = len(grid), len(grid[0])
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows * grid[0][0].shape[-2] / grid[0][0].shape[-1] + 0.6))
    for r, row in enumerate(grid):
        for c, image in enumerate(row):
            axes[r, c].imshow(tensor_to_pil(image))
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title("style: " + ("relu1_1" if c == 0 else f"relu1_1 .. relu{c + 1}_1"), fontsize=9)
            if c == 0:
                axes[r, c].set_ylabel(f"content: {CONTENT_LAYERS[r]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80, pil_kwargs={"quality": 88})
    plt.close(fig)


def main() -> None:
    from brushwork.engine.devices import cpu_name
    from brushwork.engine.transfer import TransferConfig, stylize
    from brushwork.media.image_io import captioned_row, load_image, tensor_to_pil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--only", nargs="+", choices=("optimisers", "starts", "layers"),
                        default=["optimisers", "starts", "layers"])
    parser.add_argument("--content", default="paris.jpg")
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--size", type=int, default=384, help="long side of the optimiser and start studies")
    parser.add_argument("--steps", type=int, default=200, help="steps at full size of a one-scale run")
    parser.add_argument("--grid-size", type=int, default=320, help="long side of each picture of the layer grid")
    args = parser.parse_args()
    content = load_image(Path(args.images) / "content" / args.content)
    style = load_image(Path(args.images) / "style" / args.style)
    FIGURES.mkdir(exist_ok=True)
    stylize(content, [style], config=TransferConfig(size=64, steps=2, reference_size=0))  # load VGG-19 before any clock runs
    results_path = ROOT / "benchmarks" / "results" / "studies.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = machine()
    pair = f"`{args.content}` with `{args.style}`"

    if "optimisers" in args.only:
        print("optimisers", flush=True)
        runs = optimiser_study(content, style, args.size, args.steps)
        plot_optimisers(runs, FIGURES / "optimisers.png")
        results["optimisers"] = {"size": args.size, "pair": pair, "machine": machine(), "runs": runs,
                                 "step_growth": TransferConfig().step_growth}
    if "starts" in args.only:
        print("starts", flush=True)
        runs, pictures = start_study(content, style, args.size, args.steps)
        target = WITHIN * min(min(s["total"] for s in steps_of(r)) for r in runs)
        plot_starts(runs, target, FIGURES / "starts.png")
        sheet = captioned_row([tensor_to_pil(content)] + [tensor_to_pil(p) for p in pictures.values()],
                              ["photo"] + [f"--init {name}" for name in pictures], height=240)
        sheet.save(FIGURES / "starts.jpg", quality=88)
        results["starts"] = {"size": args.size, "pair": pair, "machine": machine(), "target": target, "runs": runs}
    if "layers" in args.only:
        print("layers", flush=True)
        grid, rows = layer_study(content, style, args.grid_size)
        layer_sheet(grid, FIGURES / "layers.jpg")
        results["layers"] = {"size": args.grid_size, "pair": pair, "machine": machine(), "rows": rows}
    results_path.write_text(json.dumps(results, separators=(",", ":")))  # traces: thousands of steps
    write_page(DOCS / "studies.md", page(results, cpu_name()))


def page(results: dict, cpu: str) -> list[str]:
    lines = ["# Studies", "",
             "The classic experiments of the style-transfer papers, rerun with Brushwork's library by "
             "`benchmarks/studies.py` (seeded; rerun it to remake this page and its pictures; each section "
             "names the machine it was measured on). The losses are the objective the optimiser minimises.", ""]
    if "optimisers" in results:
        study = results["optimisers"]
        growth = study.get("step_growth", 2.0)  # the default of runs before it was recorded
        lines += ["## Optimisers: L-BFGS against Adam", "",
                  f"{study['pair']}, {study['size']} px, measured on {study['machine']}. One scale: every step at "
                  f"full size; three scales: the default pyramid ({growth**2:g}x the steps at a quarter of the size, "
                  f"{growth:g}x at half).", "",
                  "![loss against steps and time](studies/optimisers.png)", "",
                  "| optimiser | scales | evaluations (all scales) | final loss | seconds | seconds to reach L-BFGS's one-scale loss at half its steps |",
                  "|---|---:|---:|---:|---:|---:|"]
        reference = next(r for r in study["runs"] if r["optimiser"] == "L-BFGS" and r["scales"] == 1)
        ref_steps = steps_of(reference)
        target = ref_steps[len(ref_steps) // 2 - 1]["total"]
        for run in study["runs"]:
            steps = steps_of(run)
            lines.append(f"| {run['optimiser']} | {run['scales']} | {len(steps)} | {steps[-1]['total']:.4g} | "
                         f"{run['trace'][-1]['seconds']:.1f} | {seconds_cell(arrival(run['trace'], target))} |")
        lines.append("")
    if "starts" in results:
        study = results["starts"]
        lines += ["## Starting image", "",
                  f"{study['pair']}, {study['size']} px, one scale, measured on {study['machine']}: the same "
                  f"objective from each start; time from the call, so a network start's pass counts.", "",
                  "![loss against time from each start](studies/starts.png)", "",
                  "![the pictures](studies/starts.jpg)", "",
                  f"| start | final loss | seconds to within {WITHIN - 1:.0%} of the lowest | total seconds | "
                  f"content distance | style distance | layout |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for run in study["runs"]:
            lines.append(f"| `--init {run['start']}` | {steps_of(run)[-1]['total']:.4g} | "
                         f"{seconds_cell(arrival(run['trace'], study['target']))} | "
                         f"{run['trace'][-1]['seconds']:.1f} | {run['content_distance']:.3f} | "
                         f"{run['style_distance']:.4f} | {run['layout']:.2f} |")
        lines.append("")
    if "layers" in results:
        study = results["layers"]
        lines += ["## Layers", "",
                  f"{study['pair']}, {study['size']} px (three scales ending there), measured on {study['machine']}. "
                  "Down: the content loss's layer; across: the style loss on the first 1 to 5 blocks "
                  "(relu1_1, relu2_1, ...), as in Gatys et al. (2016), figures 2 and 3. Other settings are the defaults "
                  "(the energy balance sets the style weight for each combination).", "",
                  "![content layer against style layers](studies/layers.jpg)", "",
                  "| content layer | style blocks | content distance | style distance | layout |",
                  "|---|---:|---:|---:|---:|"]
        for row in study["rows"]:
            lines.append(f"| {row['content_layer']} | {row['style_blocks']} | {row['content_distance']:.3f} | "
                         f"{row['style_distance']:.4f} | {row['layout']:.2f} |")
        lines += ["", "What a single layer keeps of the photo, and the textures of one to five style layers, "
                  "are in the README's gallery: [reconstructions](gallery/reconstruct.jpg), "
                  "[textures](gallery/texture.jpg), and executed step by step in [the tour notebook](tour.ipynb).", ""]
    return lines


if __name__ == "__main__":
    main()
