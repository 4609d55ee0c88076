"""Derivative rules: one table per transformation (JVP, VJP, Taylor), keyed by primitive objects.

Rules are written with tidal's own primitives and operators, so whatever they emit can be
differentiated again. Signatures (every argument a tuple, in primitive-argument order):

* JVP: ``rule(primals, outs, tangents, attrs) -> tangents of the outputs``;
* VJP: ``rule(primals, outs, cotangents, attrs) -> one cotangent contribution per argument``
  (``None`` for arguments derivatives do not flow through; broadcasting is undone by the
  transformation, which sums a contribution down to its argument's shape);
* Taylor: ``rule(series, outs, attrs, order) -> output series`` (coefficient 0 is ``outs``).

Most entries come from rule-kind constructors: :func:`nondifferentiable`, :func:`linear`,
:func:`bilinear`, :func:`smooth` (JVP and VJP from a derivative expression, Taylor derived from the
JVP rule through :func:`tidal.autodiff.series.integrate`). Calls of tidal functions carry their own
rules (``derived_rule``), made by transforming the callee.
"""

from __future__ import annotations

from collections.abc import Callable

from tidal.autodiff import memory
from tidal.autodiff.series import Series, cauchy, integrate_system
from tidal.dsl import emitter, ir
from tidal.dsl import primitives as P
from tidal.dsl.errors import TidalError
from tidal.dsl.types import TType


class RuleTable:
    """Rules of one kind (``"jvp"``, ``"vjp"`` or ``"taylor"``), keyed by primitive."""

    def __init__(self, kind: str):
        self.kind = kind
        self.rules: dict[P.Primitive, Callable] = {}
        # primitive class -> function(primitive) making its rule (one primitive per callee)
        self.families: dict[type, Callable] = {}

    def __setitem__(self, prim: P.Primitive, rule: Callable) -> None:
        self.rules[prim] = rule

    def __contains__(self, prim) -> bool:
        return prim in self.rules

    def family(self, cls: type, make: Callable) -> None:
        """Rules for every primitive of class ``cls`` (calls: one primitive per callee)."""
        self.families[cls] = make

    def lookup(self, prim: P.Primitive) -> Callable:
        rule = self.rules.get(prim)
        if rule is not None:
            return rule
        for cls, make in self.families.items():
            if isinstance(prim, cls):
                return make(prim)
        raise TidalError(f"internal: primitive `{prim.name}` has no {self.kind} rule")


JVP = RuleTable("jvp")
VJP = RuleTable("vjp")
TAYLOR = RuleTable("taylor")


def _emit(prim, args, attrs=()):
    return emitter.current().apply(prim, list(args), tuple(attrs))


class Fused:
    """A JVP rule result that also recomputes the primal outputs.

    The transformation rebinds the outputs to ``outs``, so the plain primal statement becomes
    dead (used by calls: the callee's JVP function computes both).
    """

    def __init__(self, outs, tangents):
        self.outs = tuple(outs)
        self.tangents = tuple(tangents)


class Scatter:
    """A cotangent contribution to one element of a vector or matrix (from ``v[i]``)."""

    def __init__(self, index, value):
        self.index = tuple(index)
        self.value = value

    def accumulate(self, existing, t: TType):
        base = existing if existing is not None else ir.Zero(t)
        value = emitter.current().fit(self.value, t.scalar) if self.value.type.dtype != \
            t.dtype else self.value
        return P.setitem(base, P.getitem(base, *self.index) + value, *self.index)


# ----------------------------------------------------------------------------------------------
# rule-kind constructors


def nondifferentiable(prim: P.Primitive) -> None:
    """Piecewise-constant or integer-valued: every derivative is zero."""
    JVP[prim] = lambda p, o, t, a: tuple(ir.Zero(x.type) for x in o)
    VJP[prim] = lambda p, o, c, a: (None,) * len(p)
    TAYLOR[prim] = lambda xs, o, a, order: tuple(Series.constant(x, order) for x in o)


