"""Lowering of ``@td.kernel`` functions: the function lowering plus memory and parallel loops.

Guarantees of the :class:`KernelIR` returned by :func:`lower_kernel`, in addition to those of
:mod:`tidal.dsl.lowering`:

* the kernel is specialised to one launch signature: ``ti.template()`` arguments are bound to
  their objects, ndarray arguments to :class:`tidal.dsl.primitives.ArrayArg` references;
* top-level ``for`` loops are :class:`tidal.dsl.ir.ParallelFor` regions (unless preceded by
  ``ti.loop_config(serialize=True)``); their bodies modify no kernel-scope variable;
* memory is accessed only through ``load``, ``store`` and ``atomic_add`` (``+=``/``-=`` on an
  element is an atomic add, as in Taichi);
* no element is read after this kernel wrote its field, except a read of the very element an
  iteration stored earlier in the same block, which is replaced by the stored value, and reads
  of values a top-level serial loop wrote (checked by ``check_serial_loop``; after the loop
  they are the values the launch leaves). A kernel that reads a field after writing it
  otherwise is refused at the reading line, and one that overwrites a field after reading
  such values is refused at the writing line: its adjoint could not recompute the values
  read.
"""

from __future__ import annotations

import ast
import copy
import operator
from dataclasses import dataclass, field

import numpy as np
import taichi as ti
from taichi.lang.field import Field

from tidal.dsl import frontend, ir
from tidal.dsl import primitives as P
from tidal.dsl.errors import (
    TidalArgumentError,
    TidalError,
    TidalTypeError,
    UnsupportedConstructError,
)
from tidal.dsl.lowering import (
    Lowerer,
    assigned_names,
    field_element_type,
    holds_memory,
    is_static,
    target_names,
)
from tidal.dsl.types import I32, DType, TType, dtype_from_taichi, from_annotation


@dataclass
class KernelIR:
    """A kernel specialised to one launch signature.

    Attributes:
        fn: the IR (``fn.params`` are the scalar, vector and matrix arguments).
        signature: per Python parameter, ``(name, kind)`` with kind ``"value"``, ``"ndarray"``
            or ``"template"``, in order.
        arrays: the ndarray arguments by name.
        reads: the fields and ndarrays the kernel loads from.
        writes: those it stores to; ``adds``: those it atomically adds to.
        post_reads: those read in a serial loop after earlier iterations wrote them: the
            adjoint needs their values as the launch left them (see ``check_serial_loop``).
        narrowed: integer parameters declared with another width (``ti.i64``, ``ti.u32``,
            ...), by name: the kernel runs them as i32, and every launch checks that their
            values fit (:func:`check_narrowed`).
        vectorise: which parallel loops run several iterations per SIMD vector on the CPU
            (``td.kernel(vectorise=...)``; kept by the derived kernels): None those that add
            into shared elements, True every loop that can, False none.
        simd_lanes: iterations per SIMD vector for this kernel and its derivatives
            (``td.kernel(simd_lanes=...)``); None: the runtime's (``td.init(simd_lanes=...)``).
        simd_vectors: compile vector values as SIMD vectors and read and write vector
            elements of ndarrays whole, where that is known to compile correctly
            (``td.kernel(simd_vectors=True)``; kept by the derived kernels).
    """

    fn: ir.Function
    signature: list
    arrays: dict
    reads: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    adds: list = field(default_factory=list)
    post_reads: list = field(default_factory=list)
    access: dict = field(default_factory=dict)
    narrowed: dict = field(default_factory=dict)  # name -> declared integer type (i64, u32..)
    vectorise: bool | None = None
    simd_lanes: int | None = None
    simd_vectors: bool = False

    # ``access[ref][kind]``: per access, per dimension, ("c", value), ("arg", name, offset)
    # or None (the index varies); see :class:`tidal.autodiff.tape.LaunchPlan`


#: Integer parameter types a kernel may declare; tidal runs them as i32 and refuses, at launch,
#: a value that does not fit (never a silently wrapped index).
NARROWED_INTEGERS = frozenset({"i8", "i16", "i64", "u8", "u16", "u32", "u64"})


def check_narrowed(kir: KernelIR, args, loc) -> None:
    """Raise :class:`TidalArgumentError` if a value passed for a narrowed integer parameter
    (see :attr:`KernelIR.narrowed`) is not an integer in i32's range."""
    for (name, _), value in zip(kir.signature, args):
        if name not in kir.narrowed:
            continue
        try:
            as_int = operator.index(value)
        except TypeError:
            as_int = None
        if as_int is None or not -2 ** 31 <= as_int < 2 ** 31:
            raise TidalArgumentError(
                f"`{name}` is declared {kir.narrowed[name]} and got {value!r}: tidal runs "
                f"integer arguments as i32, which holds -2**31 .. 2**31 - 1",
                loc, "pass a smaller integer (an index or a count that fits in i32), or "
                     "split the value")


def is_template(ann) -> bool:
    return ann is ti.template or isinstance(ann, ti.template)


