"""The jobs Brushwork does with the optimiser: style transfer, content reconstruction,
texture synthesis and content x style grids.

Every job takes images as tensors (RGB, (1, 3, H, W), [0, 1]) and a :class:`TransferConfig`,
whose field defaults are the only defaults: the CLI and the web studio read them from here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from PIL import Image
from torch import Tensor

import brushwork.engine.color as color
from brushwork.errors import InputError
from brushwork.engine.devices import (PRECISIONS, Precision, check_fits, fits, memory_budget, memory_needed, resolve_device,
                                      resolve_precision)
from brushwork.engine.features import (VGG19_LAYERS, Pooling, VGGFeatures, check_layers, layer_block, layer_channels,
                                       layer_stride, shared_extractor)
from brushwork.media.image_io import as_image, as_image_list, fit_long_side, labelled_grid, resize, tensor_to_pil
from brushwork.engine.losses import ContentTarget, StyleTarget, energy_balance, energy_ratio, gram_matrix
from brushwork.engine.optimize import (LossFn, Objective, OptimizerName, ProgressCallback, Term, Weights, paper_losses,
                                      run_pyramid, style_term)
from brushwork.options import check_fields, check_range, describe, option
from brushwork.engine.postprocess import finish_picture
from brushwork.engine.tiled import (DEFAULT_TILE, MIN_TILE, PICTURE_COPIES, TILE_MARGIN, TILE_STEP, TiledObjective, TileGrid,
                                   history_entry_bytes, lbfgs_history_for, tiled_grams)
from brushwork.engine.schedules import MultiScaleSchedule, WeightSchedule

InitName = Literal["content", "noise", "image", "adain", "wct"]
NETWORK_INITS = ("adain", "wct")
"""Starts that are one pass of the shipped arbitrary-style network of that name."""
MAX_WEIGHT = 1e9
MAX_SEED = 2**32 - 1
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,2})?")
"""Every device name Brushwork accepts; nothing else gets as far as ``torch.device``."""


BLOCK_STYLE_WEIGHTS = (1.0, 1.0, 1.0, 0.5, 0.1)
"""Default weight of a style layer by its VGG-19 block (1-5). Block 5 (relu5_1: each position
sees about 200 px) matched at full weight reproduces the painting's own objects; at 0.1 its
colours and strokes still come through (docs/benchmarks.md: ``copied``)."""


@dataclass(frozen=True)
class TransferConfig:
    """Every tunable of an optimisation run, with its default. Invalid values raise InputError."""

    size: int = option(512, "long side of the output in pixels (512 for every method: transfer, fast, adain)",
                       min=1, max=16384)
    steps: int = option(30, "optimiser steps (loss evaluations) at the reference size", min=1, max=100_000)
    refine_steps: int = option(10, "steps at each scale above the reference size: they add finer strokes to the "
                               "reference's picture, and more of them move it away from that look", min=1, max=100_000)
    scales: int = option(3, "number of coarse-to-fine scales", min=1, max=8)
    scale_factor: float = option(2.0, "size ratio between successive scales", min=1.05, max=8.0)
    step_growth: float = option(1.6, "each coarser scale runs this many times the steps of the next finer one",
                                min=0.1, max=10.0)
    content_weight: float = option(1.0, "alpha: weight of the content loss", min=0.0, max=MAX_WEIGHT)
    style_weight: float = option(50.0, "beta: weight of the style loss", min=0.0, max=MAX_WEIGHT)
    tv_weight: float = option(1.0, "gamma: weight of the total-variation loss", min=0.0, max=MAX_WEIGHT)
    content_layers: tuple[str, ...] = option(("relu4_2",), "VGG-19 layers for the content loss")
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "VGG-19 layers for the style loss"
    )
    style_layer_weights: tuple[float, ...] | None = option(
        None, "relative weight of each style layer (default: by VGG-19 block, 1 for blocks 1-3, 0.5 for block 4 and "
        "0.1 for block 5: the deep layers see whole objects, and matched in full they copy the painting's moon or "
        "lettering onto the photo)", min=0.0, max=MAX_WEIGHT)
    style_scale: float = option(1.0, "style image size relative to the output's long side", min=0.05, max=8.0)
    optimizer: OptimizerName = option("lbfgs", "optimiser", choices=("lbfgs", "adam"))
    learning_rate: float = option(0.02, "Adam step size (pixel values are in [0, 1])", min=1e-6, max=10.0)
    lbfgs_history: int = option(50, "L-BFGS history size (each entry keeps two copies of the image)", min=1, max=500)
    init: InitName = option("content", "starting image: content, noise, adain or wct (the shipped AdaIN or WCT "
                            "network's result) or an image file", choices=("content", "noise", "image", *NETWORK_INITS))
    pooling: Pooling = option("max", "VGG-19 pooling", choices=("max", "avg"))
    preserve_color: color.ColorMode = option("none", "keep the content's colours", choices=color.COLOR_MODES)
    balance: Literal["energy", "fixed"] = option(
        "energy", "energy: beta is multiplied by the square root of the style's Gram energy over the content's "
        "feature energy (at the reference size) around a typical pair's, so that faint styles pull somewhat less "
        "and one strength paints every pair about as much; fixed: beta as given",
        choices=("energy", "fixed"))
    style_schedule: WeightSchedule = option(WeightSchedule(), "style weight multiplier over the run, e.g. linear:0.1:1")
    tv_schedule: WeightSchedule = option(WeightSchedule(), "TV weight multiplier over the run, e.g. geometric:10:1")
    precision: Precision = option("auto", "arithmetic of VGG-19: auto (bfloat16 where the hardware has it), float32, bfloat16",
                                choices=PRECISIONS)
    reference_size: int = option(512, "every output's pyramid is the one of this long side, continued by the scale "
                                 "factor up to the output's size with --refine-steps at each finer scale; smaller outputs are "
                                 "computed at it and scaled down, so a preview and a print look like one picture "
                                 "(0: the pyramid ends at the output's size, and small outputs lose the photo)",
                                 min=0, max=16384)
    tile: int | None = option(None, "evaluate each scale whose long side is over PX in tiles of PX (the optimiser "
                              "still sees the whole picture, so the result is the same; default: only the scales too "
                              "large for the planned memory (--max-memory), in the largest tiles that fit in it)",
                              min=128, max=16384, whole=True)
    max_memory: float | None = option(None, "GiB the run is planned for: scales that would need more are evaluated in "
                                      "tiles that fit (default: 8, or the memory available if less)",
                                      min=1.0, max=65536.0, unit="GIB")
    sharpen: float = option(0.0, "edge enhancement after the optimiser: an unsharp mask on luminance, the amount of "
                            "fine detail added (0: off; 1 doubles it)", min=0.0, max=5.0)
    denoise: float = option(0.0, "noise reduction after the optimiser: a bilateral filter, the strength (0: off; 1 "
                            "merges colours within 0.15 of each other over about 3 px)", min=0.0, max=4.0)
    seed: int = option(0, "random seed: the same seed gives the same image on the same machine", min=0, max=MAX_SEED)
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
                         pattern=DEVICE_PATTERN.pattern)

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise InputError(f"unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        for name in ("content_layers", "style_layers"):
            layers = getattr(self, name)
            if not isinstance(layers, tuple) or not layers or not all(isinstance(n, str) for n in layers):
                raise InputError(f"{name} must name at least one VGG-19 layer, got {layers!r}")
            check_layers(layers)
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise InputError(
                    f"{len(self.style_layer_weights)} style layer weights given for {len(self.style_layers)} style layers"
                )
            if sum(self.style_layer_weights) <= 0:
                raise InputError("style layer weights must not all be zero")

    def layer_weights(self) -> dict[str, float]:
        """Each style layer's relative weight: ``style_layer_weights``, or by the layer's block."""
        weights = self.style_layer_weights or [BLOCK_STYLE_WEIGHTS[layer_block(n) - 1] for n in self.style_layers]
        return dict(zip(self.style_layers, weights))

    def resolved(self) -> "TransferConfig":
        """This config with the weights a default stands for written out: what an output's
        metadata and batch's skip check record, so that they stay true if a default changes."""
        return replace(self, style_layer_weights=tuple(self.layer_weights().values()))

    @classmethod
    def help(cls) -> dict[str, dict]:
        """Default, help text, choices and range per option, for front ends that build forms or flags."""
        return describe(cls)


