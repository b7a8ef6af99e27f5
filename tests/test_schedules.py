import pytest

from brushwork.errors import InputError
from brushwork.engine.schedules import MIN_SIDE, MultiScaleSchedule, WeightSchedule


def test_linear_and_geometric_weight_schedules():
    linear = WeightSchedule.parse("linear:0:2")
    assert (linear(0.0), linear(0.5), linear(1.0)) == (0.0, 1.0, 2.0)
    geometric = WeightSchedule.parse("geometric:0.01:1")
    assert geometric(0.5) == pytest.approx(0.1)
    assert WeightSchedule.parse("3")(0.7) == 3.0
    assert str(linear) == "linear:0:2"


@pytest.mark.parametrize("text", ["linear:1", "cosine:0:1", "linear:a:1", "linear:-1:1", "geometric:0:1", "linear:inf:1"])
def test_bad_weight_schedules_are_rejected(text):
    with pytest.raises(InputError):
        WeightSchedule.parse(text)


def test_pyramid_doubles_up_to_the_output_size():
    s = MultiScaleSchedule.pyramid(300, 512, scales=3, steps=10)
    assert s.sizes == ((75, 128), (150, 256), (300, 512))
    assert s.total_steps == 30
    assert s.work(2) == 4 * s.work(1)


def test_every_output_size_shares_the_pyramid_of_the_reference_size():
    """The coarse scales, where composition and large strokes are set, are the same for a
    512 px preview and a 2048 px print; the print adds finer scales of ``refine_steps`` each."""
    preview = MultiScaleSchedule.pyramid(341, 512, scales=3, steps=30, step_growth=2.0, reference=512, refine_steps=10)
    final = MultiScaleSchedule.pyramid(1365, 2048, scales=3, steps=30, step_growth=2.0, reference=512, refine_steps=10)
    assert preview.sizes == ((85, 128), (170, 256), (341, 512)) and preview.steps == (120, 60, 30)
    assert final.sizes[:3] == preview.sizes and final.steps[:3] == preview.steps
    assert final.sizes[3:] == ((682, 1024), (1365, 2048)) and final.steps[3:] == (10, 10)
    assert MultiScaleSchedule.pyramid(1365, 2048, scales=3, steps=30, reference=512).steps[3:] == (30, 30)
    assert MultiScaleSchedule.pyramid(341, 512, scales=3, steps=30, reference=0) == \
        MultiScaleSchedule.pyramid(341, 512, scales=3, steps=30)
    odd = MultiScaleSchedule.pyramid(400, 600, scales=3, steps=30, reference=512, refine_steps=10)
    assert odd.sizes[-2:] == ((341, 512), (400, 600)) and odd.steps[-1] == 10  # the output's own size is always the last


def test_coarser_scales_can_run_more_steps():
    s = MultiScaleSchedule.pyramid(256, 256, scales=3, steps=10, step_growth=2.0)
    assert s.steps == (40, 20, 10)


def test_pyramid_drops_scales_too_short_for_vgg():
    s = MultiScaleSchedule.pyramid(30, 128, scales=3, steps=5)
    assert s.sizes == ((30, 128),) or all(min(size) >= 16 for size in s.sizes)
    assert all(min(size) >= 16 for size in MultiScaleSchedule.pyramid(40, 400, scales=4, steps=1).sizes)


def test_pyramid_drops_scales_too_small_for_vgg():
    s = MultiScaleSchedule.pyramid(64, 64, scales=4, steps=5)
    assert s.sizes[-1] == (64, 64)
    assert min(max(size) for size in s.sizes) >= MIN_SIDE
