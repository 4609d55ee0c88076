"""Geometries, space-time domains and point sampling for physics-informed networks.

Plain NumPy/SciPy (no Taichi): the module imports quickly and can be used to build training and
test point sets for any solver. Geometries are typed objects (not strings) that share one
interface, :class:`Geometry`:

* ``dim``, ``bbox``: dimension and axis-aligned bounding box ``(lo, hi)``.
* ``inside(points)``: membership of the closed set (boundary included, within a tolerance).
* ``on_boundary(points)`` and ``boundary_normal(points)``: boundary membership and outward unit
  normals.
* ``sample_interior(n, method, seed)`` and ``sample_boundary(n, method, seed)``: exactly ``n``
  points, as a ``(n, dim)`` float64 array.

Shapes: :class:`Interval`, :class:`Rectangle`, :class:`Box`, :class:`Hypercube`, :class:`Disk`,
:class:`Ball` and :class:`Polygon`. Constructive solid geometry: :class:`Union` (``a | b``),
:class:`Difference` (``a - b``) and :class:`Intersection` (``a & b``). Time: :class:`TimeDomain`
and :class:`SpaceTime` (``space * time``, coordinates ordered ``(x..., t)``, time last).

Sampling methods (:data:`METHODS`):

* ``"random"``: independent uniform points (``numpy.random.default_rng(seed)``) in the
  interior; on a boundary, stratified along the boundary's parametrisation (point ``i`` of ``n``
  uniform in the ``i``-th ``1/n`` of it, and every part of a CSG boundary its share of points,
  returned in random order), so that no face is left without points by chance (two
  independent points on an interval's boundary land on the same end half the time).
* ``"lhs"``: Latin hypercube sampling (``scipy.stats.qmc.LatinHypercube``, seeded). For a box,
  each of the ``n`` strata of every coordinate holds exactly one point.
* ``"sobol"``: scrambled Sobol' points (``scipy.stats.qmc.Sobol(scramble=True)``, seeded);
  ``random_base2`` is used when ``n`` is a power of two, otherwise ``random(n)`` (SciPy's warning
  about the balance properties is suppressed: the points are still a good low-discrepancy set).
* ``"grid"``: a uniform, cell-centred grid (deterministic; ``seed`` is ignored). The spacing is
  the same along every axis (up to rounding of the per-axis counts to integers). The resolution is
  the smallest one giving at least ``n`` points (inside the geometry for non-box shapes; found by
  refining from the bounding-box estimate); when it gives more than ``n``, ``n`` of them are kept
  at evenly spaced positions of the grid's ordering (indices ``floor(i * N / n)``).

Non-box interiors are sampled by rejection: candidates are drawn in the bounding box with the
chosen method and those outside are discarded, in rounds, until ``n`` are found. For ``"lhs"``
and ``"sobol"`` this breaks the low-discrepancy property only slightly (the kept points are a
subset of a low-discrepancy set of the box). Boundaries of shapes are sampled directly through a
measure-preserving parametrisation of the boundary driven by the same unit samples; boundaries of
CSG geometries are sampled by drawing candidates on the boundaries of all the primitive parts
(proportionally to their boundary measure) and keeping the ones on the combined boundary. When a
bounded number of rejection rounds finds no point, a :class:`~tidal.TidalArgumentError` (a
ValueError) says that the region (or its boundary) appears empty, for example for the intersection
of two disjoint shapes.

Tolerances: ``tol`` arguments are relative to the size of the geometry, that is they are
multiplied by ``max(1, largest absolute bounding-box coordinate)``. At corners (points on several
faces or edges within the tolerance) the normal is the normalised sum of the faces' normals.

CSG boundaries follow the regularised Boolean operations. For two parts ``a`` and ``b``, a point
on the boundary of exactly one part is on the boundary of ``a | b`` when it is not inside the
other part, of ``a & b`` when it is inside the other part, and of ``a - b`` when it is on ``a``'s
boundary outside ``b`` or on ``b``'s boundary in the interior of ``a`` (with ``b``'s normal
flipped). On a face shared by both parts the outward normals decide: a union or intersection
keeps it unless the normals are opposite (two glued parts), a difference keeps it unless they are
equal (the removed part covers it). At points on the boundaries of both parts (shared faces, and
the corners where the parts' boundaries cross) the normal is that of ``a``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt

from tidal.dsl.errors import TidalArgumentError, TidalTypeError

__all__ = [
    "DEFAULT_TOL",
    "METHODS",
    "CSG",
    "Ball",
    "Box",
    "Difference",
    "Disk",
    "Geometry",
    "Hypercube",
    "Intersection",
    "Interval",
    "Polygon",
    "Rectangle",
    "SpaceTime",
    "TimeDomain",
    "Union",
]

#: The sampling methods accepted by ``sample_interior``, ``sample_boundary`` and ``sample_initial``.
METHODS: tuple[str, ...] = ("random", "lhs", "sobol", "grid")

#: Default (relative) tolerance of ``inside``, ``on_boundary`` and ``boundary_normal``.
DEFAULT_TOL = 1e-8

# Rounds of rejection sampling before a region is declared empty (or too thin to sample).
_MAX_ROUNDS = 8
# Normals whose cosine is within this of +1 (-1) count as equal (opposite) on shared faces.
_ALIGN_TOL = 1e-6
# Largest number of (point, edge) pairs a polygon test handles at once (bounds memory).
_CHUNK_ELEMENTS = 1 << 20


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TidalArgumentError(f"n must be a positive integer, got {n!r}")
    if n <= 0:
        raise TidalArgumentError(
            f"n must be a positive integer (number of points to sample), got {n}")
    return int(n)


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method not in METHODS:
        valid = ", ".join(repr(m) for m in METHODS)
        raise TidalArgumentError(f"unknown sampling method {method!r}; valid methods are {valid}")
    return method


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TidalArgumentError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _check_tol(tol: float) -> float:
    try:
        value = float(tol)
    except (TypeError, ValueError):
        raise TidalArgumentError(f"tol must be a non-negative number, got {tol!r}") from None
    if not (math.isfinite(value) and value >= 0.0):
        raise TidalArgumentError(f"tol must be a finite non-negative number, got {tol!r}")
    return value


def _as_scalar(value: float, name: str) -> float:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TidalArgumentError(f"{name} must be a real number, got {value!r}") from None
    if arr.ndim != 0 or not np.isfinite(arr):
        raise TidalArgumentError(f"{name} must be a finite real number, got {value!r}")
    return float(arr)


def _as_vector(value: npt.ArrayLike, name: str, dim: int | None = None) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TidalArgumentError(
            f"{name} must be a sequence of real numbers, got {value!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise TidalArgumentError(f"{name} must be a non-empty 1-D sequence of coordinates, got "
                         f"shape {arr.shape}")
    if dim is not None and arr.size != dim:
        raise TidalArgumentError(f"{name} must have {dim} coordinates, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise TidalArgumentError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def _as_points(points: npt.ArrayLike, dim: int) -> np.ndarray:
    try:
        x = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise TidalArgumentError(f"points must be a numeric array of shape (n, {dim})") from None
    if x.ndim != 2 or x.shape[1] != dim:
        raise TidalArgumentError(
            f"points must have shape (n, {dim}) for this {dim}-D geometry, got "
                         f"shape {x.shape}")
    return x


def _derive_seed(seed: int | None, *keys: int) -> int | None:
    """An independent child seed of ``seed`` (``None`` stays ``None``: fresh entropy)."""
    if seed is None:
        return None
    state = np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)
    return int(state[0])


# --------------------------------------------------------------------------------------------
# Unit-cube samplers and grids
# --------------------------------------------------------------------------------------------


@functools.cache
def _qmc() -> ModuleType:
    """``scipy.stats.qmc``, imported on first use (``scipy.stats`` is slow to import)."""
    from scipy.stats import qmc

    return qmc


@functools.cache
def _qmc_seed_keyword() -> str:
    """``rng`` on SciPy >= 1.15, ``seed`` before."""
    return "rng" if "rng" in inspect.signature(_qmc().Sobol.__init__).parameters else "seed"


class _UnitSampler:
    """Draws points of the unit cube ``[0, 1)^dim`` with one method; later draws continue."""

    def __init__(self, dim: int, method: str, seed: int | None) -> None:
        self.dim = dim
        self.method = method
        self._first = True
        if dim == 0 or method == "random":
            self._rng = np.random.default_rng(seed)
        elif method == "lhs":
            self._engine = _qmc().LatinHypercube(d=dim, **{_qmc_seed_keyword(): seed})
        elif method == "sobol":
            self._engine = _qmc().Sobol(d=dim, scramble=True, **{_qmc_seed_keyword(): seed})
        else:  # pragma: no cover - callers route "grid" elsewhere
            raise TidalArgumentError(f"no unit sampler for method {method!r}")

    def draw(self, m: int) -> np.ndarray:
        first, self._first = self._first, False
        if self.dim == 0:
            return np.empty((m, 0))
        if self.method == "random":
            return self._rng.random((m, self.dim))
        if self.method == "lhs":
            return self._engine.random(m)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*balance properties.*")
            if first and m & (m - 1) == 0:
                return self._engine.random_base2(m.bit_length() - 1)
            return self._engine.random(m)


def _keep_evenly(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows at evenly spaced positions (``floor(i * N / n)``) of ``N >= n`` rows."""
    total = len(points)
    if total == n:
        return points
    return points[(np.arange(n) * total) // n]


def _largest_remainder(n: int, weights: np.ndarray) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder)."""
    quota = n * np.asarray(weights, dtype=np.float64) / np.sum(weights)
    counts = np.floor(quota).astype(np.int64)
    rest = n - int(counts.sum())
    if rest > 0:
        order = np.argsort(-(quota - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def _grid_counts(lengths: np.ndarray, m: int) -> np.ndarray:
    """Per-axis point counts of a grid with ``m`` points along the longest side."""
    return np.maximum(1, np.ceil(m * lengths / lengths.max() - 1e-9)).astype(np.int64)


def _cell_grid(lo: np.ndarray, hi: np.ndarray, counts: np.ndarray) -> np.ndarray:
    axes = [lo[i] + (np.arange(k) + 0.5) * ((hi[i] - lo[i]) / k) for i, k in enumerate(counts)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in mesh], axis=1)


def _box_grid(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Smallest cell-centred grid of the box with at least ``n`` points, thinned to ``n``."""
    if lo.size == 0:
        return np.zeros((n, 0))
    counts = _grid_counts(hi - lo, _box_grid_resolution(hi - lo, n))
    return _keep_evenly(_cell_grid(lo, hi, counts), n)


