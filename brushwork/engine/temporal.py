"""Steady video: optical flow, warping, occlusion masks, the warping error, a temporal filter.

Flow is OpenCV's DIS (Kroeger et al. 2016; ``opencv-python-headless``): dense, on the CPU,
tens of milliseconds per 640x360 pair. Conventions follow Ruder, Dosovitskiy & Brox 2016
("Artistic style transfer for videos"): to carry frame t-1 into frame t we need the flow
*from t to t-1* (for each pixel of t, where it was), and a pixel is trusted only where the
forward and backward flows agree and no motion boundary runs through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from brushwork.media.image_io import resize


def _gray(image: Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W) uint8 luma, what DIS reads."""
    y = 0.299 * image[0, 0] + 0.587 * image[0, 1] + 0.114 * image[0, 2]
    return (y.clamp(0, 1) * 255).round().byte().cpu().numpy()


def optical_flow(source: Tensor, target: Tensor) -> Tensor:
    """Dense flow (2, H, W) in pixels from ``source`` to ``target``: source(y, x) is seen in
    target at (y + flow[1], x + flow[0])."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_gray(source), _gray(target), None)
    return torch.from_numpy(flow).permute(2, 0, 1).float()


def warp(image: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """Backward warp: out(x) = image(x + flow(x)), borders clamped.
    ``image`` (B, C, H, W); ``flow`` (2, H, W) from the output's frame to the image's.
    ``mode`` ``bicubic`` blurs less (what a recursive filter needs), and may overshoot a little."""
    _, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x = (xs + flow[0]) / max(w - 1, 1) * 2 - 1
    y = (ys + flow[1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([x, y], dim=-1)[None].to(image)
    return F.grid_sample(image, grid.expand(image.shape[0], -1, -1, -1), mode=mode, padding_mode="border",
                         align_corners=True)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W), edges repeated."""
    radius = max(1, int(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-taps.pow(2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    out = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def reliable(forward: Tensor, backward: Tensor) -> Tensor:
    """(1, 1, H, W) mask, 1 where the flow ``forward`` (t -> t-1) can be trusted.

    Ruder et al.'s tests: the backward flow (t-1 -> t), carried back along ``forward``,
    must cancel it (else the pixel was occluded or disoccluded), and no motion boundary
    (a large flow gradient) may run through the pixel.
    """
    back = warp(backward[None], forward)[0]
    disagreement = (forward + back).pow(2).sum(0)
    occluded = disagreement > 0.01 * (forward.pow(2).sum(0) + back.pow(2).sum(0)) + 0.5
    du = torch.gradient(forward[0])
    dv = torch.gradient(forward[1])
    edge = du[0].pow(2) + du[1].pow(2) + dv[0].pow(2) + dv[1].pow(2) > 0.01 * forward.pow(2).sum(0) + 0.002
    return (~(occluded | edge)).float()[None, None]


@dataclass
class Motion:
    """How frame t relates to frame t-1: the flow to carry t-1 into t, and where it holds."""

    flow: Tensor  # (2, H, W), t -> t-1
    mask: Tensor  # (1, 1, H, W)

    @classmethod
    def between(cls, previous: Tensor, current: Tensor) -> "Motion":
        forward = optical_flow(current, previous)
        backward = optical_flow(previous, current)
        return cls(forward, reliable(forward, backward))

    def at(self, size: tuple[int, int]) -> "Motion":
        """The same motion for frames resized to ``size`` (flow scaled with the pixels)."""
        h, w = self.flow.shape[-2:]
        if (h, w) == tuple(size):
            return self
        flow = resize(self.flow[None], size)[0]
        flow = flow * torch.tensor([size[1] / w, size[0] / h]).view(2, 1, 1)
        return Motion(flow, (resize(self.mask, size) > 0.5).float())

    def carry(self, previous: Tensor) -> Tensor:
        """Frame t-1 (or its stylized version) moved into frame t's place."""
        return warp(previous, self.at(tuple(previous.shape[-2:])).flow)


def warping_error(stylized: list[Tensor], motions: list[Motion]) -> float:
    """E_warp of Lai et al. 2018: the mean over consecutive pairs of the masked mean squared
    difference between each stylized frame and the previous stylized frame carried into it
    by the original video's flow. ``motions[i]`` relates frame i+1 to frame i."""
    errors = []
    for previous, current, motion in zip(stylized, stylized[1:], motions):
        m = motion.at(tuple(current.shape[-2:]))
        diff = (current - warp(previous, m.flow)).pow(2).sum(1, keepdim=True)
        errors.append(float((diff * m.mask).sum() / m.mask.sum().clamp_min(1)))
    return sum(errors) / len(errors) if errors else 0.0


class TemporalFilter:
    """Blend each stylized frame with the previous *filtered* frame carried along the flow,
    where the flow holds: ``out = m * (s * carried + (1 - s) * frame) + (1 - m) * frame``.

    Used after the networks, whose frames are independent. ``strength`` 0 is off; being
    recursive, a strength of 0.7 (``VideoRequest``'s default) averages over the last few
    frames along each motion path.

    Averaging strokes that do not line up exactly (and resampling them at every step) would
    wash the style out, most under a zoom: measured on a pan-and-zoom clip, a plain blend
    raised the style distance by 40%. So the carried frame is resampled bicubically, and
    the blend gets back the frame's own contrast per channel and the energy of its fine
    detail (the band below ``detail_sigma`` px): the detail that remains is the part that
    agrees from frame to frame, made as strong as the network drew it. (``benchmarks/video.py``
    has the figures.)
    """

    detail_sigma = 2.0
    max_detail_gain = 3.0

    def __init__(self, strength: float) -> None:
        if not 0.0 <= strength < 1.0:
            from brushwork.errors import InputError

            raise InputError(f"temporal strength must be in [0, 1), got {strength}")
        self.strength = strength
        self.previous: Tensor | None = None

    def __call__(self, frame: Tensor, motion: Motion | None) -> Tensor:
        if self.previous is None or motion is None or self.strength == 0:
            out = frame
        else:
            m = motion.at(tuple(frame.shape[-2:]))
            carried = warp(self.previous, m.flow, mode="bicubic").clamp(0, 1)
            out = m.mask * (self.strength * carried + (1 - self.strength) * frame) + (1 - m.mask) * frame
            out = self._restore(out, frame)
        self.previous = out
        return out

    def _restore(self, out: Tensor, frame: Tensor) -> Tensor:
        return restore_strokes(out, frame, self.detail_sigma, self.max_detail_gain)


def restore_strokes(out: Tensor, like: Tensor, detail_sigma: float = TemporalFilter.detail_sigma,
                    max_gain: float = TemporalFilter.max_detail_gain) -> Tensor:
    """Give a blend of paintings ``out`` the per-channel mean and spread of the painting
    ``like``, then its energy of detail finer than ``detail_sigma`` px (at most ``max_gain``
    times more): a blend of strokes that do not line up has less contrast than either, and
    would look washed out. (Spreads are estimated on every other row and column: a quarter
    of the work.)"""
    dims = (-2, -1)

    def spread(x: Tensor) -> Tensor:
        return x[..., ::2, ::2].std(dims, keepdim=True)

    out = (out - out.mean(dims, keepdim=True)) / spread(out).clamp_min(1e-4) * spread(like) + like.mean(dims, keepdim=True)
    coarse = gaussian_blur(out, detail_sigma)
    detail = out - coarse
    wanted = spread(like - gaussian_blur(like, detail_sigma))
    gain = (wanted / spread(detail).clamp_min(1e-6)).clamp(1.0, max_gain)
    return (coarse + gain * detail).clamp(0, 1)
