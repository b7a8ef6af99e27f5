"""Shared fixtures: small images made from the built-in samples, so no files are needed."""

from __future__ import annotations

import pytest
import torch

from brushwork.media.image_io import fit_long_side, load_image, resize, save_image


def small(source: str, long_side: int) -> torch.Tensor:
    image = load_image(source)
    return resize(image, fit_long_side(*image.shape[-2:], long_side))


@pytest.fixture(scope="session")
def content() -> torch.Tensor:
    return small("sample:chelsea", 96)


@pytest.fixture(scope="session")
def style() -> torch.Tensor:
    return small("sample:strokes", 96)


@pytest.fixture()
def image_files(tmp_path, content, style):
    """Content and style written as PNG files, as a user would pass them."""
    c, s = tmp_path / "content.png", tmp_path / "style.png"
    save_image(content, c)
    save_image(style, s)
    return c, s
