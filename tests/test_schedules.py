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
