"""Built-in sample images, so that the demo and the tests need no files.

Content photos come from scikit-image's bundled data (public domain / CC0, see
``skimage.data``). Style images are painted here, procedurally and deterministically, so
the project ships no third-party artwork: ``strokes`` is a swirling flow field of thick
brush strokes in a night-sky palette, ``mosaic`` a stained-glass Voronoi pattern.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from brushwork.errors import InputError

CONTENT_SAMPLES = ("chelsea", "coffee", "astronaut", "rocket")
STYLE_SAMPLES = ("strokes", "mosaic")
SAMPLES = CONTENT_SAMPLES + STYLE_SAMPLES


SAMPLE_NOTES = {
    "chelsea": "photo: a tabby cat (scikit-image)", "coffee": "photo: a cup of coffee (scikit-image)",
    "astronaut": "photo: astronaut Eileen Collins (scikit-image)", "rocket": "photo: a rocket on its pad (scikit-image)",
    "strokes": "style: swirling brush strokes in a night-sky palette (drawn here)",
    "mosaic": "style: a stained-glass Voronoi mosaic (drawn here)",
}


def sample_image(name: str) -> Image.Image:
    """A built-in image by name (see :data:`SAMPLES`), as RGB."""
    if name in CONTENT_SAMPLES:
        import skimage.data

        return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    if name == "strokes":
        return render_strokes().copy()
    if name == "mosaic":
        return render_mosaic().copy()
    raise InputError(f"unknown sample {name!r}; samples are {', '.join(SAMPLES)}")


_NIGHT = [(18, 32, 74), (32, 64, 128), (58, 102, 168), (96, 146, 196), (226, 196, 72), (248, 228, 140), (236, 236, 214), (22, 36, 30)]


@functools.lru_cache(maxsize=1)
def render_strokes(size: int = 512, seed: int = 7) -> Image.Image:
    """Thick strokes following a field of vortices, coloured by a smooth region pattern."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), _NIGHT[0])
    draw = ImageDraw.Draw(img)
    vortices = rng.uniform(0.1, 0.9, size=(5, 2)) * size
    spins = rng.choice([-1.0, 1.0], size=5)

    def direction(x: float, y: float) -> float:
        vx, vy = 1.0, 0.3 * math.sin(y / size * 6)  # a gentle horizontal drift
        for (cx, cy), spin in zip(vortices, spins):
            dx, dy = x - cx, y - cy
            r2 = dx * dx + dy * dy + (0.05 * size) ** 2
            strength = spin * (0.25 * size) ** 2 / r2
            vx, vy = vx - strength * dy / math.sqrt(r2), vy + strength * dx / math.sqrt(r2)
        return math.atan2(vy, vx)

    for _ in range(5000):
        x, y = rng.uniform(0, size, 2)
        region = math.sin(x / size * 7 + 1.3) + math.cos(y / size * 5) + 0.6 * math.sin((x + y) / size * 11)
        base = 4 + int(rng.integers(0, 3)) if region > 1.1 else int(rng.integers(0, 4))
        if rng.random() < 0.04:
            base = 7
        color = tuple(int(np.clip(c + rng.normal(0, 14), 0, 255)) for c in _NIGHT[base])
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 16))):
            a = direction(x, y)
            x, y = x + 4 * math.cos(a), y + 4 * math.sin(a)
            points.append((x, y))
        draw.line(points, fill=color, width=int(rng.integers(3, 9)), joint="curve")
    return img.filter(ImageFilter.SMOOTH)


@functools.lru_cache(maxsize=1)
def render_mosaic(size: int = 512, seed: int = 11, cells: int = 140) -> Image.Image:
    """Voronoi cells in saturated glass colours with dark lead lines between them."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, size=(cells, 2))
    palette = np.array([(200, 40, 40), (230, 170, 30), (40, 90, 180), (30, 140, 90), (120, 50, 140), (235, 225, 200), (20, 150, 170)])
    colors = palette[rng.integers(0, len(palette), cells)] + rng.normal(0, 12, (cells, 3))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = np.empty((size, size), dtype=np.int32)
    for row in range(0, size, 64):  # chunked nearest-seed search keeps memory small
        d = (xs[row : row + 64, :, None] - seeds[:, 0]) ** 2 + (ys[row : row + 64, :, None] - seeds[:, 1]) ** 2
        labels[row : row + 64] = d.argmin(axis=2)
    rgb = colors[labels]
    shade = 0.85 + 0.15 * np.sin(xs / 9.0) * np.cos(ys / 13.0)  # uneven glass
    rgb = rgb * shade[..., None]
    edge = np.zeros((size, size), dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    lines = Image.fromarray((edge * 255).astype(np.uint8), "L").filter(ImageFilter.MaxFilter(5))
    img.paste((25, 22, 20), mask=lines)
    return img
