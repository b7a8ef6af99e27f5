"""Peak memory of one Brushwork transfer at several output sizes, on the CPU.

    .venv/bin/python benchmarks/memory.py [--sizes 512 1024 2048] [--content sample:astronaut]

Each size runs in its own process (``brushwork transfer --scales 1 --steps 3``) so that
``os.wait4`` reports that process's peak resident memory. The largest size that fits in a
memory budget is extrapolated from the per-pixel cost between the two largest sizes
measured, then checked by a run at that size if ``--verify`` is given. Writes
docs/memory.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from vs_pastiche import machine, timed  # noqa: E402


def measure(size: int, content: str, style: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        cmd = [sys.executable, "-m", "brushwork", "transfer", content, style, "-o", str(out), "--size", str(size),
               "--scales", "1", "--steps", "3", "--quiet", *extra]
        return timed(cmd, Path(tmp) / "log.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--content", default="sample:astronaut")  # square: the long side is the whole image
    parser.add_argument("--style", default="sample:strokes")
    parser.add_argument("--budget-gib", type=float, default=24.0)
    parser.add_argument("--verify", action="store_true", help="also run at the extrapolated largest size")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for precision in ("float32", "bfloat16"):
            record = measure(size, args.content, args.style, ["--precision", precision])
            rows.append({"size": size, "precision": precision, **record})
            print(rows[-1], flush=True)
    lines = ["# Memory", "", "Made by `benchmarks/memory.py`. Peak resident memory of a whole `brushwork transfer` process",
             f"(3 L-BFGS steps at one scale, square content `{args.content}`, style `{args.style}`), on the CPU.", "",
             f"Machine: {machine()}.", "", "| output | precision | peak memory | wall time (3 steps) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']}×{r['size']} | {r['precision']} | {r['peak_mib'] / 1024:.2f} GiB | {r['wall_s']:.1f} s |")
    budget = args.budget_gib * 1024
    lines.append("")
    for precision in ("float32", "bfloat16"):
        pts = [(r["size"] ** 2, r["peak_mib"]) for r in rows if r["precision"] == precision][-2:]
        (p1, m1), (p2, m2) = pts
        per_px = (m2 - m1) / (p2 - p1)
        largest = int(((budget - (m2 - per_px * p2)) / per_px) ** 0.5) // 16 * 16
        line = (f"- {precision}: about {per_px * 1024 * 1024 / 1e3:.1f} kB per output pixel; largest square output within "
                f"{args.budget_gib:g} GiB ≈ **{largest}×{largest}** (extrapolated)")
        if args.verify:
            record = measure(largest, args.content, args.style, ["--precision", precision])
            line += f"; a run at that size peaked at {record['peak_mib'] / 1024:.1f} GiB"
        lines.append(line)
        print(line, flush=True)
    lines += ["", "Brushwork refuses, before any work, a size whose estimated need exceeds the memory available",
              "(`brushwork.engine.devices.check_fits`), with a one-line error."]
    (ROOT / "docs" / "memory.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'docs' / 'memory.md'}")


if __name__ == "__main__":
    main()