def is_ndarray_type(ann) -> bool:
    return type(ann).__name__ == "NdarrayType" or ann is ti.types.ndarray


def array_arg(name: str, ann, value, default_fp: DType) -> P.ArrayArg:
    """An :class:`ArrayArg` for the array passed as ``value`` to parameter ``name``."""
    ann_dtype = getattr(ann, "dtype", None)
    if hasattr(value, "element_shape"):  # a Taichi ndarray
        dt = dtype_from_taichi(value.dtype, default_fp)
        elem = TType(dt, tuple(value.element_shape))
        ndim = len(value.shape)
    elif isinstance(value, np.ndarray):
        if ann_dtype is not None and not isinstance(ann_dtype, type(ti.f64)):
            elem = from_annotation(ann_dtype, default_fp)
        else:
            elem = TType(_numpy_dtype(value.dtype, name), ())
        ndim = value.ndim - len(elem.shape)
    else:
        raise TidalTypeError(f"argument `{name}` must be an ndarray (Taichi or NumPy), got "
                             f"{type(value).__name__}")
    return P.ArrayArg(name, ndim, elem)


def _numpy_dtype(dt, name):
    from tidal.dsl.types import F32, F64

    table = {np.dtype(np.float64): F64, np.dtype(np.float32): F32, np.dtype(np.int32): I32}
    if dt not in table:
        raise TidalTypeError(f"ndarray argument `{name}` has dtype {dt}; use float64, float32 "
                             "or int32")
    return table[dt]


