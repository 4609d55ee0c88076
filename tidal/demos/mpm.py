"""MPM sandbox: elastic blocks or fluid in a box, pulled and pushed by the mouse.

Drives :class:`tidal.physics.MPM2D` (MLS-MPM, the library's differentiable simulator) frame by
frame with :meth:`~tidal.physics.simulator.Simulator.advance_live`; the mouse is the model's
attractor, the arrow keys its gravity, the material switch its per-particle material.
"""

from __future__ import annotations

import numpy as np

from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import Canvas, hex_color
from tidal.demos.widgets import Button, Slider

COLORS = np.array([hex_color(0x068587), hex_color(0xED553B)], dtype=np.float32)
GRAVITY = {"up": (0.0, 1.0), "down": (0.0, -1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


def initial_positions(particles: int, seed: int = 0) -> np.ndarray:
    """Three blocks of ``particles`` in all, uniformly random inside each (as the MPM gallery
    programs start)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[0.15, 0.12], [0.42, 0.39], [0.6, 0.66]])
    which = np.arange(particles) % 3
    return corners[which] + rng.random((particles, 2)) * 0.2


class MPMSandbox(Demo):
    """The MPM sandbox (``python -m tidal.demos mpm``).

    Args:
        particles: number of particles (8,192 as in Taichi's mpm88).
        grid: grid cells per side.
        substeps: simulation steps per displayed frame.
        dt: time step.
        material: ``"elastic"`` or ``"fluid"`` at the start.
        E: Young's modulus at the start.
        window: steps the simulator holds in memory (a divisor of ``substeps``): each frame
            runs ``substeps / window`` windows, the state carried between them on the device.
    """

    order = 0
    name = "mpm"
    title = "tidal: MPM sandbox"
    summary = "MLS-MPM blocks and fluid; mouse pulls (left) and pushes (right), arrows set gravity"
    help = "LMB pull  RMB push  arrows gravity  m material  r reset"

    def __init__(self, particles: int = 8192, grid: int = 128, substeps: int = 50,
                 dt: float = 2e-4, material: str = "fluid", E: float = 400.0,
                 window: int | None = None):
        from tidal.dsl.errors import TidalArgumentError
        from tidal.physics import MPM2D

        window = substeps if window is None else window
        if window < 1 or substeps % window:
            raise TidalArgumentError(f"window must divide substeps ({substeps}), got {window}")
        self.windows = substeps // window
        self.sim = MPM2D(initial_positions(particles), steps=window, E=E, nu=0.2, grid=grid,
                         dt=dt)
        self.materials = ["elastic", "fluid"]
        self.material = material
        self.sim.set_materials(material)
        self.materials_now = self.sim.material.to_numpy()
        self.g, self.strength = 9.8, 0.0
        self.direction = (0.0, -1.0)
        self.positions = self.sim.get("x0")
        self.velocities = np.zeros_like(self.positions)

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("E", 20.0, 5000.0, float(self.sim.get("E")), self._set_E, log=True),
            Slider("gravity", 0.0, 30.0, self.g, self._set_g),
            Button(lambda: f"material: {self.material}", self.switch_material),
            Button("reset", self.reset),
        ]

    def _set_E(self, value: float) -> None:
        self.sim.set("E", value)

    def _set_g(self, value: float) -> None:
        self.g = value

    def switch_material(self) -> None:
        self.material = self.materials[(self.materials.index(self.material) + 1) % 2]
        self.sim.set_materials(self.material)
        self.materials_now = self.sim.material.to_numpy()

    def reset(self) -> None:
        self.sim.restart_live()

    def key(self, key: str) -> None:
        if key in GRAVITY:
            self.direction = GRAVITY[key]
        elif key == "m":
            self.switch_material()
        elif key == "r":
            self.reset()

    # -- the loop ------------------------------------------------------------------------------
    def frame(self, inputs: Inputs) -> None:
        pull = 0.0
        if inputs.cursor is not None:
            if "LMB" in inputs.held:
                pull = 1.0
            elif "RMB" in inputs.held:
                pull = -1.0
        self.strength = 60.0 * pull
        self.sim.set_attractor(inputs.cursor or (0.5, 0.5), self.strength)
        self.sim.set_gravity((self.g * self.direction[0], self.g * self.direction[1]))
        self.positions, self.velocities, *_ = self.sim.advance_live(windows=self.windows)

    def draw(self, canvas: Canvas) -> None:
        for material, color in enumerate(COLORS):
            which = self.materials_now == material
            if which.any():
                canvas.circles(self.positions[which], radius=1.5, color=tuple(color))

    def status(self) -> str:
        steps = self.sim.window * self.windows
        return f"{len(self.positions)} particles, {steps} steps/frame, {self.material}"

    def state(self) -> dict:
        """Figures tests check: mean position and velocity of the particles."""
        return {"mean_position": self.positions.mean(axis=0),
                "mean_velocity": self.velocities.mean(axis=0)}
