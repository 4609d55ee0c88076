"""Optimisation of IR functions: re-emission and dead-code elimination.

:class:`Rebuilder` re-emits a block through an :class:`~tidal.dsl.emitter.Emitter` with an
environment mapping old atoms to new ones. It is the generic "clone" every transformation uses for
primal code, and on its own it is an optimisation pass: re-emitting applies constant folding,
algebraic identities and CSE to code that was produced without them, inlines ``If`` regions whose
condition became constant, and removes loop-carried values that never change.

:func:`eliminate_dead_code` removes statements whose results are never used, region outputs nobody
reads and loop-carried values that only feed themselves.

:func:`optimize` alternates the two until the function stops shrinking. Its output computes the
same values as its input (up to floating-point reassociation: none is done) and satisfies the IR
invariants.
"""

from __future__ import annotations

from tidal.dsl import ir
from tidal.dsl.emitter import Emitter


class Rebuilder:
    """Re-emits IR statements into the current scope of ``em``."""

    def __init__(self, em: Emitter, skip_effects: bool = False):
        self.em = em
        # recomputation inside adjoint kernels repeats values, not side effects
        self.skip_effects = skip_effects

    @staticmethod
    def atom(env: dict, a: ir.Atom) -> ir.Atom:
        return env[a] if isinstance(a, ir.Var) else a

    def block(self, stmts, env: dict) -> None:
        for s in stmts:
            self.stmt(s, env)

    def stmt(self, s: ir.Stmt, env: dict) -> None:
        with self.em.located(s.loc):
            ir.visit(self, s, env)

    def assign(self, s: ir.Assign, env: dict) -> None:
        if self.skip_effects and s.prim.effect:
            return
        args = [self.atom(env, a) for a in s.args]
        self.em.name = s.outs[0].name if s.outs else "t"
        res = self.em.apply(s.prim, args, s.attrs)
        self.em.name = "t"
        if len(s.outs) == 1:
            env[s.outs[0]] = res
        else:
            for o, r in zip(s.outs, res):
                env[o] = r

    def if_(self, s: ir.If, env: dict) -> None:
        cond = self.atom(env, s.cond)
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            taken = s.then if cond.value else s.orelse
            self.block(taken.stmts, env)
            for o, r in zip(s.outs, taken.results):
                env[o] = self.atom(env, r)
            return
        mark = ir.serial_now()
        branches = []
        for blk in (s.then, s.orelse):
            self.em.begin()
            benv = dict(env)
            self.block(blk.stmts, benv)
            res = [self.atom(benv, r) for r in blk.results]
            branches.append((self.em.end(), res))
        (bt, rt), (be, re_) = branches
        keep = []
        for i, (a, b) in enumerate(zip(rt, re_)):
            same = (a is b) or (isinstance(a, ir.Const) and a == b)
            visible = isinstance(a, ir.Const) or a.serial <= mark
            if same and visible:
                env[s.outs[i]] = a
            else:
                keep.append(i)
        bt.results = tuple(rt[i] for i in keep)
        be.results = tuple(re_[i] for i in keep)
        outs = [ir.Var(s.outs[i].name, s.outs[i].type) for i in keep]
        for i, o in zip(keep, outs):
            env[s.outs[i]] = o
        if outs or _has_effects(bt) or _has_effects(be):
            self.em.append(ir.If(cond, bt, be, outs, s.loc))

    def _loop_state(self, s, env):
        inits = [self.atom(env, a) for a in s.inits]
        active = [True] * len(inits)
        return inits, active

    def for_(self, s: ir.For, env: dict) -> None:
        start, stop = self.atom(env, s.start), self.atom(env, s.stop)
        inits, active = self._loop_state(s, env)
        if isinstance(start, ir.Const) and isinstance(stop, ir.Const) and stop.value <= start.value:
            for o, a in zip(s.outs, inits):
                env[o] = a
            return
        while True:
            index = ir.Var(s.index.name, s.index.type)
            params = [ir.Var(p.name, p.type) if act else None for p, act in zip(s.params, active)]
            self.em.begin([p for p in params if p is not None])
            benv = dict(env)
            benv[s.index] = index
            for p, new, init in zip(s.params, params, inits):
                benv[p] = new if new is not None else init
            self.block(s.body.stmts, benv)
            res = [self.atom(benv, r) for r in s.body.results]
            if self._drop_invariant(params, res, inits, active):
                self.em.discard()
                continue
            body = self.em.end([r for r, p in zip(res, params) if p is not None])
            break
        outs = self._bind_outs(s, env, params, inits)
        if outs or _has_effects(body):
            self.em.append(ir.For(index, start, stop, [i for i, p in zip(inits, params) if p],
                                  body, outs, s.loc))

    def while_(self, s: ir.While, env: dict) -> None:
        inits, active = self._loop_state(s, env)
        while True:
            params = [ir.Var(p.name, p.type) if act else None for p, act in zip(s.params, active)]
            live = [p for p in params if p is not None]
            benv = dict(env)
            for p, new, init in zip(s.params, params, inits):
                benv[p] = new if new is not None else init
            self.em.begin(live)
            cenv = dict(benv)
            self.block(s.cond.stmts, cenv)
            cond_block = self.em.end([self.atom(cenv, s.cond.results[0])])
            self.em.begin(live)
            self.block(s.body.stmts, benv)
            res = [self.atom(benv, r) for r in s.body.results]
            if self._drop_invariant(params, res, inits, active):
                self.em.discard()
                continue
            body = self.em.end([r for r, p in zip(res, params) if p is not None])
            break
        c = cond_block.results[0]
        if isinstance(c, ir.Const) and not c.value and not cond_block.stmts:
            for o, a in zip(s.outs, inits):
                env[o] = a
            return
        outs = self._bind_outs(s, env, params, inits)
        self.em.append(ir.While([i for i, p in zip(inits, params) if p], cond_block, body, outs,
                                s.loc))

    def parallel_for(self, s: ir.ParallelFor, env: dict) -> None:
        if self.skip_effects:
            return  # a parallel loop computes nothing but its side effects
        starts = [self.atom(env, a) for a in s.starts]
        stops = [self.atom(env, a) for a in s.stops]
        indices = [ir.Var(i.name, i.type) for i in s.indices]
        self.em.begin()
        benv = dict(env)
        benv.update(zip(s.indices, indices))
        self.parallel_body(s, benv)
        body = self.em.end(())
        if body.stmts:
            self.em.append(ir.ParallelFor(indices, starts, stops, body, s.loc))

    def parallel_body(self, s: ir.ParallelFor, env: dict) -> None:
        self.block(s.body.stmts, env)

    @staticmethod
    def _drop_invariant(params, res, inits, active) -> bool:
        """Mark carried values that never change; True if any was found (re-emit needed)."""
        found = False
        for i, (p, r) in enumerate(zip(params, res)):
            if p is None:
                continue
            if r is p or (isinstance(r, ir.Const) and isinstance(inits[i], ir.Const)
                          and r == inits[i]):
                active[i] = False
                found = True
        return found

    @staticmethod
    def _bind_outs(s, env, params, inits):
        outs = []
        for o, p, init in zip(s.outs, params, inits):
            if p is None:
                env[o] = init
            else:
                new = ir.Var(o.name, o.type)
                env[o] = new
                outs.append(new)
        return outs


