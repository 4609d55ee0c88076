"""Accumulation in parallel loops, rewritten just before a kernel is generated.

Taichi makes every ``+=`` on a field element inside a parallel loop an atomic operation; on the
CPU an atomic f64 add is a compare-and-swap loop, and when all threads add into the same few
elements (gradients of shared parameters) they also contend for them. Two rewrites of a kernel's
top-level :class:`tidal.dsl.ir.ParallelFor` loops avoid both, and a last one spreads
loops of few heavy iterations over the CPU's threads:

* **Single-threaded loops.** A loop of one iteration (the idiom ``for _ in range(1)`` that
  runs a whole time loop in one launch) runs in one thread: every ``+=`` in it is a plain read,
  add and write.
* **Exclusive adds.** When every access to a field in the loop indexes it by all of the loop's
  indices, each at the same position, no two iterations touch the same element: ``+=`` becomes
  a plain read, add and write.
* **Calls that add.** Calls of tidal functions that write memory (derivatives of functions that
  read fields add into the fields' gradients) are inlined first, so their adds are rewritten too.
* **Shared accumulation.** When a loop of many iterations (not known to be fewer than
  :data:`MIN_BLOCKED_ITERATIONS`) adds into a small field (at most
  :data:`MAX_SHARED_ELEMENTS` elements) at indices that do not depend on the loop's indices,
  the loop's iterations are split into blocks, one thread per block; each block adds into its
  own row of a scratch field without atomics, and a second parallel loop adds the rows into the
  field (and resets them to zero for the next launch).
* **Few heavy iterations.** Taichi's CPU backend hands its threads tasks of at least
  :data:`CPU_TASK_ITERATIONS` iterations, so a loop of a few hundred heavy iterations (the
  blocks above, a batch of fields times channels, a few hundred Fourier modes) ran on one
  thread. On the CPU every loop whose body holds a loop and that has fewer iterations than
  :func:`task_slots` (or a number known only at run time) is spread over that many slots, the
  iterations evenly among them, so that they run on all threads. This is a pass of its own,
  :func:`spread_over_tasks`, after :func:`prepare`: a kernel's serial form (one thread) is
  printed from the kernel before it.

Guarantees: the rewritten kernel stores and adds the same values to the same elements as the
input (floating-point additions may be grouped differently); the input IR is left unchanged, so
derivative transformations keep working on the kernel as written.
"""

from __future__ import annotations

import os

import taichi as ti

from tidal.dsl import field_io, ir, optimize
from tidal.dsl import lanes as lanes_pass
from tidal.dsl import primitives as P
from tidal.dsl.calls import CallPrimitive
from tidal.dsl.dependence import dependent_vars
from tidal.dsl.types import I32, TType

MAX_SHARED_ELEMENTS = 1 << 16
MIN_BLOCKED_ITERATIONS = 256  # loops with fewer (constant) iterations keep their atomic adds
BLOCKS_PER_CPU_THREAD = 4
#: a shared accumulation uses one block per this many iterations, up to blocks_for(arch): each
#: block's partial sums are read, added and reset once per launch, which for a loop of a few
#: hundred iterations adding into a few thousand elements cost more than the loop
MIN_BLOCK_ITERATIONS = 64
#: Taichi 1.7.4's CPU backend cuts a parallel loop into tasks of at least 512 iterations (its
#: "adaptive block_dim"; loop_config(block_dim=...) does not lower it), one task per thread at a
#: time, so a loop over a few heavy blocks ran on one thread whatever the number of threads
#: (measured: a 2-thread Burgers PINN step took as long as a 1-thread one). Loops of few heavy
#: iterations are therefore spread over task_slots() slots (_spread_over_tasks).
CPU_TASK_ITERATIONS = 512
GPU_BLOCKS = 1024

_INT = TType(I32)
_SCRATCH_TREES: list = []  # keeps the scratch fields' SNode trees alive


def blocks_for(arch: str) -> int:
    """Number of blocks a shared accumulation is split into on ``arch``."""
    if arch == "cpu":
        return BLOCKS_PER_CPU_THREAD * max(os.cpu_count() or 1, 1)
    return GPU_BLOCKS


