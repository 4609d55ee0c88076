"""Classic ODE systems as right-hand sides (``td.func``) and ready-made :class:`ODE` models.

Each constructor takes the parameter values, the initial state(s), the step and the number of
steps, and returns an :class:`~tidal.physics.ode.ODE` whose parameters carry the names below.
"""

import taichi as ti

import tidal as td
from tidal.physics.ode import ODE


@td.func
def pendulum_rhs(y: td.vec(2), p: td.vec(3), t: float) -> td.vec(2):
    """A damped pendulum: ``y = (angle, angular velocity)``, ``p = (length, damping,
    gravity)``; ``angle'' = -(gravity / length) sin(angle) - damping angle'``."""
    return td.vec(2)(y[1], -p[2] / p[0] * ti.sin(y[0]) - p[1] * y[1])


@td.func
def lotka_volterra_rhs(y: td.vec(2), p: td.vec(4), t: float) -> td.vec(2):
    """Predator and prey: ``y = (prey, predators)``, ``p = (alpha, beta, delta, gamma)``;
    ``prey' = alpha prey - beta prey predators``, ``predators' = delta prey predators -
    gamma predators``."""
    return td.vec(2)(p[0] * y[0] - p[1] * y[0] * y[1], p[2] * y[0] * y[1] - p[3] * y[1])


@td.func
def lorenz_rhs(y: td.vec(3), p: td.vec(3), t: float) -> td.vec(3):
    """The Lorenz system, ``p = (sigma, rho, beta)``."""
    return td.vec(3)(p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2])


def pendulum(length: float = 1.0, damping: float = 0.0, gravity: float = 9.81,
             y0=(1.0, 0.0), dt: float = 0.01, steps: int = 500,
             integrator: str = "rk4") -> ODE:
    """A damped pendulum with parameters ``length``, ``damping`` and ``gravity``.

    Example:
        >>> import tidal as td
        >>> from tidal.physics import pendulum
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> sim = pendulum(length=2.0, y0=(0.1, 0.0), steps=10)
        >>> sim.simulate().shape
        (1, 11, 2)
    """
    return ODE(pendulum_rhs, ["angle", "velocity"],
               {"length": length, "damping": damping, "gravity": gravity}, y0, dt, steps,
               integrator)


def lotka_volterra(alpha: float = 1.1, beta: float = 0.4, delta: float = 0.1,
                   gamma: float = 0.4, y0=(10.0, 10.0), dt: float = 0.01, steps: int = 1500,
                   integrator: str = "rk4") -> ODE:
    """Predator-prey dynamics with rates ``alpha``, ``beta``, ``delta`` and ``gamma``.

    Example:
        >>> import tidal as td
        >>> from tidal.physics import lotka_volterra
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> lotka_volterra(steps=10).simulate().shape
        (1, 11, 2)
    """
    return ODE(lotka_volterra_rhs, ["prey", "predators"],
               {"alpha": alpha, "beta": beta, "delta": delta, "gamma": gamma}, y0, dt, steps,
               integrator)


def lorenz(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0,
           y0=(1.0, 1.0, 1.0), dt: float = 0.005, steps: int = 400,
           integrator: str = "rk4") -> ODE:
    """The Lorenz system with parameters ``sigma``, ``rho`` and ``beta``.

    Example:
        >>> import tidal as td
        >>> from tidal.physics import lorenz
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> lorenz(steps=10).simulate().shape
        (1, 11, 3)
    """
    return ODE(lorenz_rhs, ["x", "y", "z"], {"sigma": sigma, "rho": rho, "beta": beta}, y0,
               dt, steps, integrator)
