"""Many particles interacting by a pair potential (molecular dynamics), simulated and fitted in
tidal.

:func:`~tidal.physics.particles.pair_system` writes every pair of a small system out as
straight-line code (fast for a few particles, but its code and compile time grow with the
square of their number). :class:`Particles` keeps particles in fields and loops over them: the
force on particle ``i`` is ``sum_j -phi'(r_ij) (x_i - x_j) / r_ij`` over the other particles
(a loop in the kernel, one thread per particle, so no two threads add to one force), with
``phi' = td.grad(phi)`` derived from the potential's tidal source. Only pairs closer than
``cutoff`` interact (default: all); the potential is then shifted by its value at the cutoff,
so the energy stays continuous. With ``cell_list=True`` (a cutoff is then required) the force
loop visits only the particles of the neighbouring cells of a grid of cells at least
``cutoff`` wide: ``O(n)`` work per step instead of ``O(n^2)``, the same forces (a pair closer
than the cutoff always lies in neighbouring cells; particles outside the grid, which covers
the starting positions with a margin of two cells, are counted in its edge cells, which keeps
that true). With ``box=L`` the particles live in the periodic box ``[0, L)^dim``: every drift
wraps the positions back into the box and a pair interacts through its nearest image (the
cutoff is then at most ``L / 2``, so the nearest image is the only one within it); a cell list
then tiles the box with at least three cells a side, its neighbours wrapping round.
The cells are sorted every step by a plain Taichi kernel into per-step integer
fields, which no derivative touches and no later step overwrites. Velocity Verlet, one step
written once:

* ``drift(t)``: ``x[t+1] = x[t] + dt v[t] + dt^2 / 2 a[t]`` (parallel over particles);
* ``kick(t)``: ``a[t+1]`` from the pair forces at ``x[t+1]``, then ``v[t+1] = v[t] + dt / 2
  (a[t] + a[t+1])`` (parallel over particles);

``advance(t)`` launches both (and, at ``t = 0``, the accelerations at the start); ``rollout()``
launches the starting accelerations, then runs every step in one launch (with a cell list:
``advance`` step by step, parallel over particles, since the cells are sorted between the two
launches of a step). Every state is stored (or one window with ``checkpoint_every``), so both
give identical trajectories.

Named parameters that :func:`tidal.fit` can fit: the potential's (``"epsilon"``, ``"sigma"``
for Lennard-Jones; ``"depth"``, ``"width"``, ``"r0"`` for Morse; ``"G"``, ``"softening"`` for
gravity), ``"mass"``, ``"x0"`` and ``"v0"`` (``(n, dim)``). Observations are positions,
``(steps + 1, n, dim)``.
"""

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import field_io, launches, runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.physics import particles
from tidal.physics.simulator import Simulator


