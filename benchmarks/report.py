"""Second half of vs_pastiche.py: Brushwork's runs at several strengths, pastiche's timing,
scoring, the trade-off plot and docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from PIL import Image

from brushwork.engine.metrics import score
from brushwork.engine.transfer import TransferConfig
from brushwork.media.image_io import captioned_row, load_image
from vs_pastiche import RESULTS, ROOT, find, machine, run_pastiche, timed

DOCS = ROOT / "docs"
PICTURES = DOCS / "benchmarks"
PRESETS = ("draft", "default", "best")
STRENGTHS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Style weights tried on every pair, as multiples of the default: the trade-off curve. Up to
x8 since the default weighs the deep layers down (2026-11-29: a pair was lost by 3% at x4)."""
PASTICHE_STEPS = 1000
"""pastiche's default run, whose time is extrapolated from two short runs."""
LEGIBLE_LAYOUT = 0.8
"""The photo's composition kept: coarse luminance correlation with it (``brushwork score``)."""
LEGIBLE_OUTLINES = 0.5
"""The photo's drawing kept: its strongest outlines still among the output's strongest
gradients at 128 px (``outlines`` of ``brushwork score``; 0 chance, 1 all at the top)."""
COPIED_AT_MOST = 0.05
"""The painting's manner, not its objects: at most this share of the picture in blocks copied
whole from the painting (``copied`` of ``brushwork score``)."""


def brushwork_cmd(content: Path, style: Path, out: Path, size: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "brushwork", "transfer", str(content), str(style), "-o", str(out),
            "--size", str(size), "--quiet", *extra]


def scores_of(path: Path, content: torch.Tensor, style: torch.Tensor) -> dict:
    return score(load_image(path), content, style).as_dict()


def legible(s: dict) -> bool:
    return s["layout"] >= LEGIBLE_LAYOUT and s["outlines"] >= LEGIBLE_OUTLINES


def copies(s: dict) -> bool:
    return s["copied"] > COPIED_AT_MOST


def beats(s: dict, p: dict) -> bool:
    return s["content_distance"] <= p["content_distance"] and s["style_distance"] <= p["style_distance"]


def pastiche_time(content: Path, style: Path, steps: tuple[int, int], size: int) -> dict:
    """pastiche's time for :data:`PASTICHE_STEPS` steps, from two runs of ``steps`` steps in
    this invocation: its cost per step is flat (one L-BFGS step at one size), so the full run
    is the shorter run plus the remaining steps at the measured per-step cost."""
    few, many = steps
    runs = {n: run_pastiche(content, style, RESULTS / f"pastiche_timing_{n}.png", size, steps=n) for n in (few, many)}
    per_step = (runs[many]["wall_s"] - runs[few]["wall_s"]) / (many - few)
    return {"wall_s": runs[few]["wall_s"] + (PASTICHE_STEPS - few) * per_step, "per_step_s": per_step,
            "peak_mib": runs[many]["peak_mib"], "measured": {str(n): r["wall_s"] for n, r in runs.items()}}