def prepare(fn: ir.Function, arch: str, default_fp, lanes: int = 0,
            vectorise: bool | None = None) -> tuple:
    """The kernel ``fn`` with the accumulation rewrites applied (``fn`` itself is unchanged),
    and the scratch arrays the rewritten kernel takes as extra trailing arguments.

    With ``lanes`` > 1 on the CPU, the chunk loops of shared accumulations also run ``lanes``
    iterations per SIMD vector where :func:`tidal.dsl.lanes.vectorise_chunk` can do that. Their
    blocks then add lane vectors into lane-wide partial sums (ndarrays of vectors, one
    horizontal sum per element at the end instead of one per add); the kernel must be launched
    through :func:`tidal.dsl.loader.load_kernel` with those arrays. With ``vectorise`` True,
    every other loop of many iterations is run in blocks of consecutive iterations, ``lanes``
    per vector, where the body can be vectorised, and the cost model of
    :func:`tidal.dsl.lanes.worth_vectorising` keeps no loop scalar; with False, no loop is
    vectorised.

    Returns:
        ``(kernel IR, [(ArrayArg, ndarray), ...])``.

    Example:
        >>> from tidal.dsl.types import F64
        >>> from tidal.dsl import ir
        >>> empty = ir.Function("k", (), ir.Block())
        >>> prepare(empty, "cpu", F64)[0] is empty
        True
    """
    fn = _inline_writing_calls(fn, default_fp)
    if (arch != "cpu" or lanes < 2 or vectorise is False
            or not lanes_pass.vector_mode_safe(fn, default_fp)):
        lanes = 0
    stmts, scratch, arrays = [], [], []
    changed = False
    known = set(fn.params)  # values every top-level loop can read
    for s in fn.body.stmts:
        if isinstance(s, ir.ParallelFor):
            new = _rewrite_loop(s, arch, (scratch, arrays), default_fp, lanes,
                                frozenset(known), bool(vectorise))
            changed = changed or new != [s]
            stmts.extend(new)
        else:
            stmts.append(s)
            known.update(s.defs())
    if not changed:
        return fn, []
    _place_scratch(scratch)  # before any launch: Taichi then materialises its fields
    for _, arr in arrays:  # tidal's own set-up, unseen by a recording tape
        field_io.fill(arr, 0)
    body = ir.Block(stmts, fn.body.results, fn.body.params)
    return ir.Function(fn.name, fn.params, body, fn.loc, fn.param_names), arrays


class _InlineWritingCalls(optimize.CallInliner):
    """Re-emits a kernel with calls of functions that write memory replaced by their bodies."""

    def inlines(self, s: ir.Assign) -> bool:
        return super().inlines(s) and s.prim.effect


def _inline_writing_calls(fn: ir.Function, default_fp) -> ir.Function:
    if not any(isinstance(st, ir.Assign) and isinstance(st.prim, CallPrimitive)
               and st.prim.effect for st in ir.walk(fn.body)):
        return fn
    return optimize.eliminate_dead_code(optimize.rebuild(fn, default_fp, _InlineWritingCalls))


# -- analysis ----------------------------------------------------------------------------------


def _accesses(block: ir.Block) -> dict:
    """Per memory reference: the (kind, index atoms) of every access in ``block``."""
    out: dict = {}
    for st in ir.walk(block):
        if isinstance(st, ir.Assign) and st.prim in (P.load, P.store, P.atomic_add):
            idx = st.args if st.prim is P.load else st.args[:-1]
            out.setdefault(st.attrs[0], []).append((st.prim, tuple(idx)))
    return out


def _positions(idx, indices) -> tuple | None:
    """Where each loop index appears as a whole index of ``idx`` (None if one does not)."""
    pos = []
    for v in indices:
        hits = [d for d, a in enumerate(idx) if a is v]
        if not hits:
            return None
        pos.append(hits[0])
    return tuple(pos)


def _exclusive(accesses, indices) -> bool:
    """Whether no two iterations of the loop access the same element of the reference."""
    positions = {_positions(idx, indices) for _, idx in accesses}
    return len(positions) == 1 and None not in positions


