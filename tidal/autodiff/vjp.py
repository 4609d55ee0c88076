"""Reverse mode: the VJP transformation.

:func:`emit_vjp` emits a function's primal body (counting the iterations of every ``while``
loop), then walks it backwards, emitting the adjoint statements that the rules in
:data:`tidal.autodiff.rules.VJP` produce.

How regions are reversed:

* ``If``: the same condition selects a branch that recomputes the branch's forward statements and
  then runs their adjoints; the branch yields its cotangent contributions to variables defined
  outside it.
* ``For`` / ``While``: a reverse loop visits the iterations last to first. Iteration ``k`` first
  restores the loop state at its entry by re-running the forward body ``k`` times from the initial
  state, recomputes the body, and runs its adjoint. The restore loop is removed by dead-code
  elimination whenever the adjoint does not read loop state (accumulations, linear updates), so
  common loops cost O(n); loops with nonlinear loop-carried state cost O(n^2) recomputation and
  no memory, on every backend.

* Calls of tidal functions without declared rules are inlined by the forward sweep, which keeps
  the callee's values (``env[("inlined", s)]``); the call's adjoint then walks the callee's body
  backwards over those values, so the callee's forward work is done once, not again inside a
  separate VJP function.

Guarantees: cotangents are exact for the program as written (up to floating-point rounding);
loop-carried cotangents are carried only where they can be nonzero (a fixed point over the body
decides); the transformation has no knowledge of any specific primitive.
"""

from __future__ import annotations

from tidal.autodiff import memory, rules
from tidal.autodiff.inline import inlinable as _inlinable
from tidal.autodiff.inline import with_calls_inlined
from tidal.dsl import emitter as emitter_mod
from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.emitter import Emitter
from tidal.dsl.optimize import Rebuilder
from tidal.dsl.types import I32, TType

_I32 = TType(I32)


TAPE_LIMIT = 64  # loops with a constant trip count up to this many iterations are taped
TAPE_VECTOR_LIMIT = 4096  # most elements a loop's tape of one vector state variable may hold


class CountingRebuilder(Rebuilder):
    """Re-emits primal code for the forward sweep of reverse mode.

    Every ``while`` loop also counts its iterations (``env[("count", s)]``). Every ``for`` loop
    with a constant trip count of at most :data:`TAPE_LIMIT` also records, in local vectors
    indexed by iteration, its scalar float state at each iteration's entry and the scalar float
    values its body computes (``env[("tape", s)]``), so that its adjoint reads them back instead
    of recomputing; float vector state (such as a network layer's activations carried from layer
    to layer) is recorded row by row in a local matrix when it holds at most
    :data:`TAPE_VECTOR_LIMIT` elements, and so are the scalar values of loops directly inside
    the body (see :func:`_taping`). Calls of tidal functions are inlined (see the module
    docstring). Tapes the adjoint does not read are removed by dead-code elimination.
    """

    def __init__(self, em: Emitter, skip_effects: bool = False):
        super().__init__(em, skip_effects)
        self._pretaped: set = set()  # nested loops already given tape outputs by their parent

    def assign(self, s: ir.Assign, env: dict) -> None:
        if not _inlinable(s):
            return super().assign(s, env)
        f = s.prim.fn.transform_ir(self.em.default_fp)
        callee = {p: self.atom(env, a) for p, a in zip(f.params, s.args)}
        self.block(f.body.stmts, callee)
        for o, r in zip(s.outs, f.body.results):
            env[o] = self.atom(callee, r)
        env[("inlined", s)] = (f, callee)

    def for_(self, s: ir.For, env: dict) -> None:
        if s in self._pretaped:
            return super().for_(s, env)
        start, stop = self.atom(env, s.start), self.atom(env, s.stop)
        n = (stop.value - start.value) if isinstance(start, ir.Const) and \
            isinstance(stop, ir.Const) else None
        if n is None or not 0 < n <= TAPE_LIMIT:
            return super().for_(s, env)
        # calls inlined first, so that the tape can keep values computed inside callees
        inlined = with_calls_inlined(s, self.em.default_fp)
        if inlined is not s:
            env[("inlined loop", s)] = inlined
            s = inlined
        plan = _taping(s, n, start.value, self._pretaped, nest=True)
        if plan is None:
            return super().for_(s, env)
        taping, tape, nested = plan
        super().for_(taping, env)
        env[("tape", s)] = ({v: env[o] for v, o in tape}, start)
        if nested:
            env[("nested", s)] = nested

    def while_(self, s: ir.While, env: dict) -> None:
        counter = ir.Var("n_iter", _I32)
        bumped = ir.Var("n_iter", _I32)
        body = ir.Block(list(s.body.stmts) + [ir.Assign((bumped,), P.add,
                                                        (counter, ir.Const(1, _I32)))],
                        tuple(s.body.results) + (bumped,), tuple(s.body.params) + (counter,))
        cond = ir.Block(s.cond.stmts, s.cond.results, body.params)
        out = ir.Var("n_iter", _I32)
        counted = ir.While(tuple(s.inits) + (ir.Const(0, _I32),), cond, body,
                           tuple(s.outs) + (out,), s.loc)
        super().while_(counted, env)
        env[("count", s)] = env[out]


