"""Stylizing with trained networks: one forward pass per image.

:func:`fast_stylize` runs a per-style :class:`~brushwork.realtime.networks.TransformerNet` on a batch;
:func:`arbitrary_stylize` runs an arbitrary-style network with any styles: a
:class:`~brushwork.realtime.networks.UniversalNet` (multi-level WCT) or an
:class:`~brushwork.realtime.networks.AdaINNet`.
Both keep the content's colours on request, like the optimiser's ``preserve_color``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

import brushwork.engine.color as color
from brushwork.engine.color import COLOR_MODES
from brushwork.engine.devices import PRECISIONS, autocast, resolve_device, resolve_precision
from brushwork.errors import InputError
from brushwork.media.image_io import as_batch, as_image_list, fit_long_side, resize
from brushwork.realtime.networks import PIXEL_LEVEL, WCT_RUN_LEVELS, AdaINNet, TransformerNet, UniversalNet
from brushwork.realtime.tiling import (AUTO_TILE_ABOVE, Tiling, needs_tiles, network_tiling, run_tiled, thumbnail_of,
                                       thumbnail_statistics)
from brushwork.options import check_fields, describe, option

ArbitraryNet = AdaINNet | UniversalNet
"""A network that paints in any style given at run time."""


@dataclass(frozen=True)
class NetworkOptions:
    """Where and how a network runs, and whether it keeps the photo's colours."""

    preserve_color: str = option("none", "keep the content's colours", choices=COLOR_MODES)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = option("auto", "auto (bfloat16 where native), float32, bfloat16", choices=PRECISIONS)
    tile: int | None = option(None, f"run in tiles of PX normalised by a thumbnail's statistics (default: only "
                              f"pictures over {AUTO_TILE_ABOVE} px, in tiles of {describe(Tiling)['tile']['default']})",
                              min=64, max=16384, whole=True)
    overlap: int = option(describe(Tiling)["overlap"]["default"], "pixels shared by neighbouring tiles",
                          min=0, max=4096, whole=True)

    def __post_init__(self) -> None:
        check_fields(self)

    def tiling(self, size: tuple[int, int]) -> Tiling | None:
        """How a picture of ``size`` is cut (see :func:`~brushwork.realtime.tiling.network_tiling`)."""
        return network_tiling(self.tile, self.overlap, size)


@dataclass(frozen=True)
class FastOptions(NetworkOptions):
    """Options of ``brushwork fast``."""

    size: int = option(512, "long side of each output in pixels, as for transfer and adain (inputs of other sizes "
                       "are resized first)", min=16, max=8192, whole=True)
    batch: int = option(4, "images per forward pass, among images of one size", min=1, max=256)


@dataclass(frozen=True)
class AdaINOptions(NetworkOptions):
    """Options of ``brushwork adain``."""

    alpha: float = option(1.0, "0 keeps the content, 1 is full style", min=0.0, max=1.0)
    keep_layout: float = option(0.5, "how far the output's coarse light and shade move toward the photo's (0: the "
                                "network's own, 1: the photo's); colours and strokes stay the painting's", min=0.0, max=1.0)
    levels: tuple[int, ...] | None = option(None, "WCT models: which levels restyle, coarse to fine: VGG's relu N_1, "
                                           f"0 the pixels' colours (default {' '.join(map(str, WCT_RUN_LEVELS))}; without 4 "
                                           "the painting's larger marks are left out and more of the photo stays)",
                                           min=0, max=4, whole=True)
    size: int = option(512, "long side of the output in pixels, as for transfer and fast", min=16, max=8192)
    style_size: int = option(512, "long side of each style image", min=16, max=8192)
    reference_size: int = option(1024, "WCT models: on a larger output the coarse levels (relu4_1, relu3_1) run at "
                                 "this long side, relu2_1 at twice it and relu1_1 at four times, each finer pass "
                                 "adding the photo's detail back, so the painting's marks keep their size relative "
                                 "to the picture and an 8192 px print takes under a minute (0: every level at the "
                                 "output's size)",
                                 min=0, max=16384, whole=True)


def _keep_colors(out: Tensor, content: Tensor, mode: str) -> Tensor:
    if mode == "luminance":
        return color.combine_luminance(out, content)
    if mode == "histogram":
        return torch.cat([color.match_color(o[None], c[None]) for o, c in zip(out, content)])
    if mode != "none":
        raise InputError(f"preserve_color must be one of {', '.join(color.COLOR_MODES)}; got {mode!r}")
    return out


