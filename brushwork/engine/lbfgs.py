"""L-BFGS for pictures too large for memory: the steps of ``torch.optim.LBFGS`` in fewer buffers.

``torch.optim.LBFGS`` (as Brushwork runs it: no line search, a fixed step of 1 after a first
step scaled by the gradient's size) keeps seven or eight picture-sized float32 vectors
besides its history (flat gradient, previous gradient, direction, the two-loop's copy, and
new ``y`` and ``s`` at every step), and its history in float32. At 8192x5461 px one such
vector is 0.5 GiB, so the optimiser alone took more than the 8 GiB a tiled run may use.

:class:`LowMemoryLBFGS` takes the same steps with three vectors besides the picture (its
gradient, the previous gradient, the direction: ``y`` is made in place of the previous
gradient, the two-loop runs in the direction's buffer) and keeps its history in float16,
each vector divided by its largest magnitude (float16 then holds it to about 5e-4 of that
magnitude, where bfloat16 would keep 4e-3). The inner products and updates read the
history in slices, so no float32 copy of a whole vector is ever made.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

SLICE = 1 << 22
"""Elements read from a history vector at a time (16 MiB as float32)."""


class _Stored:
    """A vector kept in ``dtype`` (float16: divided by its largest magnitude first)."""

    def __init__(self, vector: Tensor, dtype: torch.dtype, factor: float = 1.0) -> None:
        scale = float(vector.abs().max()) * abs(factor) if dtype == torch.float16 else 0.0
        self.scale = scale if scale > 0 else 1.0
        self.data = torch.empty_like(vector, dtype=dtype)
        multiplier = factor / self.scale if dtype == torch.float16 else factor
        for a, b in _slices(self.data, vector):
            a.copy_(b * multiplier)

    def dot(self, other: Tensor) -> float:
        return sum(float(torch.dot(a.float(), b)) for a, b in _slices(self.data, other)) * self.scale

    def add_to(self, other: Tensor, alpha: float) -> None:
        """other += alpha * self"""
        for a, b in _slices(self.data, other):
            b.add_(a.float(), alpha=alpha * self.scale)


def _slices(*vectors: Tensor):
    size = vectors[0].numel()
    for start in range(0, size, SLICE):
        yield tuple(v[start:start + SLICE] for v in vectors)


def _dot(a: Tensor, b: Tensor) -> float:
    return sum(float(torch.dot(x, y)) for x, y in _slices(a, b))


class LowMemoryLBFGS:
    """Minimise ``closure()`` (which leaves the gradient in ``param.grad``) over the
    contiguous float32 tensor ``param`` for ``steps`` evaluations, as
    ``torch.optim.LBFGS(lr=1, max_iter=steps, max_eval=steps, history_size=history,
    tolerance_grad=0, tolerance_change=0)`` does, with the history in ``history_dtype``
    (float32 reproduces it to float rounding; float16 is the low-memory default)."""

    def __init__(self, param: Tensor, history: int, history_dtype: torch.dtype = torch.float16) -> None:
        if not param.is_contiguous() or param.dtype != torch.float32:
            raise ValueError("LowMemoryLBFGS optimises one contiguous float32 tensor")
        self.param, self.history, self.dtype = param, history, history_dtype

    def _gradient(self) -> Tensor:
        grad = self.param.grad
        if grad is None:
            raise RuntimeError("the closure left no gradient")
        return grad.reshape(-1) if grad.is_contiguous() else grad.contiguous().reshape(-1)

    def run(self, closure: Callable[[], Tensor], steps: int) -> None:
        x = self.param.detach().view(-1)
        closure()
        grad = self._gradient()
        if float(grad.abs().max()) <= 0:
            return
        dirs: list[_Stored] = []  # y: gradient changes
        stps: list[_Stored] = []  # s: steps taken
        rho: list[float] = []
        h_diag = 1.0
        previous: Tensor | None = None
        direction = torch.empty_like(x)
        step_size = 1.0
        # torch's loop: with max_iter = max_eval = steps it ends on an evaluated point after
        # steps - 1 moves, except that one step is one move left unevaluated
        for iteration in range(1, max(steps - 1, 1) + 1):
            if iteration == 1:
                torch.neg(grad, out=direction)
            else:
                previous.neg_().add_(grad)  # y = grad - previous, in the previous gradient's buffer
                ys = _dot(previous, direction) * step_size  # y . s, s = step_size * direction
                if ys > 1e-10:
                    if len(dirs) == self.history:
                        dirs.pop(0), stps.pop(0), rho.pop(0)
                    dirs.append(_Stored(previous, self.dtype))
                    stps.append(_Stored(direction, self.dtype, step_size))
                    rho.append(1.0 / ys)
                    h_diag = ys / _dot(previous, previous)
                torch.neg(grad, out=direction)  # the two-loop recursion, in place
                alphas = [0.0] * len(dirs)
                for i in range(len(dirs) - 1, -1, -1):
                    alphas[i] = stps[i].dot(direction) * rho[i]
                    dirs[i].add_to(direction, -alphas[i])
                direction.mul_(h_diag)
                for i in range(len(dirs)):
                    beta = dirs[i].dot(direction) * rho[i]
                    stps[i].add_to(direction, alphas[i] - beta)
            if previous is None:
                previous = grad.clone()
            else:
                previous.copy_(grad)
            step_size = min(1.0, 1.0 / float(grad.abs().sum())) if iteration == 1 else 1.0
            if _dot(grad, direction) > 0:  # not a descent direction
                break
            with torch.no_grad():
                x.add_(direction, alpha=step_size)
            if iteration == steps:
                break
            self.param.grad = None  # the closure makes a new gradient
            grad = None
            closure()
            grad = self._gradient()
            if float(grad.abs().max()) <= 0:
                break
