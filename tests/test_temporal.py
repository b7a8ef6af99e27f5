"""Flow, warping, occlusion masks, the warping error and the temporal filter, on synthetic
frames whose motion is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brushwork.engine.temporal import (Motion, TemporalFilter, gaussian_blur, optical_flow, reliable, warp,
                                       warping_error)


def textured(h=64, w=80, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    base = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    image = torch.from_numpy(base).permute(2, 0, 1)[None]
    return torch.nn.functional.interpolate(image, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def shifted(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))


def test_flow_of_a_known_shift_is_recovered_within_a_pixel():
    a = textured()
    b = shifted(a, 3, -2)  # content moves 3 right and 2 up
    flow = optical_flow(a, b)
    inner = flow[:, 8:-8, 8:-8]
    assert abs(float(inner[0].median()) - 3) < 1 and abs(float(inner[1].median()) + 2) < 1


def test_warp_moves_the_previous_frame_into_place():
    previous = textured()
    current = shifted(previous, 4, 0)
    motion = Motion.between(previous, current)
    carried = motion.carry(previous)
    inner = (slice(None), slice(None), slice(6, -6), slice(8, -8))
    assert (carried - current)[inner].abs().mean() < 0.02 < (previous - current)[inner].abs().mean()
    flow = torch.zeros(2, 8, 8)
    flow[0] = 1.0  # every pixel looks one to the right
    ramp = torch.arange(8.0).expand(1, 1, 8, 8)
    assert torch.allclose(warp(ramp, flow)[..., :-1], ramp[..., 1:])


def test_occluded_pixels_are_masked():
    forward = torch.zeros(2, 40, 40)
    backward = torch.zeros(2, 40, 40)
    forward[0, :, 20:] = 6.0  # the right half moved; the backward flow says nothing moved there
    mask = reliable(forward, backward)
    assert mask[..., :, :15].mean() == 1 and mask[..., :, 25:].mean() == 0
    consistent = reliable(torch.zeros(2, 40, 40), torch.zeros(2, 40, 40))
    assert consistent.mean() == 1


def test_the_temporal_filter_lowers_the_warping_error_of_a_flickering_clip():
    rng = torch.Generator().manual_seed(0)
    frames = [shifted(textured(), 2 * t, 0) for t in range(8)]
    motions = [Motion.between(a, b) for a, b in zip(frames, frames[1:])]
    flicker = [(f + 0.15 * torch.rand(f.shape, generator=rng) - 0.075).clamp(0, 1) for f in frames]
    steady = TemporalFilter(0.8)
    filtered = [steady(f, None if i == 0 else motions[i - 1]) for i, f in enumerate(flicker)]
    before, after = warping_error(flicker, motions), warping_error(filtered, motions)
    assert after < before / 3, (before, after)
    # steadier *and* truer: averaging along the motion removes flicker, not the picture
    error = lambda clip: sum(float((c - f).abs().mean()) for c, f in zip(clip, frames)) / len(frames)  # noqa: E731
    assert error(filtered) < error(flicker)


def detail_energy(image: torch.Tensor) -> float:
    return float((image - gaussian_blur(image, TemporalFilter.detail_sigma)).std())


@pytest.mark.parametrize("restore", [True, False], ids=["restored", "plain blend"])
def test_the_filter_keeps_the_strokes_as_strong_as_the_network_drew_them(restore, monkeypatch):
    """Strokes that differ from frame to frame (as a network draws them) average out in a
    plain blend; the filter gives the blend back the frames' fine-detail energy."""
    if not restore:
        monkeypatch.setattr(TemporalFilter, "max_detail_gain", 1.0)
    rng = torch.Generator().manual_seed(1)
    frames = [shifted(gaussian_blur(textured(), 2.0), 2 * t, 0) for t in range(10)]  # a smooth scene...
    motions = [Motion.between(a, b) for a, b in zip(frames, frames[1:])]
    strokes = [(f + 0.4 * torch.rand(f.shape, generator=rng) - 0.2).clamp(0, 1) for f in frames]  # ...fresh strokes each frame
    steady = TemporalFilter(0.7)
    filtered = [steady(f, None if i == 0 else motions[i - 1]) for i, f in enumerate(strokes)]
    kept = sum(detail_energy(f) for f in filtered[3:]) / sum(detail_energy(s) for s in strokes[3:])
    assert warping_error(filtered, motions) < warping_error(strokes, motions) / 3
    assert (kept > 0.93) if restore else (kept < 0.8), kept
