"""Smoke in a closed 2-D box: stable fluids (semi-Lagrangian advection, buoyancy and a pressure
projection by conjugate gradients), simulated and fitted in tidal.

On an ``n x n`` grid of cells (velocity and density at the cell centres, nothing flows through
the walls: values beyond them are zero), one step is

1. advection (a ``td.kernel``, parallel over cells): trace each cell back along its velocity
   for ``dt`` and read density and velocity there by bilinear interpolation; add the density
   source, the buoyancy ``dt * buoyancy * density`` to the upward velocity and ``dt * force``
   to the velocity; divide the density by ``1 + dt * dissipation`` and the velocity by
   ``1 + dt * damping`` (implicit decay; both rates are 0 by default, which changes nothing);
2. projection: ``u <- P u* = u* - G (G^T G)^{-1} G^T u*``, with ``G`` the central-difference
   gradient, ``-G^T`` the matching divergence and ``(G^T G) q = G^T u*`` solved by conjugate
   gradients (``G^T G`` is symmetric positive definite for an even ``n``). ``P`` is the
   orthogonal projection onto discretely divergence-free fields (``G^T u = 0`` to the solver's
   tolerance).

The projection is a :class:`tidal.LinearMap`: derivatives go through the exact linear map, not
through the solver's iterations. ``P`` is symmetric, so its adjoint (and its tangent) is one
more projection, another conjugate-gradient solve. Nothing of the solve is stored, and the
gradient stays finite over hundreds of steps. Both runs (``advance(t)`` per step, ``rollout()``
every step) launch the same two pieces in turn; there is no one-launch rollout, because the
solve sits between launches. Every state is stored (``d[t]``, ``u[t]``), or one window with
``checkpoint_every``.

Named parameters that :func:`tidal.fit` can fit: ``"d0"`` (initial density), ``"v0"`` (initial
velocity, ``(n, n, 2)``), ``"source"`` (density added per unit time, ``(n, n)``),
``"buoyancy"``, ``"force"`` (acceleration, ``(n, n, 2)``), ``"dissipation"`` and ``"damping"``
(decay rates of the density and of the velocity). Sources, forces and rates can also be changed
between :meth:`~tidal.physics.simulator.Simulator.advance_live` calls (the fluid demo's mouse).
Observations are densities, ``(steps + 1, n, n)``, NaN where not observed.
"""

import warnings

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics.simulator import Simulator


