"""The Burgers PINN of Raissi et al. as a ready-made :class:`~tidal.solvers.Problem`.

The residual ``u_t + u u_x - nu u_xx`` is a tidal function of derivative names; the problem
computes ``u_x, u_xx`` in one Taylor-mode pass along ``x`` and ``u_t`` in one along ``t``, and
its parameter gradient with ``td.Tape``. Used by the training-step benchmark and its tests, where
the collocation and boundary points are given rather than sampled.

Guarantee: the problem's loss is ``mean(r^2 over collocation points) + mean((u - u_b)^2 over
initial/boundary points)``, the loss of the peers in ``benchmarks/pinn_peers.py``.
"""

import math

import numpy as np

import tidal as td
from tidal.solvers.conditions import Observations
from tidal.solvers.geometry import Interval, TimeDomain
from tidal.solvers.network import MLP
from tidal.solvers.problem import Problem


def burgers_residual(nu: float = 0.01 / math.pi, dtype=None) -> td.TidalFunction:
    """The residual ``u_t + u u_x - nu u_xx`` as a tidal function (of ``u, u_t, u_x, u_xx``).

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> burgers_residual(nu=0.5, dtype=td.f64)(1.0, 2.0, 3.0, 4.0)
        3.0
    """
    real = td.f32 if dtype is None else dtype

    @td.func
    def burgers(u: real, u_t: real, u_x: real, u_xx: real) -> real:
        return u_t + u * u_x - nu * u_xx

    return burgers


def burgers_problem(net: MLP, collocation, boundary, boundary_values,
                    nu: float = 0.01 / math.pi) -> Problem:
    """The Burgers PINN on ``[-1, 1] x [0, 1]`` at given points (inputs ordered ``x, t``).

    Args:
        net: an :class:`MLP` of 2 inputs.
        collocation: ``(n_f, 2)`` points where the residual is penalised.
        boundary: ``(n_b, 2)`` initial/boundary points.
        boundary_values: ``(n_b,)`` values of ``u`` there.
        nu: viscosity.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import MLP
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = MLP(2, width=4, depth=2, dtype=td.f64)
        >>> p = burgers_problem(net, np.array([[0.1, 0.5]]), np.zeros((1, 2)), np.zeros(1))
        >>> value, grad = p.value_and_grad(net.get_flat())
        >>> grad.shape == (net.size,)
        True
    """
    domain = Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0)
    residual = burgers_residual(nu, net.dtype)
    data = Observations(boundary, np.asarray(boundary_values, dtype=np.float64))
    return Problem(domain, residual, [data], net, collocation=collocation)