def linear(prim: P.Primitive, transpose: Callable) -> None:
    """Linear in its differentiable arguments: the JVP is the operation itself applied to the
    tangents, Taylor coefficients map one to one, and ``transpose`` gives the VJP."""

    def jvp(p, o, t, attrs):
        diff = prim.diff_args(len(p))
        return (_emit(prim, [t[i] if i in diff else p[i] for i in range(len(p))], attrs),)

    def taylor(xs, o, attrs, order):
        diff = prim.diff_args(len(xs))

        def coef(k):
            return _emit(prim, [x.coef(k) if i in diff else x.coef(0) for i, x in enumerate(xs)],
                         attrs)

        return (Series(order, o[0].type, fn=coef, coefs=[o[0]]),)

    JVP[prim] = jvp
    VJP[prim] = transpose
    TAYLOR[prim] = taylor


def bilinear(prim: P.Primitive, transpose: Callable) -> None:
    """Linear in each of two arguments separately (products)."""

    def jvp(p, o, t, attrs):
        a, b = p
        da, db = t
        return (_emit(prim, [da, b], attrs) + _emit(prim, [a, db], attrs),)

    def taylor(xs, o, attrs, order):
        a, b = xs
        return (Series(order, o[0].type, fn=lambda k: cauchy(a, b, k, prim), coefs=[o[0]]),)

    JVP[prim] = jvp
    VJP[prim] = transpose
    TAYLOR[prim] = taylor


def taylor_from_jvp(jvp: Callable) -> Callable:
    """Taylor rule of a primitive from its JVP rule: ``y' = jvp(x, y, x')``.

    The JVP rule is evaluated on series; coefficient ``k`` of each output is coefficient
    ``k - 1`` of its derivative divided by ``k``.
    """

    def taylor(xs, o, attrs, order):
        return integrate_system(o, lambda ys: jvp(xs, ys, tuple(x.d() for x in xs), attrs),
                                order)

    return taylor


def smooth(prim: P.Primitive, deriv: Callable) -> None:
    """A smooth unary function with derivative ``deriv(x, y)`` (``y`` is the output)."""

    def jvp(p, o, t, attrs):
        return (deriv(p[0], o[0]) * t[0],)

    def vjp(p, o, c, attrs):
        return (c[0] * deriv(p[0], o[0]),)

    JVP[prim] = jvp
    VJP[prim] = vjp
    TAYLOR[prim] = taylor_from_jvp(jvp)


def nonlinear(prim: P.Primitive, jvp: Callable, vjp: Callable,
              taylor: Callable | None = None) -> None:
    """A primitive with hand-written JVP and VJP rules (Taylor derived from the JVP unless
    given)."""
    JVP[prim] = jvp
    VJP[prim] = vjp
    TAYLOR[prim] = taylor or taylor_from_jvp(jvp)


# ----------------------------------------------------------------------------------------------
# the rules

# primitives no derivative flows through (declared without float arguments; memory operations
# have rules of their own below)
for _p in P.all_primitives():
    if not _p.float_args and not _p.touches_memory:
        nondifferentiable(_p)


def _memory_rules() -> None:
    """Reads, writes and atomic adds. Outside kernel transformations memory is constant; in a
    memory mode (:mod:`tidal.autodiff.memory`) derivatives flow through derivative storage."""

    def no_taylor(xs, o, attrs, order):
        raise TidalError("Taylor mode through kernels is not supported",
                         hint="use td.jvp_run / td.hvp for directional derivatives of kernels")

    def load_jvp(p, o, t, attrs):
        r, elem = attrs
        if memory.is_active(r, "tangent"):
            return (P.load(*p, ref=memory.ref(r, "tangent"), elem=elem),)
        return (ir.Zero(o[0].type),)

    def load_vjp(p, o, c, attrs):
        r, elem = attrs
        if memory.is_active(r, "adjoint") and not ir.is_zero(c[0]):
            P.atomic_add(*p, c[0], ref=memory.ref(r, "adjoint"), elem=elem)
        return (None,) * len(p)

    def load_taylor(xs, o, attrs, order):
        if memory.current() is not None:
            return no_taylor(xs, o, attrs, order)
        return (Series.constant(o[0], order),)

    def write_jvp(p, o, t, attrs, prim):
        r, elem = attrs
        if memory.is_active(r, "tangent") and (prim is P.store or not ir.is_zero(t[-1])):
            prim(*p[:-1], emitter.current().fit(t[-1], elem), ref=memory.ref(r, "tangent"),
                 elem=elem)
        return ()

    def write_vjp(p, o, c, attrs, prim):
        r, elem = attrs
        if not memory.is_active(r, "adjoint"):
            return (None,) * len(p)
        a = memory.ref(r, "adjoint")
        idx = p[:-1]
        g = P.load(*idx, ref=a, elem=elem)
        if prim is P.store:  # the old value is overwritten: its cotangent starts again at zero
            P.store(*idx, ir.Zero(elem), ref=a, elem=elem)
        return (None,) * len(idx) + (g,)

    JVP[P.load], VJP[P.load], TAYLOR[P.load] = load_jvp, load_vjp, load_taylor
    for prim in (P.store, P.atomic_add):
        JVP[prim] = lambda p, o, t, a, prim=prim: write_jvp(p, o, t, a, prim)
        VJP[prim] = lambda p, o, c, a, prim=prim: write_vjp(p, o, c, a, prim)
        TAYLOR[prim] = no_taylor


