"""Finishing touches after the optimiser: edge enhancement and noise reduction.

Both are classic requests of optimisation NST users: its outputs can look soft where the
content term wins (edges) and speckled where the style's finest statistics are matched by
pixel noise (flat regions at large sizes). Both work on the float picture, so a 16-bit
output keeps its precision.

- :func:`sharpen`: an unsharp mask on luminance alone (YIQ's Y), so edges gain contrast
  without colour fringes: ``Y + amount * (Y - blur(Y))``.
- :func:`denoise`: OpenCV's bilateral filter on float32 pixels: it averages each pixel with
  its neighbours of similar colour, so flat regions lose their speckle while edges, whose
  two sides differ in colour, stay.
"""

from __future__ import annotations

import torch
from torch import Tensor

from brushwork.engine import color
from brushwork.engine.temporal import gaussian_blur

SHARPEN_SIGMA = 1.0
"""Radius (Gaussian sigma, px) of the detail the unsharp mask strengthens: strokes' edges."""
DENOISE_SPACE = 3.0
"""Spatial reach (Gaussian sigma, px) of the bilateral filter."""
DENOISE_COLOR = 0.15
"""Colour difference (pixel values in [0, 1]) the bilateral filter treats as one colour at
strength 1; a pixel differing by much more than ``strength`` times this is not averaged in."""


def sharpen(image: Tensor, amount: float) -> Tensor:
    """Unsharp mask of (B, 3, H, W) in [0, 1] on luminance; ``amount`` 0 changes nothing, 1
    doubles the detail finer than :data:`SHARPEN_SIGMA`."""
    if amount <= 0:
        return image
    yiq = color.rgb_to_yiq(image)
    y = yiq[:, :1]
    yiq = torch.cat([y + amount * (y - gaussian_blur(y, SHARPEN_SIGMA)), yiq[:, 1:]], dim=1)
    return color.yiq_to_rgb(yiq).clamp(0, 1)


def denoise(image: Tensor, strength: float) -> Tensor:
    """Bilateral filter of (B, 3, H, W) in [0, 1]; ``strength`` 0 changes nothing, 1 merges
    colours within :data:`DENOISE_COLOR` of each other over about :data:`DENOISE_SPACE` px."""
    if strength <= 0:
        return image
    import cv2

    out = []
    for picture in image.detach().float().cpu():
        array = picture.permute(1, 2, 0).contiguous().numpy()
        filtered = cv2.bilateralFilter(array, d=-1, sigmaColor=DENOISE_COLOR * strength, sigmaSpace=DENOISE_SPACE)
        out.append(torch.from_numpy(filtered).permute(2, 0, 1))
    return torch.stack(out).to(image).clamp(0, 1)


def finish_picture(image: Tensor, *, sharpen_amount: float = 0.0, denoise_strength: float = 0.0) -> Tensor:
    """Noise reduction first (so that sharpening does not strengthen the noise), then sharpening."""
    return sharpen(denoise(image, denoise_strength), sharpen_amount)
