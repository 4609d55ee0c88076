"""Stable fluid: dye stirred by the mouse in a closed box.

Drives :class:`tidal.physics.Smoke2D` (semi-Lagrangian advection and a pressure projection,
the library's differentiable smoke) frame by frame with
:meth:`~tidal.physics.simulator.Simulator.advance_live`. A drag with the left button sets the
model's ``force`` (a Gaussian splat around the cursor along the drag, sized so that one frame
gives the fluid there about the drag's own velocity times the force slider) and its dye
``source`` at the cursor; the sliders set its ``dissipation``, ``damping`` and ``buoyancy``.
The view shows the dye, the vorticity or the speed (``v`` switches).
"""

from __future__ import annotations

import numpy as np

from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import BACKGROUND, GOLD, TEXT, Canvas
from tidal.demos.widgets import Button, Slider

VIEWS = {"dye": "magma", "vorticity": "RdBu_r", "speed": "viridis"}


def _smooth(values: np.ndarray, size: int) -> np.ndarray:
    """``values[i, j]`` on cell centres resampled bilinearly to ``size x size`` (so the canvas's
    nearest-neighbour scaling shows a smooth field)."""
    n = values.shape[0]
    at = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0.0, n - 1.0)
    lo = np.minimum(at.astype(np.int64), n - 2)
    f = at - lo
    rows = values[lo] * (1.0 - f)[:, None] + values[lo + 1] * f[:, None]
    return rows[:, lo] * (1.0 - f)[None, :] + rows[:, lo + 1] * f[None, :]


def _blob(n: int, centre, radius: float) -> np.ndarray:
    """A Gaussian of ``radius`` (unit square) around ``centre`` on the ``n x n`` cell centres."""
    x = (np.arange(n) + 0.5) / n
    g = np.exp(-((x[:, None] - centre[0]) ** 2 + (x[None, :] - centre[1]) ** 2)
               / (2.0 * radius ** 2))
    return g


