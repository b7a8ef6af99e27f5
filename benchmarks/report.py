"""Second half of vs_pastiche.py: Brushwork's runs, scoring, and docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from brushwork.media.image_io import captioned_row, load_image, read_metadata
from brushwork.engine.metrics import score
from vs_pastiche import RESULTS, ROOT, find, machine, timed

DOCS = ROOT / "docs"
PICTURES = DOCS / "benchmarks"
PRESETS = ("draft", "default", "best")


def brushwork_cmd(content: Path, style: Path, out: Path, size: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "brushwork", "transfer", str(content), str(style), "-o", str(out),
            "--size", str(size), "--quiet", *extra]


def scores_of(path: Path, content: torch.Tensor, style: torch.Tensor) -> dict:
    return score(load_image(path), content, style).as_dict()


def first_reach(steps_dir: Path, target: dict, content, style, final_size: tuple[int, int]) -> dict | None:
    """Earliest saved full-size intermediate whose content and style distances are both <= target."""
    for path in sorted(steps_dir.glob("*.step*.png")):
        with Image.open(path) as img:
            if img.size != final_size:
                continue
        s = scores_of(path, content, style)
        if s["content_distance"] <= target["content_distance"] and s["style_distance"] <= target["style_distance"]:
            meta = read_metadata(path)
            return {"step": meta["step"], "elapsed_s": meta["elapsed_s"], **s}
    return None


def side_by_side(paths: list[Path], labels: list[str], out: Path, height: int = 220) -> None:
    images = []
    for p in paths:
        with Image.open(p) as img:
            images.append(img.convert("RGB"))
    captioned_row(images, labels, height=height).save(out, quality=90)


def brushwork_runs_and_report(args, images: Path, baseline: dict, reused: bool) -> None:
    PICTURES.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in args.pairs:
        c, s = pair.split(":")
        content_path, style_path = find(images, "content", c), find(images, "style", s)
        content, style = load_image(content_path), load_image(style_path)
        base = baseline[pair]
        pastiche_out = ROOT / base["output"]
        bw_out = RESULTS / f"brushwork_{c}_{s}.png"
        print(f"{pair}: brushwork ...", flush=True)
        run = timed(brushwork_cmd(content_path, style_path, bw_out, args.size), bw_out.with_suffix(".log"))
        steps_dir = RESULTS / f"steps_{c}_{s}"
        steps_dir.mkdir(exist_ok=True)
        for old in steps_dir.glob("*.png"):
            old.unlink()
        subprocess.run(brushwork_cmd(content_path, style_path, steps_dir / "run.png", args.size, "--save-every", "5"),
                       check=True)
        p_scores = scores_of(pastiche_out, content, style)
        b_scores = scores_of(bw_out, content, style)
        with Image.open(bw_out) as img:
            final_size = img.size
        reach = first_reach(steps_dir, p_scores, content, style, final_size)
        presets = {}
        if pair in args.pairs[: args.preset_pairs]:
            for preset in PRESETS:
                out = RESULTS / f"preset_{preset}_{c}_{s}.png"
                presets[preset] = {**timed(brushwork_cmd(content_path, style_path, out, args.size, "--quality", preset),
                                           out.with_suffix(".log")), **scores_of(out, content, style)}
        picture = PICTURES / f"{c}_{s}.jpg"
        side_by_side([content_path, style_path, pastiche_out, bw_out],
                     ["content", "style", f"pastiche {base['wall_s']:.0f} s", f"Brushwork {run['wall_s']:.0f} s"], picture)
        rows.append({"pair": pair, "pastiche": {**base, **p_scores}, "brushwork": {**run, **b_scores},
                     "reach": reach, "presets": presets, "picture": str(picture.relative_to(DOCS))})
        print(f"{pair}: brushwork {run['wall_s']} s = {run['wall_s'] / base['wall_s']:.3f} of pastiche", flush=True)
    (RESULTS / "report.json").write_text(json.dumps(rows, indent=2))
    write_markdown(rows, args, reused)


def _f(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def write_markdown(rows: list[dict], args, reused: bool) -> None:
    lines = [
        "# Benchmarks: Brushwork against pastiche",
        "",
        "Made by `benchmarks/vs_pastiche.py` (re-run it to regenerate this page). Both programs use the same",
        "VGG-19 weights. pastiche runs at its defaults except `--size 512` (L-BFGS, 1000 steps); Brushwork at",
        "its defaults with `--size 512`. Times are whole processes, start-up included; memory is each process's",
        "peak resident set. Metrics are `brushwork score` (see README, \"Scoring a result\"): lower distances",
        "are better, higher SSIM is better.",
        "",
        f"Machine: {machine()}; torch {torch.__version__}.",
    ]
    if reused:
        dates = sorted({r["pastiche"]["date"] for r in rows})
        lines += ["", f"The pastiche runs were measured by an earlier invocation of this script on this machine "
                      f"({dates[0]} to {dates[-1]}) and reused (`--reuse-baseline`); Brushwork's were measured afterwards."]
    lines += ["", "## Summary", "",
              "| pair | pastiche time | Brushwork time | ratio | content distance P / B | style distance P / B | both ≤ pastiche |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        p, b = r["pastiche"], r["brushwork"]
        ok = b["content_distance"] <= p["content_distance"] and b["style_distance"] <= p["style_distance"]
        lines.append(f"| {r['pair']} | {p['wall_s']:.0f} s | {b['wall_s']:.1f} s | **{b['wall_s'] / p['wall_s']:.3f}** | "
                     f"{_f(p['content_distance'])} / {_f(b['content_distance'])} | {_f(p['style_distance'])} / "
                     f"{_f(b['style_distance'])} | {'yes' if ok else 'no'} |")
    for r in rows:
        p, b, reach = r["pastiche"], r["brushwork"], r["reach"]
        lines += ["", f"## {r['pair']}", "", f"![{r['pair']}]({r['picture']})", "",
                  "| | pastiche | Brushwork | Brushwork / pastiche |", "|---|---|---|---|",
                  f"| wall time | {p['wall_s']:.1f} s | {b['wall_s']:.1f} s | {b['wall_s'] / p['wall_s']:.3f} |",
                  f"| peak memory | {p['peak_mib']:.0f} MiB | {b['peak_mib']:.0f} MiB | {b['peak_mib'] / p['peak_mib']:.2f} |"]
        for key in ("content_distance", "style_distance", "ssim", "style_swd"):
            lines.append(f"| {key} | {_f(p[key])} | {_f(b[key])} | {b[key] / max(p[key], 1e-12):.2f} |")
        if reach:
            lines.append(f"| first reached pastiche's final content and style distances | | "
                         f"step {reach['step']}, {reach['elapsed_s']:.1f} s into the optimisation | "
                         f"{reach['elapsed_s'] / p['wall_s']:.3f} |")
        else:
            lines.append("| first reached pastiche's final content and style distances | | not reached | |")
        if r["presets"]:
            lines += ["", "`--quality` presets on this pair:", "",
                      "| preset | time | ratio to pastiche | content distance | style distance | SSIM | style SWD |",
                      "|---|---|---|---|---|---|---|"]
            for name, q in r["presets"].items():
                lines.append(f"| `{name}` | {q['wall_s']:.1f} s | {q['wall_s'] / p['wall_s']:.3f} | {_f(q['content_distance'])} | "
                             f"{_f(q['style_distance'])} | {_f(q['ssim'])} | {_f(q['style_swd'])} |")
    (DOCS / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {DOCS / 'benchmarks.md'}")
