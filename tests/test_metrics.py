import json

import pytest
import torch

from brushwork.frontends.cli import main
from brushwork.media.image_io import resize
from brushwork.engine.metrics import layout, score, sliced_wasserstein, ssim


def test_ssim_is_one_for_equal_images_and_low_for_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 40, 40, generator=g)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, torch.rand(1, 1, 40, 40, generator=g)) < 0.1
    assert 0.5 < ssim(a, (a + 0.05 * torch.randn(1, 1, 40, 40, generator=g)).clamp(0, 1)) < 1.0


def test_sliced_wasserstein_is_zero_for_the_same_distribution_and_repeatable():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 8, 10, 10, generator=g)
    shuffled = x.reshape(8, -1)[:, torch.randperm(100, generator=g)].reshape(1, 8, 10, 10)
    assert sliced_wasserstein(x, shuffled) == pytest.approx(0.0, abs=1e-9)  # order of positions is irrelevant
    shifted = x + 1.0
    assert sliced_wasserstein(x, shifted) > 0.1
    assert sliced_wasserstein(x, shifted) == sliced_wasserstein(x, shifted)


def test_score_of_trivial_outputs(content, style):
    same = score(content, content, style)
    assert same.content_distance == 0.0 and same.ssim == pytest.approx(1.0)
    as_style = score(resize(style, content.shape[-2:]), content, style)
    assert as_style.content_distance > 0.5 and as_style.ssim < 0.5
    assert same.style_distance > 5 * as_style.style_distance
    assert same.style_swd > 2 * as_style.style_swd
    assert same.layout == pytest.approx(1.0) and as_style.layout < 0.5


def test_layout_sees_the_composition_not_the_strokes(content):
    """Fine noise over the photo keeps its layout; the photo flipped upside down loses it."""
    noisy = (content + 0.15 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert layout(noisy, content) > 0.9
    assert layout(content.flip(-2), content) < 0.5
    assert layout(resize(content, (64, 64)), content) > 0.9  # the content at any size


def test_score_cli_table_and_json(tmp_path, capsys, image_files):
    content, style = image_files
    code = main(["score", str(content), str(style), str(content), "--json"])
    values = json.loads(capsys.readouterr().out)
    assert code == 0 and set(values) == {"content_distance", "style_distance", "ssim", "style_swd",
                                          "layout"}
    assert values["content_distance"] == 0.0
    assert main(["score", str(content), str(style), str(style)]) == 0
    assert "style_distance" in capsys.readouterr().out
    assert main(["score", str(content), str(style), str(tmp_path / "none.png")]) == 2
    assert "output image" in capsys.readouterr().err
