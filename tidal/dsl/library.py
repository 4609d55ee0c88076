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

from tidal.dsl import ir
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


def norm(v):
    return P.sqrt(norm_sqr(v))


def normalized(v):
    return v / norm(v)


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


def _square(m, what, sizes=None):
    t = m.type
    if not (t.is_matrix and t.shape[0] == t.shape[1]):
        raise TidalTypeError(f"{what} needs a square matrix, got {t}")
    if sizes and t.shape[0] not in sizes:
        raise TidalTypeError(f"{what} supports {' and '.join(f'{n}x{n}' for n in sizes)} "
                             f"matrices, got {t}")


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
_reg([math.sinh, sinh], sinh)
_reg([math.cosh, cosh], cosh)
_reg([sigmoid], _unary(P.sigmoid))
_reg([softplus], _unary(P.softplus))
_reg([erf, math.erf], _unary(P.erf))
for _public in (sin, cos, tan, exp, log, sqrt, tanh):
    _reg([_public], _unary(getattr(P, _public.__name__)))

METHODS: dict[str, Callable] = {
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

COMPONENTS = {"x": 0, "y": 1, "z": 2, "w": 3}

TAICHI_DTYPES = {id(ti.f32): F32, id(ti.f64): F64, id(ti.i32): I32}


def zero_value(t: TType) -> ir.Const:
    return ir.Const(0.0 if t.is_float else 0, t)
