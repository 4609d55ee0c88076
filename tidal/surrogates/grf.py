"""Gaussian random fields: the random inputs of the surrogate data sets.

Two families, each as the neural-operator papers define them.

**Matérn-like fields (FNO, Li et al. 2021).** Mean zero, covariance operator
``C = sigma^2 (-Laplacian + tau^2 I)^(-alpha)`` on the unit interval or square. A sample is the
Karhunen-Loève sum ``u = sum_k sqrt(lambda_k) xi_k phi_k`` over the Laplacian's eigenfunctions
``phi_k`` (orthonormal in L2), ``lambda_k = sigma^2 (|k|^2 + tau^2)^(-alpha)`` with ``|k|^2`` the
Laplacian's eigenvalue and ``xi_k`` independent standard normals; the constant mode is left out
(the fields have zero spatial mean), as in the FNO scripts. Boundary conditions of the Laplacian:

* ``"periodic"`` (1-D and 2-D): Fourier modes ``exp(2 pi i k.x)`` with ``|k_i| < n / 2`` on the
  grid ``x_j = j / n`` (the Nyquist mode is left out, so the sum is exactly a truncated KL sum);
  eigenvalues ``(2 pi |k|)^2``. The FNO Burgers data use this in 1-D with ``alpha = 2.5``,
  ``tau = 7``, ``sigma = 7^2`` (their MATLAB script; the paper's text quotes
  ``625 (-Laplacian + 25 I)^(-2)``).
* ``"neumann"`` (2-D): cosines ``c_k1 c_k2 cos(pi k1 x) cos(pi k2 y)`` (``c_0 = 1``,
  ``c_k = sqrt 2``), ``0 <= k_i < s``, eigenvalues ``pi^2 |k|^2``, evaluated on the ``s x s`` node
  grid ``x_i = i / (s - 1)`` that includes the boundary. The FNO Darcy data use this with
  ``alpha = 2``, ``tau = 3``.

``sigma=None`` means ``tau^(alpha - d/2)`` (``d`` the dimension), the scaling of the FNO code:
in 2-D the covariance is ``tau^(2 alpha - 2) (-Laplacian + tau^2 I)^(-alpha)``. With ``tau = 0``
that amplitude is 0 or infinite (unless ``alpha = d/2``), so ``tau = 0`` needs an explicit
``sigma`` (the covariance is then ``sigma^2 (-Laplacian)^(-alpha)``, regular on the modes kept);
parameters whose covariance is zero or not finite on every mode kept (an amplitude or
eigenvalue that under- or overflows) are refused rather than returning a zero field.

**RBF fields (DeepONet, Lu et al. 2021; DeepXDE's ``GRF``).** Mean zero, covariance
``exp(-(x - y)^2 / (2 l^2))`` on ``n`` equally spaced points of an interval, sampled by the
Cholesky factor of the covariance matrix plus ``1e-13`` on the diagonal (DeepXDE's recipe, with
its ``n = 1000`` points and ``l = 0.2`` for the antiderivative and diffusion-reaction sets).

What is guaranteed: every sample is a deterministic function of the generator's state (the same
seed gives bit-identical fields; ``rng`` must be a ``numpy.random.Generator``, ``BitGenerator``
or ``SeedSequence``, or a seed: an int >= 0), and the covariance of the returned values is
exactly the truncated one stated above (tests/test_surrogate_data.py checks the spectra
statistically).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks

BOUNDARIES_2D = ("neumann", "periodic")


def default_sigma(alpha: float, tau: float, dim: int) -> float:
    """The FNO code's amplitude ``tau^(alpha - dim / 2)``.

    Example:
        >>> default_sigma(2.0, 3.0, 2)
        3.0
    """
    with np.errstate(divide="ignore", over="ignore"):  # tau = 0: 0 or inf, never an exception
        return float(np.float64(tau) ** (float(alpha) - 0.5 * dim))


def covariance_eigenvalues(laplacian_eigenvalues, alpha: float, tau: float,
                           sigma: float) -> np.ndarray:
    """``sigma^2 (mu + tau^2)^(-alpha)`` for each Laplacian eigenvalue ``mu``.

    Example:
        >>> float(covariance_eigenvalues(np.array([0.0]), 2.0, 3.0, 3.0)[0])
        0.1111111111111111
    """
    mu = np.asarray(laplacian_eigenvalues, dtype=np.float64)
    return float(sigma) ** 2 * (mu + float(tau) ** 2) ** (-float(alpha))


def _parameters(alpha, tau, sigma, dim: int) -> tuple[float, float, float]:
    alpha = _checks.positive("alpha", alpha)
    tau = _checks.positive("tau", tau, allow_zero=True)
    if sigma is not None:
        return alpha, tau, _checks.positive("sigma", sigma)  # 0: an identically zero field
    sigma = default_sigma(alpha, tau, dim)
    if tau == 0 and sigma != 1.0:
        field = "identically zero" if sigma == 0 else "infinite"
        raise TidalArgumentError(
            f"tau=0 with sigma=None: the default amplitude sigma = tau^(alpha - {dim / 2:g}) is "
            f"{sigma:g} for alpha={alpha:g}, so the field would be {field}",
            hint="give tau > 0, or an explicit sigma > 0 (with tau=0 the covariance is "
                 "sigma^2 (-Laplacian)^(-alpha))")
    if not (math.isfinite(sigma) and sigma > 0):
        raise TidalArgumentError(
            f"the default amplitude sigma = tau^(alpha - {dim / 2:g}) is {sigma:g} for "
            f"alpha={alpha:g}, tau={tau:g} (out of floating-point range)",
            hint="give sigma explicitly, or a smaller alpha or tau")
    return alpha, tau, sigma


def _generator(rng) -> np.random.Generator:
    """``rng`` as a ``numpy.random.Generator``: a Generator, BitGenerator or SeedSequence, or
    an int seed >= 0 (bools refused)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TidalArgumentError(f"rng must be a numpy.random.Generator or a seed (an int >= 0), "
                             f"got {rng!r}",
                             hint="pass e.g. np.random.default_rng(0), or the seed 0")


