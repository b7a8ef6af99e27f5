"""Schedules over a run: image sizes and step counts per scale, and loss weights over time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from brushwork.errors import InputError

MIN_SIDE = 32
"""Smallest long side a coarse scale may have; below it VGG-19's deep layers see 1-2 pixels."""

MIN_SHORT_SIDE = 16
"""Smallest short side a coarse scale may have: relu5_1 needs 16 input pixels each way."""


@dataclass(frozen=True)
class WeightSchedule:
    """A multiplier for a loss weight that moves from ``start`` to ``end`` over the run.

    ``linear`` interpolates; ``geometric`` interpolates the logarithm, which suits weights
    that span orders of magnitude. Written on the command line as ``linear:0.1:1``.
    """

    start: float = 1.0
    end: float = 1.0
    shape: Literal["linear", "geometric"] = "linear"

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if not math.isfinite(value) or value < 0:
                raise InputError(f"weight schedule values must be finite and >= 0, got {value}")
        if self.shape not in ("linear", "geometric"):
            raise InputError(f"weight schedule shape must be 'linear' or 'geometric', got {self.shape!r}")
        if self.shape == "geometric" and min(self.start, self.end) <= 0:
            raise InputError("a geometric weight schedule needs start and end > 0")

    def __call__(self, progress: float) -> float:
        """Multiplier at ``progress`` in [0, 1] (fraction of all steps done)."""
        t = min(max(progress, 0.0), 1.0)
        if self.shape == "linear":
            return self.start + (self.end - self.start) * t
        return math.exp(math.log(self.start) + (math.log(self.end) - math.log(self.start)) * t)

    @classmethod
    def parse(cls, text: str) -> "WeightSchedule":
        """``"linear:0.1:1"`` or ``"geometric:0.01:1"`` -> schedule; a bare number is constant."""
        parts = text.split(":")
        try:
            if len(parts) == 1:
                value = float(parts[0])
                return cls(value, value)
            if len(parts) == 3:
                return cls(float(parts[1]), float(parts[2]), parts[0])  # type: ignore[arg-type]
        except ValueError:
            pass
        raise InputError(f"bad weight schedule {text!r}; expected SHAPE:START:END such as linear:0.1:1")

    def __str__(self) -> str:
        return f"{self.shape}:{self.start:g}:{self.end:g}"


@dataclass(frozen=True)
class MultiScaleSchedule:
    """Coarse-to-fine pyramid: the image is optimised at each size in turn, each scale
    initialised by upsampling the previous result, so most steps run on small images."""

    sizes: tuple[tuple[int, int], ...]
    steps: tuple[int, ...]

    @classmethod
    def pyramid(
        cls, height: int, width: int, *, scales: int, steps: int, factor: float = 2.0, step_growth: float = 1.0,
        reference: int = 0, refine_steps: int | None = None,
    ) -> "MultiScaleSchedule":
        """``scales`` sizes ending at (height, width), each ``factor`` times the previous.

        The final scale runs ``steps`` steps and each coarser one ``step_growth`` times as
        many as the next finer one: with ``factor`` 2 a coarser step costs about a quarter,
        so growth 2 spends most steps where they are cheap. Scales whose long side would
        fall below :data:`MIN_SIDE` are dropped.

        With a ``reference`` long side smaller than the output's, the pyramid is the one that
        ends at ``reference``, continued by ``factor`` up to the output's size with
        ``refine_steps`` (default ``steps``) at each finer scale. Every output size then shares
        the coarse scales, where the composition and the large strokes are laid down, so a
        large final looks like the reference-sized preview with finer detail; the finer scales
        only refine.
        """
        refine = steps if refine_steps is None else refine_steps
        long_side = max(height, width)
        base = min(reference, long_side) if reference > 0 else long_side
        base_h, base_w = (height, width) if base == long_side else (
            max(1, round(height * base / long_side)), max(1, round(width * base / long_side)))
        sizes, counts = [], []
        for k in reversed(range(scales)):
            scale = factor**-k
            if k > 0 and (base * scale < MIN_SIDE or min(base_h, base_w) * scale < MIN_SHORT_SIDE):
                continue
            sizes.append((max(1, round(base_h * scale)), max(1, round(base_w * scale))))
            counts.append(max(1, round(steps * step_growth**k)))
        finer = base * factor
        while finer < long_side:
            sizes.append((max(1, round(height * finer / long_side)), max(1, round(width * finer / long_side))))
            counts.append(refine)
            finer *= factor
        if sizes[-1] != (height, width):
            sizes.append((height, width))
            counts.append(steps if base == long_side else refine)
        return cls(tuple(sizes), tuple(counts))

    @property
    def total_steps(self) -> int:
        return sum(self.steps)

    def work(self, index: int) -> float:
        """Relative cost of one step at scale ``index`` (proportional to its pixel count)."""
        h, w = self.sizes[index]
        return float(h * w)