def _box_grid_resolution(lengths: np.ndarray, n: int) -> int:
    """Smallest number of points along the longest side giving a grid of at least ``n`` points."""
    small, large = 1, n  # n points along the longest side are enough
    while small < large:
        mid = (small + large) // 2
        if int(np.prod(_grid_counts(lengths, mid))) >= n:
            large = mid
        else:
            small = mid + 1
    return small


def _rejection_sample(draw: Callable[[int], np.ndarray], accept: Callable[[np.ndarray], np.ndarray],
                      n: int, what: str) -> np.ndarray:
    """Rows of ``draw(m)`` kept by ``accept``, in rounds, until ``n`` are found.

    The first round draws ``n`` candidates (so that an acceptance rate of one keeps a whole
    low-discrepancy set); later rounds draw as many as the observed acceptance rate suggests. The
    surplus of the last round is thinned evenly. Raises ``TidalArgumentError`` after
    ``_MAX_ROUNDS``.
    """
    parts: list[np.ndarray] = []
    count = tried = 0
    batch = n
    cap = max(1 << 17, 16 * n)
    for _ in range(_MAX_ROUNDS):
        candidates = draw(batch)
        kept = candidates[accept(candidates)]
        tried += len(candidates)
        need = n - count
        if len(kept) >= need:
            parts.append(_keep_evenly(kept, need))
            return np.concatenate(parts)
        parts.append(kept)
        count += len(kept)
        if count == 0:
            batch = min(4 * batch, cap)
        else:
            batch = min(math.ceil(1.25 * (n - count) * tried / count) + 16, cap)
    if count == 0:
        raise TidalArgumentError(
            f"the {what} appears empty: none of {tried} candidate points drawn in "
                         f"{_MAX_ROUNDS} rejection rounds was accepted")
    raise TidalArgumentError(
        f"found only {count} of {n} points of the {what} among {tried} candidates "
                     f"(acceptance rate {count / tried:.2g}): the region appears too thin to "
                     f"sample by rejection")


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