def _field_elements(ref) -> int | None:
    shape = getattr(ref.obj, "shape", None)
    if isinstance(ref.obj, P.ArrayArg) or shape is None or None in tuple(shape):
        return None
    n = 1
    for d in shape:
        n *= int(d)
    return n


# -- rewriting ---------------------------------------------------------------------------------


def _fixed_positions(accesses, known) -> dict:
    """Index positions at which every access of a reference has the same constant or the same
    value of ``known`` (read before the loop): ``{position: atom}``. Only that slice of the
    reference is ever touched (a layer's weights in a stacked weight array)."""
    fixed = {}
    first = accesses[0][1]
    for d, a in enumerate(first):
        if isinstance(a, ir.Const):
            same = all(isinstance(i[d], ir.Const) and i[d].value == a.value for _, i in accesses)
        else:
            same = a in known and all(i[d] is a for _, i in accesses)
        if same:
            fixed[d] = a
    return fixed


def _rewrite_loop(loop: ir.ParallelFor, arch: str, scratch: tuple, default_fp,
                  lanes: int = 0, known=frozenset(), everywhere: bool = False) -> list:
    from tidal.dsl.kernel_lowering import called_reads

    if _trip_count(loop) == 1:
        # one iteration runs in one thread (the whole-rollout idiom ``for _ in range(1)``):
        # no add needs to be atomic
        body = _map_adds(loop.body, lambda st: True,
                         lambda st: _plain_add(*st.attrs, st.args[:-1], st.args[-1], st.loc))
        return [ir.ParallelFor(loop.indices, loop.starts, loop.stops, body, loop.loc)]
    accesses = _accesses(loop.body)
    called = set(called_reads(loop.body, default_fp))
    exclusive, shared = set(), {}
    dep = None
    for ref, acc in accesses.items():
        if ref in called or not any(p is P.atomic_add for p, _ in acc):
            continue
        if _exclusive(acc, loop.indices):
            exclusive.add(ref)
            continue
        if any(p is not P.atomic_add for p, _ in acc):
            continue
        n = _field_elements(ref)
        if n is None or n > MAX_SHARED_ELEMENTS:
            continue
        dep = dependent_vars(loop.indices, loop.body) if dep is None else dep
        if all(isinstance(a, ir.Const) or a not in dep for _, idx in acc for a in idx):
            shared[ref] = None
    if _trip_count(loop) is not None and _trip_count(loop) < MIN_BLOCKED_ITERATIONS:
        shared = {}  # a few atomic adds cost less than a second loop combining partial sums
        everywhere = False
    # the kernel asked for lanes in every loop: blocked without partial sums, where it can be
    in_lanes = everywhere and lanes > 1 and not shared
    if not exclusive and not shared and not in_lanes:
        return [loop]
    nblocks = blocks_for(arch)
    block_var = ir.Var("block", _INT)
    fields, arrays = scratch
    elems = {ref: next(st.attrs[1] for st in ir.walk(loop.body)
                       if isinstance(st, ir.Assign) and st.prim is P.atomic_add
                       and st.attrs[0] == ref) for ref in shared}
    lane_refs = {ref for ref, elem in elems.items() if elem.is_scalar}
    blocked = None
    head: list = []
    used = ir.Const(nblocks, _INT)
    if shared or in_lanes:
        b = _IntBuilder(head, loop.loc)
        extents = _extents(loop, b)  # computed once, before the loop
        # with no partial sums to combine, blocks of two vectors of iterations and up: a loop
        # of a few dozen heavy iterations (one field's channels) still runs on every thread
        every = MIN_BLOCK_ITERATIONS if shared else 2 * lanes
        used = _blocks_used(extents[1], nblocks, b, every)
        blocked = _blocked(loop, block_var, used, extents, default_fp, lanes, lane_refs,
                           always=everywhere)
        if not lanes_pass.vectorised_block(blocked.body):
            lane_refs = set()
            if not shared:  # the body has no lane form: the loop as it was
                blocked, head = None, []
                if not exclusive:
                    return [loop]
    partial = {}
    lane_args = set()
    for ref, elem in elems.items():
        shape = (nblocks, *tuple(ref.obj.shape))
        if ref in lane_refs:
            # (block, flat element): an index with constant strides costs less than one with
            # the runtime strides of a many-dimensional ndarray
            lane_elem = lanes_pass.lane_type(elem, lanes)
            arg = P.ArrayArg(ref.name + "_lanes", 2, lane_elem, aligned=True)
            arrays.append((arg, _lane_scratch(lane_elem, (nblocks, _field_elements(ref)))))
            lane_args.add(arg)
            partial[ref] = (P.GlobalRef(arg, arg.name), lane_elem)
            continue
        field = _scratch_field(elem, shape)
        fields.append((field, shape))
        partial[ref] = (P.GlobalRef(field, ref.name + "_partial"), elem)

    def add(st: ir.Assign) -> list:
        ref, elem = st.attrs
        *idx, value = st.args
        stmts = []
        if ref in partial:
            shape = tuple(ref.obj.shape)
            ref, elem = partial[ref]
            if ref.obj in lane_args:
                idx = [_flat_index(idx, shape, _IntBuilder(stmts, st.loc))]
            idx = [block_var, *idx]
        return stmts + _plain_add(ref, elem, idx, value, st.loc)

    def wanted(st: ir.Assign) -> bool:
        return st.attrs[0] in exclusive or st.attrs[0] in partial

    if blocked is None:
        body = _map_adds(loop.body, wanted, add)
        return [ir.ParallelFor(loop.indices, loop.starts, loop.stops, body, loop.loc)]
    out = head + [ir.ParallelFor(blocked.indices, blocked.starts, blocked.stops,
                                 _map_adds(blocked.body, wanted, add), blocked.loc)]
    for ref, (pref, pelem) in partial.items():
        out.append(_combine(ref, pref, elems[ref], used, loop.loc, pelem,
                            pref.obj in lane_args, _fixed_positions(accesses[ref], known)))
    return out


