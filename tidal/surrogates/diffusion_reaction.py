"""The diffusion-reaction equation of DeepXDE's physics-informed DeepONet example,
``u_t = D u_xx - k u^2 + f(x)`` on ``x in [0, 1]``, ``t in [0, 1]``, ``u = 0`` at ``t = 0`` and
at ``x = 0, 1``, ``D = k = 0.01``, ``f`` an RBF random field (length scale 0.2), solved by a
second-order finite-difference scheme: the reference the PI-DeepONet is measured against.

Note the sign: DeepXDE's residual is ``u_t - D u_xx + k u^2 - f``, so the reaction is
``-k u^2`` (absorbing); pass a negative ``k`` for ``+|k| u^2``.

Scheme: nodes ``x_i = i / (nx - 1)``, times ``t_n = n T / (nt - 1)``; three-point Laplacian;
linearly implicit Crank-Nicolson in time, the reaction ``g(u) = -k u^2`` at the half step taken
as ``g(u^n) + g'(u^n) (u^{n+1} - u^n) / 2`` and the source as ``(f^n + f^{n+1}) / 2``
(DeepXDE's own reference solver makes the same choices); one tridiagonal solve per step.

What is guaranteed: second order in ``h`` and ``dt`` (tests/test_surrogate_data.py measures the
order against a manufactured solution); ``u`` is exactly zero on the boundary and at ``t = 0``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.interpolate
import scipy.linalg

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks, grf


def solve_diffusion_reaction(source, nx: int = 100, nt: int = 100, diffusivity: float = 0.01,
                             k: float = 0.01, t_end: float = 1.0) -> np.ndarray:
    """``u`` of ``u_t = D u_xx - k u^2 + f`` with zero initial and boundary values.

    Args:
        source: ``f``: values at the ``nx`` nodes (constant in time), or a NumPy function
            ``f(x, t)`` of the nodes and one time returning ``(nx,)`` values.
        nx: nodes on ``[0, 1]``, both ends included (at least 3).
        nt: times on ``[0, t_end]``, both ends included (at least 2).
        diffusivity: ``D`` (>= 0).
        k: the reaction coefficient (any finite number).
        t_end: the final time.

    Returns:
        ``(nt, nx)``: ``u[n, i]`` at ``(t_n, x_i)``.

    Example:
        >>> u = solve_diffusion_reaction(np.ones(21), nx=21, nt=11)
        >>> u.shape, float(u[0].max()), float(u[:, 0].max())
        ((11, 21), 0.0, 0.0)
    """
    nx = _checks.integer("nx", nx, 3)
    nt = _checks.integer("nt", nt, 2)
    d = _checks.positive("diffusivity", diffusivity, allow_zero=True)
    k = _checks.finite_array("k", k, shape=()).item()
    t_end = _checks.positive("t_end", t_end)
    x = np.linspace(0.0, 1.0, nx)
    t = np.linspace(0.0, t_end, nt)
    h, dt = x[1] - x[0], t[1] - t[0]
    if callable(source):
        f: Callable = source
    else:
        values = _checks.finite_array("source", source, shape=(nx,))

        def f(_x, _t):
            return values

    m = nx - 2
    r = d / h ** 2
    u = np.zeros((nt, nx))
    f_now = np.asarray(f(x, t[0]), dtype=np.float64)[1:-1]
    for n in range(nt - 1):
        un = u[n, 1:-1]
        g, dg = -k * un * un, -2.0 * k * un
        f_next = np.asarray(f(x, t[n + 1]), dtype=np.float64)[1:-1]
        laplacian = -2.0 * un
        laplacian[1:] += un[:-1]
        laplacian[:-1] += un[1:]
        rhs = (un / dt + 0.5 * r * laplacian - 0.5 * dg * un + g + 0.5 * (f_now + f_next))
        bands = np.empty((3, m))
        bands[0] = -0.5 * r
        bands[1] = 1.0 / dt + r - 0.5 * dg
        bands[2] = -0.5 * r
        u[n + 1, 1:-1] = scipy.linalg.solve_banded((1, 1), bands, rhs)
        f_now = f_next
    if not np.all(np.isfinite(u)):
        raise TidalArgumentError("the diffusion-reaction solution blew up",
                                 hint="use more time steps (nt) or a smaller source")
    return u


def diffusion_reaction_sample(rng, m: int = 50, nx: int = 100, nt: int = 100,
                              diffusivity: float = 0.01, k: float = 0.01,
                              length_scale: float = 0.2,
                              n_fine: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """One PI-DeepONet diffusion-reaction pair: the source ``f`` at ``m`` sensors and ``u`` on
    the ``nt x nx`` grid of ``[0, 1]^2``.

    Args:
        rng: a ``numpy.random.Generator`` (or a seed).
        m: sensors of ``f`` on ``[0, 1]`` (DeepXDE: 50).
        nx, nt: the solver's grid (DeepXDE's reference: 100 x 100).
        diffusivity, k: ``D`` and ``k`` (DeepXDE: 0.01 and 0.01).
        length_scale: of the RBF field ``f`` (DeepXDE: 0.2).
        n_fine: the points ``f`` is drawn on before cubic interpolation (DeepXDE: 1,000).

    Returns:
        ``(f_sensors, u)``: ``(m,)`` and ``(nt, nx)``.

    Example:
        >>> f, u = diffusion_reaction_sample(np.random.default_rng(0), nx=21, nt=11)
        >>> f.shape, u.shape
        ((50,), (11, 21))
    """
    m = _checks.integer("m", m, 2)
    n_fine = _checks.integer("n_fine", n_fine, 4)
    fine = np.linspace(0.0, 1.0, n_fine)
    spline = scipy.interpolate.CubicSpline(fine, grf.grf_rbf(n_fine, rng, length_scale))
    nx = _checks.integer("nx", nx, 3)
    u = solve_diffusion_reaction(spline(np.linspace(0.0, 1.0, nx)), nx, nt, diffusivity, k)
    return spline(np.linspace(0.0, 1.0, m)), u
