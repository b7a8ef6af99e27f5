"""Behaviour of the optimiser on small images (64-96 px, a few dozen steps)."""

from dataclasses import replace

import pytest
import torch

from brushwork.engine.color import rgb_to_yiq
from brushwork.errors import InputError
from brushwork.engine.features import VGGFeatures
from brushwork.media.image_io import resize
from brushwork.engine.losses import StyleTarget, content_loss, gram_matrix
from brushwork.engine.optimize import StopOptimization
from brushwork.engine.schedules import WeightSchedule
from brushwork.engine.transfer import TransferConfig, reconstruct, stylize, synthesize_texture, work_size_for

pytestmark = pytest.mark.slow

FAST = TransferConfig(size=96, steps=30, scales=2, step_growth=1.0, device="cpu")
STYLE_LAYERS = FAST.style_layers


def style_distance(image, style):
    """Mean relative Gram distance over the default style layers (lower = more like the style)."""
    net = VGGFeatures(STYLE_LAYERS)
    target = StyleTarget.from_features([net(style)])
    with torch.no_grad():
        return sum(target.layer_losses(net(image)).values()).item() / len(STYLE_LAYERS)


def test_total_loss_falls_by_a_large_factor(content, style):
    """From white noise, 60 L-BFGS steps cut the total loss 5x and the style term 8x."""
    losses = []
    config = replace(FAST, scales=1, steps=60, init="noise")
    stylize(content, [style], config=config, callback=lambda p: losses.append(p.losses))
    assert len(losses) == 60
    assert losses[-1]["total"] < losses[0]["total"] / 5
    assert losses[-1]["style"] < losses[0]["style"] / 8


def test_output_is_much_closer_to_the_style_than_the_content_is(content, style):
    out = stylize(content, [style], config=FAST)
    assert out.shape == (1, 3, 64, 96) and out.min() >= 0 and out.max() <= 1
    assert style_distance(out, style) < 0.3 * style_distance(content, style)


