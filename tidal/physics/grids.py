"""Grid PDEs in one space dimension, simulated and fitted in tidal: the wave equation, linear
advection-diffusion and viscous Burgers.

Each simulator follows :class:`~tidal.physics.diffusion.Diffusion2D`: the update of one cell is
written once, as a ``td.func`` ``updated(t, i)`` (the cell's value at step ``t + 1``); from it
come both kernels, ``advance(t)`` (one step, parallel over cells) and ``rollout()`` (the whole
time loop in one launch). Every state is stored (``U[t, i]``), so both kernels give identical
fields and the adjoint overwrites nothing.

What is guaranteed:

* :class:`Wave1D`: ``u_tt = c^2 u_xx + source`` on ``n`` nodes ``x_i = i h``, the two end nodes
  fixed at their initial values (Dirichlet); leapfrog in time (second order in time and
  space), the first step from ``u0`` and ``v0`` by Taylor's formula. Stable for
  ``c dt / h <= 1`` (the CFL limit).
* :class:`AdvectionDiffusion1D`: ``u_t + a u_x = D u_xx`` on a periodic grid of ``n`` cells
  ``x_i = i h``; explicit Euler in time, first-order upwind advection (the upwind side follows
  the sign of ``a``) and central diffusion. Stable (and monotone) for ``|a| dt / h + 2 D dt /
  h^2 <= 1``.
* :class:`Burgers1D`: ``u_t + (u^2 / 2)_x = nu u_xx`` on a periodic grid; explicit Euler in
  time, the conservative form with central differences of the flux ``u^2 / 2`` and of
  ``u_xx``, so the sum of ``u`` over the grid is conserved to rounding. Linearised at
  ``U = max |u0|`` it is stable for ``nu dt / h^2 <= 1/2`` and ``(U dt / h)^2 <= 2 nu dt /
  h^2``.

A run outside its stability limit warns once (``td.TidalWarning``). Scalar parameters live in
0-d fields, fields of cells in ``(n,)`` fields, the initial field in ``U[0]``; all are named
parameters that :func:`tidal.fit` can fit. Observations have the shape of the trajectory,
``(steps + 1, n)``, NaN marking cells without a sensor. Everything runs in the configured float
type (``td.init(default_fp=...)``).
"""

import warnings

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics.simulator import Simulator


