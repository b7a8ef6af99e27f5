"""Gather the training photos for the shipped real-time models from Debian's wallpaper packages.

    apt-get install gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers
    python scripts/collect_training_photos.py /tmp/photos

Takes the largest picture of each Plasma wallpaper, Mate's ``nature`` and ``abstract``
wallpapers and the light variants of GNOME's bitmap wallpapers (photographs and some
renders, all under free licences), downsizes each to 1024 px on the long side and writes
it as PNG. Nothing here is part of the repository; docs/models.md says which folder
trained which model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

PLASMA = Path("/usr/share/wallpapers")
MATE = Path("/usr/share/backgrounds/mate")
GNOME = Path("/usr/share/backgrounds/gnome")
LONG_SIDE = 1024


def wallpapers() -> list[Path]:
    found = []
    for folder in sorted(PLASMA.glob("*/contents/images")):
        pictures = [p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
        if pictures:
            found.append(max(pictures, key=lambda p: p.stat().st_size))
    for sub in ("nature", "abstract"):
        pictures = sorted((MATE / sub).glob("*.*"))
        # Mate ships some pictures at several sizes ("Elephants_3840x2160.jpg"): keep one.
        found += [p for p in pictures if "_" not in p.stem or not p.stem.rsplit("_", 1)[1][0].isdigit()]
    found += sorted(GNOME.glob("*-l.webp"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="folder to write the photos to")
    out = parser.parse_args().output
    out.mkdir(parents=True, exist_ok=True)
    sources = wallpapers()
    if not sources:
        raise SystemExit("no wallpapers found; install gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers")
    for path in sources:
        image = Image.open(path).convert("RGB")
        image.thumbnail((LONG_SIDE, LONG_SIDE), Image.LANCZOS)
        name = f"{path.parent.parent.parent.name if path.is_relative_to(PLASMA) else path.parent.name}_{path.stem}"
        image.save(out / f"{name}.png")
    print(f"{len(sources)} photos in {out}")


if __name__ == "__main__":
    main()
