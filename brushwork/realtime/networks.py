"""Feed-forward style networks: one pass instead of hundreds of optimiser steps.

* :class:`TransformerNet` (Johnson, Alahi & Fei-Fei 2016, with the instance normalisation
  of Ulyanov et al. 2016): an image-to-image network trained for one style.
* :class:`AdaINNet` (Huang & Belongie 2017): VGG-19 up to relu4_1 as a fixed encoder,
  :func:`adain` to give the content features the style's channel means and deviations,
  and a trained :class:`Decoder` back to pixels. Any style, no training per style.

Both take and return RGB images in [0, 1] of any size, (B, 3, H, W).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brushwork.engine.features import VGGFeatures

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


def feature_covariance(features: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean (C, 1) and covariance (C, C) over positions of (1, C, H, W), in float64."""
    flat = features[0].reshape(features.shape[1], -1).double()
    mean = flat.mean(dim=1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / max(flat.shape[1] - 1, 1)


def _matrix_power(cov: Tensor, power: float, eps: float) -> Tensor:
    """``cov`` to ``power``, its eigenvalues first raised by ``eps`` times their mean (features
    of a small picture have fewer positions than channels: a singular covariance)."""
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(0) + eps * values.clamp_min(0).mean().clamp_min(1e-12)
    return vectors @ torch.diag(values.pow(power)) @ vectors.T


def wct(content: Tensor, style: Tensor, *, eps: float = 1e-3) -> Tensor:
    """Whitening and colouring transform (Li et al. 2017, "Universal style transfer"): the
    content features (1, C, H, W) decorrelated (whitened), then given the style features'
    mean and covariance, so that their second-order statistics are the style's while their
    arrangement is the content's. AdaIN matches each channel's mean and spread alone; WCT
    matches how channels vary together too. ``eps`` (relative to the mean eigenvalue)
    regularises near-singular covariances."""
    c_mean, c_cov = feature_covariance(content)
    s_mean, s_cov = feature_covariance(style)
    flat = content[0].reshape(content.shape[1], -1).double() - c_mean
    transform = _matrix_power(s_cov, 0.5, eps) @ _matrix_power(c_cov, -0.5, eps)
    return (transform @ flat + s_mean).reshape_as(content[0])[None].to(content.dtype)


class Decoder(nn.Module):
    """Mirror of VGG-19 from relu4_1 back to pixels, upsampling with nearest neighbour.

    ``width`` scales every layer (1.0 is the paper's 512-256-128-64; the shipped model uses
    0.5, a quarter of the arithmetic)."""

    def __init__(self, width: float = 0.5) -> None:
        super().__init__()
        self.width = width
        c = [max(8, int(n * width)) for n in (256, 128, 64)]
        layers: list[nn.Module] = [_Conv(512, c[0], 3), nn.ReLU(inplace=True), nn.Upsample(scale_factor=2)]
        layers += [m for _ in range(3) for m in (_Conv(c[0], c[0], 3), nn.ReLU(inplace=True))]
        layers += [_Conv(c[0], c[1], 3), nn.ReLU(inplace=True), nn.Upsample(scale_factor=2)]
        layers += [_Conv(c[1], c[1], 3), nn.ReLU(inplace=True), _Conv(c[1], c[2], 3), nn.ReLU(inplace=True)]
        layers += [nn.Upsample(scale_factor=2), _Conv(c[2], c[2], 3), nn.ReLU(inplace=True), _Conv(c[2], 3, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


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

    def decode(self, features: Tensor, like: Tensor, *, clamp: bool = True) -> Tensor:
        """Pixels from features, resized to ``like``'s height and width (VGG's pooling rounds
        down, so the decoder's output can be a few pixels short). Training passes
        ``clamp=False``: clamped pixels would pass no gradient back."""
        # Always resized, even to the same size: a branch on shapes would be frozen by ONNX tracing.
        out = F.interpolate(self.decoder(features), size=like.shape[-2:], mode="bilinear", align_corners=False)
        return out.clamp(0, 1) if clamp else out

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
