import pytest
import torch

from brushwork.engine.losses import (
    ContentTarget, StyleTarget, content_loss, gram_matrix, gram_sum, style_loss, total_variation,
)


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # 2 channels, 2 positions
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2.0
    assert torch.allclose(gram_matrix(f)[0], expected)


def test_masked_gram_uses_only_the_masked_positions():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    assert torch.allclose(gram_matrix(f, mask)[0], torch.tensor([[1.0, 3.0], [3.0, 9.0]]))


def test_content_and_style_losses_by_hand():
    x, t = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
    assert content_loss(x, t).item() == pytest.approx(1 / 2)
    g, gt = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    assert style_loss(g, gt).item() == pytest.approx((1 + 1 + 1 + 1) / 4)


def test_total_variation_by_hand():
    image = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert total_variation(image).item() == pytest.approx(0.0 + 1.0)
    assert total_variation(torch.ones(1, 3, 5, 5)).item() == 0.0


def test_gram_and_style_loss_gradients_float64():
    f = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = gram_matrix(torch.rand(1, 3, 4, 5, dtype=torch.float64))
    mask = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: style_loss(gram_matrix(x), target), (f,))
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x, mask), (f,))
    assert torch.autograd.gradcheck(total_variation, (f,))


def test_the_gram_gradient_is_autograds_of_the_plain_product():
    """The one-product backward of the Gram must equal what autograd gives for F @ F^T."""
    torch.manual_seed(0)
    f = torch.rand(2, 5, 6, 7, dtype=torch.float64, requires_grad=True)
    upstream = torch.rand(2, 5, 5, dtype=torch.float64)  # not symmetric: both halves must count
    (gram_sum(f) * upstream).sum().backward()
    ours, f.grad = f.grad, None
    flat = f.reshape(2, 5, 42)
    ((flat @ flat.transpose(1, 2)) * upstream).sum().backward()
    assert torch.allclose(ours, f.grad, rtol=1e-12, atol=1e-12)


def test_bfloat16_products_keep_the_gram_and_its_gradient_close():
    """Features a bfloat16 VGG-19 made (bfloat16 values held in float32): products in bfloat16
    give the float32 Gram to the result's rounding (bfloat16 keeps 8 bits: 2**-8 = 0.4%),
    as float32, and a style-loss gradient pointing the same way."""
    torch.manual_seed(0)
    f = torch.relu(torch.randn(1, 64, 48, 48)).bfloat16().float().requires_grad_(True)
    target = gram_matrix(torch.relu(torch.randn(1, 64, 48, 48)))
    exact = gram_matrix(f)
    low = gram_matrix(f, precision=torch.bfloat16)
    assert low.dtype == torch.float32
    error = float((low - exact).detach().norm() / exact.detach().norm())
    assert 0 < error < 4e-3
    style_loss(exact, target).backward()
    g_exact, f.grad = f.grad.clone(), None
    style_loss(gram_matrix(f, precision=torch.bfloat16), target).backward()
    cosine = torch.nn.functional.cosine_similarity(f.grad.flatten(), g_exact.flatten(), dim=0)
    assert cosine > 0.999


def test_a_style_target_with_bfloat16_products_scores_like_float32():
    torch.manual_seed(1)
    feats = {"a": torch.relu(torch.randn(1, 32, 20, 20)).bfloat16().float()}
    grams = {"a": gram_matrix(torch.relu(torch.randn(1, 32, 20, 20)))}
    exact = StyleTarget(grams)(feats).item()
    assert StyleTarget(grams, precision=torch.bfloat16)(feats).item() == pytest.approx(exact, rel=1e-2)


def test_content_target_module_equals_functions():
    feats = {"a": torch.rand(1, 4, 3, 3), "b": torch.rand(1, 8, 2, 2)}
    other = {k: torch.rand_like(v) for k, v in feats.items()}
    target = ContentTarget(feats, {"a": 3.0, "b": 1.0})
    expected = 0.75 * content_loss(other["a"], feats["a"]) + 0.25 * content_loss(other["b"], feats["b"])
    assert torch.allclose(target(other), expected)
    assert target(feats).item() == 0.0


def test_style_target_blends_grams_by_weight():
    s1, s2 = {"a": torch.rand(1, 4, 6, 6)}, {"a": torch.rand(1, 4, 3, 3)}
    target = StyleTarget.from_features([s1, s2], blend=[3.0, 1.0])
    expected = 0.75 * gram_matrix(s1["a"]) + 0.25 * gram_matrix(s2["a"])
    assert torch.allclose(target.gram_a, expected)
    probe = {"a": torch.rand(1, 4, 5, 5)}
    assert torch.allclose(target(probe), style_loss(gram_matrix(probe["a"]), expected))


def test_a_style_target_on_some_layers_keeps_their_grams_and_relative_weights():
    torch.manual_seed(2)
    grams = {n: gram_matrix(torch.rand(1, 4, 6, 6)) for n in ("a", "b", "c")}
    target = StyleTarget(grams, {"a": 4.0, "b": 1.0, "c": 3.0})
    probe = {n: torch.rand(1, 4, 5, 5) for n in grams}
    per = target.layer_losses(probe)
    part = target.on_layers(["c", "b"])
    assert list(part.layer_weights) == ["b", "c"] and part.layer_weights["c"] == pytest.approx(0.75)
    assert torch.allclose(part(probe), 0.25 * per["b"] + 0.75 * per["c"])
    with pytest.raises(ValueError, match="none of"):
        target.on_layers(["d"])


def test_style_target_follows_device_and_holds_no_graph():
    feats = {"a": torch.rand(1, 2, 3, 3, requires_grad=True)}
    target = StyleTarget.from_features([feats])
    assert not target.gram_a.requires_grad
    assert set(dict(target.named_buffers())) == {"gram_a"}
