"""Taichi implementations of math functions Taichi lacks, bound into every generated module.

Guarantees: ``_tidal_erf`` agrees with ``scipy.special.erf`` to about 1e-15 relative in f64
(Taylor series below |x| = 2, Laplace's continued fraction for erfc above); ``_tidal_tanh_f32``
agrees with tanh to within 6 float32 ulps, ``_tidal_tanh_f64`` to within 3 float64 ulps and
``_tidal_sin_f64`` / ``_tidal_cos_f64`` with sin and cos to within 2 ulps away from their zeros
(tests/test_mathlib.py measures them). All take scalars (codegen applies them per element to
vectors); erf and softplus compute in the precision of their argument, ``_tidal_tanh_f32`` in
float32, the ``_f64`` forms in float64; the tanh, sin and cos forms are arithmetic only, so that
the same code runs on scalars and on SIMD lane vectors (where tidal.dsl.lanes uses them instead
of a libm call per lane: sin 17 ns against 42 ns a value, measured under load). An arithmetic
exp was tried and dropped: 2^k without bit casts costs more than the libm call (22 against
10 ns). The 3x3
decompositions (``_tidal_svd3``, ``_tidal_polar3``, ``_tidal_sym_eig3``) are Taichi's, refined to
full precision (below).
"""


import math

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
    # clamps by selects, not min/max, so that NaN propagates (LLVM's minnum/maxnum drop it)
    c = ti.select(xf > ti.f32(9.0), ti.f32(9.0), ti.select(xf < ti.f32(-9.0), ti.f32(-9.0), xf))
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
    inside = c * num / den
    inside = ti.select(inside > ti.f32(1.0), ti.f32(1.0),
                       ti.select(inside < ti.f32(-1.0), ti.f32(-1.0), inside))
    # |x| as max(x, -x), and -x as a product: Taichi compiles neither ti.abs nor unary minus
    # on float vectors when it does not scalarise
    return ti.select(ti.max(xf, xf * ti.f32(-1.0)) >= ti.f32(9.02), saturated, inside)


# float64 tanh(|x|) = expm1(2|x|) / (expm1(2|x|) + 2), with expm1(y) = 2^k expm1(r) + (2^k - 1),
# y = k ln 2 + r, |r| <= ln(2)/2 (ln 2 split in two, fdlibm's constants, so that k ln2_hi is exact),
# expm1(r) by its Taylor series to r^14 (the next term is below 2^-56 relative), 2^k built from the
# bits of k by selects. No division into cases, no bit casts, no libm call: the same arithmetic on
# a scalar or on every lane of a vector (tidal.dsl.lanes), which LLVM compiles to vector
# instructions. Within 3 ulps of tanh (mean 0.35 ulp; tests/test_mathlib.py).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
_EXPM1_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(1, 15))
_TANH_F64_LIMIT = 40.0  # 2|x| beyond which tanh rounds to +-1 in float64 (from |x| = 19.06)


@ti.func
def _tidal_tanh_f64(x):
    """float64 tanh in arithmetic only, for scalars and lane vectors alike (see above)."""
    xd = ti.cast(x, ti.f64)
    # |x| as max(x, -x), and -x as a product: Taichi compiles neither ti.abs nor unary minus
    # on float vectors when it does not scalarise
    y = 2.0 * ti.max(xd, xd * -1.0)
    y = ti.select(y > _TANH_F64_LIMIT, _TANH_F64_LIMIT, y)  # a select keeps NaN, ti.min not
    u = y * _INV_LN2 + 0.5  # k = floor(u), bit by bit (k < 64)
    k = y * 0.0
    power = k + 1.0
    for b in ti.static((32, 16, 8, 4, 2, 1)):
        take = u - k >= float(b)
        k = ti.select(take, k + float(b), k)
        power = ti.select(take, power * float(2 ** b), power)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    q = _EXPM1_TAYLOR[13] * r + _EXPM1_TAYLOR[12]
    for i in ti.static(range(11, -1, -1)):
        q = q * r + _EXPM1_TAYLOR[i]
    em = power * (q * r) + (power - 1.0)
    t = em / (em + 2.0)
    return ti.select(xd < 0.0, t * -1.0, t)


