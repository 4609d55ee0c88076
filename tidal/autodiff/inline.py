"""Calls inlined in IR, before reverse mode tapes a loop.

Reverse mode records a short loop's values on a tape so that its adjoint reads them back
instead of recomputing them (:mod:`tidal.autodiff.vjp`). A value computed inside a called
function is invisible to that bookkeeping while the call is a single statement, so the adjoint
recomputed it (a ``tanh`` inside a network's activation, say). :func:`with_calls_inlined` gives
a loop whose body, and the bodies nested in it, have every call of a function without a declared
rule replaced by the callee's statements.

Guarantees: the returned loop computes the same values and has the same effects as the input.
It keeps the input's own vars (its index, state, results and every var defined outside a
callee), so code around the loop is unaffected; each inlined callee body gets fresh vars, so the
IR stays in single-assignment form however often a function is inlined. A loop without such
calls is returned unchanged (the same object).
"""

from __future__ import annotations

from tidal.dsl import calls, ir


def inlinable(s: ir.Stmt) -> bool:
    """Whether ``s`` calls a tidal function whose derivatives come from its body (no declared
    rule), so that transformations may work through the body."""
    return isinstance(s, ir.Assign) and isinstance(s.prim, calls.CallPrimitive) and \
        s.prim.transformable


def with_calls_inlined(loop: ir.For, default_fp) -> ir.For:
    """``loop`` with the calls in its body (at any depth) inlined, or ``loop`` itself when it
    has none.

    Example:
        >>> from tidal.dsl import ir
        >>> from tidal.dsl.types import I32, TType
        >>> i = ir.Var("i", TType(I32))
        >>> loop = ir.For(i, ir.Const(0, TType(I32)), ir.Const(3, TType(I32)), (), ir.Block(), ())
        >>> with_calls_inlined(loop, None) is loop
        True
    """
    if not any(inlinable(st) for st in ir.walk(loop.body)):
        return loop
    body = _Inliner(default_fp, fresh=False).block(loop.body, {})
    return ir.For(loop.index, loop.start, loop.stop, loop.inits, body, loop.outs, loop.loc)


class _Inliner:
    """Copies IR, inlining calls. With ``fresh``, every var defined in the copy is new (for a
    callee's body); otherwise defined vars are kept and only uses are renamed."""

    def __init__(self, default_fp, fresh: bool):
        self.default_fp = default_fp
        self.fresh = fresh

    def new(self, v: ir.Var, env: dict) -> ir.Var:
        if not self.fresh:
            return v
        n = env[v] = ir.Var(v.name, v.type)
        return n

    def block(self, b: ir.Block, env: dict) -> ir.Block:
        params = tuple(self.new(p, env) for p in b.params)
        stmts: list = []
        for s in b.stmts:
            self.stmt(s, env, stmts)
        return ir.Block(stmts, tuple(_use(env, r) for r in b.results), params)

    def stmt(self, s: ir.Stmt, env: dict, out: list) -> None:
        if inlinable(s):
            callee = s.prim.fn.transform_ir(self.default_fp)
            cenv = {p: _use(env, a) for p, a in zip(callee.params, s.args)}
            inner = _Inliner(self.default_fp, fresh=True)
            for st in callee.body.stmts:
                inner.stmt(st, cenv, out)
            for o, r in zip(s.outs, callee.body.results):
                env[o] = _use(cenv, r)
            return
        if isinstance(s, ir.Assign):
            args = [_use(env, a) for a in s.args]
            outs = [self.new(o, env) for o in s.outs]
            out.append(ir.Assign(outs, s.prim, args, s.attrs, s.loc))
        elif isinstance(s, ir.If):
            cond = _use(env, s.cond)
            then, orelse = self.block(s.then, dict(env)), self.block(s.orelse, dict(env))
            out.append(ir.If(cond, then, orelse, [self.new(o, env) for o in s.outs], s.loc))
        elif isinstance(s, ir.For):
            start, stop = _use(env, s.start), _use(env, s.stop)
            inits = [_use(env, a) for a in s.inits]
            benv = dict(env)
            index = self.new(s.index, benv)
            body = self.block(s.body, benv)
            out.append(ir.For(index, start, stop, inits, body, [self.new(o, env) for o in s.outs],
                              s.loc))
        elif isinstance(s, ir.While):
            inits = [_use(env, a) for a in s.inits]
            benv = dict(env)
            params = tuple(self.new(p, benv) for p in s.body.params)
            cenv = dict(benv)
            cond = ir.Block(self.block(ir.Block(s.cond.stmts, s.cond.results), cenv).stmts,
                            tuple(_use(cenv, r) for r in s.cond.results), params)
            body = self.block(ir.Block(s.body.stmts, s.body.results), benv)
            body = ir.Block(body.stmts, body.results, params)
            out.append(ir.While(inits, cond, body, [self.new(o, env) for o in s.outs], s.loc))
        else:  # pragma: no cover - parallel loops are not nested in loops
            raise TypeError(s)


def _use(env: dict, a):
    return env.get(a, a) if isinstance(a, ir.Var) else a
