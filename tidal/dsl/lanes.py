"""SIMD lanes: several iterations of a parallel loop per CPU vector instruction.

On the CPU every iteration of a parallel loop is one thread's scalar code. This pass rewrites the
serial chunk loop of a blocked parallel loop (:func:`tidal.dsl.parallel._blocked`) so that each of
its iterations runs :data:`LANES` consecutive iterations of the original body at once:

* a value that may differ between iterations (it depends on the loop index) becomes a Taichi
  vector with one element per lane; a local vector or matrix of such values becomes a matrix with
  one row per element (row-major) and one column per lane;
* values that are the same for every iteration (weights, loop counters of inner loops) stay
  scalars and are computed once for all lanes;
* loads at a lane-dependent index gather one element per lane; stores and atomic adds at such an
  index scatter one per lane; an atomic add of lane values into one element adds their sum;
* the last group of a chunk may be partial: its missing lanes repeat the chunk's last iteration
  (so every load stays in bounds) and are masked out of atomic adds. Their stores write the same
  values to the same elements as the last lane, so they change nothing.

Guarantees: the rewritten loop performs the same loads, stores and atomic adds as the original
(atomic adds into one element are grouped by lanes, so floating-point sums may be associated
differently). The pass declines, returning None and leaving the scalar loop in place, for any
body it cannot vectorise this way: a branch or inner-loop bound that depends on the lane, a
store of lane values to a shared element, or an operation on lane values with no lane form.
Taichi only keeps vectors as SIMD values when a kernel is compiled with
``real_matrix_scalarize=False``; :func:`tidal.dsl.loader.load_kernel` does that for the kernels
this pass rewrote, and only for them. Taichi miscompiles some vector code in that mode, so a
kernel whose code anywhere falls outside :func:`vector_mode_safe` is not vectorised at all.
"""

from __future__ import annotations

from tidal.dsl import ir, optimize
from tidal.dsl import primitives as P
from tidal.dsl.calls import CallPrimitive
from tidal.dsl.dependence import dependent_vars
from tidal.dsl.types import I32, TType

LANES = 8

_INT = TType(I32)


class Decline(Exception):
    """Raised inside the pass when the body cannot be vectorised (the loop stays scalar)."""


# -- primitives that exist only in vectorised code ----------------------------------------------


def _names(args):
    return [a for a, _ in args]


def _indexable(args):
    """Argument sources safe to index (an inlined ``b + c`` is parenthesised)."""
    return [P._wrap(a, P.PREC_CALL) for a in args]


def _lane_row_cg(args, attrs, types):
    arr, row = _indexable(args)
    (lanes,) = attrs
    elems = ", ".join(f"{arr}[{row}, {lane}]" for lane in range(lanes))
    return f"ti.Vector([{elems}], dt=ti.{types[0].dtype.name})", P.PREC_CALL


def _lane_stack_cg(args, attrs, types):
    return f"ti.Matrix.rows([{', '.join(_names(args))}])", P.PREC_CALL


def _lane_cols_cg(args, attrs, types):
    (lanes,) = attrs
    return f"ti.Matrix.cols([{', '.join([args[0][0]] * lanes)}])", P.PREC_CALL


def _lane_gather_cg(args, attrs, types):
    ref, elem, lanes = attrs
    elems = []
    for lane in range(lanes):
        idx = ", ".join(f"{a}[{lane}]" if t.is_vector else a
                        for a, t in zip(_indexable(args), types))
        elems.append(f"{ref.name}[{idx or 'None'}]")
    if elem.is_scalar:
        return f"ti.Vector([{', '.join(elems)}], dt=ti.{elem.dtype.name})", P.PREC_CALL
    if P.needs_element_reads(ref, elem):
        return P.element_wise_source(elems, elem), P.PREC_CALL
    return f"ti.Matrix.cols([{', '.join(elems)}])", P.PREC_CALL


def _lane_map_cg(args, attrs, types):
    """An elementwise primitive applied lane by lane (for math Taichi has no vector form of)."""
    prim, lanes, dt, prim_attrs = attrs
    scalar_types = [t.scalar for t in types]
    elems = []
    for lane in range(lanes):
        lane_args = [(f"{P._wrap((a, p), P.PREC_CALL)}[{lane}]", P.PREC_CALL) if t.is_vector
                     else (a, p) for (a, p), t in zip(args, types)]
        elems.append(prim.codegen(lane_args, prim_attrs, scalar_types)[0])
    return f"ti.Vector([{', '.join(elems)}], dt=ti.{dt.name})", P.PREC_CALL


