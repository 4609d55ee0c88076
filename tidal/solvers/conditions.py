"""Conditions of a PINN problem: boundary, initial, periodic, observed and operator conditions.

Every condition becomes one loss term, the mean square of an error ``e_i`` over its points. Most
conditions are linear in the network's value and one directional derivative,
``e_i = a_i u(z_i) + b_i (d_i . grad u)(z_i) - g_i`` (Dirichlet: ``a = 1, b = 0``; Neumann:
``a = 0, b = 1, d = n``; Robin: ``a = alpha, b = 1, d = n``; initial values and observations are
Dirichlet conditions at their points), so one kernel serves them all (:class:`LinearBatch`).
Periodic conditions compare the network at paired points (:class:`PairBatch`); operator
conditions evaluate a user's tidal function of derivatives (:class:`OperatorBatch`).

Guarantees: :meth:`Condition.batch` returns finite float64 arrays of consistent shapes, sampled
deterministically from the seed, or raises :class:`~tidal.TidalArgumentError` saying which
condition is wrong (empty region, bad shapes, non-finite values, a value function returning the
wrong shape).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.solvers.geometry import Geometry, SpaceTime, TimeDomain
from tidal.solvers.names import Variable

Value = float | Callable[[np.ndarray], np.ndarray]
Where = Callable[[np.ndarray], np.ndarray] | None


@dataclass
class LinearBatch:
    """Points and coefficients of ``e = a u + b (d . grad u) - g``."""

    points: np.ndarray
    directions: np.ndarray
    a: np.ndarray
    b: np.ndarray
    target: np.ndarray


@dataclass
class PairBatch:
    """Paired points of ``e = u(first) - u(second)``."""

    first: np.ndarray
    second: np.ndarray


@dataclass
class OperatorBatch:
    """Points of ``e = fn(derivatives...) - g``."""

    fn: object
    points: np.ndarray
    target: np.ndarray


class Condition:
    """Base class: a named, weighted loss term; ``output`` names the network output it
    constrains (None: the only one), ``made_at`` the user's line that made it."""

    weight: float = 1.0
    label: str = "condition"
    named: bool = False  # the label was given by the user (kept as given, not made unique)
    output: str | None = None
    made_at: str = "a condition"

    def batch(self, dim: int, seed: int):
        raise NotImplementedError


def _made_at(condition: Condition, output, label: str | None = None) -> None:
    """Record ``output``, the ``label`` the user gave (None: the kind's, e.g. ``dirichlet``)
    and the user's file and line that created ``condition`` (the first frame outside tidal),
    for errors the problem raises later."""
    if output is not None and (not isinstance(output, str) or isinstance(output, Variable)):
        raise TidalArgumentError(f"output must be the name of a network output, got {output!r}",
                                 hint="e.g. u, v, p = outputs('u v p'), then output=v")
    if label is not None:
        if not isinstance(label, str) or not label.isidentifier():
            raise TidalArgumentError(f"label must be a name (letters, digits, underscores), got "
                                     f"{label!r}", hint="e.g. label='inflow'")
        condition.label = label
    condition.named = label is not None
    condition.output = output
    frame = inspect.currentframe()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame = frame.f_back
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"
    condition.made_at = f"{type(condition).__name__} made at {where}"


def _weight(w: float) -> float:
    w = float(w)
    if not np.isfinite(w) or w < 0:
        raise TidalArgumentError(f"a condition's weight must be a finite number >= 0, got {w}")
    return w


def evaluate(value: Value, points: np.ndarray, what: str) -> np.ndarray:
    """``value`` at ``points``: a constant, or a NumPy function of the ``(n, dim)`` points."""
    if callable(value):
        out = np.asarray(value(points), dtype=np.float64)
        if out.shape not in ((len(points),), (len(points), 1)):
            raise TidalArgumentError(
                f"the value function of {what} returned shape {out.shape} for {len(points)} "
                f"points; it must return one value per point, shape ({len(points)},)",
                hint="write it over the columns of the (n, dim) point array, e.g. "
                     "lambda p: np.sin(np.pi * p[:, 0])")
        out = out.reshape(-1)
    else:
        out = np.full(len(points), float(value))
    if not np.all(np.isfinite(out)):
        raise TidalArgumentError(f"the values of {what} contain NaN or inf")
    return out


