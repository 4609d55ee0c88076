"""Fit while you watch: ``td.fit`` recovers a damped pendulum's length and damping from noisy
observations of its angle, one optimiser iteration at a time on screen.

The observations come from :func:`tidal.physics.pendulum` at hidden true parameters plus
Gaussian noise; the model is a second pendulum started at random parameters. Each call of
:func:`tidal.fit` runs a few iterations (L-BFGS-B by default, on log-scaled parameters)
continuing from the model's current values, and its ``callback`` hands every iterate to the
view, which shows one iterate per frame (``speed`` iterates per frame): the simulated angle over
the data, the loss (log scale) and the path of the parameters towards the truth.
"""

from __future__ import annotations

import math

import numpy as np

from tidal.demos import _plot
from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEAL, TEXT, Canvas, hex_color
from tidal.demos.widgets import Button, Slider

NAMES = ("length", "damping")
DATA = hex_color(0x7FA7C0)
PATH = hex_color(0xF7D08A)
# random starts: log-uniform in these ranges
START_RANGE = {"length": (0.4, 3.0), "damping": (0.03, 1.5)}


class FitDemo(Demo):
    """Fit while you watch (``python -m tidal.demos fit``).

    Args:
        truth: the hidden true ``{"length": ..., "damping": ...}``.
        noise: standard deviation of the observation noise (radians).
        steps, dt: the simulated time span (``steps * dt`` seconds).
        angle: the initial angle (radians; released at rest).
        method: ``td.fit``'s optimiser.
        batch: iterations per ``td.fit`` call.
        speed: iterates shown per frame (fractions: one every few frames).
        seed: seed of the noise and of the random starts.

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> from tidal.demos.app import run
        >>> demo = FitDemo(speed=5.0)
        >>> _ = run(demo, headless=True, frames=6, quiet=True)
        >>> demo.error() < demo.errors[0]
        True
    """

    order = 50
    name = "fit"
    title = "tidal: fit while you watch (td.fit on a damped pendulum)"
    summary = "td.fit recovers a pendulum's length and damping from noisy data, live"
    help = "r restart from a random start   n new data (new noise)"
    view = 600

    def __init__(self, truth: dict | None = None, noise: float = 0.05, steps: int = 300,
                 dt: float = 0.02, angle: float = 1.2, method: str = "L-BFGS-B",
                 batch: int = 5, speed: float = 0.34, seed: int = 0):
        from tidal.physics import pendulum

        self.truth = dict(truth or {"length": 1.3, "damping": 0.35})
        self.noise, self.method, self.batch, self.speed = float(noise), method, int(batch), speed
        self.rng = np.random.default_rng(seed)
        self.y0 = (float(angle), 0.0)
        self.true_model = pendulum(**self.truth, y0=self.y0, dt=dt, steps=steps)
        self.clean = self.true_model.simulate()  # (1, steps + 1, 2): angle, angular velocity
        self.times = self.true_model.times()
        self.model = pendulum(length=1.0, damping=0.1, y0=self.y0, dt=dt, steps=steps)
        self.new_data()
        self.restart()
        # compile the loss and its adjoint now (the first frame waits for it, not a later one)
        self.model.observe(self.data, None)
        self.model.loss_grad(list(NAMES))

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("noise", 0.0, 0.3, self.noise, self._set_noise),
            Slider("iterates/frame", 0.05, 5.0, self.speed, self._set_speed, log=True),
            Button("restart: random start (r)", self.restart),
            Button("new data: new noise (n)", self.new_data),
        ]

    def _set_noise(self, value: float) -> None:
        self.noise = value
        self.new_data()

    def _set_speed(self, value: float) -> None:
        self.speed = value

    def key(self, key: str) -> None:
        if key == "r":
            self.restart()
        elif key == "n":
            self.new_data()

    def new_data(self) -> None:
        """New observations: the true trajectory plus fresh noise (the fit goes on from where
        it is)."""
        self.data = self.clean + self.noise * self.rng.standard_normal(self.clean.shape)
        self.converged = False
        self.stalls = 0

    def restart(self) -> None:
        """Start the fit again from random parameters."""
        start = {n: float(np.exp(self.rng.uniform(*np.log(START_RANGE[n])))) for n in NAMES}
        for n in NAMES:
            self.model.set(n, start[n])
        self.current = dict(start)
        self.path = [dict(start)]
        self.losses: list[float] = []
        self.errors = [self._error(start)]
        self.queue: list = []
        self.credit = 0.0
        self.stalls = 0
        self.iteration = 0
        self.converged = False
        self.trajectory = self.model.simulate()[0]
        self.phase = 0.0

    # -- the loop ------------------------------------------------------------------------------
    def _error(self, values: dict) -> float:
        """Largest relative error of the parameters against the truth."""
        return max(abs(float(values[n]) - self.truth[n]) / self.truth[n] for n in NAMES)

    def _fit_more(self) -> None:
        """One ``td.fit`` call of ``batch`` iterations from the model's current values; its
        iterates go to the queue the view shows."""
        import tidal as td

        before = len(self.queue)
        result = td.fit(self.model, self.data, list(NAMES), method=self.method,
                        max_iter=self.batch, log_scale=True, progress=False, uncertainty=False,
                        callback=lambda k, values, loss: self.queue.append(
                            ({n: float(values[n]) for n in NAMES}, float(loss))))
        last = self.losses[-1] if self.losses else math.inf
        # a call that takes no iteration or gains nothing stalls; a fresh call may still move
        # (a float32 line search can give up early), so three stalls in a row end the fit
        if len(self.queue) == before or last - result.loss <= 1e-7 * abs(result.loss):
            self.stalls += 1
        else:
            self.stalls = 0
        self.converged = self.stalls >= 3

    def frame(self, inputs: Inputs) -> None:
        self.credit += self.speed
        shown = False
        while self.credit >= 1.0:
            self.credit -= 1.0
            if not self.queue and not self.converged:
                self._fit_more()
            if not self.queue:
                self.credit = 0.0
                break
            values, loss = self.queue.pop(0)
            self.current = values
            self.path.append(values)
            self.losses.append(loss)
            self.errors.append(self._error(values))
            self.iteration += 1
            shown = True
        if shown:
            for n in NAMES:
                self.model.set(n, self.current[n])
            self.trajectory = self.model.simulate()[0]
        self.phase = (inputs.frame % 90) / 90.0

    # -- drawing -------------------------------------------------------------------------------
    def draw(self, canvas: Canvas) -> None:
        canvas.text("td.fit: a damped pendulum's length and damping from noisy angles",
                    (0.02, 0.985), TEXT, 14)
        t = self.times
        angles = np.concatenate([self.data[0, :, 0], self.trajectory[:, 0]])
        limit = float(np.max(np.abs(angles[np.isfinite(angles)]))) * 1.1
        top = _plot.Panel((0.08, 0.57), (0.97, 0.9), (t[0], t[-1]), (-limit, limit))
        top.frame(canvas, "angle: data (dots) and simulation at the current parameters",
                  "t (s)")
        top.points(canvas, t, self.data[0, :, 0], DATA, 1.2)
        top.curve(canvas, t, self.trajectory[:, 0], ACCENT, 2.0)
        # a marker running along the simulated curve, so the view is alive after convergence
        k = int(self.phase * (len(t) - 1))
        canvas.circles(top.map([t[k]], [self.trajectory[k, 0]]), 4.0, GOLD)

        losses = np.asarray(self.losses) if self.losses else np.array([1.0])
        lo, hi = float(losses.min()), float(losses.max())
        loss_panel = _plot.Panel((0.08, 0.08), (0.47, 0.36), (0, max(len(self.losses), 10)),
                                 (lo / 2, hi * 2), ylog=True)
        loss_panel.frame(canvas, "loss (log scale)", "iteration")
        if self.losses:
            its = np.arange(1, len(self.losses) + 1)
            loss_panel.curve(canvas, its, losses, TEAL, 2.0)
            loss_panel.points(canvas, its[-1:], losses[-1:], GOLD, 3.5)

        (l_lo, l_hi), (d_lo, d_hi) = START_RANGE["length"], START_RANGE["damping"]
        plane = _plot.Panel((0.59, 0.08), (0.97, 0.36), (l_lo, l_hi), (d_lo, d_hi), xlog=True,
                            ylog=True)
        plane.frame(canvas, "parameters: path to the truth", "length (log)")
        canvas.text("damping (log)", (0.595, 0.355), _plot.DIM, 11)
        lengths = [p["length"] for p in self.path]
        dampings = [p["damping"] for p in self.path]
        plane.curve(canvas, lengths, dampings, PATH, 1.5)
        plane.points(canvas, lengths, dampings, PATH, 2.0)
        star = plane.map([self.truth["length"]], [self.truth["damping"]])[0]
        d = 7.0 / canvas.width
        canvas.lines([star - (d, 0), star - (0, d)], [star + (d, 0), star + (0, d)], GOLD, 2.0)
        plane.points(canvas, [self.current["length"]], [self.current["damping"]], ACCENT, 4.0)

        y = 0.525
        for n in NAMES:
            line = (f"{n:8s} {self.current[n]:8.4f}   truth {self.truth[n]:.4f}   "
                    f"error {100 * abs(self.current[n] - self.truth[n]) / self.truth[n]:6.2f} %")
            canvas.text(line, (0.08, y), TEXT, 13)
            y -= 0.03
        state = "converged" if self.converged and not self.queue else "fitting"
        canvas.text(f"{self.method}, iteration {self.iteration}: {state}", (0.08, y), GOLD, 13)

    def status(self) -> str:
        loss = f"loss {self.losses[-1]:.4g}" if self.losses else "loss -"
        return f"iteration {self.iteration}, {loss}, parameter error {100 * self.error():.2f} %"

    def error(self) -> float:
        """Largest relative error of the current parameters against the truth."""
        return self.errors[-1]

    def state(self) -> dict:
        """Figures tests check: current values, losses and errors so far."""
        return {"values": dict(self.current), "losses": list(self.losses),
                "errors": list(self.errors), "converged": self.converged}