@torch.no_grad()
def arbitrary_style_statistics(net: ArbitraryNet, styles: Sequence[Tensor], *, style_size: int | None = 512,
                               device: str | None = None, precision: str = "auto") -> list:
    """The paintings' statistics (AdaIN's channel moments or WCT's colouring moments per
    level), computed once for many :func:`arbitrary_stylize` calls."""
    styles = as_image_list(styles, "style image")
    net, dev = placed(net, device)
    if style_size:
        styles = [resize(s, fit_long_side(*s.shape[-2:], style_size)) for s in styles]
    with autocast(dev, precision):
        return net.style_statistics([s.to(dev) for s in styles], resolve_precision(precision, dev))


def placed(net: nn.Module, device: str | None) -> tuple[nn.Module, torch.device]:
    """The network to run on ``device``, never the caller's moved: where it already is (or
    ``device`` is None), it runs as it is; elsewhere on a copy. Front ends that run many
    passes move their network once themselves and pass None."""
    here = next(net.parameters()).device
    if device is None:
        return net, here
    wanted = resolve_device(device)
    if (wanted.type, wanted.index or 0) == (here.type, here.index or 0):
        return net, here
    return copy.deepcopy(net).to(wanted), wanted


@torch.no_grad()
def fast_stylize(
    net: TransformerNet, images: Tensor, *, preserve_color: str = "none", device: str | None = None,
    precision: str = "auto", tiling: Tiling | None = None,
) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> the same shape, in the network's style, on the images' device.

    Runs where the network is (``device`` None) or on a copy on ``device``. Pictures whose
    long side is over ``tiling.tile`` run in tiles normalised by a thumbnail's statistics
    (:mod:`brushwork.realtime.tiling`)."""
    images = as_batch(images, "image")
    net, dev = placed(net, device)

    def run(x: Tensor) -> Tensor:
        with autocast(dev, precision):
            return net(x.to(dev)).float()

    if needs_tiles(*images.shape[-2:], tiling):
        outs = []
        for image in images.split(1):
            with thumbnail_statistics(net, image, tiling, run):
                outs.append(run_tiled(run, image, tiling))
        out = torch.cat(outs).to(dev)
    else:
        out = run(images)
    return _keep_colors(out, images.to(dev), preserve_color).clamp(0, 1).to(images.device)


def level_schedule(levels: Sequence[int], long_side: int, reference_size: int) -> list[tuple[int, tuple[int, ...]]]:
    """The long side each of a WCT run's ``levels`` (coarse to fine) works at, as groups of
    consecutive levels sharing one: relu4_1 and relu3_1 at ``reference_size``, each level
    below at twice the one above, the pixel level at the output's ``long_side`` (never above
    it; ``reference_size`` 0: every level at ``long_side``). Why: a level's marks have a
    fixed size in pixels, so on a print the full-size cascade paints the painting's patterns
    a sixteenth as large relative to the picture as on a 512 px preview, and its finest
    levels at full size are most of the time."""
    groups: list[tuple[int, tuple[int, ...]]] = []
    for level in levels:
        scale = 2 ** max(0, 3 - level) if level != PIXEL_LEVEL else None
        side = long_side if not reference_size or scale is None else min(long_side, reference_size * scale)
        if groups and groups[-1][0] == side:
            groups[-1] = (side, groups[-1][1] + (level,))
        else:
            groups.append((side, (level,)))
    return groups


def _with_detail(picture: Tensor, content: Tensor, size: tuple[int, int]) -> Tensor:
    """``picture`` enlarged to ``size`` with the detail of ``content`` that its own size
    could not hold (a Laplacian band), so that the finer levels restyle the photo's detail
    rather than an enlargement's blur."""
    lost = resize(content, size) - resize(resize(content, tuple(picture.shape[-2:])), size)
    return (resize(picture, size) + lost).clamp(0, 1)


