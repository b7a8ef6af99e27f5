"""The optimisation loop: minimise a weighted sum of losses over the pixels of an image.

:class:`Objective` evaluates the losses of Gatys et al. for one image size;
:func:`optimize_image` runs L-BFGS or Adam on it and reports each step as a
:class:`Progress` event. :func:`run_pyramid` repeats this coarse to fine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import torch
from torch import Tensor, nn

from .features import VGGFeatures
from .image_io import resize
from .losses import ContentTarget, StyleTarget, total_variation
from .schedules import MultiScaleSchedule, WeightSchedule

OptimizerName = Literal["lbfgs", "adam"]


class StopOptimization(Exception):
    """Raise from a progress callback to end the run early; the current image is returned."""


@dataclass(frozen=True)
class Progress:
    """One optimisation step, as reported to a callback.

    ``image`` is the raw current image, valid until the callback returns (copy it to keep
    it); :meth:`preview` gives it as the user will see it (e.g. with colours restored).
    """

    step: int
    total_steps: int
    scale: int
    scales: int
    size: tuple[int, int]
    losses: dict[str, float]
    elapsed: float
    eta: float
    image: Tensor = field(repr=False)
    finish: Callable[[Tensor], Tensor] = field(repr=False, default=lambda x: x)
    weights: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """alpha, beta, gamma in force at this step (schedules and style balance applied)."""

    def preview(self) -> Tensor:
        """The current image after post-processing, detached, on the CPU, clamped to [0, 1]."""
        return self.finish(self.image.detach()).clamp(0, 1).cpu()


ProgressCallback = Callable[[Progress], None]


@dataclass
class LossWeights:
    """alpha, beta, gamma of the paper, with optional schedules over the run."""

    content: float = 1.0
    style: float = 1.0
    tv: float = 0.0
    style_schedule: WeightSchedule = field(default_factory=WeightSchedule)
    tv_schedule: WeightSchedule = field(default_factory=WeightSchedule)

    def at(self, progress: float) -> tuple[float, float, float]:
        return self.content, self.style * self.style_schedule(progress), self.tv * self.tv_schedule(progress)


class Objective(nn.Module):
    """``alpha * content + beta * sum(style targets) + gamma * TV`` for images of one size."""

    def __init__(
        self,
        extractor: VGGFeatures,
        content: ContentTarget | None,
        styles: Sequence[tuple[StyleTarget, float]],
        weights: LossWeights,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.content = content
        self.styles = nn.ModuleList(target for target, _ in styles)
        self.style_strengths = [strength for _, strength in styles]
        self.weights = weights

    def forward(self, image: Tensor, progress: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
        alpha, beta, gamma = self.weights.at(progress)
        features = self.extractor(image)
        zero = image.new_zeros(())
        terms = {
            "content": self.content(features) if self.content is not None and alpha > 0 else zero,
            "style": sum((s * t(features) for t, s in zip(self.styles, self.style_strengths)), zero),
            "tv": total_variation(image) if gamma > 0 else zero,
        }
        total = alpha * terms["content"] + beta * terms["style"] + gamma * terms["tv"]
        return total, terms


def _make_optimizer(name: OptimizerName, param: Tensor, steps: int, lr: float, history: int) -> torch.optim.Optimizer:
    if name == "lbfgs":
        # One .step() runs every iteration; tolerances of zero stop L-BFGS from quitting early
        # on small gradients, which relative losses on [0, 1] pixels routinely have.
        return torch.optim.LBFGS(
            [param], lr=1.0, max_iter=steps, max_eval=steps, history_size=history,
            tolerance_grad=0.0, tolerance_change=0.0,
        )
    return torch.optim.Adam([param], lr=lr)


def optimize_image(
    image: Tensor,
    objective: Objective,
    steps: int,
    *,
    optimizer: OptimizerName = "lbfgs",
    learning_rate: float = 0.02,
    lbfgs_history: int = 50,
    on_step: Callable[[Tensor, Tensor, dict[str, Tensor]], None] | None = None,
    run_progress: Callable[[int], float] | None = None,
) -> Tensor:
    """Minimise ``objective`` over the pixels of ``image`` for ``steps`` loss evaluations.

    Returns a new tensor; ``image`` is not modified. ``on_step(image, total, terms)`` is
    called after every evaluation; it may raise :class:`StopOptimization`.
    ``run_progress(done)`` maps evaluations done here to the fraction of the whole run
    done, which drives weight schedules (default: ``done / steps``).
    """
    run_progress = run_progress or (lambda done: done / steps)
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    opt = _make_optimizer(optimizer, x, steps, learning_rate, lbfgs_history)
    done = 0

    def closure() -> Tensor:
        nonlocal done
        opt.zero_grad(set_to_none=True)
        total, terms = objective(x, run_progress(done))
        total.backward()
        total, terms = total.detach(), {k: v.detach() for k, v in terms.items()}
        done += 1
        if on_step is not None:
            on_step(x, total, terms)
        return total

    try:
        if optimizer == "lbfgs":
            opt.step(closure)
        else:
            for _ in range(steps):
                closure()
                opt.step()
    except StopOptimization:
        pass
    return x.detach()


def run_pyramid(
    schedule: MultiScaleSchedule,
    make_objective: Callable[[tuple[int, int]], Objective],
    init: Tensor,
    *,
    optimizer: OptimizerName = "lbfgs",
    learning_rate: float = 0.02,
    lbfgs_history: int = 50,
    finish: Callable[[Tensor], Tensor] = lambda x: x,
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Optimise at each size of ``schedule``, upsampling each result to start the next.

    ``init`` is resized to the first scale. Weight schedules see the fraction of *all*
    steps done. A :class:`StopOptimization` from ``callback`` ends the whole run; the
    image so far is still returned at the final size.
    """
    image = init
    total_steps = schedule.total_steps
    total_work = sum(schedule.work(i) * n for i, n in enumerate(schedule.steps))
    start = time.perf_counter()
    step = 0
    work_done = 0.0
    stopped = False
    for index, (size, steps) in enumerate(zip(schedule.sizes, schedule.steps)):
        image = resize(image, size)
        objective = make_objective(size)
        first_step = step

        def on_step(x: Tensor, total: Tensor, terms: dict[str, Tensor], index=index, size=size,
                    objective=objective) -> None:
            nonlocal step, work_done, stopped
            step += 1
            work_done += schedule.work(index)
            if callback is None:
                return
            elapsed = time.perf_counter() - start
            losses = {"total": total.item()} | {k: v.item() for k, v in terms.items()}
            eta = elapsed / work_done * (total_work - work_done)
            weights = objective.weights.at((step - 1) / total_steps)
            event = Progress(step, total_steps, index + 1, len(schedule.sizes), size, losses, elapsed, eta, x, finish,
                             weights)
            try:
                callback(event)
            except StopOptimization:
                stopped = True
                raise

        image = optimize_image(
            image, objective, steps, optimizer=optimizer, learning_rate=learning_rate,
            lbfgs_history=lbfgs_history, on_step=on_step,
            run_progress=lambda done, first=first_step: (first + done) / total_steps,
        )
        if stopped:
            break
    return resize(image, schedule.sizes[-1])
