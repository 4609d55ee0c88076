"""Particles whose forces come from a pair potential: the force is minus ``td.grad`` of the
potential, so fitting the potential's parameters differentiates through a derivative.

A pair potential is a ``td.func`` ``phi(r: float, p: td.vec(k)) -> float`` of the distance and
the potential's parameters. :func:`pair_system` turns it into an :class:`~tidal.physics.ode.ODE`
over the state ``(positions, velocities)`` of ``n`` particles in ``dim`` dimensions, whose
right-hand side sums ``-phi'(r_ij) (x_i - x_j) / r_ij / mass`` over every pair (all pairs, in
an unrolled loop: for small systems, tens of particles). Velocity Verlet (``"leapfrog"``) is the
default integrator; it keeps the energy error bounded. Three potentials are provided:
:data:`lennard_jones`, :data:`morse` and :data:`gravity` (softened).
"""

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArgumentError
from tidal.physics.ode import ODE


@td.func
def lennard_jones(r: float, p: td.vec(2)) -> float:
    """``4 epsilon ((sigma / r)^12 - (sigma / r)^6)``, ``p = (epsilon, sigma)``."""
    s6 = (p[1] / r) ** 6
    return 4.0 * p[0] * (s6 * s6 - s6)


@td.func
def morse(r: float, p: td.vec(3)) -> float:
    """``depth (1 - exp(-width (r - r0)))^2``, ``p = (depth, width, r0)``."""
    e = 1.0 - ti.exp(-p[1] * (r - p[2]))
    return p[0] * e * e


@td.func
def gravity(r: float, p: td.vec(2)) -> float:
    """``-G / sqrt(r^2 + softening^2)`` (unit masses), ``p = (G, softening)``."""
    return -p[0] / ti.sqrt(r * r + p[1] * p[1])


POTENTIALS = {"lennard_jones": (lennard_jones, ("epsilon", "sigma")),
              "morse": (morse, ("depth", "width", "r0")),
              "gravity": (gravity, ("G", "softening"))}


