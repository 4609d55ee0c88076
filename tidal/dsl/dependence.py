"""Which values of a loop body differ between the loop's iterations."""

from __future__ import annotations

from tidal.dsl import ir


def dependent_vars(indices, body: ir.Block) -> set:
    """Vars of a loop body whose value may differ between iterations of the loop over
    ``indices``: a fixpoint over data and control dependence on the indices.

    Example:
        >>> from tidal.dsl import ir
        >>> from tidal.dsl import primitives as P
        >>> from tidal.dsl.types import I32, TType
        >>> i, j, k = (ir.Var(n, TType(I32)) for n in "ijk")
        >>> one = ir.Const(1, TType(I32))
        >>> body = ir.Block([ir.Assign([j], P.add, (i, one)), ir.Assign([k], P.add, (one, one))])
        >>> sorted(v.name for v in dependent_vars((i,), body))
        ['i', 'j']
    """
    dep = set(indices)

    def any_dep(atoms) -> bool:
        return any(isinstance(a, ir.Var) and a in dep for a in atoms)

    def mark(vs) -> bool:
        new = [v for v in vs if v not in dep]
        dep.update(new)
        return bool(new)

    def carried(params, inits, results, outs) -> bool:
        """Loop state differs between iterations where its start or its update does."""
        grew = False
        for p, i, r, o in zip(params, inits, results, outs):
            if any_dep((p, i, r)):
                grew |= mark((p, o))
        return grew

    def block(b: ir.Block) -> bool:
        grew = False
        for s in b.stmts:
            for inner in s.blocks():
                grew |= block(inner)
            if isinstance(s, ir.Assign):
                if any_dep(s.args):
                    grew |= mark(s.outs)
            elif isinstance(s, ir.If):
                if any_dep((s.cond,)):
                    grew |= mark(s.outs)
                for o, a, b in zip(s.outs, s.then.results, s.orelse.results):
                    if any_dep((a, b)):
                        grew |= mark((o,))
            elif isinstance(s, ir.For):
                if any_dep((s.start, s.stop)):
                    grew |= mark((s.index, *s.params, *s.outs))
                grew |= carried(s.params, s.inits, s.body.results, s.outs)
            elif isinstance(s, ir.While):
                if any_dep(s.cond.results):
                    grew |= mark((*s.params, *s.outs))
                grew |= carried(s.params, s.inits, s.body.results, s.outs)
        return grew

    while block(body):
        pass
    return dep
