"""Large pictures in tiles: the optimiser against the whole picture's targets, and the
networks with a thumbnail's normalisation statistics. Small images (192 px) and small tiles."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from brushwork.engine import devices
from brushwork.engine.features import VGGFeatures
from brushwork.engine.losses import gram_matrix
from brushwork.engine.tiled import TileGrid, core_of, gram_sum, tiled_grams
from brushwork.engine.transfer import TransferConfig, check_transfer, stylize, tile_grid_for
from brushwork.errors import InputError
from brushwork.media.image_io import fit_long_side, load_image, resize
from brushwork.realtime.models import load_model
from brushwork.realtime.stylize import adain_stylize, fast_stylize
from brushwork.realtime.tiling import FrozenNorms, Tiling, run_tiled, tile_boxes

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def picture(source: str, long_side: int) -> torch.Tensor:
    image = load_image(source)
    return resize(image, fit_long_side(*image.shape[-2:], long_side))


@pytest.fixture(scope="module")
def large():
    return picture("sample:chelsea", 192)


def test_a_partition_of_the_features_sums_to_the_whole_gram(large):
    """The identity tiling rests on: a Gram matrix is a sum over positions."""
    net = VGGFeatures(LAYERS)
    with torch.no_grad():
        features = net(large)
    grid = TileGrid(*large.shape[-2:], core=64, margin=0, stride=16)
    whole = (0, grid.height, 0, grid.width)
    for name in LAYERS:
        parts = [core_of(features, box, whole, grid)[name] for box in grid.cores()]
        assert sum(p.shape[-2] * p.shape[-1] for p in parts) == features[name].shape[-2] * features[name].shape[-1]
        assembled = sum(gram_sum(p) for p in parts) / sum(p.shape[-2] * p.shape[-1] for p in parts)
        assert torch.allclose(assembled, gram_matrix(features[name]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("margin, tolerance", [(192, 1e-4), (48, 0.05)])
def test_grams_computed_tile_by_tile_match_the_whole_picture(large, margin, tolerance):
    """With a margin that covers the picture each tile sees everything (float error only);
    with a small one VGG's edges show a little (relative error under 5%)."""
    net = VGGFeatures(LAYERS)
    with torch.no_grad():
        whole = {n: gram_matrix(f) for n, f in net(large).items()}
    tiled = tiled_grams(net, large, list(LAYERS), TileGrid(*large.shape[-2:], core=64, margin=margin, stride=16))
    for name in LAYERS:
        error = float((tiled[name] - whole[name]).norm() / whole[name].norm())
        assert error < tolerance, (name, error)


@pytest.mark.slow
def test_tiled_and_whole_optimisation_give_nearly_the_same_picture():
    """Tolerance: every tile is optimised against the whole picture's losses, but in turn, with
    its neighbours held still, so L-BFGS takes another path through the same objective: the
    pictures differ by a few percent of the pixel range on average, while their distances to
    the style and to the content (what the objective asks for) agree within 10%."""
    content, style = picture("sample:chelsea", 256), picture("sample:strokes", 256)
    config = TransferConfig(size=256, steps=24, scales=2, device="cpu", precision="float32")
    assert tile_grid_for((170, 256), LAYERS, replace(config, tile=128)) is not None
    whole = stylize(content, [style], config=config)
    tiled = stylize(content, [style], config=replace(config, tile=128))
    assert float((whole - tiled).abs().mean()) < 0.07
    net = VGGFeatures((*LAYERS, "relu4_2"))
    with torch.no_grad():
        target = {n: gram_matrix(f) for n, f in net(style).items()}
        photo = net(content)["relu4_2"]

        def distances(image):
            feats = net(image)
            style_distance = sum(float((gram_matrix(feats[n]) - target[n]).pow(2).sum() / target[n].pow(2).sum())
                                 for n in LAYERS)
            return style_distance, float((feats["relu4_2"] - photo).pow(2).sum() / photo.pow(2).sum())

    (style_whole, content_whole), (style_tiled, content_tiled) = distances(whole), distances(tiled)
    assert abs(style_tiled / style_whole - 1) < 0.1 and abs(content_tiled / content_whole - 1) < 0.1
    assert style_tiled < 0.2 * distances(content)[0]  # and it is a painting, not the photo


