"""Edge enhancement and noise reduction after the optimiser."""

from __future__ import annotations

import pytest
import torch

from brushwork import TransferConfig, stylize
from brushwork.engine.color import rgb_to_yiq
from brushwork.engine.postprocess import denoise, finish_picture, sharpen
from brushwork.engine.temporal import gaussian_blur
from brushwork.errors import InputError


def detail(image: torch.Tensor) -> float:
    """Energy of the luminance finer than the unsharp mask's radius."""
    y = rgb_to_yiq(image)[:, :1]
    return float((y - gaussian_blur(y, 1.0)).pow(2).mean())


def test_sharpen_adds_luminance_detail_and_leaves_colour_alone(content):
    out = sharpen(content, 1.0)
    assert 2.5 < detail(out) / detail(content) < 4.5  # the detail doubled: its energy about 4x (less where clamped)
    chroma_before, chroma_after = rgb_to_yiq(content)[:, 1:], rgb_to_yiq(out)[:, 1:]
    inside = ((out > 0.01) & (out < 0.99)).all(dim=1, keepdim=True)  # away from clamped pixels
    assert float(((chroma_after - chroma_before).abs() * inside).max()) < 1e-5
    assert torch.equal(sharpen(content, 0.0), content)


def test_denoise_removes_speckle_and_keeps_edges():
    g = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 3, 64, 64)
    clean[..., 32:] = 0.8  # one strong edge
    noisy = (clean + 0.03 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    out = denoise(noisy, 1.0)
    assert float((out - clean)[..., 4:28].std()) < 0.5 * float((noisy - clean)[..., 4:28].std())
    edge = float(out[..., 40:].mean() - out[..., :24].mean())
    assert edge > 0.95 * 0.8  # the step is not blurred away
    assert torch.equal(denoise(noisy, 0.0), noisy)


def test_finishing_is_part_of_the_optimisers_run_and_recorded(content, style):
    config = TransferConfig(size=64, steps=4, scales=1, device="cpu", precision="float32")
    plain = stylize(content, [style], config=config)
    finished = stylize(content, [style], config=TransferConfig(**{**config.__dict__, "sharpen": 1.0, "denoise": 0.5}))
    assert torch.allclose(finished, finish_picture(plain, sharpen_amount=1.0, denoise_strength=0.5), atol=1e-6)
    with pytest.raises(InputError):
        TransferConfig(sharpen=-1)