class Smoke2D(Simulator):
    """Buoyant smoke stirred by its own weight in a closed square box.

    Args:
        d0: ``(n, n)`` initial density (``n`` even, at least 4).
        steps: number of time steps.
        dt: time step (in cells per unit velocity: the backtrace moves ``dt * u`` cells).
        v0: ``(n, n, 2)`` initial velocity (default 0).
        source: ``(n, n)`` density added per unit time (default 0).
        buoyancy: upward acceleration per unit density.
        force: ``(n, n, 2)`` acceleration of the velocity (default 0; a stirring force).
        dissipation: decay rate of the density per unit time (default 0: none).
        damping: decay rate of the velocity per unit time (default 0: none).
        smoothing: weight of ``sum |grad d0|^2`` added to the fitting loss (a prior for
            fitting the initial density from few observations).
        tol: relative residual at which the pressure solve stops (default ``1e-12`` in
            float64, ``1e-6`` in float32).
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Smoke2D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> d0 = np.zeros((8, 8)); d0[2:4, 3:5] = 1.0
        >>> smoke = Smoke2D(d0, steps=5, dt=0.5, buoyancy=1.0)
        >>> smoke.simulate().shape
        (6, 8, 8)
        >>> bool(np.abs(smoke.divergence()).max() < 1e-9)  # the last velocity field
        True
    """

    def __init__(self, d0, steps: int, dt: float = 0.5, v0=None, source=None,
                 buoyancy: float = 1.0, smoothing: float = 0.0, tol: float | None = None,
                 checkpoint_every: int | None = None, force=None, dissipation: float = 0.0,
                 damping: float = 0.0):
        d0 = np.asarray(d0, dtype=np.float64)
        if d0.ndim != 2 or d0.shape[0] != d0.shape[1] or d0.shape[0] < 4 or d0.shape[0] % 2:
            raise TidalArgumentError(f"d0 must be an (n, n) field with n even and at least 4, "
                                     f"got shape {np.shape(d0)}",
                                     hint="the pressure solve needs an even n")
        n = d0.shape[0]
        window = self._plan(steps, checkpoint_every, per_step=12 * n * n)
        if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
            raise TidalArgumentError(f"dt must be a positive number, got {dt!r}")
        if not (np.isfinite(smoothing) and smoothing >= 0):
            raise TidalArgumentError(f"smoothing must be non-negative, got {smoothing!r}")
        self.n, self.dt, self.smoothing = n, float(dt), float(smoothing)
        self._values = {"d0": np.zeros((n, n)), "v0": np.zeros((n, n, 2)),
                        "source": np.zeros((n, n)), "buoyancy": np.array(0.0),
                        "force": np.zeros((n, n, 2)), "dissipation": np.array(0.0),
                        "damping": np.array(0.0)}
        for name, value in (("d0", d0), ("v0", v0), ("source", source),
                            ("buoyancy", buoyancy), ("force", force),
                            ("dissipation", dissipation), ("damping", damping)):
            if value is not None:
                self.set(name, value)
        fp = runtime.config().default_fp
        real = fp.taichi
        self.tol = (1e-12 if real == ti.f64 else 1e-6) if tol is None else float(tol)
        cells = (window + 1, n, n)
        self.d = ti.field(real, shape=cells, needs_grad=True)
        self.u = ti.Vector.field(2, real, shape=cells, needs_grad=True)
        self.u_star = ti.Vector.field(2, real, shape=cells, needs_grad=True)
        self.S = ti.field(real, shape=(n, n), needs_grad=True)
        self.B = ti.field(real, shape=(), needs_grad=True)
        self.F = ti.Vector.field(2, real, shape=(n, n), needs_grad=True)
        self.K = ti.field(real, shape=(), needs_grad=True)  # the density's decay rate
        self.Q = ti.field(real, shape=(), needs_grad=True)  # the velocity's decay rate
        self.data = ti.field(real, shape=cells)
        self.weights = ti.field(real, shape=cells)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self._solver = _Projection(n, real, self.tol)
        self.project = td.LinearMap(self._solver.apply, self._solver.transpose, slice_arg=0,
                                    name="the pressure projection")
        self._kernels()

    # -- the step: advection (a tidal kernel), then the projection (a linear map) --------------
    def _kernels(self) -> None:
        d, u, u_star, S, B = self.d, self.u, self.u_star, self.S, self.B
        F, K, Q = self.F, self.K, self.Q
        data, weights, loss = self.data, self.weights, self.loss
        n, dt, window, smoothing = self.n, self.dt, self.window, self.smoothing
        top = float(n - 1)

        @td.func
        def corner(x: float) -> ti.i32:
            """The lower of the two cells around ``x`` (within the grid)."""
            return ti.min(ti.max(ti.cast(ti.floor(x), ti.i32), 0), n - 2)

        @td.kernel
        def advect(t: ti.i32):
            for i, j in ti.ndrange(n, n):
                x = ti.min(ti.max(i - dt * u[t, i, j][0], 0.0), top)
                y = ti.min(ti.max(j - dt * u[t, i, j][1], 0.0), top)
                i0 = corner(x)
                j0 = corner(y)
                fx = x - i0
                fy = y - j0
                w00 = (1.0 - fx) * (1.0 - fy)
                w10 = fx * (1.0 - fy)
                w01 = (1.0 - fx) * fy
                w11 = fx * fy
                d[t + 1, i, j] = (w00 * d[t, i0, j0] + w10 * d[t, i0 + 1, j0]
                                  + w01 * d[t, i0, j0 + 1] + w11 * d[t, i0 + 1, j0 + 1]
                                  + dt * S[i, j]) / (1.0 + dt * K[None])
                lift = ti.Vector([0.0, dt * B[None] * d[t, i, j]])
                u_star[t + 1, i, j] = (w00 * u[t, i0, j0] + w10 * u[t, i0 + 1, j0]
                                       + w01 * u[t, i0, j0 + 1] + w11 * u[t, i0 + 1, j0 + 1]
                                       + lift + dt * F[i, j]) / (1.0 + dt * Q[None])

        def advance(t: int) -> None:
            """One step: advection, then the projection of the new velocity."""
            advect(t)
            self.project([u_star], [u], t + 1)

        def rollout() -> None:
            """Every step of the window in turn (the solve sits between launches)."""
            for t in range(window):
                advance(t)

        @td.kernel
        def mismatch():
            for t, i, j in ti.ndrange(window + 1, n, n):
                r = d[t, i, j] - data[t, i, j]
                loss[None] += weights[t, i, j] * r * r

        @td.kernel
        def roughness():
            for i, j in ti.ndrange(n - 1, n - 1):
                gx = d[0, i + 1, j] - d[0, i, j]
                gy = d[0, i, j + 1] - d[0, i, j]
                loss[None] += smoothing * (gx * gx + gy * gy)

        self.advect, self.advance, self.rollout, self.mismatch = advect, advance, rollout, \
            mismatch
        self._roughness = roughness

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {"d0": (self.d, True), "v0": (self.u, True), "source": (self.S, False),
                "buoyancy": (self.B, False), "force": (self.F, False),
                "dissipation": (self.K, False), "damping": (self.Q, False)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name in ("dissipation", "damping") and not value >= 0:
            raise TidalArgumentError(f"{name} must be non-negative, got {float(value)}")

    def _load_more(self) -> None:
        self.u_star.fill(0.0)

    def _before_run(self) -> None:
        self._solver.unconverged = 0

    def _extra_loss(self) -> None:
        if self.smoothing:
            self._roughness()

    def _after(self) -> None:
        if self._solver.unconverged:
            warnings.warn(f"the pressure solve stopped short of tol={self.tol:g} "
                          f"{self._solver.unconverged} times", TidalWarning, stacklevel=3)

    def simulate(self, whole: bool = True) -> np.ndarray:
        """Densities ``(steps + 1, n, n)``."""
        out = super().simulate(whole)
        self._after()
        return out

    def velocities(self) -> np.ndarray:
        """The velocity fields the run held last, ``(window + 1, n, n, 2)``."""
        return self.u.to_numpy().astype(np.float64)

    def divergence(self, t: int = -1) -> np.ndarray:
        """``G^T u`` of the stored velocity at step ``t`` of the window (zero after a
        projection, to the solver's tolerance)."""
        return _transposed_gradient(self.velocities()[t])

    @property
    def states(self):
        """The density at every step, ``d[t, i, j]`` (what :meth:`simulate` returns)."""
        return self.d

    layout = "steps + 1, n, n densities: NaN marks cells not observed"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.n, self.n)


