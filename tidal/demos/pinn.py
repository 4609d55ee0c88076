"""PINN live: a physics-informed network learns Burgers' equation while you watch.

The problem is the one of ``examples/pinn_burgers.py`` (Raissi et al.): ``u_t + u u_x -
(0.01 / pi) u_xx = 0`` on ``[-1, 1] x [0, 1]``, ``u(x, 0) = -sin(pi x)``, ``u(+-1, t) = 0``, as a
:class:`tidal.solvers.Problem` with a small :class:`~tidal.solvers.MLP` and a small point set so
that it starts in seconds. Each frame runs a few Adam steps of a
:class:`~tidal.solvers.Trainer` (``keep_moments=True``: the frames together are one Adam run)
and shows the network's ``u(x, t)`` beside the exact (Cole-Hopf) solution of
:func:`tidal.solvers.exact.burgers_exact`, the pointwise error, the loss and the relative L2
error, and slices at three times.
"""

from __future__ import annotations

import math

import numpy as np

from tidal.demos import _plot
from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEAL, TEXT, Canvas, hex_color
from tidal.demos.widgets import Button, Slider

NU = 0.01 / math.pi
SLICES = (0.25, 0.5, 0.75)
SLICE_COLORS = (hex_color(0x7FA7C0), hex_color(0xF7D08A), hex_color(0xED553B))


