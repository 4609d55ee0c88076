"""Lennard-Jones particles in a periodic box, held at a temperature by a thermostat.

Drives :class:`tidal.physics.Particles` (velocity Verlet with forces from ``td.grad`` of the
pair potential, a cell list, the periodic box) frame by frame with
:meth:`~tidal.physics.simulator.Simulator.advance_live`; between frames its Berendsen
thermostat (:meth:`~tidal.physics.md.Particles.thermostat_live`) pulls the kinetic temperature
towards the slider's. Units are Lennard-Jones units (``epsilon = sigma = mass = k_B = 1``). At
low temperature the gas condenses into droplets; heated, they evaporate.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

import numpy as np

from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEXT, Canvas
from tidal.demos.widgets import Button, Slider

HISTORY = 240  # frames of temperature in the plot


@lru_cache(maxsize=4)
def _colormap(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)


def lattice(n: int, box: float, temperature: float, seed: int = 0):
    """``n`` particles on a square lattice filling the ``box`` (``side x side`` sites, the
    first ``n`` used), with Gaussian velocities of ``temperature`` and no net momentum."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    sites = (np.argwhere(np.ones((side, side)))[:n] + 0.5) * (box / side)
    v = rng.standard_normal((n, 2)) * np.sqrt(temperature)
    v -= v.mean(axis=0)
    return sites, v


class LennardJones(Demo):
    """The Lennard-Jones demo (``python -m tidal.demos particles``).

    Args:
        n: number of particles.
        density: particles per unit area (``sigma^-2``); sets the box's side.
        temperature: the thermostat's temperature at the start.
        substeps: simulation steps per displayed frame.
        dt: time step.
        cutoff: the potential's cutoff (``sigma``).
        rate: the thermostat's strength per frame (frame time over its coupling time).
    """

    order = 20
    name = "particles"
    title = "tidal: Lennard-Jones particles"
    summary = "Lennard-Jones gas and droplets in a periodic box with a thermostat (Particles)"
    help = "temperature slider  t thermostat on/off  h heat kick  r reset"

    def __init__(self, n: int = 784, density: float = 0.45, temperature: float = 0.5,
                 substeps: int = 30, dt: float = 0.005, cutoff: float = 2.5, rate: float = 0.1,
                 seed: int = 0):
        from tidal.physics import Particles

        self.box = float(np.sqrt(n / density))
        self.T0, self.rate, self.on = float(temperature), float(rate), True
        x0, v0 = lattice(n, self.box, temperature, seed)
        self.sim = Particles("lennard_jones", x0, steps=substeps, dt=dt, velocities=v0,
                             cutoff=cutoff, cell_list=True, box=self.box, epsilon=1.0,
                             sigma=1.0)
        self.positions, self.velocities = x0, v0
        self.history: deque = deque(maxlen=HISTORY)
        self.measure()

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("temperature", 0.05, 2.5, self.T0, self._set_T),
            Slider("coupling", 0.01, 1.0, self.rate, self._set_rate, log=True),
            Button(lambda: f"thermostat: {'on' if self.on else 'off'}", self.toggle),
            Button("reset", self.reset),
        ]

    def _set_T(self, value: float) -> None:
        self.T0 = value

    def _set_rate(self, value: float) -> None:
        self.rate = value

    def toggle(self) -> None:
        self.on = not self.on

    def reset(self) -> None:
        self.sim.restart_live()
        self.history.clear()

    def key(self, key: str) -> None:
        if key == "t":
            self.toggle()
        elif key == "h":  # a kick: twice the kinetic energy at once
            self.sim.thermostat_live(2.0 * self.sim.temperature())
        elif key == "r":
            self.reset()

    # -- the loop ------------------------------------------------------------------------------
    def frame(self, inputs: Inputs) -> None:
        if self.on:
            self.sim.thermostat_live(self.T0, self.rate)
        x, v = self.sim.advance_live()
        self.positions, self.velocities = (np.asarray(a, dtype=np.float64) for a in (x, v))
        self.measure()

    def measure(self) -> None:
        """Kinetic temperature and potential energy per particle of the state shown."""
        self.T = self.sim.temperature(self.velocities)
        self.U = self.sim.potential_energy(self.positions) / self.sim.n
        self.history.append(self.T)

    # -- the view ------------------------------------------------------------------------------
    def draw(self, canvas: Canvas) -> None:
        speed = np.linalg.norm(self.velocities, axis=1)
        top = 3.0 * np.sqrt(max(self.T0, self.T, 1e-3))
        index = np.clip(speed / top * 255.0, 0, 255).astype(np.int64)
        radius = min(max(0.4 * canvas.width / self.box, 1.0), 4.0)
        canvas.circles(self.positions / self.box, radius, _colormap("plasma")[index])
        self._plot(canvas)
        canvas.text(f"Lennard-Jones, {self.sim.n} particles, periodic box "
                    f"{self.box:.1f} sigma", (0.02, 0.985), TEXT, 13)

    def _plot(self, canvas: Canvas) -> None:
        """The temperature over the last frames, in an inset at the bottom right."""
        lo, hi = np.array([0.60, 0.03]), np.array([0.98, 0.23])
        canvas.rect(lo, hi, (0.03, 0.08, 0.12))
        canvas.rect(lo, hi, TEXT, filled=False)
        values = np.asarray(self.history, dtype=np.float64)
        t_max = 1.25 * max(float(values.max(initial=0.0)), self.T0, 0.1)
        inner_lo, inner_hi = lo + [0.01, 0.02], hi - [0.01, 0.04]
        def to_plot(k, T):
            return np.c_[inner_lo[0] + (inner_hi[0] - inner_lo[0]) * k / (HISTORY - 1),
                         inner_lo[1] + (inner_hi[1] - inner_lo[1]) * np.asarray(T) / t_max]
        target = to_plot(np.array([0, HISTORY - 1]), [self.T0, self.T0])
        if self.on:
            canvas.lines(target[:1], target[1:], ACCENT, 1.0)
        if len(values) >= 2:
            canvas.polyline(to_plot(np.arange(len(values)), values), GOLD, 1.5)
        canvas.text(f"temperature (top {t_max:.2f})", (lo[0] + 0.01, hi[1] - 0.005), TEXT, 11)

    def status(self) -> str:
        setting = f"set {self.T0:.2f}" if self.on else "thermostat off"
        return (f"T {self.T:.3f} ({setting}) | U/N {self.U:.3f} | {self.sim.n} particles x "
                f"{self.sim.window} steps")

    def state(self) -> dict:
        """Figures tests check: temperature, potential energy per particle, total momentum."""
        return {"temperature": self.T, "potential": self.U,
                "momentum": self.velocities.sum(axis=0) * float(self.sim.get("mass"))}