class _Grid1D(Simulator):
    """What the 1-D grid simulators share: the parameters (scalars in 0-d fields, cell fields in
    ``(n,)`` fields, ``"u0"`` in ``U[0]``), the kernels made from one cell update, the loss and
    its derivatives."""

    #: names of the scalar parameters and of the (n,) cell fields (besides "u0")
    SCALARS: tuple = ()
    FIELDS: tuple = ()
    #: scalars that must not be negative
    NON_NEGATIVE: tuple = ()
    #: the smallest grid
    MIN_CELLS = 3
    layout = "steps + 1, n: NaN marks cells without a sensor"

    def _setup(self, u0, dt, steps, h, default_h, scalars: dict, fields: dict,
               checkpoint_every: int | None = None) -> None:
        u0 = np.asarray(u0, dtype=np.float64)
        if u0.ndim != 1 or u0.shape[0] < self.MIN_CELLS:
            raise TidalArgumentError(f"u0 must be an (n,) field with n >= {self.MIN_CELLS}, got "
                                     f"shape {np.shape(u0)}",
                                     hint="one value per grid point")
        n = u0.shape[0]
        window = self._plan(steps, checkpoint_every, per_step=4 * n)
        if not (isinstance(dt, (int, float, np.floating, np.integer)) and np.isfinite(dt)
                and dt > 0):
            raise TidalArgumentError(f"dt must be a positive number, got {dt!r}")
        h = default_h(n) if h is None else h
        if not (isinstance(h, (int, float, np.floating, np.integer)) and np.isfinite(h)
                and h > 0):
            raise TidalArgumentError(f"h must be a positive number, got {h!r}")
        self.n, self.dt, self.h = n, float(dt), float(h)
        self._values = {name: np.array(0.0) for name in self.SCALARS}
        self._values.update({name: np.zeros(n) for name in self.FIELDS})
        self._values["u0"] = np.zeros(n)
        self.set("u0", u0)
        for name, value in {**scalars, **fields}.items():
            if value is not None:
                self.set(name, value)
        fp = runtime.config().default_fp
        real = fp.taichi
        self.U = ti.field(real, shape=(window + 1, n), needs_grad=True)
        self._fields = {name: ti.field(real, shape=(), needs_grad=True) for name in self.SCALARS}
        self._fields.update({name: ti.field(real, shape=(n,), needs_grad=True)
                             for name in self.FIELDS})
        self.data = ti.field(real, shape=(window + 1, n))
        self.weights = ti.field(real, shape=(window + 1, n))
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self._warned = False

    def _kernels(self, updated) -> None:
        """``advance``, ``rollout`` and the loss kernel from the cell update ``updated``."""
        U, data, weights, loss = self.U, self.data, self.weights, self.loss
        n, steps = self.n, self.window

        @td.kernel
        def advance(t: ti.i32):
            for i in range(n):
                U[t + 1, i] = updated(t, i)

        @td.kernel
        def rollout():
            for _ in range(1):  # one launch; the time loop and the grid run in order inside it
                for t in range(steps):
                    for i in range(n):
                        U[t + 1, i] = updated(t, i)

        @td.kernel
        def mismatch():
            for t, i in ti.ndrange(steps + 1, n):
                d = U[t, i] - data[t, i]
                loss[None] += weights[t, i] * d * d

        self.advance, self.rollout, self.mismatch = advance, rollout, mismatch

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {**{name: (f, False) for name, f in self._fields.items()}, "u0": (self.U, True)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name in self.NON_NEGATIVE and np.any(value < 0):
            raise TidalArgumentError(f"{name} must be non-negative",
                                     hint="fit it with log_scale=True or bounds to keep it so")

    def _instability(self) -> str | None:
        """A sentence saying how the step size breaks the stability limit, or None."""
        return None

    def _before_run(self) -> None:
        if not self._warned:
            message = self._instability()
            if message is not None:
                self._warned = True
                warnings.warn(message, TidalWarning, stacklevel=4)

    @property
    def states(self):
        """The field at every step, ``U[t, i]`` (what :meth:`simulate` returns)."""
        return self.U

    def times(self) -> np.ndarray:
        """The time of every stored step."""
        return self.dt * np.arange(self.steps + 1)

    def x(self) -> np.ndarray:
        """The position of every grid point, ``i h``."""
        return self.h * np.arange(self.n)

    # -- what td.fit uses ----------------------------------------------------------------------
    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.n)


def _dirichlet_h(n: int) -> float:
    return 1.0 / (n - 1)


def _periodic_h(n: int) -> float:
    return 1.0 / n


class Wave1D(_Grid1D):
    """The wave equation ``u_tt = c^2 u_xx + source`` on a string with fixed ends.

    Leapfrog: ``u[t+1] = 2 u[t] - u[t-1] + (c dt / h)^2 (u[t]_{i+1} - 2 u[t]_i + u[t]_{i-1})
    + dt^2 source``; the first step is ``u[1] = u0 + dt v0 + (1/2)(c dt / h)^2 (u0_{i+1} - 2
    u0_i + u0_{i-1}) + (dt^2 / 2) source``. The end nodes keep their initial values.

    Args:
        c: wave speed (a non-negative scalar; only ``c^2`` enters).
        u0: ``(n,)`` initial displacement at ``x_i = i h``; its two end values stay fixed.
        v0: ``(n,)`` initial velocity (default 0; ignored at the ends).
        dt: time step; stable for ``c dt / h <= 1`` (a run beyond that warns).
        steps: number of steps.
        h: node spacing (default ``1 / (n - 1)``: the unit interval).
        source: ``(n,)`` source field (default 0).

    Named parameters: ``"c"``, ``"v0"``, ``"source"``, ``"u0"``.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Wave1D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = np.linspace(0.0, 1.0, 17)
        >>> sim = Wave1D(c=1.0, u0=np.sin(np.pi * x), dt=0.05, steps=40)
        >>> u = sim.simulate()
        >>> u.shape
        (41, 17)
        >>> round(float(u[-1, 8]), 3)  # after one period (t = 2) the string is back
        1.0
    """

    SCALARS = ("c",)
    FIELDS = ("v0", "source")
    NON_NEGATIVE = ("c",)

    def __init__(self, c: float, u0, dt: float, steps: int, v0=None, h: float | None = None,
                 source=None):
        self._setup(u0, dt, steps, h, _dirichlet_h, {"c": c}, {"v0": v0, "source": source})
        U, C, V, S = self.U, self._fields["c"], self._fields["v0"], self._fields["source"]
        n, dt = self.n, self.dt
        r2 = (self.dt / self.h) ** 2
        dt2 = self.dt * self.dt

        @td.func
        def updated(t: ti.i32, i: ti.i32) -> float:
            """The node's value at step t + 1 (the end nodes keep theirs)."""
            new = U[t, i]
            if 0 < i < n - 1:
                c2 = C[None] * C[None]
                lap = U[t, i + 1] - 2.0 * U[t, i] + U[t, i - 1]
                if t == 0:
                    new = U[t, i] + dt * V[i] + 0.5 * r2 * c2 * lap + 0.5 * dt2 * S[i]
                else:
                    new = 2.0 * U[t, i] - U[t - 1, i] + r2 * c2 * lap + dt2 * S[i]
            return new

        self._kernels(updated)

    def stability(self) -> float:
        """The Courant number ``c dt / h``: leapfrog is stable up to 1."""
        return abs(float(self._values["c"])) * self.dt / self.h

    def _instability(self) -> str | None:
        if self.stability() <= 1.0:
            return None
        return (f"c dt / h = {self.stability():.3g} is above 1, the CFL limit of the "
                f"leapfrog wave scheme: the field will blow up. Use dt <= "
                f"{self.h / abs(float(self._values['c'])):.3g} (more steps)")