class KernelLowerer(Lowerer):
    """Lowers one kernel for one launch signature. Use :func:`lower_kernel`."""

    def __init__(self, pf, default_fp: DType, bindings: dict):
        super().__init__(pf, default_fp)
        self.bindings = bindings
        self.loop_depth = 0
        self.serialize_next = False
        self.in_parallel = False
        self.parallel_accesses: tuple = ([], [])  # (reads, writes) of the current parallel loop
        self.forward: dict = {}  # (reference, index atoms) -> value stored there, in this block
        self.write_log: list = []  # references in the order of the stores and adds lowered
        self.write_index: dict = {}  # reference -> index atoms of each write outside serial loops
        self.written: dict = {}
        self.written_outside_serial: set = set()
        self.reads: dict = {}
        self.writes: dict = {}
        self.adds: dict = {}
        self.serial = None  # loads and stores inside the current top-level serial loop
        self.post_reads: dict = {}
        self.read_sites: dict = {}  # (ref, id(node)) -> (serial loop or None, node)
        self.access: dict = {}
        self.scalar_params: dict = {}
        self.narrowed: dict = {}  # integer parameters of other widths, run as i32

    def run(self) -> KernelIR:
        pf = self.pf
        frontend.check_subset(pf)
        tree = frontend.rewrite_control_flow(copy.deepcopy(pf.tree))
        params, signature, arrays = [], [], {}
        for arg in tree.args.args:
            name = arg.arg
            if arg.annotation is None and not is_method_self(pf, arg):
                self.fail(arg, f"kernel parameter `{name}` has no type annotation",
                          "annotate it, e.g. `x: ti.template()`, `a: ti.types.ndarray()` or "
                          "`t: ti.i32`", TidalTypeError)
            ann = annotation_value(self.pf, arg)
            if is_template(ann):
                self.env[name] = self.bindings[name]
                signature.append((name, "template"))
            elif is_ndarray_type(ann):
                arr = self.bindings[name]
                self.env[name] = arr
                arrays[name] = arr
                signature.append((name, "ndarray"))
            else:
                if str(ann) in NARROWED_INTEGERS:  # checked to fit at every launch
                    self.narrowed[name] = str(ann)
                    ann = ti.i32
                v = ir.Var(name, self.to_type(ann, arg))
                params.append(v)
                self.env[name] = v
                if v.type.is_scalar and not v.type.is_float:
                    self.scalar_params[name] = v
                signature.append((name, "value"))
        with self.em:
            self.em.begin()
            self.block(tree.body)
            if self.results not in (None, (), (None,)):
                self.fail(tree, "differentiable kernels cannot return values",
                          "store results in a field (e.g. a 0-D loss field)",
                          UnsupportedConstructError)
            body = self.em.end(())
        fn = ir.Function(pf.name, params, body, pf.loc(tree))
        for r in called_reads(body, self.default_fp):
            self.reads.setdefault(r, r)
        return KernelIR(fn, signature, arrays, list(self.reads.values()),
                        list(self.writes.values()), list(self.adds.values()),
                        list(self.post_reads.values()), self.access, self.narrowed)

    # -- loops -------------------------------------------------------------------------------
    def stmt_Expr(self, node):
        v = node.value
        if isinstance(v, ast.Call):
            fn = self.expr(v.func)
            if fn is ti.loop_config:
                kw = {k.arg: self.static_eval(k.value, "a loop_config option") for k in v.keywords}
                self.serialize_next = bool(kw.get("serialize", False))
                return
            if fn in (ti.atomic_add, ti.atomic_sub):
                self.atomic_call(v, fn)
                return
        super().stmt_Expr(node)

    def stmt_For(self, node):
        it = node.iter
        if isinstance(it, ast.Call) and self._resolves_static(it.func):
            super().stmt_For(node)  # unrolled where it stands, at the top level too
            return
        if self.loop_depth == 0 and not self.serialize_next:
            self.parallel_for(node)
            return
        self.serialize_next = False
        # the outermost serial loop (at the top level, or inside a parallel loop: each
        # iteration then runs it serially) records its loads and stores: a read of what an
        # earlier iteration wrote is checked, and marked as read after the launch wrote it
        top = self.serial is None and isinstance(node.target, ast.Name)
        if self.serial is not None:
            self.serial["inner"].append(node)
        if top:
            self.serial = {"var": node.target.id, "loads": {}, "stores": {}, "inner": []}
        self.loop_depth += 1
        try:
            super().stmt_For(node)
        finally:
            self.loop_depth -= 1
        if top:
            self.check_serial_loop(self.serial, node)
            self.serial = None
        elif self.serial is not None:
            self.serial["inner"].pop()

    def _resolves_static(self, func_node) -> bool:
        try:
            return self.expr(func_node) is ti.static
        except TidalError:
            return False

    def stmt_While(self, node):
        self.loop_depth += 1
        try:
            super().stmt_While(node)
        finally:
            self.loop_depth -= 1

    # -- helpers -------------------------------------------------------------------------------
    def inlines(self, fn, args) -> bool:
        """In kernels a helper is also inlined when it writes memory, cannot be compiled on its
        own (unannotated parameters, stores), reads a field this kernel has written, or reads
        memory inside a serial loop: its loads and stores then take part in the kernel's store
        forwarding and checks."""
        if super().inlines(fn, args):
            return True
        from tidal.dsl import calls

        try:
            prim = calls.call_prim(fn, self.default_fp)
        except TidalError:
            return True
        if prim.writes_memory:
            return True
        if prim.reads_memory and self.serial is not None:
            # inside a serial loop the loop's own stores are known only once its body is
            # lowered: a callee that reads memory is inlined, so that its loads are checked
            # against them (a read of what an earlier iteration wrote needs the values the
            # launch leaves, not those a tape saved before it)
            return True
        if prim.reads_memory and self.written:
            return any(r in self.written for r in called_reads_of(fn, self.default_fp))
        return False

    def emit_call(self, fn, atoms, node):
        """A call left as a call also notes what it reads, in terms of the launch's
        arguments, for the tape (see :func:`call_read_patterns`)."""
        site = [self.site_entry(a) for a in atoms]
        for ref, pattern in call_read_patterns(fn, self.default_fp):
            mapped = tuple(_at_site(q, site) for q in pattern)
            seen = self.access.setdefault(ref, {}).setdefault("read", [])
            if mapped not in seen:
                seen.append(mapped)
        return super().emit_call(fn, atoms, node)

    def call_static(self, fn, args, kwargs, node):
        result = super().call_static(fn, args, kwargs, node)
        if getattr(fn, "__tidal_function__", False) and self.written and fn.pyfunc is None:
            # a call left as a call (a derived function has no source to inline) must not read
            # what this kernel wrote: its adjoint would recompute it from the old values
            for r in called_reads_of(fn, self.default_fp):
                if r in self.written:
                    self.fail(node, f"{fn.name} reads `{r.name}` after this kernel wrote it "
                              f"(line {self.written[r]})", "read the value before writing, pass "
                              "it as an argument, or split the kernel", UnsupportedConstructError)
        return result

    def enter_region(self, loop: bool):
        """Stores are forwarded to later loads in the same block: a branch starts with what
        was forwarded before it, a loop body (whose earlier iterations may have written) with
        nothing; after the region, elements of references written inside are not forwarded."""
        token = (self.forward, len(self.write_log))
        self.forward = {} if loop else dict(self.forward)
        return token

    def leave_region(self, token) -> None:
        forward, n = token
        written = set(self.write_log[n:])
        self.forward = {k: v for k, v in forward.items() if k[0] not in written}

    def enter_helper(self) -> None:
        self.loop_depth += 1  # loops inside helpers run serially, as in Taichi

    def leave_helper(self) -> None:
        self.loop_depth -= 1

    def parallel_for(self, node):
        ranges, targets, grouped = self.parallel_ranges(node)
        indices = [ir.Var(t, TType(I32)) for t in targets]
        outer = [n for n in assigned_names(node.body) if n in self.env and n not in targets
                 and not holds_memory(self.env[n])]
        if outer:
            self.fail(node, f"the parallel loop assigns `{outer[0]}`, a kernel-scope variable",
                      "iterations of a top-level loop run in parallel: accumulate into a field "
                      "with +=, or keep the variable inside the loop", UnsupportedConstructError)
        env0 = self.env
        self.env = dict(env0)
        self.env.update(zip(targets, indices))
        token = self.enter_region(loop=True)
        self.loop_depth += 1
        self.in_parallel = True
        self.parallel_accesses = ([], [])
        self.em.begin()
        try:
            if grouped is not None:  # `for I in ti.grouped(...)`: I is the vector of indices
                self.env[grouped] = P.make(*indices, shape=(len(indices),))
            self.block(node.body)
        finally:
            self.loop_depth -= 1
            self.in_parallel = False
        if not all(isinstance(a, ir.Const) and isinstance(b, ir.Const) and b.value - a.value <= 1
                   for a, b in ranges):
            self.check_other_iterations(indices)
        body = self.em.end(())
        self.env = env0
        self.leave_region(token)
        starts = [a for a, _ in ranges]
        stops = [b for _, b in ranges]
        self.em.append(ir.ParallelFor(indices, starts, stops, body, self.loc(node)))

    def check_other_iterations(self, indices) -> None:
        """Refuse a read of an element that another iteration of the parallel loop may write
        (``x[i + 1] += f(x[i])``): its value would depend on the order the iterations run in.
        A read is safe when the loop writes that field only at the very element read, indexed
        by every loop index (each iteration its own element), only at elements that carry every
        loop index at the same position as the read (each iteration its own slice), or only
        where uniform indices prove it differs (``s[t + 1, i]`` against ``s[t, i]``)."""
        reads, writes = self.parallel_accesses
        own = {id(v) for v in indices}
        for ref, ridx, node in reads:
            for wref, widx in writes:
                if wref != ref:
                    continue
                same = widx is not None and len(widx) == len(ridx) and all(
                    a is b or (isinstance(a, ir.Const) and isinstance(b, ir.Const)
                               and a.key() == b.key()) for a, b in zip(ridx, widx)) \
                    and own <= {id(a) for a in widx}
                # every loop index at the same position in both: iterations of the loop touch
                # disjoint elements (Y[e, t + 1] = f(Y[e, t]) in a serial loop inside `for e`)
                partitioned = widx is not None and len(widx) == len(ridx) and own <= {
                    id(a) for a, b in zip(ridx, widx) if a is b and id(a) in own}
                if not (same or partitioned
                        or self._differ_in_every_iteration(ridx, widx, own)):
                    self.fail(node, f"`{ref.name}` is read here and written by the same "
                              f"parallel loop (line {self.written.get(ref, '?')}) at elements "
                              "other iterations may touch", "iterations of a top-level loop "
                              "run in parallel, in no fixed order: read from one field and write "
                              "another, or split the loop into two kernels",
                              UnsupportedConstructError)

    def _differ_in_every_iteration(self, idx, other, own) -> bool:
        """Whether elements ``idx`` and ``other`` differ whatever the iterations: in some
        dimension both are ``b + c`` for one value ``b`` that no loop index (ids ``own``)
        feeds, with different constants ``c``."""
        if other is None:
            return False
        for a, b in zip(idx, other):
            ua, ub = self._invariant_offset(a, own), self._invariant_offset(b, own)
            if ua is not None and ub is not None and ua[0] is ub[0] and ua[1] != ub[1]:
                return True
        return False

    def _invariant_offset(self, a, own):
        """``(base, c)`` with ``a = base + c`` and ``base`` the same in every iteration (None for
        a constant ``a``), or None."""
        if isinstance(a, ir.Const):
            return (None, int(a.value))
        d = self.em.defs.get(a)
        if d is not None and d[0] in (P.add, P.sub) and isinstance(d[1][1], ir.Const) \
                and self._invariant(d[1][0], own):
            c = int(d[1][1].value)
            return (d[1][0], c if d[0] is P.add else -c)
        return (a, 0) if self._invariant(a, own) else None

    def _invariant(self, a, own) -> bool:
        """Whether atom ``a`` is computed from constants and kernel arguments only (no loop
        index, no memory)."""
        if isinstance(a, ir.Const):
            return True
        if id(a) in own:
            return False
        d = self.em.defs.get(a)
        if d is None:
            return a in self.scalar_params.values()
        return not d[0].touches_memory and all(self._invariant(x, own) for x in d[1])

    def parallel_ranges(self, node):
        """((start, stop) atoms per dimension, index names, the name of the grouped index or
        None) of a top-level loop."""
        it = node.iter
        names = target_names(node.target)
        if names is None:
            self.fail(node, "loop targets must be names", cls=UnsupportedConstructError)
        grouped = None
        if isinstance(it, ast.Call) and self.expr(it.func) is ti.grouped:
            if len(names) != 1 or len(it.args) != 1:
                self.fail(node, "ti.grouped(...) takes one field or ti.ndrange and gives one "
                          "index vector: `for I in ti.grouped(x):`", cls=TidalTypeError)
            grouped, it = names[0], it.args[0]
        if isinstance(it, ast.Call) and self._resolves_to(it.func, range):
            args = [self.atom(self.expr(a), node) for a in it.args]
            if len(args) == 3:
                self.fail(node, "a step in a parallel range is not supported",
                          "loop over range(n) and compute the index", UnsupportedConstructError)
            ranges = [(ir.Const(0, TType(I32)), args[0])] if len(args) == 1 else [tuple(args)]
        elif isinstance(it, ast.Call) and self.expr(it.func) is ti.ndrange:
            ranges = self.ndrange_args(it, node)
        else:
            ranges = self.index_ranges(self.expr(it), node)
            if ranges is None:
                self.fail(node, "top-level loops iterate over range(...), ti.ndrange(...), a "
                          "field or ndarray, or ti.grouped(...) of one",
                          cls=UnsupportedConstructError)
        if grouped is not None:
            names = [f"{grouped}_{d}" for d in range(len(ranges))]
        if len(ranges) != len(names):
            self.fail(node, f"the loop has {len(ranges)} dimensions but {len(names)} targets",
                      cls=TidalTypeError)
        return ranges, names, grouped

    # -- memory --------------------------------------------------------------------------------
    @staticmethod
    def _key(ref, idx):
        return (ref, tuple(a if isinstance(a, ir.Var) else a.key() for a in idx))

    def load(self, obj, node):
        ref, idx, et = self.memory_ref(obj, node)
        key = self._key(ref, idx)
        if key in self.forward:
            return self.forward[key]
        if ref in self.written and ref not in self.written_outside_serial:
            self.post_reads.setdefault(ref, ref)  # the value a serial loop left: final
        elif ref in self.written and not self.untouched(ref, idx):
            self.fail(node, f"`{ref.name}` is read here after this kernel wrote it (line "
                      f"{self.written[ref]})", "the adjoint could not recompute the value read: "
                      "use the value you stored, read before writing, or split the kernel",
                      UnsupportedConstructError)
        self.reads.setdefault(ref, ref)
        if self.in_parallel:
            self.parallel_accesses[0].append((ref, tuple(idx), node))
        self.read_sites[(ref, id(node))] = (None if self.serial is None else id(self.serial),
                                             node)
        self.note_access(ref, "read", idx)
        if self.serial is not None:
            self.record_serial("loads", ref, idx, node)
        return P.load(*idx, ref=ref, elem=et)

    def store(self, target, value, node):
        obj = self.memory_object(target)
        ref, idx, et = self.memory_ref(obj, target)
        if isinstance(value, tuple) and not et.is_scalar:  # `g[i, j] = [0, 0]`
            value = self.element_from_list(value, et, node)
        v = self.convert(self.atom(value, node), et, node)
        P.store(*idx, v, ref=ref, elem=et)
        self.mark_written(ref, node, idx)
        self.writes.setdefault(ref, ref)
        self.note_access(ref, "write", idx)
        self.forward[self._key(ref, idx)] = v

    def element_from_list(self, items, et: TType, node):
        """A vector or matrix element of type ``et`` from a (nested) Python list."""
        flat = [x for row in items for x in (row if isinstance(row, tuple) else (row,))]
        if len(flat) != et.size:
            self.fail(node, f"cannot store {len(flat)} values into an element of type {et}",
                      cls=TidalTypeError)
        elems = [self.convert(self.atom(x, node), et.scalar, node) for x in flat]
        return P.make(*elems, shape=et.shape)

    def mark_written(self, ref, node, idx=()):
        self.write_log.append(ref)
        if self.in_parallel:
            self.parallel_accesses[1].append((ref, tuple(idx) if idx else None))
        if self.serial is None:
            self.write_index.setdefault(ref, []).append(tuple(idx) if idx else None)
        # a forwarded element stays valid only where the write provably misses it
        key = self._key(ref, idx)[1] if idx else None
        for k in [k for k in self.forward if k[0] == ref and not _disjoint(k[1], key)]:
            del self.forward[k]
        if ref in self.post_reads:
            self.fail(node, f"`{ref.name}` is overwritten here after the kernel read values it "
                      f"had written (line {self.written[ref]})", "the adjoint recomputes those "
                      "reads from the values the kernel leaves: write the new values to "
                      "another field, or split the kernel", UnsupportedConstructError)
        if self.serial is not None:
            self.record_serial("stores", ref, idx, node)
            return  # reads in the loop are checked when the loop ends (check_serial_loop)
        self.written.setdefault(ref, node.lineno)
        self.written_outside_serial.add(ref)

    def _provably_differ(self, idx, other) -> bool:
        """Whether elements ``idx`` and ``other`` differ in some dimension indexed uniformly
        (see :meth:`untouched`); ``other`` None (a whole-field write) never differs."""
        return other is not None and any(
            a is not None and b is not None and a[0] is b[0] and a[1] != b[1]
            for a, b in zip(map(self._uniform, idx), map(self._uniform, other)))

    def untouched(self, ref, idx) -> bool:
        """Whether element ``idx`` of ``ref`` provably differs from every element this kernel
        has written to it (outside serial loops): then it still holds its value from before the
        launch, which the adjoint recomputes from. Proofs use indices that are the same in every
        iteration: constants and scalar arguments plus constants (``s[t, i]`` is untouched by
        writes to ``s[t + 1, j]``)."""
        return all(self._provably_differ(idx, w) for w in self.write_index.get(ref, ()))

    def _uniform(self, a):
        """``(base, offset)`` for an index atom that is ``offset`` (base None) or a scalar
        argument plus ``offset``; None for anything else."""
        if isinstance(a, ir.Const):
            return (None, int(a.value))
        for v in self.scalar_params.values():
            c = self._offset(a, v)
            if c is not None:
                return (v, c)
        return None

    def atomic(self, target, value, node, negate=False):
        obj = self.memory_object(target)
        ref, idx, et = self.memory_ref(obj, target)
        v = self.convert(self.atom(value, node), et, node)
        if negate:
            v = P.neg(v)
        if self.loop_depth == 0:
            # at the top level a kernel runs once, serially: `acc += v` is a read, an add and a
            # write, so later statements read the new value (forwarded)
            self.store(target, self.load(obj, target) + v, node)
            return
        P.atomic_add(*idx, v, ref=ref, elem=et)
        self.mark_written(ref, node, idx)
        self.adds.setdefault(ref, ref)
        self.note_access(ref, "write", idx)

    def note_access(self, ref, kind: str, idx) -> None:
        """Record which part of ``ref`` an access touches, in terms of the launch's scalar
        arguments (see :class:`KernelIR`)."""
        pattern = [self.site_entry(a) for a in idx]
        self.access.setdefault(ref, {}).setdefault(kind, [])
        if tuple(pattern) not in self.access[ref][kind]:
            self.access[ref][kind].append(tuple(pattern))

    def site_entry(self, a):
        """An index atom as an access-pattern entry: ``("c", value)``, ``("arg", name,
        offset)`` for a scalar argument plus a constant, or None."""
        if isinstance(a, ir.Const):
            return _constant_entry(a)
        for name, v in self.scalar_params.items():
            c = self._offset(a, v)
            if c is not None:
                return ("arg", name, c)
        return None

    def _offset(self, a, t):
        """``c`` when index atom ``a`` is ``t + c`` for the loop index ``t``, else None."""
        if a is t:
            return 0
        d = self.em.defs.get(a) if isinstance(a, ir.Var) else None
        if d is None or d[0] not in (P.add, P.sub):
            return None
        x, y = d[1]
        if x is t and isinstance(y, ir.Const):
            return int(y.value) if d[0] is P.add else -int(y.value)
        if y is t and isinstance(x, ir.Const) and d[0] is P.add:
            return int(x.value)
        return None

    def record_serial(self, kind, ref, idx, node):
        """Note a load or store inside a top-level serial loop (keyed by its source node, so
        that re-lowering the body replaces the entry)."""
        inner = self.serial["inner"][-1] if self.serial["inner"] else None
        self.serial[kind][(ref, id(node))] = (ref, idx, node, self.env.get(self.serial["var"]),
                                              inner)

    def check_serial_loop(self, rec, node):
        """A top-level serial loop may read what it wrote only where the value read is final:
        each iteration writes its own elements (one index is ``t + c``) and a read of
        ``t + c'`` either takes elements of earlier iterations (``c' < c``) or, for ``c' = c``,
        follows every write to them in the iteration, outside the loops that write. The adjoint
        then recomputes from the values left after the launch."""
        stored = {}
        for ref, idx, n, t, inner in rec["stores"].values():
            stored.setdefault(ref, []).append((idx, n, t, inner))
            self.written.setdefault(ref, n.lineno)
        for (ref, _), (loop, n) in self.read_sites.items():
            if ref in stored and loop != id(rec):
                self.fail(n, f"`{ref.name}` is read here and later overwritten by the loop at "
                          f"line {stored[ref][0][1].lineno}",
                          "the adjoint recomputes from the values the loop leaves: read it "
                          "inside that loop, or split the kernel", UnsupportedConstructError)
        pre_reads: dict = {}
        for ref, idx, n, t, inner in rec["loads"].values():
            if ref not in stored:
                continue
            # elements no store of the loop can touch (p[t - 1, i, j] against p[t, i, j], with
            # t the same in every iteration): nothing to check, nothing read after a write
            if all(self._differ_in_every_iteration(idx, si, set()) for si, _, _, _ in
                   stored[ref]):
                continue
            ok = False
            for d in range(len(idx)):
                cs = {self._offset(si[d], st) for si, _, st, _ in stored[ref]}
                c = self._offset(idx[d], t)
                if len(cs) != 1 or None in cs or c is None:
                    continue
                c_store = next(iter(cs))
                if c < c_store:
                    ok = True
                elif c == c_store:
                    ok = all((sn.lineno, sn.col_offset) < (n.lineno, n.col_offset)
                             and (si is None or si is not inner)
                             for _, sn, _, si in stored[ref])
                    # read before this iteration writes the element (v[i, j][0] = ...: the
                    # element is read, changed and stored), outside inner loops: the value
                    # from before the launch, which a tape restores before the adjoint
                    if not ok and inner is None and all(
                            (n.lineno, n.col_offset) <= (sn.lineno, sn.col_offset)
                            and si is None for _, sn, _, si in stored[ref]):
                        pre_reads.setdefault(ref, n)
                        ok = "pre"
                if ok:
                    break
            if ok == "pre":
                continue
            if not ok:
                self.fail(n, f"`{ref.name}` is read here in a loop that also writes it (line "
                          f"{stored[ref][0][1].lineno})",
                          "the adjoint needs every value read: index the field by the loop "
                          "variable (write x[t + 1] from x[t]), or launch one kernel per step",
                          UnsupportedConstructError)
            self.post_reads.setdefault(ref, ref)
        for ref, n in pre_reads.items():
            if ref in self.post_reads:
                self.fail(n, f"`{ref.name}` is read here before the loop overwrites it, and "
                          "elsewhere after: the adjoint cannot have both values",
                          "read the old values from another field, or split the kernel",
                          UnsupportedConstructError)

    def stmt_AugAssign(self, node):
        if self.memory_object(node.target) is not None:
            if isinstance(node.op, (ast.Add, ast.Sub)):
                value = self.expr(node.value)
                self.atomic(node.target, value, node, negate=isinstance(node.op, ast.Sub))
                return
        super().stmt_AugAssign(node)

    def atomic_call(self, call, fn):
        if len(call.args) != 2:
            self.fail(call, f"{fn.__name__} takes a target and a value", cls=TidalTypeError)
        target = call.args[0]
        if self.memory_object(target) is None:
            self.fail(call, f"{fn.__name__} needs a field or ndarray element as its target",
                      cls=UnsupportedConstructError)
        self.atomic(target, self.expr(call.args[1]), call, negate=fn is ti.atomic_sub)

    def expr_Attribute(self, node):
        base = self.expr(node.value)
        if isinstance(base, P.ArrayArg) and node.attr == "shape":
            ref = P.GlobalRef(base, base.name)
            return tuple(P.array_size(ref=ref, dim=d) for d in range(base.ndim))
        return super().expr_Attribute(node)

    def expr_Call(self, node):
        fn = self.expr(node.func)
        if fn in (ti.atomic_add, ti.atomic_sub):
            self.fail(node, f"the value returned by {fn.__name__} cannot be used",
                      "call it as a statement", UnsupportedConstructError)
        return super().expr_Call(node)


