"""2-D rigid boxes bouncing on the ground, with restitution, friction and time of impact.

Each body is a box (half-extents ``(a, b)``, uniform density: moment of inertia
``m (a^2 + b^2) / 3``) with a position, an angle, a velocity and an angular velocity. One step
of one body, a ``td.func``: gravity and a known applied force (``push``) change the velocity;
then every corner that would cross the ground (``y = floor``) during the step while moving
into it gets a normal impulse (restitution ``e``) and a Coulomb friction impulse (at most
``friction`` times the normal one), applied corner after corner; the position and the angle
move with the old velocities until the time of impact of the first corner to touch and with
the new ones after it (as DiffTaichi's rigid_body does; without contact the whole step is at
the new velocities: symplectic Euler). Bodies do not touch each other. From
the step come both runs, ``advance(t)`` (parallel over bodies) and ``rollout()`` (the whole
time loop in one launch); every state is stored.

Named parameters that :func:`tidal.fit` can fit: ``"mass"`` (one per body, identifiable
through the applied force), ``"restitution"``, ``"friction"``, and the initial state
``"x0"``, ``"v0"`` (bodies, 2), ``"angle0"``, ``"omega0"`` (bodies,).
"""

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.physics.simulator import Simulator

CORNERS = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))


class RigidBoxes2D(Simulator):
    """Boxes in the plane, falling and bouncing on the ground ``y = floor``.

    Args:
        half_extents: (bodies, 2) half widths and heights.
        positions: (bodies, 2) initial centres.
        steps: number of time steps.
        dt: time step.
        mass: (bodies,) masses (a scalar fills them).
        restitution: normal restitution coefficient in [0, 1].
        friction: Coulomb friction coefficient (non-negative).
        velocities: (bodies, 2) initial velocities (default 0).
        angles: (bodies,) initial angles (default 0).
        spins: (bodies,) initial angular velocities (default 0).
        push: (steps, bodies, 2) applied force at the centre during each step (default 0).
        gravity: downward acceleration.
        floor: height of the ground.
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import RigidBoxes2D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = RigidBoxes2D([[0.2, 0.1]], [[0.0, 1.0]], steps=10, angles=[0.3])
        >>> sim.simulate().shape
        (11, 1, 3)
    """

    def __init__(self, half_extents, positions, steps: int, dt: float = 2e-3, mass=1.0,
                 restitution: float = 0.5, friction: float = 0.3, velocities=None,
                 angles=None, spins=None, push=None, gravity: float = 9.8,
                 floor: float = 0.0, checkpoint_every: int | None = None):
        ext = np.asarray(half_extents, dtype=np.float64)
        pos = np.asarray(positions, dtype=np.float64)
        if ext.ndim != 2 or ext.shape[1] != 2 or np.any(ext <= 0):
            raise TidalArgumentError(f"half_extents must be (bodies, 2) positive sizes, got "
                                     f"{ext.tolist()}")
        if pos.shape != ext.shape:
            raise TidalArgumentError(f"positions must have shape {ext.shape}, got {pos.shape}")
        window = self._plan(steps, checkpoint_every, per_step=20 * len(ext))
        if not dt > 0:
            raise TidalArgumentError(f"dt must be positive, got {dt!r}")
        nb = len(ext)
        self.bodies, self.dt, self.floor = nb, float(dt), float(floor)
        self._values = {"mass": np.ones(nb), "restitution": np.array(0.0),
                        "friction": np.array(0.0), "x0": pos.copy(),
                        "v0": np.zeros((nb, 2)), "angle0": np.zeros(nb),
                        "omega0": np.zeros(nb)}
        for name, value in (("mass", mass), ("restitution", restitution),
                            ("friction", friction), ("v0", velocities), ("angle0", angles),
                            ("omega0", spins)):
            if value is not None:
                self.set(name, value)
        lowest = self._lowest_corners(pos, self._values["angle0"], ext)
        if np.any(lowest < floor):
            raise TidalArgumentError("bodies must start above the floor")
        push = np.zeros((steps, nb, 2)) if push is None else np.asarray(push, np.float64)
        if push.shape != (steps, nb, 2):
            raise TidalArgumentError(f"push must have shape {(steps, nb, 2)}, got "
                                     f"{push.shape}")
        real = runtime.config().default_fp.taichi
        shape = (window + 1, nb)
        self.x = ti.Vector.field(2, real, shape=shape, needs_grad=True)
        self.v = ti.Vector.field(2, real, shape=shape, needs_grad=True)
        self.angle = ti.field(real, shape=shape, needs_grad=True)
        self.omega = ti.field(real, shape=shape, needs_grad=True)
        self.m = ti.field(real, shape=nb, needs_grad=True)
        self.e = ti.field(real, shape=(), needs_grad=True)
        self.mu = ti.field(real, shape=(), needs_grad=True)
        self.ext = ti.Vector.field(2, real, shape=nb)
        self.push = ti.Vector.field(2, real, shape=(window, nb))
        self.data = ti.Vector.field(3, real, shape=shape)
        self.weights = ti.Vector.field(3, real, shape=shape)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self.ext.from_numpy(ext)
        self._push = push.copy()
        self.push.from_numpy(push[:window])
        self._extents = ext
        self._kernels(gravity)

    @staticmethod
    def _lowest_corners(pos, angles, ext):
        c, s = np.cos(angles), np.sin(angles)
        ys = [pos[:, 1] + s * sx * ext[:, 0] + c * sy * ext[:, 1] for sx, sy in CORNERS]
        return np.min(ys, axis=0)

    # -- kernels, made from the one step -------------------------------------------------------
    def _kernels(self, gravity) -> None:
        x, v, angle, omega, m, e, mu = self.x, self.v, self.angle, self.omega, self.m, self.e, \
            self.mu
        ext, push, data, weights, loss = self.ext, self.push, self.data, self.weights, \
            self.loss
        nb, steps, dt, floor = self.bodies, self.window, self.dt, self.floor
        real = runtime.config().default_fp.taichi

        @td.func
        def move(t: ti.i32, b: ti.i32):
            """Body b from step t to t + 1."""
            mass = m[b]
            inertia = mass * (ext[b][0] ** 2 + ext[b][1] ** 2) / 3.0
            old_v = v[t, b]
            old_w = omega[t, b]
            new_v = old_v + dt * (push[t, b] / mass + ti.Vector([0.0, -gravity]))
            new_w = old_w
            toi = ti.cast(dt, real)  # time at the old velocities: the first impact's
            contact = 0.0
            c = ti.cos(angle[t, b])
            s = ti.sin(angle[t, b])
            for k in ti.static(range(4)):
                lx = CORNERS[k][0] * ext[b][0]
                ly = CORNERS[k][1] * ext[b][1]
                r = ti.Vector([c * lx - s * ly, s * lx + c * ly])
                height = x[t, b][1] + r[1] - floor
                vy = new_v[1] + new_w * r[0]
                if height + dt * vy < 0.0 and vy < 0.0:
                    old_vy = old_v[1] + old_w * r[0]
                    impact = 0.0  # pushed into the ground by this step's forces: at once
                    if old_vy < 0.0:
                        impact = ti.min(dt, ti.max(0.0, -height / old_vy))
                    toi = ti.min(toi, impact)
                    contact = 1.0
                    jn = -(1.0 + e[None]) * vy / (1.0 / mass + r[0] * r[0] / inertia)
                    vt = new_v[0] - new_w * r[1]
                    jt = -vt / (1.0 / mass + r[1] * r[1] / inertia)
                    jt = ti.max(-mu[None] * jn, ti.min(mu[None] * jn, jt))
                    new_v = new_v + ti.Vector([jt, jn]) / mass
                    new_w = new_w + (r[0] * jn - r[1] * jt) / inertia
            toi = contact * toi  # without contact, the whole step at the new velocities
            v[t + 1, b] = new_v
            omega[t + 1, b] = new_w
            x[t + 1, b] = x[t, b] + toi * old_v + (dt - toi) * new_v
            angle[t + 1, b] = angle[t, b] + toi * old_w + (dt - toi) * new_w

        @td.kernel
        def advance(t: ti.i32):
            for b in range(nb):
                move(t, b)

        @td.kernel
        def rollout():
            for b in range(nb):  # bodies are independent: in parallel, each in order in time
                for t in range(steps):
                    move(t, b)

        @td.kernel
        def mismatch():
            for t, b in ti.ndrange(steps + 1, nb):
                d = ti.Vector([x[t, b][0], x[t, b][1], angle[t, b]]) - data[t, b]
                loss[None] += (weights[t, b] * d * d).sum()

        self.advance, self.rollout, self.mismatch = advance, rollout, mismatch

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {"mass": (self.m, False), "restitution": (self.e, False),
                "friction": (self.mu, False), "x0": (self.x, True), "v0": (self.v, True),
                "angle0": (self.angle, True), "omega0": (self.omega, True)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name == "mass" and np.any(value <= 0):
            raise TidalArgumentError("masses must be positive",
                                     hint="fit them with log_scale=True to keep them so")
        if name in ("restitution", "friction") and value < 0:
            raise TidalArgumentError(f"{name} must be non-negative, got {float(value)}")

    def _load_window(self, s: int) -> None:
        self.push.from_numpy(self._push[s * self.window:(s + 1) * self.window])

    def simulate(self, whole: bool = True) -> np.ndarray:
        """Poses ``(steps + 1, bodies, 3)``: centre ``x``, ``y`` and angle at every step."""
        return super().simulate(whole)

    def _window_states(self) -> np.ndarray:
        return np.concatenate([self.x.to_numpy(), self.angle.to_numpy()[..., None]], axis=2)

    @property
    def states(self):
        return self.x

    layout = "steps + 1, bodies, (x, y, angle): NaN marks values not observed"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.bodies, 3)