_memory_rules()

linear(P.add, lambda p, o, c, a: (c[0], c[0]))
linear(P.sub, lambda p, o, c, a: (c[0], -c[0]))
linear(P.neg, lambda p, o, c, a: (-c[0],))
linear(P.transpose, lambda p, o, c, a: (P.transpose(c[0]),))
linear(P.sum_, lambda p, o, c, a: (P.broadcast(c[0], shape=p[0].type.shape),))
linear(P.broadcast, lambda p, o, c, a: (P.sum_(c[0]),))
linear(P.select, lambda p, o, c, a: (None, P.select(p[0], c[0], ir.Zero(c[0].type)),
                                     P.select(p[0], ir.Zero(c[0].type), c[0])))


def _make_transpose(p, o, c, attrs):
    (shape,) = attrs
    idx = [(i,) for i in range(shape[0])] if len(shape) == 1 else \
        [(i, j) for i in range(shape[0]) for j in range(shape[1])]
    return tuple(c[0][k] for k in idx)


linear(P.make, _make_transpose)
linear(P.getitem, lambda p, o, c, a: (Scatter(p[1:], c[0]),) + (None,) * (len(p) - 1))
def _setitem_transpose(p, o, c, attrs):
    # read the element before zeroing it, so the zeroing can update the cotangent in place
    s_bar = P.getitem(c[0], *p[2:])
    v_bar = P.setitem(c[0], ir.Zero(c[0].type.scalar), *p[2:])
    return (v_bar, s_bar) + (None,) * (len(p) - 2)


linear(P.setitem, _setitem_transpose)


def _cast_rules():
    def jvp(p, o, t, attrs):
        (dt,) = attrs
        return (P.cast(t[0], dtype=dt) if dt.is_float else ir.Zero(o[0].type),)

    def vjp(p, o, c, attrs):
        (dt,) = attrs
        return (c[0] if dt.is_float and p[0].type.is_float else None,)

    def taylor(xs, o, attrs, order):
        (dt,) = attrs
        if not dt.is_float:
            return (Series.constant(o[0], order),)
        return (Series(order, o[0].type, fn=lambda k: P.cast(xs[0].coef(k), dtype=dt),
                       coefs=[o[0]]),)

    JVP[P.cast], VJP[P.cast], TAYLOR[P.cast] = jvp, vjp, taylor


_cast_rules()

bilinear(P.mul, lambda p, o, c, a: (c[0] * p[1], c[0] * p[0]))
bilinear(P.dot, lambda p, o, c, a: (c[0] * p[1], c[0] * p[0]))
bilinear(P.outer, lambda p, o, c, a: (c[0] @ p[1], P.transpose(c[0]) @ p[0]))


def _matmul_transpose(p, o, c, attrs):
    a, b = p
    ct = c[0]
    if b.type.is_vector:
        return (P.outer(ct, b), P.transpose(a) @ ct)
    return (ct @ P.transpose(b), P.transpose(a) @ ct)


bilinear(P.matmul, _matmul_transpose)


