"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving color in NST").

Two methods from that paper:

* **luminance-only transfer** - style and content are reduced to luminance (YIQ's Y), the
  style's luminance is matched to the content's mean and spread, the transfer runs on
  luminance, and the result's Y is recombined with the content's I and Q;
* **colour histogram matching** - each style image's colours are mapped, before the
  transfer, by the affine map that gives them the content's mean and covariance.

All functions take RGB tensors (B, 3, H, W) in [0, 1] and return new tensors.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

ColorMode = Literal["none", "luminance", "histogram"]
COLOR_MODES: tuple[str, ...] = ("none", "luminance", "histogram")

# NTSC RGB -> YIQ.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def _apply_matrix(matrix: Tensor, image: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """RGB -> YIQ: Y is luminance, I and Q carry the chroma."""
    return _apply_matrix(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yiq`."""
    return _apply_matrix(torch.linalg.inv(_RGB_TO_YIQ.double()).float(), image)


_SRGB_TO_XYZ = torch.tensor(  # sRGB primaries, D65 white
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = (0.95047, 1.0, 1.08883)


def rgb_to_lab(image: Tensor) -> Tensor:
    """sRGB in [0, 1] -> CIELAB (L in 0-100; a Euclidean distance of about 2.3 is a just
    noticeable difference), for distances between colours that follow what people see."""
    linear = torch.where(image <= 0.04045, image / 12.92, ((image.clamp_min(0) + 0.055) / 1.055) ** 2.4)
    xyz = _apply_matrix(_SRGB_TO_XYZ, linear) / torch.tensor(_D65, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.cat([116 * f[:, 1:2] - 16, 500 * (f[:, 0:1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:3])], dim=1)


def luminance(image: Tensor) -> Tensor:
    """Luminance as a (B, 1, H, W) tensor."""
    return rgb_to_yiq(image)[:, :1]


def gray_rgb(lum: Tensor) -> Tensor:
    """A (B, 1, H, W) luminance as a 3-channel gray RGB image, the form VGG-19 takes."""
    return lum.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Style luminance (B,1,H,W) shifted and scaled to the content luminance's mean and std."""
    s_mean, s_std = style.mean(), style.std().clamp_min(1e-6)
    return (style - s_mean) / s_std * content.std() + content.mean()


COARSE_SIDE = 32
"""Long side, in pixels, of a picture's coarse light and shade: strokes and textures
average out, the main masses of a photo (sky, ground, a building) stay."""


def coarse_grid(height: int, width: int, side: int = COARSE_SIDE) -> tuple[int, int]:
    """The grid a picture's coarse light and shade is averaged to: ``side`` on the long side
    (a smaller picture keeps its own size)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def coarse_luminance(image: Tensor, grid: tuple[int, int]) -> Tensor:
    """Luminance averaged down to ``grid`` (an image of any size: a photo and its painting share a grid)."""
    return F.adaptive_avg_pool2d(luminance(image), grid)


def keep_layout(image: Tensor, content: Tensor, strength: float) -> Tensor:
    """``image`` with its coarse light and shade moved ``strength`` (0-1) of the way to the
    content's, scaled to the image's own brightness and contrast; colours and detail stay.

    Why: a network that paints in a painting's colours can also take the painting's light
    and dark, so that a bright sky turns dark and the photo's composition blurs (the layout
    score). Only the coarse luminance is moved, smoothly (bicubic up from
    :data:`COARSE_SIDE` px), so strokes, edges and hues are the painting's."""
    if strength <= 0:
        return image
    grid = coarse_grid(*image.shape[-2:])
    ours, wanted = coarse_luminance(image, grid), coarse_luminance(content.to(image), grid)
    shift = strength * (match_luminance(wanted, ours) - ours)
    smooth = F.interpolate(shift, size=image.shape[-2:], mode="bicubic", align_corners=False)
    yiq = rgb_to_yiq(image)
    return yiq_to_rgb(torch.cat([yiq[:, :1] + smooth, yiq[:, 1:]], dim=1)).clamp(0, 1)


def combine_luminance(luma_source: Tensor, chroma_source: Tensor) -> Tensor:
    """An RGB image with the Y of ``luma_source`` and the I, Q of ``chroma_source``."""
    y = luminance(luma_source)
    iq = rgb_to_yiq(chroma_source)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1))


def _sqrtm(cov: Tensor, inverse: bool = False) -> Tensor:
    """Symmetric (inverse) square root of a covariance matrix via eigendecomposition."""
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8)
    values = values.rsqrt() if inverse else values.sqrt()
    return vectors @ torch.diag(values) @ vectors.T


def match_color(source: Tensor, reference: Tensor) -> Tensor:
    """Map ``source``'s colours so their mean and covariance equal ``reference``'s.

    ``x' = C_r^{1/2} C_s^{-1/2} (x - mu_s) + mu_r`` (the paper's "Image Analogies" variant,
    with symmetric square roots). Computed in float64: covariances of images in [0, 1] are
    small and ill-conditioned for flat images. Result is clamped to [0, 1].
    """
    out = []
    for s_img, r_img in zip(source, reference.expand(source.shape[0], -1, -1, -1)):
        s = s_img.reshape(3, -1).double()
        r = r_img.reshape(3, -1).double()
        mu_s, mu_r = s.mean(1, keepdim=True), r.mean(1, keepdim=True)
        cov_s = torch.cov(s) + 1e-6 * torch.eye(3, dtype=s.dtype, device=s.device)
        cov_r = torch.cov(r) + 1e-6 * torch.eye(3, dtype=s.dtype, device=s.device)
        mapped = _sqrtm(cov_r) @ _sqrtm(cov_s, inverse=True) @ (s - mu_s) + mu_r
        out.append(mapped.reshape(s_img.shape).to(source.dtype))
    return torch.stack(out).clamp(0.0, 1.0)