def _disjoint(a, b) -> bool:
    """Whether two index keys (see ``KernelLowerer._key``) provably name different elements:
    some dimension holds two different constants."""
    if a is None or b is None:
        return False
    return any(isinstance(x, tuple) and isinstance(y, tuple) and x != y for x, y in zip(a, b))


def parameter_kinds(pf) -> list:
    """Per kernel parameter ``(name, kind, annotation)``, kind ``template``/``ndarray``/
    ``value`` (annotations evaluated once and cached on the parsed function)."""
    kinds = getattr(pf, "_kinds", None)
    if kinds is None:
        kinds = []
        for a in pf.tree.args.args:
            ann = annotation_value(pf, a)
            kind = "template" if is_template(ann) else "ndarray" if is_ndarray_type(ann) \
                else "value"
            kinds.append((a.arg, kind, ann))
        pf._kinds = kinds
    return kinds


def signature_key(pf, args) -> tuple:
    """A hashable key of what a launch's arguments change in the generated code."""
    kinds = parameter_kinds(pf)
    if len(args) != len(kinds):
        names = ", ".join(k[0] for k in kinds)
        raise TidalTypeError(f"kernel {pf.name} takes {len(kinds)} arguments ({names}), got "
                             f"{len(args)}")
    key = []
    for (_, kind, _), value in zip(kinds, args):
        if kind == "template":
            key.append(("t", value) if is_static(value) and _hashable(value)
                       else ("t", id(value)))
        elif kind == "ndarray":
            es = tuple(getattr(value, "element_shape", ()))
            key.append(("a", type(value).__name__, str(value.dtype), len(value.shape), es))
        else:
            key.append(("v",))
    return tuple(key)


