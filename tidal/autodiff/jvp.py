"""Forward mode: the JVP transformation.

:class:`JvpEmitter` re-emits a block, emitting after every primal statement the tangent statements
that its rule in :data:`tidal.autodiff.rules.JVP` produces. Control flow is kept: branches carry
tangents as extra outputs, loops carry tangents as extra state.

Guarantees: the primal values computed are those of the source; every float var has a tangent,
represented by a structural zero where it provably does not depend on the inputs' tangents (such
tangents are never emitted, and loops carry only tangents that can become nonzero, found by a
fixed-point iteration over the loop body). The transformation has no knowledge of any specific
primitive.
"""

from __future__ import annotations

from tidal.autodiff import rules
from tidal.dsl import ir
from tidal.dsl.emitter import Emitter


def tangent_of(tan: dict, a: ir.Atom) -> ir.Atom:
    if isinstance(a, ir.Var) and a in tan:
        return tan[a]
    return ir.Zero(a.type)


class JvpEmitter:
    """Emits primal and tangent code for IR blocks into ``em``."""

    def __init__(self, em: Emitter):
        self.em = em

    @staticmethod
    def primal(env: dict, a: ir.Atom) -> ir.Atom:
        return env[a] if isinstance(a, ir.Var) else a

    def block(self, stmts, env: dict, tan: dict) -> None:
        for s in stmts:
            saved = self.em.loc
            if s.loc is not None:
                self.em.loc = s.loc
            try:
                if isinstance(s, ir.Assign):
                    self.assign(s, env, tan)
                elif isinstance(s, ir.If):
                    self.if_(s, env, tan)
                else:
                    self.loop(s, env, tan)
            finally:
                self.em.loc = saved

    def assign(self, s: ir.Assign, env: dict, tan: dict) -> None:
        em = self.em
        args = [self.primal(env, a) for a in s.args]
        em.name = s.outs[0].name if s.outs else "t"
        res = em.apply(s.prim, args, s.attrs)
        outs = res if isinstance(res, tuple) else (res,)
        for o, r in zip(s.outs, outs):
            env[o] = r
        targs = tuple(tangent_of(tan, a) for a in s.args)
        diff = s.prim.diff_args(len(args))
        if not diff or all(ir.is_zero(targs[i]) for i in diff):
            return
        em.name = "d" + em.name
        touts = rules.JVP.lookup(s.prim)(tuple(args), outs, targs, s.attrs)
        em.name = "t"
        if isinstance(touts, rules.Fused):
            for o, r in zip(s.outs, touts.outs):
                env[o] = r
            touts = touts.tangents
        for o, t in zip(s.outs, touts):
            if o.type.is_float and not ir.is_zero(t):
                tan[o] = em.fit(t, o.type)

    def if_(self, s: ir.If, env: dict, tan: dict) -> None:
        em = self.em
        cond = self.primal(env, s.cond)
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            taken = s.then if cond.value else s.orelse
            self.block(taken.stmts, env, tan)
            for o, r in zip(s.outs, taken.results):
                env[o] = self.primal(env, r)
                t = tangent_of(tan, r)
                if not ir.is_zero(t):
                    tan[o] = t
            return
        branches = []
        for blk in (s.then, s.orelse):
            em.begin()
            benv, btan = dict(env), dict(tan)
            self.block(blk.stmts, benv, btan)
            res = [self.primal(benv, r) for r in blk.results]
            tres = [tangent_of(btan, r) for r in blk.results]
            branches.append((em.end(), res, tres))
        need = [i for i, o in enumerate(s.outs) if o.type.is_float
                and not (ir.is_zero(branches[0][2][i]) and ir.is_zero(branches[1][2][i]))]
        for blk, res, tres in branches:
            with em.reopen(blk):
                blk.results = tuple(res) + tuple(em.fit(tres[i], s.outs[i].type) for i in need)
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        touts = [ir.Var("d" + s.outs[i].name, s.outs[i].type) for i in need]
        em.append(ir.If(cond, branches[0][0], branches[1][0], outs + touts, s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i, t in zip(need, touts):
            tan[s.outs[i]] = t

    def loop(self, s, env: dict, tan: dict) -> None:
        em = self.em
        inits = [self.primal(env, a) for a in s.inits]
        tinits = [tangent_of(tan, a) for a in s.inits]
        active = [p.type.is_float and not ir.is_zero(t) for p, t in zip(s.params, tinits)]
        is_for = isinstance(s, ir.For)
        while True:
            params = [ir.Var(p.name, p.type) for p in s.params]
            tparams = {i: ir.Var("d" + p.name, p.type)
                       for i, p in enumerate(s.params) if active[i]}
            block_params = params + list(tparams.values())
            benv, btan = dict(env), dict(tan)
            for i, p in enumerate(s.params):
                benv[p] = params[i]
                if i in tparams:
                    btan[p] = tparams[i]
                else:
                    btan.pop(p, None)
            cond_block = None
            if is_for:
                index = ir.Var(s.index.name, s.index.type)
                benv[s.index] = index
            else:
                em.begin(block_params)
                cenv = dict(benv)
                self.block(s.cond.stmts, cenv, dict(btan))
                cond_block = em.end([self.primal(cenv, s.cond.results[0])])
            em.begin(block_params)
            self.block(s.body.stmts, benv, btan)
            res = [self.primal(benv, r) for r in s.body.results]
            tres = [tangent_of(btan, r) for r in s.body.results]
            grown = False
            for i, p in enumerate(s.params):
                if p.type.is_float and not active[i] and not ir.is_zero(tres[i]):
                    active[i] = True
                    grown = True
            if grown:
                em.discard()
                continue
            body = em.end(res + [em.fit(tres[i], s.params[i].type) for i in tparams])
            break
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        touts = {i: ir.Var("d" + s.outs[i].name, s.outs[i].type) for i in tparams}
        all_inits = inits + [em.fit(tinits[i], s.params[i].type) for i in tparams]
        all_outs = outs + list(touts.values())
        if is_for:
            start, stop = self.primal(env, s.start), self.primal(env, s.stop)
            em.append(ir.For(index, start, stop, all_inits, body, all_outs, s.loc))
        else:
            em.append(ir.While(all_inits, cond_block, body, all_outs, s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i, t in touts.items():
            tan[s.outs[i]] = t


def emit_jvp(fn: ir.Function, primals, tangents) -> tuple[list, list]:
    """Emit ``fn``'s body with tangents into the current emitter.

    Args:
        fn: the function.
        primals: atoms for its parameters.
        tangents: atoms (or zeros) for the parameters' tangents.

    Returns:
        (results, result tangents) as atoms.
    """
    from tidal.dsl import emitter

    em = emitter.current()
    env = dict(zip(fn.params, primals))
    tan = {p: t for p, t in zip(fn.params, tangents) if not ir.is_zero(t)}
    JvpEmitter(em).block(fn.body.stmts, env, tan)
    results = [JvpEmitter.primal(env, r) for r in fn.body.results]
    touts = [em.fit(tangent_of(tan, r), r.type) if r.type.is_float else ir.Zero(r.type)
             for r in fn.body.results]
    return results, touts
