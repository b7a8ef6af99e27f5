import torch

from brushwork.engine.color import combine_luminance, luminance, match_color, match_luminance, rgb_to_yiq, yiq_to_rgb


def test_yiq_round_trip():
    image = torch.rand(2, 3, 8, 8)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-5)
    gray = torch.full((1, 3, 2, 2), 0.4)
    yiq = rgb_to_yiq(gray)
    assert torch.allclose(yiq[:, 0], torch.full((1, 2, 2), 0.4), atol=1e-5)
    assert torch.allclose(yiq[:, 1:], torch.zeros(1, 2, 2, 2), atol=1e-5)


def test_combine_luminance_takes_y_from_one_and_chroma_from_other():
    a, b = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6)
    mixed = rgb_to_yiq(combine_luminance(a, b))
    assert torch.allclose(mixed[:, :1], luminance(a), atol=1e-5)
    assert torch.allclose(mixed[:, 1:], rgb_to_yiq(b)[:, 1:], atol=1e-5)


def test_match_color_gives_reference_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    source = 0.2 + 0.3 * torch.rand(1, 3, 32, 32, generator=g)  # dull, uncorrelated
    reference = torch.rand(1, 1, 32, 32, generator=g) * torch.tensor([0.9, 0.5, 0.1]).view(1, 3, 1, 1) + 0.05
    out = match_color(source, reference)
    flat_out, flat_ref = out.reshape(3, -1), reference.reshape(3, -1)
    assert torch.allclose(flat_out.mean(1), flat_ref.mean(1), atol=2e-3)
    assert torch.allclose(torch.cov(flat_out), torch.cov(flat_ref), atol=2e-3)
    assert not torch.allclose(torch.cov(source.reshape(3, -1)), torch.cov(flat_ref), atol=2e-3)


def test_match_luminance_copies_mean_and_spread():
    style, content = torch.rand(1, 1, 10, 10) * 0.2, 0.5 + 0.4 * torch.rand(1, 1, 10, 10)
    out = match_luminance(style, content)
    assert abs(out.mean() - content.mean()) < 1e-5
    assert abs(out.std() - content.std()) < 1e-5


def test_keep_layout_moves_coarse_light_and_shade_only():
    from brushwork.engine.color import keep_layout, rgb_to_yiq
    from brushwork.engine.metrics import layout
    from brushwork.media.image_io import load_image

    content = load_image("sample:chelsea", long_side=384)  # large enough that 1/32 of it is coarse
    painted = content.flip(-1).flip(-2)  # the photo's masses in the wrong places
    assert layout(painted, content) < 0.5
    assert torch.equal(keep_layout(painted, content, 0.0), painted)
    half, full = keep_layout(painted, content, 0.5), keep_layout(painted, content, 1.0)
    assert layout(painted, content) < layout(half, content) < layout(full, content)
    assert layout(full, content) > 0.9
    before, after = rgb_to_yiq(painted), rgb_to_yiq(full)
    inside = (painted > 0.05).all(1, keepdim=True) & (painted < 0.95).all(1, keepdim=True) & (full > 0.02).all(1, keepdim=True) \
        & (full < 0.98).all(1, keepdim=True)  # away from clipping
    assert torch.allclose(before[:, 1:][inside.expand(-1, 2, -1, -1)], after[:, 1:][inside.expand(-1, 2, -1, -1)], atol=1e-4)
    detail = lambda y: y - torch.nn.functional.avg_pool2d(y, 5, 1, 2, count_include_pad=False)  # noqa: E731
    assert float((detail(after[:, :1]) - detail(before[:, :1]))[inside].abs().mean()) < 0.1 * float(detail(before[:, :1])[inside].abs().mean())
    assert abs(float(after[:, 0].mean() - before[:, 0].mean())) < 0.02  # the painting's own brightness