class Particles(Simulator):
    """Particles in 1-3 dimensions interacting by a pair potential, in free space.

    Args:
        potential: ``"lennard_jones"``, ``"morse"`` or ``"gravity"``.
        positions: ``(n, dim)`` initial positions (no two alike).
        steps: number of time steps.
        dt: time step.
        velocities: ``(n, dim)`` initial velocities (default 0).
        mass: the particles' common mass.
        cutoff: pairs farther apart than this do not interact (default: every pair does).
        cell_list: find the pairs closer than ``cutoff`` through a grid of cells (for many
            particles: linear instead of quadratic work per step).
        box: the side ``L`` of a periodic box ``[0, L)^dim`` (default: free space); needs a
            ``cutoff`` of at most ``L / 2``, and the positions inside the box.
        checkpoint_every: steps per stored window, or ``"auto"`` (see
            :class:`~tidal.physics.simulator.Simulator`); default: every step is stored.
        **params: the potential's parameter values (all of them).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Particles
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> grid = 1.12 * np.argwhere(np.ones((4, 4))).astype(float)
        >>> gas = Particles("lennard_jones", grid, steps=10, dt=0.002, epsilon=1.0, sigma=1.0)
        >>> gas.simulate().shape
        (11, 16, 2)
    """

    def __init__(self, potential: str, positions, steps: int, dt: float = 0.005,
                 velocities=None, mass: float = 1.0, cutoff: float | None = None,
                 cell_list: bool = False, checkpoint_every: int | None = None,
                 box: float | None = None, **params):
        phi, names = particles.potential_of(potential, params)
        x = np.asarray(positions, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] not in (1, 2, 3):
            raise TidalArgumentError(f"positions must have shape (particles, dim) with at "
                                     f"least two particles and dim 1, 2 or 3, got "
                                     f"{np.shape(positions)}")
        n, dim = x.shape
        gaps = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.eye(n)
        if np.min(gaps) == 0.0:
            raise TidalArgumentError("two particles start at the same position (the pair "
                                     "force is undefined at distance 0)")
        window = self._plan(steps, checkpoint_every, per_step=8 * n * dim)
        if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
            raise TidalArgumentError(f"dt must be a positive number, got {dt!r}")
        if cutoff is not None and not (np.isfinite(cutoff) and cutoff > 0):
            raise TidalArgumentError(f"cutoff must be a positive number, got {cutoff!r}")
        if cell_list and cutoff is None:
            raise TidalArgumentError("a cell list needs a cutoff",
                                     hint="pass cutoff=... (for Lennard-Jones, 2.5 sigma is usual)")
        if box is not None:
            if not (isinstance(box, (int, float)) and np.isfinite(box) and box > 0):
                raise TidalArgumentError(f"box must be a positive number, got {box!r}")
            if cutoff is None or cutoff > 0.5 * box:
                raise TidalArgumentError(
                    f"a periodic box of side {box} needs a cutoff of at most half its side, "
                    f"got {cutoff!r}", hint="pass cutoff=... (for Lennard-Jones, 2.5 sigma)")
            if np.any(x < 0) or np.any(x >= box):
                raise TidalArgumentError(f"positions must lie in the box [0, {box})")
        self.box = None if box is None else float(box)
        self.potential, self.potential_names = potential, tuple(names)
        self.n, self.dim, self.dt = n, dim, float(dt)
        self.cutoff = None if cutoff is None else float(cutoff)
        self._values = {name: np.array(0.0) for name in names}
        self._values.update({"mass": np.array(1.0), "x0": x.copy(), "v0": np.zeros_like(x)})
        for name in names:
            self.set(name, params[name])
        self.set("mass", mass)
        if velocities is not None:
            self.set("v0", velocities)
        real = runtime.config().default_fp.taichi
        shape = (window + 1, n)
        self.x = ti.Vector.field(dim, real, shape=shape, needs_grad=True)
        self.v = ti.Vector.field(dim, real, shape=shape, needs_grad=True)
        self.a = ti.Vector.field(dim, real, shape=shape, needs_grad=True)
        self._scalars = {name: ti.field(real, shape=(), needs_grad=True)
                         for name in (*names, "mass")}
        self.data = ti.Vector.field(dim, real, shape=shape)
        self.weights = ti.Vector.field(dim, real, shape=shape)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self.cells = _CellGrid(x, self.cutoff, window, self.box) if cell_list else None
        self._kernels(phi, len(names))

    # -- the step, written once ----------------------------------------------------------------
    def _kernels(self, phi, k: int) -> None:
        x, v, a, data, weights, loss = self.x, self.v, self.a, self.data, self.weights, \
            self.loss
        n, dim, dt, window = self.n, self.dim, self.dt, self.window
        fields = [self._scalars[name] for name in self.potential_names]
        mass = self._scalars["mass"]
        first, second = fields[0], fields[1]
        third = fields[2] if k == 3 else fields[1]  # (unused for two parameters)
        force = td.grad(phi, argnums=0)  # dphi/dr, derived from the potential's source
        far = 1e300 if self.cutoff is None else self.cutoff
        periodic = self.box is not None
        side = self.box if periodic else 1.0

        @td.func
        def coefficients() -> td.vec(k):
            q = td.vec(k)(0.0)
            q[0] = first[None]
            q[1] = second[None]
            if ti.static(k == 3):
                q[2] = third[None]
            return q

        cells = self.cells
        use_cells = cells is not None
        count = begin = members = offsets = cell_of = neighbour = None
        if use_cells:
            count, begin, members = cells.count, cells.start, cells.members
            offsets, cell_of, neighbour = cells.offsets, cells.coordinates, cells.neighbour

        @ti.func
        def pair(delta, q):
            """The force on a particle from one at ``-delta`` from it (zero beyond the
            cutoff)."""
            if ti.static(periodic):  # the nearest image
                delta = delta - side * ti.floor(delta / side + 0.5)
            r = delta.norm()
            f = delta * 0.0
            if r < far:
                f = -force(r, q) / r * delta
            return f

        @td.func
        def acceleration(t: ti.i32, i: ti.i32) -> td.vec(dim):
            """The pair forces on particle i at step t, over its mass."""
            q = coefficients()
            total = td.vec(dim)(0.0)
            if ti.static(not use_cells):
                for j in range(n):
                    if j != i:
                        total += pair(x[t, i] - x[t, j], q)
            else:
                home = x[t, i]
                base = cell_of(home)
                for o in ti.static(range(len(offsets))):
                    c = neighbour(base, o)
                    if c >= 0:
                        first = begin[t, c]
                        for m in range(first, first + count[t, c]):
                            j = members[t, m]
                            if j != i:
                                total += pair(home - x[t, j], q)
            return total / mass[None]

        @td.func
        def drift_one(t: ti.i32, i: ti.i32):
            if ti.static(periodic):  # back into the box
                p = x[t, i] + dt * v[t, i] + 0.5 * dt * dt * a[t, i]
                x[t + 1, i] = p - side * ti.floor(p / side)
            else:
                x[t + 1, i] = x[t, i] + dt * v[t, i] + 0.5 * dt * dt * a[t, i]

        @td.func
        def kick_one(t: ti.i32, i: ti.i32):
            a[t + 1, i] = acceleration(t + 1, i)
            v[t + 1, i] = v[t, i] + 0.5 * dt * (a[t, i] + a[t + 1, i])

        @td.kernel
        def start():
            for i in range(n):
                a[0, i] = acceleration(0, i)

        @td.kernel
        def drift(t: ti.i32):
            for i in range(n):
                drift_one(t, i)

        @td.kernel
        def kick(t: ti.i32):
            for i in range(n):
                kick_one(t, i)

        def advance(t: int) -> None:
            """One step: positions, then forces and velocities (two launches; the second
            reads every position the first wrote). Step 0 first computes the starting
            accelerations. With a cell list, the particles are sorted into cells before each
            force evaluation."""
            if t == 0:
                if use_cells:
                    cells.sort(x, 0)
                start()
            drift(t)
            if use_cells:
                cells.sort(x, t + 1)
            kick(t)

        @td.kernel
        def steps():
            for _ in range(1):  # one launch; the time loop and the particles run in order
                for t in range(window):
                    for i in range(n):
                        drift_one(t, i)
                    for i in range(n):
                        kick_one(t, i)

        def rollout() -> None:
            """The starting accelerations, then every step in one launch (with a cell list,
            one :func:`advance` per step)."""
            if use_cells:
                for t in range(window):
                    advance(t)
                return
            start()
            steps()

        @td.kernel
        def mismatch():
            for t, i in ti.ndrange(window + 1, n):
                r = x[t, i] - data[t, i]
                loss[None] += (weights[t, i] * r * r).sum()

        self.start, self.drift, self.kick, self.advance = start, drift, kick, advance
        self.rollout, self.mismatch = rollout, mismatch

    # -- parameters and runs (the rest is the Simulator base's) -------------------------------
    def _param_fields(self) -> dict:
        return {**{name: (f, False) for name, f in self._scalars.items()},
                "x0": (self.x, True), "v0": (self.v, True)}

    def _check(self, name: str, value: np.ndarray) -> None:
        if name == "mass" and not value > 0:
            raise TidalArgumentError(f"mass must be positive, got {float(value)}",
                                     hint="fit it with log_scale=True to keep it so")

    def _load_more(self) -> None:
        self.a.fill(0.0)

    # -- temperature and a thermostat for live runs -------------------------------------------
    def temperature(self, velocities=None) -> float:
        """The kinetic temperature ``mass sum |v - mean v|^2 / (dim (n - 1))`` (``k_B = 1``;
        the centre of mass's ``dim`` degrees of freedom left out) of ``velocities`` (default:
        the live state's, or ``v0`` before a live run).

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.physics import Particles
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> gas = Particles("lennard_jones", [[0.0, 0.0], [1.2, 0.0]], steps=1, epsilon=1.0,
            ...                 sigma=1.0, velocities=[[1.0, 0.0], [-1.0, 0.0]])
            >>> gas.temperature()
            1.0
        """
        if velocities is None:
            velocities = self._live_velocities()
            if velocities is None:
                velocities = self._values["v0"]
        v = np.asarray(velocities, dtype=np.float64)
        v = v - v.mean(axis=0)
        return float(self._values["mass"]) * float(np.sum(v * v)) / (self.dim * (self.n - 1))

    def _live_velocities(self):
        """The velocities a live run goes on from (the last slice of ``v``), or None before
        the first :meth:`advance_live` (and after :meth:`restart_live`)."""
        if not self.live:
            return None
        return np.asarray(field_io.read_slice(self.v, self.window), dtype=np.float64)

    def thermostat_live(self, temperature: float, rate: float = 1.0) -> float:
        """A Berendsen thermostat between :meth:`advance_live` calls: scale the velocities the
        live run goes on from about their mean (total momentum unchanged) by ``s = sqrt(1 +
        rate (T0 / T - 1))``, ``T0 = temperature``, ``T`` the :meth:`temperature` now.
        ``rate`` is the window's time over the coupling time (``window * dt / tau``, in ``(0,
        1]``; 1 sets the temperature exactly). Before the first live window it scales ``v0``.
        Returns ``s``.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.physics import Particles
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> gas = Particles("lennard_jones", [[0.0, 0.0], [1.2, 0.0]], steps=1, epsilon=1.0,
            ...                 sigma=1.0, velocities=[[1.0, 0.0], [-1.0, 0.0]])
            >>> gas.thermostat_live(0.25), gas.temperature()
            (0.5, 0.25)
        """
        if not (isinstance(temperature, (int, float)) and np.isfinite(temperature)
                and temperature >= 0):
            raise TidalArgumentError(f"temperature must be non-negative, got {temperature!r}")
        if not 0 < rate <= 1:
            raise TidalArgumentError(f"rate must be in (0, 1], got {rate!r}")
        now = self.temperature()
        if now <= 0:
            return 1.0
        scale = float(np.sqrt(max(1.0 + rate * (temperature / now - 1.0), 0.0)))
        live = self._live_velocities()
        v = self._values["v0"] if live is None else live
        mean = v.mean(axis=0)
        v = mean + scale * (v - mean)
        if live is None:
            self.set("v0", v)
            return scale
        field_io.write_slice(self.v, self.window, v)  # where the next live window starts
        return scale

    def potential_energy(self, positions) -> float:
        """The pair potential energy of one configuration ``(n, dim)`` (NumPy, shifted to zero
        at the cutoff, nearest images in a periodic box)."""
        x = np.asarray(positions, dtype=np.float64)
        if self.cutoff is None:
            i, j = np.triu_indices(self.n, 1)
        else:  # only the pairs within the cutoff, found by a k-d tree
            from scipy.spatial import cKDTree

            if self.box is not None:
                x = np.mod(x, self.box)
                x[x >= self.box] = 0.0
            tree = cKDTree(x, boxsize=self.box)
            i, j = tree.query_pairs(self.cutoff, output_type="ndarray").T
        return float(self._pair_energies(x[i] - x[j]).sum())

    def _pair_energies(self, delta) -> np.ndarray:
        """``phi(|delta|)`` of pair separations ``(..., dim)`` (nearest images, shifted, cut)."""
        if self.box is not None:
            delta = delta - self.box * np.floor(delta / self.box + 0.5)
        r = np.linalg.norm(delta, axis=-1)
        p = {name: float(self._values[name]) for name in self.potential_names}
        pair = _numpy_potential(self.potential, r, p)
        if self.cutoff is not None:
            pair = np.where(r < self.cutoff, pair - _numpy_potential(
                self.potential, np.array(self.cutoff), p), 0.0)
        return pair

    def energy(self, trajectory=None) -> np.ndarray:
        """Kinetic plus potential energy at every stored step of the last run (NumPy, from
        the fields; the potential shifted to zero at the cutoff), or of ``trajectory`` =
        ``(positions, velocities)``."""
        if trajectory is None:
            trajectory = (self.x.to_numpy(), self.v.to_numpy())
        x, v = (np.asarray(q, dtype=np.float64) for q in trajectory)
        kinetic = 0.5 * float(self._values["mass"]) * np.sum(v * v, axis=(1, 2))
        i, j = np.triu_indices(self.n, 1)
        pair = self._pair_energies(x[:, i] - x[:, j])
        return kinetic + pair.sum(axis=1)

    @property
    def states(self):
        """Positions at every step, ``x[t, i]`` (what :meth:`simulate` returns)."""
        return self.x

    layout = "steps + 1, particles, coordinates: NaN marks values not observed"

    @property
    def observation_shape(self) -> tuple:
        return (self.steps + 1, self.n, self.dim)