def _transposed_gradient(w: np.ndarray) -> np.ndarray:
    """``G^T w`` in NumPy (zero beyond the walls), for checks."""
    pad = np.pad(w, ((1, 1), (1, 1), (0, 0)))
    return 0.5 * (pad[:-2, 1:-1, 0] - pad[2:, 1:-1, 0] + pad[1:-1, :-2, 1] - pad[1:-1, 2:, 1])


class _Projection:
    """``P w = w - G (G^T G)^{-1} G^T w`` on slices of vector fields, by conjugate gradients in
    one serial Taichi kernel (plain Taichi: these kernels are never differentiated)."""

    def __init__(self, n: int, real, tol: float):
        self.n, self.tol, self.unconverged = n, tol, 0
        self.rhs = ti.field(real, shape=(n, n))
        self.q = ti.field(real, shape=(n, n))
        self.r = ti.field(real, shape=(n, n))
        self.p = ti.field(real, shape=(n, n))
        self.Ap = ti.field(real, shape=(n, n))
        self.g = ti.Vector.field(2, real, shape=(n, n))
        self.iterations = ti.field(ti.i32, shape=())
        self.max_iterations = 4 * n * n
        self._build(real)

    def _build(self, real) -> None:
        n, rhs, q, r, p, Ap, g, iterations = self.n, self.rhs, self.q, self.r, self.p, \
            self.Ap, self.g, self.iterations

        @ti.func
        def at(f: ti.template(), i: ti.i32, j: ti.i32) -> real:
            v = ti.cast(0.0, real)
            if 0 <= i < n and 0 <= j < n:
                v = f[i, j]
            return v

        @ti.func
        def grad_of(f: ti.template()):
            for i, j in ti.ndrange(n, n):
                g[i, j] = 0.5 * ti.Vector([at(f, i + 1, j) - at(f, i - 1, j),
                                           at(f, i, j + 1) - at(f, i, j - 1)])

        @ti.func
        def gt_of_g(dst: ti.template()):
            for i, j in ti.ndrange(n, n):
                gx_l = ti.cast(0.0, real)
                gx_r = ti.cast(0.0, real)
                gy_d = ti.cast(0.0, real)
                gy_u = ti.cast(0.0, real)
                if i > 0:
                    gx_l = g[i - 1, j][0]
                if i < n - 1:
                    gx_r = g[i + 1, j][0]
                if j > 0:
                    gy_d = g[i, j - 1][1]
                if j < n - 1:
                    gy_u = g[i, j + 1][1]
                dst[i, j] = 0.5 * (gx_l - gx_r + gy_d - gy_u)

        @ti.kernel
        def load(w: ti.template(), s: ti.i32):
            for i, j in ti.ndrange(n, n):
                g[i, j] = w[s, i, j]

        @ti.kernel
        def solve(tol: real, max_iterations: ti.i32):
            """``(G^T G) q = G^T g``, then ``g = G q``; ``iterations``: how many it took (-1:
            not converged)."""
            for _ in range(1):  # serial: the loop over iterations runs in order
                gt_of_g(rhs)
                bb = ti.cast(0.0, real)
                for i, j in ti.ndrange(n, n):
                    q[i, j] = 0.0
                    r[i, j] = rhs[i, j]
                    p[i, j] = rhs[i, j]
                    bb += rhs[i, j] * rhs[i, j]
                rr = bb
                k = 0
                while k < max_iterations and rr > tol * tol * bb:
                    grad_of(p)
                    gt_of_g(Ap)
                    pAp = ti.cast(0.0, real)
                    for i, j in ti.ndrange(n, n):
                        pAp += p[i, j] * Ap[i, j]
                    alpha = rr / pAp
                    rr_new = ti.cast(0.0, real)
                    for i, j in ti.ndrange(n, n):
                        q[i, j] += alpha * p[i, j]
                        r[i, j] -= alpha * Ap[i, j]
                        rr_new += r[i, j] * r[i, j]
                    beta = rr_new / rr
                    for i, j in ti.ndrange(n, n):
                        p[i, j] = r[i, j] + beta * p[i, j]
                    rr = rr_new
                    k += 1
                iterations[None] = k if rr <= tol * tol * bb else -1
                grad_of(q)

        @ti.kernel
        def finish(w: ti.template(), s: ti.i32, dst: ti.template(), d: ti.i32):
            """``dst[d] = w[s] - G q`` (``G q`` is in ``g``)."""
            for i, j in ti.ndrange(n, n):
                dst[d, i, j] = w[s, i, j] - g[i, j]

        @ti.kernel
        def accumulate(w: ti.template(), s: ti.i32, into: ti.template()):
            """``into[s] += w[s] - G q``, then ``w[s] = 0``."""
            for i, j in ti.ndrange(n, n):
                into[s, i, j] += w[s, i, j] - g[i, j]
                w[s, i, j] = ti.Vector([0.0, 0.0])

        self._load, self._solve, self._finish, self._accumulate = load, solve, finish, \
            accumulate

    def _project(self, w, s: int) -> None:
        """Leave ``G q`` in ``g`` for the slice ``w[s]``."""
        self._load(w, s)
        self._solve(self.tol, self.max_iterations)
        if self.iterations[None] < 0:
            self.unconverged += 1

    def apply(self, srcs, dsts, s: int) -> None:
        """``dsts[0][s] = P srcs[0][s]``."""
        self._project(srcs[0], s)
        self._finish(srcs[0], s, dsts[0], s)

    def transpose(self, dsts_bar, srcs_bar, s: int) -> None:
        """``srcs_bar[0][s] += P dsts_bar[0][s]`` (P is symmetric), then ``dsts_bar[0][s] =
        0``."""
        self._project(dsts_bar[0], s)
        self._accumulate(dsts_bar[0], s, srcs_bar[0])
