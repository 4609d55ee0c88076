"""Schedules of the learning rate and of loss weights for :meth:`tidal.solvers.Trainer.adam`:
objects, not strings.

A schedule maps the starting value ``lr`` (a learning rate, or a loss term's weight), the update
number ``k`` (0 for the first update of an ``adam`` call) and the call's number of updates
``total`` to the value at update ``k``. Each is a pure function of those three numbers, so a
run is deterministic and a call resumed from a checkpoint between ``adam`` calls continues its
schedule from the start of that call, as re-creating a PyTorch scheduler does.

Example:
    >>> from tidal.solvers.schedules import CosineDecay, ExponentialDecay, StepDecay
    >>> StepDecay(every=100, factor=0.5)(1e-3, 250, 1000)
    0.00025
    >>> round(ExponentialDecay(factor=0.1, every=1000)(1e-3, 500, 1000), 12)
    0.000316227766
    >>> CosineDecay(floor=1e-5)(1e-3, 1000, 1000)
    1e-05
"""

import math

from tidal.dsl.errors import TidalArgumentError


class Schedule:
    """Base of the learning-rate schedules: ``schedule(lr, k, total)`` is the learning rate of
    update ``k`` (0-based) of ``total`` in an ``adam`` call that starts at ``lr``.

    Example:
        >>> class Halved(Schedule):
        ...     def __call__(self, lr, k, total):
        ...         return lr / 2
        >>> Halved()(0.1, 0, 10)
        0.05
    """

    def __call__(self, lr: float, k: int, total: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def _positive(name: str, value, integer: bool = False, below_one: bool = False):
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else \
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0 or (below_one and value > 1):
        what = "a positive integer" if integer else \
            "a number in (0, 1]" if below_one else "a positive number"
        raise TidalArgumentError(f"{name} must be {what}, got {value!r}")
    return value


class StepDecay(Schedule):
    """``lr * factor ** (k // every)``: multiplied by ``factor`` every ``every`` updates (as
    PyTorch's ``StepLR``).

    Example:
        >>> StepDecay(every=10, factor=0.1)(1.0, 25, 100)
        0.010000000000000002
    """

    def __init__(self, every: int, factor: float = 0.5):
        self.every = _positive("every", every, integer=True)
        self.factor = _positive("factor", factor, below_one=True)

    def __call__(self, lr: float, k: int, total: int) -> float:
        return lr * self.factor ** (k // self.every)


class ExponentialDecay(Schedule):
    """``lr * factor ** (k / every)``: multiplied by ``factor`` over every ``every`` updates,
    smoothly (TensorFlow's ``ExponentialDecay``, DeepXDE's ``decay=("exponential", ...)``).

    Example:
        >>> ExponentialDecay(factor=0.5, every=2)(1.0, 4, 10)
        0.25
    """

    def __init__(self, factor: float, every: int = 1):
        self.factor = _positive("factor", factor, below_one=True)
        self.every = _positive("every", every, integer=True)

    def __call__(self, lr: float, k: int, total: int) -> float:
        return lr * self.factor ** (k / self.every)


class InverseTimeDecay(Schedule):
    """``lr / (1 + rate * k / every)`` (DeepXDE's ``decay=("inverse time", every, rate)``).

    Example:
        >>> InverseTimeDecay(every=100, rate=1.0)(1.0, 300, 1000)
        0.25
    """

    def __init__(self, every: int, rate: float):
        self.every = _positive("every", every, integer=True)
        self.rate = _positive("rate", rate)

    def __call__(self, lr: float, k: int, total: int) -> float:
        return lr / (1.0 + self.rate * k / self.every)


class CosineDecay(Schedule):
    """Cosine annealing from ``lr`` to ``floor`` over ``steps`` updates (default: the whole
    ``adam`` call), then ``floor`` (as PyTorch's ``CosineAnnealingLR`` without restarts).

    Example:
        >>> CosineDecay()(1.0, 50, 100)
        0.5
    """

    def __init__(self, steps: int | None = None, floor: float = 0.0):
        self.steps = None if steps is None else _positive("steps", steps, integer=True)
        if not isinstance(floor, (int, float)) or isinstance(floor, bool) or floor < 0 \
                or not math.isfinite(floor):
            raise TidalArgumentError(f"floor must be a finite number >= 0, got {floor!r}")
        self.floor = float(floor)

    def __call__(self, lr: float, k: int, total: int) -> float:
        span = self.steps or max(total, 1)
        done = min(k, span) / span
        return self.floor + (lr - self.floor) * 0.5 * (1.0 + math.cos(math.pi * done))


class Linear(Schedule):
    """From ``start`` (default: the starting value) to ``end`` linearly over ``steps`` updates
    (default: the whole call), then ``end``: a learning-rate warm-up, or a loss weight ramped
    up or down (``Trainer.adam(..., weights={"pde": Linear(end=100.0)})``).

    Example:
        >>> Linear(end=10.0, steps=4)(2.0, 1, 100)
        4.0
        >>> Linear(end=1e-3, start=0.0, steps=10)(1e-3, 20, 100)
        0.001
    """

    def __init__(self, end: float, steps: int | None = None, start: float | None = None):
        for name, value in (("end", end), ("start", start)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise TidalArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
        self.end = float(end)
        self.steps = None if steps is None else _positive("steps", steps, integer=True)
        self.start = None if start is None else float(start)

    def __call__(self, lr: float, k: int, total: int) -> float:
        span = self.steps or max(total, 1)
        begin = lr if self.start is None else self.start
        return begin + (self.end - begin) * min(k, span) / span


__all__ = ["CosineDecay", "ExponentialDecay", "InverseTimeDecay", "Linear", "Schedule",
           "StepDecay"]
