"""The low-memory L-BFGS of tiled pictures takes torch.optim.LBFGS's steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from brushwork.engine.lbfgs import LowMemoryLBFGS


def problem():
    """A smooth, non-quadratic loss over an image-shaped tensor: a blurred fit plus a quartic term."""
    generator = torch.Generator().manual_seed(0)
    kernel = torch.rand(3, 3, 5, 5, generator=generator) / 25
    target = torch.rand(1, 3, 24, 32, generator=generator)

    def loss(x):
        return (F.conv2d(x, kernel, padding=2) - target).pow(2).sum() + 0.5 * (x - 0.5).pow(4).sum()

    return loss, torch.rand(1, 3, 24, 32, generator=generator)


def run_torch(steps: int, history: int):
    loss, start = problem()
    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, max_eval=steps, history_size=history,
                            tolerance_grad=0.0, tolerance_change=0.0)
    evaluations = []

    def closure():
        opt.zero_grad()
        value = loss(x)
        value.backward()
        evaluations.append(float(value.detach()))
        return value

    opt.step(closure)
    return x.detach(), evaluations


def run_ours(steps: int, history: int, dtype: torch.dtype):
    loss, start = problem()
    x = start.clone().requires_grad_(True)
    evaluations = []

    def closure():
        x.grad = None
        value = loss(x)
        value.backward()
        evaluations.append(float(value.detach()))
        return value

    LowMemoryLBFGS(x, history, dtype).run(closure, steps)
    return x.detach(), evaluations


@pytest.mark.parametrize("steps", [1, 2, 15])
def test_with_a_float32_history_the_steps_are_torchs(steps):
    theirs, their_losses = run_torch(steps, history=5)
    ours, our_losses = run_ours(steps, history=5, dtype=torch.float32)
    assert len(our_losses) == len(their_losses) == steps
    assert float((ours - theirs).abs().max()) < 1e-4
    assert our_losses == pytest.approx(their_losses, rel=1e-4)


def test_a_float16_history_makes_the_same_progress():
    """The loss falls by the same amount, to 2% (the problem's minimum is far from 0)."""
    _, their_losses = run_torch(40, history=5)
    _, our_losses = run_ours(40, history=5, dtype=torch.float16)
    theirs, ours = their_losses[0] - their_losses[-1], our_losses[0] - our_losses[-1]
    assert theirs > 0.3 * their_losses[0]  # the problem is not solved in a step or two
    assert ours == pytest.approx(theirs, rel=0.02)
