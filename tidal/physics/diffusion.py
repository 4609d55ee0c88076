"""Diffusion with a spatially varying coefficient on a 2-D grid, simulated and fitted in tidal.

``u_t = div(kappa grad u) + source`` on an ``n x n`` grid of cells of size ``h``, explicit
finite volumes: each face takes the mean diffusivity of its two cells, boundary cells keep
their initial values (Dirichlet). The update of one cell is written once, as a ``td.func``;
from it come both kernels: ``advance(t)`` (one step of the whole grid, parallel over cells, for
interactive use) and ``rollout()`` (the whole time loop in one launch, for fitting). Every state
is stored (``u[t, i, j]``), so both give identical fields and the adjoint overwrites nothing.

The diffusivity field, the source field and the initial field are named parameters
(``"kappa"``, ``"source"``, ``"u0"``, each ``(n, n)``) that :func:`tidal.fit` can fit; a
smoothness penalty ``smoothing * sum |grad kappa|^2`` regularises fits of ``kappa`` from sparse
sensors.
"""

import warnings

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics.simulator import Simulator


class Diffusion2D(Simulator):
    """Diffusion with a diffusivity field, observed anywhere on the grid at any step.

    Args:
        kappa: ``(n, n)`` cell diffusivities (non-negative).
        u0: ``(n, n)`` initial field; its boundary cells stay fixed.
        dt: time step; explicit finite volumes are stable for ``dt max(kappa) / h^2 <= 1/4``
            (a run beyond that warns).
        steps: number of steps.
        h: cell size (default ``1 / (n - 1)``: the unit square).
        source: ``(n, n)`` source field (default 0).
        smoothing: weight of ``sum |grad kappa|^2`` added to the fitting loss.
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Diffusion2D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> u0 = np.zeros((8, 8)); u0[3:5, 3:5] = 1.0
        >>> sim = Diffusion2D(np.full((8, 8), 0.01), u0, dt=0.1, steps=20)
        >>> sim.simulate().shape
        (21, 8, 8)
    """

    def __init__(self, kappa, u0, dt: float, steps: int, h: float | None = None, source=None,
                 smoothing: float = 0.0, checkpoint_every: int | None = None):
        u0 = np.asarray(u0, dtype=np.float64)
        if u0.ndim != 2 or u0.shape[0] != u0.shape[1] or u0.shape[0] < 3:
            raise TidalArgumentError(f"u0 must be an (n, n) field with n >= 3, got shape "
                                     f"{np.shape(u0)}")
        n = u0.shape[0]
        window = self._plan(steps, checkpoint_every, per_step=4 * n * n)
        if not dt > 0:
            raise TidalArgumentError(f"dt must be positive, got {dt!r}")
        if smoothing < 0:
            raise TidalArgumentError(f"smoothing must be non-negative, got {smoothing!r}")
        self.n, self.dt = n, float(dt)
        self.h = 1.0 / (n - 1) if h is None else float(h)
        self.smoothing = float(smoothing)
        self._values = {"kappa": np.zeros((n, n)), "source": np.zeros((n, n)), "u0": u0.copy()}
        Diffusion2D.set(self, "kappa", kappa)  # (subclasses may rename parameters)
        if source is not None:
            Diffusion2D.set(self, "source", source)
        real = runtime.config().default_fp.taichi
        self.U = ti.field(real, shape=(window + 1, n, n), needs_grad=True)
        self.K = ti.field(real, shape=(n, n), needs_grad=True)
        self.S = ti.field(real, shape=(n, n), needs_grad=True)
        self.data = ti.field(real, shape=(window + 1, n, n))
        self.weights = ti.field(real, shape=(window + 1, n, n))
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self._warned = False
        self._kernels()

    # -- kernels, made from the one cell update -------------------------------------------------
    def _kernels(self) -> None:
        U, K, S, data, weights, loss = self.U, self.K, self.S, self.data, self.weights, self.loss
        n, steps, dt, smoothing = self.n, self.window, self.dt, self.smoothing
        r = self.dt / (self.h * self.h)

        @td.func
        def updated(t: ti.i32, i: ti.i32, j: ti.i32) -> float:
            """The cell's value at step t + 1 (boundary cells keep theirs)."""
            new = U[t, i, j]
            if 0 < i < n - 1 and 0 < j < n - 1:
                flux = 0.5 * (K[i, j] + K[i + 1, j]) * (U[t, i + 1, j] - U[t, i, j]) \
                    + 0.5 * (K[i, j] + K[i - 1, j]) * (U[t, i - 1, j] - U[t, i, j]) \
                    + 0.5 * (K[i, j] + K[i, j + 1]) * (U[t, i, j + 1] - U[t, i, j]) \
                    + 0.5 * (K[i, j] + K[i, j - 1]) * (U[t, i, j - 1] - U[t, i, j])
                new = U[t, i, j] + r * flux + dt * S[i, j]
            return new

        @td.kernel
        def advance(t: ti.i32):
            for i, j in ti.ndrange(n, n):
                U[t + 1, i, j] = updated(t, i, j)

        @td.kernel
        def rollout():
            for _ in range(1):  # one launch; the time loop and the grid run in order inside it
                for t in range(steps):
                    for i in range(n):
                        for j in range(n):
                            U[t + 1, i, j] = updated(t, i, j)

        @td.kernel
        def mismatch():
            for t, i, j in ti.ndrange(steps + 1, n, n):
                d = U[t, i, j] - data[t, i, j]
                loss[None] += weights[t, i, j] * d * d

        @td.kernel
        def roughness():
            for i, j in ti.ndrange(n - 1, n - 1):
                gx = K[i + 1, j] - K[i, j]
                gy = K[i, j + 1] - K[i, j]
                loss[None] += smoothing * (gx * gx + gy * gy)

        self.advance, self.rollout = advance, rollout
        self.mismatch, self._roughness = mismatch, roughness

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {"kappa": (self.K, False), "source": (self.S, False), "u0": (self.U, True)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name == "kappa" and np.any(value < 0):
            raise TidalArgumentError("kappa must be non-negative",
                                     hint="fit it with log_scale=True or bounds to keep it so")

    def stability(self) -> float:
        """``dt max(kappa) / h^2``: the explicit scheme is stable up to 1/4."""
        return self.dt * float(np.max(self._values["kappa"])) / (self.h * self.h)

    def _before_run(self) -> None:
        if not self._warned and self.stability() > 0.25:
            self._warned = True
            warnings.warn(f"dt max(kappa) / h^2 = {self.stability():.3g} is above 1/4, the "
                          f"stability limit of explicit diffusion: the field will blow up. Use "
                          f"dt <= {0.25 * self.h ** 2 / np.max(self._values['kappa']):.3g} "
                          f"(more steps)", TidalWarning, stacklevel=4)

    def _extra_loss(self) -> None:
        if self.smoothing:
            self._roughness()

    @property
    def states(self):
        """The field at every step, ``u[t, i, j]`` (what :meth:`simulate` returns)."""
        return self.U

    layout = "steps + 1, n, n: NaN marks cells without a sensor"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.n, self.n)
