"""Calls from one tidal function to another.

A call is a primitive like any other: :class:`CallPrimitive` has one instance per callee, so calls
take part in CSE by identity. Its derivative rules are a row of the rule tables
(:mod:`tidal.autodiff.call_rules`) made by transforming the callee, which is why derivatives of
nested calls are themselves calls of generated tidal functions.
"""

from __future__ import annotations

from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.errors import SourceLoc, TidalTypeError
from tidal.dsl.types import DType, TType

_IN_PROGRESS: list = []


class CallPrimitive(P.Primitive):
    """``outs = callee(*args)``. ``attrs`` is ``(GlobalRef(callee),)``."""

    def __init__(self, fn, param_types: tuple[TType, ...], result_types: tuple[TType, ...],
                 writes_memory: bool = False, reads_memory: bool = False):
        self.fn = fn
        self.param_types = param_types
        self.result_types = result_types
        super().__init__(
            name=f"call_{fn.name}",
            infer=self._infer,
            impl=None,
            codegen=self._codegen,
            float_args=tuple(i for i, t in enumerate(param_types) if t.is_float),
            # derivatives of calls inside kernels write derivative storage: keep such calls
            writes_memory=writes_memory,
            reads_memory=reads_memory,
            costly=True,
        )

    def _infer(self, types, attrs, default_fp):
        if tuple(types) != self.param_types:
            raise TidalTypeError(
                f"{self.fn.name} expects arguments of types {list(self.param_types)}, got "
                f"{list(types)}")
        return self.result_types

    @staticmethod
    def _codegen(args, attrs, types):
        return f"{attrs[0].name}({', '.join(a for a, _ in args)})", P.PREC_CALL

    @property
    def transformable(self) -> bool:
        """Whether the callee's derivatives come from transforming its body (no declared rule),
        so a transformation may work through the callee's body instead of applying a rule."""
        return not self.fn.custom_rules

    __hash__ = P.Primitive.__hash__


def call_prim(fn, default_fp: DType) -> CallPrimitive:
    """The call primitive of ``fn`` for the given float type (cached on ``fn``)."""
    cache = fn._call_prims
    prim = cache.get(default_fp)
    if prim is None:
        f = fn.ir(default_fp)
        assigns = [st for st in ir.walk(f.body) if isinstance(st, ir.Assign)]
        writes = any(st.prim.writes_memory for st in assigns)
        reads = any(st.prim.reads_memory for st in assigns)
        prim = CallPrimitive(fn, f.param_types, f.result_types, writes, reads)
        cache[default_fp] = prim
    return prim


def emit_call(fn, args: list[ir.Atom], default_fp: DType, loc: SourceLoc | None):
    """Emit a call of tidal function ``fn`` on ``args``, converting argument types.

    Returns one atom, a tuple of atoms (several results) or None (no results).
    """
    from tidal.dsl import emitter

    if fn in _IN_PROGRESS:
        raise TidalTypeError(f"{fn.name} calls itself (recursion is not supported)", loc)
    _IN_PROGRESS.append(fn)
    try:
        prim = call_prim(fn, default_fp)
    finally:
        _IN_PROGRESS.pop()
    if len(args) != len(prim.param_types):
        raise TidalTypeError(
            f"{fn.name} takes {len(prim.param_types)} arguments, got {len(args)}", loc)
    em = emitter.current()
    conv = []
    for i, (a, t) in enumerate(zip(args, prim.param_types)):
        if a.type.shape != t.shape and not a.type.is_scalar:
            raise TidalTypeError(f"argument {i + 1} of {fn.name} must be {t}, got {a.type}", loc)
        if a.type.is_float and not t.is_float:
            raise TidalTypeError(
                f"argument {i + 1} of {fn.name} is an integer parameter but got {a.type}", loc,
                hint="convert explicitly with int(...)")
        conv.append(em.fit(a, t))
    outs = em.apply(prim, conv, (P.GlobalRef(fn, fn.name),))
    if len(prim.result_types) == 0:
        return None
    return outs
