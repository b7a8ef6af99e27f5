"""Fingerprint the pixels of small seeded runs, to prove a refactor changed no output.

    python scripts/pixel_fingerprints.py record before.json     # on the old code
    python scripts/pixel_fingerprints.py check before.json      # on the new code: exit 1 on any change

Each run goes through the real CLI (``main(argv)``) at 64-96 px with a fixed seed; the
fingerprint is the SHA-256 of the decoded RGB pixels (metadata may change, pixels may not).
Compare only on one machine: float results differ between CPU models.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from brushwork.frontends.cli import main

SMALL = ["--size", "64", "--steps", "5", "--scales", "2", "--seed", "3", "--quiet", "--device", "cpu"]


def runs(tmp: Path) -> dict[str, list[str]]:
    mask = tmp / "mask.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (64, 1))).save(mask)
    content = tmp / "content.png"
    Image.open(_sample("chelsea")).resize((96, 64)).save(content)
    return {
        "transfer": ["transfer", str(content), "sample:strokes", *SMALL],
        "transfer-masks": ["transfer", str(content), "sample:strokes", "sample:mosaic", "--mask", str(mask), "none", *SMALL],
        "transfer-two-styles": ["transfer", str(content), "sample:strokes", "sample:mosaic", "--style-weights", "3", "1", *SMALL],
        "transfer-luminance": ["transfer", str(content), "sample:strokes", "--preserve-color", "luminance", *SMALL],
        "transfer-histogram": ["transfer", str(content), "sample:strokes", "--preserve-color", "histogram", *SMALL],
        "transfer-noise-adam": ["transfer", str(content), "sample:strokes", "--init", "noise", "--optimizer", "adam", *SMALL],
        "transfer-init-adain": ["transfer", str(content), "sample:strokes", "--init", "adain", *SMALL],
        "reconstruct": ["reconstruct", str(content), "--layer", "relu3_1", *SMALL],
        "texture": ["texture", "sample:strokes", *SMALL],
        "grid": ["grid", "--content", str(content), "sample:coffee", "--style", "sample:strokes", *SMALL],
        "fast": ["fast", "starry_night", str(content), "--precision", "float32"],
        "adain": ["adain", str(content), "sample:strokes", "--size", "64", "--precision", "float32"],
    }


def _sample(name: str):
    from brushwork.media.samples import sample_image

    path = Path(tempfile.mkdtemp()) / f"{name}.png"
    sample_image(name).save(path)
    return path


def fingerprints() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        result = {}
        for name, argv in runs(tmp).items():
            out = tmp / f"{name}.png"
            code = main(argv + ["-o", str(out)])
            if code != 0:
                raise SystemExit(f"{name}: exit {code}")
            with Image.open(out) as image:
                result[name] = hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()
        return result


if __name__ == "__main__":
    mode, path = sys.argv[1], Path(sys.argv[2])
    now = fingerprints()
    if mode == "record":
        path.write_text(json.dumps(now, indent=1))
        print(f"recorded {len(now)} fingerprints in {path}")
    else:
        before = json.loads(path.read_text())
        changed = [name for name in before if before[name] != now.get(name)]
        for name in before:
            print(f"{'same   ' if name not in changed else 'CHANGED'} {name}")
        sys.exit(1 if changed else 0)
