"""MLS-MPM in 2-D: elastic material on a grid, simulated and fitted in tidal.

Moving least squares material point method (APIC transfers, quadratic B-splines) with the fixed
corotated elastic model (``ti.polar_decompose``): particles scatter mass and momentum (with the
stress of their deformation gradient) to a grid, the grid takes gravity and sticky walls, and
particles gather their new velocity, affine velocity ``C`` and position from it. The three
phases are ``td.func``s (one particle, one grid node); from them come both runs: ``advance(t)``
(three kernel launches, parallel over particles or nodes, for interactive use) and
``rollout()`` (the whole time loop in one launch, for fitting). Particle states and the grid
are stored per step, so both runs give identical trajectories and the adjoint overwrites
nothing.

Named parameters that :func:`tidal.fit` can fit: ``"E"`` (Young's modulus; the Poisson ratio
is fixed), ``"x0"`` and ``"v0"`` (initial positions and velocities, ``(particles, 2)``).

For interactive use (the demos) the model also takes inputs that are not fitted: the gravity
vector (:meth:`MPM2D.set_gravity`), a point that pulls or pushes the material
(:meth:`MPM2D.set_attractor`, as the mouse does in the MPM demo) and each particle's material
(:meth:`MPM2D.set_materials`: elastic, or fluid, whose deformation keeps only its volume change
as in the fluid of MLS-MPM). Their defaults (gravity straight down, no attractor, all elastic)
give the model as it was without them.
"""

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import field_io, runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.physics.simulator import Simulator

ELASTIC, FLUID = 0, 1
MATERIALS = ("elastic", "fluid")


def block(corner, size, spacing: float):
    """Particle positions filling a rectangle: ``corner`` (2,), ``size`` (2,), one particle per
    ``spacing`` along each side.

    Example:
        >>> from tidal.physics.mpm import block
        >>> block((0.2, 0.3), (0.1, 0.05), 0.025).shape
        (8, 2)
    """
    nx, ny = (max(1, int(round(s / spacing))) for s in size)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return np.column_stack([corner[0] + (i.ravel() + 0.5) * spacing,
                            corner[1] + (j.ravel() + 0.5) * spacing])


