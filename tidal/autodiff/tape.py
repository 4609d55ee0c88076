"""``td.Tape``: record kernel launches, then run their generated adjoints in reverse.

Usage matches ``ti.ad.Tape`` (the loss is zeroed on entry, every kernel launched inside is
recorded: ``@td.kernel`` and plain ``@ti.kernel`` alike, the latter compiled by tidal from its
source)::

    with td.Tape(loss):
        for t in range(steps):
            step(t)
        compute_loss()
    # gradients are now in the .grad of the fields marked needs_grad=True

What the tape guarantees, where Taichi's does not:

* **Overwritten values.** Before a launch overwrites (or adds to) part of a field or ndarray
  that a recorded launch has read, the tape saves its values; the backward pass restores them
  before running the adjoint of that launch, so every adjoint recomputes with the values its
  launch saw. Which parts are read and written is known per launch from the kernel's index
  expressions (``x[t + 1, i]`` written while ``x[t, i]`` was read is no overwrite), so
  time-indexed programs save nothing. After the tape, memory holds the forward results again.
* **Intermediate storage.** Fields written during the tape carry gradients even without
  ``needs_grad`` (tidal allocates shadow storage); fields neither written during the tape nor
  marked ``needs_grad`` are constants.
* **Every launch is seen.** Plain Taichi kernels launched inside the tape (a grid cleared by a
  ``@ti.kernel`` between substeps) are recorded and differentiated like ``td.kernel``s, or
  refused at their first launch with an error naming the construct; ``field.fill`` and
  ``from_numpy`` inside the tape count as overwriting the field with constants; a kernel whose
  adjoint tidal cannot generate is refused at its first launch, not when the tape ends.
* **Bounded memory.** With ``checkpoint_every=k``, the state of everything the recorded launches
  overwrite is saved only before every k-th launch; the backward pass replays each segment of
  ``k`` launches from its checkpoint, saving values only within the segment, and runs its
  adjoints. Memory grows with ``launches / k + k`` saved states instead of ``launches``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from tidal.autodiff import kernels, memory, snapshots
from tidal.dsl import kernel as kernel_mod
from tidal.dsl import launches
from tidal.dsl import primitives as P
from tidal.dsl.errors import TidalArgumentError, TidalError

run_compiled = launches.run_compiled


# Taichi's own kernels behind Python-scope operations on fields and ndarrays: the position of the
# argument each one overwrites with values that do not depend on anything a kernel computed
_TAICHI_WRITERS = {
    "fill_field": 0, "fill_ndarray": 0, "fill_ndarray_matrix": 0, "field_fill_python_scope": 0,
    "ext_arr_to_tensor": 1, "ext_arr_to_ndarray": 1, "ext_arr_to_ndarray_matrix": 1,
    "ext_arr_to_matrix": 1, "arr_vulkan_layout_to_field_normal_layout": 1,
}
# ... and those that copy one field or ndarray into another (differentiable, not supported yet)
_TAICHI_COPIES = {"tensor_to_tensor", "ndarray_to_ndarray", "blit_from_field_to_field"}


def taichi_overwrite(kernel, args):
    """The object a Taichi-internal kernel overwrites with constants (``fill``,
    ``from_numpy``), or None for one that only reads (``to_numpy``).

    Raises:
        TidalError: for a copy between fields (``copy_from``), whose derivative tidal does not
            propagate.
    """
    name = kernel.func.__name__
    if name in _TAICHI_COPIES:
        raise TidalError(f"`{name}` (field.copy_from or a similar Python-scope copy) runs inside "
                         "a tape, and tidal does not differentiate it",
                         hint="copy with a kernel (`dst[i] = src[i]`), or outside the tape")
    pos = _TAICHI_WRITERS.get(name)
    return None if pos is None else args[pos]


def has_own_grad(obj) -> bool:
    return memory.own_storage(obj, "adjoint") is not None


def _is_float_obj(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind == "f"
    return "f" in str(obj.dtype)


class LaunchPlan:
    """What the tape needs from every launch of one kernel specialisation, worked out once:
    where each memory reference's object comes from (a fixed field, or an argument), the parts
    it writes, and the parts it reads that its adjoint reads again, as functions of the scalar
    arguments."""

    def __init__(self, spec):
        kir = spec.kir
        names = [n for n, _ in kir.signature]
        self.objects = {}
        for r in kir.reads + kir.writes + kir.adds:
            if isinstance(r.obj, P.ArrayArg):
                self.objects[id(r.obj)] = (names.index(r.obj.name), None)
            else:
                self.objects[id(r.obj)] = (None, r.obj)
        self.fixed = {rid: obj for rid, (pos, obj) in self.objects.items() if pos is None}
        self.from_args = [(rid, pos) for rid, (pos, obj) in self.objects.items()
                          if pos is not None]
        self.write_ids = [id(r.obj) for r in kir.writes + kir.adds]
        # what a launch with no array argument writes is the same every time
        self.fixed_writes = None if self.from_args else {
            id(self.fixed[rid]): self.fixed[rid] for rid in self.write_ids}
        kinds = [kind for _, kind in kir.signature]
        self.ndarray_positions = [i for i, kind in enumerate(kinds) if kind == "ndarray"]

        def patterns(r, kind):
            ndim = r.obj.ndim if isinstance(r.obj, P.ArrayArg) else len(r.obj.shape)
            out = []
            for pattern in kir.access.get(r, {}).get(kind, [(None,) * ndim]):
                out.append(tuple(None if q is None else ("c", q[1]) if q[0] == "c" else
                                 ("a", names.index(q[1]), q[2]) for q in pattern))
            return out

        # only values the adjoint reads must survive later overwrites (reads that feed linear
        # operations only, a copy or a sum, leave no load in the adjoint kernel); the adjoint
        # with every reference active reads a superset of what any narrower one reads
        needed = {id(r.obj) for r in kernels.transform(spec, "adjoint", kernels.all_active(spec))
                  .reads}
        reads = [(id(r.obj), p) for r in kir.reads if id(r.obj) in needed
                 for p in patterns(r, "read")]
        # parts read that do not depend on the arguments are noted once per tape
        self.const_reads = [(rid, p) for rid, p in reads if not _depends_on_args(p)]
        self.arg_reads = [(rid, p) for rid, p in reads if _depends_on_args(p)]
        writes = [(id(r.obj), [_first_fixed(p) for p in patterns(r, "write")])
                  for r in kir.writes + kir.adds]
        # what the launch reads of these after writing it, its adjoint recomputes from the
        # values the launch leaves: only earlier launches' reads make an overwrite matter
        post = {id(r.obj) for r in kir.post_reads}
        self.post_writes = [w for w in writes if w[0] in post]
        self.pre_writes = [w for w in writes if w[0] not in post]

    def resolve(self, args) -> dict:
        """Reference id -> the object it denotes in a launch with ``args``."""
        if not self.from_args:
            return self.fixed
        objs = dict(self.fixed)
        for rid, pos in self.from_args:
            objs[rid] = args[pos]
        return objs


def _depends_on_args(pattern) -> bool:
    return any(q is not None and q[0] == "a" for q in pattern)


def _first_fixed(pattern):
    """``(dimension, entry)`` of the first dimension a write pattern fixes, or None."""
    for d, q in enumerate(pattern):
        if q is not None:
            return d, q
    return None


def launch_plan(spec) -> LaunchPlan:
    plan = spec.__dict__.get("_launch_plan")
    if plan is None:
        plan = spec._launch_plan = LaunchPlan(spec)
    return plan


@dataclass(slots=True)
class Record:
    spec: object
    args: tuple | list
    objects: dict  # id(reference object) -> object at this launch (not to be mutated)
    saved: dict  # id(object) -> (object, contents before the launch)


class ConstantWrite:
    """A Python-scope write (``fill``, ``from_numpy``, ``x[None] = 0.0``) recorded by a tape:
    ``redo()`` overwrites (part of) ``obj`` with values that do not depend on the recorded
    launches."""

    name = "constant write"

    def __init__(self, obj, redo, clear):
        self.obj = obj
        self.redo = redo
        self.clear = clear  # zeroes the overwritten part of adjoint storage


class CustomGrad:
    """A call of a function decorated with ``ti.ad.grad_replaced``; its backward is the
    function registered with ``ti.ad.grad_for``."""

    name = "grad_replaced function"

    def __init__(self, func):
        self.func = func


class LinearStep:
    """A call of a :class:`~tidal.autodiff.linear.LinearMap`: its adjoint applies the map's
    transpose to the cotangents of what it wrote."""

    def __init__(self, op, srcs: list, dsts: list):
        self.op, self.srcs, self.dsts = op, srcs, dsts
        self.name = op.name


class Tape:
    """Records ``@td.kernel`` launches and, on exit, computes gradients of ``loss``.

    Args:
        loss: a 0-D field, or a one-element Taichi ndarray, with ``needs_grad=True``.
        clear_gradients: zero the gradients of the recorded fields and ndarrays first
            (as ``ti.ad.Tape`` does: every field's gradient in the runtime); ``"recorded"``:
            zero only the gradients of what the recorded launches touch and of ``wrt``, leaving
            other fields' gradients as they are (cheaper when the runtime holds other large
            fields).
        checkpoint_every: keep memory bounded by saving overwritten state only every
            ``checkpoint_every`` launches and recomputing in between.
        wrt: the fields and ndarrays whose gradients are wanted (default: every float field
            the launches read that has gradient storage). Fields the launches only read and
            that are not listed get no gradient (their gradient storage is left alone), so the
            adjoints skip that work. Listed objects that no launch reads get a zero gradient.
            One field or ndarray may be passed alone; anything else is a TidalArgumentError.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = ti.field(ti.f64, shape=3, needs_grad=True)
        >>> loss = ti.field(ti.f64, shape=(), needs_grad=True)
        >>> @td.kernel
        ... def energy():
        ...     for i in x:
        ...         loss[None] += x[i] ** 2
        >>> x.from_numpy(__import__("numpy").array([1.0, 2.0, 3.0]))
        >>> with td.Tape(loss):
        ...     energy()
        >>> x.grad.to_numpy().tolist()
        [2.0, 4.0, 6.0]
    """

    def __init__(self, loss, clear_gradients: bool = True, checkpoint_every: int | None = None,
                 wrt=None, _seed_shadow: bool = False):
        if loss is not None and not _seed_shadow and memory.own_storage(loss, "adjoint") is None:
            raise TidalArgumentError(
                "the loss has no gradient storage",
                hint="allocate it with needs_grad=True, e.g. "
                     "ti.field(ti.f64, shape=(), needs_grad=True)")
        shape = tuple(getattr(loss, "shape", ())) if loss is not None else ()
        if shape not in ((), (1,)):
            raise TidalArgumentError(f"the loss must be a 0-D field or a one-element ndarray, "
                                     f"got shape {shape}")
        if checkpoint_every is not None and (not isinstance(checkpoint_every, int)
                                             or checkpoint_every < 1):
            raise TidalArgumentError(f"checkpoint_every must be a positive int, got "
                                     f"{checkpoint_every!r}")
        if clear_gradients not in (True, False, "recorded"):
            raise TidalArgumentError(f"clear_gradients must be True, False or 'recorded', got "
                                     f"{clear_gradients!r}")
        self.loss = loss
        self.wrt = memory.wanted_objects(wrt)
        self.clear_gradients = clear_gradients
        self.checkpoint_every = checkpoint_every
        self.records: list[Record] = []
        self.written: dict = {}
        self.checkpoints: dict = {}  # launch number -> {id: (object, contents)}
        self.replaying = False
        self.extra_active: dict = {}  # objects with gradients though never written or marked
        self.read_index: dict = {}  # id(object) -> parts read so far (see _note_read)
        self._const_noted: set = set()
        self._fields_cleared = False  # fields' own gradients zeroed on entry
        self.passed: dict = {}  # Taichi ndarrays passed to recorded launches
        self.copies = snapshots.Store()  # saved values, released when the tape ends

    # -- recording -----------------------------------------------------------------------------
    def __enter__(self):
        if self.clear_gradients is True:
            ti.ad.clear_all_gradients()
            self._fields_cleared = True
        if self.loss is not None:
            # as ti.ad.Tape does: accumulated losses start at zero (a 0-D field by one element
            # store, far cheaper than a launched fill)
            if hasattr(self.loss, "snode") and tuple(self.loss.shape) == () \
                    and not hasattr(self.loss, "n"):
                with launches.quiet():
                    self.loss[None] = 0
            else:
                memory.zero(self.loss)
        launches.push(self)
        return self

    def taichi_launch(self, kernel, args):
        """A plain Taichi kernel launched inside the tape: compiled by tidal from its source
        and recorded like a ``td.kernel``; Taichi's own ``fill``/``from_numpy`` kernels are
        recorded as constant overwrites."""
        if launches.taichi_internal(kernel):
            obj = taichi_overwrite(kernel, args)
            if obj is not None:
                self._record_constant_write(
                    obj, lambda: launches.run_taichi(kernel, args))
            return launches.run_taichi(kernel, args)
        tk = kernel_mod.from_taichi(kernel)
        return self.launch(tk.specialize(args), args)

    def python_store(self, field, key, write) -> None:
        """``field[key] = v`` in Python scope inside the tape, about to run as ``write()``:
        recorded as a constant overwrite of that element."""
        if not hasattr(field, "n"):
            zero = 0
        elif getattr(field, "ndim", 1) == 1:
            zero = [0] * field.n  # (a literal: reading the element first costs a launch)
        else:
            zero = [[0] * field.m for _ in range(field.n)]

        def clear(adjoint):
            with launches.quiet():
                adjoint[key] = zero
        self._record_constant_write(field, write, clear)
        with launches.quiet():
            write()

    def _record_constant_write(self, obj, redo, clear=memory.zero) -> None:
        """Record that ``redo()`` (about to run) overwrites ``obj`` (or the part ``clear``
        zeroes in adjoint storage) with constants."""
        saved = {}
        if self.checkpoint_every is None or self.replaying:
            if self._read_before(obj, None, ()):
                saved[id(obj)] = (obj, self.copies.save(obj))
        elif not self.replaying and len(self.records) % self.checkpoint_every == 0:
            self.checkpoints[len(self.records)] = self._state_of(self.written | {id(obj): obj})
        self.written[id(obj)] = obj
        record = Record(ConstantWrite(obj, redo, clear), [], {id(obj): obj}, saved)
        (self.replayed if self.replaying else self.records).append(record)

    def grad_replaced(self, func, args) -> None:
        """A ``ti.ad.grad_replaced`` function called inside the tape: its ``grad_for`` function
        runs in its place in the backward pass (the kernels it launches are not recorded)."""
        if getattr(func, "grad", None) is None:
            raise TidalError(f"{func.__name__} is decorated with ti.ad.grad_replaced but has no "
                             "gradient function", hint="register one with @ti.ad.grad_for")
        record = Record(CustomGrad(func), list(args), {}, {})
        (self.replayed if self.replaying else self.records).append(record)

    def linear(self, op, srcs: list, dsts: list, args: tuple) -> None:
        """A :class:`~tidal.autodiff.linear.LinearMap` called inside the tape: recorded as one
        step (values it overwrites that a recorded launch read are saved first), then run."""
        n = len(self.records)
        k = self.checkpoint_every
        writes = {id(d): d for d in dsts}
        if k is not None and not self.replaying and n % k == 0:
            self.checkpoints[n] = self._state_of(self.written | writes)
        saved = {}
        if k is None or self.replaying:
            for d in dsts:
                first = op.pattern(d, args)
                fixed = (0, first[0]) if first and first[0] is not None else None
                if id(d) not in saved and self._read_before(d, fixed, args):
                    saved[id(d)] = (d, self.copies.save(d))
        for src in srcs:
            self._note_read(src, op.pattern(src, args), args)
        self.written.update(writes)
        objects = {id(o): o for o in srcs + dsts}
        record = Record(LinearStep(op, srcs, dsts), list(args), objects, saved)
        (self.replayed if self.replaying else self.records).append(record)
        op.run(srcs, dsts, args)

    def launch(self, spec, args):
        # the plan is made at a kernel's first launch, with its adjoint: a kernel tidal cannot
        # differentiate fails now, not when the tape ends
        plan = spec.__dict__.get("_launch_plan") or launch_plan(spec)
        for i in plan.ndarray_positions:
            if not isinstance(args[i], np.ndarray):
                self.passed[id(args[i])] = args[i]
        if plan.fixed_writes is None:
            objs = plan.resolve(args)
            writes = {id(objs[rid]): objs[rid] for rid in plan.write_ids}
            self._check_array_writes(spec, writes)
        else:
            objs, writes = plan.fixed, plan.fixed_writes
        n = len(self.records)
        k = self.checkpoint_every
        if k is not None and not self.replaying and n % k == 0:
            self.checkpoints[n] = self._state_of(self.written | writes)
        saving = k is None or self.replaying
        saved = {}
        if saving and plan.post_writes:
            self._save_overwritten(plan.post_writes, objs, args, saved)
        if plan.const_reads and plan not in self._const_noted:
            for rid, pattern in plan.const_reads:
                key = (id(objs[rid]), pattern)
                if key not in self._const_noted:
                    self._const_noted.add(key)
                    self._note_read(objs[rid], pattern, args)
            if plan.fixed_writes is not None:
                self._const_noted.add(plan)  # the same objects every launch: all noted
        for rid, pattern in plan.arg_reads:
            self._note_read(objs[rid], pattern, args)
        if saving and plan.pre_writes:
            self._save_overwritten(plan.pre_writes, objs, args, saved)
        self.written.update(writes)
        record = Record(spec, args, objs, saved)
        (self.replayed if self.replaying else self.records).append(record)
        return run_compiled(spec.forward(), spec.call_args(args))

    @staticmethod
    def _check_array_writes(spec, writes: dict) -> None:
        for obj in writes.values():
            if isinstance(obj, np.ndarray) and _is_float_obj(obj):
                raise TidalArgumentError(
                    f"kernel {spec.name} writes a NumPy array inside a tape",
                    hint="use a Taichi field or ti.ndarray (with needs_grad=True) for values "
                         "that are differentiated")

    def _save_overwritten(self, writes, objs, args, saved: dict) -> None:
        """Snapshot each written object whose written part overlaps a part read so far."""
        for rid, firsts in writes:
            obj = objs[rid]
            if id(obj) not in saved and any(self._read_before(obj, f, args) for f in firsts):
                saved[id(obj)] = (obj, self.copies.save(obj))

    def _note_read(self, obj, pattern, args) -> None:
        """Remember which part of ``obj`` was read: per dimension, the fixed indices seen and
        whether some read spanned the dimension."""
        idx = self.read_index.get(id(obj))
        if idx is None:
            idx = self.read_index[id(obj)] = ([set() for _ in pattern], [False] * len(pattern))
        fixed, spanned = idx
        for d, q in enumerate(pattern):
            if q is None:
                spanned[d] = True
            elif q[0] == "c":
                fixed[d].add(q[1])
            else:
                fixed[d].add(int(args[q[1]]) + q[2])

    def _read_before(self, obj, first, args) -> bool:
        """Whether a write fixing index ``first = (dimension, entry)`` (None: fixing none) may
        overwrite values a recorded launch read.

        Conservative: two parts are disjoint only if they differ in a fixed index."""
        idx = self.read_index.get(id(obj))
        if idx is None:
            return False
        if first is None:
            return True
        d, q = first
        fixed, spanned = idx
        v = q[1] if q[0] == "c" else int(args[q[1]]) + q[2]
        return spanned[d] or v in fixed[d]

    def _state_of(self, objs: dict) -> dict:
        return {oid: (obj, self.copies.save(obj)) for oid, obj in objs.items()}

    # -- backward ------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb):
        launches.pop(self)
        if exc_type is None:
            self.backward()
        else:
            self.copies.release()
        return False

    def _active(self) -> dict:
        # launches of a kernel with no array argument share one objects dict: visit each once
        dicts = {id(rec.objects): rec.objects for rec in self.records}
        seen = {}
        for objects in dicts.values():
            seen.update((id(o), o) for o in objects.values())
        objs = dict(self.extra_active)
        for oid, obj in seen.items():
            wanted = self.wrt is None or oid in self.wrt
            if _is_float_obj(obj) and (oid in self.written or (wanted and has_own_grad(obj))):
                objs[oid] = obj
        return objs

    def backward(self) -> None:
        """Run the adjoints of the recorded launches in reverse (``__exit__`` calls this)."""
        try:
            self._backward()
        finally:
            self.copies.release()

    def _backward(self) -> None:
        active = self._active()
        # objects the backward pass restores to earlier values get their final values back
        restored = {oid: obj for rec in self.records for oid, (obj, _) in rec.saved.items()}
        if self.checkpoint_every is not None:
            restored.update(self.written)
        final = self._state_of(restored)
        if self.clear_gradients:
            # ndarrays passed to recorded launches start from zero gradients too, also those
            # no launch read (their gradient is zero)
            for obj in self.passed.values():
                if id(obj) not in active and has_own_grad(obj) and _is_float_obj(obj):
                    memory.zero(self._adjoint_storage(obj))
        wanted_unread = [] if self.wrt is None else [
            obj for oid, obj in self.wrt.items()
            if oid not in active and has_own_grad(obj) and _is_float_obj(obj)]
        for obj in [*active.values(), *wanted_unread]:
            if obj is self.loss:
                continue  # its adjoint is set to one below
            # fields' own gradients were cleared on entry (ti.ad.clear_all_gradients)
            cleared = self._fields_cleared and has_own_grad(obj) and hasattr(obj, "snode")
            if not cleared and (self.clear_gradients or not has_own_grad(obj)):
                memory.zero(self._adjoint_storage(obj))
        # (the loss has one element; a launched fill for an ndarray, ordered after the zeroing
        # fills: on Vulkan, Taichi writes an ndarray element from Python at once, ahead of
        # queued fills)
        memory.fill(self._adjoint_storage(self.loss), 1.0)
        if self.checkpoint_every is None:
            self._reverse(self.records, active)
        else:
            self._reverse_checkpointed(active)
        for obj, saved in final.values():
            self.copies.restore(obj, saved)

    def _adjoint_storage(self, obj):
        if isinstance(obj, np.ndarray) or not hasattr(obj, "snode"):
            return memory.array_storage(obj, "adjoint")
        return memory.storage(obj, "adjoint")

    def _reverse(self, records, active: dict) -> None:
        # launches of one kernel on the same objects share their adjoint and its storage
        cache: dict = {}
        by_dict: dict = {}  # the same, keyed by the objects dict (records hold it alive)
        for rec in reversed(records):
            if isinstance(rec.spec, ConstantWrite):
                # the old values influence nothing after the write: their cotangent is zero
                rec.spec.clear(self._adjoint_storage(rec.spec.obj))
                for obj, saved in rec.saved.values():
                    self.copies.restore(obj, saved)
                continue
            if isinstance(rec.spec, CustomGrad):
                rec.spec.func.grad(*rec.args)
                continue
            if isinstance(rec.spec, LinearStep):
                step = rec.spec
                step.op.run_transpose([self._adjoint_storage(d) for d in step.dsts],
                                      [self._adjoint_storage(s) for s in step.srcs],
                                      tuple(rec.args))
                for obj, saved in rec.saved.values():
                    self.copies.restore(obj, saved)
                continue
            # (a kernel with no array argument has one objects dict for all its launches)
            hit = by_dict.get((id(rec.spec), id(rec.objects)))
            if hit is None:
                key = (id(rec.spec), tuple(map(id, rec.objects.values())))
                hit = cache.get(key)
                if hit is None:
                    act = frozenset(rid for rid, obj in rec.objects.items()
                                    if id(obj) in active)
                    adjoint = kernels.derived(rec.spec, "adjoint", act)
                    storage = kernels.storage_args(rec.spec, rec.args, "adjoint", act)
                    post = {id(rec.objects[id(r.obj)]) for r in rec.spec.kir.post_reads}
                    hit = cache[key] = (adjoint.forward(), storage, post)
                by_dict[(id(rec.spec), id(rec.objects))] = hit
            kernel, storage, post = hit
            if not rec.saved:
                run_compiled(kernel, rec.spec.call_args(rec.args) + storage)
                continue
            # values the launch read before writing them are restored first; values it read
            # after writing them (post_reads) are restored once its adjoint has run
            for oid, (obj, saved) in rec.saved.items():
                if oid not in post:
                    self.copies.restore(obj, saved)
            run_compiled(kernel, rec.spec.call_args(rec.args) + storage)
            for oid, (obj, saved) in rec.saved.items():
                if oid in post:
                    self.copies.restore(obj, saved)

    def _reverse_checkpointed(self, active: dict) -> None:
        k = self.checkpoint_every
        n = len(self.records)
        starts = list(range(0, n, k))
        for s in reversed(starts):
            checkpoint = self.checkpoints.pop(s)
            for obj, saved in checkpoint.values():
                self.copies.restore(obj, saved)
            self.copies.release([saved for _, saved in checkpoint.values()])
            self.replaying = True
            self.replayed = []
            launches.push(self)
            try:
                for rec in self.records[s:s + k]:
                    if isinstance(rec.spec, ConstantWrite):
                        self._record_constant_write(rec.spec.obj, rec.spec.redo,
                                                    rec.spec.clear)
                        with launches.quiet():
                            rec.spec.redo()
                    elif isinstance(rec.spec, CustomGrad):
                        rec.spec.func(*rec.args)  # records itself through Taichi's tape slot
                    elif isinstance(rec.spec, LinearStep):
                        self.linear(rec.spec.op, rec.spec.srcs, rec.spec.dsts,
                                    tuple(rec.args))
                    else:
                        self.launch(rec.spec, rec.args)
            finally:
                launches.pop(self)
                self.replaying = False
            self._reverse(self.replayed, active)
            # the segment's saved values are spent: their slots serve the next segment
            self.copies.release([saved for rec in self.replayed
                                 for _, saved in rec.saved.values()])
            self.replayed = []


def launch_with_adjoint(kernel, *args) -> None:
    """Launch ``kernel`` and its adjoint in one pass, for cotangents known in advance.

    For a kernel whose only effects are accumulations (``F[i] += v`` inside its parallel loops)
    into storage it does not read, with the cotangents of that storage already in its gradient
    storage (seeded by the caller): one generated kernel performs the accumulations and adds the
    kernel's vector-Jacobian product to the gradient storage of every float field it reads that
    has one (``needs_grad=True``). Gradients accumulate; nothing is cleared. This is what a
    :class:`Tape` would compute for such a launch, without running the kernel twice.

    Raises:
        TidalArgumentError: inside a tape, or for a kernel that stores values, reads what it
            accumulates into, or has effects outside its parallel loops.

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> w = ti.field(ti.f64, shape=(), needs_grad=True)
        >>> total = ti.field(ti.f64, shape=(), needs_grad=True)
        >>> @td.kernel
        ... def square_sum(x: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        ...     for i in range(x.shape[0]):
        ...         total[None] += (w[None] * x[i]) ** 2
        >>> w[None] = 2.0; total.grad[None] = 1.0
        >>> td.launch_with_adjoint(square_sum, np.array([1.0, 3.0]))
        >>> total[None], w.grad[None]  # 4 * (1 + 9) and d/dw = 2 w (1 + 9)
        (40.0, 40.0)
    """
    from tidal.dsl import ir

    if launches.current() is not None:
        raise TidalArgumentError("launch_with_adjoint cannot run inside a tape or tangent run",
                                 hint="launch the kernel normally inside the tape")
    spec = kernel.specialize(args)
    kir = spec.kir
    added = {id(r.obj) for r in kir.adds}
    problem = None
    if kir.writes:
        problem = "stores values (only accumulations F[i] += v are allowed)"
    elif added & {id(r.obj) for r in kir.reads}:
        problem = "reads storage it accumulates into"
    elif any(isinstance(st, ir.Assign) and st.prim.effect for st in kir.fn.body.stmts):
        problem = "has effects outside its parallel loops"
    if problem is not None:
        raise TidalArgumentError(f"kernel {spec.name} {problem}: its adjoint cannot run in the "
                                 f"same pass", hint="differentiate it with td.Tape")
    objs = launch_plan(spec).resolve(args)
    active = frozenset(rid for rid, obj in objs.items()
                       if _is_float_obj(obj) and has_own_grad(obj))
    fused = kernels.derived(spec, "value_adjoint", active)
    storage = kernels.storage_args(spec, list(args), "adjoint", active)
    run_compiled(fused.forward(), spec.call_args(list(args)) + storage)
