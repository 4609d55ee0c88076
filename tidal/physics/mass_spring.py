"""Mass-spring networks and cloth in 2-D and 3-D, simulated and fitted in tidal.

Masses move under Hooke springs, linear damping and gravity (along ``-y``); pinned masses stay
put; an optional ball (a disc in 2-D) and floor (``y >= floor``) push masses out and remove the
velocity into them. One step is written once, as two ``td.func``s: the force of one spring
(scattered to its two masses) and the update of one mass (``"symplectic_euler"``: velocity
first, then position from the new velocity; ``"euler"``: both from the old state). From them
come both runs: ``advance(t)`` (one step: a kernel parallel over springs, then one parallel
over masses, for interactive use) and ``rollout()`` (the whole time loop in one launch, for
fitting). Every state is stored (``x[t, i]``, ``v[t, i]``), so both give identical
trajectories and the adjoint overwrites nothing.

Named parameters that :func:`tidal.fit` can fit: ``"stiffness"`` (one per spring),
``"damping"``, ``"x0"`` and ``"v0"`` (initial positions and velocities, ``(n, dim)``).
"""

import warnings

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import taichi as ti

import tidal as td
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics.simulator import SPURIOUS_GROWTH, Simulator

INTEGRATORS = ("symplectic_euler", "euler")
_FAR = 1e30  # the height of an absent floor is -_FAR, the radius of an absent ball -1


def lattice(nx: int, ny: int | None = None, spacing: float = 0.1):
    """A square lattice of masses in 2-D with horizontal, vertical and diagonal springs.

    The top row is anchored; springs between two anchored masses (which never stretch) are left
    out.

    Args:
        nx: masses per row.
        ny: number of rows (default ``nx``).
        spacing: distance between neighbouring masses.

    Returns:
        ``(positions, springs, anchored)``: an (n, 2) float array, an (m, 2) int array of mass
        index pairs and the list of anchored mass indices.

    Example:
        >>> from tidal.physics import lattice
        >>> positions, springs, anchored = lattice(3)
        >>> positions.shape, springs.shape, anchored
        ((9, 2), (14, 2), [6, 7, 8])
    """
    ny = nx if ny is None else ny
    positions = np.array([[i * spacing, j * spacing] for j in range(ny) for i in range(nx)])
    anchored = [nx * (ny - 1) + i for i in range(nx)]
    top = set(anchored)
    springs = [(a, b) for a, b in _grid_springs(nx, ny, bend=False)
               if not (a in top and b in top)]
    return positions, np.array(springs, dtype=np.int32), anchored


def cloth(nx: int, ny: int | None = None, spacing: float = 0.05, height: float = 1.0,
          bend: bool = True):
    """A horizontal sheet of cloth in 3-D: masses on a grid in the ``x``-``z`` plane at
    ``y = height``, with structural, shear and (``bend``) bending springs; its two far corners
    are pinned.

    Returns:
        ``(positions, springs, pinned)`` as for :func:`lattice`, positions ``(n, 3)``.

    Example:
        >>> from tidal.physics import cloth
        >>> positions, springs, pinned = cloth(4)
        >>> positions.shape, len(springs), pinned
        ((16, 3), 58, [12, 15])
    """
    ny = nx if ny is None else ny
    positions = np.array([[i * spacing, height, j * spacing] for j in range(ny)
                          for i in range(nx)])
    springs = np.array(_grid_springs(nx, ny, bend=bend), dtype=np.int32)
    return positions, springs, [nx * (ny - 1), nx * ny - 1]


def _grid_springs(nx: int, ny: int, bend: bool) -> list:
    """Pairs of grid masses: neighbours, both diagonals of each cell (only the rising one
    without ``bend``, as :func:`lattice` has always had) and, with ``bend``, masses two apart."""
    springs = []
    for j in range(ny):
        for i in range(nx):
            a = j * nx + i
            if i + 1 < nx:
                springs.append((a, a + 1))
            if j + 1 < ny:
                springs.append((a, a + nx))
            if i + 1 < nx and j + 1 < ny:
                springs.append((a, a + nx + 1))
                if bend:
                    springs.append((a + 1, a + nx))
            if bend and i + 2 < nx:
                springs.append((a, a + 2))
            if bend and j + 2 < ny:
                springs.append((a, a + 2 * nx))
    return springs