def check_weight(name: str, value: float) -> None:
    """Weights must be finite, non-negative and not absurdly large."""
    check_range(name, value, 0.0, MAX_WEIGHT)


RECONSTRUCT_CONFIG = TransferConfig(scales=1, steps=300, tv_weight=0.0, reference_size=0)
"""Defaults of :func:`reconstruct`: the classic experiment runs at one scale from white noise
with no smoothing, so that what a deep layer does not keep stays visibly lost."""

def _style_size(style: Tensor, long_side: int, style_scale: float, min_side: int) -> tuple[int, int]:
    """Style size for a scale: ``style_scale`` times its long side, but never so small that
    the deepest layer gets no pixels."""
    h, w = style.shape[-2:]
    long_side = max(round(long_side * style_scale), math.ceil(min_side * max(h, w) / min(h, w)))
    return fit_long_side(h, w, long_side)


def _noise_like(shape: tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator).to(device)


_PREPARED_FIELDS = ("content_layers", "style_layers", "style_layer_weights", "style_scale", "pooling", "precision", "device")
"""The config fields that style targets depend on: a run must agree with its prepared styles on these."""


class PreparedStyles:
    """Style images on a device, with their Gram matrices computed once per size and kept.

    Make one with :func:`prepare_styles` and pass it to :func:`stylize` in place of the
    style images: a hundred contents at one output size then cost one set of style
    features per scale, not a hundred. With ``preserve_color`` the styles are recoloured
    for each content, so their targets are recomputed per run from the images kept here.
    """

    def __init__(self, images: Sequence[Tensor], config: TransferConfig, layers: tuple[str, ...],
                 device: torch.device) -> None:
        self.sources = list(images)
        self.config = config
        self.layers, self.device = layers, device
        self.images = [image.to(device) for image in images]
        self.extractor = shared_extractor(layers, config.pooling, resolve_precision(config.precision, device), device)
        self.layer_weights = config.layer_weights()
        self.min_side = layer_stride(max(layers, key=VGG19_LAYERS.index))
        self._grams: dict[tuple[int, int], dict[str, Tensor]] = {}
        self.computed = 0
        """How many Gram sets were computed (one per style image and output long side)."""

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def grams(self, index: int, long_side: int) -> dict[str, Tensor]:
        """Gram matrices of style ``index`` sized for an output whose long side is ``long_side``
        (in tiles, when the style at that size is too large for one pass)."""
        key = (index, long_side)
        if key not in self._grams:
            style = self.images[index]
            scaled = resize(style, _style_size(style, long_side, self.config.style_scale, self.min_side))
            grid = tile_grid_for(tuple(scaled.shape[-2:]), self.layers, self.config, self.device, steps=0)
            if grid is not None:
                self._grams[key] = tiled_grams(self.extractor, scaled, list(self.layer_weights), grid)
            else:
                features = self.extractor(scaled)
                self._grams[key] = {name: gram_matrix(features[name]) for name in self.layer_weights}
            self.computed += 1
        return self._grams[key]

    def targets(self, size: tuple[int, int], strengths: Sequence[float], masks: Sequence[Tensor | None],
                blend: bool) -> list[tuple[StyleTarget, float]]:
        """The style targets for an output of ``size``: one blended target, or one per masked style."""
        grams = [self.grams(i, max(size)) for i in range(len(self.images))]
        precision = self.extractor.compute_dtype  # the output's Gram products, as its features were made
        if blend:
            return [(StyleTarget.from_grams(grams, strengths, self.layer_weights, precision=precision), 1.0)]
        return [(StyleTarget.from_grams([g], None, self.layer_weights, None if m is None else resize(m.to(self.device), size),
                                        precision), w)
                for g, w, m in zip(grams, strengths, masks)]

    def check_matches(self, config: TransferConfig) -> None:
        for name in _PREPARED_FIELDS:
            if getattr(config, name) != getattr(self.config, name):
                raise InputError(f"the styles were prepared with {name}={getattr(self.config, name)!r} but this run "
                                 f"has {getattr(config, name)!r}; prepare them with the run's config")


