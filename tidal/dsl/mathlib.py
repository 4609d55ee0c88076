"""Taichi implementations of math functions Taichi lacks, bound into every generated module.

Guarantees: ``_tidal_erf`` agrees with ``scipy.special.erf`` to about 1e-15 relative in f64
(Taylor series below |x| = 2, Laplace's continued fraction for erfc above); ``_tidal_tanh_f32``
agrees with tanh to within 6 float32 ulps (tests/test_mathlib.py measures it). All take scalars
(codegen applies them per element to vectors); erf and softplus compute in the precision of their
argument, ``_tidal_tanh_f32`` in float32.
"""

from __future__ import annotations

import taichi as ti


@ti.func
def _tidal_erf(x):
    a = ti.abs(x)
    result = x * 0.0
    if a < 2.0:
        # erf(a) = 2/sqrt(pi) * sum_n (-1)^n a^(2n+1) / (n! (2n+1))
        term = a
        total = a * 0.0
        for n in range(32):
            total += term / (2.0 * n + 1.0)
            term *= -a * a / (n + 1.0)
        result = 1.1283791670955126 * total
    else:
        # erfc(a) = exp(-a^2) / sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
        frac = a
        for k in range(60):
            n = 60 - k
            frac = a + (0.5 * n) / frac
        result = 1.0 - ti.exp(-a * a) * 0.5641895835477563 / frac
    if x < 0:
        result = -result
    return result


@ti.func
def _tidal_softplus(x):
    return ti.max(x, 0.0) + ti.log(1.0 + ti.exp(-ti.abs(x)))


# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9 (from 9.02 on, tanh rounds to +-1 in float32): a rational
# fit by iteratively reweighted linear least squares in float64, relative error below 2e-8 there.
_TANH_P = (1.0, 0.13088903250009956, 0.003109412768829558, 1.1211188089321233e-05,
           -2.045507963389028e-08, 5.388231715563745e-11, -8.77103549124972e-14)
_TANH_Q = (1.0, 0.4642223201194917, 0.024516931880754753, 0.0002554078834137805)


@ti.func
def _tidal_tanh_f32(x):
    """float32 tanh in arithmetic only: no libm call, so it costs a few multiply-adds and one
    division instead of a scalar library call (about 6x faster on the CPU)."""
    xf = ti.cast(x, ti.f32)
    c = ti.min(ti.max(xf, ti.f32(-9.0)), ti.f32(9.0))
    s = c * c
    # Horner's scheme; the first step multiplies by s, so that num and den take x's shape
    # (the same code serves scalars and the lane vectors of tidal.dsl.lanes)
    num = ti.f32(_TANH_P[6]) * s + ti.f32(_TANH_P[5])
    for i in ti.static(range(4, -1, -1)):
        num = num * s + ti.f32(_TANH_P[i])
    den = ti.f32(_TANH_Q[3]) * s + ti.f32(_TANH_Q[2])
    for i in ti.static(range(1, -1, -1)):
        den = den * s + ti.f32(_TANH_Q[i])
    saturated = ti.select(xf > 0, ti.f32(1.0), ti.f32(-1.0))
    inside = ti.min(ti.max(c * num / den, ti.f32(-1.0)), ti.f32(1.0))
    # |x| as max(x, -x), and -x as a product: Taichi compiles neither ti.abs nor unary minus
    # on float vectors when it does not scalarise
    return ti.select(ti.max(xf, xf * ti.f32(-1.0)) >= ti.f32(9.02), saturated, inside)


NAMESPACE = {"_tidal_erf": _tidal_erf, "_tidal_softplus": _tidal_softplus,
             "_tidal_tanh_f32": _tidal_tanh_f32}
