"""Fixed-step integrators, written once for every right-hand side.

Each integrator turns a right-hand side ``rhs(y, p, t) -> dy/dt`` (a ``td.func`` of the state
vector ``y``, the parameter vector ``p`` and the time ``t``) into a step
``step(y, p, t, dt) -> y(t + dt)``, itself a ``td.func``: the rollout kernels call it, and
derivatives of any order flow through it.

* ``"euler"``: explicit Euler (order 1);
* ``"rk4"``: the classical Runge-Kutta method (order 4);
* ``"symplectic_euler"`` and ``"leapfrog"`` (velocity Verlet, order 2): for states made of
  positions then velocities of equal length (``y = (q, v)``, ``q' = v``-like): velocities are
  updated from the old positions, then positions from the new velocities. Without damping both
  conserve a shadow energy, so the energy error stays bounded over long runs.
"""

from collections.abc import Callable

import numpy as np

import tidal as td
from tidal.dsl.errors import TidalArgumentError


def euler(rhs, d: int, k: int):
    @td.func
    def step(y: td.vec(d), p: td.vec(k), t: float, dt: float) -> td.vec(d):
        return y + dt * rhs(y, p, t)

    return step


def rk4(rhs, d: int, k: int):
    @td.func
    def step(y: td.vec(d), p: td.vec(k), t: float, dt: float) -> td.vec(d):
        k1 = rhs(y, p, t)
        k2 = rhs(y + 0.5 * dt * k1, p, t + 0.5 * dt)
        k3 = rhs(y + 0.5 * dt * k2, p, t + 0.5 * dt)
        k4 = rhs(y + dt * k3, p, t + dt)
        return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return step


def _halves(d: int, name: str):
    if d % 2:
        raise TidalArgumentError(f"{name} needs a state of positions then velocities (an even "
                                 f"number of components), got {d}",
                                 hint='use integrator="rk4" for other systems')
    h = d // 2
    velocities = np.array([0.0] * h + [1.0] * h)
    return 1.0 - velocities, velocities


def symplectic_euler(rhs, d: int, k: int):
    positions, velocities = _halves(d, "symplectic_euler")

    @td.func
    def step(y: td.vec(d), p: td.vec(k), t: float, dt: float) -> td.vec(d):
        kicked = y + dt * velocities * rhs(y, p, t)
        return kicked + dt * positions * rhs(kicked, p, t)

    return step


def leapfrog(rhs, d: int, k: int):
    positions, velocities = _halves(d, "leapfrog")

    @td.func
    def step(y: td.vec(d), p: td.vec(k), t: float, dt: float) -> td.vec(d):
        half = y + 0.5 * dt * velocities * rhs(y, p, t)
        drifted = half + dt * positions * rhs(half, p, t + 0.5 * dt)
        return drifted + 0.5 * dt * velocities * rhs(drifted, p, t + dt)

    return step


INTEGRATORS: dict[str, Callable] = {"euler": euler, "rk4": rk4,
                                    "symplectic_euler": symplectic_euler, "leapfrog": leapfrog}


def make_step(rhs, d: int, k: int, integrator: str):
    """The step ``td.func`` of ``rhs`` with the named integrator.

    Raises:
        TidalArgumentError: for an unknown integrator name.
    """
    make = INTEGRATORS.get(integrator)
    if make is None:
        raise TidalArgumentError(f"unknown integrator {integrator!r}",
                                 hint=f"choose one of {', '.join(sorted(INTEGRATORS))}")
    return make(rhs, d, k)
