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


class _Inliner(ir.Copier):
    """Copies IR, inlining calls (each callee body copied with fresh vars)."""

    def __init__(self, default_fp, fresh: bool):
        super().__init__(fresh)
        self.default_fp = default_fp

    def replace(self, s: ir.Stmt, env: dict, out: list) -> bool:
        if not inlinable(s):
            return False
        callee = s.prim.fn.transform_ir(self.default_fp)
        cenv = {p: self.use(env, a) for p, a in zip(callee.params, s.args)}
        inner = _Inliner(self.default_fp, fresh=True)
        for st in callee.body.stmts:
            inner.stmt(st, cenv, out)
        for o, r in zip(s.outs, callee.body.results):
            env[o] = self.use(cenv, r)
        return True
