"""Taylor mode: propagation of truncated Taylor series through a function.

:class:`TaylorEmitter` re-emits a block, replacing every float value by its series of order K
(coefficients ``x_0 .. x_K``, ``x_k = x^(k)/k!``). Each statement's output series comes from its
rule in :data:`tidal.autodiff.rules.TAYLOR`, evaluated lazily (:mod:`tidal.autodiff.series`),
so one pass gives all K derivatives along a direction at O(K^2) cost per operation. Control flow
follows the primal values; branches and loops carry the coefficients of the values they define.

Guarantees: coefficient 0 of every value is the primal value; coefficients that are structurally
zero are never emitted or carried; the transformation has no knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.autodiff.series import Series, series_context
from tidal.dsl import ir
from tidal.dsl.emitter import Emitter
from tidal.dsl.optimize import Rebuilder


def _coefs(ser: dict, a: ir.Atom, env: dict, order: int) -> list[ir.Atom]:
    if isinstance(a, ir.Var) and a in ser:
        return ser[a]
    primal = Rebuilder.atom(env, a)
    return [primal] + [ir.Zero(a.type)] * order


def _nonconstant(coefs) -> bool:
    return any(not ir.is_zero(c) for c in coefs[1:])


class TaylorEmitter:
    """Emits primal code and Taylor coefficients of order ``order`` into ``em``."""

    def __init__(self, em: Emitter, order: int):
        self.em = em
        self.order = order

    def block(self, stmts, env: dict, ser: dict) -> None:
        for s in stmts:
            saved = self.em.loc
            if s.loc is not None:
                self.em.loc = s.loc
            try:
                if isinstance(s, ir.Assign):
                    self.assign(s, env, ser)
                elif isinstance(s, ir.If):
                    self.if_(s, env, ser)
                else:
                    self.loop(s, env, ser)
            finally:
                self.em.loc = saved

    def assign(self, s: ir.Assign, env: dict, ser: dict) -> None:
        em, K = self.em, self.order
        args = [_coefs(ser, a, env, K) for a in s.args]
        em.name = s.outs[0].name if s.outs else "t"
        diff = s.prim.diff_args(len(args))
        if not diff or not any(_nonconstant(args[i]) for i in diff):
            res = em.apply(s.prim, [c[0] for c in args], s.attrs)
            outs = res if isinstance(res, tuple) else (res,)
            for o, r in zip(s.outs, outs):
                env[o] = r
            return
        with series_context():
            xs = [Series.known(c, K) for c in args]
            from tidal.autodiff.series import apply

            ys = apply(s.prim, xs, s.attrs)
            ys = ys if isinstance(ys, tuple) else (ys,)
            for o, y in zip(s.outs, ys):
                coefs = [y.coef(0)]
                for k in range(1, K + 1):
                    em.name = f"{o.name}_{k}"
                    coefs.append(y.coef(k) if o.type.is_float else ir.Zero(o.type))
                coefs = [em.fit(c, o.type) for c in coefs]
                env[o] = coefs[0]
                if o.type.is_float and _nonconstant(coefs):
                    ser[o] = coefs
        em.name = "t"

    def if_(self, s: ir.If, env: dict, ser: dict) -> None:
        em, K = self.em, self.order
        cond = Rebuilder.atom(env, s.cond)
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            taken = s.then if cond.value else s.orelse
            self.block(taken.stmts, env, ser)
            for o, r in zip(s.outs, taken.results):
                c = _coefs(ser, r, env, K)
                env[o] = c[0]
                if _nonconstant(c):
                    ser[o] = c
            return
        branches = []
        for blk in (s.then, s.orelse):
            em.begin()
            benv, bser = dict(env), dict(ser)
            self.block(blk.stmts, benv, bser)
            branches.append((em.end(), [_coefs(bser, r, benv, K) for r in blk.results]))
        need = [i for i, o in enumerate(s.outs) if o.type.is_float
                and (_nonconstant(branches[0][1][i]) or _nonconstant(branches[1][1][i]))]
        for blk, cs in branches:
            with em.reopen(blk):
                extra = [em.fit(cs[i][k], s.outs[i].type) for i in need for k in range(1, K + 1)]
                blk.results = tuple(c[0] for c in cs) + tuple(extra)
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        couts = {i: [ir.Var(f"{s.outs[i].name}_{k}", s.outs[i].type) for k in range(1, K + 1)]
                 for i in need}
        em.append(ir.If(cond, branches[0][0], branches[1][0],
                        outs + [v for i in need for v in couts[i]], s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i in need:
            ser[s.outs[i]] = [outs[i]] + couts[i]

    def loop(self, s, env: dict, ser: dict) -> None:
        em, K = self.em, self.order
        inits = [_coefs(ser, a, env, K) for a in s.inits]
        active = [p.type.is_float and _nonconstant(c) for p, c in zip(s.params, inits)]
        is_for = isinstance(s, ir.For)
        while True:
            params = [ir.Var(p.name, p.type) for p in s.params]
            cparams = {i: [ir.Var(f"{p.name}_{k}", p.type) for k in range(1, K + 1)]
                       for i, p in enumerate(s.params) if active[i]}
            block_params = params + [v for vs in cparams.values() for v in vs]
            benv, bser = dict(env), dict(ser)
            for i, p in enumerate(s.params):
                benv[p] = params[i]
                if i in cparams:
                    bser[p] = [params[i]] + cparams[i]
                else:
                    bser.pop(p, None)
            cond_block = None
            if is_for:
                index = ir.Var(s.index.name, s.index.type)
                benv[s.index] = index
            else:
                em.begin(block_params)
                cenv = dict(benv)
                self.block(s.cond.stmts, cenv, dict(bser))
                cond_block = em.end([Rebuilder.atom(cenv, s.cond.results[0])])
            em.begin(block_params)
            self.block(s.body.stmts, benv, bser)
            res = [_coefs(bser, r, benv, K) for r in s.body.results]
            grown = False
            for i, p in enumerate(s.params):
                if p.type.is_float and not active[i] and _nonconstant(res[i]):
                    active[i] = grown = True
            if grown:
                em.discard()
                continue
            extra = [em.fit(res[i][k], s.params[i].type) for i in cparams for k in range(1, K + 1)]
            body = em.end([c[0] for c in res] + extra)
            break
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        couts = {i: [ir.Var(f"{s.outs[i].name}_{k}", s.outs[i].type) for k in range(1, K + 1)]
                 for i in cparams}
        all_inits = [c[0] for c in inits] + [em.fit(inits[i][k], s.params[i].type)
                                             for i in cparams for k in range(1, K + 1)]
        all_outs = outs + [v for i in cparams for v in couts[i]]
        if is_for:
            start, stop = Rebuilder.atom(env, s.start), Rebuilder.atom(env, s.stop)
            em.append(ir.For(index, start, stop, all_inits, body, all_outs, s.loc))
        else:
            em.append(ir.While(all_inits, cond_block, body, all_outs, s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i in cparams:
            ser[s.outs[i]] = [outs[i]] + couts[i]


def emit_taylor(fn: ir.Function, coefs, order: int) -> list[list[ir.Atom]]:
    """Emit ``fn`` on Taylor series inputs into the current emitter.

    Args:
        fn: the function.
        coefs: per parameter, its coefficients ``[x_0, ..., x_K]`` (zeros allowed).
        order: K.

    Returns:
        Per result, its coefficients ``[y_0, ..., y_K]``.
    """
    from tidal.dsl import emitter

    em = emitter.current()
    env = {p: c[0] for p, c in zip(fn.params, coefs)}
    ser = {p: list(c) for p, c in zip(fn.params, coefs) if _nonconstant(c)}
    TaylorEmitter(em, order).block(fn.body.stmts, env, ser)
    out = []
    for r in fn.body.results:
        cs = _coefs(ser, r, env, order)
        out.append([em.fit(c, r.type) for c in cs])
    return out
