"""A differentiable 2-D mass-spring network, written as tidal kernels.

Masses move under spring forces, linear damping and gravity, integrated with symplectic Euler;
anchored masses stay put. Positions and velocities are stored per time step (``x[t, i]``), so a
rollout overwrites nothing and its adjoint recomputes from stored states. Two ways to run it:

* :meth:`MassSpring.step_kernels`: two kernel launches per step (forces, then integration), the
  style of ``ti.ad.Tape`` programs;
* one launch of :meth:`MassSpring.rollout` with the whole time loop inside the kernel, which
  avoids per-launch overhead (forward and adjoint).
"""

from __future__ import annotations

import numpy as np
import taichi as ti

import tidal as td


def lattice(nx: int, ny: int | None = None, spacing: float = 0.1):
    """A square lattice of masses with horizontal, vertical and diagonal springs.

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
    springs = [(a, b) for a, b in springs if not (a in top and b in top)]
    return positions, np.array(springs, dtype=np.int32), anchored


class MassSpring:
    """A mass-spring network with per-spring stiffness as the differentiable parameter.

    Args:
        positions: (n, 2) initial positions.
        springs: (m, 2) pairs of mass indices.
        stiffness: (m,) spring constants.
        steps: number of time steps.
        dt: time step.
        damping: velocity damping rate.
        gravity: downward acceleration.
        anchored: indices of masses that do not move.
        rest: (m,) rest lengths (default: the initial lengths).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import MassSpring
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = MassSpring(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0, 1]]),
        ...                  np.array([10.0]), steps=10, anchored=[0])
        >>> loss, grad = sim.value_and_grad(np.array([10.0]), np.zeros((11, 2, 2)))
        >>> grad.shape
        (1,)
    """

    def __init__(self, positions, springs, stiffness, steps: int, dt: float = 1e-3,
                 damping: float = 0.5, gravity: float = 9.8, anchored=(), rest=None):
        positions = np.asarray(positions, dtype=np.float64)
        springs = np.asarray(springs, dtype=np.int32)
        n, m = len(positions), len(springs)
        self.n, self.m, self.steps, self.dt = n, m, steps, dt
        self.x0 = positions
        if rest is None:
            rest = np.linalg.norm(positions[springs[:, 1]] - positions[springs[:, 0]], axis=1)
        self.x = ti.Vector.field(2, ti.f64, shape=(steps + 1, n), needs_grad=True)
        self.v = ti.Vector.field(2, ti.f64, shape=(steps + 1, n), needs_grad=True)
        self.f = ti.Vector.field(2, ti.f64, shape=(steps, n), needs_grad=True)
        self.k = ti.field(ti.f64, shape=m, needs_grad=True)
        self.rest = ti.field(ti.f64, shape=m)
        self.ends = ti.field(ti.i32, shape=(m, 2))
        self.free = ti.field(ti.f64, shape=n)
        self.target = ti.Vector.field(2, ti.f64, shape=(steps + 1, n))
        self.loss = ti.field(ti.f64, shape=(), needs_grad=True)
        self.rest.from_numpy(np.asarray(rest, dtype=np.float64))
        self.ends.from_numpy(springs)
        free = np.ones(n)
        free[list(anchored)] = 0.0
        self.free.from_numpy(free)
        self.k.from_numpy(np.asarray(stiffness, dtype=np.float64))
        self._build(n, m, steps, dt, damping, gravity)

    def _build(self, n, m, steps, dt, damping, gravity):
        x, v, f, k, rest, ends, free = self.x, self.v, self.f, self.k, self.rest, self.ends, \
            self.free
        target, loss = self.target, self.loss

        @td.kernel
        def forces(t: ti.i32):
            for s in range(m):
                a = ends[s, 0]
                b = ends[s, 1]
                d = x[t, b] - x[t, a]
                length = d.norm()
                fs = k[s] * (length - rest[s]) / length * d
                f[t, a] += fs
                f[t, b] -= fs

        @td.kernel
        def advance(t: ti.i32):
            for i in range(n):
                acc = f[t, i] + ti.Vector([0.0, -gravity]) - damping * v[t, i]
                vi = free[i] * (v[t, i] + dt * acc)
                v[t + 1, i] = vi
                x[t + 1, i] = x[t, i] + dt * vi

        @td.kernel
        def rollout():
            ti.loop_config(serialize=True)
            for t in range(steps):
                for s in range(m):
                    a = ends[s, 0]
                    b = ends[s, 1]
                    d = x[t, b] - x[t, a]
                    length = d.norm()
                    fs = k[s] * (length - rest[s]) / length * d
                    f[t, a] += fs
                    f[t, b] -= fs
                for i in range(n):
                    acc = f[t, i] + ti.Vector([0.0, -gravity]) - damping * v[t, i]
                    vi = free[i] * (v[t, i] + dt * acc)
                    v[t + 1, i] = vi
                    x[t + 1, i] = x[t, i] + dt * vi

        @td.kernel
        def mismatch():
            for t, i in ti.ndrange(steps + 1, n):
                loss[None] += (x[t, i] - target[t, i]).norm_sqr()

        self.forces, self.advance, self.rollout, self.mismatch = forces, advance, rollout, \
            mismatch

    # -- running -----------------------------------------------------------------------------
    def reset(self, stiffness=None) -> None:
        """Initial state (at rest), zero forces and loss; optionally new stiffnesses."""
        if stiffness is not None:
            self.k.from_numpy(np.asarray(stiffness, dtype=np.float64))
        xs = np.zeros((self.steps + 1, self.n, 2))
        xs[0] = self.x0
        self.x.from_numpy(xs)
        self.v.fill(0.0)
        self.f.fill(0.0)
        self.loss[None] = 0.0

    def run(self, whole: bool = False):
        """Launch the rollout and the loss (after :meth:`reset`); returns the loss field."""
        if whole:
            self.rollout()
        else:
            for t in range(self.steps):
                self.forces(t)
                self.advance(t)
        self.mismatch()
        return self.loss

    def step_kernels(self):
        return self.forces, self.advance

    def trajectory(self, stiffness) -> np.ndarray:
        """Positions (steps + 1, n, 2) for the given stiffnesses."""
        self.reset(stiffness)
        self.run(whole=True)
        return self.x.to_numpy()

    def set_target(self, positions) -> None:
        self.target.from_numpy(np.asarray(positions, dtype=np.float64))

    def value_and_grad(self, stiffness, target=None, whole: bool = True):
        """Loss and its gradient with respect to the stiffnesses (a tidal Tape)."""
        if target is not None:
            self.set_target(target)
        self.reset(stiffness)
        with td.Tape(self.loss):
            self.run(whole)
        return float(self.loss[None]), self.k.grad.to_numpy()

    def hvp(self, stiffness, direction, whole: bool = True):
        """Loss, gradient and Hessian-vector product along ``direction``."""
        self.reset(stiffness)

        def run():
            return self.run(whole)

        value, (g,), (hv,) = td.hvp(run, [self.k], [np.asarray(direction, dtype=np.float64)])
        return value, g, hv