class MassSpring(Simulator):
    """Masses joined by springs, in 2-D or 3-D (the width of ``positions``).

    Args:
        positions: (n, dim) initial positions, dim 2 or 3.
        springs: (m, 2) pairs of mass indices.
        stiffness: (m,) spring constants (a scalar fills them).
        steps: number of time steps.
        dt: time step.
        damping: velocity damping rate.
        gravity: downward (``-y``) acceleration.
        anchored: indices of masses that do not move.
        rest: (m,) rest lengths (default: the lengths in ``positions``).
        mass: a scalar or (n,) masses.
        velocities: (n, dim) initial velocities (default 0).
        integrator: ``"symplectic_euler"`` (default) or ``"euler"`` (explicit).
        ball: ``(center, radius)`` of a fixed ball (a disc in 2-D) that masses cannot enter.
        floor: height below which masses cannot go.
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import MassSpring
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = MassSpring(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0, 1]]),
        ...                  10.0, steps=10, anchored=[0])
        >>> sim.simulate().shape
        (11, 2, 2)
    """

    def __init__(self, positions, springs, stiffness, steps: int, dt: float = 1e-3,
                 damping: float = 0.5, gravity: float = 9.8, anchored=(), rest=None,
                 mass=1.0, velocities=None, integrator: str = "symplectic_euler",
                 ball=None, floor: float | None = None, checkpoint_every: int | None = None):
        positions = np.asarray(positions, dtype=np.float64)
        springs = np.asarray(springs)
        if positions.ndim != 2 or positions.shape[1] not in (2, 3) or len(positions) < 1:
            raise TidalArgumentError(f"positions must have shape (n, 2) or (n, 3), got "
                                     f"{np.shape(positions)}")
        n, dim = positions.shape
        if springs.ndim != 2 or springs.shape[1] != 2 or len(springs) < 1 \
                or not np.issubdtype(springs.dtype, np.integer):
            raise TidalArgumentError(f"springs must be an (m, 2) array of mass indices, got "
                                     f"shape {np.shape(springs)}")
        if springs.min() < 0 or springs.max() >= n or np.any(springs[:, 0] == springs[:, 1]):
            raise TidalArgumentError(f"springs must join two different masses of the {n}")
        window = self._plan(steps, checkpoint_every, per_step=8 * n * dim)
        if not dt > 0:
            raise TidalArgumentError(f"dt must be positive, got {dt!r}")
        if integrator not in INTEGRATORS:
            raise TidalArgumentError(f"unknown integrator {integrator!r}",
                                     hint=f"choose one of {', '.join(INTEGRATORS)}")
        m = len(springs)
        self.n, self.m, self.dim, self.dt = n, m, dim, float(dt)
        self.integrator = integrator
        self._springs, self._warned, self._checked = springs.astype(np.int64), False, None
        if rest is None:
            rest = np.linalg.norm(positions[springs[:, 1]] - positions[springs[:, 0]], axis=1)
        rest = np.broadcast_to(np.asarray(rest, dtype=np.float64), (m,))
        if np.any(rest <= 0):
            raise TidalArgumentError("rest lengths must be positive (two masses of a spring "
                                     "start at the same place)", hint="pass rest=...")
        self._rest = rest.copy()
        mass = np.broadcast_to(np.asarray(mass, dtype=np.float64), (n,))
        if np.any(mass <= 0):
            raise TidalArgumentError("masses must be positive")
        self._mass = mass.copy()
        anchored = np.asarray(anchored, dtype=np.int64).reshape(-1)
        if anchored.size and (anchored.min() < 0 or anchored.max() >= n):
            raise TidalArgumentError(f"anchored indices must lie in 0..{n - 1}")
        self._values = {"stiffness": np.zeros(m), "damping": np.array(0.0),
                        "x0": positions.copy(), "v0": np.zeros((n, dim))}
        self.set("stiffness", stiffness)
        self.set("damping", damping)
        if velocities is not None:
            self.set("v0", velocities)

        real = runtime.config().default_fp.taichi
        self.x = ti.Vector.field(dim, real, shape=(window + 1, n), needs_grad=True)
        self.v = ti.Vector.field(dim, real, shape=(window + 1, n), needs_grad=True)
        self.f = ti.Vector.field(dim, real, shape=(window, n), needs_grad=True)
        self.k = ti.field(real, shape=m, needs_grad=True)
        self.c = ti.field(real, shape=(), needs_grad=True)
        self.rest = ti.field(real, shape=m)
        self.ends = ti.field(ti.i32, shape=(m, 2))
        self.free = ti.field(real, shape=n)
        self.inv_mass = ti.field(real, shape=n)
        self.data = ti.Vector.field(dim, real, shape=(window + 1, n))
        self.weights = ti.Vector.field(dim, real, shape=(window + 1, n))
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self.rest.from_numpy(rest.copy())
        self.ends.from_numpy(springs.astype(np.int32))
        free = np.ones(n)
        free[anchored] = 0.0
        self._free = free.copy()
        self.free.from_numpy(free)
        self.inv_mass.from_numpy(1.0 / mass)
        center, radius = (np.zeros(dim), -1.0) if ball is None else ball
        center = np.asarray(center, dtype=np.float64)
        if center.shape != (dim,) or (ball is not None and not radius > 0):
            raise TidalArgumentError(f"ball must be (center of {dim} coordinates, positive "
                                     f"radius), got {ball!r}")
        self._kernels(gravity, center, float(radius), -_FAR if floor is None else float(floor))

    # -- kernels, made from the one step -------------------------------------------------------
    def _kernels(self, gravity, center, radius, floor) -> None:
        x, v, f, k, c, rest, ends = self.x, self.v, self.f, self.k, self.c, self.rest, self.ends
        free, inv_mass, data, weights, loss = self.free, self.inv_mass, self.data, \
            self.weights, self.loss
        n, m, dim, steps, dt = self.n, self.m, self.dim, self.window, self.dt
        symplectic = 1.0 if self.integrator == "symplectic_euler" else 0.0
        g = np.zeros(dim)
        g[1] = -gravity
        g = tuple(g)
        ball = tuple(center)

        @td.func
        def spring_force(t: ti.i32, s: ti.i32):
            """Hooke force of spring s at step t, added to its two masses."""
            a = ends[s, 0]
            b = ends[s, 1]
            d = x[t, b] - x[t, a]
            length = d.norm()
            fs = k[s] * (length - rest[s]) / length * d
            f[t, a] += fs
            f[t, b] -= fs

        @td.func
        def move(t: ti.i32, i: ti.i32):
            """State of mass i at step t + 1 from its state and force at step t."""
            acc = inv_mass[i] * f[t, i] + ti.Vector(g) - c[None] * v[t, i]
            vn = free[i] * (v[t, i] + dt * acc)
            xn = x[t, i] + dt * (symplectic * vn + (1.0 - symplectic) * free[i] * v[t, i])
            off = xn - ti.Vector(ball)
            dist = off.norm()
            if dist < radius:  # pushed out of the ball, the velocity into it removed
                normal = off / dist
                xn = ti.Vector(ball) + radius * normal
                into = vn.dot(normal)
                if into < 0.0:
                    vn = vn - into * normal
            if xn[1] < floor:
                xn[1] = floor
                if vn[1] < 0.0:
                    vn[1] = 0.0
            v[t + 1, i] = vn
            x[t + 1, i] = xn

        @td.kernel
        def forces(t: ti.i32):
            for s in range(m):
                spring_force(t, s)

        @td.kernel
        def moves(t: ti.i32):
            for i in range(n):
                move(t, i)

        def advance(t: int) -> None:
            """One step: the spring forces, then every mass (two launches: the second reads
            what the first accumulated)."""
            forces(t)
            moves(t)

        @td.kernel
        def rollout():
            for _ in range(1):  # one launch; the time loop, springs and masses run in order
                for t in range(steps):
                    for s in range(m):
                        spring_force(t, s)
                    for i in range(n):
                        move(t, i)

        @td.kernel
        def mismatch():
            for t, i in ti.ndrange(steps + 1, n):
                r = x[t, i] - data[t, i]
                loss[None] += (weights[t, i] * r * r).sum()

        self.forces, self.moves, self.advance = forces, moves, advance
        self.rollout, self.mismatch = rollout, mismatch

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {"stiffness": (self.k, False), "damping": (self.c, False), "x0": (self.x, True),
                "v0": (self.v, True)}

    def _load_more(self) -> None:
        self.f.fill(0.0)

    # -- changing the network between runs (no recompilation) ---------------------------------
    def set_anchored(self, anchored) -> None:
        """Make exactly the masses ``anchored`` (indices) stay put from the next run on, the
        others free; the kernels are unchanged (an interactive editor pins and frees masses
        with it).

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.physics import MassSpring
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> sim = MassSpring(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0, 1]]),
            ...                  10.0, steps=10, anchored=[0])
            >>> sim.set_anchored([0, 1])
            >>> float(np.abs(sim.simulate()[-1] - sim.get("x0")).max())
            0.0
        """
        anchored = np.asarray(anchored, dtype=np.int64).reshape(-1)
        if anchored.size and (anchored.min() < 0 or anchored.max() >= self.n):
            raise TidalArgumentError(f"anchored indices must lie in 0..{self.n - 1}")
        free = np.ones(self.n)
        free[anchored] = 0.0
        self._free = free.copy()
        self.free.from_numpy(free)
        self._checked = None  # the stiffest free vibration may have changed

    def set_springs(self, springs, rest=None) -> None:
        """Replace the ``m`` springs (the same number: the kernels are unchanged) by the pairs
        ``springs`` ``(m, 2)`` with rest lengths ``rest`` (default: their lengths at the
        current ``x0``); the stiffnesses stay. A spring of stiffness 0 between two masses
        that never meet acts as an unused slot, so a network can grow up to a capacity
        without recompiling.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.physics import MassSpring
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> sim = MassSpring(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]),
            ...                  np.array([[0, 1]]), 10.0, steps=10)
            >>> sim.set_springs([[0, 2]]); sim.set_springs([[0, 2]], rest=[1.5])
            >>> sim.rest.to_numpy().tolist()
            [1.5]
        """
        springs = np.asarray(springs)
        if springs.shape != (self.m, 2) or not np.issubdtype(springs.dtype, np.integer):
            raise TidalArgumentError(f"springs must be an ({self.m}, 2) array of mass indices "
                                     f"(as many springs as the model was built with), got "
                                     f"shape {np.shape(springs)}")
        if springs.min() < 0 or springs.max() >= self.n \
                or np.any(springs[:, 0] == springs[:, 1]):
            raise TidalArgumentError(f"springs must join two different masses of the {self.n}")
        if rest is None:
            x = self._values["x0"]
            rest = np.linalg.norm(x[springs[:, 1]] - x[springs[:, 0]], axis=1)
        rest = np.broadcast_to(np.asarray(rest, dtype=np.float64), (self.m,))
        if not np.all(rest > 0):
            raise TidalArgumentError("rest lengths must be positive (two masses of a spring "
                                     "start at the same place)", hint="pass rest=...")
        self._springs, self._rest = springs.astype(np.int64), rest.copy()
        self.ends.from_numpy(springs.astype(np.int32))
        self.rest.from_numpy(rest.copy())
        self._checked = None

    # -- stability -----------------------------------------------------------------------------
    def stiffest_mode(self) -> float:
        """``omega^2`` of the stiffest vibration: the largest eigenvalue of ``M^-1 K`` with ``K``
        the springs' Hessian at the initial positions (free masses only)."""
        x = self._values["x0"]
        a, b = self._springs[:, 0], self._springs[:, 1]
        d = x[b] - x[a]
        length = np.linalg.norm(d, axis=1)
        u = d / length[:, None]
        k = self._values["stiffness"]
        eye = np.eye(self.dim)
        blocks = k[:, None, None] * (u[:, :, None] * u[:, None, :] + (
            1.0 - self._rest / length)[:, None, None] * (eye - u[:, :, None] * u[:, None, :]))
        rows, cols, vals = [], [], []
        dofs = np.arange(self.dim)
        for p, q, sign in ((a, a, 1.0), (b, b, 1.0), (a, b, -1.0), (b, a, -1.0)):
            r = (p[:, None, None] * self.dim + dofs[None, :, None]).repeat(self.dim, 2)
            c = (q[:, None, None] * self.dim + dofs[None, None, :]).repeat(self.dim, 1)
            rows.append(r.ravel())
            cols.append(c.ravel())
            vals.append(sign * blocks.ravel())
        size = self.n * self.dim
        K = scipy.sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows),
                                     np.concatenate(cols))), shape=(size, size)).tocsr()
        keep = np.repeat(self._free > 0, self.dim)
        scale = 1.0 / np.sqrt(np.repeat(self._mass, self.dim))[keep]
        K = scipy.sparse.diags(scale) @ K[keep][:, keep] @ scipy.sparse.diags(scale)
        if K.shape[0] == 0:
            return 0.0
        if K.shape[0] <= 2000:
            return float(np.linalg.eigvalsh(K.toarray())[-1])
        return float(scipy.sparse.linalg.eigsh(K, k=1, which="LA",
                                               return_eigenvectors=False)[0])

    def stability(self) -> float:
        """How much one step amplifies the stiffest vibration (the spectral radius of the
        step on that mode, with the damping): above 1, the run grows where the physics decays.
        Symplectic Euler is stable while ``omega dt < 2`` (undamped); explicit Euler never
        quite is, and relies on the damping."""
        lam, dt, c = max(self.stiffest_mode(), 0.0), self.dt, float(self._values["damping"])
        if self.integrator == "symplectic_euler":
            step = np.array([[1.0 - lam * dt * dt, dt * (1.0 - c * dt)], [-lam * dt, 1.0 - c * dt]])
        else:
            step = np.array([[1.0, dt], [-lam * dt, 1.0 - c * dt]])
        return float(np.max(np.abs(np.linalg.eigvals(step))))

    def _before_run(self) -> None:
        # the eigenvalue costs far more than a small run: check the first run, then again only
        # when the stiffest spring is stiffer or the damping weaker than at every check so far
        k_max = float(np.max(self._values["stiffness"]))
        damping = float(self._values["damping"])
        if self._warned or (self._checked is not None and k_max <= self._checked[0]
                            and damping >= self._checked[1]):
            return
        self._checked = (k_max if self._checked is None else max(k_max, self._checked[0]),
                         damping if self._checked is None else min(damping, self._checked[1]))
        radius = self.stability()
        growth = float(np.exp(min(self.steps * np.log(max(radius, 1e-300)), 700.0)))
        if growth > SPURIOUS_GROWTH:
            self._warned = True
            omega = np.sqrt(max(self.stiffest_mode(), 0.0))
            limit = "" if self.integrator != "symplectic_euler" else \
                f" (symplectic Euler needs omega dt < 2: dt < {2.0 / omega:.3g})"
            warnings.warn(
                f"dt = {self.dt:g} is outside the stability limit of {self.integrator!r} for "
                f"these springs: the stiffest vibration (omega = {omega:.4g} per unit time) "
                f"grows by {radius:.4g} per step, {growth:.3g}x over the {self.steps} steps"
                f"{limit}. Use a smaller dt (more steps) or stiffer damping",
                TidalWarning, stacklevel=4)

    @property
    def states(self):
        """Positions at every step, ``x[t, i]`` (what :meth:`simulate` returns)."""
        return self.x

    def trajectory(self, stiffness=None) -> np.ndarray:
        """Positions ``(steps + 1, n, dim)``, optionally for other stiffnesses (kept)."""
        if stiffness is not None:
            self.set("stiffness", stiffness)
        return self.simulate()

    layout = "steps + 1, masses, coordinates: NaN marks values not observed"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.n, self.dim)

    # -- shortcuts for the stiffnesses alone ---------------------------------------------------
    def value_and_grad(self, stiffness, target=None, whole: bool = True):
        """Loss and its gradient with respect to the stiffnesses at ``stiffness`` (and, when
        given, after observing ``target``, (steps + 1, n, dim) positions)."""
        if target is not None:
            self.observe(target)
        self.set("stiffness", stiffness)
        value, (g,) = self.loss_grad(["stiffness"], whole)
        return value, g

    def hvp(self, stiffness, direction, whole: bool = True):
        """Loss, gradient and Hessian-vector product along ``direction`` (stiffnesses)."""
        self.set("stiffness", stiffness)
        value, (g,), (hv,) = self.loss_grad_hvp(["stiffness"], [direction], whole)
        return value, g, hv