def bind(pf, args, default_fp: DType) -> dict:
    """Bindings of the template and ndarray parameters for a launch."""
    bindings = {}
    for (name, kind, ann), value in zip(parameter_kinds(pf), args):
        if kind == "template":
            bindings[name] = value
        elif kind == "ndarray":
            bindings[name] = array_arg(name, ann, value, default_fp)
    return bindings


def called_reads_of(fn, default_fp: DType) -> list:
    """Field references a tidal function loads, directly or through the functions it calls."""
    body = fn.ir(default_fp).body
    own = [s.attrs[0] for s in ir.walk(body) if isinstance(s, ir.Assign) and s.prim is P.load]
    return own + called_reads(body, default_fp, {fn})


def call_read_patterns(fn, default_fp: DType) -> list:
    """``(ref, pattern)`` for every load ``fn`` makes, directly or through the functions it
    calls: per dimension ``("c", value)``, ``("p", k, offset)`` (parameter ``k`` plus a
    constant) or None (anything else). Every load is covered (cached on ``fn``)."""
    key = ("read_patterns", default_fp)
    out = fn._call_prims.get(key)
    if out is None:
        f = fn.ir(default_fp)
        out = fn._call_prims[key] = _block_read_patterns(f.body, list(f.params), default_fp)
    return out