def spread_over_tasks(fn: ir.Function, arch: str) -> ir.Function:
    """``fn`` (a kernel after :func:`prepare`) with every top-level loop of few heavy iterations
    spread over :func:`task_slots` slots on the CPU (see :func:`_spread_over_tasks`), for
    Taichi's thread pool; ``fn`` itself when no loop is. A kernel's serial form
    (:mod:`tidal.dsl.direct`) is printed from ``fn`` as it was: on one thread the slots without
    an iteration cost an integer division each, about 6.5 us a launch for 4,096 slots on this
    project's machine (2026-12-07), a third of a small launch.

    Example:
        >>> empty = ir.Function("k", (), ir.Block())
        >>> spread_over_tasks(empty, "cpu") is empty
        True
    """
    stmts = [out for s in fn.body.stmts
             for out in (_spread_over_tasks(s, arch) if isinstance(s, ir.ParallelFor) else [s])]
    if stmts == fn.body.stmts:
        return fn
    body = ir.Block(stmts, fn.body.results, fn.body.params)
    return ir.Function(fn.name, fn.params, body, fn.loc, fn.param_names)


def _spread_over_tasks(loop: ir.ParallelFor, arch: str) -> list:
    """On the CPU, a loop of heavy iterations (its body holds a loop) and fewer than
    :func:`task_slots` iterations (or a runtime number) as a loop over ``total * spread`` slots,
    ``spread = (task_slots - 1) // total + 1``, of which slot ``i * spread`` runs iteration ``i``
    and the others nothing: Taichi's tasks of :data:`CPU_TASK_ITERATIONS` slots then hold a few
    iterations each and the iterations run on all threads (see the constant). Returns the
    statements replacing ``loop``: the slot count, computed before it, and the new loop.
    Loops with many iterations (spread 1 at run time) pay one integer division per iteration."""
    target = task_slots(arch)
    trips = _trip_count(loop)
    if (arch != "cpu" or (trips is not None and (trips <= 1 or trips >= target))
            or not any(isinstance(st, (ir.For, ir.While)) for st in ir.walk(loop.body))):
        return [loop]
    head: list = []
    b = _IntBuilder(head, loop.loc)
    sizes, total = _extents(loop, b)
    one = ir.Const(1, _INT)
    at_least_one = b.op(P.maximum, total, one, "n", max)
    spread = b.add(b.floordiv(ir.Const(target - 1, _INT), at_least_one, "spread"), one,
                   "spread")
    slots = b.mul(total, spread, "slots")
    slot, first = ir.Var("slot", _INT), ir.Var("first", _INT)
    stmts: list = []
    ib = _IntBuilder(stmts, loop.loc)
    one_index = len(loop.indices) == 1 and _is_zero(loop.starts[0])
    flat = ib.floordiv(slot, spread, "q", loop.indices[0] if one_index else None)
    offset = ib.sub(slot, ib.mul(flat, spread, "n"), "offset")
    stmts.append(ir.Assign([first], P.eq, (offset, ir.Const(0, _INT)), (), loop.loc))
    then: list = []
    _decode(flat, loop, sizes, _IntBuilder(then, loop.loc))
    stmts.append(ir.If(first, ir.Block(then + loop.body.stmts, ()), ir.Block([], ()), (),
                       loop.loc))
    return head + [ir.ParallelFor((slot,), (ir.Const(0, _INT),), (slots,), ir.Block(stmts),
                                  loop.loc)]


