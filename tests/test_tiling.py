"""Large pictures in tiles: the optimiser against the whole picture's targets, and the
networks with a thumbnail's normalisation statistics. Small images (192 px) and small tiles."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from brushwork.engine import devices
from brushwork.engine.features import VGGFeatures
from brushwork.engine.losses import ContentTarget, StyleTarget, gram_matrix
from brushwork.engine.optimize import Objective, Term, paper_losses
from brushwork.engine.tiled import TiledObjective, TileGrid, core_of, gram_sum, tiled_grams
from brushwork.engine.transfer import (TILE_BUDGET_SHARE, TransferConfig, check_transfer, stylize, tile_grid_for,
                                       tiled_memory)
from brushwork.errors import InputError
from brushwork.media.image_io import fit_long_side, load_image, resize
from brushwork.realtime.models import load_model
from brushwork.realtime.stylize import arbitrary_stylize, fast_stylize
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


@pytest.mark.parametrize("margin, tolerance", [(96, 1e-5), (48, 0.1)])
def test_the_objective_and_its_gradient_computed_tile_by_tile_are_the_whole_pictures(margin, tolerance):
    """With a margin of 96 px, past VGG-19's reach at relu5_1, every core's features are the
    whole picture's and the tiles' gradients add up to the whole picture's (float error
    only); a margin of 48 px leaves the cores' edge features short of context, and the
    gradient off by a few percent (the test that the margin matters)."""
    content, style = picture("sample:chelsea", 320), picture("sample:strokes", 192)
    net = VGGFeatures((*LAYERS, "relu4_2"))
    with torch.no_grad():
        target = StyleTarget({n: gram_matrix(f) for n, f in net(style).items() if n in LAYERS})
        photo = net(content)["relu4_2"]
    weights = {"content": Term(1.0), "style": Term(30.0), "tv": Term(5.0)}
    start = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    whole = start.clone().requires_grad_(True)
    total, terms = Objective(net, paper_losses(ContentTarget({"relu4_2": photo}), [(target, 1.0)]), weights).evaluate(whole)
    grid = TileGrid(*content.shape[-2:], core=96, margin=margin, stride=16)
    assert len(grid.cores()) >= 4
    tiled = start.clone().requires_grad_(True)
    objective = TiledObjective(net, grid, weights, content=content, content_layers={"relu4_2": 1.0},
                               styles=[(target, 1.0)])
    total_tiled, terms_tiled = objective.evaluate(tiled)
    for name in terms:
        assert abs(float(terms_tiled[name]) / float(terms[name]) - 1) < max(tolerance, 1e-5), name
    error = float((tiled.grad - whole.grad).norm() / whole.grad.norm())
    assert error < tolerance if margin == 96 else 0.005 < error < tolerance, error


def test_masked_styles_computed_tile_by_tile_are_the_whole_pictures():
    """Two styles on complementary soft masks (a ramp across the picture): each masked
    Gram matrix is a weighted sum over positions, so tiles add up to it as to a plain one."""
    content = picture("sample:chelsea", 320)
    net = VGGFeatures((*LAYERS, "relu4_2"))
    ramp = torch.linspace(0, 1, content.shape[-1]).expand(1, 1, *content.shape[-2:]).contiguous()
    with torch.no_grad():
        targets = [(StyleTarget({n: gram_matrix(f) for n, f in net(picture(name, 192)).items() if n in LAYERS},
                                mask=mask), strength)
                   for name, mask, strength in (("sample:strokes", ramp, 1.0), ("sample:mosaic", 1 - ramp, 0.5))]
        photo = net(content)["relu4_2"]
    weights = {"content": Term(1.0), "style": Term(30.0), "tv": Term(5.0)}
    start = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    whole = start.clone().requires_grad_(True)
    _, terms = Objective(net, paper_losses(ContentTarget({"relu4_2": photo}), targets), weights).evaluate(whole)
    grid = TileGrid(*content.shape[-2:], core=96, margin=96, stride=16)
    tiled = start.clone().requires_grad_(True)
    objective = TiledObjective(net, grid, weights, content=content, content_layers={"relu4_2": 1.0}, styles=targets)
    _, terms_tiled = objective.evaluate(tiled)
    assert abs(float(terms_tiled["style"]) / float(terms["style"]) - 1) < 1e-5
    assert float((tiled.grad - whole.grad).norm() / whole.grad.norm()) < 1e-5
    unmasked = TiledObjective(net, grid, weights, content=content, content_layers={"relu4_2": 1.0},
                              styles=[(StyleTarget({n: getattr(t, f"gram_{n}") for n in LAYERS}), w) for t, w in targets])
    plain = start.clone().requires_grad_(True)
    unmasked.evaluate(plain)
    assert float((plain.grad - tiled.grad).norm() / tiled.grad.norm()) > 0.05  # the masks do matter


@pytest.mark.slow
def test_tiled_and_whole_optimisation_give_the_same_picture():
    """The optimiser sees the whole picture either way and every evaluation is the same up to
    float rounding (the sums are taken in another order). L-BFGS amplifies rounding: the
    content disturbed by 1e-5 moves this run's picture by 0.074 on average and its style
    distance by 9%, while tiles moved it by 0.007 and 4% (measured). So: a mean difference
    ten times under that of the disturbed content, distances within 10%. With equal layer
    weights: under the default block weights this short run is chaotic (the disturbed content
    moves it by 0.095, tiles by 0.076, their distances within 4%: another picture as good), so
    pixels could not tell a tiling error from rounding."""
    content, style = picture("sample:chelsea", 256), picture("sample:strokes", 256)
    config = TransferConfig(size=256, steps=24, scales=2, device="cpu", precision="float32",
                            style_layer_weights=(1.0,) * 5)
    assert tile_grid_for((170, 256), LAYERS, replace(config, tile=128), torch.device("cpu")) is not None
    whole = stylize(content, [style], config=config)
    tiled = stylize(content, [style], config=replace(config, tile=128))
    assert float((whole - tiled).abs().mean()) < 0.02
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
def test_a_pixel_term_such_as_the_temporal_one_works_on_a_tiled_picture():
    """Video frames too large for memory are tiled too: the temporal term (a loss of the
    pixels alone) is evaluated on the whole picture beside the tiles, and pulls the result
    toward its target where its mask holds."""
    from brushwork.pipeline.video import temporal_term

    content, style = picture("sample:chelsea", 256), picture("sample:strokes", 128)
    config = TransferConfig(size=256, steps=12, scales=1, init="image", device="cpu", precision="float32", tile=128)
    carried = picture("sample:mosaic", 256)[..., :content.shape[-2], :content.shape[-1]]
    mask = torch.zeros(1, 1, *content.shape[-2:])
    mask[..., :, : content.shape[-1] // 2] = 1  # the term holds on the left half only
    free = stylize(content, [style], init_image=content, config=config)
    held = stylize(content, [style], init_image=content, config=config,
                   extra_losses={"temporal": (temporal_term(carried, mask), Term(200.0))})
    half = content.shape[-1] // 2

    def distance(image, side):
        return float((image - carried)[..., side].abs().mean())

    left, right = slice(0, half), slice(half, None)
    assert distance(held, left) < 0.75 * distance(free, left)  # measured 0.65 in 12 steps
    assert distance(held, right) > 0.85 * distance(free, right)


@pytest.mark.slow
def test_no_seam_on_a_flat_style(large):
    """A flat-colour style asks for a smooth picture: the tile borders must not be steps."""
    flat = torch.ones(1, 3, 96, 96) * torch.tensor([0.8, 0.5, 0.2]).view(1, 3, 1, 1)
    config = TransferConfig(size=192, steps=20, scales=1, device="cpu", precision="float32", tile=128)
    out = stylize(large, [flat], config=config)
    grid = tile_grid_for(tuple(out.shape[-2:]), LAYERS, config, torch.device("cpu"))
    columns = sorted({box[2] for box in grid.cores()} - {0})
    assert columns, "the picture was not tiled"
    dx = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(0, 1, 2))
    border = float(torch.stack([dx[c - 1] for c in columns]).mean())
    assert border < 1.1 * float(dx.mean()) + 0.005


def test_the_memory_check_plans_tiles_for_what_does_not_fit_and_refuses_only_what_still_cannot(monkeypatch):
    # float32: the estimates below do not depend on whether this CPU has native bfloat16
    config, cpu = TransferConfig(size=3000, device="cpu", precision="float32"), torch.device("cpu")
    layers = LAYERS + ("relu4_2",)
    monkeypatch.setattr(devices, "available_memory", lambda device: 64 * 2**30)
    grid = tile_grid_for((2000, 3000), layers, config, cpu)  # a machine with more still plans for 8 GiB
    assert grid is not None and tiled_memory(grid, layers, ("relu4_2",), config, cpu) <= TILE_BUDGET_SHARE * 8 * 2**30
    assert tile_grid_for((2000, 3000), layers, replace(config, max_memory=48.0), cpu) is None  # unless told
    monkeypatch.setattr(devices, "available_memory", lambda device: 8 * 2**30)
    grid = tile_grid_for((2000, 3000), layers, config, cpu)  # whole it would not fit: the largest tiles that do
    planned = TILE_BUDGET_SHARE * 8 * 2**30  # a margin for the estimate's roughness
    assert grid is not None and tiled_memory(grid, layers, ("relu4_2",), config, torch.device("cpu")) <= planned
    assert tiled_memory(replace(grid, core=grid.core + 128), layers, ("relu4_2",), config,
                        torch.device("cpu")) > planned
    assert check_transfer(config, (2000, 3000), styles=1) == (2000, 3000)
    assert tile_grid_for((200, 300), layers, config, cpu) is None  # small: one pass, as before
    assert tile_grid_for((200, 300), layers, replace(config, tile=128), cpu).core == 128  # asked for
    # a limit of the user's own tiles what the machine could hold whole
    assert tile_grid_for((700, 1000), layers, config, cpu) is None
    assert tile_grid_for((700, 1000), layers, replace(config, max_memory=2.0), cpu) is not None
    monkeypatch.setattr(devices, "available_memory", lambda device: int(5.5 * 2**30))
    with pytest.raises(InputError, match=r"even in tiles of 768 px.*or --tile 256$"):
        check_transfer(replace(config, tile=768), (2000, 3000), styles=1)
    monkeypatch.setattr(devices, "available_memory", lambda device: int(3 * 2**30))
    with pytest.raises(InputError, match=r"even in tiles of 768 px.*use a smaller --size$"):
        check_transfer(config, (2000, 3000), styles=1)


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
        net = load_model("adain", expect="arbitrary").network
        style = picture("sample:strokes", 128)

        def run(image, tiles=None):
            return arbitrary_stylize(net, image, [style], precision="float32", tiling=tiles)

    whole = run(large)
    tiled = run(large, tiling)
    naive = run_tiled(lambda tile: run(tile), large, tiling)  # each tile on its own statistics
    assert len(tile_boxes(*large.shape[-2:], tiling)) > 1
    good, bad = float((tiled - whole).abs().mean()), float((naive - whole).abs().mean())
    assert good < 0.03 and good < 0.5 * bad, (good, bad)
