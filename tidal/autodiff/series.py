"""Truncated Taylor series with lazily emitted coefficients.

A :class:`Series` stands for ``x(t) = x_0 + x_1 t + ... + x_K t^K`` (normalised coefficients,
``x_k = x^(k)(0) / k!``). Coefficients are atoms, emitted on first request and memoised, and every
recurrence used here is *online*: coefficient ``k`` of a result needs only coefficients ``<= k``
of its inputs. That makes self-referential definitions work, such as ``y = tanh(x)`` with
``y' = (1 - y^2) x'``: :func:`integrate` computes ``y_k`` from ``y'_{k-1}``, which needs ``y`` only
up to order ``k - 1``. Each coefficient costs O(k) statements, so a whole series of order K costs
O(K^2), never the exponential growth of nested differentiation.

Arithmetic on series uses the same operators and primitives as atoms: applying a primitive to a
series calls the primitive's Taylor rule. That is how Taylor rules are derived from JVP rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.types import I32, TType

_CONTEXTS: list[dict] = []


class series_context:
    """Scope for memoising primitive applications on series (one statement's rule)."""

    def __enter__(self):
        _CONTEXTS.append({})
        return self

    def __exit__(self, *exc):
        _CONTEXTS.pop()
        return False


class Series:
    """A truncated Taylor series of order ``order`` whose coefficients have type ``type``."""

    __slots__ = ("order", "type", "_coefs", "_fn")

    def __init__(self, order: int, type: TType, fn: Callable[[int], ir.Atom] | None = None,
                 coefs: Sequence[ir.Atom] | None = None):
        self.order = order
        self.type = type
        self._coefs: dict[int, ir.Atom] = dict(enumerate(coefs)) if coefs is not None else {}
        self._fn = fn

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def known(coefs: Sequence[ir.Atom], order: int | None = None) -> Series:
        order = len(coefs) - 1 if order is None else order
        return Series(order, coefs[0].type, coefs=list(coefs))

    @staticmethod
    def constant(a: ir.Atom, order: int) -> Series:
        return Series(order, a.type, coefs=[a])

    def coef(self, k: int) -> ir.Atom:
        """Coefficient ``k`` (a structural zero beyond the known or computable ones)."""
        if k < 0 or k > self.order:
            return ir.Zero(self.type)
        c = self._coefs.get(k)
        if c is None:
            c = self._fn(k) if self._fn is not None else ir.Zero(self.type)
            self._coefs[k] = c
        return c

    def coefs(self) -> list[ir.Atom]:
        return [self.coef(k) for k in range(self.order + 1)]

    def is_constant(self) -> bool:
        """True when the series is known to be constant (never forces lazy coefficients)."""
        if self._fn is not None:
            return False
        return all(ir.is_zero(self.coef(k)) for k in range(1, self.order + 1))

    def d(self) -> Series:
        """The derivative series ``x'(t)``, of order ``order - 1``."""
        return Series(self.order - 1, self.type, fn=lambda j: (j + 1) * self.coef(j + 1)
                      if j + 1 > 1 else self.coef(j + 1))

    # -- arithmetic ------------------------------------------------------------------------
    def __tidal_apply__(self, prim: P.Primitive, args, attrs: dict):
        return apply(prim, args, tuple(attrs.values()))

    def __add__(self, o):
        return apply(P.add, (self, o), ())

    def __radd__(self, o):
        return apply(P.add, (o, self), ())

    def __sub__(self, o):
        return apply(P.sub, (self, o), ())

    def __rsub__(self, o):
        return apply(P.sub, (o, self), ())

    def __mul__(self, o):
        return apply(P.mul, (self, o), ())

    def __rmul__(self, o):
        return apply(P.mul, (o, self), ())

    def __truediv__(self, o):
        return apply(P.div, (self, o), ())

    def __rtruediv__(self, o):
        return apply(P.div, (o, self), ())

    def __neg__(self):
        return apply(P.neg, (self,), ())

    def __pow__(self, o):
        return P.ipow(self, n=o) if isinstance(o, int) else apply(P.pow_, (self, o), ())

    def __matmul__(self, o):
        return apply(P.matmul, (self, o), ())

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        idx = tuple(ir.Const(i, TType(I32)) if isinstance(i, int) else i for i in idx)
        return apply(P.getitem, (self, *idx), ())


def _as_series(x, order: int, like: Series) -> Series:
    if isinstance(x, Series):
        return x
    if not isinstance(x, ir.Atom):
        from tidal.dsl import emitter

        x = emitter.current().coerce(x, like.type.dtype)
    return Series.constant(x, order)


def apply(prim: P.Primitive, args, attrs: tuple):
    """Apply ``prim`` to series (and atoms or numbers, taken as constant series)."""
    from tidal.autodiff import rules

    first = next(a for a in args if isinstance(a, Series))
    order = max(a.order for a in args if isinstance(a, Series))
    xs = tuple(_as_series(a, order, first) for a in args)
    ctx = _CONTEXTS[-1] if _CONTEXTS else None
    key = (prim, tuple(id(x) for x in xs), attrs)
    if ctx is not None and key in ctx:
        return ctx[key][0]
    from tidal.dsl import emitter

    outs0 = emitter.current().apply(prim, [x.coef(0) for x in xs], attrs)
    outs0 = outs0 if isinstance(outs0, tuple) else (outs0,)
    if all(x.is_constant() for x in xs) or not prim.diff_args(len(xs)):
        res = tuple(Series.constant(o, order) for o in outs0)
    else:
        res = tuple(rules.TAYLOR.lookup(prim)(xs, outs0, attrs, order))
    result = res[0] if len(res) == 1 else res
    if ctx is not None:
        ctx[key] = (result, xs)  # keep xs alive so ids stay unique
    return result


def integrate(y0: ir.Atom, derivative: Callable[[Series], Series], order: int) -> Series:
    """The series ``y`` with ``y(0) = y0`` and ``y' = derivative(y)`` (may refer to ``y``)."""
    return integrate_system((y0,), lambda ys: (derivative(ys[0]),), order)[0]


def integrate_system(y0s: Sequence[ir.Atom],
                     derivative: Callable[[tuple[Series, ...]], Sequence[Series]],
                     order: int) -> tuple[Series, ...]:
    """The series ``ys`` with ``ys(0) = y0s`` and ``ys' = derivative(ys)`` (which may refer to
    every one of ``ys``): coefficient ``k`` of each needs coefficients below ``k`` only."""
    holder: list = []

    def coef_of(i: int) -> Callable[[int], ir.Atom]:
        def coef(k: int) -> ir.Atom:
            if not holder[1:]:
                holder.append(tuple(derivative(holder[0])))
            c = holder[1][i].coef(k - 1)
            return c if k == 1 else c * (1.0 / k)
        return coef

    ys = tuple(Series(order, y0.type, fn=coef_of(i), coefs=[y0]) for i, y0 in enumerate(y0s))
    holder.append(ys)
    return ys


def cauchy(a: Series, b: Series, k: int, prim: P.Primitive = P.mul) -> ir.Atom:
    """Coefficient ``k`` of a bilinear product: ``sum_j prim(a_j, b_{k-j})``."""
    total = None
    for j in range(k + 1):
        aj, bk = a.coef(j), b.coef(k - j)
        if ir.is_zero(aj) or ir.is_zero(bk):
            continue
        term = prim(aj, bk)
        total = term if total is None else total + term
    if total is None:
        from tidal.dsl import emitter

        (t,) = prim.infer((a.type, b.type), (), emitter.current().default_fp)
        return ir.Zero(t)
    return total