def _named(name: str, codegen) -> P.Primitive:
    # never inlined into their user, whose source repeats arguments once per lane
    return P.Primitive(name=name, infer=None, impl=None, codegen=codegen, cse=False,
                       inline_source=False)


lane_row = _named("lane_row", _lane_row_cg)
lane_stack = _named("lane_stack", _lane_stack_cg)
lane_gather = _named("lane_gather", _lane_gather_cg)
lane_cols = _named("lane_cols", _lane_cols_cg)
lane_map = _named("lane_map", _lane_map_cg)
lane_iota = _named("lane_iota", lambda args, attrs, types: (
    f"ti.Vector([{', '.join(map(str, range(attrs[0])))}], dt=ti.i32)", P.PREC_CALL))
lane_keep = _named("lane_keep", lambda args, attrs, types: args[0])
lane_neg = P.Primitive(name="lane_neg", infer=None, impl=None, cse=False,
                       codegen=lambda args, attrs, types: (
                           f"{P._wrap(args[0], P.PREC_MUL)} * -1", P.PREC_MUL))
lane_form = _named("lane_form", lambda args, attrs, types: (f"{attrs[0]}({args[0][0]})",
                                                            P.PREC_CALL))

_INT_OPS = {P.add: lambda a, b: a + b, P.sub: lambda a, b: a - b, P.mul: lambda a, b: a * b,
            P.floordiv: lambda a, b: a // b}


# -- the pass ----------------------------------------------------------------------------------


def lane_type(t: TType, lanes: int = LANES) -> TType:
    """The type of ``lanes`` values of type ``t``: a vector, or a matrix with a row per element."""
    return TType(t.dtype, (lanes,) if t.is_scalar else (t.size, lanes))


def vectorise_chunk(index: ir.Var, lo, hi, body: ir.Block, default_fp, loc,
                    lanes: int = LANES, lane_refs=frozenset(),
                    always: bool = False) -> list | None:
    """Statements that run ``for index in range(lo, hi): body`` with ``lanes`` iterations per
    vector, or None where the body cannot be vectorised or (unless ``always``: the kernel asked
    for lanes) would not run faster so (:func:`worth_vectorising`).

    Atomic adds into the references in ``lane_refs`` (at indices that are the same for all
    lanes) add the masked lane vector itself, for the caller to accumulate into lane-wide
    partial sums; other adds of lane values into one element add their sum.

    Example:
        >>> from tidal.dsl import ir
        >>> from tidal.dsl.types import F64, I32, TType
        >>> i = ir.Var("i", TType(I32))
        >>> lo, hi = ir.Const(0, TType(I32)), ir.Const(10, TType(I32))
        >>> vectorise_chunk(i, lo, hi, ir.Block(), F64, None) is None  # nothing to gain
        True
    """
    body = _inline_calls(body, default_fp)
    if body is None or not (always or worth_vectorising(index, body)):
        return None
    try:
        return _Vectoriser(index, body, lanes, loc, lane_refs).chunk_loop(lo, hi)
    except Decline:
        return None


# a lane-dependent memory access (a gather or scatter of one element per lane, with its index
# arithmetic in vectors) costs about as much as this many lane operations of arithmetic; a
# costly function (tanh, exp, ...) counts as COSTLY_OPERATION of them
ACCESS_COST = 2
COSTLY_OPERATION = 8


def worth_vectorising(index: ir.Var, body: ir.Block) -> bool:
    """Whether the arithmetic the loop body does on lane-dependent values outweighs its
    lane-dependent memory accesses (by the weights above). A body that mostly moves memory
    (a squared-mismatch sum: three loads, three operations) runs faster as the scalar loop:
    measured on the 2-core CPU, 0.50 ms scalar against 0.81 ms in 8 lanes for 410k elements
    of f64, while a network's forward pass, all arithmetic and tanh, runs several times faster
    in lanes.

    Example:
        >>> from tidal.dsl import ir
        >>> from tidal.dsl.types import I32, TType
        >>> i = ir.Var("i", TType(I32))
        >>> worth_vectorising(i, ir.Block())
        False
    """
    varying = dependent_vars((index,), body)
    accesses = work = 0
    for st in ir.walk(body):
        if not isinstance(st, ir.Assign):
            continue
        lane = any(isinstance(a, ir.Var) and a in varying for a in st.args)
        if not lane:
            continue
        if st.prim in (P.load, P.store, P.atomic_add):
            accesses += 1
        elif any(o.type.is_float for o in st.outs):
            work += COSTLY_OPERATION if st.prim.costly else 1
    return work > ACCESS_COST * accesses


def vectorised_block(block: ir.Block) -> bool:
    """Whether :func:`vectorise_chunk` rewrote a loop in ``block`` (the kernel must then be
    compiled in Taichi's vector mode, :func:`tidal.dsl.loader.load_kernel`)."""
    return any(isinstance(st, ir.Assign) and st.prim is lane_iota for st in ir.walk(block))


def vector_mode_safe(fn: ir.Function, default_fp, seen=None, whole_elements: bool = False
                     ) -> bool:
    """Whether all of ``fn``, and every function it calls, is code that Taichi compiles
    correctly in vector mode: vector and matrix values only in operations known to work there,
    and no field with vector or matrix elements. With ``whole_elements`` (a kernel whose
    ndarray arguments are all Taichi ndarrays, :func:`tidal.dsl.primitives.taichi_arrays_only`)
    plain stores of ndarray vector elements of power-of-two size are safe too: they and the
    reads of such arrays are then whole-element SIMD stores and loads (measured correct);
    atomic adds of vectors are not (Taichi 1.7.4 aborts: "Not supported")."""
    seen = set() if seen is None else seen
    for st in ir.walk(fn.body):
        if not isinstance(st, ir.Assign):
            continue
        if st.prim in (P.load, P.store, P.atomic_add):
            ref, elem = st.attrs
            # vector fields miscompile; ndarray vectors are read as primitives.needs_element_reads
            # says, but writes of vector elements are only proven safe where reads are whole
            whole_store = (whole_elements and st.prim is P.store
                           and (elem.size & (elem.size - 1)) == 0)  # a power of two
            if not elem.is_scalar and (st.prim is not P.load and not whole_store
                                       or not isinstance(ref.obj, P.ArrayArg)):
                return False
        if isinstance(st.prim, CallPrimitive):
            if st.prim not in seen:
                seen.add(st.prim)
                if not vector_mode_safe(st.prim.fn.ir(default_fp), default_fp, seen,
                                        whole_elements):
                    return False
            continue
        shaped = any(not a.type.is_scalar for a in (*st.args, *st.outs))
        # (Taichi 1.7.4: unary minus, abs, casts and math functions on float vectors abort the
        # process in LLVM; Primitive.vector_mode_safe records what is known to work)
        if shaped and not st.prim.vector_mode_safe:
            return False
    return True


def _inline_calls(body: ir.Block, default_fp) -> ir.Block | None:
    if not any(isinstance(st, ir.Assign) and isinstance(st.prim, CallPrimitive)
               for st in ir.walk(body)):
        return body
    free = ir.free_vars(body)
    fn = ir.Function("chunk", free, ir.Block(body.stmts, body.results))
    fn = optimize.rebuild(fn, default_fp, optimize.CallInliner)
    env = dict(zip(fn.params, free))
    if any(isinstance(st, ir.Assign) and isinstance(st.prim, CallPrimitive)
           for st in ir.walk(fn.body)):
        return None
    return _rename_block(fn.body, env)


def _rename_block(b: ir.Block, env: dict) -> ir.Block:
    """``b`` with the free vars in ``env`` replaced (the rebuilt body reads the chunk's vars)."""
    return ir.Copier().block(b, dict(env))


class _Vectoriser:
    """Builds the vectorised chunk loop. ``env`` maps each var of the original body to its new
    atom; ``lane`` holds the new vars that carry one value per lane."""

    def __init__(self, index: ir.Var, body: ir.Block, lanes: int, loc, lane_refs=frozenset()):
        self.index = index
        self.body = body
        self.lanes = lanes
        self.loc = loc
        self.varying = dependent_vars((index,), body)
        self.env: dict = {}
        self.lane: set = set()
        self.out: list = []
        self.mask = None
        self.lane_refs = lane_refs

    # -- helpers -------------------------------------------------------------------------------
    def emit(self, prim, args, out_type: TType | None, attrs=(), name="t", lane=True):
        outs = [ir.Var(name, out_type)] if out_type is not None else []
        self.out.append(ir.Assign(outs, prim, args, attrs, self.loc))
        if outs and lane:
            self.lane.add(outs[0])
        return outs[0] if outs else None

    def is_lane(self, a) -> bool:
        return isinstance(a, ir.Var) and a in self.lane

    def atom(self, a):
        return self.env.get(a, a) if isinstance(a, ir.Var) else a

    def spread(self, a, t: TType):
        """The lane form of new atom ``a`` of original type ``t`` (uniform values broadcast)."""
        if self.is_lane(a):
            return a
        lt = lane_type(t, self.lanes)
        if isinstance(a, ir.Const):
            if t.is_scalar:
                return ir.Const(a.value, lt)
            if not isinstance(a.value, tuple):
                return ir.Const(a.value, lt)
            flat = [x for row in a.value for x in (row if isinstance(row, tuple) else (row,))]
            return ir.Const(tuple(tuple([x] * self.lanes) for x in flat), lt)
        if t.is_scalar:
            return self.emit(P.broadcast, [a], lt, ((self.lanes,),), "b")
        if t.is_vector:
            return self.emit(lane_cols, [self.keep_uniform(a)], lt, (self.lanes,), "b")
        raise Decline  # a uniform local matrix used as lane values

    def keep_uniform(self, a):
        if not isinstance(a, ir.Var):
            return a
        return self.emit(lane_keep, [a], a.type, name="u", lane=False)

    def rows_of(self, a, t: TType, size: int):
        """New atom ``a`` of original type ``t`` as a lane array of ``size`` elements."""
        if t.is_scalar:
            row = self.keep(self.spread(a, t))
            return self.emit(lane_stack, [row] * size,
                             lane_type(TType(t.dtype, (size,)), self.lanes), name="rows")
        return self.spread(a, t)

    def keep(self, a):
        """``a`` as a named variable (for sources that repeat it once per lane)."""
        if not self.is_lane(a):
            return a
        return self.emit(lane_keep, [a], a.type, name="v")

    def row(self, idx, shape, int_ops):
        """The flat row of element ``idx`` of an array of ``shape`` (uniform integer atoms)."""
        if len(idx) == 1:
            return idx[0]
        r = idx[0]
        for i, n in zip(idx[1:], shape[1:]):
            r = int_ops(P.add, int_ops(P.mul, r, ir.Const(n, _INT)), i)
        return r

    def int_op(self, prim, a, b):
        if isinstance(a, ir.Const) and isinstance(b, ir.Const):
            return ir.Const(_INT_OPS[prim](int(a.value), int(b.value)), _INT)
        return self.emit(prim, [a, b], _INT, lane=False)

    def lane_elem(self, a, lane: int):
        return self.emit(P.getitem, [a, ir.Const(lane, _INT)], a.type.scalar, lane=False) \
            if self.is_lane(a) else a

    # -- the loop ------------------------------------------------------------------------------
    def chunk_loop(self, lo, hi) -> list:
        n = self.lanes
        q = ir.Var("q", _INT)
        span = self.int_op(P.add, self.int_op(P.sub, hi, lo), ir.Const(n - 1, _INT))
        groups = self.int_op(P.floordiv, span, ir.Const(n, _INT))
        head = self.out
        self.out = []
        base = self.int_op(P.add, lo, self.int_op(P.mul, q, ir.Const(n, _INT)))
        iota = self.emit(lane_iota, [], TType(I32, (n,)), (n,), "lane")
        at = self.emit(P.add, [base, iota], TType(I32, (n,)), name="at")
        last = self.int_op(P.sub, hi, ir.Const(1, _INT))
        self.mask = self.emit(P.lt, [at, hi], TType(I32, (n,)), name="live")
        self.env[self.index] = self.emit(P.minimum, [at, self.spread(last, _INT)],
                                         TType(I32, (n,)),
                                         name=self.index.name)
        self.block(self.body)
        loop = ir.For(q, ir.Const(0, _INT), groups, (), ir.Block(self.out, ()), (), self.loc)
        head.append(loop)
        self.out = head
        return head

    def block(self, b: ir.Block) -> None:
        for s in b.stmts:
            if isinstance(s, ir.Assign):
                self.assign(s)
            elif isinstance(s, ir.If):
                self.if_(s)
            elif isinstance(s, ir.For):
                self.for_(s)
            elif isinstance(s, ir.While):
                self.while_(s)
            else:
                raise Decline

    def sub_block(self, b: ir.Block, params, results_lane) -> ir.Block:
        saved = self.out
        self.out = []
        self.block(b)
        results = []
        for r, want_lane in zip(b.results, results_lane):
            a = self.atom(r)
            results.append(self.spread(a, r.type) if want_lane else a)
        out, self.out = self.out, saved
        return ir.Block(out, results, params)

    # -- statements ----------------------------------------------------------------------------
    def bind(self, old: ir.Var, lane: bool) -> ir.Var:
        new = ir.Var(old.name, lane_type(old.type, self.lanes) if lane else old.type)
        if lane:
            self.lane.add(new)
        self.env[old] = new
        return new

    def if_(self, s: ir.If) -> None:
        cond = self.atom(s.cond)
        if self.is_lane(cond):
            raise Decline  # a branch that differs between lanes
        want = [o in self.varying for o in s.outs]
        then = self.sub_block(s.then, (), want)
        orelse = self.sub_block(s.orelse, (), want)
        outs = [self.bind(o, w) for o, w in zip(s.outs, want)]
        self.out.append(ir.If(cond, then, orelse, outs, s.loc))

    def for_(self, s: ir.For) -> None:
        start, stop = self.atom(s.start), self.atom(s.stop)
        if self.is_lane(start) or self.is_lane(stop):
            raise Decline  # a trip count that differs between lanes
        want = [p in self.varying for p in s.params]
        inits = [self.spread(self.atom(a), a.type) if w else self.atom(a)
                 for a, w in zip(s.inits, want)]
        params = [self.bind(p, w) for p, w in zip(s.params, want)]
        index = ir.Var(s.index.name, s.index.type)
        self.env[s.index] = index
        body = self.sub_block(s.body, params, want)
        outs = [self.bind(o, w) for o, w in zip(s.outs, want)]
        self.out.append(ir.For(index, start, stop, inits, body, outs, s.loc))

    def while_(self, s: ir.While) -> None:
        inner = {v for b in s.blocks() for st in ir.walk(b) for v in st.defs()}
        if (inner | set(s.params) | set(s.outs)) & self.varying or any(
                self.is_lane(self.atom(a)) for a in ir.stmt_free_vars(s)):
            raise Decline  # a loop whose trip count may differ between lanes
        if any(isinstance(st, ir.Assign) and st.prim.effect for b in s.blocks()
               for st in ir.walk(b)):
            raise Decline
        self.out.append(_rename_block(ir.Block([s]), self.env).stmts[0])

    def assign(self, s: ir.Assign) -> None:
        prim = s.prim
        args = [self.atom(a) for a in s.args]
        if prim is P.atomic_add:
            self.atomic_add(s, args)
            return
        if prim is P.store:
            self.store(s, args)
            return
        if not any(self.is_lane(a) for a in args):
            self.out.append(ir.Assign(s.outs, prim, args, s.attrs, s.loc))
            for o in s.outs:
                self.env[o] = o
            return
        if len(s.outs) != 1:
            raise Decline
        (out,) = s.outs
        if prim.lane is not None and all(a.type.is_scalar for a in s.args):
            self.env[out] = self.elementwise(prim, s, args)
        elif prim.lane_arrays and not out.type.is_scalar:
            self.env[out] = self.array_elementwise(prim, s, args)
        elif prim is P.broadcast:
            self.env[out] = self.rows_of(args[0], s.args[0].type, out.type.size)
        elif prim is P.getitem:
            self.env[out] = self.getitem(s, args)
        elif prim is P.setitem:
            self.env[out] = self.setitem(s, args)
        elif prim is P.make:
            rows = [self.keep(self.spread(a, o.type)) for a, o in zip(args, s.args)]
            self.env[out] = self.emit(lane_stack, rows, lane_type(out.type, self.lanes),
                                      name=out.name)
        elif prim is P.load:
            self.env[out] = self.load(s, args)
        else:
            raise Decline

    def elementwise(self, prim, s: ir.Assign, args):
        out = s.outs[0]
        t = lane_type(out.type, self.lanes)
        if prim.lane == "neg":
            return self.emit(lane_neg, args, t, name=out.name)
        form = dict(prim.lane_forms).get(out.type.dtype.name)
        if form is not None:
            return self.emit(lane_form, [self.keep(self.spread(args[0], s.args[0].type))], t,
                             (form,), name=out.name)
        if prim.lane in ("broadcast", "spread"):
            if prim.lane == "spread":
                args = [self.spread(a, o.type) for a, o in zip(args, s.args)]
            return self.emit(prim, args, t, s.attrs, out.name)
        return self.emit(lane_map, [self.keep(a) for a in args], t,
                         (prim, self.lanes, out.type.dtype, s.attrs), out.name)

    def array_elementwise(self, prim, s: ir.Assign, args):
        """Elementwise arithmetic on vectors and matrices: on lane arrays, row by row."""
        out = s.outs[0]
        size = out.type.size
        new = []
        for a, o in zip(args, s.args):
            if o.type.is_scalar and not self.is_lane(a) and prim.lane == "broadcast":
                new.append(a)  # Taichi broadcasts a scalar over a matrix
            else:
                new.append(self.rows_of(a, o.type, size))
        if prim.lane == "neg":
            return self.emit(lane_neg, new, lane_type(out.type, self.lanes), name=out.name)
        return self.emit(prim, new, lane_type(out.type, self.lanes), s.attrs, out.name)

    def getitem(self, s: ir.Assign, args):
        arr, *idx = args
        if any(self.is_lane(i) for i in idx):
            raise Decline  # an index that differs between lanes
        r = self.row(idx, s.args[0].type.shape, self.int_op)
        return self.emit(lane_row, [arr, r], lane_type(s.outs[0].type, self.lanes),
                         (self.lanes,), s.outs[0].name)

    def setitem(self, s: ir.Assign, args):
        arr, val, *idx = args
        if any(self.is_lane(i) for i in idx):
            raise Decline
        arr = self.spread(arr, s.args[0].type)
        val = self.keep(val)
        r = self.row(idx, s.args[0].type.shape, self.int_op)
        for lane in range(self.lanes):
            arr = self.emit(P.setitem, [arr, self.lane_elem(val, lane), r, ir.Const(lane, _INT)],
                            arr.type, name=s.outs[0].name)
        return arr

    def load(self, s: ir.Assign, args):
        ref, elem = s.attrs
        if not elem.is_scalar and not isinstance(ref.obj, P.ArrayArg):
            raise Decline
        idx = [self.keep(a) for a in args]
        return self.emit(lane_gather, idx, lane_type(elem, self.lanes),
                         (ref, elem, self.lanes), s.outs[0].name)

    def store(self, s: ir.Assign, args):
        ref, elem = s.attrs
        *idx, val = args
        if not any(self.is_lane(i) for i in idx):
            if self.is_lane(val):
                raise Decline  # lane values stored to one element: which one wins?
            self.out.append(ir.Assign((), P.store, args, s.attrs, s.loc))
            return
        if not elem.is_scalar:
            raise Decline
        self.scatter(P.store, s.attrs, idx, val)

    def atomic_add(self, s: ir.Assign, args):
        ref, elem = s.attrs
        *idx, val = args
        if not elem.is_scalar:
            raise Decline
        zero = ir.Const(0.0 if elem.is_float else 0, lane_type(elem, self.lanes))
        live = self.emit(P.select, [self.mask, self.spread(val, elem), zero],
                         lane_type(elem, self.lanes), name="add")
        if not any(self.is_lane(i) for i in idx):
            if ref in self.lane_refs:
                self.out.append(ir.Assign((), P.atomic_add, [*idx, live], s.attrs, s.loc))
                return
            total = self.emit(P.sum_, [live], elem, name="total", lane=False)
            self.out.append(ir.Assign((), P.atomic_add, [*idx, total], s.attrs, s.loc))
            return
        self.scatter(P.atomic_add, s.attrs, idx, live)

    def scatter(self, prim, attrs, idx, val):
        idx = [self.keep(i) for i in idx]
        val = self.keep(val)
        for lane in range(self.lanes):
            lane_idx = [self.lane_elem(i, lane) for i in idx]
            self.out.append(ir.Assign((), prim, [*lane_idx, self.lane_elem(val, lane)], attrs,
                                      self.loc))