def _trip(s: ir.Stmt):
    """``(count, start)`` of a ``for`` loop with constant bounds in the IR, else None."""
    if isinstance(s, ir.For) and isinstance(s.start, ir.Const) and isinstance(s.stop, ir.Const):
        return s.stop.value - s.start.value, s.start.value
    return None


def _taping(s: ir.For, n: int, start: int, pretaped: set, nest: bool):
    """The loop ``s`` (``n`` iterations from ``start``) rewritten to also return its tapes.

    Taped: scalar float state, float vector state of at most :data:`TAPE_VECTOR_LIMIT` elements
    in all, and the scalar float values the body defines that are worth it (:func:`_costly`;
    the reverse sweep recomputes the others from them). With ``nest``, a loop with constant
    bounds directly inside the body also writes its scalar float state and the scalar float
    values its body computes (memory reads excepted: reading memory again costs no more) into
    matrices carried by this loop, row = this loop's iteration, so that the adjoint reads an
    inner loop's values (a layer's pre-activations, say) back instead of recomputing the inner
    loop.

    Returns ``(loop, [(var, tape out)], {inner loop: ([(var, tape out)], start)})`` or None when
    there is nothing to tape.
    """
    pos, stmts = _position(s, start)
    nested, mats = {}, []  # mats: (param, result, out) of this loop's matrices for inner loops
    for st in s.body.stmts:
        trip = _trip(st) if nest else None
        rows = _values_to_keep(st) \
            if trip is not None and 0 < trip[0] <= TAPE_LIMIT and \
            n * trip[0] <= TAPE_VECTOR_LIMIT else []
        if not rows:
            stmts.append(st)
            continue
        params = [ir.Var("tape", TType(v.type.dtype, (n, trip[0]))) for v in rows]
        inner, results = _write_rows(st, trip[1], pos, rows, params)
        pretaped.add(inner)
        stmts.append(inner)
        outs = [ir.Var("tape_" + v.name, p.type) for v, p in zip(rows, params)]
        mats += list(zip(params, results, outs))
        nested[st] = (list(zip(rows, outs)), ir.Const(trip[1], _I32))
    taped = [v for v in s.params if v.type.is_float and v.type.is_scalar]
    taped += [v for v in s.params if v.type.is_float and len(v.type.shape) == 1
              and n * v.type.shape[0] <= TAPE_VECTOR_LIMIT]
    taped += [o for st in s.body.stmts for o in st.defs()
              if o.type.is_float and o.type.is_scalar and _costly(st)]
    if not taped and not nested:
        return None
    tape_params, tape_results, tape_outs = [], [], []
    for v in taped:
        t = TType(v.type.dtype, (n,) + v.type.shape)
        tp, tr, to = ir.Var("tape", t), ir.Var("tape", t), ir.Var("tape_" + v.name, t)
        if v.type.is_scalar:
            stmts.append(ir.Assign((tr,), P.setitem, (tp, v, pos)))
        else:
            stmts += _record_row(v, tp, tr, pos)
        tape_params.append(tp)
        tape_results.append(tr)
        tape_outs.append(to)
    tape_params += [m[0] for m in mats]
    tape_results += [m[1] for m in mats]
    body = ir.Block(stmts, tuple(s.body.results) + tuple(tape_results),
                    tuple(s.body.params) + tuple(tape_params))
    zeros = tuple(ir.Zero(p.type) for p in tape_params)
    taping = ir.For(s.index, s.start, s.stop, tuple(s.inits) + zeros, body,
                    tuple(s.outs) + tuple(tape_outs) + tuple(m[2] for m in mats), s.loc)
    return taping, list(zip(taped, tape_outs)) + [(m[2], m[2]) for m in mats], nested


