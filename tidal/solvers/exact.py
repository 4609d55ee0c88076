"""Exact (reference) solutions of classic PDE benchmarks used by the PINN examples.

Everything here is plain NumPy/SciPy (no Taichi), so the references are independent of the code
they are used to check. All functions broadcast their coordinate arguments against each other
with the usual NumPy rules and return ``float64`` arrays of the broadcast shape.

* :func:`burgers_exact` / :func:`burgers_grid`: viscous Burgers equation with
  ``u(0, x) = -sin(pi x)`` (Cole-Hopf transformation, Gauss-Hermite quadrature), the benchmark of
  Raissi et al. (2019) and Basdevant et al. (1986).
* :func:`heat_1d_exact`: one Fourier mode of the 1-D heat equation with zero Dirichlet ends.
* :func:`wave_1d_exact`: a standing wave of the 1-D wave equation on a string with fixed ends.
* :func:`poisson_2d_square_exact`: Poisson equation on the unit square, zero Dirichlet data.
* :func:`helmholtz_2d_exact` / :func:`helmholtz_2d_source`: Helmholtz equation on the unit
  square with a manufactured solution.
* :func:`diffusion_reaction_exact`: a 1-D diffusion equation with a decaying source (DeepXDE's
  diffusion-reaction example).
* :func:`kovasznay_exact`: Kovasznay flow, an exact steady Navier-Stokes solution.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.special import roots_hermite

from tidal.dsl.errors import TidalArgumentError

__all__ = [
    "burgers_exact",
    "burgers_grid",
    "diffusion_reaction_exact",
    "heat_1d_exact",
    "helmholtz_2d_exact",
    "helmholtz_2d_source",
    "kovasznay_exact",
    "poisson_2d_square_exact",
    "wave_1d_exact",
]

#: Fewest Gauss-Hermite nodes :func:`burgers_exact` accepts.
MIN_BURGERS_NODES = 100

# Most nodes for which numpy's hermgauss is used (it overflows from about 360 nodes on, slowly).
_HERMGAUSS_MAX_NODES = 300

# Largest number of (point, node) pairs evaluated at once, to bound temporary memory.
_CHUNK_ELEMENTS = 1 << 21


@functools.lru_cache(maxsize=16)
def _hermite_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and log-weights (weight ``exp(-s^2)``), zero-weight nodes dropped.

    ``numpy.polynomial.hermite.hermgauss`` is used where it works; beyond about 350 nodes its
    weight computation overflows, and ``scipy.special.roots_hermite`` (asymptotic formulas for
    large orders) is used instead. Nodes whose weight underflows to zero contribute nothing and
    are dropped.
    """
    s = w = None
    if nodes <= _HERMGAUSS_MAX_NODES:
        with np.errstate(all="ignore"):
            s, w = np.polynomial.hermite.hermgauss(nodes)
    if s is None or not (np.all(np.isfinite(s)) and np.all(np.isfinite(w))):
        s, w = roots_hermite(nodes)
    keep = w > 0.0
    s, logw = s[keep], np.log(w[keep])
    s.setflags(write=False)
    logw.setflags(write=False)
    return s, logw