@pytest.mark.slow
def test_no_seam_on_a_flat_style(large):
    """A flat-colour style asks for a smooth picture: the tile borders must not be steps."""
    flat = torch.ones(1, 3, 96, 96) * torch.tensor([0.8, 0.5, 0.2]).view(1, 3, 1, 1)
    config = TransferConfig(size=192, steps=20, scales=1, device="cpu", precision="float32", tile=128)
    out = stylize(large, [flat], config=config)
    grid = tile_grid_for(tuple(out.shape[-2:]), LAYERS, config)
    columns = sorted({box[2] for box in grid.cores()} - {0})
    assert columns, "the picture was not tiled"
    dx = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(0, 1, 2))
    border = float(torch.stack([dx[c - 1] for c in columns]).mean())
    assert border < 1.1 * float(dx.mean()) + 0.005


def test_the_memory_check_plans_tiles_when_asked_and_points_to_them_otherwise(monkeypatch):
    config = TransferConfig(size=3000, device="cpu")
    monkeypatch.setattr(devices, "available_memory", lambda device: 8 * 2**30)
    with pytest.raises(InputError, match="or --tile 768 to optimise it in tiles"):
        check_transfer(config, (2000, 3000), styles=1)  # whole, it would not fit
    tiled = replace(config, tile=768)
    assert check_transfer(tiled, (2000, 3000), styles=1) == (2000, 3000)  # in tiles it does
    assert tile_grid_for((2000, 3000), LAYERS + ("relu4_2",), tiled) is not None
    monkeypatch.setattr(devices, "available_memory", lambda device: int(1.2 * 2**30))
    with pytest.raises(InputError, match="even in tiles"):
        check_transfer(tiled, (2000, 3000), styles=1)


def test_a_tile_as_large_as_the_output_is_refused():
    with pytest.raises(InputError, match="tile 512 px is not smaller than the output"):
        check_transfer(TransferConfig(size=512, tile=512), (384, 512), styles=1)


def test_frozen_norms_reused_on_the_same_picture_change_nothing(large):
    net = load_model("starry_night", expect="fast").network
    with torch.no_grad():
        plain = net(large)
        with FrozenNorms(net) as norms:
            norms.record()
            net(large)
            norms.reuse()
            again = net(large)
        after = net(large)
    assert torch.allclose(plain, again, atol=1e-5) and torch.equal(plain, after)  # and the net is itself again


@pytest.mark.parametrize("method", ["fast", "adain"])
def test_networks_in_tiles_match_one_pass_with_thumbnail_statistics(large, method):
    """Tiles normalised by the whole picture's statistics (the thumbnail here is the picture
    itself) agree with one pass but for the networks' reach past the overlap; tiles
    normalised by their own statistics, as naive tiling does, are much further off."""
    # AdaIN's encoder (VGG-19 to relu4_1) reaches further than the per-style network: wider overlap
    tiling = Tiling(tile=96, overlap=32, thumbnail=192) if method == "fast" else Tiling(tile=128, overlap=56, thumbnail=192)
    if method == "fast":
        net = load_model("starry_night", expect="fast").network

        def run(image, tiles=None):
            return fast_stylize(net, image, precision="float32", tiling=tiles)
    else:
        net = load_model("adain", expect="adain").network
        style = picture("sample:strokes", 128)

        def run(image, tiles=None):
            return adain_stylize(net, image, [style], precision="float32", tiling=tiles)

    whole = run(large)
    tiled = run(large, tiling)
    naive = run_tiled(lambda tile: run(tile), large, tiling)  # each tile on its own statistics
    assert len(tile_boxes(*large.shape[-2:], tiling)) > 1
    good, bad = float((tiled - whole).abs().mean()), float((naive - whole).abs().mean())
    assert good < 0.03 and good < 0.5 * bad, (good, bad)