def _position(s: ir.For, start: int):
    """``(iteration number from 0, statements computing it)`` in the body of loop ``s``."""
    if start == 0:
        return s.index, []
    pos = ir.Var("k", _I32)
    return pos, [ir.Assign((pos,), P.sub, (s.index, ir.Const(start, _I32)))]


def _costly(st: ir.Stmt) -> bool:
    """Whether the values ``st`` defines are worth a tape: those of costly operations (math
    functions, divisions, calls) and of regions; cheap arithmetic is recomputed from them by the
    reverse sweep, constants are not stored, and memory is read again."""
    return not isinstance(st, ir.Assign) or st.prim.costly


def _values_to_keep(s: ir.For) -> list:
    """An inner loop's scalar float state, the values of its nested loops, and the scalar float
    values its body computes that are worth a tape (:func:`_costly`)."""
    state = [p for p in s.params if p.type.is_float and p.type.is_scalar]
    return state + [o for st in s.body.stmts for o in st.defs()
                    if o.type.is_float and o.type.is_scalar and _costly(st)]


def _write_rows(s: ir.For, start: int, row, values, params):
    """Inner loop ``s`` also writing each of ``values`` at ``[row, iteration]`` of the matrix
    carried in as the matching one of ``params``; returns (the loop, the matrices after it)."""
    pos, stmts = _position(s, start)
    stmts += list(s.body.stmts)
    carried = [ir.Var("tape", p.type) for p in params]
    written = []
    for v, c in zip(values, carried):
        w = ir.Var("tape", c.type)
        stmts.append(ir.Assign((w,), P.setitem, (c, v, row, pos)))
        written.append(w)
    body = ir.Block(stmts, tuple(s.body.results) + tuple(written),
                    tuple(s.body.params) + tuple(carried))
    outs = [ir.Var("tape", p.type) for p in params]
    return ir.For(s.index, s.start, s.stop, tuple(s.inits) + tuple(params), body,
                  tuple(s.outs) + tuple(outs), s.loc), outs


def _read_after(stmts, i: int, vars_) -> bool:
    """Whether a statement after ``stmts[i]`` reads any of ``vars_``."""
    wanted = set(vars_)
    return any(v in wanted for st in stmts[i + 1:] for v in ir.stmt_free_vars(st))


def _record_row(v: ir.Var, tape: ir.Var, out: ir.Var, pos) -> list:
    """A loop storing vector ``v`` as row ``pos`` of matrix ``tape`` (result ``out``): one
    statement in a loop rather than one per element, which keeps generated kernels small."""
    j = ir.Var("j", _I32)
    current, elem, nxt = (ir.Var("tape", tape.type), ir.Var(v.name + "_e", TType(v.type.dtype)),
                          ir.Var("tape", tape.type))
    body = ir.Block([ir.Assign((elem,), P.getitem, (v, j)),
                     ir.Assign((nxt,), P.setitem, (current, elem, pos, j))], (nxt,), (current,))
    return [ir.For(j, ir.Const(0, _I32), ir.Const(v.type.shape[0], _I32), (tape,), body,
                   (out,))]


class _NestedTape:
    """An inner loop's tape of scalars kept as row ``row`` of its enclosing loop's tape."""

    def __init__(self, matrix, row):
        self.matrix, self.row = matrix, row


def _tape_row(tape, pos, v: ir.Var):
    """The value ``v`` had at iteration ``pos``, read back from its tape."""
    if isinstance(tape, _NestedTape):
        return P.getitem(tape.matrix, tape.row, pos)
    if v.type.is_scalar:
        return P.getitem(tape, pos)
    # the row as a vector, built by a loop (one statement rather than one per element)
    em = emitter_mod.current()
    j, row = ir.Var("j", _I32), ir.Var(v.name + "_row", v.type)
    em.begin([row])
    filled = P.setitem(row, P.getitem(tape, pos, j), j)
    body = em.end([filled])
    out = ir.Var(v.name, v.type)
    em.append(ir.For(j, ir.Const(0, _I32), ir.Const(v.type.shape[0], _I32), (ir.Zero(v.type),),
                     body, (out,)))
    return out