def sample_region(region: Geometry, n: int, where: Where, method: str, seed: int,
                  what: str, initial: bool = False) -> np.ndarray:
    """``n`` boundary points of ``region`` for which ``where`` holds (all when None); with
    ``initial``, points of the initial slice of a :class:`SpaceTime` region instead.

    Oversamples up to 64x when ``where`` keeps only part of the boundary.

    Raises:
        TidalArgumentError: when no sampled boundary point satisfies ``where``.
    """
    if not isinstance(region, Geometry):
        raise TidalArgumentError(f"{what} needs a tidal.solvers Geometry, got "
                                 f"{type(region).__name__}")
    if initial and not isinstance(region, (SpaceTime, TimeDomain)):
        raise TidalArgumentError(f"{what}(initial=True) needs a SpaceTime region or a "
                                 f"TimeDomain, got "
                                 f"{type(region).__name__}",
                                 hint="build the region as space * TimeDomain(t0, t1)")
    sample = region.sample_initial if initial else region.sample_boundary
    if where is None:
        return sample(n, method=method, seed=seed)
    kept = np.zeros((0, region.dim))
    for factor in (1, 4, 16, 64):
        candidates = sample(n * factor, method=method, seed=seed)
        mask = np.asarray(where(candidates), dtype=bool).reshape(-1)
        if mask.shape != (len(candidates),):
            raise TidalArgumentError(f"`where` of {what} must return one bool per point, got "
                                     f"shape {mask.shape}")
        kept = candidates[mask]
        if len(kept) >= n:
            return kept[:n]
    if len(kept) == 0:
        raise TidalArgumentError(
            f"{what} is on an empty boundary: `where` kept none of {64 * n} boundary points",
            hint="check the predicate, e.g. lambda p: np.isclose(p[:, 0], -1.0) for x = -1")
    return kept


class DirichletBC(Condition):
    """``u = value`` on the boundary of ``region`` where ``where`` holds.

    Args:
        region: the geometry whose boundary is sampled (a SpaceTime samples the lateral boundary).
        value: a constant or a NumPy function of the ``(n, dim)`` points.
        n: number of points.
        where: optional predicate selecting part of the boundary.
        method: ``"random"``, ``"lhs"``, ``"sobol"`` or ``"grid"``.
        weight: weight of the term in the loss.
        output: the output it constrains, for a network with several (e.g. ``"v"``).
        label: the loss term's label (every condition takes one): in ``describe`` as
            ``loss_<label>`` and in ``set_weights``; conditions given one label form one group
            there. Default: the kind and output, e.g. ``dirichlet_u``, numbered from the
            second condition of the same kind on (``dirichlet_u_2``).

    Example:
        >>> import numpy as np
        >>> from tidal.solvers import Interval, DirichletBC
        >>> bc = DirichletBC(Interval(0.0, 1.0), lambda p: 2 * p[:, 0], n=2)
        >>> sorted(bc.batch(dim=1, seed=0).target.tolist())
        [0.0, 2.0]
    """

    label = "dirichlet"

    def __init__(self, region: Geometry, value: Value = 0.0, n: int = 100, where: Where = None,
                 method: str = "random", weight: float = 1.0, output: str | None = None,
                 label: str | None = None):
        self.region, self.value, self.n, self.where = region, value, int(n), where
        self.method, self.weight = method, _weight(weight)
        _made_at(self, output, label)

    def _points(self, seed: int) -> np.ndarray:
        return sample_region(self.region, self.n, self.where, self.method, seed,
                             f"{type(self).__name__}")

    def batch(self, dim: int, seed: int) -> LinearBatch:
        p = self._points(seed)
        ones = np.ones(len(p))
        return LinearBatch(p, np.zeros_like(p), ones, 0 * ones,
                           evaluate(self.value, p, type(self).__name__))


class NeumannBC(DirichletBC):
    """``du/dn = value`` (outward normal) on the boundary of ``region`` where ``where`` holds.

    Example:
        >>> from tidal.solvers import Interval, NeumannBC
        >>> b = NeumannBC(Interval(0.0, 1.0), 1.0, n=2).batch(dim=1, seed=0)
        >>> sorted(b.directions[:, 0].tolist())
        [-1.0, 1.0]
    """

    label = "neumann"
    alpha = 0.0

    def batch(self, dim: int, seed: int) -> LinearBatch:
        p = self._points(seed)
        normals = np.asarray(self.region.boundary_normal(p), dtype=np.float64)
        return LinearBatch(p, normals, np.full(len(p), float(self.alpha)), np.ones(len(p)),
                           evaluate(self.value, p, type(self).__name__))