def initial_state(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two dye blobs and a pair of counter-rotating eddies (``d0``, ``v0`` in cells per unit
    time), so the view moves before anyone stirs."""
    d0 = _blob(n, (0.33, 0.5), 0.08) + _blob(n, (0.67, 0.5), 0.08)
    x = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    v0 = np.zeros((n, n, 2))
    for cx, spin in ((0.33, 1.0), (0.67, -1.0)):
        g = spin * 0.15 * n * np.exp(-((X - cx) ** 2 + (Y - 0.5) ** 2) / (2 * 0.12 ** 2))
        v0[..., 0] += -(Y - 0.5) * g * 4.0
        v0[..., 1] += (X - cx) * g * 4.0
    return d0, v0


class Fluid(Demo):
    """The stable-fluid demo (``python -m tidal.demos fluid``).

    Args:
        n: cells per side (even).
        substeps: simulation steps per displayed frame.
        dt: time step (the backtrace moves ``dt * u`` cells).
        tol: relative residual of the pressure solve (loose is fine for a picture).
        radius: the stirring splat's radius (unit square).
        still: start from fluid at rest without dye and without auto-stir (default: two dye
            blobs in two eddies, stirred automatically until the mouse first stirs).
    """

    order = 10
    name = "fluid"
    title = "tidal: stable fluid"
    summary = "stable fluids (Smoke2D): drag with the left button to push dye around"
    help = "LMB drag: stir + dye  v: dye/vorticity/speed  space: auto-stir  r: reset"

    def __init__(self, n: int = 64, substeps: int = 2, dt: float = 1.0, tol: float = 1e-3,
                 radius: float = 0.05, still: bool = False):
        from tidal.physics import Smoke2D

        self.n, self.radius = n, radius
        d0, v0 = (np.zeros((n, n)), np.zeros((n, n, 2))) if still else initial_state(n)
        self.sim = Smoke2D(d0, steps=substeps, dt=dt, v0=v0, buoyancy=0.0, tol=tol,
                           dissipation=0.01, damping=0.005)
        self.T = substeps * dt  # simulated time per frame
        self.strength, self.dye_rate = 1.0, 0.5
        self.view_name = "dye"
        self.auto = not still  # a room sees motion at once; the first drag takes over
        self.last = None  # the cursor at the previous frame while the button is held
        self.density, self.velocity = d0, v0
        self.stirred = 0

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("force", 0.0, 3.0, self.strength, self._set_strength),
            Slider("dye decay", 0.0, 0.2, float(self.sim.get("dissipation")),
                   lambda v: self.sim.set("dissipation", v)),
            Slider("damping", 0.0, 0.2, float(self.sim.get("damping")),
                   lambda v: self.sim.set("damping", v)),
            Slider("buoyancy", 0.0, 0.5, float(self.sim.get("buoyancy")),
                   lambda v: self.sim.set("buoyancy", v)),
            Button(lambda: f"view: {self.view_name}", self.next_view),
            Button("reset", self.reset),
        ]

    def _set_strength(self, value: float) -> None:
        self.strength = value

    def next_view(self) -> None:
        names = list(VIEWS)
        self.view_name = names[(names.index(self.view_name) + 1) % len(names)]

    def reset(self) -> None:
        self.sim.restart_live()
        self.last = None

    def key(self, key: str) -> None:
        if key == "v":
            self.next_view()
        elif key == "space":
            self.auto = not self.auto
        elif key == "r":
            self.reset()

    # -- the loop ------------------------------------------------------------------------------
    def _stir(self, inputs: Inputs):
        """The cursor and its previous position when stirring (mouse or auto-stir), or None."""
        if inputs.cursor is not None and "LMB" in inputs.held:
            self.auto = False
            return inputs.cursor
        if self.auto:
            a = 0.07 * inputs.frame
            return (0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a))
        return None

    def frame(self, inputs: Inputs) -> None:
        n = self.n
        at = self._stir(inputs)
        force = np.zeros((n, n, 2))
        source = np.zeros((n, n))
        if at is not None:
            g = _blob(n, at, self.radius)
            if self.last is not None:
                # the drag in cells per unit time; the force gives the fluid under the cursor
                # ``strength`` times that velocity over one frame
                drag = (np.asarray(at) - np.asarray(self.last)) * n / self.T
                speed = np.linalg.norm(drag)
                if speed > 2.0 * n:  # a jump (a press far from the last release), not a drag
                    drag *= 2.0 * n / speed
                force = g[..., None] * (self.strength * drag / self.T)
            source = self.dye_rate * g / self.T
            self.stirred += 1
        self.last = at
        self.sim.set("force", force)
        self.sim.set("source", source)
        self.density, self.velocity = (np.asarray(a, dtype=np.float64)
                                       for a in self.sim.advance_live())

    # -- the view ------------------------------------------------------------------------------
    def vorticity(self) -> np.ndarray:
        """``dv/dx - du/dy`` (per unit time) by central differences."""
        u, v = self.velocity[..., 0], self.velocity[..., 1]
        return np.gradient(v, axis=0) - np.gradient(u, axis=1)

    def shown(self) -> tuple[np.ndarray, tuple[float, float]]:
        """The field the view shows and its colour limits."""
        if self.view_name == "dye":
            return self.density, (0.0, 1.0)
        if self.view_name == "speed":
            s = np.linalg.norm(self.velocity, axis=-1)
            return s, (0.0, max(float(np.percentile(s, 99.5)), 1e-6))
        w = self.vorticity()
        top = max(float(np.percentile(np.abs(w), 99.5)), 1e-6)
        return w, (-top, top)

    def draw(self, canvas: Canvas) -> None:
        values, limits = self.shown()
        canvas.field(_smooth(values, min(canvas.width, 4 * self.n)), cmap=VIEWS[self.view_name],
                     limits=limits)
        if self.last is not None:
            ring = np.linspace(0.0, 2.0 * np.pi, 40)
            canvas.polyline(np.c_[self.last[0] + self.radius * np.cos(ring),
                                  self.last[1] + self.radius * np.sin(ring)], GOLD, 1.5)
        label = {"dye": "dye", "vorticity": "vorticity (red: anticlockwise)",
                 "speed": "speed"}[self.view_name]
        canvas.rect((0.0, 0.94), (0.04 + canvas.text_width(label, 14), 1.0), BACKGROUND)
        canvas.text(label, (0.02, 0.985), TEXT, 14)

    def status(self) -> str:
        speed = float(np.abs(self.velocity).max())
        return (f"{self.n}x{self.n} x {self.sim.window} steps | dye {self.density.sum():.3g} | "
                f"max |u| {speed:.3g}")

    def state(self) -> dict:
        """Figures tests check: the density and velocity fields (``[i along x, j along y]``)."""
        return {"density": self.density.copy(), "velocity": self.velocity.copy()}
