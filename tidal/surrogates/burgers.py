"""Viscous Burgers' equation ``u_t + (u^2 / 2)_x = nu u_xx`` on the periodic interval
``[0, 1)``, by a Fourier pseudo-spectral method in space and ETDRK4 in time: the FNO Burgers
data (input ``u(., 0)``, output ``u(., 1)``, ``nu = 0.1``, 256 points).

Space: ``n`` points ``x_j = j / n``; the diffusion ``-nu (2 pi k)^2`` acts on each Fourier mode
exactly; the flux derivative ``-(i 2 pi k / 2) FFT(u^2)`` is computed pseudo-spectrally and
dealiased by the 2/3 rule (the product is formed from the modes ``|k| <= n / 3`` only and
its modes above ``n / 3`` are dropped, so the discrete nonlinear term conserves energy exactly
and the modes above ``n / 3`` only diffuse).
Time: the exponential time differencing fourth-order Runge-Kutta scheme of Cox and Matthews
(2002), with the ``phi`` functions of :mod:`tidal.physics.reaction_diffusion` (Taylor series
near zero, so no cancellation), in equal steps of at most ``dt``.

What is guaranteed: fourth order in ``dt`` and spectral accuracy in space for smooth solutions
(tests/test_surrogate_data.py compares with the exact Cole-Hopf solution and checks the energy
balance ``d/dt (1/2) int u^2 = -nu int u_x^2``); a solution that blows up (too large a step)
raises instead of returning NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.physics import reaction_diffusion
from tidal.surrogates import _checks, grf


class _Scheme:
    """ETDRK4 coefficients for ``n`` points, viscosity ``nu`` and step ``dt``."""

    def __init__(self, n: int, nu: float, dt: float):
        k = np.fft.rfftfreq(n, d=1.0 / n)  # integer wavenumbers 0..n/2
        self.n = n
        self.derivative = 2j * math.pi * k
        self.keep = k <= n / 3.0  # 2/3-rule dealiasing of the nonlinear term
        z = dt * (-nu * (2.0 * math.pi * k) ** 2)
        p1, p2, p3 = reaction_diffusion.phi_functions(z)
        half = reaction_diffusion.phi_functions(0.5 * z)[0]
        self.e, self.e2 = np.exp(z), np.exp(0.5 * z)
        self.q = 0.5 * dt * half
        self.f1 = dt * (p1 - 3.0 * p2 + 4.0 * p3)
        self.f2 = dt * (p2 - 2.0 * p3)
        self.f3 = dt * (4.0 * p3 - p2)

    def nonlinear(self, v: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(np.where(self.keep, v, 0.0), n=self.n)
        return np.where(self.keep, -0.5 * self.derivative * np.fft.rfft(u * u), 0.0)

    def step(self, v: np.ndarray) -> np.ndarray:
        nv = self.nonlinear(v)
        a = self.e2 * v + self.q * nv
        na = self.nonlinear(a)
        b = self.e2 * v + self.q * na
        nb = self.nonlinear(b)
        c = self.e2 * a + self.q * (2.0 * nb - nv)
        nc = self.nonlinear(c)
        return self.e * v + self.f1 * nv + 2.0 * self.f2 * (na + nb) + self.f3 * nc


def solve_burgers(u0, times: Sequence[float], nu: float = 0.1, dt: float = 1e-3) -> np.ndarray:
    """``u`` at each of ``times`` for the periodic viscous Burgers equation on ``[0, 1)``.

    Args:
        u0: the initial values on ``x_j = j / n`` (``n >= 4``, even is best).
        times: increasing times ``>= 0``.
        nu: the viscosity (> 0).
        dt: the largest time step; each interval between output times is split into equal
            steps of at most ``dt``.

    Returns:
        ``(len(times), n)``.

    Raises:
        TidalArgumentError: bad arguments, or the solution blew up (reduce ``dt``).

    Example:
        >>> x = np.arange(64) / 64
        >>> u = solve_burgers(np.sin(2 * np.pi * x), times=[0.0, 0.5])
        >>> u.shape, bool(np.abs(u[1]).max() < np.abs(u[0]).max())
        ((2, 64), True)
    """
    u0 = _checks.finite_array("u0", u0, ndim=1)
    n = _checks.integer("len(u0)", len(u0), 4)
    nu = _checks.positive("nu", nu)
    dt = _checks.positive("dt", dt)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(times) == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(
            np.diff(times) < 0):
        raise TidalArgumentError(f"times must be non-negative and increasing, got {times!r}")
    schemes: dict[int, _Scheme] = {}
    v = np.fft.rfft(u0)
    out = np.empty((len(times), n))
    now = 0.0
    for j, target in enumerate(times):
        span = target - now
        if span > 0:
            steps = max(1, math.ceil(span / dt * (1.0 - 1e-12)))
            key = round(span / steps * 2 ** 52)
            if key not in schemes:
                schemes[key] = _Scheme(n, nu, span / steps)
            scheme = schemes[key]
            with np.errstate(over="ignore", invalid="ignore"):
                for _ in range(steps):
                    v = scheme.step(v)
            now = target
        out[j] = np.fft.irfft(v, n=n)
        if not np.all(np.isfinite(out[j])):
            raise TidalArgumentError(f"the Burgers solution blew up before t = {target}",
                                     hint="reduce dt")
    return out


def burgers_sample(rng, n: int = 256, nu: float = 0.1, t_end: float = 1.0,
                   alpha: float = 2.5, tau: float = 7.0, sigma: float | None = 49.0,
                   dt: float = 1e-3, refine: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One FNO Burgers pair: a periodic GRF initial condition ``u0`` and ``u(., t_end)``.

    For small viscosities (the FNO scripts also use ``nu = 1e-3``) solve on a finer grid with
    ``refine``: the field is drawn and solved on ``n * refine`` points and both arrays are
    returned on every ``refine``-th one (the FNO files are subsampled the same way).

    Args:
        rng: a ``numpy.random.Generator`` (or a seed: an int >= 0).
        n: grid points on ``[0, 1)``.
        nu: the viscosity (the FNO set: 0.1).
        t_end: the output time.
        alpha, tau, sigma: the GRF (see :func:`tidal.surrogates.grf.grf_1d`).
        dt: the largest time step.
        refine: solve on ``n * refine`` points (>= 1).

    Returns:
        ``(u0, u_end)``, each ``(n,)``.

    Example:
        >>> u0, u1 = burgers_sample(np.random.default_rng(0), n=64)
        >>> u0.shape, u1.shape
        ((64,), (64,))
    """
    n = _checks.integer("n", n, 4)
    t_end = _checks.positive("t_end", t_end, allow_zero=True)
    refine = _checks.integer("refine", refine, 1)
    u0 = grf.grf_1d(n * refine, rng, alpha, tau, sigma)
    return u0[::refine], solve_burgers(u0, [t_end], nu, dt)[0, ::refine]