def test_same_seed_same_pixels_other_seed_other_pixels(content, style):
    config = replace(FAST, init="noise", steps=8, scales=1, seed=3)
    a = stylize(content, [style], config=config)
    b = stylize(content, [style], config=config)
    c = stylize(content, [style], config=replace(config, seed=4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def chroma(image):
    return rgb_to_yiq(image)[:, 1:]


def test_luminance_transfer_keeps_the_content_chroma(content, style):
    plain = stylize(content, [style], config=FAST)
    kept = stylize(content, [style], config=replace(FAST, preserve_color="luminance"))
    target = chroma(resize(content, kept.shape[-2:]))
    kept_error = (chroma(kept) - target).abs().mean()
    plain_error = (chroma(plain) - target).abs().mean()
    assert kept_error < 0.01 < plain_error
    assert kept_error < plain_error / 5


def test_histogram_matching_keeps_the_content_palette(content, style):
    plain = stylize(content, [style], config=FAST)
    matched = stylize(content, [style], config=replace(FAST, preserve_color="histogram"))
    mean = lambda x: x.mean(dim=(2, 3))
    assert (mean(matched) - mean(content)).abs().sum() < 0.5 * (mean(plain) - mean(content)).abs().sum()


def test_mask_confines_the_style_to_its_region(content, style):
    mask = torch.zeros(1, 1, *content.shape[-2:])
    mask[..., : content.shape[-1] // 2] = 1.0  # left half styled
    out = stylize(content, [style], masks=[mask], config=FAST)
    change = (out - resize(content, out.shape[-2:])).abs().mean(dim=(0, 1, 2))
    w = out.shape[-1]
    left, right = change[: w // 4].mean(), change[-w // 4 :].mean()
    assert right < 0.5 * left


def test_mask_of_wrong_shape_and_count_are_rejected(content, style):
    with pytest.raises(InputError, match="mask 1 is 10x40"):
        stylize(content, [style], masks=[torch.ones(1, 1, 40, 10)], config=FAST)
    with pytest.raises(InputError, match="2 masks given for 1 style"):
        stylize(content, [style], masks=[None, None], config=FAST)


def test_two_styles_blend_between_each_other(content, style):
    other = resize(torch.linspace(0, 1, 96).view(1, 1, 1, 96).expand(1, 3, 64, 96).contiguous(), (64, 96))
    only_first = stylize(content, [style, other], style_weights=[1, 0.0001], config=FAST)
    only_second = stylize(content, [style, other], style_weights=[0.0001, 1], config=FAST)
    assert style_distance(only_first, style) < style_distance(only_second, style)
    assert style_distance(only_second, other) < style_distance(only_first, other)


def test_zero_style_schedule_leaves_the_content_untouched(content, style):
    config = replace(FAST, tv_weight=0.0, style_schedule=WeightSchedule(0.0, 0.0), scales=1, steps=5)
    out = stylize(content, [style], config=config)
    assert torch.allclose(out, resize(content, out.shape[-2:]), atol=1e-6)


def test_reconstruct_approaches_the_content(content):
    shallow = replace(FAST, steps=60, scales=1, size=64)
    target = resize(content, (43, 64))
    out = reconstruct(content, layer="relu2_1", config=shallow)
    noise = torch.rand(out.shape, generator=torch.Generator().manual_seed(shallow.seed))
    assert (out - target).pow(2).mean() < 0.2 * (noise - target).pow(2).mean()


def test_texture_moves_toward_the_style_statistics(style):
    config = replace(FAST, steps=40, scales=1, size=64)
    out = synthesize_texture(style, config=config)
    noise = torch.rand(out.shape, generator=torch.Generator().manual_seed(config.seed))
    assert out.shape == (1, 3, 64, 64)
    assert style_distance(out, style) < 0.2 * style_distance(noise, style)


def test_adam_also_lowers_the_loss(content, style):
    losses = []
    config = replace(FAST, optimizer="adam", scales=1, steps=40, learning_rate=0.03)
    stylize(content, [style], config=config, callback=lambda p: losses.append(p.losses["total"]))
    assert losses[-1] < losses[0] / 2


def test_callback_can_stop_the_run_and_reports_progress(content, style):
    events = []

    def callback(event):
        events.append(event)
        if event.step == 7:
            raise StopOptimization

    out = stylize(content, [style], config=FAST, callback=callback)
    assert [e.step for e in events] == list(range(1, 8))
    assert events[0].total_steps == 60 and events[0].scales == 2 and events[0].scale == 1
    assert all(e.eta >= 0 and set(e.losses) == {"total", "content", "style", "tv"} for e in events)
    assert events[-1].preview().shape[-2:] == events[-1].size and out.shape[-2:] == (64, 96)


def test_content_already_at_output_size_with_any_memory_layout(style):
    """An image that needs no resizing goes straight to L-BFGS, whatever its strides."""
    content = torch.rand(1, 64, 64, 3).permute(0, 3, 1, 2)  # channels-last strides, as from numpy
    out = stylize(content, [style], config=replace(FAST, size=64, steps=2, scales=1))
    assert out.shape == (1, 3, 64, 64)


def test_wide_images_at_small_sizes_keep_every_scale_deep_enough(style):
    """A 2:1 photo at 64 px is 32x64: no coarse scale may be too short for relu5_1."""
    wide = torch.rand(1, 3, 100, 230)
    out = stylize(wide, [style], config=replace(FAST, size=64, steps=2, scales=3))
    assert out.shape == (1, 3, 28, 64)
    with pytest.raises(InputError, match="too small for layer relu5_1: it needs at least 16 px"):
        stylize(wide, [style], config=replace(FAST, size=30, steps=1))
    thin_style = torch.rand(1, 3, 10, 300)
    assert stylize(wide, [thin_style], config=replace(FAST, size=64, steps=1, scales=1)).shape == (1, 3, 28, 64)


def test_init_from_an_image(content, style):
    start = torch.zeros_like(content)
    out = stylize(content, [style], init_image=start, config=replace(FAST, init="image", steps=1, scales=1))
    assert out.mean() < 0.2  # one step from black stays dark
    with pytest.raises(InputError, match="needs an initial image"):
        stylize(content, [style], config=replace(FAST, init="image"))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": 0}, "steps must be a positive"),
        ({"size": -5}, "size must be a positive"),
        ({"size": 100000}, "beyond what Brushwork supports"),
        ({"style_weight": -1.0}, "style_weight must be a number between 0"),
        ({"content_weight": float("nan")}, "content_weight must be"),
        ({"tv_weight": 1e20}, "tv_weight must be"),
        ({"style_layers": ("relu9_9",)}, "unknown VGG-19 layer 'relu9_9'"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"style_layer_weights": (1.0,)}, "1 style layer weights given for 5"),
    ],
)
def test_bad_config_values_are_named(changes, message):
    with pytest.raises(InputError, match=message):
        replace(FAST, **changes)


def test_size_that_cannot_fit_in_memory_is_refused_before_work(content, style):
    with pytest.raises(InputError, match="GiB"):
        stylize(content, [style], config=replace(FAST, size=16000))


def test_style_weight_trades_content_for_style(content, style):
    """A larger beta moves the output toward the style and away from the content."""
    net = VGGFeatures(["relu4_2"])
    target = net(resize(content, (64, 96)))["relu4_2"]

    def distances(beta):
        out = stylize(content, [style], config=replace(FAST, style_weight=beta))
        with torch.no_grad():
            return content_loss(net(out)["relu4_2"], target).item(), style_distance(out, style)

    (c_low, s_low), (c_high, s_high) = distances(2.0), distances(200.0)
    assert c_low < 0.7 * c_high
    assert s_high < 0.7 * s_low


def _effective_beta(content, style, **options) -> float:
    seen = []
    stylize(content, [style], config=TransferConfig(size=48, steps=1, scales=1, **options), callback=seen.append)
    return seen[-1].weights["style"]


def test_energy_balance_weighs_faint_styles_less(content, style):
    """With balance=energy a washed-out copy of a style pulls less than the style itself;
    with balance=fixed beta is exactly the style weight."""
    assert _effective_beta(content, style, balance="fixed", style_weight=7.0) == 7.0
    strong = _effective_beta(content, style, style_weight=7.0)
    faint = _effective_beta(content, style * 0.3 + 0.35, style_weight=7.0)
    assert strong != 7.0 and 0 < faint < 0.5 * strong


def test_energy_balance_follows_the_square_root_of_the_energy_ratio():
    """A typical pair keeps beta times its ratio; a style 4x as strong pulls 2x as hard, not
    4x (so that one strength paints faint and strong paintings about as much)."""
    from brushwork.engine.losses import TYPICAL_ENERGY_RATIO, energy_balance

    assert energy_balance(TYPICAL_ENERGY_RATIO) == pytest.approx(TYPICAL_ENERGY_RATIO)
    assert energy_balance(4 * TYPICAL_ENERGY_RATIO) == pytest.approx(2 * TYPICAL_ENERGY_RATIO)
    assert energy_balance(0.01) / energy_balance(1.0) == pytest.approx(0.1)


# ---- the engine's parts: prepared styles, named terms, no hidden state ----------------------

def test_prepared_styles_are_computed_once_for_many_contents(content, style):
    from brushwork import TransferConfig, prepare_styles, stylize

    config = TransferConfig(size=96, steps=2, scales=2, device="cpu", precision="float32")
    prepared = prepare_styles([style], config)
    contents = [content, content.flip(-1), content.flip(-2), content * 0.5]
    outputs = [stylize(c, prepared, config=config) for c in contents]
    assert prepared.computed == 2  # one Gram set per scale, for all four contents
    assert torch.equal(outputs[0], stylize(content, [style], config=config))  # same pixels as unprepared
    with pytest.raises(InputError, match="prepared with style_scale=1.0"):
        stylize(content, prepared, config=TransferConfig(size=48, steps=2, style_scale=2.0, device="cpu",
                                                         precision="float32"))


def test_a_run_leaves_the_global_random_state_alone(content, style):
    from brushwork import TransferConfig, stylize

    before = torch.random.get_rng_state()
    stylize(content, [style], config=TransferConfig(size=48, steps=2, scales=1, init="noise", seed=7, device="cpu"))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_objective_takes_a_new_term_as_one_entry(content):
    from brushwork.engine.features import VGGFeatures
    from brushwork.engine.optimize import Objective, Term

    extractor = VGGFeatures(["relu1_1"])
    brightness = lambda image, features: (image.mean() - 0.9) ** 2  # noqa: E731 - a term is any function
    objective = Objective(extractor, {"bright": brightness}, {"bright": Term(2.0)})
    total, values = objective(content)
    assert set(values) == {"bright"} and torch.isclose(total, 2.0 * values["bright"])
    with pytest.raises(ValueError, match="without a weight"):
        Objective(extractor, {"bright": brightness}, {})


def test_a_small_output_of_a_large_photo_is_worked_at_the_reference_size_and_scaled_down():
    config = TransferConfig(size=128)
    assert work_size_for((85, 128), (1000, 1500), config) == (341, 512)  # a thumbnail of the 512 px picture
    assert work_size_for((85, 128), (200, 300), config) == (200, 300)  # never a photo enlarged to be worked on
    assert work_size_for((85, 128), (64, 96), config) == (85, 128)  # an output larger than the photo: its own size
    assert work_size_for((682, 1024), (1000, 1500), config) == (682, 1024)
    assert work_size_for((85, 128), (1000, 1500), replace(config, reference_size=0)) == (85, 128)


def test_a_thumbnail_is_the_reference_picture_scaled_down(style):
    """The run works at the photo's size (under the reference) and the result is scaled down."""
    photo = resize(style.flip(-1), (128, 192))
    sizes = []
    config = replace(FAST, size=64, steps=4, reference_size=192)
    small = stylize(photo, [style], config=config, callback=lambda e: sizes.append(e.size))
    assert sizes[-1] == (128, 192) and small.shape[-2:] == (43, 64)
    worked = stylize(photo, [style], config=replace(config, size=192))
    assert torch.allclose(small, resize(worked, (43, 64)), atol=1e-5)


def test_scales_above_the_reference_keep_its_look(content, style):
    """Above the reference size the objective also holds the picture, scaled down to the
    reference, to the reference's style targets (the "look" term)."""
    look = {}
    stylize(content, [style], config=replace(FAST, steps=3, reference_size=48),
            callback=lambda e: look.setdefault(e.size, e.losses["look"]))
    assert look[(64, 96)] > 0 and all(value == 0 for size, value in look.items() if max(size) <= 48), look


def test_the_look_holds_the_reference_layout_too(content, style):
    """The look term is the reference's whole objective: its content half is nothing on the
    photo itself and grows on the photo turned upside down."""
    from brushwork.engine.transfer import _look_term
    from brushwork.engine.losses import ContentTarget

    extractor = VGGFeatures(("relu3_1", "relu4_2"))
    small = resize(content, (32, 48))
    target = ContentTarget({"relu4_2": extractor(small)["relu4_2"]})
    styles = [(StyleTarget({"relu3_1": gram_matrix(extractor(resize(style, (32, 48)))["relu3_1"])}), 1.0)]
    with_content, style_only = (_look_term(extractor, (32, 48), styles, target, share) for share in (1.0, 0.0))
    flipped = content.flip(-2)
    assert float(with_content(content, {}) - style_only(content, {})) < 1e-4
    assert float(with_content(flipped, {}) - style_only(flipped, {})) > 0.1


def test_the_look_leaves_the_first_block_to_the_finer_scale(content, style):
    """The look term's style half skips relu1_1 (the reference's pixel-level detail, which the
    finer scale paints at its own size): a target whose relu1_1 Gram is wrong scores the same
    as one whose relu1_1 is right (the picture's own), unless relu1_1 is all the target has."""
    from brushwork.engine.transfer import LOOK_FIRST_BLOCK, _look_term

    assert LOOK_FIRST_BLOCK == 2
    extractor = VGGFeatures(("relu1_1", "relu3_1"))
    grams = {n: gram_matrix(f) for n, f in extractor(resize(content, (32, 48))).items()}
    wrong = {**grams, "relu1_1": grams["relu1_1"] * 5}

    def look(grams_: dict) -> float:
        return float(_look_term(extractor, (32, 48), [(StyleTarget(grams_), 1.0)], None, 0.0)(content, {}))

    assert look(wrong) == pytest.approx(look(grams), rel=1e-6)
    only_first = [{"relu1_1": g["relu1_1"]} for g in (grams, wrong)]
    assert look(only_first[0]) < 1e-3 < 0.1 < look(only_first[1])


def test_style_layers_are_weighted_by_block_unless_weights_are_given():
    """The default weighs VGG-19's deep blocks down (they copy the painting's objects), for the
    default layers and any others by the block each belongs to; given weights replace it."""
    assert TransferConfig().layer_weights() == {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 0.5,
                                                "relu5_1": 0.1}
    assert TransferConfig(style_layers=("conv2_2", "pool4", "relu5_3")).layer_weights() == {
        "conv2_2": 1.0, "pool4": 0.5, "relu5_3": 0.1}
    given = TransferConfig(style_layer_weights=(1.0, 1.0, 1.0, 1.0, 1.0)).layer_weights()
    assert set(given.values()) == {1.0}


def test_each_scale_starts_from_the_coarser_result_enlarged_without_a_2px_grid():
    """Bilinear 2x enlargement alternates large and small steps between neighbours (its new
    pixels sit a quarter pixel either side of the old): the finer scales kept that as a
    grid. The pyramid enlarges bicubically; an objective with no gradient shows the start."""
    from brushwork.engine.metrics import grid_strength
    from brushwork.engine.optimize import run_pyramid
    from brushwork.engine.schedules import MultiScaleSchedule

    class Flat:
        history_limit, low_memory, weights = 50, False, {}

        def evaluate(self, image, progress=0.0):
            image.grad = torch.zeros_like(image)
            return image.new_zeros(()), {}

    torch.manual_seed(0)
    # a coarse result has detail at every scale but little at its own finest (as paintings do):
    # noise under a 3x3 binomial blur
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel / 16).expand(3, 1, 3, 3)
    coarse = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.rand(1, 3, 48, 64), (1, 1, 1, 1), mode="replicate"),
                                        kernel, groups=3)
    schedule = MultiScaleSchedule(sizes=((48, 64), (96, 128)), steps=(1, 1))
    started = run_pyramid(schedule, lambda size: Flat(), coarse)
    assert started.shape[-2:] == (96, 128)
    assert max(grid_strength(resize(coarse, (96, 128)), 2)) > 1.1  # bilinear: the grid
    assert max(grid_strength(started, 2)) < 1.04