def brushwork_runs_and_report(args, images: Path, baseline: dict) -> None:
    PICTURES.mkdir(parents=True, exist_ok=True)
    default_weight = TransferConfig().style_weight
    rows = []
    for pair in args.pairs:
        c, s = pair.split(":")
        content_path, style_path = find(images, "content", c), find(images, "style", s)
        content, style = load_image(content_path), load_image(style_path)
        base = baseline[pair]
        pastiche_out = ROOT / base["output"]
        print(f"{pair}: pastiche timing ...", flush=True)
        timing = pastiche_time(content_path, style_path, tuple(args.pastiche_steps), args.size)
        points = []
        for strength in STRENGTHS:
            out = RESULTS / f"brushwork_{c}_{s}_{strength:g}.png"
            run = timed(brushwork_cmd(content_path, style_path, out, args.size,
                                      "--style-weight", f"{default_weight * strength:g}"), out.with_suffix(".log"))
            points.append({"strength": strength, "output": str(out), **run, **scores_of(out, content, style)})
            print(f"{pair}: x{strength:g} {points[-1]}", flush=True)
        p_scores = scores_of(pastiche_out, content, style)
        presets = {}
        if pair in args.pairs[: args.preset_pairs]:
            for preset in PRESETS:
                out = RESULTS / f"preset_{preset}_{c}_{s}.png"
                presets[preset] = {**timed(brushwork_cmd(content_path, style_path, out, args.size, "--quality", preset),
                                           out.with_suffix(".log")), **scores_of(out, content, style)}
        picture = PICTURES / f"{c}_{s}.jpg"
        sheet([content_path, style_path, pastiche_out] + [Path(p["output"]) for p in points],
              ["photo", "painting", "pastiche"] + [f"x{p['strength']:g}" + (" (default)" if p["strength"] == 1 else "")
                                                   for p in points], picture)
        rows.append({"pair": pair, "pastiche": {**base, **p_scores, "timing": timing}, "points": points,
                     "presets": presets, "picture": str(picture.relative_to(DOCS))})
    command = " ".join(a for a in sys.argv[1:] if not a.startswith("/"))
    (RESULTS / "report.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    plot(rows, PICTURES / "tradeoff.png")
    write_markdown(rows, args, command)


def render_again(args) -> None:
    """The page and plot from the last run's figures (kept in benchmarks/results/report.json),
    for a change of presentation: the figures and pictures stay those of that invocation."""
    kept = json.loads((RESULTS / "report.json").read_text())
    rows = kept["rows"] if isinstance(kept, dict) else kept
    command = kept["command"] if isinstance(kept, dict) else "--pairs " + " ".join(r["pair"] for r in rows)
    plot(rows, PICTURES / "tradeoff.png")
    write_markdown(rows, args, command)


def sheet(paths: list[Path], labels: list[str], out: Path, height: int = 180) -> None:
    images = []
    for p in paths:
        with Image.open(p) as img:
            images.append(img.convert("RGB"))
    captioned_row(images, labels, height=height).save(out, quality=90)


def plot(rows: list[dict], out: Path) -> None:
    """Content distance against style distance, one panel a pair: Brushwork's strengths as a
    curve, pastiche as a star; Brushwork wins where a point lies below and left of the star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    lines = (len(rows) + columns - 1) // columns
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3.4 * lines), squeeze=False)
    for ax, r in zip(axes.flat, rows):
        p, points = r["pastiche"], r["points"]
        xs, ys = [q["style_distance"] for q in points], [q["content_distance"] for q in points]
        ax.plot(xs, ys, "-o", color="tab:blue", label="Brushwork (style weight x)")
        for q, x, y in zip(points, xs, ys):
            ax.annotate(f"x{q['strength']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8,
                        color="tab:blue" if legible(q) and not copies(q) else "tab:red")
        ax.plot([p["style_distance"]], [p["content_distance"]], "*", color="tab:orange", markersize=14,
                label="pastiche (1000 steps)")
        left, bottom = min(xs + [p["style_distance"]]) * 0.8, min(ys + [p["content_distance"]]) * 0.8
        ax.fill_between([left, p["style_distance"]], bottom, p["content_distance"], color="tab:orange", alpha=0.12,
                        lw=0, label="beats pastiche")
        ax.set_xlim(left, max(xs + [p["style_distance"]]) * 1.15)
        ax.set_ylim(bottom, max(ys + [p["content_distance"]]) * 1.15)
        ax.set_title(r["pair"], fontsize=10)
        ax.set_xlabel("style distance")
        ax.set_ylabel("content distance")
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _f(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def write_markdown(rows: list[dict], args, command: str) -> None:
    from pages import write_page

    few, many = args.pastiche_steps
    strengths = [q["strength"] for q in rows[0]["points"]]  # the run's, which --render-only may postdate
    lines = [
        "# Benchmarks: Brushwork against pastiche",
        "",
        f"Made by `benchmarks/vs_pastiche.py {command}` "
        f"on {machine()}, torch {torch.__version__}; one invocation (compare only figures from one run). "
        "Both programs use the same VGG-19 weights, at 512 px. The race is over the whole trade-off: "
        f"Brushwork runs at {len(strengths)} strengths (style weight {', '.join(f'x{s:g}' for s in strengths)} the "
        "default; the default is x1), pastiche at its defaults (L-BFGS, 1000 steps, seed 0). Brushwork *wins* a "
        "pair when some strength has both distances (`brushwork score`: content distance at relu4_2, style "
        "distance over relu1_1..relu5_1; lower is closer) at or below pastiche's; the time that counts is that "
        "winning run's, whole process, start-up included.",
        "",
        f"**Times, one invocation.** pastiche's 1000-step run takes 16-32 minutes a pair on these CPUs, so its "
        f"pictures (and their distances) come from a seeded full run kept in `benchmarks/results/` "
        f"({_dates(rows)}), while its time is measured here: runs of {few} and {many} steps, and 1000 steps "
        f"extrapolated (its cost per step is flat: the {few}-step time plus {PASTICHE_STEPS - few} steps at the "
        f"per-step cost between the two runs). Brushwork's times are measured in the same invocation.",
        "",
        f"**Legible** (the photo recognisable): layout at least {LEGIBLE_LAYOUT} (coarse luminance correlation "
        f"with the photo) and outlines at least {LEGIBLE_OUTLINES} (whether the photo's strongest outlines are "
        "still among the output's strongest gradients at 128 px: 0 chance, 1 all at the top); both from "
        "`brushwork score`, which also gives `edges` (the gradients' correlation, lowered by strokes anywhere). "
        "**Copies** the painting's objects: more than "
        f"{COPIED_AT_MOST:.0%} of the picture in blocks copied whole from the painting (`copied` of `brushwork "
        "score`: a moon, a wave's crest, a title's lettering). In the plot, red labels are strengths that are not "
        "legible or copy.",
        "",
        "![trade-off](benchmarks/tradeoff.png)",
        "",
        "## Summary",
        "",
        "| pair | pastiche 1000 steps (extrapolated) | winning strengths | fastest win | its time / pastiche's | "
        "default x1: content / style distance (pastiche) | default: layout / outlines / copied (pastiche) |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for r in rows:
        p, t = r["pastiche"], r["pastiche"]["timing"]
        wins = [q for q in r["points"] if beats(q, p)]
        fastest = min(wins, key=lambda q: q["wall_s"]) if wins else None
        d = next(q for q in r["points"] if q["strength"] == 1.0)
        winning = ", ".join(f"x{q['strength']:g}" for q in wins) or "none"
        lines.append(
            f"| {r['pair']} | {t['wall_s']:.0f} s | {winning} | "
            + (f"{fastest['wall_s']:.1f} s | **{fastest['wall_s'] / t['wall_s']:.3f}** | " if fastest else "- | - | ")
            + f"{_f(d['content_distance'], 3)} / {_f(d['style_distance'])} ({_f(p['content_distance'], 3)} / "
            f"{_f(p['style_distance'])}) | {d['layout']:.2f} / {d['outlines']:.2f} / {d['copied']:.2f} ({p['layout']:.2f} / "
            f"{p['outlines']:.2f} / {p['copied']:.2f}) |")
    won = sum(any(beats(q, r["pastiche"]) for q in r["points"]) for r in rows)
    lines += ["", f"Pairs won: **{won} of {len(rows)}**."]
    for r in rows:
        p, t = r["pastiche"], r["pastiche"]["timing"]
        lines += ["", f"## {r['pair']}", "", f"![{r['pair']}]({r['picture']})", "",
                  f"pastiche: {few} steps {t['measured'][str(few)]:.1f} s, {many} steps {t['measured'][str(many)]:.1f} s "
                  f"({t['per_step_s']:.2f} s a step), 1000 steps about {t['wall_s']:.0f} s, peak {t['peak_mib']:.0f} MiB.",
                  "", "| run | time | / pastiche | content distance | style distance | layout | edges | outlines | palette | "
                  "copied | beats pastiche | legible | copies |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
                  f"| pastiche | {t['wall_s']:.0f} s | 1 | {_f(p['content_distance'], 3)} | {_f(p['style_distance'])} | "
                  f"{p['layout']:.2f} | {p['edges']:.2f} | {p['outlines']:.2f} | {p['palette']:.1f} | {p['copied']:.3f} | | "
                  f"{'yes' if legible(p) else 'no'} | {'yes' if copies(p) else 'no'} |"]
        for q in r["points"]:
            lines.append(f"| Brushwork x{q['strength']:g} | {q['wall_s']:.1f} s | {q['wall_s'] / t['wall_s']:.3f} | "
                         f"{_f(q['content_distance'], 3)} | {_f(q['style_distance'])} | {q['layout']:.2f} | "
                         f"{q['edges']:.2f} | {q['outlines']:.2f} | {q['palette']:.1f} | {q['copied']:.3f} | {'yes' if beats(q, p) else 'no'} | "
                         f"{'yes' if legible(q) else 'no'} | {'yes' if copies(q) else 'no'} |")
        if r["presets"]:
            lines += ["", "`--quality` presets on this pair:", "",
                      "| preset | time | / pastiche | content distance | style distance | layout | outlines |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for name, q in r["presets"].items():
                lines.append(f"| `{name}` | {q['wall_s']:.1f} s | {q['wall_s'] / t['wall_s']:.3f} | "
                             f"{_f(q['content_distance'], 3)} | {_f(q['style_distance'])} | {q['layout']:.2f} | "
                             f"{q['outlines']:.2f} |")
    write_page(DOCS / "benchmarks.md", lines)


def _dates(rows: list[dict]) -> str:
    dates = sorted(r["pastiche"]["date"][:10] for r in rows)
    return dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