class RobinBC(NeumannBC):
    """``du/dn + alpha u = value`` on the boundary of ``region`` where ``where`` holds.

    Example:
        >>> from tidal.solvers import Interval, RobinBC
        >>> RobinBC(Interval(0.0, 1.0), alpha=2.0, value=0.0, n=2).batch(1, 0).a.tolist()
        [2.0, 2.0]
    """

    label = "robin"

    def __init__(self, region: Geometry, alpha: float, value: Value = 0.0, n: int = 100,
                 where: Where = None, method: str = "random", weight: float = 1.0,
                 output: str | None = None, label: str | None = None):
        super().__init__(region, value, n, where, method, weight, output, label)
        self.alpha = float(alpha)


class InitialCondition(Condition):
    """``u(x, t0) = value`` on the initial slice of a space-time domain.

    Example:
        >>> import numpy as np
        >>> from tidal.solvers import Interval, TimeDomain, InitialCondition
        >>> ic = InitialCondition(Interval(-1, 1) * TimeDomain(0, 1), lambda p: p[:, 0], n=3)
        >>> b = ic.batch(dim=2, seed=0)
        >>> bool(np.all(b.points[:, 1] == 0.0) and np.all(b.target == b.points[:, 0]))
        True
    """

    label = "initial"

    def __init__(self, domain: SpaceTime, value: Value = 0.0, n: int = 100,
                 method: str = "random", weight: float = 1.0, output: str | None = None,
                 label: str | None = None):
        if not isinstance(domain, (SpaceTime, TimeDomain)):
            raise TidalArgumentError(f"InitialCondition needs a SpaceTime domain (space * "
                                     f"TimeDomain(t0, t1)) or a TimeDomain (an ODE), got "
                                     f"{type(domain).__name__}")
        self.domain, self.value, self.n = domain, value, int(n)
        self.method, self.weight = method, _weight(weight)
        _made_at(self, output, label)

    def batch(self, dim: int, seed: int) -> LinearBatch:
        p = self.domain.sample_initial(self.n, method=self.method, seed=seed)
        ones = np.ones(len(p))
        return LinearBatch(p, np.zeros_like(p), ones, 0 * ones,
                           evaluate(self.value, p, "InitialCondition"))


class PeriodicBC(Condition):
    """``u`` equal on the two faces ``axis = lo`` and ``axis = hi`` of a box-like domain.

    Points are sampled on the ``lo`` face and paired with their images on the ``hi`` face. For a
    network with several outputs, every output is periodic unless ``output`` names one.

    Example:
        >>> from tidal.solvers import Rectangle, PeriodicBC
        >>> b = PeriodicBC(Rectangle((0, 0), (2, 1)), axis=0, n=4).batch(dim=2, seed=0)
        >>> b.first[:, 0].tolist(), b.second[:, 0].tolist()
        ([0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0])
    """

    label = "periodic"

    def __init__(self, region: Geometry, axis: int, n: int = 100, method: str = "random",
                 weight: float = 1.0, output: str | None = None, label: str | None = None):
        _made_at(self, output, label)
        if not isinstance(region, Geometry):
            raise TidalArgumentError(f"PeriodicBC needs a Geometry, got {type(region).__name__}")
        if not 0 <= int(axis) < region.dim:
            raise TidalArgumentError(f"PeriodicBC axis must be in 0..{region.dim - 1}, got {axis}")
        self.region, self.axis, self.n = region, int(axis), int(n)
        self.method, self.weight = method, _weight(weight)

    def batch(self, dim: int, seed: int) -> PairBatch:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in self.region.bbox)
        a = self.axis
        first = sample_region(self.region, self.n, lambda p: np.isclose(p[:, a], lo[a]),
                              self.method, seed, "PeriodicBC")
        second = first.copy()
        second[:, a] = hi[a]
        if not np.all(self.region.on_boundary(second)):
            raise TidalArgumentError(f"PeriodicBC: the faces axis {a} = {lo[a]} and {hi[a]} of "
                                     f"this domain are not images of each other")
        return PairBatch(first, second)