class AdvectionDiffusion1D(_Grid1D):
    """Linear advection-diffusion ``u_t + a u_x = D u_xx`` on a periodic grid.

    Explicit Euler in time, first-order upwind advection, central diffusion: with ``C = a dt /
    h`` and ``d = D dt / h^2``, ``u[t+1]_i = u_i - C (u_i - u_{i-1}) + d (u_{i+1} - 2 u_i +
    u_{i-1})`` for ``a >= 0`` (``- C (u_{i+1} - u_i)`` for ``a < 0``), indices modulo ``n``.

    Args:
        velocity: the advection speed ``a`` (either sign).
        diffusivity: ``D`` (non-negative).
        u0: ``(n,)`` initial field at ``x_i = i h``.
        dt: time step; stable for ``|a| dt / h + 2 D dt / h^2 <= 1`` (a run beyond that
            warns).
        steps: number of steps.
        h: cell size (default ``1 / n``: the unit periodic interval).
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Named parameters: ``"velocity"``, ``"diffusivity"``, ``"u0"``.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import AdvectionDiffusion1D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = np.arange(32) / 32
        >>> sim = AdvectionDiffusion1D(1.0, 0.01, np.sin(2 * np.pi * x), dt=0.01, steps=50)
        >>> u = sim.simulate()
        >>> u.shape
        (51, 32)
        >>> round(float(u[-1].sum()), 12) == round(float(u[0].sum()), 12)  # mass is conserved
        True
    """

    SCALARS = ("velocity", "diffusivity")
    NON_NEGATIVE = ("diffusivity",)

    def __init__(self, velocity: float, diffusivity: float, u0, dt: float, steps: int,
                 h: float | None = None, checkpoint_every: int | None = None):
        self._setup(u0, dt, steps, h, _periodic_h,
                    {"velocity": velocity, "diffusivity": diffusivity}, {}, checkpoint_every)
        U, A, D = self.U, self._fields["velocity"], self._fields["diffusivity"]
        n = self.n
        p = self.dt / self.h
        q = self.dt / (self.h * self.h)

        @td.func
        def updated(t: ti.i32, i: ti.i32) -> float:
            """The cell's value at step t + 1."""
            left = i - 1
            if i == 0:
                left = n - 1
            right = i + 1
            if i == n - 1:
                right = 0
            a = A[None]
            here = U[t, i]
            upwind = here - U[t, left]
            if a < 0.0:
                upwind = U[t, right] - here
            return here - p * a * upwind + q * D[None] * (U[t, right] - 2.0 * here + U[t, left])

        self._kernels(updated)

    def stability(self) -> float:
        """``|a| dt / h + 2 D dt / h^2``: the scheme is stable up to 1."""
        return abs(float(self._values["velocity"])) * self.dt / self.h \
            + 2.0 * float(self._values["diffusivity"]) * self.dt / (self.h * self.h)

    def _instability(self) -> str | None:
        s = self.stability()
        if s <= 1.0:
            return None
        return (f"|a| dt / h + 2 D dt / h^2 = {s:.3g} is above 1, the stability limit of "
                f"explicit upwind advection-diffusion: the field will blow up. Use dt <= "
                f"{self.dt / s:.3g} (more steps)")


