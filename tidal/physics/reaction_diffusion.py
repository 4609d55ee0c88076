"""Reaction-diffusion systems in one periodic space dimension, solved accurately in NumPy: the
reference solutions the PINN examples are measured against.

``u_t = D u_xx + f(u)`` for one or several species ``u = (u_1, ..., u_m)`` on a periodic
interval ``[lo, hi)`` of ``n`` equally spaced points ``x_i = lo + i h``, ``h = (hi - lo) / n``.
Each species has its own diffusivity ``D_s``; ``f`` is any NumPy function of the species
(pointwise reaction). Two discretisations in space:

* ``"spectral"``: Fourier pseudo-spectral, ``u_xx`` is ``-k^2`` times the ``k``-th Fourier
  coefficient (spectrally accurate for smooth solutions);
* ``"fd"``: finite differences, the three-point Laplacian ``(u_{i-1} - 2 u_i + u_{i+1}) / h^2``
  (second order). On a periodic grid it is a circulant matrix whose eigenvectors are the
  Fourier modes, with eigenvalues ``-(4 / h^2) sin^2(k h / 2)``; the solver uses them, so the
  semi-discrete system it integrates is exactly the finite-difference one.

In time both use the fourth-order exponential time differencing Runge-Kutta scheme ETDRK4
(Cox & Matthews, 2002): the stiff linear diffusion is integrated exactly (mode by mode), the
reaction by a fourth-order Runge-Kutta-like quadrature of the variation-of-constants formula, so
the step is limited by accuracy, not by the diffusion's stability limit. The coefficient
functions ``phi_j(z)`` are summed as Taylor series for ``|z| < 1`` (where the closed forms lose
digits to cancellation) and taken from the closed forms elsewhere.

What is guaranteed: the semi-discrete solution to fourth order in ``dt`` (errors fall 16x per
halving of ``dt`` for smooth solutions; tests/test_physics_reaction_diffusion.py measures it);
without a reaction the linear part is exact to rounding (a Fourier mode decays by exactly its
symbol's exponential); states are returned at the requested times, each interval between them
taken in equal steps of at most ``dt``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tidal.dsl.errors import TidalArgumentError

SCHEMES = ("spectral", "fd")


def phi_functions(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``phi_1, phi_2, phi_3`` of real ``z``: ``phi_1 = (e^z - 1) / z``, ``phi_2 = (e^z - 1 -
    z) / z^2``, ``phi_3 = (e^z - 1 - z - z^2 / 2) / z^3`` (``1, 1/2, 1/6`` at 0).

    Example:
        >>> [round(float(p[0]), 12) for p in phi_functions(np.array([0.0]))]
        [1.0, 0.5, 0.166666666667]
    """
    z = np.asarray(z, dtype=np.float64)
    small = np.abs(z) < 1.0
    out = []
    zs = np.where(small, z, 0.0)
    zl = np.where(small, 1.0, z)  # (no division by zero in the unused branch)
    e = np.exp(zl)
    closed = [(e - 1.0) / zl, (e - 1.0 - zl) / zl ** 2, (e - 1.0 - zl - 0.5 * zl ** 2) / zl ** 3]
    for j, exact in zip((1, 2, 3), closed):
        series = np.zeros_like(zs)
        term = np.full_like(zs, 1.0 / math.factorial(j))
        for k in range(1, 30):  # |z| < 1: 1 / 32! is far below rounding
            series += term
            term = term * zs / (k + j)
        out.append(np.where(small, series, exact))
    return out[0], out[1], out[2]


