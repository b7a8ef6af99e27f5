"""Optimising a picture too large for memory: its exact objective and gradient, tile by tile.

Peers that tile (neural-style's tiling scripts, Neural-Tile) give every tile its own style
targets and optimise the tiles apart, so tiles drift apart in style and the seams show.
Here the optimiser sees the whole picture, as when it fits in memory: only the *evaluation*
of the objective and its gradient is split into tiles. Every term is a sum over positions:
a Gram matrix is the sum of its tiles' parts, and the content and total-variation losses
are sums too. So one evaluation is

1. the picture's Gram matrices, tile by tile (no gradients), hence each style layer's
   derivative ``D = dL/dG`` (a small C x C matrix);
2. for each tile, a forward and backward pass of ``<D, G_tile> + content + TV`` restricted
   to the tile's own positions: its gradient is the tile's exact share of the whole
   picture's gradient, and the shares add up in one picture-sized buffer.

A tile is its *core* (the feature positions it answers for) plus a margin of context on
every side: VGG sees what lies around the core, so the core's features are (nearly) the
whole picture's, and the gradient flows into the margin as it would in one pass. Cores
partition the picture on a grid aligned to the deepest layer's stride, so every feature
position belongs to exactly one tile. There is no block of pixels that moves on its own,
so there is no border for a seam to form at.

Memory is bounded by one tile's activations plus a few picture-sized buffers (the picture,
its gradient, the optimiser's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

from brushwork.engine.features import VGGFeatures, layer_stride
from brushwork.engine.losses import StyleTarget, gram_sum, relative_squared_error, resize_mask
from brushwork.engine.optimize import LossFn, Weights

Box = tuple[int, int, int, int]
"""(top, bottom, left, right) in pixels."""

DEFAULT_TILE = 768
"""The tile of a scale too large for memory where no tile fits (its tile and margins need
about 4 GiB; the memory check then says what would)."""
MIN_TILE = 256
"""The smallest tile chosen for the user: below it the margins cost more than the cores."""
TILE_STEP = 128
"""Tiles chosen for the user are multiples of this."""
TILE_MARGIN = 96
"""Context around each core, a multiple of the deepest stride (16), past VGG-19's reach at
relu5_1 (about 90 px each way): the cores' features and the tiles' summed gradient are the
whole picture's to float error (tested; 64 px leaves the gradient off by 0.1%, 48 px by 3%)."""
PICTURE_COPIES = 6
"""Picture-sized float32 buffers a tiled scale keeps: the picture (optimised in place in the
upsampled previous result), its gradient, :class:`~brushwork.engine.lbfgs.LowMemoryLBFGS`'s
previous gradient and direction, the content at the output's size, and one passing copy (a
whole-picture term's gradient). (With ``torch.optim.LBFGS`` it was 8, and the estimate of
10 before the initial image and the previous result were dropped was 12% over the peak
measured at 8192x3808.)"""
HISTORY_BYTES = 2**30
"""L-BFGS history a tiled scale may keep (two picture-sized float16 vectors per entry): 8
entries at 4096x2731, :data:`MIN_HISTORY` from about 6000 px. From the photo at 512 px, 60
steps, histories of 5 and 10 ended within 7% and 3% of the loss with 50."""
MIN_HISTORY = 3
"""The fewest history entries a tiled scale keeps, however large the picture."""


def history_entry_bytes(size: tuple[int, int]) -> int:
    """One L-BFGS history entry of a tiled picture: two float16 vectors (see :mod:`~brushwork.engine.lbfgs`)."""
    return 2 * 3 * size[0] * size[1] * 2