class Burgers1D(_Grid1D):
    """Viscous Burgers ``u_t + (u^2 / 2)_x = nu u_xx`` on a periodic grid.

    Explicit Euler in time, conservative central differences: ``u[t+1]_i = u_i - dt / (4 h)
    (u_{i+1}^2 - u_{i-1}^2) + nu dt / h^2 (u_{i+1} - 2 u_i + u_{i-1})``, indices modulo ``n``;
    the flux telescopes, so ``sum(u)`` is the same at every step.

    Args:
        viscosity: ``nu`` (non-negative).
        u0: ``(n,)`` initial field at ``x_i = i h``.
        dt: time step; with ``U = max |u0|`` stable for ``nu dt / h^2 <= 1/2`` and ``(U dt /
            h)^2 <= 2 nu dt / h^2`` (a run beyond either warns).
        steps: number of steps.
        h: cell size (default ``1 / n``: the unit periodic interval).
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Named parameters: ``"viscosity"``, ``"u0"``.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Burgers1D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = np.arange(32) / 32
        >>> sim = Burgers1D(0.05, 0.5 + np.sin(2 * np.pi * x), dt=0.005, steps=40)
        >>> u = sim.simulate()
        >>> u.shape
        (41, 32)
        >>> abs(float(u[-1].sum() - u[0].sum())) < 1e-12  # mass is conserved
        True
    """

    SCALARS = ("viscosity",)
    NON_NEGATIVE = ("viscosity",)

    def __init__(self, viscosity: float, u0, dt: float, steps: int, h: float | None = None,
                 checkpoint_every: int | None = None):
        self._setup(u0, dt, steps, h, _periodic_h, {"viscosity": viscosity}, {},
                    checkpoint_every)
        U, NU = self.U, self._fields["viscosity"]
        n = self.n
        p = self.dt / (4.0 * self.h)
        q = self.dt / (self.h * self.h)

        @td.func
        def updated(t: ti.i32, i: ti.i32) -> float:
            """The cell's value at step t + 1."""
            left = i - 1
            if i == 0:
                left = n - 1
            right = i + 1
            if i == n - 1:
                right = 0
            ul = U[t, left]
            ur = U[t, right]
            here = U[t, i]
            return here - p * (ur * ur - ul * ul) + q * NU[None] * (ur - 2.0 * here + ul)

        self._kernels(updated)

    def stability(self) -> tuple[float, float]:
        """``(nu dt / h^2, (U dt / h)^2 / (2 nu dt / h^2))`` with ``U = max |u0|``: the scheme
        is stable while the first is at most 1/2 and the second at most 1."""
        nu = float(self._values["viscosity"])
        d = nu * self.dt / (self.h * self.h)
        courant = float(np.max(np.abs(self._values["u0"]))) * self.dt / self.h
        ratio = courant * courant / (2.0 * d) if d > 0 else (np.inf if courant > 0 else 0.0)
        return d, ratio

    def _instability(self) -> str | None:
        d, ratio = self.stability()
        if d <= 0.5 and ratio <= 1.0:
            return None
        nu = float(self._values["viscosity"])
        top = float(np.max(np.abs(self._values["u0"])))
        limits = [0.5 * self.h * self.h / nu if nu > 0 else np.inf]
        if top > 0:
            limits.append(2.0 * nu / (top * top))
        return (f"nu dt / h^2 = {d:.3g} (limit 1/2) and (U dt / h)^2 / (2 nu dt / h^2) = "
                f"{ratio:.3g} (limit 1) with U = max |u0|: outside the stability limit of "
                f"explicit central Burgers, the field will blow up or oscillate. Use dt <= "
                f"{min(limits):.3g} (more steps)")