def burgers_exact(
    x: npt.ArrayLike,
    t: npt.ArrayLike,
    nu: float = 0.01 / np.pi,
    nodes: int = 200,
) -> np.ndarray:
    """Exact solution of the viscous Burgers equation with a sine initial condition.

    Solves ``u_t + u u_x = nu u_xx`` for ``x`` in ``[-1, 1]``, ``t >= 0``, with
    ``u(0, x) = -sin(pi x)`` and ``u(t, -1) = u(t, 1) = 0``. (The formula is the 2-periodic, odd
    solution on the whole line, so it can be evaluated at any ``x``.) The Cole-Hopf
    transformation gives

        u(x, t) = -I1 / I0,
        I1 = int sin(pi (x - eta)) f(x - eta) exp(-eta^2 / (4 nu t)) d eta,
        I0 = int f(x - eta) exp(-eta^2 / (4 nu t)) d eta,
        f(y) = exp(-cos(pi y) / (2 pi nu)),

    and with ``eta = sqrt(4 nu t) s`` both integrals take the Gauss-Hermite form
    ``int g(s) exp(-s^2) ds``, evaluated here with ``nodes`` nodes. The exponents
    ``log w_i - cos(pi y_i) / (2 pi nu)`` are shifted by their maximum before exponentiation
    (log-sum-exp), so small viscosities do not overflow. At ``t = 0`` the initial condition is
    returned exactly.

    With the default ``nu = 0.01 / pi`` and 200 nodes the values agree with 400 nodes to about
    1e-14 everywhere on ``[-1, 1] x [0, 1]``, and ``max_t |u_x(0, t)|`` is 152.00516 (reached at
    ``t = 1.6037 / pi``), the value of Basdevant et al. (1986). Smaller viscosities and later
    times need more nodes (at ``nu = 1e-4``, ``t = 0.2``, 200 nodes are off by 2e-2 and 400 are
    converged): compare two node counts when leaving the default setting. Beyond about 350
    nodes, where ``numpy.polynomial.hermite.hermgauss`` overflows, the rule comes from
    ``scipy.special.roots_hermite``.

    Args:
        x: positions (array-like, broadcast against ``t``).
        t: times, ``t >= 0`` (array-like, broadcast against ``x``).
        nu: viscosity, ``> 0`` (default ``0.01 / pi``, the usual PINN benchmark).
        nodes: number of Gauss-Hermite nodes, at least 100.

    Returns:
        ``float64`` array of ``u(x, t)`` with the broadcast shape of ``x`` and ``t``.

    Raises:
        TidalArgumentError: for fewer than 100 nodes, a non-positive viscosity or a negative time.

    Example:
        >>> import numpy as np
        >>> from tidal.solvers.exact import burgers_exact
        >>> x = np.array([-0.5, 0.0, 0.5])
        >>> print(burgers_exact(x, 0.0) + 0.0)  # the initial condition -sin(pi x)
        [ 1.  0. -1.]
        >>> u = burgers_exact(x, 0.5)
        >>> bool(np.allclose(u, -u[::-1], rtol=0, atol=1e-14))  # odd in x
        True
        >>> burgers_exact(np.zeros((2, 1)), np.ones(3)).shape
        (2, 3)
    """
    if nodes < MIN_BURGERS_NODES:
        raise TidalArgumentError(
            f"burgers_exact needs at least {MIN_BURGERS_NODES} Gauss-Hermite nodes (got "
            f"{nodes}): fewer are inaccurate at this viscosity (nu = {nu:g}), where the "
            "integrand is sharply peaked near the shock"
        )
    if not nu > 0:
        raise TidalArgumentError(f"the viscosity nu must be positive, got {nu!r}")
    xb, tb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
    if np.any(tb < 0):
        raise TidalArgumentError("burgers_exact is defined for t >= 0 only")
    shape = xb.shape
    xf, tf = xb.ravel(), tb.ravel()
    out = -np.sin(np.pi * xf)  # the initial condition; overwritten where t > 0
    (later,) = np.nonzero(~(tf <= 0))  # t > 0, and NaN (which then propagates)
    s, logw = _hermite_rule(nodes)
    chunk = max(1, _CHUNK_ELEMENTS // len(s))
    for start in range(0, len(later), chunk):
        idx = later[start : start + chunk]
        scale = np.sqrt(4.0 * nu * tf[idx])[:, None]
        y = xf[idx, None] - scale * s[None, :]
        expo = logw[None, :] - np.cos(np.pi * y) / (2.0 * np.pi * nu)
        expo -= expo.max(axis=1, keepdims=True)
        g = np.exp(expo)
        out[idx] = -np.sum(np.sin(np.pi * y) * g, axis=1) / np.sum(g, axis=1)
    return out.reshape(shape)


def burgers_grid(
    nx: int = 256, nt: int = 100, nodes: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Burgers reference solution on the standard PINN grid (``nu = 0.01 / pi``).

    Args:
        nx: number of equispaced points in ``[-1, 1]`` (ends included).
        nt: number of times ``t = 0.00, 0.01, ..., (nt - 1) / 100``.
        nodes: Gauss-Hermite nodes passed to :func:`burgers_exact`.

    Returns:
        ``(x, t, u)``: ``x`` of shape ``(nx,)``, ``t`` of shape ``(nt,)`` and ``u`` of shape
        ``(nx, nt)`` with ``u[i, j] = u(x[i], t[j])``.

    Example:
        >>> from tidal.solvers.exact import burgers_grid
        >>> x, t, u = burgers_grid(nx=5, nt=3)
        >>> print(x, t)
        [-1.  -0.5  0.   0.5  1. ] [0.   0.01 0.02]
        >>> u.shape
        (5, 3)
    """
    x = np.linspace(-1.0, 1.0, nx)
    t = np.arange(nt) / 100.0
    return x, t, burgers_exact(x[:, None], t[None, :], nodes=nodes)


def heat_1d_exact(
    x: npt.ArrayLike,
    t: npt.ArrayLike,
    alpha: float = 0.4,
    length: float = 1.0,
    n: int = 1,
) -> np.ndarray:
    """One Fourier mode of the 1-D heat equation: ``exp(-alpha (n pi / L)^2 t) sin(n pi x / L)``.

    Solves ``u_t = alpha u_xx`` for ``x`` in ``[0, L]``, ``t >= 0``, with the boundary
    conditions ``u(0, t) = u(L, t) = 0`` and the initial condition ``u(x, 0) = sin(n pi x / L)``.

    Args:
        x: positions (broadcast against ``t``).
        t: times.
        alpha: diffusivity.
        length: length ``L`` of the rod.
        n: mode number (a positive integer for the boundary conditions to hold).

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``t``.

    Example:
        >>> from tidal.solvers.exact import heat_1d_exact
        >>> print(heat_1d_exact([0.0, 0.5, 1.0], 0.0).round(12))
        [0. 1. 0.]
        >>> print(round(float(heat_1d_exact(0.5, 1.0, alpha=1 / np.pi**2)), 12))  # exp(-1)
        0.367879441171
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    k = n * np.pi / length
    return np.exp(-alpha * k**2 * t) * np.sin(k * x)


def wave_1d_exact(x: npt.ArrayLike, t: npt.ArrayLike, c: float = 1.0, n: int = 1) -> np.ndarray:
    """A standing wave on a string with fixed ends: ``sin(n pi x) cos(n pi c t)``.

    Solves ``u_tt = c^2 u_xx`` for ``x`` in ``[0, 1]``, ``t >= 0``, with the boundary conditions
    ``u(0, t) = u(1, t) = 0`` and the initial conditions ``u(x, 0) = sin(n pi x)`` (displacement)
    and ``u_t(x, 0) = 0`` (released at rest). The solution is periodic in time with period
    ``2 / (n c)``.

    Args:
        x: positions (broadcast against ``t``).
        t: times.
        c: wave speed.
        n: mode number (a positive integer for the boundary conditions to hold).

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``t``.

    Example:
        >>> from tidal.solvers.exact import wave_1d_exact
        >>> print(wave_1d_exact(0.5, [0.0, 0.5, 1.0]).round(12))
        [ 1.  0. -1.]
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return np.sin(n * np.pi * x) * np.cos(n * np.pi * c * t)


def poisson_2d_square_exact(x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    """Poisson equation on the unit square: ``u = sin(pi x) sin(pi y)``.

    Solves ``-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)`` on ``[0, 1]^2`` with zero Dirichlet
    data ``u = 0`` on all four sides.

    Args:
        x: first coordinates (broadcast against ``y``).
        y: second coordinates.

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``y``.

    Example:
        >>> from tidal.solvers.exact import poisson_2d_square_exact
        >>> print(poisson_2d_square_exact([0.0, 0.5, 1.0], 0.5).round(12))
        [0. 1. 0.]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.sin(np.pi * x) * np.sin(np.pi * y)


def helmholtz_2d_exact(x: npt.ArrayLike, y: npt.ArrayLike, k0: float = 4.0 * np.pi) -> np.ndarray:
    """Helmholtz equation on the unit square: ``u = sin(k0 x) sin(k0 y)``.

    Solves ``u_xx + u_yy + k0^2 u = f`` on ``[0, 1]^2`` with the source
    ``f(x, y) = -k0^2 sin(k0 x) sin(k0 y)`` (see :func:`helmholtz_2d_source`); equivalently
    ``-u_xx - u_yy - k0^2 u = k0^2 sin(k0 x) sin(k0 y)``, the form of the DeepXDE benchmark. The
    default ``k0 = 4 pi`` (two wavelengths per side) is that benchmark's. When ``k0`` is an
    integer multiple of ``pi`` the solution satisfies zero Dirichlet data ``u = 0`` on all four
    sides; otherwise the boundary values are ``sin(k0 x) sin(k0 y)`` there.

    Args:
        x: first coordinates (broadcast against ``y``).
        y: second coordinates.
        k0: wavenumber (the same ``k0`` appears in the equation and in the solution).

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``y``.

    Example:
        >>> from tidal.solvers.exact import helmholtz_2d_exact
        >>> print(helmholtz_2d_exact([0.0, 0.125, 1.0], 0.125).round(12) + 0.0)
        [0. 1. 0.]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.sin(k0 * x) * np.sin(k0 * y)


def helmholtz_2d_source(x: npt.ArrayLike, y: npt.ArrayLike, k0: float = 4.0 * np.pi) -> np.ndarray:
    """Source ``f = -k0^2 sin(k0 x) sin(k0 y)`` of ``u_xx + u_yy + k0^2 u = f``.

    The right-hand side for which :func:`helmholtz_2d_exact` is the solution.

    Args:
        x: first coordinates (broadcast against ``y``).
        y: second coordinates.
        k0: wavenumber.

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``y``.

    Example:
        >>> import numpy as np
        >>> from tidal.solvers.exact import helmholtz_2d_source
        >>> print(round(float(helmholtz_2d_source(0.125, 0.125) / (4 * np.pi) ** 2), 12))
        -1.0
    """
    return -(k0**2) * helmholtz_2d_exact(x, y, k0)


def kovasznay_exact(x: npt.ArrayLike, y: npt.ArrayLike, re: float = 20.0) -> np.ndarray:
    """Kovasznay flow (Kovasznay 1948), an exact steady solution of the incompressible
    Navier-Stokes equations ``u . grad u + grad p - (1/Re) lap u = 0``, ``div u = 0``:
    ``u = 1 - exp(l x) cos(2 pi y)``, ``v = l / (2 pi) exp(l x) sin(2 pi y)``,
    ``p = (1 - exp(2 l x)) / 2`` with ``l = Re / 2 - sqrt(Re^2 / 4 + 4 pi^2)``.

    Args:
        x, y: coordinates (broadcast against each other).
        re: the Reynolds number (DeepXDE's example and the PINN literature use 20 on
            ``[-0.5, 1] x [-0.5, 1.5]``).

    Returns:
        ``(..., 3)``: ``u, v, p`` in the last axis.

    Example:
        >>> [round(float(c), 6) for c in kovasznay_exact(0.0, 0.25)]
        [1.0, -0.288086, 0.0]
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    lam = re / 2.0 - np.sqrt(re * re / 4.0 + 4.0 * np.pi ** 2)
    e = np.exp(lam * x)
    u = 1.0 - e * np.cos(2.0 * np.pi * y)
    v = lam / (2.0 * np.pi) * e * np.sin(2.0 * np.pi * y)
    p = 0.5 * (1.0 - np.exp(2.0 * lam * x))
    return np.stack([u, v, p], axis=-1)


def diffusion_reaction_exact(x: npt.ArrayLike, t: npt.ArrayLike) -> np.ndarray:
    """A diffusion equation with a decaying source (the diffusion-reaction problem of DeepXDE's
    examples): ``u = exp(-t) (sin x + sin 2x / 2 + sin 3x / 3 + sin 4x / 4 + sin 8x / 8)``.

    Solves ``u_t = u_xx + exp(-t) (3 sin 2x / 2 + 8 sin 3x / 3 + 15 sin 4x / 4 + 63 sin 8x / 8)``
    for ``x`` in ``[-pi, pi]``, ``t`` in ``[0, 1]``: each mode ``sin(k x) / k`` of the solution
    decays as ``exp(-t)``, so ``u_t - u_xx = exp(-t) (k^2 - 1) sin(k x) / k`` summed over
    ``k = 1, 2, 3, 4, 8``. It vanishes at ``x = +-pi`` and starts from ``u(x, 0) = sin x +
    sin 2x / 2 + sin 3x / 3 + sin 4x / 4 + sin 8x / 8``.

    Args:
        x: positions (broadcast against ``t``).
        t: times.

    Returns:
        ``float64`` array with the broadcast shape of ``x`` and ``t``.

    Example:
        >>> from tidal.solvers.exact import diffusion_reaction_exact
        >>> [round(float(u), 12) for u in diffusion_reaction_exact([0.0, np.pi / 2], 0.0)]
        [0.0, 0.666666666667]
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    modes = sum(np.sin(k * x) / k for k in (1, 2, 3, 4, 8))
    return np.exp(-t) * modes
