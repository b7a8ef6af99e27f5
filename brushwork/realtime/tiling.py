"""Networks on pictures larger than one pass can hold: overlapping tiles that agree.

Both networks normalise by statistics of the *whole* picture: the per-style network's
instance normalisation and AdaIN's content statistics. A tile run on its own normalises by
its own statistics instead, so neighbouring tiles come out in different strengths and
colours and the seams show. Following URST (Chen et al., AAAI 2022), the statistics are
taken once from a thumbnail of the whole picture and every tile is normalised by those;
tiles overlap by ``overlap`` pixels (more than the networks' effective reach) and are
feathered together with linear ramps, so no edge of a tile reaches the output.

Memory is then bounded by the tile, not the picture: the picture, the output and one
weight map, plus one tile's activations.
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from brushwork.errors import InputError
from brushwork.media.image_io import fit_long_side, resize
from brushwork.options import check_fields, option


@dataclass(frozen=True)
class Tiling:
    """How a network pass is cut into tiles."""

    tile: int = option(1024, "tile side in pixels, overlap included", min=64, max=16384, whole=True)
    overlap: int = option(128, "pixels shared by neighbouring tiles, feathered together", min=0, max=4096, whole=True)
    thumbnail: int = option(1024, "long side of the thumbnail the normalisation statistics come from", min=64,
                            max=8192, whole=True)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.overlap * 2 >= self.tile:
            raise InputError(f"overlap {self.overlap} px must be less than half the tile ({self.tile} px)")


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: every ``tile - overlap`` pixels, the last flush with the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    positions = list(range(0, length - tile, step))
    return positions + [length - tile]


def tile_boxes(height: int, width: int, tiling: Tiling) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every tile, row by row."""
    th, tw = min(tiling.tile, height), min(tiling.tile, width)
    return [(y, y + th, x, x + tw) for y in starts(height, th, tiling.overlap) for x in starts(width, tw, tiling.overlap)]


def _ramp(length: int, overlap: int, fade_in: bool, fade_out: bool) -> Tensor:
    """1 inside, falling linearly to near 0 over ``overlap`` pixels at the ends that meet a
    neighbour (never exactly 0, so every pixel keeps some weight)."""
    weight = torch.ones(length)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        n = min(overlap, length)
        if fade_in:
            weight[:n] = torch.minimum(weight[:n], ramp[:n])
        if fade_out:
            weight[-n:] = torch.minimum(weight[-n:], ramp[:n].flip(0))
    return weight


def run_tiled(fn: Callable[[Tensor], Tensor], image: Tensor, tiling: Tiling,
              on_tile: Callable[[int, int], None] | None = None) -> Tensor:
    """``fn`` (an image-to-image pass of the same size) over ``image`` (1, 3, H, W), tile by
    tile, feathered together. ``on_tile(done, total)`` reports progress."""
    _, _, height, width = image.shape
    boxes = tile_boxes(height, width, tiling)
    out = torch.zeros(1, 3, height, width)
    total = torch.zeros(1, 1, height, width)
    for done, (top, bottom, left, right) in enumerate(boxes, 1):
        piece = fn(image[..., top:bottom, left:right]).float().cpu()
        wy = _ramp(bottom - top, tiling.overlap, top > 0, bottom < height)
        wx = _ramp(right - left, tiling.overlap, left > 0, right < width)
        weight = (wy[:, None] * wx[None, :])[None, None]
        out[..., top:bottom, left:right] += piece * weight
        total[..., top:bottom, left:right] += weight
        if on_tile is not None:
            on_tile(done, len(boxes))
    return out / total


class FrozenNorms:
    """Instance normalisation with statistics recorded on one pass and reused on later ones.

    ``with FrozenNorms(net) as norms:`` then ``norms.record(); net(thumbnail)`` keeps each
    normalisation layer's per-channel mean and variance (in the order the layers run), and
    ``norms.reuse()`` makes the following passes (the tiles) normalise by those.
    """

    def __init__(self, net: nn.Module) -> None:
        self.layers = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
        self.stats: list[tuple[Tensor, Tensor]] = []
        self.mode = "record"
        self.position = 0

    def record(self) -> None:
        self.mode, self.stats = "record", []

    def reuse(self) -> None:
        if len(self.stats) != len(self.layers):
            raise RuntimeError("record the statistics on one full pass before reusing them")
        self.mode = "reuse"

    def _forward(self, layer: nn.InstanceNorm2d, x: Tensor) -> Tensor:
        if self.mode == "record":
            mean = x.mean(dim=(2, 3), keepdim=True)
            var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
            self.stats.append((mean, var))
        else:
            mean, var = self.stats[self.position % len(self.stats)]
            self.position += 1
        out = (x - mean.to(x.dtype)) * torch.rsqrt(var.to(x.dtype) + layer.eps)
        if layer.affine:
            out = out * layer.weight.view(1, -1, 1, 1).to(x.dtype) + layer.bias.view(1, -1, 1, 1).to(x.dtype)
        return out

    def __enter__(self) -> "FrozenNorms":
        for layer in self.layers:
            layer.forward = types.MethodType(lambda module, x: self._forward(module, x), layer)
        return self

    def __exit__(self, *exc) -> None:
        for layer in self.layers:
            del layer.forward  # the class's own forward again


def thumbnail_of(image: Tensor, tiling: Tiling) -> Tensor:
    return resize(image, fit_long_side(*image.shape[-2:], tiling.thumbnail))


@contextlib.contextmanager
def thumbnail_statistics(net: nn.Module, image: Tensor, tiling: Tiling, run: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, ``net``'s instance norms use the statistics of ``run(thumbnail)``."""
    with FrozenNorms(net) as norms:
        norms.record()
        run(thumbnail_of(image, tiling))
        norms.reuse()
        yield


AUTO_TILE_ABOVE = 2048
"""Pictures whose long side is over this run in tiles (of ``Tiling.tile``) unless told otherwise:
a 4096 px pass of the per-style network needs several GiB of activations."""


def network_tiling(tile: int | None, overlap: int, size: tuple[int, int]) -> Tiling | None:
    """The tiling of a network pass over a picture of ``size``: ``tile`` as asked (refused
    when it would not cut the picture), else tiles only above :data:`AUTO_TILE_ABOVE`."""
    if tile is None:
        return Tiling(overlap=overlap) if max(size) > AUTO_TILE_ABOVE else None
    if tile >= max(size):
        raise InputError(f"tile {tile} px is not smaller than the picture ({max(size)} px), so nothing would be "
                         "tiled; give a smaller tile or none")
    return Tiling(tile=tile, overlap=overlap)


def needs_tiles(height: int, width: int, tiling: Tiling | None) -> bool:
    return tiling is not None and max(height, width) > tiling.tile