def _numpy_potential(potential: str, r, p: dict):
    """The three potentials in NumPy (a check independent of the tidal source)."""
    if potential == "lennard_jones":
        s6 = (p["sigma"] / r) ** 6
        return 4.0 * p["epsilon"] * (s6 * s6 - s6)
    if potential == "morse":
        e = 1.0 - np.exp(-p["width"] * (r - p["r0"]))
        return p["depth"] * e * e
    return -p["G"] / np.sqrt(r * r + p["softening"] ** 2)


class _CellGrid:
    """A grid of cells at least ``cutoff`` wide over the starting positions (two cells of
    margin on every side; at most about ``8 n`` cells, wider ones for sparse systems), and per
    step ``t`` the particles sorted by cell: ``members[t, start[t, c]:start[t, c] + count[t,
    c]]`` are the particles in cell ``c``. A position outside the grid counts in the nearest
    edge cell (clamping keeps cells of particles closer than a cell width neighbours)."""

    def __init__(self, x0: np.ndarray, cutoff: float, window: int, box: float | None = None):
        n, dim = x0.shape
        limit = max(8 * n, 64)
        if box is None:
            lo, hi = x0.min(axis=0) - 2 * cutoff, x0.max(axis=0) + 2 * cutoff
            size = cutoff
            cells = np.maximum(np.ceil((hi - lo) / size), 1)
            if np.prod(cells) > limit:
                size = cutoff * (np.prod(cells) / limit) ** (1.0 / dim)
                cells = np.maximum(np.ceil((hi - lo) / size), 1)
        else:  # the periodic box tiled by cells at least ``cutoff`` wide, neighbours wrapping
            side = min(int(box // cutoff), max(int(limit ** (1.0 / dim)), 3))
            if side < 3:
                raise TidalArgumentError(
                    f"a cell list in a periodic box needs at least three cells of the cutoff "
                    f"({cutoff}) a side, and the box is {box} wide",
                    hint="leave cell_list out for so small a box")
            lo, size, cells = np.zeros(dim), box / side, np.full(dim, side)
        periodic = box is not None
        self.shape = tuple(int(c) for c in cells)
        self.offsets = [tuple(int(v) for v in o) for o in np.argwhere(np.ones((3,) * dim)) - 1]
        total = int(np.prod(self.shape))
        self.count = ti.field(ti.i32, shape=(window + 1, total))
        self.start = ti.field(ti.i32, shape=(window + 1, total))
        self.members = ti.field(ti.i32, shape=(window + 1, n))
        cursor = ti.field(ti.i32, shape=total)
        corner, shape = ti.Vector([float(v) for v in lo]), self.shape
        count, start, members = self.count, self.start, self.members

        @ti.func
        def coordinates(p):
            c = ti.cast(ti.floor((p - corner) / size), ti.i32)
            for d in ti.static(range(dim)):
                c[d] = ti.min(ti.max(c[d], 0), shape[d] - 1)
            return c

        @ti.func
        def flat(c):
            f = 0
            for d in ti.static(range(dim)):
                f = f * shape[d] + c[d]
            return f

        offsets = self.offsets

        @ti.func
        def neighbour(base, o):
            """The flat index of the cell at ``offsets[o]`` from cell ``base``; -1 outside."""
            inside = True
            c = 0
            for d in ti.static(range(dim)):
                k = base[d] + offsets[o][d]
                if ti.static(periodic):
                    k = (k + shape[d]) % shape[d]
                inside = inside and k >= 0 and k < shape[d]
                c = c * shape[d] + k
            if not inside:
                c = -1
            return c

        @ti.kernel
        def sort(x: ti.template(), t: ti.i32):
            for c in range(total):
                count[t, c] = 0
                cursor[c] = 0
            for i in range(n):
                ti.atomic_add(count[t, flat(coordinates(x[t, i]))], 1)
            for _ in range(1):
                running = 0
                for c in range(total):
                    start[t, c] = running
                    running += count[t, c]
            for i in range(n):
                c = flat(coordinates(x[t, i]))
                members[t, start[t, c] + ti.atomic_add(cursor[c], 1)] = i

        self.coordinates, self.neighbour, self._sort = coordinates, neighbour, sort

    def sort(self, x, t: int) -> None:
        """Sort the particles of step ``t`` (positions ``x[t]``) into their cells (unseen by
        an active tape: integer bookkeeping no derivative flows through)."""
        with launches.quiet():
            self._sort(x, t)
