"""Mass-spring builder (after Taichi's ``mass_spring_game``): click to add masses, which are
joined by springs to the masses near them, pin some, and watch the structure fall and swing.

Drives :class:`tidal.physics.MassSpring` in 2-D (gravity along ``-y``, a floor) frame by frame
with :meth:`~tidal.physics.simulator.Simulator.advance_live`; the sliders set its named
parameters ``"stiffness"`` and ``"damping"``.

**Adding masses without recompiling.** A :class:`MassSpring`'s kernels are compiled for its
number of masses and springs, so the demo builds one model of fixed *capacity* (``capacity``
masses, ``springs`` springs) and never rebuilds it. Unused masses are parked off the view and
anchored (:meth:`~tidal.physics.MassSpring.set_anchored`, so they never move); unused springs
have stiffness 0 and join two reserved parked masses that stay a unit apart (so their force is
exactly zero, never 0/0). A click fills the next mass slot: the current state becomes the
model's ``x0``/``v0`` (with the new mass at the cursor, at rest), the new springs take free
spring slots (:meth:`~tidal.physics.MassSpring.set_springs`, rest length = the distance at the
click) and the live run restarts from that state, which continues the motion exactly. When the
capacity is full, further clicks are refused with a note on the status line. The cost of the
parked slots is a few hundred idle masses per step, far less than recompiling on each click.
"""

from __future__ import annotations

import numpy as np

from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEAL, TEXT, Canvas, hex_color
from tidal.demos.widgets import Button, Slider

FLOOR = 0.05  # the floor's height in the view
CONNECT = 0.15  # a new mass is joined to every mass closer than this (as mass_spring_game)
PICK = 0.05  # a right click pins or frees the nearest mass within this distance
STIFFNESS_RANGE = (100.0, 3e4)
FLOOR_COLOR = hex_color(0x8FA7B3)


def starting_chain() -> np.ndarray:
    """The structure on screen at the start: a horizontal chain of five masses, its first one
    pinned, that swings down."""
    return np.array([[0.3 + 0.1 * i, 0.75] for i in range(5)])


