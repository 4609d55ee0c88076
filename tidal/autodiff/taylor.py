"""Taylor mode: propagation of truncated Taylor series through a function.

:class:`TaylorEmitter` re-emits a block, carrying with every float value the coefficients
``x_1 .. x_K`` of its series (``x_k = x^(k)/k!``; ``x_0`` is the primal value). Each statement's
output series comes from its rule in :data:`tidal.autodiff.rules.TAYLOR`, evaluated lazily
(:mod:`tidal.autodiff.series`), so one pass gives all K derivatives along a direction at O(K^2)
cost per operation. Control flow is handled by :class:`tidal.autodiff.forward.ForwardEmitter`.

Guarantees: coefficient 0 of every value is the primal value; coefficients that are structurally
zero are never emitted or carried; no knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.autodiff.forward import ForwardEmitter
from tidal.autodiff.series import Series, apply, series_context
from tidal.dsl import emitter, ir


class TaylorEmitter(ForwardEmitter):
    """Emits primal code and Taylor coefficients of order ``order``."""

    def __init__(self, em, order: int):
        super().__init__(em, order)
        self.order = order

    def payload_names(self, name: str) -> list[str]:
        return [f"{name}_{k}" for k in range(1, self.order + 1)]

    def series_of(self, der: dict, env: dict, a: ir.Atom) -> Series:
        return Series.known([self.primal(env, a), *self.payload(der, a)], self.order)

    def assign(self, s: ir.Assign, env: dict, der: dict) -> None:
        em, K = self.em, self.order
        em.name = s.outs[0].name if s.outs else "t"
        diff = s.prim.diff_args(len(s.args))
        if not diff or not any(self.nonzero(self.payload(der, s.args[i])) for i in diff):
            res = em.apply(s.prim, [self.primal(env, a) for a in s.args], s.attrs)
            for o, r in zip(s.outs, res if isinstance(res, tuple) else (res,)):
                env[o] = r
            return
        with series_context():
            ys = apply(s.prim, [self.series_of(der, env, a) for a in s.args], s.attrs)
            ys = ys if isinstance(ys, tuple) else (ys,)
            for o, y in zip(s.outs, ys):
                env[o] = em.fit(y.coef(0), o.type)
                if not o.type.is_float:
                    continue
                coefs = []
                for k in range(1, K + 1):
                    em.name = f"{o.name}_{k}"
                    coefs.append(em.fit(y.coef(k), o.type))
                if self.nonzero(coefs):
                    der[o] = tuple(coefs)
        em.name = "t"


def emit_taylor(fn: ir.Function, coefs, order: int) -> list[list[ir.Atom]]:
    """Emit ``fn`` on Taylor series inputs into the current emitter.

    Args:
        fn: the function.
        coefs: per parameter, its coefficients ``[x_0, ..., x_K]`` (zeros allowed).
        order: K.

    Returns:
        Per result, its coefficients ``[y_0, ..., y_K]``.
    """
    em = emitter.current()
    env = {p: c[0] for p, c in zip(fn.params, coefs)}
    der = {p: tuple(c[1:]) for p, c in zip(fn.params, coefs)
           if any(not ir.is_zero(x) for x in c[1:])}
    t = TaylorEmitter(em, order)
    t.block(fn.body.stmts, env, der)
    return [[em.fit(c, r.type) for c in (t.primal(env, r), *t.payload(der, r))]
            for r in fn.body.results]
