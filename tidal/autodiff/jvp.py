"""Forward mode: the JVP transformation.

:class:`JvpEmitter` re-emits a block, emitting after every primal statement the tangent statements
that its rule in :data:`tidal.autodiff.rules.JVP` produces; control flow is handled by
:class:`tidal.autodiff.forward.ForwardEmitter` (payload: one tangent per value).

Guarantees: the primal values computed are those of the source; every float var has a tangent,
represented by a structural zero where it provably does not depend on the inputs' tangents (such
tangents are never emitted or carried). No knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.autodiff import memory, rules
from tidal.autodiff.forward import ForwardEmitter
from tidal.dsl import emitter, ir


class JvpEmitter(ForwardEmitter):
    """Emits primal and tangent code for IR blocks."""

    def __init__(self, em):
        super().__init__(em, 1)

    def payload_names(self, name: str) -> list[str]:
        return ["d" + name]

    def assign(self, s: ir.Assign, env: dict, der: dict) -> None:
        em = self.em
        args = [self.primal(env, a) for a in s.args]
        em.name = s.outs[0].name if s.outs else "t"
        res = em.apply(s.prim, args, s.attrs)
        outs = res if isinstance(res, tuple) else (res,)
        for o, r in zip(s.outs, outs):
            env[o] = r
        targs = tuple(self.payload(der, a)[0] for a in s.args)
        diff = s.prim.diff_args(len(args))
        if (not diff or all(ir.is_zero(targs[i]) for i in diff)) and not memory.applies(s.prim):
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
                der[o] = (em.fit(t, o.type),)


def emit_jvp(fn: ir.Function, primals, tangents) -> tuple[list, list]:
    """Emit ``fn``'s body with tangents into the current emitter.

    Args:
        fn: the function.
        primals: atoms for its parameters.
        tangents: atoms (or zeros) for the parameters' tangents.

    Returns:
        (results, result tangents) as atoms.
    """
    em = emitter.current()
    env = dict(zip(fn.params, primals))
    der = {p: (t,) for p, t in zip(fn.params, tangents) if not ir.is_zero(t)}
    j = JvpEmitter(em)
    j.block(fn.body.stmts, env, der)
    results = [j.primal(env, r) for r in fn.body.results]
    touts = [em.fit(j.payload(der, r)[0], r.type) if r.type.is_float else ir.Zero(r.type)
             for r in fn.body.results]
    return results, touts