def _block_read_patterns(body: ir.Block, params: list, default_fp: DType) -> list:
    from tidal.dsl.calls import CallPrimitive

    defs = {}
    for st in ir.walk(body):
        if isinstance(st, ir.Assign) and len(st.outs) == 1:
            defs[st.outs[0]] = st

    def entry(a):
        if isinstance(a, ir.Const):
            return _constant_entry(a)
        if a in params:
            return ("p", params.index(a), 0)
        st = defs.get(a)
        if st is None or st.prim not in (P.add, P.sub):
            return None
        x, y = st.args
        ex, ey = entry(x), entry(y)
        if ex is None or ey is None or (ex[0] == "p" and ey[0] == "p"):
            return None
        if st.prim is P.sub:
            if ey[0] != "c":
                return None
            ey = ("c", -ey[1])
        if ex[0] == "c" and ey[0] == "c":
            return ("c", ex[1] + ey[1])
        p, c = (ex, ey) if ex[0] == "p" else (ey, ex)
        return ("p", p[1], p[2] + c[1])

    out = []
    for st in ir.walk(body):
        if not isinstance(st, ir.Assign):
            continue
        if st.prim is P.load:
            out.append((st.attrs[0], tuple(entry(a) for a in st.args)))
        elif isinstance(st.prim, CallPrimitive) and st.prim.reads_memory:
            site = [entry(a) for a in st.args]
            for ref, pattern in call_read_patterns(st.prim.fn, default_fp):
                out.append((ref, tuple(_at_site(q, site, "p") for q in pattern)))
    return out