def task_slots(arch: str) -> int:
    """The number of iterations a CPU loop is spread to (:func:`_spread_over_tasks`):
    :data:`BLOCKS_PER_CPU_THREAD` tasks of :data:`CPU_TASK_ITERATIONS` per thread."""
    return CPU_TASK_ITERATIONS * blocks_for(arch)


def _extents(loop: ir.ParallelFor, b: _IntBuilder) -> tuple[list, object]:
    """The number of values of each of ``loop``'s indices (0 for an empty range) and their
    product, the loop's iteration count, computed with ``b``."""
    sizes = [b.max0(b.sub(hi, lo)) for lo, hi in zip(loop.starts, loop.stops)]
    total = sizes[0]
    for n in sizes[1:]:
        total = b.mul(total, n, "total")
    return sizes, total


def _decode(flat, loop: ir.ParallelFor, sizes: list, b: _IntBuilder) -> None:
    """Assign ``loop``'s indices from the row-major position ``flat`` of an iteration among
    ``sizes`` (the extent of each index), appending the statements to ``b``."""
    rest = flat
    ndim = len(loop.indices)
    for d in range(ndim - 1, 0, -1):
        start, target = loop.starts[d], loop.indices[d]
        local = b.mod(rest, sizes[d], "r", target if _is_zero(start) else None)
        if local is not target:
            b.stmts.append(ir.Assign([target], P.add, (local, start), (), loop.loc))
        first = loop.indices[0] if d == 1 and _is_zero(loop.starts[0]) else None
        rest = b.floordiv(rest, sizes[d], "q", first)
    if rest is not loop.indices[0]:
        b.stmts.append(ir.Assign([loop.indices[0]], P.add, (rest, loop.starts[0]), (),
                                 loop.loc))


def _trip_count(loop: ir.ParallelFor) -> int | None:
    """The number of iterations of a parallel loop with constant bounds, else None."""
    n = 1
    for a, b in zip(loop.starts, loop.stops):
        if not (isinstance(a, ir.Const) and isinstance(b, ir.Const)):
            return None
        n *= max(int(b.value) - int(a.value), 0)
    return n


def _map_adds(block: ir.Block, wanted, rewrite) -> ir.Block:
    stmts = []
    for s in block.stmts:
        if isinstance(s, ir.Assign):
            stmts.extend(rewrite(s) if s.prim is P.atomic_add and wanted(s) else [s])
        elif isinstance(s, ir.If):
            stmts.append(ir.If(s.cond, _map_adds(s.then, wanted, rewrite),
                               _map_adds(s.orelse, wanted, rewrite), s.outs, s.loc))
        elif isinstance(s, ir.For):
            stmts.append(ir.For(s.index, s.start, s.stop, s.inits,
                                _map_adds(s.body, wanted, rewrite), s.outs, s.loc))
        elif isinstance(s, ir.While):
            stmts.append(ir.While(s.inits, _map_adds(s.cond, wanted, rewrite),
                                  _map_adds(s.body, wanted, rewrite), s.outs, s.loc))
        else:
            stmts.append(s)
    return ir.Block(stmts, block.results, block.params)