@ti.func
def _opaque(value, other):
    """``value``, behind a select on ``other >= 2^60`` (never true for the arguments passed
    here) that the compiler cannot see through: under Taichi's fast math LLVM may otherwise
    reassociate ``(c - k hi) - k lo`` into ``c - k (hi + lo)``, which undoes a split constant
    (measured on exp: 1 ulp without fast math, 677 ulps with it near x = 700). ``other`` must
    not be a factor of what follows, or LLVM folds the select's arms with it."""
    return ti.select(other >= 1.152921504606846976e18, other, value)


# float64 sin and cos: |x| = n pi/2 + r, |r| <= pi/4, with pi/2 split in two (fdlibm's 33-bit
# pio2_1, so that n pio2_1 is exact for n < 2^20, and pio2_1t = pi/2 - pio2_1), a select
# barrier (_opaque) against fast-math reassociation, then the Taylor series of sin r (to r^19) or
# cos r (to r^18) chosen by the quadrant n mod 4. The reduction's absolute error is below
# n 1e-26, so sin and cos are within a few ulps except within about 1e-16 n of a zero, where
# the error stays below 1e-23 absolute. Above |x| = 2^19 pi/2 (8.2e5), where n no longer fits
# the bits, the lanes that need it take Taichi's libm call (one branch for the whole vector).
_PIO2_1, _PIO2_1T = 1.57079632673412561417e+00, 6.07710050650619224932e-11
_TWO_OVER_PI = 0.63661977236758134308
_SIN_TAYLOR = tuple((-1.0) ** n / math.factorial(2 * n + 1) for n in range(10))
_COS_TAYLOR = tuple((-1.0) ** n / math.factorial(2 * n) for n in range(10))
_SINCOS_LIMIT = 2.0 ** 19 * math.pi / 2
_BITS_19 = tuple(2 ** i for i in range(19, -1, -1))  # 2^19, ..., 2, 1


@ti.func
def _tidal_sincos_f64(a, shift):
    """``sin(a + shift pi/2)`` for ``0 <= a <= _SINCOS_LIMIT`` and ``shift`` 0 or 1."""
    u = a * _TWO_OVER_PI + 0.5  # n = floor(u), bit by bit (n < 2^19 + 1)
    n = u * 0.0
    for b in ti.static(_BITS_19):
        n = ti.select(u - n >= float(b), n + float(b), n)
    r = _opaque(a - n * _PIO2_1, n + 0.5) - n * _PIO2_1T
    z = r * r
    s = _SIN_TAYLOR[9] * z + _SIN_TAYLOR[8]
    for i in ti.static(range(7, -1, -1)):
        s = s * z + _SIN_TAYLOR[i]
    s = s * r
    c = _COS_TAYLOR[9] * z + _COS_TAYLOR[8]
    for i in ti.static(range(7, -1, -1)):
        c = c * z + _COS_TAYLOR[i]
    m = n + shift  # the quadrant: m mod 4 = m - 4 floor(m / 4), floor by bits again
    quarter = m * 0.25
    f = quarter * 0.0
    for b in ti.static(_BITS_19[2:]):
        f = ti.select(quarter - f >= float(b), f + float(b), f)
    q = m - 4.0 * f
    return ti.select(q >= 2.0, ti.select(q >= 3.0, c * -1.0, s * -1.0),
                     ti.select(q >= 1.0, c, s))


@ti.func
def _sin_or_cos(x, shift: ti.template()):
    """float64 sin (``shift`` 0) or cos (1) in arithmetic only, for scalars and lane vectors
    alike (see above)."""
    xd = ti.cast(x, ti.f64)
    a = ti.max(xd, xd * -1.0)
    big = a > _SINCOS_LIMIT
    v = _tidal_sincos_f64(ti.select(big, a * 0.0, a), float(shift))
    if ti.static(shift == 0):  # sin is odd, cos even
        v = ti.select(xd < 0.0, v * -1.0, v)
    if _any(big):  # one branch for all lanes: the libm calls only when a lane needs them
        v = ti.select(big, _each(xd, shift), v)
    return v


