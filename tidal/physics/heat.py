"""A differentiable 2-D heat equation on a square grid, written as tidal kernels.

Explicit finite differences with fixed (zero) boundary values; the diffusivity ``alpha`` is the
differentiable parameter. The solution is stored per time step (``u[t, i, j]``).
"""

from __future__ import annotations

import numpy as np
import taichi as ti

import tidal as td


class Heat2D:
    """u_t = alpha * (u_xx + u_yy) on an n x n grid, observed at sensor points.

    Args:
        u0: (n, n) initial temperature.
        steps: number of explicit time steps.
        dt_over_h2: dt / h^2 (the scheme is stable for alpha * dt / h^2 <= 1/4).
        sensors: (s, 2) grid indices where the solution is observed.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Heat2D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> heat = Heat2D(np.ones((5, 5)), steps=4, dt_over_h2=0.5, sensors=[[2, 2]])
        >>> readings = heat.readings(0.3)
        >>> readings.shape
        (5, 1)
    """

    def __init__(self, u0, steps: int, dt_over_h2: float, sensors):
        u0 = np.asarray(u0, dtype=np.float64)
        n = u0.shape[0]
        sensors = np.asarray(sensors, dtype=np.int32)
        self.n, self.steps, self.u0 = n, steps, u0
        self.alpha = ti.field(ti.f64, shape=(), needs_grad=True)
        self.u = ti.field(ti.f64, shape=(steps + 1, n, n), needs_grad=True)
        self.sensors = ti.field(ti.i32, shape=sensors.shape)
        self.sensors.from_numpy(sensors)
        self.observed = ti.field(ti.f64, shape=(steps + 1, len(sensors)))
        self.loss = ti.field(ti.f64, shape=(), needs_grad=True)
        u, alpha, sens, observed, loss = self.u, self.alpha, self.sensors, self.observed, \
            self.loss
        ns = len(sensors)
        r = dt_over_h2

        @td.kernel
        def step(t: ti.i32):
            for i, j in ti.ndrange((1, n - 1), (1, n - 1)):
                lap = u[t, i - 1, j] + u[t, i + 1, j] + u[t, i, j - 1] + u[t, i, j + 1] \
                    - 4.0 * u[t, i, j]
                u[t + 1, i, j] = u[t, i, j] + alpha[None] * r * lap

        @td.kernel
        def mismatch():
            for t, s in ti.ndrange(steps + 1, ns):
                d = u[t, sens[s, 0], sens[s, 1]] - observed[t, s]
                loss[None] += d * d

        self.step, self.mismatch = step, mismatch

    def reset(self, alpha: float) -> None:
        self.alpha[None] = alpha
        start = np.zeros((self.steps + 1, self.n, self.n))
        start[0] = self.u0
        self.u.from_numpy(start)
        self.loss[None] = 0.0

    def run(self):
        for t in range(self.steps):
            self.step(t)
        self.mismatch()
        return self.loss

    def readings(self, alpha: float) -> np.ndarray:
        """Simulated sensor readings, (steps + 1, sensors)."""
        self.reset(alpha)
        for t in range(self.steps):
            self.step(t)
        u = self.u.to_numpy()
        s = self.sensors.to_numpy()
        return u[:, s[:, 0], s[:, 1]]

    def observe(self, readings) -> None:
        self.observed.from_numpy(np.asarray(readings, dtype=np.float64))

    def value_and_grad(self, alpha: float):
        self.reset(alpha)
        with td.Tape(self.loss):
            self.run()
        return float(self.loss[None]), float(self.alpha.grad[None])
