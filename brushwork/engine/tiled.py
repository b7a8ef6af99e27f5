"""Optimising a picture too large for memory, one tile at a time, against global targets.

Peers that tile (neural-style's tiling scripts, Neural-Tile) give every tile its own style
targets, so tiles drift apart in style and the seams show. Here every tile is optimised
against the *whole picture's* losses. A Gram matrix is a sum over positions, so the
picture's Gram is the sum of its tiles' parts: while one tile moves, the other tiles' parts
are held fixed (a running sum, corrected after each visit) and only the moving tile's part
is recomputed. Status: experimental, used only when asked (``--tile``): on real pictures
the tiles visited later in a sweep still come out softer (see ``tile_grid_for``).
The content and total-variation losses are sums over positions too: each tile adds its
share, divided by the whole picture's norm and count.

A tile is its *core*, the pixels it optimises, plus a margin of context on every side,
taken from the current picture and never moved (its gradient is masked): VGG sees what
lies around the core, so the core's features are (nearly) the whole picture's, and there is
no edge for a seam to form at. Cores partition the picture on a grid aligned to the
deepest layer's stride, so that every feature position belongs to exactly one tile.

Memory is bounded by one tile's activations plus a few copies of the picture itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from brushwork.engine.features import VGGFeatures, layer_stride
from brushwork.engine.losses import StyleTarget, relative_squared_error
from brushwork.engine.optimize import LossFn, Objective, OptimizerName, StopOptimization, Weights, optimize_image

Box = tuple[int, int, int, int]
"""(top, bottom, left, right) in pixels."""

DEFAULT_TILE = 768
"""The tile a refusal suggests for a scale that would not fit in memory (its tile and
margins need about 5 GiB)."""
TILE_MARGIN = 96
"""Context around each core, a multiple of the deepest stride (16): most of VGG-19's effective
reach at relu4/relu5 (measured by the tiled-against-whole test)."""
BAND = 32
"""Neighbours' pixels (a multiple of 16) whose features a visit counts beside its core's:
those features see the core's border pixels. Their own features see ``TILE_MARGIN - BAND`` px
of context."""
PICTURE_COPIES = 8
"""Whole-picture float32 images a tiled run keeps: the picture, the content, the previous
scale's result and resized copies of each."""


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


def gram_sum(features: Tensor) -> Tensor:
    """Unnormalised channel correlations (B, C, C): summed, not averaged, over positions."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    return flat @ flat.transpose(1, 2)


def crop(image: Tensor, box: Box) -> Tensor:
    return image[..., box[0]:box[1], box[2]:box[3]]


@torch.no_grad()
def tiled_grams(extractor: VGGFeatures, image: Tensor, layers: Sequence[str], grid: TileGrid) -> dict[str, Tensor]:
    """The whole picture's Gram matrices (averaged over positions, as :func:`gram_matrix`),
    computed tile by tile: for a style image too large for one pass."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}
    for box in grid.cores():
        padded = grid.padded(box)
        feats = core_of(extractor(crop(image, padded)), box, padded, grid)
        for name in layers:
            f = feats[name]
            sums[name] = sums.get(name, 0) + gram_sum(f)
            counts[name] = counts.get(name, 0) + f.shape[-2] * f.shape[-1]
    return {name: sums[name] / counts[name] for name in layers}


