import pytest
import torch

from brushwork.engine.losses import (
    ContentTarget, StyleTarget, content_loss, gram_matrix, style_loss, total_variation,
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


def test_style_target_follows_device_and_holds_no_graph():
    feats = {"a": torch.rand(1, 2, 3, 3, requires_grad=True)}
    target = StyleTarget.from_features([feats])
    assert not target.gram_a.requires_grad
    assert set(dict(target.named_buffers())) == {"gram_a"}