@ti.func
def _tidal_sin_f64(x):
    """float64 sin in arithmetic only (see above)."""
    return _sin_or_cos(x, 0)


@ti.func
def _tidal_cos_f64(x):
    """float64 cos in arithmetic only (see above)."""
    return _sin_or_cos(x, 1)


@ti.func
def _each(x, kind: ti.template()):
    """Taichi's ``sin`` (``kind`` 0) or ``cos`` (1) of a scalar, or of each element of a lane
    vector (Taichi aborts on the libm call of a whole vector in vector mode)."""
    result = x
    if ti.static(isinstance(x, ti.Matrix) or x.is_tensor()):
        if ti.static(kind == 0):
            result = ti.Vector([ti.sin(x[j]) for j in ti.static(range(x.get_shape()[0]))],
                               dt=ti.f64)
        else:
            result = ti.Vector([ti.cos(x[j]) for j in ti.static(range(x.get_shape()[0]))],
                               dt=ti.f64)
    else:
        result = ti.sin(x) if ti.static(kind == 0) else ti.cos(x)
    return result


@ti.func
def _any(flags):
    """Whether any of ``flags`` (a comparison of scalars or of lane vectors) is true."""
    result = 0
    if ti.static(isinstance(flags, ti.Matrix) or flags.is_tensor()):
        # a float lane sum, as tidal's lane code uses: Taichi's any() of a comparison vector in
        # vector mode reads lane 0 only (measured)
        result = ti.select(flags, 1.0, 0.0).sum() > 0.0
    else:
        result = flags
    return result


# 3x3 decompositions: Taichi's own, then one Newton step. Taichi's f64 SVD stops after 8 Jacobi
# sweeps, about 1e-11 from the exact factors (up to 2e-10 on random matrices), and its
# eigensolver can be 1e-6 off near diagonal matrices. The factors are made orthonormal (one
# Newton-Schulz step); then the step removes
# the remaining off-diagonal part of U^T A V to first order (rotations U <- U cay(Wu),
# V <- V cay(Wv), the generators solving the same 2x2 systems as the derivative rules of
# tidal.autodiff.decomposition_rules), which squares the error. Pairs of singular values (or
# eigenvalues) closer than 1e-6 of the largest are left as Taichi found them: their rotation is
# arbitrary, and quantities that do not depend on it are already exact.


@ti.func
def _tidal_cayley(w, dt: ti.template()):
    """The rotation (I - w/2)^-1 (I + w/2) of a skew 3x3 matrix ``w``."""
    eye = ti.Matrix.identity(dt, 3)
    return (eye - 0.5 * w).inverse() @ (eye + 0.5 * w)


@ti.func
def _tidal_orthonormal(q, dt: ti.template()):
    """One Newton-Schulz step towards the nearest orthogonal matrix (squares the error)."""
    return q @ (1.5 * ti.Matrix.identity(dt, 3) - 0.5 * q.transpose() @ q)


@ti.func
def _tidal_svd3(a, dt: ti.template()):
    u, sig, v = ti.svd(a, dt)
    u = _tidal_orthonormal(u, dt)
    v = _tidal_orthonormal(v, dt)
    p = u.transpose() @ a @ v
    scale = ti.max(ti.abs(sig[0, 0]), ti.max(ti.abs(sig[1, 1]), ti.abs(sig[2, 2])))
    wu = ti.Matrix.zero(dt, 3, 3)
    wv = ti.Matrix.zero(dt, 3, 3)
    for i, j in ti.static(ti.ndrange(3, 3)):
        if ti.static(i != j):
            si, sj = sig[i, i], sig[j, j]
            c = ti.cast(0.0, dt)
            d = ti.cast(0.0, dt)
            if ti.abs(sj - si) > 1e-6 * scale:
                c = 0.5 / (sj - si)
            if ti.abs(sj + si) > 1e-6 * scale:
                d = 0.5 / (sj + si)
            wu[i, j] = c * (p[i, j] + p[j, i]) + d * (p[i, j] - p[j, i])
            wv[i, j] = c * (p[i, j] + p[j, i]) - d * (p[i, j] - p[j, i])
    u = u @ _tidal_cayley(wu, dt)
    v = v @ _tidal_cayley(wv, dt)
    p = u.transpose() @ a @ v
    zero = ti.cast(0.0, dt)
    sig = ti.Matrix([[p[0, 0], zero, zero], [zero, p[1, 1], zero], [zero, zero, p[2, 2]]],
                    dt=dt)
    return u, sig, v