def _constant_entry(a: ir.Const):
    """``("c", value)`` for an integer scalar constant (an index), None for any other."""
    if a.type.is_scalar and not a.type.is_float:
        return ("c", int(a.value))
    return None


def _at_site(q, site: list, kind: str = "arg"):
    """A callee's pattern entry ``q`` at a call whose argument entries are ``site``."""
    if q is None or q[0] == "c":
        return q
    s = site[q[1]]
    if s is None or s[0] == "c":
        return None if s is None else ("c", s[1] + q[2])
    return (s[0], s[1], s[2] + q[2]) if s[0] == kind else None


def called_reads(block: ir.Block, default_fp: DType, seen=None) -> list:
    """Field references loaded by the tidal functions ``block`` calls, transitively."""
    from tidal.dsl.calls import CallPrimitive

    seen = set() if seen is None else seen
    out = []
    for st in ir.walk(block):
        if isinstance(st, ir.Assign) and isinstance(st.prim, CallPrimitive):
            fn = st.prim.fn
            if fn in seen:
                continue
            seen.add(fn)
            body = fn.ir(default_fp).body
            out += [s.attrs[0] for s in ir.walk(body)
                    if isinstance(s, ir.Assign) and s.prim is P.load]
            out += called_reads(body, default_fp, seen)
    return out