def prepare_styles(styles: Sequence[Tensor], config: TransferConfig = TransferConfig()) -> PreparedStyles:
    """Style images made ready for :func:`stylize` on ``config.device``: checked, moved to
    the device once, their targets computed on first use and kept for every later run."""
    images = as_image_list(styles, "style image")
    if not images:
        raise InputError("at least one style image is needed")
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    return PreparedStyles(images, config, layers, resolve_device(config.device))


@dataclass
class _Job:
    """What one run optimises, before it is cut to the sizes of the pyramid."""

    output_size: tuple[int, int]
    init: Tensor | None  # the starting image; taken (set to None) by _run once cut to the first scale
    weights: Weights
    content: Tensor | None = None
    content_layers: tuple[str, ...] = ()
    styles: PreparedStyles | list[Tensor] = field(default_factory=list)
    style_strengths: list[float] = field(default_factory=list)
    masks: list[Tensor | None] = field(default_factory=list)
    blend: bool = True
    finish_with: Tensor | None = None  # content whose chroma luminance mode restores
    like: Tensor | None = None  # the caller's image: the result takes its device and dtype
    extra: Mapping[str, tuple[LossFn, Term]] = field(default_factory=dict)  # more named terms (a temporal one, say)
    work_size: tuple[int, int] | None = None  # the size optimised at, when larger than the output (see work_size_for)


def _paper_weights(config: TransferConfig, *, content: bool = True, style: bool = True) -> dict[str, Term]:
    """alpha, beta, gamma from the config, as named terms (a term not in the job weighs 0)."""
    return {"content": Term(config.content_weight if content else 0.0),
            "style": Term(config.style_weight if style else 0.0, config.style_schedule),
            "tv": Term(config.tv_weight, config.tv_schedule)}


def _history_bytes(size: tuple[int, int], config: TransferConfig, steps: int | None) -> int:
    """L-BFGS keeps two image-sized float32 vectors per history entry (s and y), and a scale
    of ``steps`` steps fills at most that many entries (None: as many as configured)."""
    entries = config.lbfgs_history if steps is None else min(config.lbfgs_history, steps)
    return 2 * entries * 3 * size[0] * size[1] * 4 if config.optimizer == "lbfgs" else 0