def lbfgs_history_for(size: tuple[int, int], wanted: int) -> int:
    """L-BFGS history entries for a tiled picture of ``size``: ``wanted``, or fewer (never
    under :data:`MIN_HISTORY`) where they would pass :data:`HISTORY_BYTES`."""
    return max(MIN_HISTORY, min(wanted, HISTORY_BYTES // history_entry_bytes(size)))


@dataclass(frozen=True)
class TileGrid:
    """Cores of at most ``core`` px, aligned to ``stride``, each with ``margin`` px of context."""

    height: int
    width: int
    core: int
    margin: int
    stride: int

    def cores(self) -> list[Box]:
        return [(top, bottom, left, right) for top, bottom in self._spans(self.height)
                for left, right in self._spans(self.width)]

    def _spans(self, length: int) -> list[tuple[int, int]]:
        step = max(self.stride, self.core // self.stride * self.stride)
        edges = list(range(0, length, step))
        if len(edges) > 1 and length - edges[-1] < step // 2:  # no sliver at the end: the last core grows
            edges.pop()
        return [(a, b) for a, b in zip(edges, [*edges[1:], length])]

    def padded(self, box: Box) -> Box:
        top, bottom, left, right = box
        return (max(0, top - self.margin), min(self.height, bottom + self.margin),
                max(0, left - self.margin), min(self.width, right + self.margin))


def core_of(features: Mapping[str, Tensor], box: Box, padded: Box, grid: TileGrid) -> dict[str, Tensor]:
    """Each layer's features of a padded crop, cut to the core's positions. Cores are
    aligned to the layer's stride (VGG's pooling floors, so a core that ends at the picture's
    edge takes every position to the end)."""
    out = {}
    for name, f in features.items():
        s = layer_stride(name)
        top, left = (box[0] - padded[0]) // s, (box[2] - padded[2]) // s
        bottom = None if box[1] == grid.height else (box[1] - padded[0]) // s
        right = None if box[3] == grid.width else (box[3] - padded[2]) // s
        out[name] = f[..., top:bottom, left:right]
    return out


def crop(image: Tensor, box: Box) -> Tensor:
    return image[..., box[0]:box[1], box[2]:box[3]]


def layer_mask(mask: Tensor, name: str, grid: TileGrid) -> Tensor:
    """A mask at the picture's size, area-averaged to layer ``name``'s positions in the whole picture."""
    s = layer_stride(name)
    return resize_mask(mask, (grid.height // s, grid.width // s))


def core_weights(weights: Tensor | None, name: str, box: Box, grid: TileGrid) -> Tensor | None:
    """The core's positions of a layer's mask (:func:`layer_mask`), as :func:`core_of` cuts features."""
    if weights is None:
        return None
    s = layer_stride(name)
    bottom = None if box[1] == grid.height else box[1] // s
    right = None if box[3] == grid.width else box[3] // s
    return weights[..., box[0] // s:bottom, box[2] // s:right]


Weighting = Mapping[str, Tensor | None]
"""Per style layer, the weight of each position of the whole picture (a masked style's
mask, :func:`layer_mask`), or None: every position counts once."""


@torch.no_grad()
def tiled_gram_sums(extractor: VGGFeatures, image: Tensor, grid: TileGrid,
                    weightings: Sequence[Weighting], precision: torch.dtype | None = None) -> list[dict[str, tuple[Tensor, float]]]:
    """For each weighting, each layer's Gram sum over the whole picture and the total weight
    of its positions (the Gram matrix is their quotient), computed tile by tile: one
    forward pass per tile serves every weighting (``precision``: of the products, :func:`gram_sum`)."""
    sums: list[dict[str, tuple[Tensor, float]]] = [{} for _ in weightings]
    for box in grid.cores():
        padded = grid.padded(box)
        feats = core_of(extractor(crop(image, padded)), box, padded, grid)
        for found, weighting in zip(sums, weightings):
            for name, weights in weighting.items():
                f, w = feats[name], core_weights(weights, name, box, grid)
                total = float(f.shape[-2] * f.shape[-1]) if w is None else float(w.sum())
                before, count = found.get(name, (0, 0.0))
                found[name] = (before + gram_sum(f, w, precision=precision), count + total)
    return sums


def tiled_grams(extractor: VGGFeatures, image: Tensor, layers: Sequence[str], grid: TileGrid) -> dict[str, Tensor]:
    """The whole picture's Gram matrices (averaged over positions, as :func:`gram_matrix`),
    computed tile by tile: for a style image too large for one pass."""
    sums = tiled_gram_sums(extractor, image, grid, [dict.fromkeys(layers)])[0]
    return {name: total / count for name, (total, count) in sums.items()}


class TiledObjective:
    """The whole picture's objective (the terms of :class:`~brushwork.engine.optimize.Objective`)
    for pictures of one size, evaluated tile by tile on ``grid``.

    ``content`` is the content at the picture's size (or None: a texture) and
    ``content_layers`` its layers with their weights; ``styles`` the style targets (Gram
    matrices, averaged over positions) with their strengths; ``weights`` the terms' weights
    and schedules. ``whole`` are more terms evaluated on the whole picture at once, which
    they must be able to afford (a loss on a scaled-down copy); they get no features. The
    content's features are computed once, on the first evaluation, and kept tile by tile
    in the extractor's precision.
    """

    low_memory = True
    """L-BFGS runs in as few picture-sized buffers as it can (see :mod:`~brushwork.engine.lbfgs`)."""

    def __init__(self, extractor: VGGFeatures, grid: TileGrid, weights: Weights, *, content: Tensor | None,
                 content_layers: Mapping[str, float], styles: Sequence[tuple[StyleTarget, float]],
                 whole: Mapping[str, LossFn] | None = None) -> None:
        self.extractor, self.grid, self.weights = extractor, grid, weights
        self.content = content
        total = sum(content_layers.values())
        self.content_layers = {name: w / total for name, w in content_layers.items()} if content is not None else {}
        self.styles = list(styles)
        self.whole = dict(whole or {})
        self.style_layers = list(dict.fromkeys(n for t, _ in self.styles for n in t.layer_weights))
        # one weighting for all unmasked styles (they share the picture's plain Gram matrices)
        # and one per masked style; which one each style reads
        self.weightings: list[Weighting] = []
        self.weighting_of: list[int] = []
        plain: int | None = None
        for target, _ in self.styles:
            if target.mask is None:
                if plain is None:
                    plain = len(self.weightings)
                    self.weightings.append(dict.fromkeys(self.style_layers))
                self.weighting_of.append(plain)
            else:
                self.weightings.append({n: layer_mask(target.mask, n, grid) for n in target.layer_weights})
                self.weighting_of.append(len(self.weightings) - 1)
        self.boxes = grid.cores()
        self.history_limit = lbfgs_history_for((grid.height, grid.width), 1 << 30)
        self._content_targets: dict[Box, dict[str, Tensor]] = {}
        self._content_norms: dict[str, float] = {}

    @torch.no_grad()
    def _prepare_content(self) -> None:
        """The content's core features per tile and their squared norms (the content loss's
        denominators); the content itself is then dropped."""
        if self.content is None or self._content_targets or not self.content_layers:
            return
        norms = dict.fromkeys(self.content_layers, 0.0)
        for box in self.boxes:
            padded = self.grid.padded(box)
            feats = core_of(self.extractor(crop(self.content, padded)), box, padded, self.grid)
            self._content_targets[box] = {n: feats[n].detach().clone() for n in self.content_layers}
            for name in self.content_layers:
                norms[name] += float(feats[name].float().pow(2).sum())
        self._content_norms = {name: max(v, 1e-8) for name, v in norms.items()}
        self.content = None

    def evaluate(self, image: Tensor, progress: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
        """The weighted total and each term at ``image`` (weights at ``progress``); the
        gradient is left in ``image.grad``, as ``backward()`` would."""
        self._prepare_content()
        weights = {name: term.at(progress) for name, term in self.weights.items()}
        zero = image.new_zeros(())
        values: dict[str, Tensor] = {name: zero for name in self.weights}
        use_style = bool(self.styles) and weights.get("style", 0.0) > 0
        use_content = bool(self._content_targets) and weights.get("content", 0.0) > 0
        use_tv = weights.get("tv", 0.0) > 0
        slopes: list[dict[str, Tensor]] = [{} for _ in self.weightings]  # dL/d(Gram sum), per weighting and layer
        if use_style:
            sums = tiled_gram_sums(self.extractor, image, self.grid, self.weightings, self.extractor.compute_dtype)
            values["style"] = zero
            for (target, strength), which in zip(self.styles, self.weighting_of):
                for name, w in target.layer_weights.items():
                    total, count = sums[which][name]
                    gram, goal = total / max(count, 1e-8), getattr(target, f"gram_{name}")
                    values["style"] = values["style"] + strength * w * relative_squared_error(gram, goal)
                    scale = goal.pow(2).sum().clamp_min(1e-12)
                    # d/dS of ||S / N - T||^2 / ||T||^2 for the Gram sum S over N positions (or mask weight)
                    slope = strength * w * 2 * (gram - goal) / (scale * max(count, 1e-8))
                    slopes[which][name] = slopes[which][name] + slope if name in slopes[which] else slope
        grad = torch.zeros_like(image)
        content_sum, tv_sum = zero.clone(), zero.clone()
        for box in self.boxes:
            padded = self.grid.padded(box)
            tile = crop(image, padded).detach().clone().requires_grad_(True)
            total = zero.clone()
            if use_style or use_content:
                feats = core_of(self.extractor(tile), box, padded, self.grid)
                if use_style:
                    total = total + weights["style"] * sum(
                        (slope * gram_sum(feats[n], core_weights(weighting[n], n, box, self.grid),
                                          precision=self.extractor.compute_dtype)).sum()
                        for weighting, layers in zip(self.weightings, slopes) for n, slope in layers.items())
                if use_content:
                    targets = self._content_targets[box]
                    part = sum(w * (feats[n].float() - targets[n].float()).pow(2).sum() / self._content_norms[n]
                               for n, w in self.content_layers.items())
                    content_sum = content_sum + part.detach()
                    total = total + weights["content"] * part
            if use_tv:
                part = self._tv(tile, box, padded)
                tv_sum = tv_sum + part.detach()
                total = total + weights["tv"] * part
            if total.requires_grad:
                total.backward()
                crop(grad, padded).add_(tile.grad)
        if use_content:
            values["content"] = content_sum
        if use_tv:
            values["tv"] = tv_sum
        for name, loss in self.whole.items():
            if weights.get(name, 0.0) > 0:
                picture = image.detach().requires_grad_(True)
                values[name] = loss(picture, {})
                (weights[name] * values[name]).backward()
                grad += picture.grad
        image.grad = grad
        total_value = sum((weights[name] * value for name, value in values.items() if weights.get(name, 0.0) > 0), zero)
        return total_value.detach(), {name: value.detach() for name, value in values.items()}

    def _tv(self, tile: Tensor, box: Box, padded: Box) -> Tensor:
        """The core's share of the picture's total variation (:func:`total_variation`): the
        differences from each of its pixels to the pixel below and to the right."""
        h, w = self.grid.height, self.grid.width
        top, left = box[0] - padded[0], box[2] - padded[2]
        rows = tile[..., top:min(box[1], h - 1) - padded[0] + 1, left:box[3] - padded[2]]
        cols = tile[..., top:box[1] - padded[0], left:min(box[3], w - 1) - padded[2] + 1]
        dy, dx = rows[..., 1:, :] - rows[..., :-1, :], cols[..., :, 1:] - cols[..., :, :-1]
        channels = tile.shape[-3] * tile.shape[0]
        return dy.pow(2).sum() / (channels * (h - 1) * w) + dx.pow(2).sum() / (channels * h * (w - 1))