class Geometry(abc.ABC):
    """A closed region of ``R^dim`` with a boundary, outward normals and point sampling.

    Subclasses are the shapes (:class:`Interval`, :class:`Hypercube`, :class:`Rectangle`,
    :class:`Box`, :class:`Ball`, :class:`Disk`, :class:`Polygon`), the CSG combinations
    (:class:`Union`, :class:`Difference`, :class:`Intersection`, also written ``a | b``,
    ``a - b`` and ``a & b``) and :class:`SpaceTime` (``space * time``).

    Points are always arrays of shape ``(n, dim)``; results are float64 (points, normals) or bool
    (membership) arrays with one entry per point.

    Example:
        >>> square = Rectangle((0.0, 0.0), (1.0, 1.0))
        >>> square.dim
        2
        >>> square.inside(np.array([[0.5, 0.5], [1.0, 0.3], [1.5, 0.5]])).tolist()
        [True, True, False]
        >>> square.on_boundary(np.array([[0.5, 0.5], [1.0, 0.3]])).tolist()
        [False, True]
        >>> square.boundary_normal(np.array([[1.0, 0.3]])).tolist()
        [[1.0, 0.0]]
        >>> square.sample_interior(16, method="sobol", seed=1).shape
        (16, 2)
    """

    def __init__(self, dim: int, lo: np.ndarray, hi: np.ndarray) -> None:
        self._dim = int(dim)
        self._lo = np.array(lo, dtype=np.float64)
        self._hi = np.array(hi, dtype=np.float64)
        corners = np.abs(np.concatenate([self._lo, self._hi]))
        self._scale = max(1.0, float(np.max(corners)))

    # -- public interface ---------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Number of coordinates of a point."""
        return self._dim

    @property
    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box ``(lo, hi)`` (copies, float64 arrays of length ``dim``)."""
        return self._lo.copy(), self._hi.copy()

    @property
    def boundary_measure(self) -> float:
        """Length, area or volume of the boundary (closed form, shapes only)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form boundary measure")

    def inside(self, points: npt.ArrayLike, tol: float = DEFAULT_TOL) -> np.ndarray:
        """Whether each point lies in the closed region (boundary included within ``tol``).

        Args:
            points: array of shape ``(n, dim)``.
            tol: relative tolerance (see the module documentation).

        Returns:
            Bool array of shape ``(n,)``.

        Raises:
            TidalArgumentError: for points of the wrong shape or a negative tolerance.
        """
        x = _as_points(points, self._dim)
        return self._inside(x, self._abs_tol(tol))

    def on_boundary(self, points: npt.ArrayLike, tol: float = DEFAULT_TOL) -> np.ndarray:
        """Whether each point lies on the boundary (within ``tol``).

        Args:
            points: array of shape ``(n, dim)``.
            tol: relative tolerance (see the module documentation).

        Returns:
            Bool array of shape ``(n,)``.

        Raises:
            TidalArgumentError: for points of the wrong shape or a negative tolerance.
        """
        x = _as_points(points, self._dim)
        return self._boundary_info(x, self._abs_tol(tol))[0]

    def boundary_normal(self, points: npt.ArrayLike, tol: float = DEFAULT_TOL) -> np.ndarray:
        """Outward unit normals at boundary points.

        At corners (points on several faces within ``tol``) the normal is the normalised sum of
        the faces' normals.

        Args:
            points: array of shape ``(n, dim)`` of points on the boundary.
            tol: relative tolerance used to decide that a point is on the boundary.

        Returns:
            Float64 array of shape ``(n, dim)`` of unit vectors.

        Raises:
            TidalArgumentError: for points of the wrong shape, or when some point is not on the
                boundary.
        """
        x = _as_points(points, self._dim)
        mask, normals = self._boundary_info(x, self._abs_tol(tol))
        if not np.all(mask):
            bad = np.flatnonzero(~mask)
            raise TidalArgumentError(f"boundary_normal needs points on the boundary of {self!r}: "
                             f"{bad.size} of {len(x)} points are not (first: index {bad[0]}, "
                             f"point {x[bad[0]].tolist()}); check them with on_boundary() or "
                             f"pass a larger tol")
        return normals + 0.0  # no negative zeros

    def sample_interior(self, n: int, method: str = "random", seed: int | None = 0) -> np.ndarray:
        """Exactly ``n`` points of the region (boundary allowed).

        Args:
            n: number of points (positive).
            method: one of :data:`METHODS` (see the module documentation).
            seed: seed of the random and quasi-random methods (``None`` for fresh entropy);
                ignored by ``"grid"``.

        Returns:
            Float64 array of shape ``(n, dim)``.

        Raises:
            TidalArgumentError: for a bad ``n``, ``method`` or ``seed``, or when the region appears
                empty.
        """
        n, method, seed = _check_n(n), _check_method(method), _check_seed(seed)
        if method == "grid":
            points = self._interior_grid(n)
        else:
            points = self._interior_sample(n, method, seed)
        return np.ascontiguousarray(points, dtype=np.float64)

    def sample_boundary(self, n: int, method: str = "random", seed: int | None = 0) -> np.ndarray:
        """Exactly ``n`` points on the boundary, distributed proportionally to boundary measure.

        Args:
            n: number of points (positive).
            method: one of :data:`METHODS` (see the module documentation).
            seed: seed of the random and quasi-random methods (``None`` for fresh entropy);
                ignored by ``"grid"``.

        Returns:
            Float64 array of shape ``(n, dim)``.

        Raises:
            TidalArgumentError: for a bad ``n``, ``method`` or ``seed``, or when the boundary
                appears empty.
        """
        n, method, seed = _check_n(n), _check_method(method), _check_seed(seed)
        if method == "grid":
            points = self._boundary_grid(n)
        else:
            points = self._boundary_points(n, method, seed, 0)[0]
        return np.ascontiguousarray(points, dtype=np.float64)

    # -- operators ----------------------------------------------------------------------------

    def __or__(self, other: Geometry) -> Union:
        if not isinstance(other, Geometry):
            return NotImplemented
        return Union(self, other)

    def __sub__(self, other: Geometry) -> Difference:
        if not isinstance(other, Geometry):
            return NotImplemented
        return Difference(self, other)

    def __and__(self, other: Geometry) -> Intersection:
        if not isinstance(other, Geometry):
            return NotImplemented
        return Intersection(self, other)

    def __mul__(self, other: TimeDomain) -> SpaceTime:
        if not isinstance(other, TimeDomain) or isinstance(self, SpaceTime):
            return NotImplemented
        return SpaceTime(self, other)

    # -- internals ----------------------------------------------------------------------------

    def _abs_tol(self, tol: float) -> float:
        return _check_tol(tol) * self._scale

    def _empty_bbox_error(self, what: str) -> TidalArgumentError:
        return TidalArgumentError(f"the {what} of {self!r} appears empty: its bounding box "
                          f"lo={self._lo.tolist()}, hi={self._hi.tolist()} has no volume")

    @abc.abstractmethod
    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        """Membership of the closed region, absolute tolerance."""

    @abc.abstractmethod
    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """``(on_boundary mask, normals)``; normals are NaN off the boundary."""

    def _classify(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inside, on_boundary, normals)`` in one call (CSG combines these)."""
        mask, normals = self._boundary_info(x, tol)
        return self._inside(x, tol), mask, normals

    @abc.abstractmethod
    def _boundary_points(self, n: int, method: str, seed: int | None,
                         extra: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` boundary points and, drawn jointly with them, ``extra`` unit coordinates."""

    @abc.abstractmethod
    def _boundary_grid(self, n: int) -> np.ndarray:
        """``n`` boundary points evenly spread along the boundary."""

    def _interior_sample(self, n: int, method: str, seed: int | None) -> np.ndarray:
        """Rejection sampling in the bounding box."""
        lo, hi = self._lo, self._hi
        if np.any(hi <= lo):
            raise self._empty_bbox_error("interior")
        sampler = _UnitSampler(self._dim, method, seed)
        tol = self._abs_tol(DEFAULT_TOL)

        def draw(m: int) -> np.ndarray:
            return np.minimum(lo + (hi - lo) * sampler.draw(m), hi)

        def accept(x: np.ndarray) -> np.ndarray:
            return self._inside(x, tol)

        return _rejection_sample(draw, accept, n, f"interior of {self!r}")

    def _interior_grid(self, n: int) -> np.ndarray:
        """Smallest (refined from the bounding-box estimate) bbox grid with n points inside."""
        lo, hi = self._lo, self._hi
        if np.any(hi <= lo):
            raise self._empty_bbox_error("interior")
        lengths = hi - lo
        tol = self._abs_tol(DEFAULT_TOL)
        cap = max(1 << 19, 32 * n)
        m = _box_grid_resolution(lengths, n)
        while True:
            grid = _cell_grid(lo, hi, _grid_counts(lengths, m))
            kept = grid[self._inside(grid, tol)]
            if len(kept) >= n:
                return _keep_evenly(kept, n)
            if len(grid) > cap:
                break
            if len(kept) == 0:
                m *= 2
            else:
                estimate = m * (n / len(kept)) ** (1.0 / self._dim)
                m = max(m + 1, int(0.97 * estimate))
        raise TidalArgumentError(
            f"the interior of {self!r} appears empty (or too thin for a grid): "
                         f"{len(kept)} of {len(grid)} grid points of its bounding box are inside")


class _Shape(Geometry):
    """A primitive shape: closed-form boundary measure and a boundary parametrisation.

    ``_boundary_from_unit`` maps points of ``[0, 1)^_boundary_unit_dim`` to boundary points so that
    uniform unit points give uniform boundary points (with respect to boundary measure).
    """

    @property
    @abc.abstractmethod
    def _boundary_unit_dim(self) -> int:
        """Number of unit coordinates consumed per boundary point."""

    @abc.abstractmethod
    def _boundary_from_unit(self, u: np.ndarray) -> np.ndarray:
        """Boundary points from unit points."""

    def _boundary_points(self, n: int, method: str, seed: int | None,
                         extra: int) -> tuple[np.ndarray, np.ndarray]:
        k = self._boundary_unit_dim
        u = _UnitSampler(k + extra, method, seed).draw(n)
        if method == "random":  # stratified along the boundary: each part gets its share,
            u[:, 0] = (np.arange(n) + u[:, 0]) / n  # in random order (so that any first m of
            u = u[np.random.default_rng(_derive_seed(seed, 1)).permutation(n)]  # them spread)
        return self._boundary_from_unit(u[:, :k]), u[:, k:]


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


