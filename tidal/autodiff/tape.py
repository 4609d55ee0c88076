"""``td.Tape``: record kernel launches, then run their generated adjoints in reverse.

Usage matches ``ti.ad.Tape``::

    with td.Tape(loss):
        for t in range(steps):
            step(t)
        compute_loss()
    # gradients are now in the .grad of the fields marked needs_grad=True

What the tape guarantees, where Taichi's does not:

* **Overwritten values.** Before a launch overwrites (or adds to) a field or ndarray whose current
  values a recorded launch has read, the tape saves them; the backward pass restores them before
  running the adjoint of that launch, so every adjoint recomputes with the values its launch saw.
  After the tape, memory holds the forward results again.
* **Intermediate storage.** Fields written during the tape carry gradients even without
  ``needs_grad`` (tidal allocates shadow storage); fields neither written during the tape nor
  marked ``needs_grad`` are constants.
* **Bounded memory.** With ``checkpoint_every=k``, the state of everything the recorded launches
  overwrite is saved only before every k-th launch; the backward pass replays each segment of
  ``k`` launches from its checkpoint, saving values only within the segment, and runs its
  adjoints. Memory grows with ``launches / k + k`` saved states instead of ``launches``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from tidal.autodiff import kernels, memory
from tidal.dsl.errors import TidalArgumentError
from tidal.dsl.kernel import run_compiled


def snapshot(obj):
    """A copy of a field's or ndarray's contents."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj.to_numpy()


def restore(obj, saved) -> None:
    if isinstance(obj, np.ndarray):
        np.copyto(obj, saved)
    else:
        obj.from_numpy(saved)


def has_own_grad(obj) -> bool:
    return memory.own_storage(obj, "adjoint") is not None


def _is_float_obj(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind == "f"
    return "f" in str(obj.dtype)


@dataclass
class Record:
    spec: object
    args: list
    objects: dict  # id(reference object) -> object at this launch
    reads: dict
    writes: dict
    saved: dict  # id(object) -> (object, contents before the launch)


class Tape:
    """Records ``@td.kernel`` launches and, on exit, computes gradients of ``loss``.

    Args:
        loss: a 0-D field, or a one-element Taichi ndarray, with ``needs_grad=True``.
        clear_gradients: zero the gradients of the recorded fields and ndarrays first
            (as ``ti.ad.Tape`` does).
        checkpoint_every: keep memory bounded by saving overwritten state only every
            ``checkpoint_every`` launches and recomputing in between.

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
                 _seed_shadow: bool = False):
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
        self.loss = loss
        self.clear_gradients = clear_gradients
        self.checkpoint_every = checkpoint_every
        self.records: list[Record] = []
        self.read: dict = {}
        self.written: dict = {}
        self.checkpoints: dict = {}  # launch number -> {id: (object, contents)}
        self.replaying = False
        self.extra_active: dict = {}  # objects with gradients though never written or marked

    # -- recording -----------------------------------------------------------------------------
    def __enter__(self):
        if self.clear_gradients:
            ti.ad.clear_all_gradients()
        kernels.push(self)
        return self

    def launch(self, spec, args):
        objs = kernels.ref_objects(spec, args)
        kir = spec.kir
        reads = {id(objs[id(r.obj)]): objs[id(r.obj)] for r in kir.reads}
        writes = {id(objs[id(r.obj)]): objs[id(r.obj)] for r in kir.writes + kir.adds}
        for oid, obj in writes.items():
            if isinstance(obj, np.ndarray) and _is_float_obj(obj):
                raise TidalArgumentError(
                    f"kernel {spec.name} writes a NumPy array inside a tape",
                    hint="use a Taichi field or ti.ndarray (with needs_grad=True) for values "
                         "that are differentiated")
        n = len(self.records)
        k = self.checkpoint_every
        if k is not None and not self.replaying and n % k == 0:
            self.checkpoints[n] = self._state_of(self.written | writes)
        saved = {}
        if k is None or self.replaying:
            saved = {oid: (obj, snapshot(obj)) for oid, obj in writes.items()
                     if oid in self.read or oid in reads}
        self.read.update(reads)
        self.written.update(writes)
        if not self.replaying:
            self.records.append(Record(spec, list(args), objs, reads, writes, saved))
        else:
            self.replayed.append(Record(spec, list(args), objs, reads, writes, saved))
        return run_compiled(spec.forward(), spec.call_args(args))

    @staticmethod
    def _state_of(objs: dict) -> dict:
        return {oid: (obj, snapshot(obj)) for oid, obj in objs.items()}

    # -- backward ------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb):
        kernels.pop(self)
        if exc_type is None:
            self.backward()
        return False

    def _active(self) -> dict:
        objs = dict(self.extra_active)
        for rec in self.records:
            for obj in rec.objects.values():
                if _is_float_obj(obj) and (has_own_grad(obj) or id(obj) in self.written):
                    objs[id(obj)] = obj
        return objs

    def backward(self) -> None:
        active = self._active()
        final = self._state_of({oid: obj for oid, obj in self.written.items()})
        for obj in active.values():
            if self.clear_gradients or not has_own_grad(obj):
                memory.zero(self._adjoint_storage(obj))
        loss_grad = self._adjoint_storage(self.loss)
        if isinstance(loss_grad, np.ndarray):
            loss_grad.reshape(-1)[0] = 1.0
        elif tuple(loss_grad.shape) == ():
            loss_grad[None] = 1.0
        else:
            loss_grad[0] = 1.0
        if self.checkpoint_every is None:
            self._reverse(self.records, active)
        else:
            self._reverse_checkpointed(active)
        for obj, saved in final.values():
            restore(obj, saved)

    def _adjoint_storage(self, obj):
        if isinstance(obj, np.ndarray) or not hasattr(obj, "snode"):
            return memory.array_storage(obj, "adjoint")
        return memory.storage(obj, "adjoint")

    def _reverse(self, records, active: dict) -> None:
        for rec in reversed(records):
            post = {id(rec.objects[id(r.obj)]) for r in rec.spec.kir.post_reads}
            # values the launch read before writing them are restored first; values it read
            # after writing them (post_reads) are restored once its adjoint has run
            for oid, (obj, saved) in rec.saved.items():
                if oid not in post:
                    restore(obj, saved)
            act = frozenset(rid for rid, obj in rec.objects.items() if id(obj) in active)
            adjoint = kernels.derived(rec.spec, "adjoint", act)
            args = rec.spec.call_args(rec.args)
            args += kernels.storage_args(rec.spec, rec.args, "adjoint", act)
            run_compiled(adjoint.forward(), args)
            for oid, (obj, saved) in rec.saved.items():
                if oid in post:
                    restore(obj, saved)

    def _reverse_checkpointed(self, active: dict) -> None:
        k = self.checkpoint_every
        n = len(self.records)
        starts = list(range(0, n, k))
        for s in reversed(starts):
            for obj, saved in self.checkpoints[s].values():
                restore(obj, saved)
            self.replaying = True
            self.replayed = []
            kernels.push(self)
            try:
                for rec in self.records[s:s + k]:
                    self.launch(rec.spec, rec.args)
            finally:
                kernels.pop(self)
                self.replaying = False
            self._reverse(self.replayed, active)
            self.replayed = []
