"""What names mean inside tidal functions: Taichi's math, Python builtins and tidal's own functions.

Each entry maps a Python object that user code may call (``ti.sin``, ``ti.math.clamp``,
``abs``, ``td.sigmoid``...) to a function that emits primitives. Functions that are not primitives
are decompositions into primitives (``clamp`` into ``min``/``max``, ``determinant`` into products);
their derivatives therefore come for free and cost nothing extra at run time. Methods of vector
and matrix values (``v.norm()``, ``m.inverse()``) are in :data:`METHODS`.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable

import numpy as np
import taichi as ti

from tidal.dsl import emitter, ir
from tidal.dsl import primitives as P
from tidal.dsl.errors import TidalTypeError
from tidal.dsl.types import F32, F64, I32, TType

# ----------------------------------------------------------------------------------------------
# decompositions (all take atoms or Python numbers and emit primitives)


def sinh(x):
    """Hyperbolic sine, usable in tidal functions and on NumPy values.

    Example:
        >>> import tidal as td
        >>> round(float(td.sinh(0.5)), 6)
        0.521095
    """
    if _is_numeric(x):
        return np.sinh(x)
    return (P.exp(x) - P.exp(-x)) * 0.5


def cosh(x):
    """Hyperbolic cosine, usable in tidal functions and on NumPy values.

    Example:
        >>> import tidal as td
        >>> round(float(td.cosh(0.5)), 6)
        1.127626
    """
    if _is_numeric(x):
        return np.cosh(x)
    return (P.exp(x) + P.exp(-x)) * 0.5


def _public_primitive(prim: P.Primitive, doc: str) -> Callable:
    def f(x):
        if _is_numeric(x):
            return prim.impl(np.asarray(x, dtype=float))[()]
        return prim(x)

    f.__name__ = prim.name
    f.__doc__ = doc
    return f


sigmoid = _public_primitive(P.sigmoid, """Logistic function 1 / (1 + exp(-x)).

    Example:
        >>> import tidal as td
        >>> float(td.sigmoid(0.0))
        0.5
    """)
softplus = _public_primitive(P.softplus, """Softplus log(1 + exp(x)), computed stably.

    Example:
        >>> import tidal as td
        >>> round(float(td.softplus(0.0)), 6)
        0.693147
    """)
erf = _public_primitive(P.erf, """Error function (accurate to about 1e-15 in f64).

    Example:
        >>> import tidal as td
        >>> round(float(td.erf(1.0)), 6)
        0.842701
    """)


def _elementary(prim: P.Primitive, meaning: str, x: float, expected: str) -> Callable:
    """A public ``td.<name>`` whose docstring example shows ``expected`` (from Python's math)."""
    return _public_primitive(prim, f"""{meaning}, usable in tidal functions and on NumPy values.

    Example:
        >>> import tidal as td
        >>> round(float(td.{prim.name}({x})), 6)
        {expected}
    """)


sin = _elementary(P.sin, "Sine", 0.5, "0.479426")
cos = _elementary(P.cos, "Cosine", 0.5, "0.877583")
tan = _elementary(P.tan, "Tangent", 0.5, "0.546302")
exp = _elementary(P.exp, "Exponential", 0.5, "1.648721")
log = _elementary(P.log, "Natural logarithm", 2.0, "0.693147")
sqrt = _elementary(P.sqrt, "Square root", 2.0, "1.414214")
tanh = _elementary(P.tanh, "Hyperbolic tangent", 0.5, "0.462117")


def _is_numeric(x) -> bool:
    return isinstance(x, (int, float, np.ndarray, np.number))


def clamp(x, lo, hi):
    return P.minimum(P.maximum(x, lo), hi)


def mix(x, y, a):
    return x * (1.0 - a) + y * a


def smoothstep(edge0, edge1, x):
    t = clamp((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def fract(x):
    return x - P.floor(x)


def step(edge, x):
    return P.select(P.lt(x, edge), 0.0, 1.0)


def log2(x):
    return P.log(x) * (1.0 / math.log(2.0))


def isnan(x):
    return P.ne(x, x)


def isinf(x):
    return P.logical_and(P.eq(x, x), P.gt(P.abs_(x), np.finfo(np.float64).max))


def dot(a, b):
    return P.dot(a, b)


def cross(a, b):
    return P.cross(a, b)


def norm_sqr(v):
    return P.dot(v, v) if v.type.is_vector else P.sum_(v * v)


def norm(v, eps=0.0):
    return P.sqrt(norm_sqr(v) + eps)


def normalized(v, eps=0.0):
    """``v / |v|`` computed as Taichi does: ``(1 / (|v| + eps)) * v``."""
    return (1.0 / (norm(v) + eps)) * v


def cast(v, dtype):
    from tidal.dsl.types import dtype_from_taichi

    return P.cast(v, dtype=dtype_from_taichi(dtype, emitter.current().default_fp))


def distance(a, b):
    return norm(a - b)


def outer_product(a, b):
    return P.outer(a, b)


def transpose(m):
    return P.transpose(m)


def trace(m):
    _square(m, "trace")
    total = m[0, 0]
    for i in range(1, m.type.shape[0]):
        total = total + m[i, i]
    return total


def _square(m, what, sizes=None, hint=None):
    t = m.type
    if not (t.is_matrix and t.shape[0] == t.shape[1]):
        raise TidalTypeError(f"{what} needs a square matrix, got {t}")
    if sizes and t.shape[0] not in sizes:
        raise TidalTypeError(f"{what} supports {' and '.join(f'{n}x{n}' for n in sizes)} "
                             f"matrices, got {t}", hint=hint)


def determinant(m):
    _square(m, "determinant", (1, 2, 3))
    n = m.type.shape[0]
    if n == 1:
        return m[0, 0]
    if n == 2:
        return m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    return (m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))


def inverse(m):
    _square(m, "inverse", (1, 2, 3))
    n = m.type.shape[0]
    inv_det = 1.0 / determinant(m)
    if n == 1:
        return P.make(inv_det, shape=(1, 1))
    if n == 2:
        elems = [m[1, 1], -m[0, 1], -m[1, 0], m[0, 0]]
    else:
        def cof(i, j):
            r = [k for k in range(3) if k != i]
            c = [k for k in range(3) if k != j]
            minor = m[r[0], c[0]] * m[r[1], c[1]] - m[r[0], c[1]] * m[r[1], c[0]]
            return minor if (i + j) % 2 == 0 else -minor
        # inverse = adjugate / det, adjugate[i][j] = cofactor[j][i]
        elems = [cof(j, i) for i in range(3) for j in range(3)]
    return P.make(*[e * inv_det for e in elems], shape=(n, n))


def _identity2(dt):
    return ir.Const(((1.0, 0.0), (0.0, 1.0)), TType(dt, (2, 2)))


def polar_decompose(a):
    """``(U, P)`` with ``a = U @ P``, ``U`` a rotation and ``P`` symmetric, as
    ``ti.polar_decompose`` computes them (2x2: closed form, the zero matrix giving ``(I, 0)``;
    3x3: Taichi's own, differentiated in closed form)."""
    _square(a, "polar_decompose", (2, 3))
    if a.type.shape[0] == 3:
        return P.polar3(a)
    em = emitter.current()
    dt = a.type.dtype
    a00, a01, a10, a11 = a[0, 0], a[0, 1], a[1, 0], a[1, 1]
    all_zero = P.logical_and(P.logical_and(P.eq(a00, 0.0), P.eq(a01, 0.0)),
                             P.logical_and(P.eq(a10, 0.0), P.eq(a11, 0.0)))

    def general():
        det = a00 * a11 - a10 * a01
        flip = P.lt(det, 0.0)
        b = P.make(P.select(flip, a00 - a11, a00 + a11), P.select(flip, a01 + a10, a01 - a10),
                   P.select(flip, a10 + a01, a10 - a01), P.select(flip, a11 - a00, a11 + a00),
                   shape=(2, 2))
        k = 1.0 / P.sqrt(P.abs_(b[0, 0] * b[1, 1] - b[1, 0] * b[0, 1]))
        return b * k, (P.transpose(a) @ a + P.abs_(det) * _identity2(dt)) * k

    return em.if_(all_zero, lambda: (_identity2(dt), a), general)


def svd(a):
    """``(U, S, V)`` with ``a = U @ S @ V.transpose()``, singular values in decreasing order, as
    ``ti.svd`` computes them (2x2: from the polar decomposition and a Jacobi rotation; 3x3:
    Taichi's own, whose last singular value is negative where ``det(a) < 0``)."""
    _square(a, "svd", (2, 3))
    if a.type.shape[0] == 3:
        return P.svd3(a)
    em = emitter.current()
    dt = a.type.dtype
    r, s = polar_decompose(a)
    s00, s01, s11 = s[0, 0], s[0, 1], s[1, 1]

    def rotation():
        tao = 0.5 * (s00 - s11)
        w = P.sqrt(tao * tao + s01 * s01)
        (t,) = em.if_(P.gt(tao, 0.0), lambda: (s01 / (tao + w),), lambda: (s01 / (tao - w),))
        c = 1.0 / P.sqrt(t * t + 1.0)
        sn = -t * c
        return (c, sn, c * c * s00 - 2.0 * c * sn * s01 + sn * sn * s11,
                sn * sn * s00 + 2.0 * c * sn * s01 + c * c * s11)

    one, zero = ir.Const(1.0, TType(dt)), ir.Const(0.0, TType(dt))
    c, sn, s1, s2 = em.if_(P.lt(P.abs_(s01), 1e-5), lambda: (one, zero, s00, s11), rotation)
    swap = P.lt(s1, s2)
    v = P.make(P.select(swap, -sn, c), P.select(swap, c, sn),
               P.select(swap, -c, -sn), P.select(swap, -sn, c), shape=(2, 2))
    big, small = P.select(swap, s2, s1), P.select(swap, s1, s2)
    return r @ v, P.make(big, zero, zero, small, shape=(2, 2)), v


def sym_eig(a):
    """``(eigenvalues, eigenvectors)`` of a symmetric matrix (eigenvectors as columns), as
    ``ti.sym_eig`` computes them (2x2: closed form, larger eigenvalue first; 3x3: Taichi's own,
    which reads the upper triangle)."""
    _square(a, "sym_eig", (2, 3))
    if a.type.shape[0] == 3:
        return P.sym_eig3(a)
    em = emitter.current()
    dt = a.type.dtype
    tr = a[0, 0] + a[1, 1]
    gap = tr * tr - 4.0 * determinant(a)
    root = P.sqrt(gap)
    l1, l2 = (tr + root) * 0.5, (tr - root) * 0.5
    a1 = a - l1 * _identity2(dt)
    a2 = a - l2 * _identity2(dt)
    zero1 = P.logical_and(P.logical_and(P.eq(a1[0, 0], 0.0), P.eq(a1[0, 1], 0.0)),
                          P.logical_and(P.eq(a1[1, 0], 0.0), P.eq(a1[1, 1], 0.0)))
    e = ir.Const(((0.0, 1.0), (1.0, 0.0)), TType(dt, (2, 2)))

    def general():
        v1 = normalized(P.make(a2[0, 0], a2[1, 0], shape=(2,)))
        v2 = normalized(P.make(a1[0, 0], a1[1, 0], shape=(2,)))
        return (P.make(v1[0], v2[0], v1[1], v2[1], shape=(2, 2)),)

    (vectors,) = em.if_(zero1, lambda: (e,), general)
    return P.make(l1, l2, shape=(2,)), vectors


def diag(dim, val):
    """A ``dim`` x ``dim`` matrix with ``val`` on its diagonal (``ti.Matrix.diag``)."""
    val = val if isinstance(val, ir.Atom) else emitter.current().coerce(float(val), None)
    zero = ir.Const(0.0 if val.type.is_float else 0, val.type)
    return P.make(*[val if i == j else zero for i in range(dim) for j in range(dim)],
                  shape=(dim, dim))


def reduce_pairwise(prim, v):
    t = v.type
    idx = [(i,) for i in range(t.shape[0])] if t.is_vector else \
        [(i, j) for i in range(t.shape[0]) for j in range(t.shape[1])]
    acc = v[idx[0]]
    for k in idx[1:]:
        acc = prim(acc, v[k])
    return acc


def vmax(v):
    return reduce_pairwise(P.maximum, v)


def vmin(v):
    return reduce_pairwise(P.minimum, v)


def vsum(v):
    return P.sum_(v)


def nary(prim):
    def f(*args):
        if len(args) == 1 and isinstance(args[0], ir.Atom) and not args[0].type.is_scalar:
            return reduce_pairwise(prim, args[0])
        if len(args) < 2:
            raise TidalTypeError(f"{prim.name} needs at least two arguments")
        acc = args[0]
        for a in args[1:]:
            acc = prim(acc, a)
        return acc
    return f


# Python callables -> emitting functions. Resolved by identity of the callable.
FUNCTIONS: dict = {}


def _reg(objs, fn):
    for o in objs if isinstance(objs, (list, tuple)) else [objs]:
        if o is not None:
            FUNCTIONS[o] = fn


def _unary(prim):
    def f(x):
        return prim(x)
    return f


for _name, _prim in [
    ("sin", P.sin), ("cos", P.cos), ("tan", P.tan), ("asin", P.asin), ("acos", P.acos),
    ("exp", P.exp), ("log", P.log), ("sqrt", P.sqrt), ("tanh", P.tanh), ("floor", P.floor),
    ("ceil", P.ceil),
]:
    _reg([getattr(ti, _name, None), getattr(ti.math, _name, None), getattr(math, _name, None)],
         _unary(_prim))
_reg([ti.rsqrt], _unary(P.rsqrt))
_reg([ti.abs, builtins.abs, math.fabs], _unary(P.abs_))
_reg([ti.round, builtins.round], _unary(P.round_))
_reg([ti.math.sign], _unary(P.sign))
_reg([ti.atan2, ti.math.atan2, math.atan2], lambda y, x: P.atan2(y, x))
_reg([ti.pow, math.pow], lambda x, y: x ** y)
_reg([ti.max, builtins.max], nary(P.maximum))
_reg([ti.min, builtins.min], nary(P.minimum))
_reg([ti.select], lambda c, a, b: P.select(c, a, b))
_reg([ti.math.clamp], clamp)
_reg([ti.math.mix], mix)
_reg([ti.math.smoothstep], smoothstep)
_reg([ti.math.fract], fract)
_reg([ti.math.step], step)
_reg([ti.math.log2, math.log2], log2)
_reg([ti.math.isnan, math.isnan], isnan)
_reg([ti.math.isinf, math.isinf], isinf)
_reg([ti.math.dot], dot)
_reg([ti.math.cross], cross)
_reg([ti.math.length], norm)
_reg([ti.math.distance], distance)
_reg([ti.math.normalize], normalized)
_reg([ti.math.determinant], determinant)
_reg([ti.math.inverse], inverse)
_reg([ti.Matrix.diag], diag)
_reg([ti.polar_decompose], lambda a, dt=None: polar_decompose(a))
_reg([ti.svd], lambda a, dt=None: svd(a))
_reg([ti.sym_eig], lambda a, dt=None: sym_eig(a))
_reg([math.sinh, sinh], sinh)
_reg([math.cosh, cosh], cosh)
_reg([sigmoid], _unary(P.sigmoid))
_reg([softplus], _unary(P.softplus))
_reg([erf, math.erf], _unary(P.erf))
for _public in (sin, cos, tan, exp, log, sqrt, tanh):
    _reg([_public], _unary(getattr(P, _public.__name__)))

METHODS: dict[str, Callable] = {
    "cast": cast,
    "norm": norm,
    "norm_sqr": norm_sqr,
    "normalized": normalized,
    "dot": dot,
    "cross": cross,
    "outer_product": outer_product,
    "transpose": transpose,
    "trace": trace,
    "determinant": determinant,
    "inverse": inverse,
    "sum": vsum,
    "max": vmax,
    "min": vmin,
}

# ti.Vector.normalized(v, eps) and friends: the methods called through the class
for _name, _method in METHODS.items():
    _reg([getattr(ti.Matrix, _name, None)], _method)

COMPONENTS = {"x": 0, "y": 1, "z": 2, "w": 3}

TAICHI_DTYPES = {id(ti.f32): F32, id(ti.f64): F64, id(ti.i32): I32}


def zero_value(t: TType) -> ir.Const:
    return ir.Const(0.0 if t.is_float else 0, t)