class Hypercube(_Shape):
    """The axis-aligned box ``[lo_1, hi_1] x ... x [lo_d, hi_d]`` in any dimension ``d >= 1``.

    Args:
        lo: lower corner (``d`` coordinates).
        hi: upper corner (``d`` coordinates), ``hi > lo`` on every axis.

    Raises:
        TidalArgumentError: for empty or inverted boxes (``lo >= hi`` on some axis), mismatched or
            non-finite corners.

    Example:
        >>> cube = Hypercube((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 2.0))
        >>> cube.boundary_measure
        14.0
        >>> pts = cube.sample_interior(32, method="lhs", seed=0)
        >>> bool(cube.inside(pts).all())
        True
        >>> bool(cube.on_boundary(cube.sample_boundary(10, seed=0)).all())
        True
    """

    def __init__(self, lo: npt.ArrayLike, hi: npt.ArrayLike) -> None:
        lo_arr = _as_vector(lo, "lo")
        hi_arr = _as_vector(hi, "hi")
        if lo_arr.shape != hi_arr.shape:
            raise TidalArgumentError(f"lo and hi must have the same number of coordinates, got "
                             f"{lo_arr.size} and {hi_arr.size}")
        bad = np.flatnonzero(lo_arr >= hi_arr)
        if bad.size:
            raise TidalArgumentError(f"empty or inverted box: need lo < hi on every axis, got "
                             f"lo={lo_arr.tolist()}, hi={hi_arr.tolist()} (axis {bad[0]})")
        super().__init__(lo_arr.size, lo_arr, hi_arr)
        lengths = hi_arr - lo_arr
        areas = [float(np.prod(np.delete(lengths, a))) for a in range(self._dim)]
        # Faces in the order (axis 0, lo), (axis 0, hi), (axis 1, lo), ...
        self._face_areas = np.repeat(np.array(areas), 2)

    @property
    def lo(self) -> np.ndarray:
        """Lower corner (copy)."""
        return self._lo.copy()

    @property
    def hi(self) -> np.ndarray:
        """Upper corner (copy)."""
        return self._hi.copy()

    @property
    def boundary_measure(self) -> float:
        """Total measure of the faces (2 for an interval, the perimeter of a rectangle, ...)."""
        return float(self._face_areas.sum())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lo={self._lo.tolist()}, hi={self._hi.tolist()})"

    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        return np.all((x >= self._lo - tol) & (x <= self._hi + tol), axis=1)

    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        near_lo = np.abs(x - self._lo) <= tol
        near_hi = np.abs(x - self._hi) <= tol
        normals = near_hi.astype(np.float64) - near_lo.astype(np.float64)
        norm = np.linalg.norm(normals, axis=1)
        mask = self._inside(x, tol) & (norm > 0)
        out = np.full(x.shape, np.nan)
        out[mask] = normals[mask] / norm[mask, None]
        return mask, out

    def _interior_sample(self, n: int, method: str, seed: int | None) -> np.ndarray:
        u = _UnitSampler(self._dim, method, seed).draw(n)
        return np.minimum(self._lo + (self._hi - self._lo) * u, self._hi)

    def _interior_grid(self, n: int) -> np.ndarray:
        return _box_grid(self._lo, self._hi, n)

    @property
    def _boundary_unit_dim(self) -> int:
        return self._dim  # one coordinate picks the face, the others place the point on it

    def _boundary_from_unit(self, u: np.ndarray) -> np.ndarray:
        d = self._dim
        cumulative = np.cumsum(self._face_areas) / self._face_areas.sum()
        face = np.minimum(np.searchsorted(cumulative, u[:, 0], side="right"), 2 * d - 1)
        axis, side = face // 2, face % 2
        v = np.empty((len(u), d))
        for a in range(d):
            rows = np.flatnonzero(axis == a)
            others = [j for j in range(d) if j != a]
            if others:
                v[np.ix_(rows, others)] = u[rows, 1:]
            v[rows, a] = 0.0
        points = np.minimum(self._lo + (self._hi - self._lo) * v, self._hi)
        rows = np.arange(len(u))
        points[rows, axis] = np.where(side == 1, self._hi[axis], self._lo[axis])
        return points

    def _boundary_grid(self, n: int) -> np.ndarray:
        d = self._dim
        parts = []
        for face, count in enumerate(_largest_remainder(n, self._face_areas)):
            if count == 0:
                continue
            a, side = divmod(face, 2)
            others = [j for j in range(d) if j != a]
            points = np.empty((int(count), d))
            points[:, others] = _box_grid(self._lo[others], self._hi[others], int(count))
            points[:, a] = self._hi[a] if side else self._lo[a]
            parts.append(points)
        return np.concatenate(parts)


class Interval(Hypercube):
    """The closed interval ``[a, b]`` (a 1-D :class:`Hypercube`; its boundary is ``{a, b}``).

    Args:
        a: left end.
        b: right end, ``b > a``.

    Raises:
        TidalArgumentError: for an empty or inverted interval (``a >= b``) or non-finite ends.

    Example:
        >>> line = Interval(-1.0, 1.0)
        >>> line.sample_interior(4, method="grid").ravel().tolist()
        [-0.75, -0.25, 0.25, 0.75]
        >>> sorted(line.sample_boundary(2, method="lhs").ravel().tolist())
        [-1.0, 1.0]
        >>> line.boundary_normal(np.array([[-1.0], [1.0]])).ravel().tolist()
        [-1.0, 1.0]
    """

    def __init__(self, a: float, b: float) -> None:
        a_val, b_val = _as_scalar(a, "a"), _as_scalar(b, "b")
        if not a_val < b_val:
            raise TidalArgumentError(
                f"empty or inverted interval: need a < b, got a={a_val}, b={b_val}")
        super().__init__([a_val], [b_val])

    @property
    def a(self) -> float:
        """Left end."""
        return float(self._lo[0])

    @property
    def b(self) -> float:
        """Right end."""
        return float(self._hi[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.a!r}, {self.b!r})"


class TimeDomain(Interval):
    """A time interval ``[t0, t1]``; multiply a spatial geometry by it to get a :class:`SpaceTime`.

    Args:
        t0: initial time.
        t1: final time, ``t1 > t0``.

    Raises:
        TidalArgumentError: for an empty or inverted time interval (``t0 >= t1``).

    Example:
        >>> time = TimeDomain(0.0, 2.0)
        >>> time.t0, time.t1
        (0.0, 2.0)
        >>> domain = Interval(-1.0, 1.0) * time
        >>> domain.dim
        2

    Alone it is the domain of an ODE problem: its variable is ``t`` and an
    :class:`~tidal.solvers.InitialCondition` on it constrains ``t = t0``.
    """

    def __init__(self, t0: float, t1: float) -> None:
        t0_val, t1_val = _as_scalar(t0, "t0"), _as_scalar(t1, "t1")
        if not t0_val < t1_val:
            raise TidalArgumentError(
                f"empty or inverted time domain: need t0 < t1, got t0={t0_val}, "
                             f"t1={t1_val}")
        super().__init__(t0_val, t1_val)

    @property
    def t0(self) -> float:
        """Initial time."""
        return self.a

    @property
    def t1(self) -> float:
        """Final time."""
        return self.b

    def sample_initial(self, n: int, method: str = "random", seed: int | None = 0) -> np.ndarray:
        """``n`` copies of the initial time ``[t0]`` (the initial slice of a time-only domain,
        for initial conditions of ODEs); ``method`` and ``seed`` are checked and ignored.

        Example:
            >>> TimeDomain(0.0, 3.0).sample_initial(2).tolist()
            [[0.0], [0.0]]
        """
        n = _check_n(n)
        _check_method(method)
        _check_seed(seed)
        return np.full((n, 1), self.t0)


class Rectangle(Hypercube):
    """The axis-aligned rectangle ``[lo_x, hi_x] x [lo_y, hi_y]`` (a 2-D :class:`Hypercube`).

    Args:
        lo: lower-left corner ``(x, y)``.
        hi: upper-right corner ``(x, y)``, ``hi > lo`` in both coordinates.

    Raises:
        TidalArgumentError: for corners that are not 2-D, or an empty or inverted rectangle.

    Example:
        >>> rect = Rectangle((0.0, 0.0), (2.0, 1.0))
        >>> rect.boundary_measure
        6.0
        >>> rect.sample_interior(8, method="grid").shape
        (8, 2)
        >>> rect.boundary_normal(np.array([[2.0, 0.5], [1.0, 0.0]])).tolist()
        [[1.0, 0.0], [0.0, -1.0]]
    """

    def __init__(self, lo: npt.ArrayLike, hi: npt.ArrayLike) -> None:
        super().__init__(_as_vector(lo, "lo", 2), _as_vector(hi, "hi", 2))


