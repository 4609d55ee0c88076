"""The region logic shared by the forward-propagating transformations (JVP and Taylor mode).

A :class:`ForwardEmitter` re-emits a block while carrying, next to every float value, a
*derivative payload*: a tuple of ``width`` atoms (one tangent for JVP, K Taylor coefficients for
Taylor mode). Subclasses say how a statement's payload is computed (``assign``) and how payload
variables are named; this class handles control flow, which follows the primal values:

* ``If``: both branches are re-emitted; an output carries a payload when either branch gives it a
  nonzero one.
* ``For`` / ``While``: loop state carries payloads for the state that can become nonzero, found
  by a fixed-point iteration over the body (a payload is carried once some iteration makes it
  nonzero).

Guarantees: primal values are those of the source; structurally zero payloads are neither
emitted nor carried; no knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.dsl import ir
from tidal.dsl.emitter import Emitter
from tidal.dsl.optimize import Rebuilder


class ForwardEmitter:
    """Re-emits blocks with derivative payloads; ``der`` maps source vars to payloads."""

    def __init__(self, em: Emitter, width: int):
        self.em = em
        self.width = width

    # -- to be provided by subclasses ------------------------------------------------------
    def assign(self, s: ir.Assign, env: dict, der: dict) -> None:
        raise NotImplementedError

    def payload_names(self, name: str) -> list[str]:
        raise NotImplementedError

    # -- payloads --------------------------------------------------------------------------
    @staticmethod
    def primal(env: dict, a: ir.Atom) -> ir.Atom:
        return Rebuilder.atom(env, a)

    def payload(self, der: dict, a: ir.Atom) -> tuple:
        if isinstance(a, ir.Var) and a in der:
            return der[a]
        return (ir.Zero(a.type),) * self.width

    @staticmethod
    def nonzero(payload) -> bool:
        return any(not ir.is_zero(c) for c in payload)

    def _vars(self, v: ir.Var) -> list[ir.Var]:
        return [ir.Var(n, v.type) for n in self.payload_names(v.name)]

    def _fit(self, payload, t) -> list:
        return [self.em.fit(c, t) for c in payload]

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts, env: dict, der: dict) -> None:
        for s in stmts:
            with self.em.located(s.loc):
                ir.visit(self, s, env, der)

    def if_(self, s: ir.If, env: dict, der: dict) -> None:
        em = self.em
        cond = self.primal(env, s.cond)
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            taken = s.then if cond.value else s.orelse
            self.block(taken.stmts, env, der)
            for o, r in zip(s.outs, taken.results):
                env[o] = self.primal(env, r)
                p = self.payload(der, r)
                if self.nonzero(p):
                    der[o] = p
            return
        branches = []
        for blk in (s.then, s.orelse):
            em.begin()
            benv, bder = dict(env), dict(der)
            self.block(blk.stmts, benv, bder)
            res = [self.primal(benv, r) for r in blk.results]
            pres = [self.payload(bder, r) for r in blk.results]
            branches.append((em.end(), res, pres))
        need = [i for i, o in enumerate(s.outs) if o.type.is_float
                and (self.nonzero(branches[0][2][i]) or self.nonzero(branches[1][2][i]))]
        for blk, res, pres in branches:
            with em.reopen(blk):
                extra = [c for i in need for c in self._fit(pres[i], s.outs[i].type)]
                blk.results = tuple(res) + tuple(extra)
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        pouts = {i: self._vars(s.outs[i]) for i in need}
        em.append(ir.If(cond, branches[0][0], branches[1][0],
                        outs + [v for i in need for v in pouts[i]], s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i, vs in pouts.items():
            der[s.outs[i]] = tuple(vs)

    def parallel_for(self, s: ir.ParallelFor, env: dict, der: dict) -> None:
        em = self.em
        indices = [ir.Var(i.name, i.type) for i in s.indices]
        em.begin()
        benv, bder = dict(env), dict(der)
        benv.update(zip(s.indices, indices))
        self.block(s.body.stmts, benv, bder)
        body = em.end(())
        em.append(ir.ParallelFor(indices, [self.primal(env, a) for a in s.starts],
                                 [self.primal(env, a) for a in s.stops], body, s.loc))

    def loop(self, s, env: dict, der: dict) -> None:
        em = self.em
        inits = [self.primal(env, a) for a in s.inits]
        pinits = [self.payload(der, a) for a in s.inits]
        active = [p.type.is_float and self.nonzero(q) for p, q in zip(s.params, pinits)]
        is_for = isinstance(s, ir.For)
        while True:
            params = [ir.Var(p.name, p.type) for p in s.params]
            pparams = {i: self._vars(p) for i, p in enumerate(s.params) if active[i]}
            block_params = params + [v for vs in pparams.values() for v in vs]
            benv, bder = dict(env), dict(der)
            for i, p in enumerate(s.params):
                benv[p] = params[i]
                if i in pparams:
                    bder[p] = tuple(pparams[i])
                else:
                    bder.pop(p, None)
            cond_block = None
            if is_for:
                index = ir.Var(s.index.name, s.index.type)
                benv[s.index] = index
            else:
                em.begin(block_params)
                cenv = dict(benv)
                self.block(s.cond.stmts, cenv, dict(bder))
                cond_block = em.end([self.primal(cenv, s.cond.results[0])])
            em.begin(block_params)
            self.block(s.body.stmts, benv, bder)
            res = [self.primal(benv, r) for r in s.body.results]
            pres = [self.payload(bder, r) for r in s.body.results]
            grown = False
            for i, p in enumerate(s.params):
                if p.type.is_float and not active[i] and self.nonzero(pres[i]):
                    active[i] = grown = True
            if grown:
                em.discard()
                continue
            extra = [c for i in pparams for c in self._fit(pres[i], s.params[i].type)]
            body = em.end(res + extra)
            break
        outs = [ir.Var(o.name, o.type) for o in s.outs]
        pouts = {i: self._vars(s.outs[i]) for i in pparams}
        all_inits = inits + [c for i in pparams for c in self._fit(pinits[i], s.params[i].type)]
        all_outs = outs + [v for vs in pouts.values() for v in vs]
        if is_for:
            start, stop = self.primal(env, s.start), self.primal(env, s.stop)
            em.append(ir.For(index, start, stop, all_inits, body, all_outs, s.loc))
        else:
            em.append(ir.While(all_inits, cond_block, body, all_outs, s.loc))
        for o, new in zip(s.outs, outs):
            env[o] = new
        for i, vs in pouts.items():
            der[s.outs[i]] = tuple(vs)