class SpringsDemo(Demo):
    """The mass-spring builder (``python -m tidal.demos springs``).

    Args:
        capacity: the most masses the scene can hold.
        springs: the most springs the scene can hold.
        substeps: simulation steps per displayed frame.
        dt: time step.
        stiffness: spring constant at the start (the same for every spring; masses are 1).
        damping: velocity damping rate at the start.
        start: ``(n, 2)`` masses to start with, in the view's unit square (default
            :func:`starting_chain`, the first one pinned); joined like clicks.
    """

    order = 21
    name = "springs"
    title = "tidal: mass-spring builder"
    summary = "click to add masses joined by springs, right click pins; they fall onto a floor"
    help = "LMB add mass  RMB / f pin  space pause  c clear  r restart"

    def __init__(self, capacity: int = 256, springs: int = 2048, substeps: int = 16,
                 dt: float = 1e-3, stiffness: float = 2000.0, damping: float = 1.0,
                 start=None):
        from tidal.physics import MassSpring

        self.capacity, self.spring_capacity = int(capacity), int(springs)
        self.k = float(stiffness)
        self.start = starting_chain() if start is None else np.asarray(start, dtype=np.float64)
        n = self.capacity + 2  # two more slots: the ends of the unused springs
        self.parked = np.stack([-1.0 - 0.01 * np.arange(n), np.full(n, FLOOR)], axis=1)
        self.parked[-2:] = [[-3.0, FLOOR], [-2.0, FLOOR]]
        table = np.tile([n - 2, n - 1], (self.spring_capacity, 1))
        self.sim = MassSpring(self.parked, table, 0.0, steps=substeps, dt=dt, damping=damping,
                              floor=FLOOR, anchored=np.arange(n))
        self.paused, self.note = False, ""
        self._was_held = frozenset()
        self.restart()

    # -- the scene -----------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every mass and spring."""
        self.count = 0
        self.pairs: list[tuple[int, int]] = []
        self.rests: list[float] = []
        self.fixed: set[int] = set()
        self.positions = self.parked.copy()
        self.velocities = np.zeros_like(self.positions)
        self.note = ""
        self._upload()

    def restart(self) -> None:
        """Back to the starting structure."""
        self.clear()
        for p in self.start:
            self.add_mass(p)
        if len(self.start):
            self.fixed.add(0)
            self._upload()

    def add_mass(self, at) -> int | None:
        """Put a mass at rest at ``at`` and join it to the masses within :data:`CONNECT`;
        returns its index (None when the scene is full)."""
        if self.count >= self.capacity:
            self.note = f"full: {self.capacity} masses"
            return None
        j = self.count
        at = np.asarray(at, dtype=np.float64)
        self.positions[j], self.velocities[j] = at, 0.0
        d = np.linalg.norm(self.positions[:j] - at, axis=1)
        for i in np.flatnonzero((d < CONNECT) & (d > 1e-4)):
            if len(self.pairs) >= self.spring_capacity:
                self.note = f"full: {self.spring_capacity} springs"
                break
            self.pairs.append((int(i), j))
            self.rests.append(float(d[i]))
        self.count += 1
        self._upload()
        return j

    def toggle_fixed(self, at) -> int | None:
        """Pin the mass nearest ``at`` (within :data:`PICK`), or free it if it is pinned."""
        if self.count == 0:
            return None
        d = np.linalg.norm(self.positions[:self.count] - np.asarray(at), axis=1)
        i = int(np.argmin(d))
        if d[i] > PICK:
            return None
        self.fixed.symmetric_difference_update({i})
        self.velocities[i] = 0.0
        self._upload()
        return i

    def _upload(self) -> None:
        """The scene into the model: the current state as its start, the springs in use first
        (then the unused slots), who is anchored, the stiffnesses; the live run restarts from
        this state."""
        n = self.capacity + 2
        self.sim.set("x0", self.positions)
        self.sim.set("v0", self.velocities)
        table = np.tile([n - 2, n - 1], (self.spring_capacity, 1))
        rest = np.ones(self.spring_capacity)
        used = len(self.pairs)
        if used:
            table[:used] = self.pairs
            rest[:used] = self.rests
        self.sim.set_springs(table, rest)
        self.sim.set_anchored(sorted(self.fixed) + list(range(self.count, n)))
        self._set_k()
        self.sim.restart_live()

    def _set_k(self) -> None:
        k = np.zeros(self.spring_capacity)
        k[:len(self.pairs)] = self.k
        self.sim.set("stiffness", k)

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("stiffness", *STIFFNESS_RANGE, self.k, self.set_stiffness, log=True),
            Slider("damping", 0.0, 10.0, float(self.sim.get("damping")), self.set_damping),
            Button(lambda: "resume" if self.paused else "pause", self.pause),
            Button("clear", self.clear),
        ]

    def set_stiffness(self, value: float) -> None:
        self.k = float(value)
        self._set_k()

    def set_damping(self, value: float) -> None:
        self.sim.set("damping", value)

    def pause(self) -> None:
        self.paused = not self.paused

    def key(self, key: str) -> None:
        if key in ("space", " ", "p"):
            self.pause()
        elif key == "c":
            self.clear()
        elif key == "r":
            self.restart()

    # -- the loop ------------------------------------------------------------------------------
    def frame(self, inputs: Inputs) -> None:
        pressed = inputs.held - self._was_held  # buttons that went down this frame
        self._was_held = inputs.held
        if inputs.cursor is not None:
            if "LMB" in pressed:
                self.add_mass(inputs.cursor)
            if "RMB" in pressed or "f" in inputs.keys:
                self.toggle_fixed(inputs.cursor)
        if not self.paused:
            self.positions, self.velocities = (a.astype(np.float64)
                                               for a in self.sim.advance_live())

    def draw(self, canvas: Canvas) -> None:
        canvas.rect((0.0, 0.0), (1.0, FLOOR), hex_color(0x0B2230))
        canvas.lines([(0.0, FLOOR)], [(1.0, FLOOR)], FLOOR_COLOR, 2.0)
        x = self.positions[:self.count]
        if self.pairs:
            pairs = np.array(self.pairs)
            length = np.linalg.norm(x[pairs[:, 1]] - x[pairs[:, 0]], axis=1)
            strain = np.clip((length / np.array(self.rests) - 1.0) / 0.1, -1.0, 1.0)[:, None]
            colors = np.where(strain < 0, np.asarray(TEXT) + (-strain) * np.subtract(TEAL, TEXT),
                              np.asarray(TEXT) + strain * np.subtract(ACCENT, TEXT))
            canvas.lines(x[pairs[:, 0]], x[pairs[:, 1]], colors.astype(np.float32), 1.5)
        if self.count:
            colors = np.tile(np.asarray(GOLD, np.float32), (self.count, 1))
            if self.fixed:
                colors[sorted(self.fixed)] = ACCENT
            canvas.circles(x, 5.0, colors)
        k, c = self.k, float(self.sim.get("damping"))
        canvas.text(f"mass-spring builder   k = {k:.3g}   c = {c:.3g}", (0.02, 0.98), TEXT, 14)
        if self.paused:
            canvas.text("paused", (0.86, 0.98), GOLD, 14)

    def status(self) -> str:
        text = f"{self.count}/{self.capacity} masses  {len(self.pairs)} springs"
        if self.fixed:
            text += f"  {len(self.fixed)} pinned"
        return text + (f"  ({self.note})" if self.note else "")

    def state(self) -> dict:
        """What tests check: positions and velocities of the masses in use (copies), the
        springs' mass pairs and the pinned masses."""
        return {"positions": self.positions[:self.count].copy(),
                "velocities": self.velocities[:self.count].copy(),
                "pairs": list(self.pairs), "fixed": sorted(self.fixed)}