def potential_of(potential: str, params: dict):
    """The potential's ``td.func`` and parameter names, after checking that ``params`` names
    exactly those parameters.

    Raises:
        TidalArgumentError: for an unknown potential, a missing or an unknown parameter.
    """
    if potential not in POTENTIALS:
        raise TidalArgumentError(f"unknown potential {potential!r}",
                                 hint=f"choose one of {', '.join(POTENTIALS)}")
    phi, names = POTENTIALS[potential]
    missing = [n for n in names if n not in params]
    unknown = [n for n in params if n not in names]
    if missing or unknown:
        raise TidalArgumentError(
            f"the {potential} potential takes the parameters {', '.join(names)}; "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"))
    return phi, names


def pair_rhs(potential, n: int, dim: int, k: int):
    """The right-hand side ``td.func`` of ``n`` particles in ``dim`` dimensions interacting by
    ``potential`` (``k`` parameters, then the mass as parameter ``k``)."""
    force = td.grad(potential, argnums=0)  # dphi/dr, itself tidal source
    d = 2 * n * dim

    @td.func
    def rhs(y: td.vec(d), p: td.vec(k + 1), t: float) -> td.vec(d):
        q = td.vec(k)(0.0)  # the potential's parameters (p ends with the mass)
        for c in ti.static(range(k)):
            q[c] = p[c]
        out = td.vec(d)(0.0)
        for c in ti.static(range(n * dim)):
            out[c] = y[n * dim + c]
        for i in ti.static(range(n)):
            for j in ti.static(range(i + 1, n)):
                delta = td.vec(dim)(0.0)
                for c in ti.static(range(dim)):
                    delta[c] = y[i * dim + c] - y[j * dim + c]
                r = delta.norm()
                push = -force(r, q) / (r * p[k])
                for c in ti.static(range(dim)):
                    out[n * dim + i * dim + c] += push * delta[c]
                    out[n * dim + j * dim + c] -= push * delta[c]
        return out

    return rhs


def pair_system(potential: str, positions, velocities=None, mass: float = 1.0,
                dt: float = 0.005, steps: int = 400, integrator: str = "leapfrog",
                **params) -> ODE:
    """Particles interacting by a pair potential, as an :class:`ODE` with the potential's
    named parameters and ``"mass"``.

    Args:
        potential: ``"lennard_jones"`` (``epsilon``, ``sigma``), ``"morse"`` (``depth``,
            ``width``, ``r0``) or ``"gravity"`` (``G``, ``softening``).
        positions: ``(n, dim)`` initial positions (or ``(experiments, n, dim)``).
        velocities: initial velocities of the same shape (default 0).
        mass: the particles' common mass.
        dt, steps, integrator: as for :class:`ODE` (velocity Verlet by default).
        **params: the potential's parameter values (all of them).

    Returns:
        An :class:`ODE` whose state is the positions, then the velocities, flattened per
        particle (``x0, y0, x1, y1, ..., vx0, vy0, ...``).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import pair_system
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = pair_system("lennard_jones", [[0.0, 0.0], [1.2, 0.0]], epsilon=1.0,
        ...                   sigma=1.0, steps=10)
        >>> sim.simulate().shape
        (1, 11, 8)
    """
    phi, names = potential_of(potential, params)
    x = np.asarray(positions, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 2 or x.shape[2] not in (1, 2, 3):
        raise TidalArgumentError(f"positions must have shape (particles, dim) with at least "
                                 f"two particles and dim 1, 2 or 3, got {np.shape(positions)}")
    v = np.zeros_like(x) if velocities is None else np.asarray(velocities, dtype=np.float64)
    if v.ndim == 2:
        v = v[None]
    if v.shape != x.shape:
        raise TidalArgumentError(f"velocities must have the positions' shape {x.shape[1:]}, "
                                 f"got {np.shape(velocities)}")
    _, n, dim = x.shape
    gaps = [np.linalg.norm(x[:, i] - x[:, j], axis=-1) for i in range(n) for j in range(i)]
    if np.min(gaps) == 0.0:
        raise TidalArgumentError("two particles start at the same position (the pair force "
                                 "is undefined at distance 0)")
    axes = "xyz"[:dim]
    state = [f"{a}{i}" for i in range(n) for a in axes] + \
        [f"v{a}{i}" for i in range(n) for a in axes]
    values = {name: params[name] for name in names}
    values["mass"] = mass
    y0 = np.concatenate([x.reshape(len(x), -1), v.reshape(len(v), -1)], axis=1)
    return ODE(pair_rhs(phi, n, dim, len(names)), state, values, y0, dt, steps, integrator)


def pair_energy(potential: str, trajectory: np.ndarray, n: int, dim: int, mass: float = 1.0,
                **params) -> np.ndarray:
    """Total energy (kinetic plus pair potential) along ``trajectory`` (``(steps + 1, 2 n
    dim)``), computed in NumPy for the three provided potentials (a check independent of the
    simulation)."""
    x = trajectory[:, :n * dim].reshape(-1, n, dim)
    v = trajectory[:, n * dim:].reshape(-1, n, dim)
    energy = 0.5 * mass * np.sum(v * v, axis=(1, 2))
    for i in range(n):
        for j in range(i + 1, n):
            r = np.linalg.norm(x[:, i] - x[:, j], axis=-1)
            if potential == "lennard_jones":
                s6 = (params["sigma"] / r) ** 6
                energy += 4.0 * params["epsilon"] * (s6 * s6 - s6)
            elif potential == "morse":
                e = 1.0 - np.exp(-params["width"] * (r - params["r0"]))
                energy += params["depth"] * e * e
            else:
                energy += -params["G"] / np.sqrt(r * r + params["softening"] ** 2)
    return energy