@ti.func
def _tidal_polar3(a, dt: ti.template()):
    u, sig, v = _tidal_svd3(a, dt)
    return u @ v.transpose(), v @ sig @ v.transpose()


@ti.func
def _tidal_sym_eig3(a, dt: ti.template()):
    """Eigenvalues and eigenvectors of the symmetric matrix with ``a``'s upper triangle (the
    entries Taichi's solver reads)."""
    e = ti.Matrix([[a[0, 0], a[0, 1], a[0, 2]], [a[0, 1], a[1, 1], a[1, 2]],
                   [a[0, 2], a[1, 2], a[2, 2]]], dt=dt)
    lam, v = ti.sym_eig(e, dt)
    v = _tidal_orthonormal(v, dt)
    p = v.transpose() @ e @ v
    scale = ti.max(ti.abs(lam[0]), ti.max(ti.abs(lam[1]), ti.abs(lam[2])))
    w = ti.Matrix.zero(dt, 3, 3)
    for i, j in ti.static(ti.ndrange(3, 3)):
        if ti.static(i != j):
            if ti.abs(lam[j] - lam[i]) > 1e-6 * scale:
                w[i, j] = p[i, j] / (lam[j] - lam[i])
    v = v @ _tidal_cayley(w, dt)
    p = v.transpose() @ e @ v
    return ti.Vector([p[0, 0], p[1, 1], p[2, 2]], dt=dt), v


def _tidal_zeros(dt, *shape):
    """A zero vector (one dimension) or matrix (two) of ``dt`` whose elements all read one zero
    variable. Called while Taichi traces a kernel (a plain Python function, not a ``ti.func``;
    ``make_matrix`` is what kernel code ``ti.Matrix(...)`` becomes). ``ti.Matrix.zero`` makes a
    cast constant per element instead, which Taichi's constant folding and whole-kernel CSE then
    replace one at a time, each replacement a walk over the whole kernel: eight 140 x 8 zero
    tapes took 8.6 s to compile so and 0.9 s this way (Taichi 1.7.4, this project's CPU); the
    Burgers PINN's first gradient went from 25 s to 7 s."""
    zero = ti.lang.impl.expr_init(ti.cast(0, dt))
    if len(shape) == 1:
        return ti.lang.matrix.make_matrix([zero] * shape[0], dt)
    rows, cols = shape
    return ti.lang.matrix.make_matrix([[zero] * cols for _ in range(rows)], dt)


# Taichi warns at every call of a plain Python function from kernel code unless it carries one of
# its markers; this one is meant to run at trace time (Taichi reads the marker with hasattr only)
_tidal_zeros._is_wrapped_kernel = True


NAMESPACE = {"_tidal_erf": _tidal_erf, "_tidal_zeros": _tidal_zeros,
             "_tidal_softplus": _tidal_softplus, "_tidal_tanh_f32": _tidal_tanh_f32,
             "_tidal_tanh_f64": _tidal_tanh_f64, "_tidal_sin_f64": _tidal_sin_f64,
             "_tidal_cos_f64": _tidal_cos_f64,
             "_tidal_svd3": _tidal_svd3,
             "_tidal_polar3": _tidal_polar3, "_tidal_sym_eig3": _tidal_sym_eig3}