def _element_bytes(config: TransferConfig, device: torch.device) -> int:
    """Bytes of one VGG-19 activation in the run's precision."""
    return torch.finfo(resolve_precision(config.precision, device)).bits // 8


TILE_BUDGET_SHARE = 0.9
"""Share of the memory budget the chosen tiles are planned to use: the estimate of a tiled
scale is on the safe side (at 8192x3808 in tiles of 768 it said 7.8 GiB; the run peaked at
6.8 GiB), and this leaves room for what it does not count."""
PLANNED_MEMORY_GIB = 8.0
"""GiB a run is planned for unless ``--max-memory`` says otherwise: a scale whose whole-picture
estimate needs more runs in tiles that fit. Tiles could be larger (a little faster: less
margin) on a machine with more, but a print-size run should leave the machine usable, and
its peak should not depend on the output's size."""
TILED_EXTRA_BYTES = 2**30
"""What a tiled scale holds beyond its counted buffers (measured, not itemised: per-tile
accumulators, the reference size's whole-picture term, the allocator's fragmentation over
thousands of tile-sized passes): at 8192x3808 in tiles of 768 the counted parts came to 5.5
GiB and the run peaked at 6.8 GiB."""


def tile_grid_for(size: tuple[int, int], layers: Sequence[str], config: TransferConfig,
                  device: torch.device, masked: int = 0, steps: int | None = None) -> TileGrid | None:
    """The tiles a scale of ``size`` (``steps`` steps; 0 for a pass without gradients) is
    evaluated in, or None to evaluate it in one pass: tiles of ``config.tile`` when given (for
    scales longer than that); else, for a scale whose whole-picture estimate passes the
    planned memory (``config.max_memory``, default :data:`PLANNED_MEMORY_GIB`, or the memory
    available if less), the largest tiles that fit in :data:`TILE_BUDGET_SHARE` of it (fewer
    tiles waste less on their margins), or :data:`DEFAULT_TILE` where none would (the memory
    check then refuses or accepts it). ``masked``: styles with a mask (each keeps its mask at
    every layer)."""
    stride = max(layer_stride(name) for name in layers)
    if config.tile is not None:
        return TileGrid(*size, core=config.tile, margin=TILE_MARGIN, stride=stride) if max(size) > config.tile else None
    planned = config.max_memory if config.max_memory is not None else PLANNED_MEMORY_GIB
    if fits(size, layers, device, extra_bytes=_history_bytes(size, config, steps), limit_gib=planned,
            element_bytes=_element_bytes(config, device)):
        return None
    budget = memory_budget(device, planned) * TILE_BUDGET_SHARE
    for core in range(max(size) // TILE_STEP * TILE_STEP, MIN_TILE - 1, -TILE_STEP):
        grid = TileGrid(*size, core=core, margin=TILE_MARGIN, stride=stride)
        if tiled_memory(grid, layers, config.content_layers, config, device, masked) <= budget:
            return grid
    return TileGrid(*size, core=DEFAULT_TILE, margin=TILE_MARGIN, stride=stride)


def tiled_memory(grid: TileGrid, layers: Sequence[str], content_layers: Sequence[str], config: TransferConfig,
                 device: torch.device, masked: int = 0) -> int:
    """Bytes a scale evaluated on ``grid`` needs: one padded tile's activations, the
    picture-sized buffers (:data:`PICTURE_COPIES`), the capped L-BFGS history, the
    content's features kept per tile (in the extractor's precision) and ``masked`` styles'
    masks (at the picture's size and each style layer's: 7/3 of a single-channel picture)."""
    size = (grid.height, grid.width)
    padded = (min(size[0], grid.core + 2 * grid.margin), min(size[1], grid.core + 2 * grid.margin))
    pixels = size[0] * size[1]
    element = _element_bytes(config, device)
    kept = sum(layer_channels(n) * pixels // layer_stride(n) ** 2 * element for n in content_layers)
    history = lbfgs_history_for(size, config.lbfgs_history) * history_entry_bytes(size) \
        if config.optimizer == "lbfgs" else 0
    masks = masked * pixels * 4 * 7 // 3
    return (memory_needed(padded, layers, element_bytes=element) + PICTURE_COPIES * 3 * pixels * 4 + kept + history
            + masks + TILED_EXTRA_BYTES)


def check_output_size(size: tuple[int, int], layers: Sequence[str], config: TransferConfig,
                      device: torch.device, content_layers: Sequence[str] = (), masked: int = 0) -> None:
    """Refuse an output the deepest layer cannot see, or whose run cannot fit in memory even
    in tiles (saying what would)."""
    deepest = max(layers, key=VGG19_LAYERS.index)
    min_side = layer_stride(deepest)
    h, w = size
    if min(size) < min_side:
        raise InputError(f"output {w}x{h} is too small for layer {deepest}: it needs at least {min_side} px on each side")
    steps = schedule_for(size, config).steps[-1]  # the final scale's
    grid = tile_grid_for(size, layers, config, device, masked, steps)
    if grid is None:
        check_fits(size, layers, device, extra_bytes=_history_bytes(size, config, steps), limit_gib=config.max_memory,
                   element_bytes=_element_bytes(config, device))
        return
    need = tiled_memory(grid, layers, content_layers, config, device, masked)
    have = memory_budget(device, config.max_memory)
    if need <= have:
        return
    smallest = replace(grid, core=MIN_TILE)
    smaller = grid.core > MIN_TILE and tiled_memory(smallest, layers, content_layers, config, device, masked) <= have
    raise InputError(f"output size {w}x{h} needs about {need / 2**30:.1f} GiB even in tiles of {grid.core} px, but "
                     f"only {have / 2**30:.1f} GiB is available; use a smaller --size"
                     + (f" or --tile {MIN_TILE}" if smaller else ""))


def check_transfer(
    config: TransferConfig, content_size: tuple[int, int], *, styles: int, style_weights: Sequence[float] | None = None,
    mask_sizes: Sequence[tuple[int, int] | None] | None = None,
) -> tuple[int, int]:
    """Everything :func:`stylize` would refuse, decided from sizes alone, before any pixel is read.

    A front end that queues work (the studio) calls this at submission, so that no bad
    request fails later inside a worker. Returns the output size (height, width).
    """
    if styles < 1:
        raise InputError("at least one style image is needed")
    if style_weights is not None:
        if len(style_weights) != styles:
            raise InputError(f"{len(style_weights)} style weights given for {styles} styles")
        for weight in style_weights:
            check_weight("style weight", weight)
        if sum(style_weights) <= 0:
            raise InputError("style weights must not all be zero")
    if mask_sizes is not None:
        if len(mask_sizes) != styles:
            raise InputError(f"{len(mask_sizes)} masks given for {styles} styles; give one per style (none: everywhere)")
        for index, mask_size in enumerate(mask_sizes, 1):
            if mask_size is not None:
                _check_mask_shape(mask_size, content_size, index)
    output_size = fit_long_side(*content_size, config.size)
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    device = resolve_device(config.device)
    if config.tile is not None and config.tile >= max(output_size):
        raise InputError(f"tile {config.tile} px is not smaller than the output ({max(output_size)} px), so nothing "
                         "would be tiled; give a smaller tile or none")
    check_output_size(output_size, layers, config, device, config.content_layers,
                      sum(m is not None for m in mask_sizes or ()))
    return output_size


def schedule_for(size: tuple[int, int], config: TransferConfig) -> MultiScaleSchedule:
    """The scales and steps a run of ``config`` optimises a picture of ``size`` at (front ends
    and benchmarks that plan a run ask here rather than rebuild it)."""
    return MultiScaleSchedule.pyramid(*size, scales=config.scales, steps=config.steps, factor=config.scale_factor,
                                      step_growth=config.step_growth, reference=config.reference_size,
                                      refine_steps=config.refine_steps)


def _run(job: _Job, config: TransferConfig, callback: ProgressCallback | None) -> Tensor:
    device = resolve_device(config.device)
    style_layers = config.style_layers if len(job.styles) else ()
    layers = tuple(dict.fromkeys(job.content_layers + style_layers))
    work = job.work_size or job.output_size
    masked = 0 if job.blend else sum(m is not None for m in job.masks)
    check_output_size(work, layers, config, device, job.content_layers, masked)
    extractor = shared_extractor(layers, config.pooling, resolve_precision(config.precision, device), device)
    styles = job.styles if isinstance(job.styles, PreparedStyles) else (
        PreparedStyles(job.styles, config, layers, device) if job.styles else None)
    content = job.content.to(device) if job.content is not None else None

    Targets = tuple[ContentTarget | None, list[tuple[StyleTarget, float]]]

    @torch.no_grad()
    def targets_at(size: tuple[int, int]) -> Targets:
        content_target = None
        if content is not None:
            feats = extractor(resize(content, size))
            content_target = ContentTarget({n: feats[n] for n in job.content_layers})
        style_targets = [] if styles is None else styles.targets(size, job.style_strengths, job.masks, job.blend)
        return content_target, style_targets

    weights = {**job.weights, **{name: term for name, (_, term) in job.extra.items()}}
    schedule = schedule_for(work, config)
    grids = {size: tile_grid_for(size, layers, config, device, masked, steps)
             for size, steps in zip(schedule.sizes, schedule.steps)}
    known: dict[tuple[int, int], Targets] = {}  # targets the balance needed first, kept for their scale
    if config.balance == "energy" and content is not None and styles is not None and weights["content"].weight > 0:
        # One forward pass (no gradients) at the reference size, so that the strength is the
        # same at every output size; at the output's size without one, or a smaller size where
        # even that would not fit (a ratio of energies, nearly the same).
        balance_size = fit_long_side(*work, config.reference_size) if 0 < config.reference_size < max(work) else work
        if not fits(balance_size, layers, device):
            balance_size = fit_long_side(*work, DEFAULT_TILE)
        content_target, style_targets = known[balance_size] = targets_at(balance_size)
        content_feats = {n: getattr(content_target, f"target_{n}") for n in job.content_layers}
        ratio = sum(strength * energy_ratio(content_feats, {n: getattr(t, f"gram_{n}") for n in t.layer_weights},
                                            styles.layer_weights) for t, strength in style_targets)
        ratio /= sum(strength for _, strength in style_targets)
        factor = min(max(energy_balance(ratio), 1e-3), 1e3)
        weights["style"] = replace(weights["style"], weight=weights["style"].weight * factor)

    reference = fit_long_side(*work, config.reference_size) if 0 < config.reference_size < max(work) else None
    look: dict[str, LossFn] = {}
    if reference is not None and styles is not None and LOOK_WEIGHT > 0 and weights["style"].weight > 0:
        if reference not in known:  # kept for the reference scale's own objective too
            known[reference] = targets_at(reference)
        content_target, style_targets = known[reference]
        content_share = weights["content"].weight / weights["style"].weight if content_target is not None else 0.0
        weights["look"] = replace(weights["style"], weight=weights["style"].weight * LOOK_WEIGHT)
        look["look"] = _look_term(extractor, reference, style_targets, content_target, content_share)

    extra = {name: fn for name, (fn, _) in job.extra.items()}  # terms of the pixels alone

    def make_objective(size: tuple[int, int]) -> Objective | TiledObjective:
        finer = look if max(size) > max(reference or size) else {}
        if grids[size] is not None:
            style_targets = [] if styles is None else styles.targets(size, job.style_strengths, job.masks, job.blend)
            return TiledObjective(extractor, grids[size], weights, content=None if content is None else resize(content, size),
                                  content_layers={name: 1.0 for name in job.content_layers}, styles=style_targets,
                                  whole={**finer, **extra})
        content_target, style_targets = known.pop(size) if size in known else targets_at(size)
        losses = {**paper_losses(content_target, style_targets), **finer, **extra}
        return Objective(extractor, losses, weights)

    finish = _finisher(job.finish_with, device)
    # The run starts from the first scale: the initial image at the output's size is dropped
    # (at 8192 px, one picture-sized buffer less for the whole run).
    first, job.init = resize(job.init, schedule.sizes[0]).to(device), None
    with torch.enable_grad():
        result = run_pyramid(
            schedule, make_objective, first, optimizer=config.optimizer,
            learning_rate=config.learning_rate, lbfgs_history=config.lbfgs_history,
            finish=finish, callback=callback,
        )
    result = resize(finish(result).clamp(0, 1), job.output_size)
    result = finish_picture(result, sharpen_amount=config.sharpen, denoise_strength=config.denoise)
    like = job.like if job.like is not None else torch.empty(0)
    return result.to(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)


LOOK_WEIGHT = 10.0
"""Weight, relative to the scale's own terms, of the reference size's objective at the finer
scales. Measured (with every style block in it, before :data:`LOOK_FIRST_BLOCK`) at 512 px
(paris + starry_night; golden_gate + the_wave; 10 refining steps), the outputs'
style/content distances against the 512 px output's: at 1024 px
1.23x/1.06x and 1.17x/1.04x with weight 10, 1.22x/1.09x and 1.21x/1.04x with 3; at 2048 px
(paris) 1.24x/1.00x with 10 against 1.59x/1.00x with 3. Without the term: 2.07x/1.15x at
1024 px. Single runs vary by about 0.1-0.3 with small changes of settings."""


LOOK_FIRST_BLOCK = 2
"""The reference's objective at the finer scales leaves out the style layers of VGG-19's
blocks before this one. Block 1 (relu1_1) holds the reference's pixel-level detail, which
the finer scale paints at its own size: asked for it through the 2x antialiased reduction
(which passes little of it), the finer scale overdrew it as a 4 px grid. paris +
starry_night, distances at 512 px over the 512 px output's (style/content), grid
(``metrics.grid_strength``, period 4, down): with every block 1.24x/1.09x and 1.21 at 1024
px, 1.24x/0.98x and 1.15 at 2048; from block 2 0.99x/1.09x and 1.16, 1.09x/1.04x and 1.12;
from block 3 0.84x/1.17x and 1.13, 0.96x/1.16x and 1.11 (the balance moves to the style).
golden_gate + the_wave at 1024 px: every block 1.08x/0.98x and 1.12, from block 2 0.94x/1.06x
and 1.12 (the pictures nearly the same side by side)."""


def _look_term(extractor: VGGFeatures, size: tuple[int, int], styles: Sequence[tuple[StyleTarget, float]],
               content: ContentTarget | None, content_share: float) -> LossFn:
    """The reference's objective (its style loss from :data:`LOOK_FIRST_BLOCK` on, plus
    ``content_share`` times its content loss) of the picture scaled down to the reference
    ``size``: at the scales above it, this keeps the reference's look (its strokes, strength
    and layout at that scale) while the scale's own terms add the finer detail. Without it
    the finer scales repaint: measured at 512 px, a 1024 px output's style distance was
    twice the 512 px output's."""
    style = style_term([(_from_block(target, LOOK_FIRST_BLOCK), strength) for target, strength in styles])

    def look(image: Tensor, features: Mapping[str, Tensor]) -> Tensor:
        small = resize(image, size)
        feats = extractor(small)
        total = style(small, feats)
        return total + content_share * content(feats) if content is not None and content_share > 0 else total

    return look


def _from_block(target: StyleTarget, block: int) -> StyleTarget:
    """``target`` on its layers of VGG-19 blocks ``block`` and deeper (all its layers if it has none there)."""
    deep = [name for name in target.layer_weights if layer_block(name) >= block]
    return target.on_layers(deep) if deep else target


def _finisher(chroma_source: Tensor | None, device: torch.device):
    """Post-processing of every shown image: restore the content's chroma in luminance mode."""
    if chroma_source is None:
        return lambda x: x
    source = chroma_source.to(device)
    return lambda x: color.combine_luminance(x, resize(source, tuple(x.shape[-2:])))


def stylize(
    content: Tensor,
    styles: Sequence[Tensor] | PreparedStyles,
    *,
    style_weights: Sequence[float] | None = None,
    masks: Sequence[Tensor | None] | None = None,
    init_image: Tensor | None = None,
    config: TransferConfig = TransferConfig(),
    callback: ProgressCallback | None = None,
    extra_losses: Mapping[str, tuple[LossFn, Term]] | None = None,
) -> Tensor:
    """Repaint ``content`` in the manner of ``styles`` (Gatys, Ecker & Bethge 2016).

    ``style_weights`` blend several styles (relative; default equal). ``masks`` (one per
    style, (1, 1, H, W) in [0, 1], ``None`` for "everywhere") confine each style to a region;
    then each style's weight is its strength in its region. ``init_image`` is required when
    ``config.init == "image"``. ``styles`` may be a :class:`PreparedStyles` made with this
    config, whose targets are then reused. Returns (1, 3, H, W) in [0, 1] with long side
    ``config.size``, on the device and in the (floating) dtype of ``content``.
    ``extra_losses`` adds named terms to the objective (name -> (function, weight)), e.g.
    the temporal term of video stylization: terms of the picture's pixels, which a picture
    evaluated in tiles gives them whole, with no features.
    """
    like = content
    content = as_image(content, "content image")
    prepared = styles if isinstance(styles, PreparedStyles) else None
    if prepared is not None:
        prepared.check_matches(config)
        styles = prepared.sources
    styles = as_image_list(styles, "style image")
    if isinstance(masks, Tensor):
        masks = [masks]
    mask_list = list(masks) if masks is not None else [None] * len(styles)
    for i, mask in enumerate(mask_list):
        if mask is not None:
            mask_list[i] = _check_mask(mask, i + 1)
    strengths = list(style_weights) if style_weights is not None else [1.0] * len(styles)
    output_size = check_transfer(
        config, tuple(content.shape[-2:]), styles=len(styles), style_weights=strengths,
        mask_sizes=[None if m is None else tuple(m.shape[-2:]) for m in mask_list],
    )

    finish_with = None
    style_images = list(styles)
    if config.preserve_color == "luminance":
        content_luma = color.luminance(content)
        style_images = [color.gray_rgb(color.match_luminance(color.luminance(s), content_luma)) for s in styles]
        finish_with, content = content, color.gray_rgb(content_luma)
    elif config.preserve_color == "histogram":
        style_images = [color.match_color(s, content) for s in styles]

    work_size = output_size if extra_losses else work_size_for(output_size, tuple(content.shape[-2:]), config)
    job = _Job(
        output_size, _initial_image(config, content, work_size, init_image, style_images, strengths, mask_list),
        _paper_weights(config), content, config.content_layers,
        prepared if prepared is not None and config.preserve_color == "none" else style_images, strengths, mask_list,
        blend=all(m is None for m in mask_list), finish_with=finish_with, like=like, extra=dict(extra_losses or {}),
        work_size=work_size,
    )
    return _run(job, config, callback)


def work_size_for(output_size: tuple[int, int], content_size: tuple[int, int], config: TransferConfig) -> tuple[int, int]:
    """The size an output is optimised at: its own, or for an output smaller than
    ``config.reference_size`` that size (or the content's own, if smaller: a photo is never
    enlarged to be worked on), scaled down at the end. VGG-19's filters have a fixed size in
    pixels, so at 128 px its deep layers see the whole picture at once and the photo's
    arrangement is lost; computed at the reference size, a thumbnail is the reference
    picture in small. (Terms defined at the output's size, like the video's temporal one,
    keep the output's size.)"""
    work = min(config.reference_size, max(content_size))
    if max(output_size) < work:
        return fit_long_side(*content_size, work)
    return output_size


def _check_mask(mask: Any, index: int) -> Tensor:
    if not isinstance(mask, Tensor) or mask.ndim != 4 or mask.shape[:2] != (1, 1) or min(mask.shape[-2:]) < 1:
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InputError(f"mask {index} must be a (1, 1, H, W) tensor, got {shape}")
    mask = mask.float() / 255.0 if mask.dtype == torch.uint8 else mask.float()
    if float(mask.max()) <= 0:
        raise InputError(f"mask {index} is entirely black, so its style would apply nowhere")
    return mask


def _check_mask_shape(mask_size: tuple[int, int], content_size: tuple[int, int], index: int) -> None:
    mask_aspect = mask_size[1] / mask_size[0]
    content_aspect = content_size[1] / content_size[0]
    if abs(math.log(mask_aspect / content_aspect)) > 0.05:
        raise InputError(
            f"mask {index} is {mask_size[1]}x{mask_size[0]} but the content image is "
            f"{content_size[1]}x{content_size[0]}; a mask must have the content's shape"
        )


def _initial_image(
    config: TransferConfig, content: Tensor, size: tuple[int, int], init_image: Tensor | None,
    styles: Sequence[Tensor] = (), strengths: Sequence[float] = (), masks: Sequence[Tensor | None] = (),
) -> Tensor:
    if config.init == "image":
        if init_image is None:
            raise InputError("init 'image' needs an initial image")
        return resize(as_image(init_image, "initial image"), size)
    if init_image is not None:
        raise InputError(f"an initial image was given but init is {config.init!r}")
    if config.init == "noise":
        return _noise_like((1, 3, *size), config.seed, torch.device("cpu"))
    if config.init in NETWORK_INITS:  # one pass of an arbitrary-style network: the optimiser only refines
        from brushwork.realtime.models import load_model
        from brushwork.realtime.stylize import arbitrary_stylize

        net = load_model(config.init, expect="arbitrary").network
        use_masks = None if all(m is None for m in masks) else list(masks)
        return arbitrary_stylize(net, resize(content, size), list(styles), weights=list(strengths) or None, masks=use_masks,
                             style_size=max(size), device=config.device)
    return resize(content, size)


def reconstruct(
    content: Tensor,
    *,
    layer: str = "relu4_2",
    config: TransferConfig = RECONSTRUCT_CONFIG,
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Recover an image from white noise that matches ``content``'s features at ``layer``.

    The classic experiment of Gatys et al. (Fig. 1): shallow layers give the photo back
    almost exactly, deep layers keep the arrangement but lose the exact pixels.
    """
    like, content = content, as_image(content, "content image")
    check_layers([layer])
    size = fit_long_side(*content.shape[-2:], config.size)
    job = _Job(size, _noise_like((1, 3, *size), config.seed, torch.device("cpu")), _paper_weights(config, style=False),
               content, (layer,), like=like)
    return _run(job, config, callback)


def synthesize_texture(
    style: Tensor,
    *,
    layers: Sequence[str] | None = None,
    config: TransferConfig = TransferConfig(),
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Synthesize a texture from white noise that matches ``style``'s Gram matrices
    (Gatys, Ecker & Bethge 2015, "Texture synthesis using CNNs"); no content loss.

    ``layers`` defaults to ``config.style_layers``; the output has the style's aspect ratio.
    """
    like, style = style, as_image(style, "style image")
    if layers is not None:
        check_layers(layers)
        config = replace(config, style_layers=tuple(layers), style_layer_weights=None)
    size = fit_long_side(*style.shape[-2:], config.size)
    job = _Job(size, _noise_like((1, 3, *size), config.seed, torch.device("cpu")), _paper_weights(config, content=False),
               styles=[style], style_strengths=[1.0], masks=[None], like=like)
    return _run(job, config, callback)


def stylize_grid(
    contents: Sequence[tuple[str, Tensor]],
    styles: Sequence[tuple[str, Tensor]],
    *,
    config: TransferConfig = TransferConfig(),
    callback: ProgressCallback | None = None,
    on_cell: Callable[[int, int], None] | None = None,
    cell_px: int = 256,
) -> Image.Image:
    """Stylize every content with every style; return one labelled sheet.

    Styles run along the top, contents down the left. ``on_cell(index, count)`` is called
    before each of the ``len(contents) * len(styles)`` runs.
    """
    if not contents or not styles:
        raise InputError("a grid needs at least one content and one style image")
    rows = []
    count = len(contents) * len(styles)
    for r, (_, content) in enumerate(contents):
        row = []
        for c, (_, style) in enumerate(styles):
            if on_cell is not None:
                on_cell(r * len(styles) + c, count)
            row.append(tensor_to_pil(stylize(content, [style], config=config, callback=callback)))
        rows.append(row)
    return labelled_grid(
        rows, [tensor_to_pil(c) for _, c in contents], [tensor_to_pil(s) for _, s in styles],
        [name for name, _ in contents], [name for name, _ in styles], cell=cell_px,
    )