class CallInliner(Rebuilder):
    """A :class:`Rebuilder` that replaces calls of tidal functions by the callees' bodies
    (every call; subclasses choose which by overriding :meth:`inlines`)."""

    def inlines(self, s: ir.Assign) -> bool:
        from tidal.dsl.calls import CallPrimitive

        return isinstance(s.prim, CallPrimitive)

    def assign(self, s: ir.Assign, env: dict) -> None:
        if not self.inlines(s):
            super().assign(s, env)
            return
        callee = s.prim.fn.ir(self.em.default_fp)
        benv = dict(zip(callee.params, (self.atom(env, a) for a in s.args)))
        self.block(callee.body.stmts, benv)
        for o, r in zip(s.outs, callee.body.results):
            env[o] = self.atom(benv, r)


def _has_effects(block: ir.Block) -> bool:
    return any(isinstance(s, ir.Assign) and s.prim.effect for s in ir.walk(block))


def rebuild(fn: ir.Function, default_fp, rebuilder=Rebuilder) -> ir.Function:
    """Re-emit ``fn`` through an emitter (folding, identities, CSE, region simplification)."""
    em = Emitter(default_fp)
    params = [ir.Var(p.name, p.type) for p in fn.params]
    env = dict(zip(fn.params, params))
    with em:
        em.begin()
        rebuilder(em).block(fn.body.stmts, env)
        results = [Rebuilder.atom(env, r) for r in fn.body.results]
        body = em.end(results)
    return ir.Function(fn.name, params, body, fn.loc, fn.param_names)