class Box(Hypercube):
    """The 3-D axis-aligned box ``[lo, hi]`` (use :class:`Hypercube` in other dimensions).

    Args:
        lo: lower corner ``(x, y, z)``.
        hi: upper corner ``(x, y, z)``, ``hi > lo`` in every coordinate.

    Raises:
        TidalArgumentError: for corners that are not 3-D, or an empty or inverted box.

    Example:
        >>> box = Box((0.0, 0.0, 0.0), (1.0, 2.0, 3.0))
        >>> box.boundary_measure
        22.0
        >>> pts = box.sample_boundary(100, method="sobol", seed=3)
        >>> bool(box.on_boundary(pts).all())
        True
    """

    def __init__(self, lo: npt.ArrayLike, hi: npt.ArrayLike) -> None:
        super().__init__(_as_vector(lo, "lo", 3), _as_vector(hi, "hi", 3))


class Ball(_Shape):
    """The closed ball ``|x - center| <= radius`` in any dimension ``d >= 1``.

    Boundary sampling is exact: by angle in 2-D, by an area-preserving map (uniform height and
    azimuth) in 3-D, by normalised Gaussian coordinates in higher dimensions. ``"grid"`` boundary
    points are equally spaced angles in 2-D and a Fibonacci lattice in 3-D (not available above
    3-D). Interior: ``"random"`` is exact (radius ``r * U**(1/d)``), the other methods reject in
    the bounding box.

    Args:
        center: centre (``d`` coordinates).
        radius: radius, positive.

    Raises:
        TidalArgumentError: for a non-positive or non-finite radius or a bad centre.

    Example:
        >>> ball = Ball((0.0, 0.0, 0.0), 2.0)
        >>> pts = ball.sample_boundary(50, method="lhs", seed=0)
        >>> bool(np.allclose(np.linalg.norm(pts, axis=1), 2.0))
        True
        >>> bool(np.allclose(ball.boundary_normal(pts), pts / 2.0))
        True
    """

    def __init__(self, center: npt.ArrayLike, radius: float) -> None:
        c = _as_vector(center, "center")
        r = _as_scalar(radius, "radius")
        if not r > 0.0:
            raise TidalArgumentError(f"empty ball: radius must be positive, got {r}")
        super().__init__(c.size, c - r, c + r)
        self._center = c
        self._radius = r

    @property
    def center(self) -> np.ndarray:
        """Centre (copy)."""
        return self._center.copy()

    @property
    def radius(self) -> float:
        """Radius."""
        return self._radius

    @property
    def boundary_measure(self) -> float:
        """Surface measure ``2 pi^(d/2) / Gamma(d/2) r^(d-1)`` (2 points in 1-D)."""
        d = self._dim
        if d == 1:
            return 2.0
        log_unit = math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)
        return math.exp(log_unit) * self._radius ** (d - 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(center={self._center.tolist()}, radius={self._radius!r})"

    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        return np.linalg.norm(x - self._center, axis=1) <= self._radius + tol

    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        offset = x - self._center
        dist = np.linalg.norm(offset, axis=1)
        mask = (np.abs(dist - self._radius) <= tol) & (dist > 0)
        out = np.full(x.shape, np.nan)
        out[mask] = offset[mask] / dist[mask, None]
        return mask, out

    def _interior_sample(self, n: int, method: str, seed: int | None) -> np.ndarray:
        if method != "random":
            return super()._interior_sample(n, method, seed)
        rng = np.random.default_rng(seed)
        direction = rng.standard_normal((n, self._dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = self._radius * rng.random(n) ** (1.0 / self._dim)
        return self._center + radius[:, None] * direction

    @property
    def _boundary_unit_dim(self) -> int:
        return {1: 1, 2: 1, 3: 2}.get(self._dim, self._dim)

    def _boundary_from_unit(self, u: np.ndarray) -> np.ndarray:
        d = self._dim
        if d == 1:
            direction = np.where(u[:, :1] < 0.5, -1.0, 1.0)
        elif d == 2:
            theta = 2.0 * np.pi * u[:, 0]
            direction = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        elif d == 3:
            z = 1.0 - 2.0 * u[:, 0]
            phi = 2.0 * np.pi * u[:, 1]
            s = np.sqrt(np.maximum(0.0, 1.0 - z * z))
            direction = np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)
        else:
            from scipy.special import ndtri

            tiny = np.finfo(np.float64).tiny
            g = ndtri(np.clip(u, tiny, 1.0 - np.finfo(np.float64).eps))
            norm = np.linalg.norm(g, axis=1, keepdims=True)
            direction = np.where(norm > 0, g / np.where(norm > 0, norm, 1.0), 0.0)
            direction[norm[:, 0] == 0, 0] = 1.0
        return self._center + self._radius * direction

    def _boundary_grid(self, n: int) -> np.ndarray:
        d = self._dim
        if d == 1:
            u = np.concatenate([np.zeros((n + 1) // 2), np.ones(n // 2)])[:, None]
            return self._boundary_from_unit(u)
        if d == 2:
            return self._boundary_from_unit(((np.arange(n) + 0.5) / n)[:, None])
        if d == 3:
            i = np.arange(n)
            z = 1.0 - (2.0 * i + 1.0) / n
            phi = i * (np.pi * (3.0 - math.sqrt(5.0)))
            s = np.sqrt(np.maximum(0.0, 1.0 - z * z))
            direction = np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)
            return self._center + self._radius * direction
        raise TidalArgumentError(
            f"'grid' boundary sampling is available for balls of dimension 1 to 3, "
                         f"not {d}; use 'random', 'lhs' or 'sobol'")


class Disk(Ball):
    """The closed disk ``|x - center| <= radius`` in the plane (a 2-D :class:`Ball`).

    Args:
        center: centre ``(x, y)``.
        radius: radius, positive.

    Raises:
        TidalArgumentError: for a centre that is not 2-D or a non-positive radius.

    Example:
        >>> disk = Disk((1.0, 0.0), 0.5)
        >>> pts = disk.sample_boundary(4, method="grid")
        >>> bool(np.allclose(np.hypot(pts[:, 0] - 1.0, pts[:, 1]), 0.5))
        True
        >>> disk.inside(np.array([[1.0, 0.0], [2.0, 0.0]])).tolist()
        [True, False]
    """

    def __init__(self, center: npt.ArrayLike, radius: float) -> None:
        super().__init__(_as_vector(center, "center", 2), radius)


class Polygon(_Shape):
    """A simple polygon in the plane, given by its vertices in order (either orientation).

    The vertices are stored counter-clockwise (reversed if given clockwise); do not repeat the
    first vertex at the end. Inside is the even-odd (crossing) test plus the boundary; boundary
    points are spread along the edges proportionally to their lengths (``"grid"``: equally spaced
    in arc length); the normal on an edge is that edge's outward normal.

    Args:
        vertices: array-like of shape ``(m, 2)``, ``m >= 3``.

    Raises:
        TidalArgumentError: for fewer than 3 vertices, non-finite vertices, repeated consecutive
            vertices (zero-length edges), zero area, or intersecting (or overlapping) edges.

    Example:
        >>> tri = Polygon([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
        >>> tri.inside(np.array([[0.2, 0.2], [0.8, 0.8]])).tolist()
        [True, False]
        >>> tri.boundary_normal(np.array([[0.5, 0.0]])).tolist()
        [[0.0, -1.0]]
        >>> bool(tri.on_boundary(tri.sample_boundary(20, method="sobol")).all())
        True
    """

    def __init__(self, vertices: npt.ArrayLike) -> None:
        try:
            v = np.array(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            raise TidalArgumentError(
                "vertices must be an array of shape (m, 2) of real numbers") from None
        if v.ndim != 2 or v.shape[1] != 2:
            raise TidalArgumentError(f"vertices must have shape (m, 2), got shape {v.shape}")
        if len(v) < 3:
            raise TidalArgumentError(f"a polygon needs at least 3 vertices, got {len(v)}")
        if not np.all(np.isfinite(v)):
            raise TidalArgumentError("polygon vertices must be finite")
        edges = np.roll(v, -1, axis=0) - v
        lengths = np.hypot(edges[:, 0], edges[:, 1])
        scale = max(1.0, float(np.max(np.abs(v))))
        short = np.flatnonzero(lengths <= 1e-12 * scale)
        if short.size:
            i = int(short[0])
            j = (i + 1) % len(v)
            raise TidalArgumentError(
                f"polygon has repeated consecutive vertices {i} and {j} (zero-length "
                             f"edge at {v[i].tolist()}); do not repeat the first vertex at the end")
        _check_simple_polygon(v)
        signed_area = 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1)
                                         - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(signed_area) <= 1e-12 * scale * scale:
            raise TidalArgumentError("polygon has zero area (its vertices are collinear)")
        if signed_area < 0:
            v = v[::-1].copy()
        super().__init__(2, v.min(axis=0), v.max(axis=0))
        self._vertices = v
        self._edges = np.roll(v, -1, axis=0) - v
        self._lengths = np.hypot(self._edges[:, 0], self._edges[:, 1])
        self._cumulative = np.concatenate([[0.0], np.cumsum(self._lengths)])
        # Counter-clockwise vertices: the outward normal of edge (dx, dy) is (dy, -dx) / length.
        self._normals = np.stack([self._edges[:, 1], -self._edges[:, 0]], axis=1)
        self._normals /= self._lengths[:, None]
        self._area = abs(signed_area)

    @property
    def vertices(self) -> np.ndarray:
        """Vertices in counter-clockwise order (copy, shape ``(m, 2)``)."""
        return self._vertices.copy()

    @property
    def boundary_measure(self) -> float:
        """Perimeter."""
        return float(self._cumulative[-1])

    def __repr__(self) -> str:
        return f"Polygon({self._vertices.tolist()})"

    def _edge_distances(self, x: np.ndarray) -> np.ndarray:
        """Distances ``(n, m)`` from the points to the edges (segments)."""
        out = np.empty((len(x), len(self._vertices)))
        step = max(1, _CHUNK_ELEMENTS // len(self._vertices))
        for start in range(0, len(x), step):
            p = x[start:start + step, None, :] - self._vertices[None, :, :]
            t = np.einsum("nmk,mk->nm", p, self._edges) / self._lengths**2
            t = np.clip(t, 0.0, 1.0)
            d = p - t[..., None] * self._edges
            out[start:start + step] = np.hypot(d[..., 0], d[..., 1])
        return out

    def _crossings_odd(self, x: np.ndarray) -> np.ndarray:
        """Even-odd rule: a horizontal ray to +x crosses the boundary an odd number of times."""
        x1, y1 = self._vertices[:, 0], self._vertices[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        dy = np.where(y2 != y1, y2 - y1, 1.0)
        out = np.empty(len(x), dtype=bool)
        step = max(1, _CHUNK_ELEMENTS // len(self._vertices))
        for start in range(0, len(x), step):
            px = x[start:start + step, 0:1]
            py = x[start:start + step, 1:2]
            straddle = (y1 > py) != (y2 > py)
            x_cross = x1 + (py - y1) * (x2 - x1) / dy
            crossings = np.count_nonzero(straddle & (px < x_cross), axis=1)
            out[start:start + step] = crossings % 2 == 1
        return out

    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        inside = self._crossings_odd(x)
        rest = ~inside  # only points outside by the crossing test can be on the boundary
        if np.any(rest):
            inside[rest] = np.any(self._edge_distances(x[rest]) <= tol, axis=1)
        return inside

    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        dist = self._edge_distances(x)
        near = dist <= tol
        mask = near.any(axis=1)
        summed = near.astype(np.float64) @ self._normals
        norm = np.linalg.norm(summed, axis=1)
        nearest = self._normals[np.argmin(dist, axis=1)] if len(x) else np.empty((0, 2))
        ok = norm > 1e-12
        normals = np.where(ok[:, None], summed / np.where(ok, norm, 1.0)[:, None], nearest)
        normals[~mask] = np.nan
        return mask, normals

    @property
    def _boundary_unit_dim(self) -> int:
        return 1

    def _boundary_from_unit(self, u: np.ndarray) -> np.ndarray:
        s = u[:, 0] * self._cumulative[-1]
        edge = np.clip(np.searchsorted(self._cumulative, s, side="right") - 1, 0,
                       len(self._vertices) - 1)
        t = np.clip((s - self._cumulative[edge]) / self._lengths[edge], 0.0, 1.0)
        return self._vertices[edge] + t[:, None] * self._edges[edge]

    def _boundary_grid(self, n: int) -> np.ndarray:
        return self._boundary_from_unit(((np.arange(n) + 0.5) / n)[:, None])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _check_simple_polygon(v: np.ndarray) -> None:
    """Raise ``TidalArgumentError`` when two edges of the polygon intersect or adjacent edges
    overlap."""
    m = len(v)
    p, q = v, np.roll(v, -1, axis=0)
    e = q - p
    scale = max(1.0, float(np.max(np.abs(v))))
    eps = 1e-12 * scale * scale
    # Adjacent edges i, i+1 overlap when they are collinear and turn back.
    nxt = np.roll(e, -1, axis=0)
    back = (np.abs(_cross(e, nxt)) <= eps) & (np.sum(e * nxt, axis=1) < 0)
    if np.any(back):
        i = int(np.flatnonzero(back)[0])
        raise TidalArgumentError(f"polygon is not simple: edges {i} and {(i + 1) % m} overlap (the "
                         f"boundary turns back at vertex {(i + 1) % m})")
    for i in range(m - 2):
        j = np.arange(i + 2, m if i > 0 else m - 1)
        if j.size == 0:
            continue
        o1 = _cross(e[i], p[j] - p[i])
        o2 = _cross(e[i], q[j] - p[i])
        o3 = _cross(e[j], p[i] - p[j])
        o4 = _cross(e[j], q[i] - p[j])
        proper = (o1 * o2 < 0) & (o3 * o4 < 0)

        def on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
            lo, hi = np.minimum(a, b) - eps, np.maximum(a, b) + eps
            return np.all((c >= lo) & (c <= hi), axis=-1)

        touch = ((np.abs(o1) <= eps) & on_segment(p[i], q[i], p[j])
                 | (np.abs(o2) <= eps) & on_segment(p[i], q[i], q[j])
                 | (np.abs(o3) <= eps) & on_segment(p[j], q[j], p[i])
                 | (np.abs(o4) <= eps) & on_segment(p[j], q[j], q[i]))
        hit = proper | touch
        if np.any(hit):
            k = int(j[np.flatnonzero(hit)[0]])
            raise TidalArgumentError(
                f"polygon is not simple: edges {i} and {k} intersect (vertices "
                             f"{p[i].tolist()}-{q[i].tolist()} and {p[k].tolist()}-"
                             f"{q[k].tolist()})")


# --------------------------------------------------------------------------------------------
# Constructive solid geometry
# --------------------------------------------------------------------------------------------


class CSG(Geometry):
    """Base class of the Boolean combinations (:class:`Union`, :class:`Difference`, ...).

    Membership and boundary follow the regularised Boolean operations (see the module
    documentation for the rules on shared faces). Boundary sampling draws candidates on the
    boundaries of all primitive parts, proportionally to their boundary measures (a candidate on
    the boundaries of several parts is counted for the first one only), and keeps those on the
    combined boundary, in rounds until ``n`` are found. CSG geometries have no closed-form
    ``boundary_measure``.

    Args:
        a: first operand.
        b: second operand, of the same dimension.

    Raises:
        TypeError: when an operand is not a :class:`Geometry`.
        TidalArgumentError: for operands of different dimensions or :class:`SpaceTime` operands.

    Example:
        >>> ell = Rectangle((-1.0, -1.0), (1.0, 1.0)) - Rectangle((0.0, 0.0), (1.0, 1.0))
        >>> isinstance(ell, CSG)
        True
        >>> ell.inside(np.array([[-0.5, 0.5], [0.5, 0.5]])).tolist()
        [True, False]
    """

    _symbol = "?"

    def __init__(self, a: Geometry, b: Geometry) -> None:
        for name, g in (("a", a), ("b", b)):
            if not isinstance(g, Geometry):
                raise TidalTypeError(
                    f"{type(self).__name__} operand {name} must be a Geometry, got "
                                f"{type(g).__name__}")
            if isinstance(g, SpaceTime):
                raise TidalArgumentError("CSG of space-time domains is not supported: combine the "
                                 "spatial geometries first, then multiply by the TimeDomain")
        if a.dim != b.dim:
            raise TidalArgumentError(f"cannot combine a {a.dim}-D and a {b.dim}-D geometry")
        lo, hi = self._combined_bbox(a, b)
        super().__init__(a.dim, lo, hi)
        self._a = a
        self._b = b

    @property
    def a(self) -> Geometry:
        """First operand."""
        return self._a

    @property
    def b(self) -> Geometry:
        """Second operand."""
        return self._b

    def __repr__(self) -> str:
        return f"({self._a!r} {self._symbol} {self._b!r})"

    @staticmethod
    def _combined_bbox(a: Geometry, b: Geometry) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def _combine(ia: np.ndarray, ib: np.ndarray, ba: np.ndarray, bb: np.ndarray,
                 same: np.ndarray, opposite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(inside, on_boundary)`` from the parts' memberships and shared-face relations."""
        raise NotImplementedError

    _flip_b = False

    def _classify(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ia, ba, na = self._a._classify(x, tol)
        ib, bb, nb = self._b._classify(x, tol)
        both = ba & bb
        dot = np.full(len(x), np.nan)
        dot[both] = np.sum(na[both] * nb[both], axis=1)
        same = both & (dot > 1.0 - _ALIGN_TOL)
        opposite = both & (dot < -1.0 + _ALIGN_TOL)
        inside, mask = self._combine(ia, ib, ba, bb, same, opposite)
        normals = np.where(ba[:, None], na, -nb if self._flip_b else nb)
        normals[~mask] = np.nan
        return inside, mask, normals

    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        return self._classify(x, tol)[0]

    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        return self._classify(x, tol)[1:]

    def _leaves(self) -> list[_Shape]:
        """The distinct primitive shapes this geometry is built from, in order."""
        out: list[_Shape] = []
        seen: set[int] = set()
        for part in (self._a, self._b):
            parts = part._leaves() if isinstance(part, CSG) else [part]
            for leaf in parts:
                if not isinstance(leaf, _Shape):
                    raise TidalArgumentError(
                        f"cannot sample the boundary of {self!r}: part {leaf!r} "
                                     f"has no boundary parametrisation")
                if id(leaf) not in seen:
                    seen.add(id(leaf))
                    out.append(leaf)
        return out

    def _first_owner(self, leaves: list[_Shape], i: int, points: np.ndarray,
                     tol: float) -> np.ndarray:
        """Points of leaf ``i`` not on the boundary of an earlier leaf (no double counting)."""
        keep = np.ones(len(points), dtype=bool)
        for j in range(i):
            keep &= ~leaves[j]._boundary_info(points, tol)[0]
        return keep

    def _boundary_points(self, n: int, method: str, seed: int | None,
                         extra: int) -> tuple[np.ndarray, np.ndarray]:
        leaves = self._leaves()
        measures = np.array([leaf.boundary_measure for leaf in leaves])
        probs = measures / measures.sum()
        dims = [leaf._boundary_unit_dim for leaf in leaves]
        samplers = [_UnitSampler(k + extra, method, _derive_seed(seed, i))
                    for i, k in enumerate(dims)]
        rng = np.random.default_rng(_derive_seed(seed, len(leaves)))
        tol = self._abs_tol(DEFAULT_TOL)
        d = self._dim

        def draw(m: int) -> np.ndarray:
            counts = _largest_remainder(m, probs)  # each part its share, for every method
            rows = [np.empty((0, d + extra))]
            for i, (leaf, count) in enumerate(zip(leaves, counts)):
                if count == 0:
                    continue
                u = samplers[i].draw(int(count))
                points = leaf._boundary_from_unit(u[:, :dims[i]])
                keep = self._first_owner(leaves, i, points, tol)
                rows.append(np.concatenate([points[keep], u[keep, dims[i]:]], axis=1))
            return np.concatenate(rows)

        def accept(rows: np.ndarray) -> np.ndarray:
            return self._classify(rows[:, :d], tol)[1]

        out = _rejection_sample(draw, accept, n, f"boundary of {self!r}")
        if method == "random":
            out = out[rng.permutation(len(out))]
        return out[:, :d], out[:, d:]

    def _boundary_grid(self, n: int) -> np.ndarray:
        leaves = self._leaves()
        measures = np.array([leaf.boundary_measure for leaf in leaves])
        tol = self._abs_tol(DEFAULT_TOL)
        cap = max(1 << 19, 32 * n)
        m = n
        found = total = 0
        while m <= cap:
            parts = [np.empty((0, self._dim))]
            for i, (leaf, count) in enumerate(zip(leaves, _largest_remainder(m, measures))):
                if count == 0:
                    continue
                points = leaf._boundary_grid(int(count))
                parts.append(points[self._first_owner(leaves, i, points, tol)])
            candidates = np.concatenate(parts)
            kept = candidates[self._classify(candidates, tol)[1]]
            found, total = len(kept), len(candidates)
            if found >= n:
                return _keep_evenly(kept, n)
            m = 4 * m if found == 0 else max(m + 1, math.ceil(1.05 * m * n / found))
        raise TidalArgumentError(
            f"the boundary of {self!r} appears empty (or too small for a grid): "
                         f"{found} of {total} grid points on its parts' boundaries are on it")


class Union(CSG):
    """The union ``a | b`` of two geometries.

    On a face shared by both parts with opposite normals the parts are glued and the face is
    interior; elsewhere the boundary is each part's boundary outside the other part.

    Example:
        >>> two = Rectangle((0.0, 0.0), (1.0, 1.0)) | Rectangle((1.0, 0.0), (2.0, 1.0))
        >>> two.on_boundary(np.array([[1.0, 0.5], [2.0, 0.5]])).tolist()
        [False, True]
        >>> bool(two.inside(two.sample_interior(64, method="lhs")).all())
        True
    """

    _symbol = "|"

    @staticmethod
    def _combined_bbox(a: Geometry, b: Geometry) -> tuple[np.ndarray, np.ndarray]:
        (alo, ahi), (blo, bhi) = a.bbox, b.bbox
        return np.minimum(alo, blo), np.maximum(ahi, bhi)

    @staticmethod
    def _combine(ia: np.ndarray, ib: np.ndarray, ba: np.ndarray, bb: np.ndarray,
                 same: np.ndarray, opposite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = ba & bb
        mask = (ba & ~bb & ~ib) | (bb & ~ba & ~ia) | (both & ~opposite)
        return ia | ib, mask


class Difference(CSG):
    """The difference ``a - b``: the closure of the points of ``a`` outside ``b``.

    Its boundary is ``a``'s boundary outside ``b`` plus ``b``'s boundary inside ``a`` (where the
    normal is ``b``'s flipped); a face shared with ``b`` is kept only where ``b`` lies on the
    outer side (the normals are not equal).

    Example:
        >>> ell = Rectangle((-1.0, -1.0), (1.0, 1.0)) - Rectangle((0.0, 0.0), (1.0, 1.0))
        >>> ell.on_boundary(np.array([[0.0, 0.5], [1.0, 0.5], [1.0, -0.5]])).tolist()
        [True, False, True]
        >>> ell.boundary_normal(np.array([[0.0, 0.5]])).tolist()
        [[1.0, 0.0]]
        >>> pts = ell.sample_boundary(40, method="sobol", seed=0)
        >>> bool(ell.on_boundary(pts).all())
        True
    """

    _symbol = "-"
    _flip_b = True

    @staticmethod
    def _combined_bbox(a: Geometry, b: Geometry) -> tuple[np.ndarray, np.ndarray]:
        return a.bbox

    @staticmethod
    def _combine(ia: np.ndarray, ib: np.ndarray, ba: np.ndarray, bb: np.ndarray,
                 same: np.ndarray, opposite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = ba & bb
        mask = (ba & ~bb & ~ib) | (bb & ~ba & ia) | (both & ~same)
        return (ia & ~ba & ~ib) | mask, mask


class Intersection(CSG):
    """The intersection ``a & b`` of two geometries.

    Its boundary is each part's boundary inside the other part; sampling an intersection of
    disjoint shapes raises ``TidalArgumentError`` (the region appears empty).

    Example:
        >>> lens = Disk((0.0, 0.0), 1.0) & Disk((1.0, 0.0), 1.0)
        >>> lens.inside(np.array([[0.5, 0.0], [-0.5, 0.0]])).tolist()
        [True, False]
        >>> pts = lens.sample_boundary(30, method="lhs", seed=2)
        >>> bool(lens.on_boundary(pts).all())
        True
    """

    _symbol = "&"

    @staticmethod
    def _combined_bbox(a: Geometry, b: Geometry) -> tuple[np.ndarray, np.ndarray]:
        (alo, ahi), (blo, bhi) = a.bbox, b.bbox
        return np.maximum(alo, blo), np.minimum(ahi, bhi)

    @staticmethod
    def _combine(ia: np.ndarray, ib: np.ndarray, ba: np.ndarray, bb: np.ndarray,
                 same: np.ndarray, opposite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = ba & bb
        mask = (ba & ~bb & ib) | (bb & ~ba & ia) | (both & ~opposite)
        return (ia & ib & ~ba & ~bb) | mask, mask


# --------------------------------------------------------------------------------------------
# Space-time
# --------------------------------------------------------------------------------------------


class SpaceTime(Geometry):
    """The product ``space x [t0, t1]``; points are ordered ``(x..., t)`` (time last).

    Also written ``space * time``. ``dim`` is ``space.dim + 1``. The boundary is the lateral
    boundary ``boundary(space) x [t0, t1]`` (the initial slice is separate:
    :meth:`sample_initial`, :meth:`on_initial`); its normals are the spatial normals with a zero
    time component. ``sample_interior`` samples the product jointly (LHS and Sobol in ``dim``
    dimensions; rejection in the bounding box for non-box spaces); ``sample_boundary`` draws the
    spatial boundary point and the time jointly (``"grid"``: a product of a spatial boundary grid
    and a cell-centred time grid, thinned evenly to ``n``).

    Args:
        space: the spatial geometry.
        time: the time interval.

    Raises:
        TypeError: when ``space`` is not a Geometry or ``time`` not a :class:`TimeDomain`.
        TidalArgumentError: when ``space`` is itself a SpaceTime.

    Example:
        >>> domain = Disk((0.0, 0.0), 1.0) * TimeDomain(0.0, 0.5)
        >>> domain.dim
        3
        >>> init = domain.sample_initial(8, method="sobol")
        >>> init[:, 2].tolist() == [0.0] * 8
        True
        >>> side = domain.sample_boundary(16, method="lhs")
        >>> bool(np.allclose(np.hypot(side[:, 0], side[:, 1]), 1.0))
        True
        >>> bool(np.allclose(domain.boundary_normal(side)[:, 2], 0.0))
        True
    """

    def __init__(self, space: Geometry, time: TimeDomain) -> None:
        if not isinstance(space, Geometry):
            raise TidalTypeError(f"space must be a Geometry, got {type(space).__name__}")
        if isinstance(space, SpaceTime):
            raise TidalArgumentError("space is already a SpaceTime; a domain has one time axis")
        if not isinstance(time, TimeDomain):
            raise TidalTypeError(f"time must be a TimeDomain, got {type(time).__name__}")
        (slo, shi), (tlo, thi) = space.bbox, time.bbox
        super().__init__(space.dim + 1, np.concatenate([slo, tlo]), np.concatenate([shi, thi]))
        self._space = space
        self._time = time

    @property
    def space(self) -> Geometry:
        """The spatial geometry."""
        return self._space

    @property
    def time(self) -> TimeDomain:
        """The time interval."""
        return self._time

    @property
    def boundary_measure(self) -> float:
        """Measure of the lateral boundary: spatial boundary measure times ``t1 - t0``."""
        return self._space.boundary_measure * (self._time.t1 - self._time.t0)

    def __repr__(self) -> str:
        return f"SpaceTime({self._space!r}, {self._time!r})"

    def on_initial(self, points: npt.ArrayLike, tol: float = DEFAULT_TOL) -> np.ndarray:
        """Whether each point is on the initial slice ``t = t0`` (spatial part inside).

        Args:
            points: array of shape ``(n, dim)``.
            tol: relative tolerance (see the module documentation).

        Returns:
            Bool array of shape ``(n,)``.
        """
        x = _as_points(points, self._dim)
        atol = self._abs_tol(tol)
        return (np.abs(x[:, -1] - self._time.t0) <= atol) & self._space._inside(x[:, :-1], atol)

    def sample_initial(self, n: int, method: str = "random", seed: int | None = 0) -> np.ndarray:
        """Exactly ``n`` points ``(x, t0)`` with ``x`` sampled in the spatial interior.

        Args:
            n: number of points (positive).
            method: one of :data:`METHODS`.
            seed: seed of the random and quasi-random methods.

        Returns:
            Float64 array of shape ``(n, dim)`` whose last column is ``t0``.
        """
        xs = self._space.sample_interior(n, method, seed)
        return np.concatenate([xs, np.full((len(xs), 1), self._time.t0)], axis=1)

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, :-1], x[:, -1:]

    def _inside(self, x: np.ndarray, tol: float) -> np.ndarray:
        xs, t = self._split(x)
        return self._space._inside(xs, tol) & self._time._inside(t, tol)

    def _boundary_info(self, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        xs, t = self._split(x)
        mask, normals = self._space._boundary_info(xs, tol)
        mask = mask & self._time._inside(t, tol)
        out = np.concatenate([normals, np.zeros((len(x), 1))], axis=1)
        out[~mask] = np.nan
        return mask, out

    def _boundary_points(self, n: int, method: str, seed: int | None,
                         extra: int) -> tuple[np.ndarray, np.ndarray]:
        xs, u = self._space._boundary_points(n, method, seed, extra + 1)
        t0, t1 = self._time.t0, self._time.t1
        t = np.minimum(t0 + (t1 - t0) * u[:, :1], t1)
        return np.concatenate([xs, t], axis=1), u[:, 1:]

    def _boundary_grid(self, n: int) -> np.ndarray:
        if self._space.dim == 1:
            n_space, n_time = 2, math.ceil(n / 2)
        else:
            n_time = math.ceil(n ** (1.0 / self._space.dim))
            n_space = math.ceil(n / n_time)
        xs = self._space._boundary_grid(n_space)
        t = _box_grid(self._time._lo, self._time._hi, n_time)
        points = np.concatenate([np.repeat(xs, n_time, axis=0), np.tile(t, (n_space, 1))], axis=1)
        return _keep_evenly(points, n)