class ReactionDiffusion1D:
    """``u_t = D u_xx + f(u)`` for ``m`` species on a periodic interval, by ETDRK4.

    Args:
        diffusivity: ``D``, one number per species (a number: one species).
        reaction: ``f``, a NumPy function of the species, each an ``(n,)`` array, returning
            one array per species (one species: ``f(u) -> array``; two: ``f(u, v) -> (fu,
            fv)``); None: no reaction (pure diffusion).
        n: grid points (at least 4; even is best for the spectral scheme).
        x_range: the periodic interval ``(lo, hi)``.
        scheme: ``"spectral"`` (Fourier) or ``"fd"`` (three-point finite differences).

    Example:
        >>> import numpy as np
        >>> from tidal.physics import ReactionDiffusion1D
        >>> model = ReactionDiffusion1D(0.1, None, n=32, x_range=(0.0, 2 * np.pi))
        >>> u = model.solve(np.sin(model.x), times=[0.0, 1.0], dt=0.1)
        >>> u.shape
        (2, 32)
        >>> bool(np.allclose(u[1], np.exp(-0.1) * np.sin(model.x), atol=1e-13))
        True
    """

    def __init__(self, diffusivity, reaction: Callable | None, n: int,
                 x_range: Sequence[float] = (0.0, 1.0), scheme: str = "spectral"):
        d = np.atleast_1d(np.asarray(diffusivity, dtype=np.float64))
        if d.ndim != 1 or not np.all(np.isfinite(d)) or np.any(d < 0):
            raise TidalArgumentError(f"diffusivity must be one non-negative number per species, "
                                     f"got {diffusivity!r}")
        if not isinstance(n, (int, np.integer)) or n < 4:
            raise TidalArgumentError(f"n must be an int >= 4, got {n!r}")
        lo, hi = (float(v) for v in x_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise TidalArgumentError(f"x_range must be (lo, hi) with lo < hi, got {x_range!r}")
        if scheme not in SCHEMES:
            raise TidalArgumentError(f"scheme must be one of {', '.join(SCHEMES)}, got "
                                     f"{scheme!r}")
        if reaction is not None and not callable(reaction):
            raise TidalArgumentError("reaction must be a NumPy function of the species (or "
                                     "None)", hint="e.g. lambda u, v: (-u * v * v, u * v * v)")
        self.diffusivity, self.reaction, self.n = d, reaction, int(n)
        self.species = len(d)
        self.x_range, self.scheme = (lo, hi), scheme
        self.h = (hi - lo) / self.n
        self.x = lo + self.h * np.arange(self.n)
        k = 2.0 * np.pi * np.fft.rfftfreq(self.n, d=self.h)  # angular wavenumbers
        if scheme == "spectral":
            symbol = -k ** 2
        else:
            symbol = -(4.0 / self.h ** 2) * np.sin(0.5 * k * self.h) ** 2
        self.symbol = symbol  # the Laplacian's eigenvalue of every Fourier mode
        self._linear = d[:, None] * symbol[None, :]  # (species, modes)
        self._coefficients: dict[float, tuple] = {}

    # -- the scheme ----------------------------------------------------------------------------
    def _nonlinear(self, v_hat: np.ndarray) -> np.ndarray:
        """The reaction in Fourier space, ``(species, modes)``."""
        if self.reaction is None:
            return np.zeros_like(v_hat)
        u = np.fft.irfft(v_hat, n=self.n, axis=-1)
        out = self.reaction(*u)
        out = np.asarray(out if self.species > 1 else [out], dtype=np.float64)
        if out.shape != u.shape:
            raise TidalArgumentError(f"the reaction returned shape {out.shape} for "
                                     f"{self.species} species of {self.n} points; it must "
                                     f"return one (n,) array per species")
        return np.fft.rfft(out, axis=-1)

    def _coefficients_for(self, dt: float) -> tuple:
        key = float(dt)
        if key not in self._coefficients:
            z = dt * self._linear
            p1, p2, p3 = phi_functions(z)
            half = phi_functions(0.5 * z)[0]
            self._coefficients[key] = (
                np.exp(z), np.exp(0.5 * z), 0.5 * dt * half,
                dt * (p1 - 3.0 * p2 + 4.0 * p3), dt * (p2 - 2.0 * p3), dt * (4.0 * p3 - p2))
        return self._coefficients[key]

    def _step(self, v: np.ndarray, dt: float) -> np.ndarray:
        e, e2, q, f1, f2, f3 = self._coefficients_for(dt)
        nv = self._nonlinear(v)
        a = e2 * v + q * nv
        na = self._nonlinear(a)
        b = e2 * v + q * na
        nb = self._nonlinear(b)
        c = e2 * a + q * (2.0 * nb - nv)
        nc = self._nonlinear(c)
        return e * v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * nc

    # -- runs ----------------------------------------------------------------------------------
    def initial_state(self, u0) -> np.ndarray:
        """``u0`` as a ``(species, n)`` array: values on :attr:`x` (``(n,)`` for one species,
        ``(species, n)`` for several) or a NumPy function of ``x`` returning them."""
        values = u0(self.x) if callable(u0) else u0
        values = np.asarray(values, dtype=np.float64)
        if values.shape == (self.n,) and self.species == 1:
            values = values[None, :]
        if values.shape != (self.species, self.n):
            expected = f"({self.n},)" if self.species == 1 else f"({self.species}, {self.n})"
            raise TidalArgumentError(f"u0 must have shape {expected} (one value per grid point "
                                     f"and species), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise TidalArgumentError("u0 contains NaN or inf")
        return values

    def solve(self, u0, times: Sequence[float], dt: float) -> np.ndarray:
        """The state at each of ``times`` (increasing, from ``t = 0``, where ``u0`` is given).

        Each interval between consecutive times is taken in ``ceil(interval / dt)`` equal
        steps. Returns ``(len(times), n)`` for one species, ``(len(times), species, n)`` for
        several.

        Raises:
            TidalArgumentError: bad times or step, or the solution blew up (NaN or inf).
        """
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(times) == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(
                np.diff(times) < 0):
            raise TidalArgumentError(f"times must be non-negative and increasing, got "
                                     f"{times!r}")
        if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
            raise TidalArgumentError(f"dt must be a positive number, got {dt!r}")
        v = np.fft.rfft(self.initial_state(u0), axis=-1)
        out = np.empty((len(times), self.species, self.n))
        now = 0.0
        for j, target in enumerate(times):
            span = target - now
            if span > 0:
                steps = max(1, math.ceil(span / dt * (1.0 - 1e-12)))
                with np.errstate(over="ignore", invalid="ignore"):  # (a blow-up is raised below)
                    for _ in range(steps):
                        v = self._step(v, span / steps)
                now = target
            out[j] = np.fft.irfft(v, n=self.n, axis=-1)
            if not np.all(np.isfinite(out[j])):
                raise TidalArgumentError(f"the solution is not finite at t = {target:g}",
                                         hint="take a smaller dt")
        return out[:, 0] if self.species == 1 else out


def allen_cahn(epsilon2: float = 1e-4, rate: float = 5.0, n: int = 512,
               x_range: Sequence[float] = (-1.0, 1.0),
               scheme: str = "spectral") -> ReactionDiffusion1D:
    """Allen-Cahn ``u_t = epsilon2 u_xx + rate (u - u^3)`` (the standard PINN test has
    ``epsilon2 = 1e-4``, ``rate = 5`` on ``[-1, 1]``).

    Example:
        >>> from tidal.physics import allen_cahn
        >>> model = allen_cahn(n=64)
        >>> model.solve(lambda x: x ** 2 * np.cos(np.pi * x), [0.0, 0.1], dt=0.01).shape
        (2, 64)
    """
    return ReactionDiffusion1D(epsilon2, lambda u: rate * (u - u ** 3), n, x_range, scheme)


def gray_scott(du: float, dv: float, feed: float, kill: float, n: int = 512,
               x_range: Sequence[float] = (-1.0, 1.0),
               scheme: str = "fd") -> ReactionDiffusion1D:
    """Gray-Scott ``u_t = du u_xx - u v^2 + feed (1 - u)``, ``v_t = dv v_xx + u v^2 - (feed +
    kill) v`` (species ``u, v``).

    Example:
        >>> from tidal.physics import gray_scott
        >>> model = gray_scott(0.01, 0.005, 0.04, 0.06, n=64)
        >>> model.solve(lambda x: np.stack([1 - 0.5 * np.exp(-x ** 2 / 0.01),
        ...                                 0.25 * np.exp(-x ** 2 / 0.01)]),
        ...             [0.0, 1.0], dt=0.1).shape
        (2, 2, 64)
    """
    def reaction(u, v):
        uvv = u * v * v
        return -uvv + feed * (1.0 - u), uvv - (feed + kill) * v

    return ReactionDiffusion1D((du, dv), reaction, n, x_range, scheme)


def brusselator(du: float, dv: float, a: float, b: float, n: int = 512,
                x_range: Sequence[float] = (-1.0, 1.0),
                scheme: str = "fd") -> ReactionDiffusion1D:
    """The Brusselator ``u_t = du u_xx + a - (b + 1) u + u^2 v``, ``v_t = dv v_xx + b u - u^2
    v`` (species ``u, v``).

    Example:
        >>> from tidal.physics import brusselator
        >>> model = brusselator(0.01, 0.01, 1.0, 3.0, n=32)
        >>> u = model.solve(np.stack([np.ones(32), 3 * np.ones(32)]), [0.0, 1.0], dt=0.1)
        >>> bool(np.allclose(u[1], [[1.0], [3.0]], atol=1e-12))  # the steady state (a, b / a)
        True
    """
    def reaction(u, v):
        uuv = u * u * v
        return a - (b + 1.0) * u + uuv, b * u - uuv

    return ReactionDiffusion1D((du, dv), reaction, n, x_range, scheme)
