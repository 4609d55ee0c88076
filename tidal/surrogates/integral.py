"""The antiderivative operator ``G: v -> u``, ``u(x) = int_0^x v``, on ``[0, 1]``: the DeepONet
paper's first example (Lu et al. 2021) and DeepXDE's ``antiderivative_aligned`` data.

``v`` is an RBF Gaussian random field (length scale 0.2) drawn on 1,000 equally spaced points
and interpolated by a not-a-knot cubic spline, as DeepXDE does; ``u`` is the exact integral of
that spline (its antiderivative, a quartic per interval), so the only approximation is the
interpolation of ``v`` itself. Input and output are both given at ``m = 100`` equally spaced
sensors ``x_i = i / (m - 1)`` (the aligned data set).

What is guaranteed: ``u`` is exact for any ``v`` the spline reproduces (cubic polynomials to
rounding) and fourth-order accurate in the spacing of the fine grid otherwise (a sine on 1,000
points: about 1e-13); tests/test_surrogate_data.py checks both against closed forms.
"""

from __future__ import annotations

import numpy as np
import scipy.interpolate

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks, grf


def antiderivative(v, x, at) -> np.ndarray:
    """``int_{x[0]}^{at} v`` of the cubic spline through ``(x, v)``.

    Args:
        v: values (``(n,)``, ``n >= 4``).
        x: strictly increasing points (``(n,)``).
        at: where to evaluate the integral (inside ``[x[0], x[-1]]``).

    Returns:
        The integral at each of ``at``.

    Example:
        >>> x = np.linspace(0.0, 1.0, 11)
        >>> float(antiderivative(3 * x ** 2, x, [1.0])[0])
        1.0
    """
    v = _checks.finite_array("v", v, ndim=1)
    x = _checks.finite_array("x", x, shape=v.shape)
    if len(x) < 4 or np.any(np.diff(x) <= 0):
        raise TidalArgumentError("x must have at least 4 strictly increasing points")
    at = _checks.finite_array("at", at)
    if np.any(at < x[0]) or np.any(at > x[-1]):
        raise TidalArgumentError(f"at must lie in [{x[0]}, {x[-1]}]")
    primitive = scipy.interpolate.CubicSpline(x, v).antiderivative()
    return primitive(at) - primitive(x[0])


def antiderivative_sample(rng, m: int = 100, length_scale: float = 0.2,
                          n_fine: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """One DeepONet antiderivative pair: ``v`` at the ``m`` sensors and ``u = int_0^x v`` at the
    same points.

    Args:
        rng: a ``numpy.random.Generator`` (or a seed).
        m: sensors on ``[0, 1]``, both ends included (DeepONet: 100).
        length_scale: of the RBF random field (DeepXDE: 0.2).
        n_fine: the points the field is drawn on before interpolation (DeepXDE: 1,000).

    Returns:
        ``(v, u)``, each ``(m,)``.

    Example:
        >>> v, u = antiderivative_sample(np.random.default_rng(0))
        >>> v.shape, float(u[0])
        ((100,), 0.0)
    """
    m = _checks.integer("m", m, 2)
    n_fine = _checks.integer("n_fine", n_fine, 4)
    fine = np.linspace(0.0, 1.0, n_fine)
    values = grf.grf_rbf(n_fine, rng, length_scale)
    sensors = np.linspace(0.0, 1.0, m)
    v = scipy.interpolate.CubicSpline(fine, values)(sensors)
    return v, antiderivative(values, fine, sensors)