class TiledProblem:
    """The whole picture's objective, evaluated one tile at a time.

    ``content`` is the content at the picture's size (or None: a texture); ``content_layers``
    with their weights; ``styles`` the style targets (Gram matrices of the whole picture's
    size) with their strengths; ``weights`` the terms' weights and schedules.

    A visit's objective counts, beside the core's own feature positions, a band of
    :data:`BAND` px of its neighbours' positions: their features see the core's border
    pixels, and without them those pixels would answer to one side only and a seam would
    form. The running Gram sums of the whole picture are corrected by each visit (what the
    core and band gave before it, out; what they give after, in) and recomputed exactly at
    every sweep.
    """

    def __init__(self, extractor: VGGFeatures, grid: TileGrid, weights: Weights, *, content: Tensor | None,
                 content_layers: Mapping[str, float], styles: Sequence[tuple[StyleTarget, float]]) -> None:
        if any(t.mask is not None for t, _ in styles):
            raise ValueError("masked styles are not tiled")
        self.extractor, self.grid, self.weights = extractor, grid, weights
        self.content, self.content_layers = content, dict(content_layers)
        self.styles = list(styles)
        self.style_layers = list(dict.fromkeys(n for t, _ in self.styles for n in t.layer_weights))
        self.grams: dict[str, Tensor] = {}  # the picture's Gram sums, kept current visit by visit
        self.counts: dict[str, int] = {}
        self.content_norms: dict[str, float] = {}

    def band(self, box: Box) -> Box:
        """The core and :data:`BAND` px around it (within the picture): the positions a visit counts."""
        g = self.grid
        return (max(0, box[0] - BAND), min(g.height, box[1] + BAND), max(0, box[2] - BAND), min(g.width, box[3] + BAND))

    @torch.no_grad()
    def survey(self, image: Tensor) -> None:
        """One pass over every tile: the Gram sums of ``image``, the number of positions per
        layer, and the content features' squared norms (the denominators of the relative losses)."""
        self.grams, self.counts = {}, {}
        norms: dict[str, float] = {name: 0.0 for name in self.content_layers}
        for box in self.grid.cores():
            padded = self.grid.padded(box)
            for name, part in self._gram_sums(image, box, padded).items():
                self.grams[name] = self.grams.get(name, 0) + part
            if self.content is not None and self.content_layers and not self.content_norms:
                target = core_of(self.extractor(crop(self.content, padded)), box, padded, self.grid)
                for name in self.content_layers:
                    norms[name] += float(target[name].float().pow(2).sum())
            for name, n in self._positions(box).items():
                self.counts[name] = self.counts.get(name, 0) + n
        self.content_norms = self.content_norms or norms

    def _positions(self, box: Box) -> dict[str, int]:
        g = self.grid
        out = {}
        for name in dict.fromkeys([*self.style_layers, *self.content_layers]):
            s = layer_stride(name)
            rows = (g.height // s if box[1] == g.height else box[1] // s) - box[0] // s
            cols = (g.width // s if box[3] == g.width else box[3] // s) - box[2] // s
            out[name] = rows * cols
        return out

    def _gram_sums(self, image: Tensor, box: Box, padded: Box) -> dict[str, Tensor]:
        if not self.style_layers:
            return {}
        feats = core_of(self.extractor(crop(image, padded)), box, padded, self.grid)
        return {name: gram_sum(feats[name]) for name in self.style_layers}

    def tile_objective(self, image: Tensor, box: Box, padded: Box) -> tuple[Objective, dict[str, Tensor]]:
        """The whole picture's objective as a function of one padded tile (the rest fixed): the
        terms differ from the picture's by constants only. Also the Gram sums the core and
        band give now, which the visit's result replaces."""
        counts, grid, reach = self.counts, self.grid, self.band(box)
        with torch.no_grad():
            before = self._gram_sums(image, reach, padded)
        rest = {name: self.grams[name] - before[name] for name in self.style_layers}
        losses: dict[str, LossFn | None] = {"content": None, "style": None, "tv": self._tv(box, padded)}
        if self.content is not None and self.content_layers:
            with torch.no_grad():
                target = core_of(self.extractor(crop(self.content, padded)), reach, padded, grid)
            target = {n: target[n].detach() for n in self.content_layers}
            norms = self.content_norms
            total_weight = sum(self.content_layers.values())

            def content(tile: Tensor, features: Mapping[str, Tensor]) -> Tensor:
                near = core_of(features, reach, padded, grid)
                return sum(w / total_weight * (near[n] - target[n]).float().pow(2).sum() / max(norms[n], 1e-8)
                           for n, w in self.content_layers.items())

            losses["content"] = content
        if self.styles:
            def style(tile: Tensor, features: Mapping[str, Tensor]) -> Tensor:
                near = core_of(features, reach, padded, grid)
                grams = {n: (rest[n] + gram_sum(near[n])) / counts[n] for n in self.style_layers}
                return sum(strength * sum(w * relative_squared_error(grams[n], getattr(t, f"gram_{n}"))
                                          for n, w in t.layer_weights.items())
                           for t, strength in self.styles)

            losses["style"] = style
        return Objective(self.extractor, losses, self.weights), before

    def _tv(self, box: Box, padded: Box) -> LossFn:
        """The differences of the picture's total variation that this core's pixels enter:
        those inside it and those across its borders (which its neighbours count too, as
        they enter theirs), over the picture's counts."""
        h, w = self.grid.height, self.grid.width
        top, bottom = max(box[0] - padded[0] - 1, 0), box[1] - padded[0]
        left, right = max(box[2] - padded[2] - 1, 0), box[3] - padded[2]

        def tv(tile: Tensor, features: Mapping[str, Tensor]) -> Tensor:
            rows, cols = tile[..., top:bottom + 1, box[2] - padded[2]:right], tile[..., box[0] - padded[0]:bottom, left:right + 1]
            dy, dx = rows[..., 1:, :] - rows[..., :-1, :], cols[..., :, 1:] - cols[..., :, :-1]
            return dy.pow(2).sum() / (3 * (h - 1) * w) + dx.pow(2).sum() / (3 * h * (w - 1))

        return tv

    def visit(self, image: Tensor, box: Box, steps: int, *, optimizer: OptimizerName, learning_rate: float,
              lbfgs_history: int, on_step: Callable[[Tensor, Tensor, dict[str, Tensor]], None] | None,
              run_progress: Callable[[int], float]) -> None:
        """Optimise one core and its band in place for ``steps`` evaluations, the rest of the
        margin held still; the core is written back whole, the band feathered into what its
        neighbours painted (so that no border is ever a step)."""
        padded = self.grid.padded(box)
        reach = _inner(self.band(box), padded)
        tile = crop(image, padded).detach().clone()
        blend = torch.zeros_like(tile[:, :1])
        crop(blend, reach).copy_(self._feather(box))
        objective, before = self.tile_objective(image, box, padded)
        moving = (blend > 0).float()

        def write_back(x: Tensor) -> None:
            region = crop(image, self.band(box))
            weight = crop(blend, reach)
            region.copy_(weight * crop(x.detach(), reach) + (1 - weight) * crop(tile, reach))

        def step(x: Tensor, total: Tensor, terms: dict[str, Tensor]) -> None:
            if on_step is not None:
                write_back(x)
                on_step(image, total, terms)

        result = optimize_image(tile, objective, steps, optimizer=optimizer, learning_rate=learning_rate,
                                lbfgs_history=lbfgs_history, on_step=step, run_progress=run_progress,
                                grad_mask=moving)
        write_back(result)
        with torch.no_grad():
            after = self._gram_sums(image, self.band(box), padded)
        for name in self.style_layers:
            self.grams[name] = self.grams[name] - before[name] + after[name]

    def _feather(self, box: Box) -> Tensor:
        """(1, 1, h, w) weights over the core and its band: 1 on the core, falling linearly
        across the band to near 0 (sides on the picture's edge have no band)."""
        top, bottom, left, right = self.band(box)

        def ramp(start: int, end: int, core_start: int, core_end: int) -> Tensor:
            positions = torch.arange(start, end, dtype=torch.float32) + 0.5
            inside = torch.minimum(positions - start if core_start > start else torch.full_like(positions, BAND),
                                   end - positions if core_end < end else torch.full_like(positions, BAND))
            return (inside / BAND).clamp(max=1.0)

        return (ramp(top, bottom, box[0], box[1])[:, None] * ramp(left, right, box[2], box[3])[None, :])[None, None]

    def optimize(self, image: Tensor, steps: int, *, optimizer: OptimizerName, learning_rate: float,
                 lbfgs_history: int, on_step: Callable[[Tensor, Tensor, dict[str, Tensor]], None] | None,
                 run_progress: Callable[[int], float]) -> Tensor:
        """``steps`` evaluations for every tile, in :func:`sweeps_for` sweeps over the grid.

        ``on_step`` is called once per *picture step* (as many tile evaluations as there are
        tiles), with the whole picture and its losses (the content and TV shares summed over
        the tiles' latest evaluations), so progress reads as for an untiled scale.
        """
        image = image.detach().clone()
        self.survey(image)
        boxes = self.grid.cores()
        sweeps = sweeps_for(steps)
        per_visit = [steps // sweeps + (1 if i < steps % sweeps else 0) for i in range(sweeps)]
        shares: dict[str, dict[Box, Tensor]] = {"content": {}, "tv": {}}
        latest: dict[str, Tensor] = {}
        evaluations, reported, stopped = 0, 0, False

        def tile_step(box: Box, x: Tensor, total: Tensor, terms: dict[str, Tensor]) -> None:
            nonlocal evaluations, reported, stopped
            evaluations += 1
            for name, value in terms.items():
                if name in shares:
                    shares[name][box] = value
                else:
                    latest[name] = value
            if on_step is None or evaluations < (reported + 1) * len(boxes):
                return
            reported += 1
            picture_terms = {**latest, **{name: sum(part.values()) for name, part in shares.items() if part}}
            weights = {name: term.at(run_progress(reported - 1)) for name, term in self.weights.items()}
            total_now = sum(weights.get(name, 0.0) * value for name, value in picture_terms.items())
            try:
                on_step(image, torch.as_tensor(total_now), picture_terms)
            except StopOptimization:
                stopped = True
                raise

        for sweep, count in enumerate(per_visit):
            if sweep:
                self.survey(image)  # the running sums, exact again
            for box in boxes:
                if count == 0:
                    continue
                self.visit(image, box, count, optimizer=optimizer, learning_rate=learning_rate,
                           lbfgs_history=lbfgs_history, on_step=lambda x, t, terms, box=box: tile_step(box, x, t, terms),
                           run_progress=lambda done: run_progress(reported))
                if stopped:
                    return image
        return image


def _inner(box: Box, padded: Box) -> Box:
    """The core's box within its padded crop."""
    return (box[0] - padded[0], box[1] - padded[0], box[2] - padded[2], box[3] - padded[2])


VISIT_STEPS = 8
"""Evaluations per visit to a tile. The whole picture's Gram can be met by any one part of
it: a tile optimised for long while the others wait takes on all of the style and leaves
them photographs (from the photo, two visits of 12 steps left one of two tiles nearly
unpainted). Short visits in many sweeps share the work out as descent on the whole picture
does, but each visit restarts L-BFGS, which wastes its first steps: 4 converged visibly
less, 8 and 12 matched the untiled run's distances (256 px, two scales, tiles of 128)."""


def sweeps_for(steps: int) -> int:
    """Sweeps over the grid for ``steps`` evaluations per tile, in visits of about
    :data:`VISIT_STEPS`."""
    return max(1, round(steps / VISIT_STEPS))
