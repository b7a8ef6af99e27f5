"""The optimisation loop: minimise a weighted sum of losses over the pixels of an image.

:class:`Objective` evaluates the losses of Gatys et al. for one image size;
:func:`optimize_image` runs L-BFGS or Adam on it and reports each step as a
:class:`Progress` event. :func:`run_pyramid` repeats this coarse to fine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn

from brushwork.engine.features import VGGFeatures
from brushwork.engine.lbfgs import LowMemoryLBFGS
from brushwork.media.image_io import resize
from brushwork.engine.losses import ContentTarget, StyleTarget, total_variation
from brushwork.engine.schedules import MultiScaleSchedule, WeightSchedule

if TYPE_CHECKING:
    from brushwork.engine.tiled import TiledObjective

OptimizerName = Literal["lbfgs", "adam"]

SCALE_ENLARGING = "bicubic"
"""How each scale's result is enlarged to start the next. Bilinear 2x enlargement puts its
new pixels a quarter pixel either side of the old ones, so the steps between neighbours
alternate (large, small, ...): a 2 px grid that the few steps of a finer scale keep and the
next enlargement doubles. golden_gate + starry_night, defaults, luminance steps folded by a
4 px period (max over mean, x/y; 1.00 = no grid): at 1024 px 1.22/1.40 bilinear, 1.07/1.17
bicubic; at 512 px 1.06/1.10 and 1.03/1.03; the distances the same (docs/highres.md)."""


class StopOptimization(Exception):
    """Raise from a progress callback to end the run early; the current image is returned."""


@dataclass(frozen=True)
class Progress:
    """One optimisation step, as reported to a callback.

    ``image`` is the raw current image, valid until the callback returns (copy it to keep
    it); :meth:`preview` gives it as the user will see it (e.g. with colours restored).
    A step relayed from elsewhere (a Ray worker) may come without it (None).
    """

    step: int
    total_steps: int
    scale: int
    scales: int
    size: tuple[int, int]
    losses: dict[str, float]
    elapsed: float
    eta: float
    image: Tensor | None = field(repr=False)
    finish: Callable[[Tensor], Tensor] = field(repr=False, default=lambda x: x)
    weights: Mapping[str, float] = field(default_factory=dict)
    """Each loss term's weight in force at this step, by name (schedules and style balance applied)."""

    def preview(self) -> Tensor | None:
        """The current image after post-processing, detached, on the CPU, clamped to [0, 1]."""
        return None if self.image is None else self.finish(self.image.detach()).clamp(0, 1).cpu()


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Term:
    """A term's weight in the objective and how it changes over the run (alpha, beta, gamma
    of the paper are the ``content``, ``style`` and ``tv`` terms)."""

    weight: float
    schedule: WeightSchedule = field(default_factory=WeightSchedule)

    def at(self, progress: float) -> float:
        return self.weight * self.schedule(progress)


Weights = Mapping[str, Term]
"""The objective's weights by term name, in the order the terms are summed."""

LossFn = Callable[[Tensor, Mapping[str, Tensor]], Tensor]
"""One loss term: (image, its VGG features by layer name) -> a scalar."""


def weights_at(weights: Weights, progress: float) -> dict[str, float]:
    return {name: term.at(progress) for name, term in weights.items()}


def style_term(targets: Sequence[tuple[StyleTarget, float]]) -> LossFn | None:
    """The style term: each target's loss times its strength (None without targets)."""
    if not targets:
        return None
    modules, strengths = nn.ModuleList(t for t, _ in targets), [s for _, s in targets]
    return lambda image, features: sum((s * t(features) for t, s in zip(modules, strengths)), image.new_zeros(()))


def paper_losses(content: ContentTarget | None, styles: Sequence[tuple[StyleTarget, float]]) -> dict[str, LossFn | None]:
    """The three terms of Gatys et al.: content, style and total variation (None: not in this run)."""
    return {
        "content": None if content is None else (lambda image, features: content(features)),
        "style": style_term(styles),
        "tv": lambda image, features: total_variation(image),
    }