def annotation_value(pf, arg):
    """The value of a kernel parameter's annotation (evaluated as Python in the kernel's
    namespace: annotations are Taichi type objects such as ``ti.types.ndarray()``). An annotation
    Python already evaluated when the kernel was defined is used as is, so names used only in
    annotations need not be captured. The ``self`` of a ``@ti.data_oriented`` method is a
    template (a Python object whose attributes the kernel reads)."""
    if is_method_self(pf, arg):
        return ti.template()
    if arg.annotation is None:
        return None
    evaluated = getattr(pf.pyfunc, "__annotations__", {}).get(arg.arg)
    if evaluated is not None and not isinstance(evaluated, str):
        return evaluated
    scope = dict(pf.globals)
    scope.update(pf.closure)
    try:
        return eval(compile(ast.Expression(arg.annotation), pf.filename, "eval"), scope)  # noqa: S307
    except Exception as e:  # noqa: BLE001 - report the failing annotation at its line
        raise TidalTypeError(f"cannot evaluate the annotation of `{arg.arg}`: {e}",
                             pf.loc(arg)) from None


def is_method_self(pf, arg) -> bool:
    """Whether ``arg`` is the ``self`` parameter of a kernel that is a method of a
    ``@ti.data_oriented`` class (``pf.method``, set when the kernel was made)."""
    return getattr(pf, "method", False) and arg.arg == pf.tree.args.args[0].arg


def _hashable(v) -> bool:
    try:
        hash(v)
        return not isinstance(v, (Field,))
    except TypeError:
        return False


def lower_kernel(pf, default_fp: DType, bindings: dict) -> KernelIR:
    """Lower a parsed kernel for the given bindings (see the module docstring)."""
    return KernelLowerer(pf, default_fp, bindings).run()


__all__ = ["KernelIR", "KernelLowerer", "bind", "field_element_type", "lower_kernel",
           "signature_key"]