class Adjoints:
    """Cotangents being accumulated, keyed by source var.

    Dense contributions are summed as they arrive; element contributions (:class:`Scatter`, from
    ``v[i]``) are kept aside and applied in place when the cotangent is read, so a sparse update
    never turns into a dense vector addition.
    """

    def __init__(self, seeds: dict | None = None):
        self._dense: dict = dict(seeds or {})
        self._sparse: dict = {}

    def has(self, v) -> bool:
        return v in self._dense or v in self._sparse

    def has_any(self) -> bool:
        return bool(self._dense or self._sparse)

    def add(self, v: ir.Atom, c) -> None:
        """Add contribution ``c`` to ``v``'s cotangent (summing away broadcast dimensions)."""
        if c is None or not isinstance(v, ir.Var) or not v.type.is_float:
            return
        if isinstance(c, rules.Scatter):
            self._sparse.setdefault(v, []).append(c)
            return
        if ir.is_zero(c):
            return
        em = emitter_mod.current()
        if c.type.shape != v.type.shape:
            c = P.sum_(c) if v.type.is_scalar else em.fit(c, v.type)
        if c.type.dtype != v.type.dtype:
            c = P.cast(c, dtype=v.type.dtype)
        old = self._dense.get(v)
        self._dense[v] = c if old is None else old + c

    def get(self, v):
        """The cotangent of ``v`` as one atom (None when nothing was contributed)."""
        scatters = self._sparse.pop(v, None)
        if scatters:
            total = self._dense.get(v)
            for sc in scatters:
                total = sc.accumulate(total, v.type)
            self._dense[v] = total
        return self._dense.get(v)

    def pop(self, v):
        c = self.get(v)
        self._dense.pop(v, None)
        return c


def _has_memory_effects(s: ir.Stmt) -> bool:
    """Whether a region writes memory whose adjoint must run (kernel transformations)."""
    if memory.current() is None:
        return False
    return any(isinstance(st, ir.Assign) and st.prim.effect
               for b in s.blocks() for st in ir.walk(b))


