"""Taylor mode: propagation of truncated Taylor series through a function.

:class:`TaylorEmitter` re-emits a block, carrying with every float value the coefficients
``x_1 .. x_K`` of its series (``x_k = x^(k)/k!``; ``x_0`` is the primal value). Each statement's
output series comes from its rule in :data:`tidal.autodiff.rules.TAYLOR`, evaluated lazily
(:mod:`tidal.autodiff.series`), so one pass gives all K derivatives along a direction at O(K^2)
cost per operation. Control flow is handled by :class:`tidal.autodiff.forward.ForwardEmitter`.

Several directions can share one pass (``orders = (K_1, ..., K_D)``): every value then carries
the coefficients of each direction's series after one another, all around one primal value, so
the primal work (a network's matrix products, its activations) is done once for all directions.
Calls are differentiated by one call of the callee's multi-direction Taylor function (calls
with a declared rule apply the rule once per direction).

Guarantees: coefficient 0 of every value is the primal value; coefficients that are structurally
zero are never emitted or carried; no knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.autodiff.forward import ForwardEmitter
from tidal.autodiff.series import Series, apply, series_context
from tidal.dsl import calls, emitter, ir


class TaylorEmitter(ForwardEmitter):
    """Emits primal code and Taylor coefficients of order ``orders[d]`` along each direction."""

    def __init__(self, em, orders):
        self.orders = (orders,) if isinstance(orders, int) else tuple(orders)
        super().__init__(em, sum(self.orders))
        self.offsets = [sum(self.orders[:d]) for d in range(len(self.orders))]

    def payload_names(self, name: str) -> list[str]:
        return [f"{name}_{k}" + (f"_d{d}" if d else "")
                for d, K in enumerate(self.orders) for k in range(1, K + 1)]

    def part(self, payload, d: int) -> tuple:
        """Direction ``d``'s coefficients ``1 .. K_d`` within a payload."""
        return tuple(payload[self.offsets[d]:self.offsets[d] + self.orders[d]])

    def assign(self, s: ir.Assign, env: dict, der: dict) -> None:
        em = self.em
        em.name = s.outs[0].name if s.outs else "t"
        diff = s.prim.diff_args(len(s.args))
        active = [d for d in range(len(self.orders))
                  if any(self.nonzero(self.part(self.payload(der, s.args[i]), d)) for i in diff)]
        if not active:
            res = em.apply(s.prim, [self.primal(env, a) for a in s.args], s.attrs)
            for o, r in zip(s.outs, res if isinstance(res, tuple) else (res,)):
                env[o] = r
            return
        if len(self.orders) > 1 and isinstance(s.prim, calls.CallPrimitive) \
                and s.prim.transformable:
            series = self._call(s, env, der, active)
        else:
            series = {}
            for d in active:
                with series_context():
                    xs = [Series.known([self.primal(env, a), *self.part(self.payload(der, a), d)],
                                       self.orders[d]) for a in s.args]
                    ys = apply(s.prim, xs, s.attrs)
                    ys = ys if isinstance(ys, tuple) else (ys,)
                    series[d] = [[y.coef(k) for k in range(self.orders[d] + 1)] for y in ys]
        for j, o in enumerate(s.outs):
            env[o] = em.fit(series[active[0]][j][0], o.type)
            if not o.type.is_float:
                continue
            coefs = []
            for d, K in enumerate(self.orders):
                for k in range(1, K + 1):
                    em.name = f"{o.name}_{k}"
                    coefs.append(em.fit(series[d][j][k], o.type) if d in series
                                 else ir.Zero(o.type))
            if self.nonzero(coefs):
                der[o] = tuple(coefs)
        em.name = "t"

    def _call(self, s: ir.Assign, env: dict, der: dict, active: list) -> dict:
        """A call along several directions: one call of the callee's multi-direction Taylor
        function; returns, per active direction, per result, its coefficients ``0 .. K_d``."""
        from tidal.autodiff import derived, memory

        orders = tuple(self.orders[d] for d in active)
        masks = tuple(tuple(self.nonzero(self.part(self.payload(der, a), d)) for a in s.args)
                      for d in active)
        g = derived.taylor_fn(s.prim.fn, orders, masks, mode=memory.current())
        args = [self.primal(env, a) for a in s.args]
        for d, mask in zip(active, masks):
            args += [c for a, m in zip(s.args, mask) if m
                     for c in self.part(self.payload(der, a), d)]
        res = calls.emit_call(g, args, self.em.default_fp, self.em.loc)
        res = res if isinstance(res, tuple) else (res,)
        width = 1 + sum(orders)
        out = {}
        for j in range(len(s.outs)):
            row = res[j * width:(j + 1) * width]
            pos = 1
            for d, K in zip(active, orders):
                out.setdefault(d, []).append([row[0], *row[pos:pos + K]])
                pos += K
        return out


def emit_taylor(fn: ir.Function, coefs, order) -> list[list[ir.Atom]]:
    """Emit ``fn`` on Taylor series inputs into the current emitter.

    Args:
        fn: the function.
        coefs: per parameter, its coefficients ``[x_0, x_1, ...]`` (zeros allowed): with one
            direction ``[x_0, ..., x_K]``; with several, ``x_0`` followed by each direction's
            coefficients ``1 .. K_d`` in turn.
        order: K, or the tuple ``(K_1, ..., K_D)`` of the directions' orders.

    Returns:
        Per result, its coefficients in the same layout.
    """
    em = emitter.current()
    env = {p: c[0] for p, c in zip(fn.params, coefs)}
    der = {p: tuple(c[1:]) for p, c in zip(fn.params, coefs)
           if any(not ir.is_zero(x) for x in c[1:])}
    t = TaylorEmitter(em, order)
    t.block(fn.body.stmts, env, der)
    return [[em.fit(c, r.type) for c in (t.primal(env, r), *t.payload(der, r))]
            for r in fn.body.results]