class Observations(Condition):
    """``u(points) = values``: measured data, e.g. for inverse problems.

    Example:
        >>> import numpy as np
        >>> from tidal.solvers import Observations
        >>> Observations(np.zeros((3, 2)), np.ones(3)).batch(dim=2, seed=0).target.tolist()
        [1.0, 1.0, 1.0]
    """

    label = "observations"

    def __init__(self, points, values, weight: float = 1.0, output: str | None = None,
                 label: str | None = None):
        _made_at(self, output, label)
        self.points = np.asarray(points, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        self.weight = _weight(weight)
        if self.points.ndim != 2 or len(self.points) == 0:
            raise TidalArgumentError(f"observation points must have shape (n, dim) with n > 0, "
                                     f"got {self.points.shape}")
        if self.values.reshape(-1).shape != (len(self.points),):
            raise TidalArgumentError(
                f"{len(self.points)} observation points but values of shape "
                f"{self.values.shape}; give one value per point, shape ({len(self.points)},)")
        self.values = self.values.reshape(-1)
        if not (np.all(np.isfinite(self.points)) and np.all(np.isfinite(self.values))):
            raise TidalArgumentError("observations contain NaN or inf")

    def batch(self, dim: int, seed: int) -> LinearBatch:
        if self.points.shape[1] != dim:
            raise TidalArgumentError(f"observation points have {self.points.shape[1]} "
                                     f"coordinates but the problem has {dim}")
        ones = np.ones(len(self.points))
        return LinearBatch(self.points, np.zeros_like(self.points), ones, 0 * ones,
                           self.values.copy())


class OperatorCondition(Condition):
    """``fn(derivatives...) = value`` at given points, on part of a boundary, or at the initial
    time.

    ``fn`` is a tidal function whose parameter names request derivatives, as for a PDE residual
    (see :mod:`tidal.solvers.operators`). With ``region``, points are sampled on its boundary (the
    lateral boundary of a :class:`SpaceTime`), or with ``initial=True`` on the initial slice of a
    SpaceTime (e.g. an initial velocity ``u_t(x, 0) = 0``), kept where ``where`` holds.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import OperatorCondition
        >>> @td.func
        ... def slope(u_x: td.f64) -> td.f64:
        ...     return u_x
        >>> c = OperatorCondition(slope, points=np.zeros((2, 1)), value=1.0)
        >>> c.batch(dim=1, seed=0).target.tolist()
        [1.0, 1.0]
        >>> from tidal.solvers import Interval, TimeDomain
        >>> @td.func
        ... def velocity(u_t: td.f64) -> td.f64:
        ...     return u_t
        >>> domain = Interval(0.0, 1.0) * TimeDomain(0.0, 2.0)
        >>> at_rest = OperatorCondition(velocity, region=domain, initial=True, n=3)
        >>> at_rest.batch(dim=2, seed=0).points[:, 1].tolist()
        [0.0, 0.0, 0.0]
    """

    label = "operator"

    def __init__(self, fn, points=None, value: Value = 0.0, region: Geometry | None = None,
                 n: int = 100, where: Where = None, method: str = "random",
                 weight: float = 1.0, initial: bool = False, label: str | None = None):
        if (points is None) == (region is None):
            raise TidalArgumentError("OperatorCondition needs either points or a region")
        if initial and region is None:
            raise TidalArgumentError("OperatorCondition(initial=True) samples a SpaceTime region",
                                     hint="pass region=domain instead of points")
        _made_at(self, None, label)
        self.fn, self.value, self.region, self.n, self.where = fn, value, region, int(n), where
        self.points = None if points is None else np.asarray(points, dtype=np.float64)
        self.method, self.weight, self.initial = method, _weight(weight), bool(initial)

    def batch(self, dim: int, seed: int) -> OperatorBatch:
        if self.points is None:
            p = sample_region(self.region, self.n, self.where, self.method, seed,
                              "OperatorCondition", initial=self.initial)
        else:
            p = self.points
            if p.ndim != 2 or p.shape[1] != dim or len(p) == 0:
                raise TidalArgumentError(f"OperatorCondition points must have shape (n, {dim}) "
                                         f"with n > 0, got {p.shape}")
        return OperatorBatch(self.fn, p, evaluate(self.value, p, "OperatorCondition"))