class VjpEmitter:
    """Emits adjoint code for IR blocks into ``em``.

    With ``keep_effects`` (kernel transformations only), each parallel loop's recomputation of
    its body also performs the body's memory effects, so one kernel both runs the original and
    its adjoint (see :func:`tidal.autodiff.tape.launch_with_adjoint`); every other recomputation
    still repeats values only.
    """

    def __init__(self, em: Emitter, keep_effects: bool = False):
        self.em = em
        self.fwd = CountingRebuilder(em, skip_effects=memory.current() is not None)
        self.body_fwd = CountingRebuilder(em) if keep_effects else self.fwd

    def reverse(self, stmts, env: dict, adj: Adjoints) -> None:
        """Emit the adjoint of ``stmts`` (whose primal values are in ``env``)."""
        for s in reversed(stmts):
            with self.em.located(s.loc):
                ir.visit(self, s, env, adj)

    def assign(self, s: ir.Assign, env: dict, adj: Adjoints) -> None:
        if ("inlined", s) in env:
            return self.inlined_call(s, env, adj)
        cts = [adj.pop(o) for o in s.outs]
        mem = memory.applies(s.prim)
        if all(c is None for c in cts) and not (mem and s.prim.effect):
            return
        diff = s.prim.diff_args(len(s.args))
        if not diff and not mem:
            return
        primals = tuple(Rebuilder.atom(env, a) for a in s.args)
        outs = tuple(env[o] for o in s.outs)
        cts = tuple(c if c is not None else ir.Zero(o.type) for c, o in zip(cts, s.outs))
        self.em.name = (s.outs[0].name if s.outs else "t") + "_bar"
        contribs = rules.VJP.lookup(s.prim)(primals, outs, cts, s.attrs)
        if len(contribs) != len(s.args):
            raise AssertionError(f"vjp rule of {s.prim.name} returned {len(contribs)} "
                                 f"cotangents for {len(s.args)} arguments")
        for i in diff:
            adj.add(s.args[i], contribs[i])
        self.em.name = "t"

    def inlined_call(self, s: ir.Assign, env: dict, adj: Adjoints) -> None:
        """The adjoint of a call the forward sweep inlined: the callee's body backwards."""
        f, callee = env[("inlined", s)]
        cadj = Adjoints()
        for o, r in zip(s.outs, f.body.results):
            cadj.add(r, adj.pop(o))
        if not cadj.has_any() and not (memory.applies(s.prim) and s.prim.effect):
            return
        self.reverse(f.body.stmts, callee, cadj)
        for p, a in zip(f.params, s.args):
            if p.type.is_float and cadj.has(p):
                adj.add(a, cadj.get(p))

    # -- regions ---------------------------------------------------------------------------
    def parallel_for(self, s: ir.ParallelFor, env: dict, adj: Adjoints = None) -> None:
        """A parallel loop's adjoint: the same iterations, each recomputing its values and
        running its body's adjoint (iterations meet only through derivative storage)."""
        em = self.em
        indices = [ir.Var(i.name, i.type) for i in s.indices]
        em.begin()
        benv = dict(env)
        benv.update(zip(s.indices, indices))
        self.body_fwd.block(s.body.stmts, benv)
        self.reverse(s.body.stmts, benv, Adjoints())
        body = em.end(())
        em.append(ir.ParallelFor(indices, [Rebuilder.atom(env, a) for a in s.starts],
                                 [Rebuilder.atom(env, a) for a in s.stops], body, s.loc))

    def if_(self, s: ir.If, env: dict, adj: Adjoints) -> None:
        out_cts = {i: adj.pop(o) for i, o in enumerate(s.outs) if adj.has(o)}
        if not out_cts and not _has_memory_effects(s):
            return
        em = self.em
        cond = Rebuilder.atom(env, s.cond)
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            # the forward sweep folded the condition and inlined the branch taken (its values
            # are in env, in this scope): only that branch has an adjoint
            taken = s.then if cond.value else s.orelse
            for i, ct in out_cts.items():
                adj.add(taken.results[i], ct)
            self.reverse(taken.stmts, env, adj)
            return
        free = [v for v in ir.stmt_free_vars(s) if v.type.is_float]
        branches = []
        for blk in (s.then, s.orelse):
            em.begin()
            benv = dict(env)
            self.fwd.block(blk.stmts, benv)
            badj = Adjoints()
            for i, ct in out_cts.items():
                badj.add(blk.results[i], ct)
            self.reverse(blk.stmts, benv, badj)
            contribs = [badj.get(f) for f in free]  # inside the branch: may emit statements
            branches.append((em.end(), contribs))
        need = [j for j in range(len(free))
                if branches[0][1][j] is not None or branches[1][1][j] is not None]
        for blk, contribs in branches:
            with em.reopen(blk):
                blk.results = tuple(em.fit(contribs[j] if contribs[j] is not None
                                           else ir.Zero(free[j].type), free[j].type)
                                    for j in need)
        outs = [ir.Var(free[j].name + "_bar", free[j].type) for j in need]
        em.append(ir.If(cond, branches[0][0], branches[1][0], outs, s.loc))
        for j, o in zip(need, outs):
            adj.add(free[j], o)

    def loop(self, s, env: dict, adj: Adjoints) -> None:
        s = env.get(("inlined loop", s), s)  # the loop as the forward sweep ran it
        out_cts = {i: adj.pop(o) for i, o in enumerate(s.outs) if adj.has(o)}
        if not out_cts and not _has_memory_effects(s):
            return
        em = self.em
        is_for = isinstance(s, ir.For)
        inits = [Rebuilder.atom(env, a) for a in s.inits]
        if is_for:
            start = Rebuilder.atom(env, s.start)
            stop = Rebuilder.atom(env, s.stop)
            count = P.maximum(stop - start, 0)
        else:
            start = ir.Const(0, _I32)
            count = env[("count", s)]
        params = s.params
        free = [v for v in ir.free_vars(s.body)
                if v.type.is_float and not (is_for and v is s.index)]
        act_p = [i in out_cts for i in range(len(params))]
        act_f = [False] * len(free)
        while True:
            pa = {i: ir.Var(params[i].name + "_bar", params[i].type)
                  for i in range(len(params)) if act_p[i]}
            fa = {j: ir.Var(free[j].name + "_bar", free[j].type)
                  for j in range(len(free)) if act_f[j]}
            r = ir.Var("r", _I32)
            em.begin(list(pa.values()) + list(fa.values()))
            k = count - 1 - r
            if is_for:
                k = start + k
            state = self._restore(s, env, inits, start, k)
            benv = dict(env)
            for p, v in zip(params, state):
                benv[p] = v
            if is_for:
                benv[s.index] = k
            tape, t0 = env.get(("tape", s), ({}, None))
            if tape:
                pos = k - t0
                for p in params:
                    if p in tape:
                        benv[p] = _tape_row(tape[p], pos, p)
            nested = env.get(("nested", s), {})
            for i, st in enumerate(s.body.stmts):
                kept = bool(tape) and bool(st.defs()) and all(o in tape for o in st.defs())
                if kept:
                    for o in st.defs():
                        benv[o] = _tape_row(tape[o], pos, o)
                if st in nested and (kept or not _read_after(s.body.stmts, i, st.defs())):
                    # an inner loop whose values this loop taped: its tapes are rows of ours
                    carried, inner_start = nested[st]
                    benv[("tape", st)] = ({v: _NestedTape(tape[o], pos) for v, o in carried},
                                          inner_start)
                elif not kept:
                    self.fwd.stmt(st, benv)
            # cotangents of outer variables accumulate straight into the carried sums
            badj = Adjoints({free[j]: v for j, v in fa.items()})
            for i, v in pa.items():
                badj.add(s.body.results[i], v)
            self.reverse(s.body.stmts, benv, badj)
            new_p = {i: badj.pop(params[i]) for i in range(len(params))
                     if params[i].type.is_float}
            new_f = {j: badj.get(free[j]) for j in range(len(free))}
            grown = False
            for i, c in new_p.items():
                if c is not None and not act_p[i]:
                    act_p[i] = grown = True
            for j, c in new_f.items():
                if c is not None and not act_f[j]:
                    act_f[j] = grown = True
            if grown:
                em.discard()
                continue
            results = [em.fit(new_p.get(i) if new_p.get(i) is not None
                              else ir.Zero(params[i].type), params[i].type) for i in pa]
            results += [em.fit(new_f[j], free[j].type) for j in fa]
            body = em.end(results)
            break
        inits_adj = [em.fit(out_cts[i], params[i].type) if i in out_cts
                     else ir.Zero(params[i].type) for i in pa]
        # outer cotangents accumulated so far seed the loop's sums (no separate add after it)
        for j in fa:
            cur = adj.pop(free[j])
            inits_adj.append(em.fit(cur, free[j].type) if cur is not None
                             else ir.Zero(free[j].type))
        outs = [ir.Var(v.name, v.type) for v in list(pa.values()) + list(fa.values())]
        em.append(ir.For(r, ir.Const(0, _I32), count, inits_adj, body, outs, s.loc))
        it = iter(outs)
        for i in pa:
            adj.add(s.inits[i], next(it))
        for j in fa:
            adj.add(free[j], next(it))

    def _restore(self, s, env: dict, inits, start, k):
        """Emit the loop state at the entry of iteration ``k`` (re-running the forward body)."""
        em = self.em
        is_for = isinstance(s, ir.For)

        def body(index, params):
            benv = dict(env)
            for p, v in zip(s.params, params):
                benv[p] = v
            if is_for:
                benv[s.index] = index
            self.fwd.block(s.body.stmts, benv)
            return [Rebuilder.atom(benv, r) for r in s.body.results]

        if not inits:
            return []
        lo = start if is_for else ir.Const(0, _I32)
        return em.for_(lo, k, inits, body, names=[p.name for p in s.params], index_name="j")


def emit_vjp(fn: ir.Function, primals, cotangents):
    """Emit ``fn``'s primal body and its adjoint into the current emitter.

    Args:
        fn: the function.
        primals: atoms for its parameters.
        cotangents: one atom (or ``None``) per result of ``fn``.

    Returns:
        (results, parameter cotangents): atoms; zeros where no cotangent flows.
    """
    em = emitter_mod.current()
    env = dict(zip(fn.params, primals))
    v = VjpEmitter(em)
    v.fwd.block(fn.body.stmts, env)
    results = [Rebuilder.atom(env, r) for r in fn.body.results]
    adj = Adjoints()
    for r, ct in zip(fn.body.results, cotangents):
        if ct is not None:
            adj.add(r, ct)
    v.reverse(fn.body.stmts, env, adj)
    cts = [em.fit(adj.get(p), p.type) if adj.has(p) else ir.Zero(p.type) for p in fn.params]
    return results, cts