class MPM2D(Simulator):
    """An elastic body in the unit square, simulated by MLS-MPM.

    Args:
        positions: (particles, 2) initial positions, inside the walls.
        steps: number of time steps.
        E: Young's modulus.
        nu: Poisson ratio (fixed), below 0.5.
        velocities: (particles, 2) initial velocities (default 0).
        grid: grid cells per side.
        dt: time step.
        gravity: downward acceleration.
        density: particle mass per unit area (each particle carries ``(dx / 2)^2`` of area).
        wall: width of the sticky boundary in cells.
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import MPM2D
        >>> from tidal.physics.mpm import block
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = MPM2D(block((0.4, 0.4), (0.1, 0.1), 0.025), steps=5, E=100.0, grid=16)
        >>> sim.simulate().shape
        (6, 16, 2)
    """

    def __init__(self, positions, steps: int, E: float = 100.0, nu: float = 0.2,
                 velocities=None, grid: int = 32, dt: float = 2e-4, gravity: float = 9.8,
                 density: float = 1.0, wall: int = 3, checkpoint_every: int | None = None):
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 2 or len(positions) < 1:
            raise TidalArgumentError(f"positions must have shape (particles, 2), got "
                                     f"{np.shape(positions)}")
        if not isinstance(grid, int) or grid < 2 * wall + 2:
            raise TidalArgumentError(f"grid must be an int of at least {2 * wall + 2} cells, "
                                     f"got {grid!r}")
        inside = (positions > wall / grid) & (positions < 1.0 - wall / grid)
        if not np.all(inside):
            raise TidalArgumentError(f"particles must start inside the walls, in "
                                     f"({wall / grid:g}, {1 - wall / grid:g})^2")
        window = self._plan(steps, checkpoint_every,
                            per_step=28 * len(positions) + 10 * grid * grid)
        if not dt > 0:
            raise TidalArgumentError(f"dt must be positive, got {dt!r}")
        if not 0.0 <= nu < 0.5:
            raise TidalArgumentError(f"the Poisson ratio must lie in [0, 0.5), got {nu!r}")
        self.particles, self.dt, self.grid = len(positions), float(dt), grid
        self.nu = float(nu)
        self._values = {"E": np.array(0.0), "x0": positions.copy(),
                        "v0": np.zeros_like(positions)}
        self.set("E", E)
        if velocities is not None:
            self.set("v0", velocities)
        real = runtime.config().default_fp.taichi
        n, shape = self.particles, (window + 1, self.particles)
        self.x = ti.Vector.field(2, real, shape=shape, needs_grad=True)
        self.v = ti.Vector.field(2, real, shape=shape, needs_grad=True)
        self.C = ti.Matrix.field(2, 2, real, shape=shape, needs_grad=True)
        self.F = ti.Matrix.field(2, 2, real, shape=shape, needs_grad=True)
        self.grid_p = ti.Vector.field(2, real, shape=(window, grid, grid), needs_grad=True)
        self.grid_m = ti.field(real, shape=(window, grid, grid), needs_grad=True)
        self.grid_v = ti.Vector.field(2, real, shape=(window, grid, grid), needs_grad=True)
        self.E = ti.field(real, shape=(), needs_grad=True)
        self.gravity = ti.Vector.field(2, real, shape=())
        self.attractor = ti.Vector.field(3, real, shape=())  # x, y, strength
        self.material = ti.field(ti.i32, shape=self.particles)
        self.set_gravity((0.0, -float(gravity)))
        self.set_attractor((0.5, 0.5), 0.0)
        self.set_materials(ELASTIC)
        self.data = ti.Vector.field(2, real, shape=shape)
        self.weights = ti.Vector.field(2, real, shape=shape)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        dx = 1.0 / grid
        self._kernels(n, dx, (0.5 * dx) ** 2, density * (0.5 * dx) ** 2, wall)

    # -- inputs that are not fitted (interactive use) ------------------------------------------
    def set_gravity(self, vector) -> None:
        """The gravitational acceleration ``(gx, gy)`` (default ``(0, -gravity)``)."""
        g = np.asarray(vector, dtype=np.float64)
        if g.shape != (2,) or not np.all(np.isfinite(g)):
            raise TidalArgumentError(f"gravity must be two finite numbers, got {vector!r}")
        self.gravity[None] = g.tolist()

    def set_attractor(self, position, strength: float) -> None:
        """A point ``position`` that accelerates the material towards it (``strength`` > 0) or
        away from it (< 0) by ``strength * d / (0.01 + |d|)``, ``d`` the offset from a grid
        node to the point; ``strength`` 0 turns it off."""
        p = np.asarray(position, dtype=np.float64)
        if p.shape != (2,) or not np.all(np.isfinite(p)) or not np.isfinite(strength):
            raise TidalArgumentError(f"the attractor is a finite point (x, y) and strength, got "
                                     f"{position!r}, {strength!r}")
        self.attractor[None] = [float(p[0]), float(p[1]), float(strength)]

    def set_materials(self, materials) -> None:
        """Each particle's material: ``"elastic"`` / ``"fluid"`` (or 0 / 1), one for all
        particles or one per particle."""
        m = np.asarray(materials)
        if m.dtype.kind in "US":
            bad = [v for v in np.unique(m) if v not in MATERIALS]
            if bad:
                raise TidalArgumentError(f"unknown material {bad[0]!r}",
                                         hint=f"materials are {', '.join(MATERIALS)}")
            m = np.vectorize(MATERIALS.index)(m)
        m = np.broadcast_to(np.asarray(m, dtype=np.int32), (self.particles,))
        if not np.all((m == ELASTIC) | (m == FLUID)):
            raise TidalArgumentError("materials must be 0 (elastic) or 1 (fluid)")
        self.material.from_numpy(np.ascontiguousarray(m))

    # -- kernels, made from the three phases ---------------------------------------------------
    def _kernels(self, n, dx, volume, mass, wall) -> None:
        x, v, C, F, E = self.x, self.v, self.C, self.F, self.E
        gravity, attractor, material = self.gravity, self.attractor, self.material
        grid_p, grid_m, grid_v = self.grid_p, self.grid_m, self.grid_v
        data, weights, loss = self.data, self.weights, self.loss
        steps, dt, g, nu = self.window, self.dt, self.grid, self.nu
        inv_dx = float(g)
        real = runtime.config().default_fp.taichi
        mu_per_E, la_per_E = 0.5 / (1.0 + nu), nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

        @td.func
        def scatter(t: ti.i32, p: ti.i32):
            """Particle p's mass and momentum (with its stress) onto the grid of step t; its
            deformation gradient advanced to step t + 1."""
            base = ti.cast(x[t, p] * inv_dx - 0.5, ti.i32)
            fx = x[t, p] * inv_dx - ti.cast(base, real)
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_F = (ti.Matrix.identity(real, 2) + dt * C[t, p]) @ F[t, p]
            J = new_F.determinant()
            la = la_per_E * E[None]
            kirchhoff = ti.Matrix.identity(real, 2) * (la * (J - 1.0) * J)
            if material[p] == 0:  # elastic: fixed corotated
                F[t + 1, p] = new_F
                r, _ = ti.polar_decompose(new_F)
                kirchhoff += 2.0 * (mu_per_E * E[None]) * (new_F - r) @ new_F.transpose()
            else:  # fluid: no shear stress, only the volume change is kept
                F[t + 1, p] = ti.Matrix.identity(real, 2) * ti.sqrt(J)
            affine = -(dt * volume * 4.0 * inv_dx * inv_dx) * kirchhoff + mass * C[t, p]
            for i in ti.static(range(3)):
                for j in ti.static(range(3)):
                    dpos = (ti.cast(ti.Vector([i, j]), real) - fx) * dx
                    weight = w[i][0] * w[j][1]
                    grid_p[t, base[0] + i, base[1] + j] += weight * (mass * v[t, p]
                                                                     + affine @ dpos)
                    grid_m[t, base[0] + i, base[1] + j] += weight * mass

        @td.func
        def node(t: ti.i32, i: ti.i32, j: ti.i32):
            """Grid node (i, j) at step t: velocity from momentum, gravity, sticky walls."""
            vn = ti.Vector([0.0, 0.0])
            m = grid_m[t, i, j]
            if m > 0.0:  # nodes without mass keep zero velocity (no regularised division)
                vn = grid_p[t, i, j] / m + dt * gravity[None]
                pull = attractor[None]
                if pull[2] != 0.0:
                    d = ti.Vector([pull[0] - i * dx, pull[1] - j * dx])
                    vn += (dt * pull[2] / (0.01 + d.norm())) * d
            if i < wall or i >= g - wall:
                vn[0] = 0.0
            if j < wall or j >= g - wall:
                vn[1] = 0.0
            grid_v[t, i, j] = vn

        @td.func
        def gather(t: ti.i32, p: ti.i32):
            """Particle p at step t + 1 from the grid velocities of step t."""
            base = ti.cast(x[t, p] * inv_dx - 0.5, ti.i32)
            fx = x[t, p] * inv_dx - ti.cast(base, real)
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_v = ti.Vector([0.0, 0.0])
            new_C = ti.Matrix([[0.0, 0.0], [0.0, 0.0]])
            for i in ti.static(range(3)):
                for j in ti.static(range(3)):
                    dpos = ti.cast(ti.Vector([i, j]), real) - fx
                    gv = grid_v[t, base[0] + i, base[1] + j]
                    weight = w[i][0] * w[j][1]
                    new_v += weight * gv
                    new_C += 4.0 * inv_dx * weight * gv.outer_product(dpos)
            v[t + 1, p] = new_v
            C[t + 1, p] = new_C
            x[t + 1, p] = x[t, p] + dt * new_v

        @td.kernel
        def to_grid(t: ti.i32):
            for p in range(n):
                scatter(t, p)

        @td.kernel
        def on_grid(t: ti.i32):
            for i, j in ti.ndrange(g, g):
                node(t, i, j)

        @td.kernel
        def to_particles(t: ti.i32):
            for p in range(n):
                gather(t, p)

        def advance(t: int) -> None:
            """One step: particles to grid, grid update, grid to particles (three launches:
            each reads what the one before accumulated)."""
            to_grid(t)
            on_grid(t)
            to_particles(t)

        @td.kernel
        def to_particles_and_grid(t: ti.i32):
            # step t's grid-to-particle and step t + 1's particle-to-grid in one launch: each
            # particle reads back only the state it has just written
            for p in range(n):
                gather(t, p)
                scatter(t + 1, p)

        def advance_many(steps_run: int) -> None:
            """``steps_run`` steps from slice 0, two launches per step instead of three (the
            same values as ``advance`` step by step)."""
            to_grid(0)
            for t in range(steps_run):
                on_grid(t)
                if t + 1 < steps_run:
                    to_particles_and_grid(t)
                else:
                    to_particles(t)

        @td.kernel
        def rollout():
            for _ in range(1):  # one launch; the time loop and the three phases run in order
                for t in range(steps):
                    for p in range(n):
                        scatter(t, p)
                    for i in range(g):
                        for j in range(g):
                            node(t, i, j)
                    for p in range(n):
                        gather(t, p)

        @td.kernel
        def mismatch():
            for t, p in ti.ndrange(steps + 1, n):
                d = x[t, p] - data[t, p]
                loss[None] += (weights[t, p] * d * d).sum()

        self.to_grid, self.on_grid, self.to_particles = to_grid, on_grid, to_particles
        self.advance, self.rollout, self.mismatch = advance, rollout, mismatch
        self._advance_many = advance_many

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _step_all(self, whole: bool) -> None:
        if whole:
            self.rollout()
        else:
            self._advance_many(self.window)

    def _param_fields(self) -> dict:
        return {"E": (self.E, False), "x0": (self.x, True), "v0": (self.v, True)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name == "E" and not value > 0:
            raise TidalArgumentError(f"E must be positive, got {float(value)}",
                                     hint="fit it with log_scale=True to keep it so")

    def _carried(self) -> list:
        return [self.x, self.v, self.C, self.F]

    def _load_more(self) -> None:
        # the first slices of C and F start every run (each step writes the next slice before
        # it is read); the grids are accumulated into, so all of them start at zero
        field_io.write_slice(self.C, 0, np.zeros((self.particles, 2, 2)))
        field_io.write_slice(self.F, 0, np.broadcast_to(np.eye(2), (self.particles, 2, 2)))
        self.grid_p.fill(0.0)
        self.grid_m.fill(0.0)

    @property
    def states(self):
        """Particle positions at every step, ``x[t, p]`` (what :meth:`simulate` returns)."""
        return self.x

    layout = "steps + 1, particles, 2: NaN marks positions not observed"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.particles, 2)