@torch.no_grad()
def arbitrary_stylize(
    net: ArbitraryNet,
    content: Tensor,
    styles: Sequence[Tensor],
    *,
    alpha: float = 1.0,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor | None] | None = None,
    preserve_color: str = "none",
    style_size: int | None = 512,
    device: str | None = None,
    precision: str = "auto",
    style_stats: Sequence | None = None,
    tiling: Tiling | None = None,
    levels: Sequence[int] | None = None,
    keep_layout: float | None = None,
    reference_size: int | None = None,
) -> Tensor:
    """Content (1, 3, H, W), or a batch (B, 3, H, W) of one size, in the manner of ``styles``;
    see :meth:`AdaINNet.forward` and :meth:`UniversalNet.forward`.

    ``style_stats`` from :func:`arbitrary_style_statistics` (with the same ``style_size`` and
    precision) spare encoding the paintings again for every frame or photo. A content whose
    long side is over ``tiling.tile`` runs in tiles, each normalised by the statistics of a
    thumbnail of the whole content (:mod:`brushwork.realtime.tiling`). ``levels`` chooses a
    WCT network's levels (see :meth:`UniversalNet.forward`); ``keep_layout`` (default
    :class:`AdaINOptions`') moves the output's coarse light and shade toward the photo's
    (:func:`~brushwork.engine.color.keep_layout`). ``reference_size`` (default
    :class:`AdaINOptions`') sets the sizes a WCT network's levels work at on a large
    content (:func:`level_schedule`)."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    content = as_batch(content, "content image")
    if preserve_color == "histogram" and content.shape[0] > 1:
        raise InputError("preserve_color 'histogram' recolours the paintings for one photo; stylize one at a time")
    styles = as_image_list(styles, "style image")
    if not styles:
        raise InputError("at least one style image is needed")
    if weights is not None:
        if len(weights) != len(styles):
            raise InputError(f"{len(weights)} weights given for {len(styles)} styles")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise InputError("style weights must be non-negative and not all zero")
    if masks is not None and len(masks) != len(styles):
        raise InputError(f"{len(masks)} masks given for {len(styles)} styles; give one per style")
    net, dev = placed(net, device)
    dtype = resolve_precision(precision, dev)
    if levels is not None and not isinstance(net, UniversalNet):
        raise InputError("levels apply to WCT models only; this is an AdaIN model")
    if preserve_color == "histogram":  # give the paintings the photo's colours first
        if style_stats is not None:
            raise InputError("preserve_color 'histogram' recolours the paintings for each photo; do not pass style_stats")
        styles = [color.match_color(s, content) for s in styles]
    if style_size and style_stats is None:
        styles = [resize(s, fit_long_side(*s.shape[-2:], style_size)) for s in styles]
    styles = [s.to(dev) for s in styles]
    masks = None if masks is None else [None if m is None else m.to(dev) for m in masks]

    def run(x: Tensor, content_stats=None, **extra) -> Tensor:
        with autocast(dev, precision):
            return net(x.to(dev), styles, alpha=alpha, weights=weights, masks=masks, compute_dtype=dtype,
                       style_stats=style_stats, content_stats=content_stats, **extra).float()

    def run_levels(image: Tensor, **extra) -> Tensor:
        """One pass of ``extra``'s levels over ``image``, in tiles if it is too large for one."""
        if not needs_tiles(*image.shape[-2:], tiling):
            return run(image, **extra)
        if masks is not None:
            raise InputError("masks and tiles do not mix yet: give a smaller --size, or no masks")
        outs = []
        for one in image.split(1):
            with autocast(dev, precision):
                stats = net.content_statistics(thumbnail_of(one, tiling).to(dev), style_stats, alpha=alpha,
                                               weights=weights, compute_dtype=dtype, **extra)
            outs.append(run_tiled(lambda tile: run(tile, stats, **extra), one, tiling))
        return torch.cat(outs).to(dev)

    if style_stats is None:  # once, for every level group and tile
        style_stats = arbitrary_style_statistics(net, styles, style_size=None, precision=precision)
    photo = content.to(dev)
    if isinstance(net, UniversalNet):
        reference = describe(AdaINOptions)["reference_size"]["default"] if reference_size is None else reference_size
        full = tuple(photo.shape[-2:])
        out = None
        for side, group in level_schedule(net.run_levels(levels), max(full), reference):
            size = fit_long_side(*full, side)
            out = run_levels(resize(photo, size) if out is None else _with_detail(out, photo, size), levels=group)
        out = resize(out, full)
    else:
        out = run_levels(photo)
    if preserve_color == "luminance":
        out = color.combine_luminance(out, photo)
    else:
        strength = describe(AdaINOptions)["keep_layout"]["default"] if keep_layout is None else keep_layout
        out = torch.cat([color.keep_layout(o[None], c[None], strength) for o, c in zip(out, photo)])
    return out.clamp(0, 1).to(content.device)