class Objective(nn.Module):
    """The weighted sum of named loss terms for images of one size.

    ``losses`` maps a term's name to its function (None: the term is not part of this run);
    ``weights`` gives each name's weight and schedule. A term whose weight is 0 at a step is
    not computed and reports 0. Adding a term (a temporal one, say) is one function and one
    entry in each mapping.
    """

    history_limit = 1 << 30
    """L-BFGS history entries this objective allows (a tiled picture's is capped by memory)."""
    low_memory = False
    """Whether L-BFGS should run in as few picture-sized buffers as it can (a tiled picture:
    :class:`~brushwork.engine.lbfgs.LowMemoryLBFGS`)."""

    def __init__(self, extractor: VGGFeatures, losses: Mapping[str, LossFn | None], weights: Weights) -> None:
        super().__init__()
        unknown = set(losses) - set(weights)
        if unknown:
            raise ValueError(f"loss terms without a weight: {sorted(unknown)}")
        self.extractor = extractor
        self.losses = dict(losses)
        self.weights = weights

    def forward(self, image: Tensor, progress: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.extractor(image)
        zero = image.new_zeros(())
        total: Tensor | None = None
        values: dict[str, Tensor] = {}
        for name, term in self.weights.items():
            weight, loss = term.at(progress), self.losses.get(name)
            values[name] = loss(image, features) if loss is not None and weight > 0 else zero
            if loss is not None and weight > 0:
                total = weight * values[name] if total is None else total + weight * values[name]
        return (zero if total is None else total), values

    def evaluate(self, image: Tensor, progress: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
        """The total and each term, detached; the gradient is left in ``image.grad``."""
        total, terms = self(image, progress)
        total.backward()
        return total.detach(), {k: v.detach() for k, v in terms.items()}


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
    objective: "Objective | TiledObjective",
    steps: int,
    *,
    optimizer: OptimizerName = "lbfgs",
    learning_rate: float = 0.02,
    lbfgs_history: int = 50,
    on_step: Callable[[Tensor, Tensor, dict[str, Tensor]], None] | None = None,
    run_progress: Callable[[int], float] | None = None,
    in_place: bool = False,
) -> Tensor:
    """Minimise ``objective`` over the pixels of ``image`` for ``steps`` loss evaluations.

    Returns a new tensor; ``image`` is not modified, unless ``in_place`` hands it over (one
    picture-sized buffer less, for a caller that has no further use for it). ``on_step(image, total, terms)`` is
    called after every evaluation; it may raise :class:`StopOptimization`.
    ``run_progress(done)`` maps evaluations done here to the fraction of the whole run
    done, which drives weight schedules (default: ``done / steps``). ``objective`` is an
    :class:`Objective` or, for a picture too large for one pass, a
    :class:`~brushwork.engine.tiled.TiledObjective`: the optimiser sees the whole picture either way.
    """
    run_progress = run_progress or (lambda done: done / steps)
    x = image.detach() if in_place and image.is_contiguous() else image.detach().clone(memory_format=torch.contiguous_format)
    x.requires_grad_(True)
    history = min(lbfgs_history, objective.history_limit)
    lean = optimizer == "lbfgs" and objective.low_memory
    opt = None if lean else _make_optimizer(optimizer, x, steps, learning_rate, history)
    done = 0

    def closure() -> Tensor:
        nonlocal done
        x.grad = None
        total, terms = objective.evaluate(x, run_progress(done))
        done += 1
        if on_step is not None:
            on_step(x, total, terms)
        return total

    try:
        if lean:
            LowMemoryLBFGS(x, history).run(closure, steps)
        elif optimizer == "lbfgs":
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
    make_objective: Callable[[tuple[int, int]], "Objective | TiledObjective"],
    init: Tensor,
    *,
    optimizer: OptimizerName = "lbfgs",
    learning_rate: float = 0.02,
    lbfgs_history: int = 50,
    finish: Callable[[Tensor], Tensor] = lambda x: x,
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Optimise at each size of ``schedule``, upsampling each result to start the next.

    ``make_objective(size)`` gives the objective of a size (a
    :class:`~brushwork.engine.tiled.TiledObjective` for a size too large for one pass).

    ``init`` is resized to the first scale. Weight schedules see the fraction of *all*
    steps done. A :class:`StopOptimization` from ``callback`` ends the whole run; the
    image so far is still returned at the final size.
    """
    image = init
    total_steps = schedule.total_steps
    total_work = sum(schedule.work(i) * n for i, n in enumerate(schedule.steps))
    start = last = time.perf_counter()
    step = 0
    work_done = 0.0
    rate: float | None = None  # seconds per unit of work, averaged over the recent steps
    stopped = False
    for index, (size, steps) in enumerate(zip(schedule.sizes, schedule.steps)):
        resized = resize(image, size, enlarge=SCALE_ENLARGING)
        handed_over = resized is not image  # a fresh copy (not the caller's init): optimised in place
        image = resized
        objective = make_objective(size)
        first_step = step

        def on_step(x: Tensor, total: Tensor, terms: dict[str, Tensor], index=index, size=size,
                    objective=objective) -> None:
            nonlocal step, work_done, stopped, rate, last
            step += 1
            work_done += schedule.work(index)
            if callback is None:
                return
            now = time.perf_counter()
            elapsed = now - start
            losses = {"total": total.item()} | {k: v.item() for k, v in terms.items()}
            # Time left from the work left at each scale, at the recent pace: the first steps
            # (warm-up, a scale's targets) are slow and would inflate an average over the run.
            measured = (now - last) / schedule.work(index)
            rate = measured if rate is None else 0.8 * rate + 0.2 * measured
            last = now
            eta = rate * (total_work - work_done)
            weights = weights_at(objective.weights, (step - 1) / total_steps)
            event = Progress(step, total_steps, index + 1, len(schedule.sizes), size, losses, elapsed, eta, x, finish,
                             weights)
            try:
                callback(event)
            except StopOptimization:
                stopped = True
                raise

        settings = dict(optimizer=optimizer, learning_rate=learning_rate, lbfgs_history=lbfgs_history, on_step=on_step,
                        run_progress=lambda done, first=first_step: (first + done) / total_steps, in_place=handed_over)
        image = optimize_image(image, objective, steps, **settings)
        if stopped:
            break
    return resize(image, schedule.sizes[-1])