def eliminate_dead_code(fn: ir.Function) -> ir.Function:
    """Remove unused statements, region outputs and self-feeding loop state (in place)."""
    _dce_block(fn.body, set())
    return fn


def _dce_block(block: ir.Block, live_after: set) -> set:
    """DCE ``block`` given the vars live after it (its results count as used).

    Returns the vars from enclosing scopes that the block reads.
    """
    live = set(live_after)
    live.update(a for a in block.results if isinstance(a, ir.Var))
    kept = []
    for s in reversed(block.stmts):
        if isinstance(s, ir.Assign):
            if s.prim.effect or any(o in live for o in s.outs):
                kept.append(s)
                live.update(a for a in s.args if isinstance(a, ir.Var))
        elif isinstance(s, ir.If):
            need = [i for i, o in enumerate(s.outs) if o in live]
            effects = _has_effects(s.then) or _has_effects(s.orelse)
            if not need and not effects:
                continue
            s.outs = tuple(s.outs[i] for i in need)
            for b in (s.then, s.orelse):
                b.results = tuple(b.results[i] for i in need)
                _dce_block(b, set())
            kept.append(s)
            live.update(ir.stmt_free_vars(s))
        elif isinstance(s, ir.ParallelFor):
            if not _has_effects(s.body):
                continue
            _dce_block(s.body, set())
            kept.append(s)
            live.update(ir.stmt_free_vars(s))
        else:
            if not _dce_loop(s, live):
                continue
            kept.append(s)
            live.update(ir.stmt_free_vars(s))
    kept.reverse()
    block.stmts = kept
    return live


def _dce_loop(s, live: set) -> bool:
    """Prune a loop's carried state to what is live after it or feeds live state."""
    n = len(s.outs)
    need = {i for i in range(n) if s.outs[i] in live}
    effects = _has_effects(s.body) or (isinstance(s, ir.While) and _has_effects(s.cond))
    params = s.body.params
    while True:
        reads = _reads_given(s, need)
        grown = need | {i for i, p in enumerate(params) if p in reads}
        if isinstance(s, ir.While):
            creads = set(ir.free_vars(ir.Block(s.cond.stmts, s.cond.results, ())))
            grown |= {i for i, p in enumerate(params) if p in creads}
        if grown == need:
            break
        need = grown
    if not need and not effects:
        return False
    keep = sorted(need)
    s.inits = tuple(s.inits[i] for i in keep)
    s.outs = tuple(s.outs[i] for i in keep)
    new_params = tuple(params[i] for i in keep)
    s.body.results = tuple(s.body.results[i] for i in keep)
    s.body.params = new_params
    _dce_block(s.body, set())
    if isinstance(s, ir.While):
        s.cond.params = new_params
        _dce_block(s.cond, set())
    return True


def _reads_given(s, need: set) -> set:
    """Vars the loop body reads when only the results in ``need`` (and effects) are kept."""
    b = _copy_block(s.body)
    b.results = tuple(r for i, r in enumerate(b.results) if i in need)
    _dce_block(b, set())
    reads = set(ir.free_vars(ir.Block(b.stmts, b.results, ())))
    return reads


def _copy_block(b: ir.Block) -> ir.Block:
    """A structural copy safe to prune (the same vars, new statements)."""
    return ir.Copier().block(b, {})


def count_stmts(fn: ir.Function) -> int:
    """Number of statements, counting those nested in regions."""
    return sum(1 for _ in ir.walk(fn.body))


def optimize(fn: ir.Function, default_fp, max_rounds: int = 4) -> ir.Function:
    """Rebuild and eliminate dead code until the function stops shrinking."""
    size = None
    for _ in range(max_rounds):
        fn = eliminate_dead_code(rebuild(fn, default_fp))
        n = count_stmts(fn)
        if n == size:
            break
        size = n
    return fn