def _roots(mu: np.ndarray, keep: np.ndarray, alpha: float, tau: float,
           sigma: float) -> np.ndarray:
    """``sqrt(lambda)`` of the Laplacian eigenvalues ``mu`` on the modes ``keep``, 0 elsewhere
    (left-out modes are not evaluated: with ``tau = 0`` the constant mode's is infinite); a
    TidalArgumentError when they are not finite or all zero (the field would be inf or 0)."""
    lam = np.zeros(mu.shape)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        lam[keep] = covariance_eigenvalues(mu[keep], alpha, tau, sigma)
    if not np.all(np.isfinite(lam)) or (np.any(keep) and not np.any(lam > 0)):
        what = "not finite" if not np.all(np.isfinite(lam)) else "zero"
        raise TidalArgumentError(
            f"the covariance sigma^2 (mu + tau^2)^(-alpha) is {what} on the modes kept for "
            f"alpha={alpha:g}, tau={tau:g}, sigma={sigma:g}: the field would be "
            f"{'infinite' if what == 'not finite' else 'identically zero'}",
            hint="use a smaller alpha, or a tau and sigma of moderate size")
    return np.sqrt(lam)


def _periodic_wavenumbers(n: int) -> np.ndarray:
    """Integer wavenumbers of an ``n``-point FFT with the Nyquist one (even ``n``) marked NaN."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    if n % 2 == 0:
        k[n // 2] = np.nan
    return k


def _periodic(shape: tuple[int, ...], rng: np.random.Generator, alpha: float, tau: float,
              sigma: float) -> np.ndarray:
    ks = np.meshgrid(*[_periodic_wavenumbers(n) for n in shape], indexing="ij")
    mu = sum((2.0 * math.pi * k) ** 2 for k in ks)
    keep = np.isfinite(mu)
    keep[(0,) * len(shape)] = False  # no constant mode
    root = _roots(mu, keep, alpha, tau, sigma)
    noise = rng.standard_normal((2, *shape))
    coefficients = root * (noise[0] + 1j * noise[1])
    # Re sum_k c_k e^{2 pi i k.x} with c_k = sqrt(lambda_k)(xi + i eta): covariance
    # sum_k lambda_k cos(2 pi k.(x - y)), the KL sum over the modes kept
    return np.fft.ifftn(coefficients).real * float(np.prod(shape))


def grf_1d(n: int, rng, alpha: float = 2.5, tau: float = 7.0,
           sigma: float | None = 49.0) -> np.ndarray:
    """One periodic Gaussian random field on ``x_j = j / n``, ``j < n`` (defaults: the FNO
    Burgers initial conditions).

    Args:
        n: grid points (at least 3: on 2 points the only nonconstant mode is the Nyquist one,
            which is left out, so the field would be zero).
        rng: a ``numpy.random.Generator`` (or a seed: an int >= 0).
        alpha: smoothness exponent (larger: smoother).
        tau: inverse length scale.
        sigma: amplitude; None: ``tau^(alpha - 1/2)``.

    Returns:
        ``(n,)`` float64 values, mean zero over the grid.

    Example:
        >>> u = grf_1d(256, np.random.default_rng(0))
        >>> u.shape, abs(float(u.mean())) < 1e-12
        ((256,), True)
    """
    n = _checks.integer("n", n, 3, hint="a periodic field on 2 points keeps no mode")
    alpha, tau, sigma = _parameters(alpha, tau, sigma, 1)
    return _periodic((n,), _generator(rng), alpha, tau, sigma)


@functools.lru_cache(maxsize=16)
def _cosine_basis(s: int) -> np.ndarray:
    """``B[i, k] = c_k cos(pi k x_i)`` on ``x_i = i / (s - 1)``, ``k < s`` (read-only)."""
    x = np.linspace(0.0, 1.0, s)
    k = np.arange(s)
    basis = np.cos(math.pi * np.outer(x, k))
    basis[:, 1:] *= math.sqrt(2.0)
    basis.setflags(write=False)
    return basis


def grf_2d(s: int, rng, alpha: float = 2.0, tau: float = 3.0, sigma: float | None = None,
           boundary: str = "neumann") -> np.ndarray:
    """One Gaussian random field on an ``s x s`` grid of the unit square (defaults: the FNO
    Darcy coefficients before thresholding).

    Args:
        s: grid points per side (at least 2; at least 3 with ``boundary="periodic"``, where
            2 points keep no mode but the constant and Nyquist ones, both left out).
        rng: a ``numpy.random.Generator`` (or a seed: an int >= 0).
        alpha: smoothness exponent (the FNO Darcy set-up: 2).
        tau: inverse length scale (the FNO Darcy set-up: 3).
        sigma: amplitude; None: ``tau^(alpha - 1)``.
        boundary: ``"neumann"``: cosine modes on the node grid ``x_i = i / (s - 1)`` (the FNO
            Darcy fields); ``"periodic"``: Fourier modes on ``x_i = i / s``.

    Returns:
        ``(s, s)`` float64 values, ``[i, j]`` at ``(x_i, y_j)``.

    Example:
        >>> a = grf_2d(32, np.random.default_rng(0))
        >>> a.shape
        (32, 32)
    """
    s = _checks.integer("s", s, 2)
    boundary = _checks.choice("boundary", boundary, BOUNDARIES_2D)
    if boundary == "periodic":
        _checks.integer("s", s, 3, hint="a periodic field on 2 x 2 points keeps no mode")
    alpha, tau, sigma = _parameters(alpha, tau, sigma, 2)
    rng = _generator(rng)
    if boundary == "periodic":
        return _periodic((s, s), rng, alpha, tau, sigma)
    k = np.arange(s)
    mu = math.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
    keep = np.ones(mu.shape, dtype=bool)
    keep[0, 0] = False  # no constant mode
    root = _roots(mu, keep, alpha, tau, sigma)
    basis = _cosine_basis(s)
    return basis @ (root * rng.standard_normal((s, s))) @ basis.T


@functools.lru_cache(maxsize=8)
def _rbf_factor(n: int, length_scale: float, lo: float, hi: float) -> np.ndarray:
    x = np.linspace(lo, hi, n)
    cov = np.exp(-0.5 * ((x[:, None] - x[None, :]) / length_scale) ** 2)
    factor = np.linalg.cholesky(cov + 1e-13 * np.eye(n))
    factor.setflags(write=False)
    return factor


def grf_rbf(n: int, rng, length_scale: float = 0.2,
            x_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """One Gaussian random field with the squared-exponential (RBF) kernel, on ``n`` equally
    spaced points of ``x_range`` (both ends included), DeepXDE's ``GRF`` of the DeepONet
    examples.

    Args:
        n: points (at least 2; DeepXDE uses 1,000 and interpolates from them).
        rng: a ``numpy.random.Generator`` (or a seed: an int >= 0).
        length_scale: ``l`` of ``exp(-(x - y)^2 / (2 l^2))``.
        x_range: the interval ``(lo, hi)``.

    Returns:
        ``(n,)`` float64 values (unit variance at every point).

    Example:
        >>> v = grf_rbf(1000, np.random.default_rng(0))
        >>> v.shape
        (1000,)
    """
    n = _checks.integer("n", n, 2)
    length_scale = _checks.positive("length_scale", length_scale)
    lo, hi = (float(v) for v in x_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise TidalArgumentError(f"x_range must be (lo, hi) with lo < hi, got {x_range!r}")
    rng = _generator(rng)
    factor = _rbf_factor(n, length_scale, lo, hi)
    return factor @ rng.standard_normal(n)


def threshold(field, high: float = 12.0, low: float = 3.0) -> np.ndarray:
    """The piecewise-constant coefficient ``high`` where ``field >= 0``, ``low`` elsewhere (the
    FNO paper's Darcy coefficients: 12 and 3; their MATLAB demo uses 12 and 4).

    Example:
        >>> threshold(np.array([-0.5, 0.0, 2.0]))
        array([ 3., 12., 12.])
    """
    field = _checks.finite_array("field", field)
    high = _checks.positive("high", high)
    low = _checks.positive("low", low)
    return np.where(field >= 0.0, high, low)
