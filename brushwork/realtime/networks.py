"""Feed-forward style networks: one pass instead of hundreds of optimiser steps.

* :class:`TransformerNet` (Johnson, Alahi & Fei-Fei 2016, with the instance normalisation
  of Ulyanov et al. 2016): an image-to-image network trained for one style.
* :class:`AdaINNet` (Huang & Belongie 2017): VGG-19 up to relu4_1 as a fixed encoder,
  :func:`adain` to give the content features the style's channel means and deviations,
  and a trained :class:`Decoder` back to pixels. Any style, no training per style.

Both take and return RGB images in [0, 1] of any size, (B, 3, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brushwork.engine.features import VGGFeatures
from brushwork.errors import InputError

_EPS = 1e-5
OutputMap = Literal["linear", "sigmoid"]


class _Conv(nn.Sequential):
    """Reflection padding then a convolution: no dark borders from zero padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class _ConvNormReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(_Conv(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _ConvNormReLU(channels, channels, 3), _Conv(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _UpConv(nn.Sequential):
    """Nearest-neighbour upsampling then a convolution: no checkerboard artefacts of
    transposed convolutions (Odena et al. 2016)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), _ConvNormReLU(cin, cout, kernel))


class TransformerNet(nn.Module):
    """Johnson et al.'s network: two stride-2 convolutions, residual blocks, two upsampling
    convolutions. ``width`` is the first layer's channels (Johnson: 32); 16 runs about four
    times faster on a CPU and is what the shipped models use.

    ``output="linear"`` maps the last convolution straight to pixels and clamps them only
    outside training (as pytorch/examples' fast_neural_style does): a squashing output such
    as the sigmoid of Brushwork 0.1.0 stops learning wherever it saturates, which showed as
    flat black patches in dark regions. ``"sigmoid"`` loads those older models."""

    def __init__(self, width: int = 16, blocks: int = 5, output: OutputMap = "linear") -> None:
        super().__init__()
        if output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {output!r}")
        self.width, self.blocks, self.output = width, blocks, output
        w = width
        self.net = nn.Sequential(
            _ConvNormReLU(3, w, 9), _ConvNormReLU(w, 2 * w, 3, 2), _ConvNormReLU(2 * w, 4 * w, 3, 2),
            *[_Residual(4 * w) for _ in range(blocks)],
            _UpConv(4 * w, 2 * w), _UpConv(2 * w, w), _Conv(w, 3, 9),
        )

    def forward(self, image: Tensor) -> Tensor:
        # Any size: the stride-2 convolutions round up, so the output is at least as large
        # as the input and is cropped back (a slice by the input's shape, which ONNX keeps free).
        raw = self.net(image * 2 - 1)[..., : image.shape[-2], : image.shape[-1]]  # centred input
        if self.output == "sigmoid":  # Brushwork 0.1.0's models
            return torch.sigmoid(raw * 2)
        out = raw * 0.5 + 0.5
        return out if self.training else out.clamp(0, 1)


def channel_stats(features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of (B, C, H, W), optionally over a mask's region."""
    if mask is None:
        mean = features.mean(dim=(2, 3), keepdim=True)
        var = features.var(dim=(2, 3), keepdim=True, unbiased=False)
    else:
        weight = mask / mask.sum(dim=(2, 3), keepdim=True).clamp_min(_EPS)
        mean = (features * weight).sum(dim=(2, 3), keepdim=True)
        var = ((features - mean).pow(2) * weight).sum(dim=(2, 3), keepdim=True)
    return mean, (var + _EPS).sqrt()


def adain(content: Tensor, style_mean: Tensor, style_std: Tensor,
          content_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Adaptive instance normalisation: content features with the style's per-channel
    statistics. ``content_stats`` stand in for the content's own (a tile of a large picture
    is normalised by the whole picture's)."""
    mean, std = content_stats if content_stats is not None else channel_stats(content)
    return (content - mean) / std * style_std + style_mean


def feature_covariance(features: Tensor, weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-channel mean (C, 1) and covariance (C, C) over positions of (1, C, H, W), in
    float64; ``weight`` (1, 1, H, W), if given, weighs the positions (a mask's region)."""
    flat = features[0].reshape(features.shape[1], -1).double()
    if weight is None:  # over positions, not less one: a divisor ONNX tracing keeps free with the size
        mean = flat.mean(dim=1, keepdim=True)
        centred = flat - mean
        return mean, centred @ centred.T / flat.shape[1]
    w = weight.reshape(1, -1).double()
    w = w / w.sum().clamp_min(_EPS)
    mean = (flat * w).sum(dim=1, keepdim=True)
    centred = flat - mean
    return mean, (centred * w) @ centred.T


def _matrix_power(cov: Tensor, power: float, eps: float) -> Tensor:
    """``cov`` to ``power`` (+-1/2), its eigenvalues first raised by ``eps`` times their mean
    (features of a small picture have fewer positions than channels: a singular covariance).

    An eigendecomposition, except while exporting to ONNX, which has no such operator:
    there, Newton-Schulz iterations (matrix products only) give the same to float rounding."""
    if torch.onnx.is_in_onnx_export():
        return _newton_schulz(cov, power, eps)
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(0) + eps * values.clamp_min(0).mean().clamp_min(1e-12)
    return vectors @ torch.diag(values.pow(power)) @ vectors.T


NEWTON_SCHULZ_STEPS = 30
"""Enough for eigenvalues 1e-6 of the largest (eps 1e-3 of the mean, 512 channels): the
smallest grow 2.25x a step until they converge, then quadratically."""


def _newton_schulz(cov: Tensor, power: float, eps: float) -> Tensor:
    """Coupled Newton-Schulz iteration (Higham 2008): Y -> A^1/2, Z -> A^-1/2 of A scaled to norm 1."""
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    mean_eigenvalue = (cov * eye).sum() / cov.shape[0]  # the trace's mean (torch.diagonal exports as an If)
    matrix = cov + eye * (eps * mean_eigenvalue.clamp_min(1e-12))
    norm = matrix.norm()
    y, z = matrix / norm, eye
    for _ in range(NEWTON_SCHULZ_STEPS):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    return y * norm.sqrt() if power > 0 else z / norm.sqrt()


WCT_EPS = 1e-3
"""Regularisation of the covariances' eigenvalues, relative to their mean: whitening
divides by their square roots, and near-zero ones would blow noise up into blotches
(1e-2 and 1e-1 changed the held-out pairs' style distance by under 15%)."""


@dataclass(frozen=True)
class Moments:
    """Mean (C, 1) and covariance (C, C) raised to ``power`` of one picture's features at one
    layer: power 0.5 colours (a style), -0.5 whitens (a content)."""

    mean: Tensor
    matrix: Tensor

    @classmethod
    def of(cls, features: Tensor, power: float, weight: Tensor | None = None, eps: float = WCT_EPS) -> "Moments":
        mean, cov = feature_covariance(features, weight)
        return cls(mean, _matrix_power(cov, power, eps))


def wct(content: Tensor, style: Tensor | Moments, *, eps: float = WCT_EPS,
        content_moments: Moments | None = None) -> Tensor:
    """Whitening and colouring transform (Li et al. 2017, "Universal style transfer"): the
    content features (1, C, H, W) decorrelated (whitened), then given the style features'
    mean and covariance, so that their second-order statistics are the style's while their
    arrangement is the content's. AdaIN matches each channel's mean and spread alone; WCT
    matches how channels vary together too. ``eps`` (relative to the mean eigenvalue)
    regularises near-singular covariances. ``style`` may be the style's colouring
    :class:`Moments` (taken once for many frames), ``content_moments`` the whitening ones of
    a larger picture that ``content`` is a tile of."""
    colour = style if isinstance(style, Moments) else Moments.of(style, 0.5, eps=eps)
    whiten = content_moments if content_moments is not None else Moments.of(content, -0.5, eps=eps)
    flat = content[0].reshape(content.shape[1], -1).double() - whiten.mean
    return ((colour.matrix @ whiten.matrix) @ flat + colour.mean).reshape_as(content[0])[None].to(content.dtype)


class Decoder(nn.Module):
    """Mirror of VGG-19 from relu``level``_1 back to pixels, upsampling with nearest neighbour.

    Level 4 is AdaIN's decoder (and the layout of Brushwork's first AdaIN model); levels
    1-3 are the smaller decoders of Li et al.'s multi-level WCT. ``width`` scales every
    layer (1.0 is VGG's 512-256-128-64; the shipped models use 0.5, a quarter of the
    arithmetic), except that a level-1 decoder is one convolution from VGG's 64 channels."""

    def __init__(self, width: float = 0.5, level: int = 4, input_scale: float = 1.0) -> None:
        super().__init__()
        if level not in (1, 2, 3, 4):
            raise ValueError(f"decoder level must be 1-4, got {level}")
        self.width, self.level, self.input_scale = width, level, input_scale
        # VGG's blocks 1..4: channels and convolutions. Decoding block b undoes its first
        # convolution (to block b-1's channels) after the others, then undoes block b-1's pooling.
        channels = [3] + [max(8, int(n * width)) for n in (64, 128, 256)] + [512]
        channels[level] = (64, 128, 256, 512)[level - 1]  # the input: VGG's own channels
        depths = (2, 2, 4, 4)
        layers: list[nn.Module] = [_Conv(channels[level], channels[level - 1], 3)]
        for block in range(level - 1, 0, -1):
            layers += [nn.ReLU(inplace=True), nn.Upsample(scale_factor=2)]
            layers += [m for _ in range(depths[block - 1] - 1) for m in (_Conv(channels[block], channels[block], 3),
                                                                        nn.ReLU(inplace=True))]
            layers.append(_Conv(channels[block], channels[block - 1], 3))
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features * self.input_scale)


def decode_to(decoder: Decoder, features: Tensor, like: Tensor, *, clamp: bool = True) -> Tensor:
    """Pixels from features at ``like``'s height and width (VGG's pooling rounds down, so a
    decoder's output can be a few pixels short), in [0, 1] unless ``clamp`` is False."""
    # Always resized, even to the same size: a branch on shapes would be frozen by ONNX tracing.
    out = F.interpolate(decoder(features), size=like.shape[-2:], mode="bilinear", align_corners=False)
    return out.clamp(0, 1) if clamp else out


ADAIN_LAYER = "relu4_1"
ADAIN_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class AdaINNet(nn.Module):
    """Encoder (fixed VGG-19 to relu4_1), AdaIN, decoder. Images are RGB in [0, 1]."""

    def __init__(self, decoder: Decoder | None = None, *, compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.encoder = VGGFeatures(ADAIN_STYLE_LAYERS, compute_dtype=compute_dtype)
        self.encoder.requires_grad_(False)
        self.decoder = decoder if decoder is not None else Decoder()

    def encode(self, image: Tensor, compute_dtype: torch.dtype | None = None) -> dict[str, Tensor]:
        return self.encoder(image, compute_dtype=compute_dtype)

    def style_statistics(self, styles: Sequence[Tensor], compute_dtype: torch.dtype | None = None) -> list[tuple[Tensor, Tensor]]:
        """Each style's channel mean and std at relu4_1: all AdaIN needs of a painting."""
        return [channel_stats(self.encode(s, compute_dtype)[ADAIN_LAYER]) for s in styles]

    def content_statistics(self, thumbnail: Tensor, style_stats: Sequence[tuple[Tensor, Tensor]], *,
                           alpha: float = 1.0, weights: Sequence[float] | None = None,
                           compute_dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """The channel statistics a picture's tiles share, from its ``thumbnail`` (the style
        arguments are :class:`UniversalNet`'s, which stylizes on the way; AdaIN needs none)."""
        return channel_stats(self.encode(thumbnail, compute_dtype)[ADAIN_LAYER])

    def decode(self, features: Tensor, like: Tensor, *, clamp: bool = True) -> Tensor:
        """Pixels from features, resized to ``like``'s height and width (VGG's pooling rounds
        down, so the decoder's output can be a few pixels short). Training passes
        ``clamp=False``: clamped pixels would pass no gradient back."""
        return decode_to(self.decoder, features, like, clamp=clamp)

    def forward(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        alpha: float = 1.0,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor | None] | None = None,
        compute_dtype: torch.dtype | None = None,
        style_stats: Sequence[tuple[Tensor, Tensor]] | None = None,
        content_stats: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Stylize ``content`` with one or more ``styles``.

        ``alpha`` trades content (0) against style (1). Without masks, several styles are
        interpolated by ``weights`` in feature space; with masks, each region of the content
        gets its own style's statistics (Huang & Belongie, section 7). ``compute_dtype``
        overrides the encoder's precision for this call only. ``style_stats`` (each style's
        relu4_1 mean and std, from :meth:`style_statistics`) stand in for ``styles``, so that
        a video or a batch encodes its paintings once; ``content_stats`` likewise stand in
        for the content's own (tiles of one picture, see :mod:`brushwork.realtime.tiling`).
        """
        feats = self.encode(content, compute_dtype)[ADAIN_LAYER]
        stats = list(style_stats) if style_stats is not None else self.style_statistics(styles, compute_dtype)
        weights = list(weights) if weights is not None else [1.0] * len(stats)
        total = sum(weights)
        if masks is None or all(m is None for m in masks):
            mixed = sum(w / total * adain(feats, m, s, content_stats) for w, (m, s) in zip(weights, stats))
        else:  # each region is normalised by its own statistics, then given its style's
            if content_stats is not None:
                raise ValueError("masks take each region's own statistics; content_stats cannot stand in")
            mixed = torch.zeros_like(feats)
            coverage = torch.zeros_like(feats[:, :1])
            for (mean, std), mask in zip(stats, masks):
                region = torch.ones_like(coverage) if mask is None else F.interpolate(mask, size=feats.shape[-2:], mode="area")
                c_mean, c_std = channel_stats(feats, region)
                mixed = mixed + region * ((feats - c_mean) / c_std * std + mean)
                coverage = coverage + region
            mixed = mixed / coverage.clamp_min(_EPS)
        blended = alpha * mixed + (1 - alpha) * feats
        return self.decode(blended, content)


WCT_LEVELS = (4, 3, 2, 1)
"""The levels of :class:`UniversalNet`, coarse to fine: relu4_1 ... relu1_1."""

PIXEL_LEVEL = 0
"""The last level of :class:`UniversalNet`: the same transform on the pixels' RGB colours
(no encoder, no decoder), which gives the output the painting's colour mean and covariance.
The decoders give back colours only roughly (a blue-violet cast on Mondrian's yellows and
greys, palette distance 19); this level removes such casts (4.7, docs/arbitrary.md)."""

WCT_RUN_LEVELS = (4, 3, 2, 1, PIXEL_LEVEL)
"""The levels a run uses unless told otherwise: all of them. relu4_1 lays down the
painting's larger marks (its decoder, trained further with a feature loss, took the
held-out pairs' style distance from 0.46 without it to 0.36 at 384 px, with the photo
still legible); ``--levels 3 2 1 0`` keeps more of the photo (docs/arbitrary.md)."""

FEATURE_RMS = {1: 50.0, 2: 200.0, 3: 300.0, 4: 1000.0}
"""Typical root-mean-square of VGG-19's relu N_1 features on photos and paintings (Caffe
scale). :class:`UniversalNet`'s decoders take their input divided by it: features in the
hundreds make Adam's first steps on a one-convolution decoder hundreds of times too long."""

LevelMoments = dict[int, Moments]
"""One picture's :class:`Moments` at each level of a :class:`UniversalNet`."""


def level_layer(level: int) -> str:
    """VGG-19's layer that a level of :class:`UniversalNet` works at (3 -> ``relu3_1``)."""
    return f"relu{level}_1"


class UniversalNet(nn.Module):
    """Universal style transfer (Li et al. 2017): decoders trained only to invert VGG-19 at
    relu4_1 ... relu1_1, and at test time a whitening and colouring transform (:func:`wct`)
    at every level, coarse to fine. The relu4_1 pass lays down the painting's larger
    patterns, the lower ones its finer strokes and, at relu1_1, its colours; a last pass on
    the pixels themselves (:data:`PIXEL_LEVEL`) settles the colours exactly.

    Why it generalises where a short-trained AdaIN decoder did not: the decoders learn a
    task that does not depend on any painting (give back the picture whose features these
    are), which a few thousand steps on photos teach, and the style enters only through
    statistics taken at test time. Images are RGB in [0, 1]."""

    def __init__(self, width: float = 0.5, levels: Sequence[int] = WCT_LEVELS, *,
                 compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.width, self.levels = width, tuple(sorted(set(levels), reverse=True))
        self.encoder = VGGFeatures(tuple(level_layer(n) for n in self.levels), compute_dtype=compute_dtype)
        self.encoder.requires_grad_(False)
        self.decoders = nn.ModuleDict({str(n): Decoder(width, n, 1 / FEATURE_RMS[n]) for n in self.levels})
        for decoder in self.decoders.values():  # start at mid-grey: Adam moves a bias ~1e-3 a step, 500 steps to get there
            nn.init.constant_(decoder.net[-1][-1].bias, 0.5)

    def run_levels(self, levels: Sequence[int] | None = None) -> tuple[int, ...]:
        """The levels a run uses, coarse to fine: ``levels``, or :data:`WCT_RUN_LEVELS` among
        the network's (the pixel level needs no decoder, so every network has it)."""
        have = (*self.levels, PIXEL_LEVEL)
        if levels is not None:
            missing = sorted(set(levels) - set(have))
            if missing or not levels:
                raise InputError(f"this WCT model has levels {', '.join(map(str, have))}; "
                                 f"asked for {', '.join(map(str, levels)) or 'none'}")
            return tuple(n for n in have if n in levels)
        return tuple(n for n in have if n in WCT_RUN_LEVELS)

    def encode(self, image: Tensor, level: int | None = None, compute_dtype: torch.dtype | None = None) -> dict[str, Tensor]:
        """Features of every level, or of ``level`` and those below it (VGG stops there)."""
        return self.encoder(image, compute_dtype=compute_dtype, until=None if level is None else level_layer(level))

    def decode(self, features: Tensor, level: int, like: Tensor, *, clamp: bool = True) -> Tensor:
        """Pixels from ``level``'s features at ``like``'s height and width (see :meth:`AdaINNet.decode`)."""
        return decode_to(self.decoders[str(level)], features, like, clamp=clamp)

    def style_statistics(self, styles: Sequence[Tensor], compute_dtype: torch.dtype | None = None) -> list[LevelMoments]:
        """Each style's colouring moments at every level: all WCT needs of a painting."""
        stats = []
        for style in styles:
            feats = self.encode(style, compute_dtype=compute_dtype)
            stats.append({n: Moments.of(feats[level_layer(n)], 0.5) for n in self.levels})
            stats[-1][PIXEL_LEVEL] = Moments.of(style, 0.5)
        return stats

    def content_statistics(self, thumbnail: Tensor, style_stats: Sequence[LevelMoments], *, alpha: float = 1.0,
                           weights: Sequence[float] | None = None, compute_dtype: torch.dtype | None = None,
                           levels: Sequence[int] | None = None) -> LevelMoments:
        """The whitening moments a picture's tiles share, taken from its ``thumbnail`` run
        through the same levels (URST's idea, Chen et al. 2022): each level's input depends
        on the levels before it, so the thumbnail is stylized on the way."""
        taken: LevelMoments = {}
        self(thumbnail, [], alpha=alpha, weights=weights, compute_dtype=compute_dtype, style_stats=style_stats,
             record=taken, levels=levels)
        return taken

    def forward(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        alpha: float = 1.0,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor | None] | None = None,
        compute_dtype: torch.dtype | None = None,
        style_stats: Sequence[LevelMoments] | None = None,
        content_stats: LevelMoments | None = None,
        record: LevelMoments | None = None,
        levels: Sequence[int] | None = None,
    ) -> Tensor:
        """Stylize ``content`` with one or more ``styles``; the arguments are :meth:`AdaINNet.forward`'s.

        Several styles without masks are mixed by ``weights`` after each level's transform
        (Li et al., section 4); with masks, each region is whitened by its own moments and
        coloured by its style's. ``alpha`` blends transformed and original features at every
        level. ``content_stats`` (from :meth:`content_statistics`) stand in for the content's
        own whitening moments; ``record``, if given, receives them (one image only). ``levels``
        chooses which of the network's levels run (coarse to fine as always; default
        :data:`WCT_RUN_LEVELS` among those it has)."""
        stats = list(style_stats) if style_stats is not None else self.style_statistics(styles, compute_dtype)
        weights = list(weights) if weights is not None else [1.0] * len(stats)
        total = sum(weights)
        image = content
        for level in self.run_levels(levels):
            pixels = level == PIXEL_LEVEL
            feats = image if pixels else self.encode(image, level, compute_dtype)[level_layer(level)]
            mixed = []
            for one in feats.split(1):
                if masks is not None and any(m is not None for m in masks):
                    if content_stats is not None:
                        raise ValueError("masks take each region's own moments; content_stats cannot stand in")
                    mixed.append(self._masked(one, [s[level] for s in stats], masks))
                    continue
                whiten = content_stats[level] if content_stats is not None else Moments.of(one, -0.5)
                if record is not None:
                    record[level] = whiten
                mixed.append(sum(w / total * wct(one, s[level], content_moments=whiten) for w, s in zip(weights, stats)))
            blended = alpha * torch.cat(mixed) + (1 - alpha) * feats
            image = blended.clamp(0, 1) if pixels else self.decode(blended, level, content)
        return image

    @staticmethod
    def _masked(features: Tensor, colours: Sequence[Moments], masks: Sequence[Tensor | None]) -> Tensor:
        out = torch.zeros_like(features)
        coverage = torch.zeros_like(features[:, :1])
        for colour, mask in zip(colours, masks):
            region = torch.ones_like(coverage) if mask is None else F.interpolate(mask, size=features.shape[-2:], mode="area")
            whiten = Moments.of(features, -0.5, weight=region)
            out = out + region * wct(features, colour, content_moments=whiten)
            coverage = coverage + region
        return out / coverage.clamp_min(_EPS)