class PINNDemo(Demo):
    """PINN live (``python -m tidal.demos pinn``).

    Args:
        width, depth: the network's hidden layers.
        collocation: residual points (Latin hypercube).
        boundary: points on the initial line and on the two walls (each).
        steps: Adam steps per frame.
        lr: Adam's learning rate.
        seed: the network's and the points' seed.
        grid: ``(nx, nt)`` of the reference grid the error is measured on.

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f32)
        >>> from tidal.demos.app import run
        >>> demo = PINNDemo(width=8, depth=2, collocation=200, steps=5)
        >>> _ = run(demo, headless=True, frames=4, quiet=True)
        >>> demo.losses[-1] < demo.losses[0]
        True
    """

    order = 51
    name = "pinn"
    title = "tidal: PINN live (Burgers' equation)"
    summary = "a physics-informed network learns Burgers' shock, a few Adam steps per frame"
    help = "r restart with a new network   +/- learning rate"
    view = 640

    def __init__(self, width: int = 20, depth: int = 3, collocation: int = 2000,
                 boundary: int = 100, steps: int = 20, lr: float = 1e-2, seed: int = 0,
                 grid: tuple[int, int] = (96, 50)):
        from tidal.solvers.exact import burgers_exact

        self.width, self.depth, self.collocation = width, depth, collocation
        self.boundary, self.steps, self.lr, self.seed = boundary, int(steps), float(lr), seed
        nx, nt = grid
        self.x = np.linspace(-1.0, 1.0, nx)
        self.t = np.linspace(0.0, 1.0, nt)
        self.exact = burgers_exact(self.x[:, None], self.t[None, :])  # (nx, nt)
        self.restart()

    def restart(self) -> None:
        """A fresh network (the next seed after the first) and a fresh Adam run."""
        from tidal.solvers import (
            MLP,
            DirichletBC,
            InitialCondition,
            Interval,
            Problem,
            TimeDomain,
            Trainer,
        )
        from tidal.solvers.burgers import burgers_residual

        domain = Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0)
        net = MLP(2, width=self.width, depth=self.depth, seed=self.seed, lo=[-1, 0], hi=[1, 1])
        self.problem = Problem(domain, burgers_residual(NU, net.dtype), [
            InitialCondition(domain, lambda p: -np.sin(np.pi * p[:, 0]), n=self.boundary),
            DirichletBC(domain, 0.0, n=self.boundary),
        ], net, n_collocation=self.collocation, method="lhs", seed=self.seed)
        # keep_best=False and keep_moments: short calls make one Adam run
        self.trainer = Trainer(self.problem, self.problem.get_flat(), progress=False,
                               log_every=max(self.steps, 1), keep_best=False)
        self.seed += 1
        self.losses: list[float] = []
        self.errors: list[float] = []
        self.at_step: list[int] = []
        self.u = self._predict()

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("learning rate", 1e-4, 3e-2, self.lr, self._set_lr, log=True, fmt=".2g"),
            Slider("Adam steps/frame", 1, 100, self.steps, self._set_steps, fmt=".0f"),
            Button("restart: new network (r)", self.restart),
        ]

    def _set_lr(self, value: float) -> None:
        self.lr = value

    def _set_steps(self, value: float) -> None:
        self.steps = max(1, int(round(value)))

    def key(self, key: str) -> None:
        if key == "r":
            self.restart()
        elif key in ("+", "="):
            self.lr = min(self.lr * 2.0, 3e-2)
        elif key == "-":
            self.lr = max(self.lr / 2.0, 1e-4)

    # -- the loop ------------------------------------------------------------------------------
    def _predict(self) -> np.ndarray:
        self.problem.set_flat(self.trainer.params)
        return self.problem.predict_grid(self.x, self.t)

    def relative_error(self) -> float:
        """The relative L2 error of the current network against the exact solution."""
        return float(np.linalg.norm(self.u - self.exact) / np.linalg.norm(self.exact))

    def frame(self, inputs: Inputs) -> None:
        self.trainer.adam(self.steps, lr=self.lr, keep_moments=True)
        self.losses.append(float(self.trainer.history.loss[-1]))
        self.at_step.append(self.trainer.step)
        self.u = self._predict()
        self.errors.append(self.relative_error())

    # -- drawing -------------------------------------------------------------------------------
    def draw(self, canvas: Canvas) -> None:
        canvas.text("PINN: u_t + u u_x = (0.01/pi) u_xx,  u(x,0) = -sin(pi x),  u(+-1,t) = 0",
                    (0.02, 0.985), TEXT, 14)
        error = np.abs(self.u - self.exact)
        top, bottom, w, gap = 0.9, 0.6, 0.28, 0.045
        fields = [("network u(x, t)", self.u, "RdBu_r", (-1.0, 1.0)),
                  ("exact u(x, t)", self.exact, "RdBu_r", (-1.0, 1.0)),
                  (f"|error| (max {error.max():.2f})", error, "magma",
                   (0.0, max(float(error.max()), 1e-3)))]
        for k, (title, values, cmap, limits) in enumerate(fields):
            x0 = 0.06 + k * (w + gap)
            canvas.field(values.T, (x0, bottom), (x0 + w, top), cmap, limits)  # t across
            panel = _plot.Panel((x0, bottom), (x0 + w, top), (0.0, 1.0), (-1.0, 1.0))
            panel.frame(canvas, title, "t")
            if k == 0:
                canvas.text("x", (x0 - 0.03, 0.5 * (top + bottom) + 0.01), _plot.DIM, 12)
            for s, color in zip(SLICES, SLICE_COLORS):
                canvas.lines(panel.map([s], [-1.0]), panel.map([s], [-0.93]), color, 2.0)

        steps = np.asarray(self.at_step, dtype=np.float64)
        curves = _plot.Panel((0.08, 0.08), (0.47, 0.43), (0, max(steps[-1] if len(steps) else 1,
                                                                  100)),
                             (min(self.losses + self.errors + [1e-2]) / 2,
                              max(self.losses + self.errors + [1.0]) * 2), ylog=True)
        curves.frame(canvas, "loss and relative L2 error (log)", "Adam step")
        if self.losses:
            curves.curve(canvas, steps, self.losses, TEAL, 2.0)
            curves.curve(canvas, steps, self.errors, ACCENT, 2.0)
        _plot.legend(canvas, (0.1, 0.42), [("loss", TEAL), ("rel. L2", ACCENT)])

        slices = _plot.Panel((0.59, 0.08), (0.97, 0.43), (-1.0, 1.0), (-1.15, 1.15))
        slices.frame(canvas, "u(x) at t = 0.25, 0.5, 0.75", "x")
        for s, color in zip(SLICES, SLICE_COLORS):
            j = int(np.argmin(np.abs(self.t - s)))
            slices.curve(canvas, self.x, self.exact[:, j], color, 1.0)
            slices.dashed(canvas, self.x, self.u[:, j], color, 2.0)
        canvas.text("exact thin, network dashed", (0.6, 0.425), _plot.DIM, 11)

        err = f"{self.errors[-1]:.3f}" if self.errors else "-"
        loss = f"{self.losses[-1]:.3g}" if self.losses else "-"
        canvas.text(f"Adam step {self.trainer.step}   loss {loss}   relative L2 error {err}   "
                    f"lr {self.lr:.2g}", (0.06, 0.555), GOLD, 14)
        canvas.text(f"network 2 -> {self.depth} x {self.width} tanh -> 1, "
                    f"{self.collocation} collocation points", (0.06, 0.525), TEXT, 12)

    def status(self) -> str:
        if not self.errors:
            return "starting"
        return (f"step {self.trainer.step}, loss {self.losses[-1]:.3g}, "
                f"rel. L2 {self.errors[-1]:.3f}")

    def state(self) -> dict:
        """Figures tests check: the loss and the error after each frame."""
        return {"losses": list(self.losses), "errors": list(self.errors),
                "step": self.trainer.step}