def _cross_transpose(p, o, c, attrs):
    a, b = p
    ct = c[0]
    if a.type.shape == (3,):
        return (P.cross(b, ct), P.cross(ct, a))
    # 2-D cross product a0 b1 - a1 b0 is a scalar
    return (P.make(ct * b[1], -(ct * b[0]), shape=(2,)),
            P.make(-(ct * a[1]), ct * a[0], shape=(2,)))


bilinear(P.cross, _cross_transpose)


def _div_taylor(xs, o, attrs, order):
    a, b = xs
    c = Series(order, o[0].type, coefs=[o[0]])

    def coef(k):
        acc = a.coef(k)
        for j in range(1, k + 1):
            bj = b.coef(j)
            if not ir.is_zero(bj):
                acc = acc - bj * c.coef(k - j)
        return acc / b.coef(0)

    c._fn = coef
    return (c,)


nonlinear(
    P.div,
    jvp=lambda p, o, t, a: ((t[0] - o[0] * t[1]) / p[1],),
    vjp=lambda p, o, c, a: (c[0] / p[1], -(c[0] * o[0]) / p[1]),
    taylor=_div_taylor,
)


def _ipow_taylor(xs, o, attrs, order):
    (n,) = attrs
    x = xs[0]
    if n < 0:
        inv = 1.0 / _power_series(x, -n)
        return (Series(order, o[0].type, fn=inv.coef, coefs=[o[0]]),)
    prod = _power_series(x, n)
    return (Series(order, o[0].type, fn=prod.coef, coefs=[o[0]]),)


def _power_series(x: Series, n: int) -> Series:
    """x**n by binary powering of series (exact, no division by x)."""
    result = None
    base = x
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result


nonlinear(
    P.ipow,
    jvp=lambda p, o, t, a: (a[0] * P.ipow(p[0], n=a[0] - 1) * t[0],),
    vjp=lambda p, o, c, a: (c[0] * (a[0] * P.ipow(p[0], n=a[0] - 1)),),
    taylor=_ipow_taylor,
)


def _pow_jvp_series(p, o, t, attrs):
    # y' = y (b' log a + b a' / a): valid for a > 0, the domain of real powers
    a, b = p
    da, db = t
    return (o[0] * (db * P.log(a) + b * da / a),)


nonlinear(
    P.pow_,
    jvp=lambda p, o, t, a: (p[1] * P.pow_(p[0], p[1] - 1.0) * t[0] + P.log(p[0]) * o[0] * t[1],),
    vjp=lambda p, o, c, a: (c[0] * (p[1] * P.pow_(p[0], p[1] - 1.0)), c[0] * (P.log(p[0]) * o[0])),
    taylor=taylor_from_jvp(_pow_jvp_series),
)


def _atan2_jvp(p, o, t, attrs):
    a, b = p  # atan2(a, b) = angle of (b, a)
    da, db = t
    return ((b * da - a * db) / (a * a + b * b),)


def _atan2_vjp(p, o, c, attrs):
    a, b = p
    denom = a * a + b * b
    return (c[0] * b / denom, -(c[0] * a) / denom)


nonlinear(P.atan2, _atan2_jvp, _atan2_vjp)


def _minmax(prim, pick_first):
    def jvp(p, o, t, attrs):
        c = pick_first(p[0], p[1])
        return (P.select(c, t[0], t[1]),)

    def vjp(p, o, c, attrs):
        first = pick_first(p[0], p[1])
        z = ir.Zero(c[0].type)
        return (P.select(first, c[0], z), P.select(first, z, c[0]))

    nonlinear(prim, jvp, vjp)


# ties pick the first argument (its derivative is one-sided there)
_minmax(P.maximum, P.ge)
_minmax(P.minimum, P.le)

nonlinear(
    P.mod,
    jvp=lambda p, o, t, a: (t[0] - P.floor(p[0] / p[1]) * t[1],),
    vjp=lambda p, o, c, a: (c[0], -(c[0] * P.floor(p[0] / p[1]))),
)

# smooth elementwise functions: rules from the derivative their declaration gives
for _p in P.all_primitives():
    if _p.derivative is not None:
        smooth(_p, _p.derivative)


# rows of every table registered by other modules: calls of tidal functions, 3x3 decompositions
from tidal.autodiff import call_rules, decomposition_rules  # noqa: E402, F401 - registration
