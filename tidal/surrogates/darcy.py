"""Steady Darcy flow ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary,
by second-order finite differences and a sparse direct solve: the FNO Darcy data.

The grid is the ``s x s`` node grid ``x_i = i h``, ``h = 1 / (s - 1)``, boundary included (the
layout of the FNO data sets: their 85 x 85 files are every fifth node of a 421 x 421 grid).
Arrays are indexed ``[i, j]`` at ``(x_i, y_j)``. At each interior node the flux-form
five-point stencil

    -(a_{i+1/2,j} (u_{i+1,j} - u_ij) - a_{i-1/2,j} (u_ij - u_{i-1,j})) / h^2 - (same in j) = f_ij

with the face coefficient the **arithmetic** mean ``(a_ij + a_{i+1,j}) / 2`` of the two nodes
(as the FNO MATLAB solver does) or, with ``averaging="harmonic"``, ``2 a_ij a_{i+1,j} /
(a_ij + a_{i+1,j})`` (the flux-continuous choice across a jump of ``a``). The matrix is symmetric
positive definite; SciPy's sparse LU (SuperLU) solves it.

What is guaranteed: second-order convergence for smooth ``a`` and ``u`` (errors fall 4x per
halving of ``h``; tests/test_surrogate_data.py measures it against a manufactured solution with
variable coefficient and against the series solution for ``a = f = 1``); the returned ``u`` is
exactly zero on the boundary.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks, grf

AVERAGING = ("arithmetic", "harmonic")


def _faces(a_left: np.ndarray, a_right: np.ndarray, averaging: str) -> np.ndarray:
    if averaging == "arithmetic":
        return 0.5 * (a_left + a_right)
    return 2.0 * a_left * a_right / (a_left + a_right)


def darcy_matrix(a, averaging: str = "arithmetic") -> scipy.sparse.csc_matrix:
    """The finite-difference operator ``-div(a grad .)`` on the interior nodes of the ``s x s``
    grid of ``a``, as a sparse ``(s-2)^2 x (s-2)^2`` matrix (interior nodes in C order).

    Example:
        >>> darcy_matrix(np.ones((4, 4))).toarray()[0]
        array([36., -9., -9.,  0.])
    """
    a = _checks.finite_array("a", a, ndim=2)
    s = a.shape[0]
    if a.shape != (s, s) or s < 3:
        raise TidalArgumentError(f"a must be an s x s array with s >= 3, got shape {a.shape}")
    if np.any(a <= 0):
        raise TidalArgumentError("the coefficient a must be positive everywhere",
                                 hint="threshold or exponentiate the random field first")
    averaging = _checks.choice("averaging", averaging, AVERAGING)
    h2 = (1.0 / (s - 1)) ** 2
    m = s - 2
    fx = _faces(a[:-1, 1:-1], a[1:, 1:-1], averaging) / h2  # (s-1, m): face between i and i+1
    fy = _faces(a[1:-1, :-1], a[1:-1, 1:], averaging) / h2  # (m, s-1): face between j and j+1
    diagonal = fx[:-1] + fx[1:] + fy[:, :-1] + fy[:, 1:]  # (m, m)
    index = np.arange(m * m).reshape(m, m)
    rows = [index.ravel()]
    cols = [index.ravel()]
    vals = [diagonal.ravel()]
    for r, c, v in ((index[:-1], index[1:], fx[1:-1]),  # i <-> i + 1
                    (index[:, :-1], index[:, 1:], fy[:, 1:-1])):  # j <-> j + 1
        rows += [r.ravel(), c.ravel()]
        cols += [c.ravel(), r.ravel()]
        vals += [-v.ravel(), -v.ravel()]
    return scipy.sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2)


def solve_darcy(a, f=1.0, averaging: str = "arithmetic") -> np.ndarray:
    """Solve ``-div(a grad u) = f`` on the unit square, ``u = 0`` on the boundary.

    Args:
        a: the coefficient at the ``s x s`` nodes (``s >= 3``), positive.
        f: the source: a number or an ``s x s`` array (only interior values are used).
        averaging: ``"arithmetic"`` or ``"harmonic"`` mean of ``a`` on the cell faces.

    Returns:
        ``u`` at the ``s x s`` nodes, zero on the boundary.

    Raises:
        TidalArgumentError: a not square, not positive, or f of the wrong shape.

    Example:
        >>> u = solve_darcy(np.ones((33, 33)))
        >>> abs(float(u[16, 16]) - 0.0736714) < 1e-4  # the series solution at the centre
        True
    """
    matrix = darcy_matrix(a, averaging)
    s = np.shape(a)[0]
    if np.ndim(f) == 0:
        rhs = np.full((s - 2) ** 2, _checks.finite_array("f", f).item())
    else:
        rhs = _checks.finite_array("f", f, shape=(s, s))[1:-1, 1:-1].ravel()
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = scipy.sparse.linalg.spsolve(matrix, rhs).reshape(s - 2, s - 2)
    return u


def darcy_sample(rng, s: int = 32, alpha: float = 2.0, tau: float = 3.0,
                 sigma: float | None = None, high: float = 12.0, low: float = 3.0,
                 f: float = 1.0, averaging: str = "arithmetic") -> tuple[np.ndarray, np.ndarray]:
    """One FNO Darcy pair: the thresholded coefficient ``a`` (``high`` where a Neumann GRF is
    ``>= 0``, ``low`` elsewhere) and the solution ``u`` of ``-div(a grad u) = f``.

    Args:
        rng: a ``numpy.random.Generator`` (or a seed: an int >= 0).
        s: grid points per side, boundary included (the FNO sets: 85, 141, 211, 421).
        alpha, tau, sigma: the GRF's covariance (see :func:`tidal.surrogates.grf.grf_2d`).
        high, low: the two coefficient values.
        f: the constant source.
        averaging: face averaging of ``a`` (see :func:`solve_darcy`).

    Returns:
        ``(a, u)``, each ``(s, s)``.

    Example:
        >>> a, u = darcy_sample(np.random.default_rng(0), s=16)
        >>> sorted(set(a.ravel().tolist())), u.shape
        ([3.0, 12.0], (16, 16))
    """
    s = _checks.integer("s", s, 3)
    a = grf.threshold(grf.grf_2d(s, rng, alpha, tau, sigma, boundary="neumann"), high, low)
    return a, solve_darcy(a, f, averaging)
