"""The IR verifier: checks the invariants of :mod:`tidal.dsl.ir` between pipeline stages.

:func:`check` raises :class:`IRError` (naming the stage and the offending statement) unless:

* **SSA**: every var is defined once (a function parameter, an assignment's output, a region's
  output, a block parameter or a loop index);
* **scoping**: every var is used only where it is visible: defined earlier in the same block
  or in an enclosing block (a region's outputs after the region, a block's parameters inside
  it), never inside a sibling branch or a region that has ended;
* **types**: every assignment's outputs have the types its primitive infers from its
  arguments (primitives made by late passes without type rules are skipped);
* **regions**: an ``If`` yields as many values of the types of its outputs from both branches
  and its condition is an integer scalar; a ``For`` or ``While`` has inits, block parameters,
  body results and outputs of one length and matching types; a ``While`` condition block yields
  one integer scalar over the same parameters; parallel loops define nothing.

Checks run between stages when :data:`ENABLED` (set by the test suite, or by the environment
variable ``TIDAL_VERIFY=1``); they cost a walk of the IR.
"""

from __future__ import annotations

import os

from tidal.dsl import ir
from tidal.dsl.errors import TidalError
from tidal.dsl.types import F64

ENABLED = os.environ.get("TIDAL_VERIFY", "") not in ("", "0")


class IRError(TidalError):
    """An IR invariant is broken (a bug in tidal, reported with the pass that broke it)."""


def maybe_check(fn: ir.Function, stage: str, default_fp=F64) -> ir.Function:
    """:func:`check` ``fn`` when verification is enabled; returns ``fn``."""
    if ENABLED:
        check(fn, stage, default_fp)
    return fn


def check(fn: ir.Function, stage: str = "", default_fp=F64) -> None:
    """Raise :class:`IRError` unless ``fn`` satisfies the IR invariants (module docstring).

    Example:
        >>> from tidal.dsl import ir, primitives as P
        >>> from tidal.dsl.types import F64, TType
        >>> x, y = ir.Var("x", TType(F64)), ir.Var("y", TType(F64))
        >>> body = ir.Block([ir.Assign([y], P.sin, [x])], [y])
        >>> check(ir.Function("f", [x], body))
        >>> check(ir.Function("g", [], body))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tidal.dsl.verify.IRError: IR invariant broken after g: %x... is used where it is not ...
    """
    _Verifier(fn, stage or fn.name, default_fp).run()


class _Verifier:
    def __init__(self, fn: ir.Function, stage: str, default_fp):
        self.fn = fn
        self.stage = stage
        self.default_fp = default_fp
        self.defined: set = set()

    def fail(self, what: str, stmt=None):
        where = f" in `{_describe(stmt)}`" if stmt is not None else ""
        raise IRError(f"IR invariant broken after {self.stage}: {what}{where}",
                      getattr(stmt, "loc", None))

    def define(self, v, stmt=None) -> None:
        if not isinstance(v, ir.Var):
            self.fail(f"{v!r} is defined but is not a var", stmt)
        if v in self.defined:
            self.fail(f"{v!r} is defined twice", stmt)
        self.defined.add(v)

    def use(self, a, visible: set, stmt) -> None:
        if isinstance(a, ir.Var) and a not in visible:
            self.fail(f"{a!r} is used where it is not defined", stmt)

    def run(self) -> None:
        visible = set()
        for p in self.fn.params:
            self.define(p)
            visible.add(p)
        self.block(self.fn.body, visible)

    def block(self, b: ir.Block, visible: set) -> None:
        visible = set(visible)
        for p in b.params:
            self.define(p)
            visible.add(p)
        for s in b.stmts:
            self.stmt(s, visible)
            visible.update(s.defs())
        for r in b.results:
            self.use(r, visible, None)

    def stmt(self, s: ir.Stmt, visible: set) -> None:
        for a in s.uses():
            self.use(a, visible, s)
        ir.visit(self, s, visible)
        for o in s.defs():
            self.define(o, s)

    def parallel_for(self, s: ir.ParallelFor, visible: set) -> None:
        inner = set(visible)
        for i in s.indices:
            self.define(i, s)
            inner.add(i)
        if s.body.results:
            self.fail("a parallel loop yields values", s)
        self.block(s.body, inner)

    def assign(self, s: ir.Assign, visible: set) -> None:
        infer = s.prim.infer
        if infer is None:
            return
        try:
            want = tuple(infer(tuple(a.type for a in s.args), s.attrs, self.default_fp))
        except TidalError as e:
            self.fail(f"its arguments do not type-check ({e.message})", s)
        got = tuple(o.type for o in s.outs)
        if got != want:
            self.fail(f"outputs typed {list(got)}, the primitive gives {list(want)}", s)

    def if_(self, s: ir.If, visible: set) -> None:
        if s.cond.type.is_float or not s.cond.type.is_scalar:
            self.fail("the condition is not an integer scalar", s)
        for b in (s.then, s.orelse):
            if b.params:
                self.fail("a branch has parameters", s)
            self.block(b, visible)
            self._results_match(b.results, s.outs, s, "branch")

    def for_(self, s: ir.For, visible: set) -> None:
        for a in (s.start, s.stop):
            if a.type.is_float or not a.type.is_scalar:
                self.fail("a loop bound is not an integer scalar", s)
        self._state_matches(s)
        inner = set(visible)
        self.define(s.index, s)
        inner.add(s.index)
        self.block(s.body, inner)

    def while_(self, s: ir.While, visible: set) -> None:
        self._state_matches(s)
        if tuple(s.cond.params) != tuple(s.body.params):
            self.fail("the condition and the body have different parameters", s)
        if len(s.cond.results) != 1 or s.cond.results[0].type.is_float \
                or not s.cond.results[0].type.is_scalar:
            self.fail("the condition does not yield one integer scalar", s)
        inner = set(visible) | set(s.body.params)
        for p in s.body.params:
            self.define(p, s)
        cond = ir.Block(s.cond.stmts, s.cond.results, ())
        body = ir.Block(s.body.stmts, s.body.results, ())
        self.block(cond, inner)
        self.block(body, inner)

    def _state_matches(self, s) -> None:
        params = s.body.params
        n = len(params)
        if not len(s.inits) == len(s.body.results) == len(s.outs) == n:
            self.fail(f"{len(s.inits)} inits, {n} parameters, {len(s.body.results)} results "
                      f"and {len(s.outs)} outputs", s)
        for a, p, r, o in zip(s.inits, params, s.body.results, s.outs):
            if not a.type == p.type == r.type == o.type:
                self.fail(f"loop state typed {a.type} (init), {p.type} (parameter), {r.type} "
                          f"(result), {o.type} (output)", s)

    def _results_match(self, results, outs, s, what) -> None:
        if len(results) != len(outs):
            self.fail(f"a {what} yields {len(results)} values for {len(outs)} outputs", s)
        for r, o in zip(results, outs):
            if r.type != o.type:
                self.fail(f"a {what} yields {r.type} for an output typed {o.type}", s)


def _describe(s) -> str:
    if isinstance(s, ir.Assign):
        return f"{list(s.outs)} = {s.prim.name}{list(s.args)}"
    return type(s).__name__