def _plain_add(ref, elem, idx, value, loc) -> list:
    old, new = ir.Var("old", elem), ir.Var("new", elem)
    return [ir.Assign([old], P.load, idx, (ref, elem), loc),
            ir.Assign([new], P.add, (old, value), (), loc),
            ir.Assign([], P.store, (*idx, new), (ref, elem), loc)]


class _IntBuilder:
    """Integer index arithmetic appended to a statement list, folding constants."""

    def __init__(self, stmts: list, loc):
        self.stmts = stmts
        self.loc = loc

    def op(self, prim, a, b, name: str, fold, into=None):
        if into is None and isinstance(a, ir.Const) and isinstance(b, ir.Const):
            return ir.Const(fold(int(a.value), int(b.value)), _INT)
        out = into if into is not None else ir.Var(name, _INT)
        self.stmts.append(ir.Assign([out], prim, (a, b), (), self.loc))
        return out

    def sub(self, a, b, name="n"):
        if isinstance(b, ir.Const) and int(b.value) == 0:
            return a
        return self.op(P.sub, a, b, name, lambda x, y: x - y)

    def add(self, a, b, name="i"):
        if isinstance(b, ir.Const) and int(b.value) == 0:
            return a
        return self.op(P.add, a, b, name, lambda x, y: x + y)

    def mul(self, a, b, name="n"):
        return self.op(P.mul, a, b, name, lambda x, y: x * y)

    def floordiv(self, a, b, name="q", into=None):
        return self.op(P.floordiv, a, b, name, lambda x, y: x // y, into)

    def mod(self, a, b, name="r", into=None):
        return self.op(P.mod, a, b, name, lambda x, y: x % y, into)

    def max0(self, a, name="n"):
        return self.op(P.maximum, a, ir.Const(0, _INT), name, max)

    def min(self, a, b, name="hi"):
        return self.op(P.minimum, a, b, name, min)


def _is_zero(a) -> bool:
    return isinstance(a, ir.Const) and int(a.value) == 0


def _blocks_used(total, nblocks: int, b: _IntBuilder, every: int = MIN_BLOCK_ITERATIONS):
    """The number of blocks a loop of ``total`` iterations runs in, computed with ``b``: one
    per ``every`` iterations (a shared accumulation: :data:`MIN_BLOCK_ITERATIONS`), 1 to
    ``nblocks``."""
    per = ir.Const(every, _INT)
    wanted = b.floordiv(b.add(total, ir.Const(every - 1, _INT), "n"), per, "blocks")
    return b.min(b.op(P.maximum, wanted, ir.Const(1, _INT), "blocks", max),
                 ir.Const(nblocks, _INT), "blocks")


def _blocked(loop: ir.ParallelFor, block_var, nblocks, extents, default_fp,
             lanes: int = 0, lane_refs=frozenset(), always: bool = False) -> ir.ParallelFor:
    """``for block in range(nblocks)`` (a constant or a value computed before the loop): each
    block runs a contiguous chunk of the iterations (``lanes`` at a time where
    :func:`tidal.dsl.lanes.vectorise_chunk` can, and, unless ``always``, expects a gain);
    ``extents`` are :func:`_extents` of ``loop``, computed before it."""
    body = loop.body
    outer: list = []
    b = _IntBuilder(outer, loop.loc)
    sizes, total = extents
    chunk = b.floordiv(b.add(total, b.sub(nblocks, ir.Const(1, _INT)), "n"), nblocks, "chunk")
    lo = b.mul(block_var, chunk, "lo")
    hi = b.min(b.add(lo, chunk, "hi"), total, "hi")
    inner: list = []
    flat = ir.Var("q", _INT)
    if len(loop.indices) == 1 and _is_zero(loop.starts[0]):
        flat = loop.indices[0]
    _decode(flat, loop, sizes, _IntBuilder(inner, loop.loc))
    chunk_body = ir.Block(inner + body.stmts, ())
    chunk = None
    if lanes > 1:
        chunk = lanes_pass.vectorise_chunk(flat, lo, hi, chunk_body, default_fp, loop.loc, lanes,
                                           lane_refs, always)
    if chunk is None:
        chunk = [ir.For(flat, lo, hi, (), chunk_body, (), loop.loc)]
    return ir.ParallelFor((block_var,), (ir.Const(0, _INT),), (nblocks,),
                          ir.Block(outer + chunk), loop.loc)


def _combine(ref, pref, elem, nblocks, loc, part_elem=None,
             flat: bool = False, fixed=None) -> ir.ParallelFor:
    """``ref[e] += sum over blocks of pref[block, e]``, resetting ``pref`` to zero (lane-wide
    partial sums, of type ``part_elem``, are summed over their lanes too; with ``flat``, ``pref``
    is indexed by the flat position of ``e``), for the elements ``e`` whose index at each
    position of ``fixed`` is the atom given there (the only ones the blocks add to)."""
    part_elem = part_elem or elem
    fixed = fixed or {}
    shape = tuple(int(d) for d in ref.obj.shape)
    free = [d for d in range(len(shape)) if d not in fixed]
    indices = tuple(ir.Var(f"e{d}", _INT) for d in free) or (ir.Var("e", _INT),)
    stops = tuple(ir.Const(shape[d], _INT) for d in free) or (ir.Const(1, _INT),)
    loop_index = dict(zip(free, indices))
    idx = [fixed[d] if d in fixed else loop_index[d] for d in range(len(shape))]
    blk = ir.Var("b", _INT)
    acc = ir.Var("total", elem)
    part, acc_next = ir.Var("part", part_elem), ir.Var("total", elem)
    zero = ir.Const(0.0 if elem.is_float else 0, elem)
    head: list = []
    pidx = [_flat_index(idx, shape, _IntBuilder(head, loc))] if flat else idx
    stmts = [ir.Assign([part], P.load, (blk, *pidx), (pref, part_elem), loc),
             ir.Assign([], P.store, (blk, *pidx, ir.Const(zero.value, part_elem)),
                       (pref, part_elem), loc)]
    value = part
    if part_elem != elem:
        value = ir.Var("part", elem)
        stmts.append(ir.Assign([value], P.sum_, (part,), (), loc))
    stmts.append(ir.Assign([acc_next], P.add, (acc, value), (), loc))
    loop_body = ir.Block(stmts, (acc_next,), (acc,))
    total = ir.Var("total", elem)
    stmts = head + [ir.For(blk, ir.Const(0, _INT), nblocks, (zero,), loop_body, (total,), loc)]
    stmts += _plain_add(ref, elem, idx, total, loc)
    return ir.ParallelFor(indices, tuple(ir.Const(0, _INT) for _ in indices), stops,
                          ir.Block(stmts), loc)


def _flat_index(idx, shape, b: _IntBuilder):
    """The row-major position of element ``idx`` of an array of constant ``shape``."""
    if not idx:
        return ir.Const(0, _INT)
    flat = idx[0]
    for i, n in zip(idx[1:], shape[1:]):
        flat = b.add(b.mul(flat, ir.Const(int(n), _INT), "flat"), i, "flat")
    return flat


def _lane_scratch(lane_elem: TType, shape: tuple):
    """An ndarray of lane vectors (partial sums of one kernel's blocks)."""
    arr = ti.ndarray(ti.types.vector(lane_elem.shape[0], getattr(ti, lane_elem.dtype.name)),
                     shape=shape)
    return arr  # zeroed by prepare, once the kernel's scratch fields are placed


def _scratch_field(elem: TType, shape: tuple):
    dtype = getattr(ti, elem.dtype.name)
    if elem.is_scalar:
        return ti.field(dtype)
    if elem.is_vector:
        return ti.Vector.field(elem.shape[0], dtype)
    return ti.Matrix.field(elem.shape[0], elem.shape[1], dtype)


def _place_scratch(fields: list) -> None:
    """Allocate the scratch fields of one kernel in one SNode tree (zero-initialised)."""
    if not fields:
        return
    fb = ti.FieldsBuilder()
    for f, shape in fields:
        fb.dense(ti.axes(*range(len(shape))), shape).place(f)
    _SCRATCH_TREES.append(fb.finalize())
