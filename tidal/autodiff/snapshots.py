"""Copies of memory that a tape keeps for its backward pass.

A tape saves the values a launch is about to overwrite and restores them before that launch's
adjoint runs. For a Taichi field the copy stays on the device: it goes into a slot of a buffer
field of the same element type and shape, by one small Taichi kernel (about 20 us a copy on a
2-core CPU, where ``to_numpy`` and ``from_numpy`` cost about 140 us each). Buffers are kept in
per-shape pools and reused by later tapes; a buffer grows by allocating a chunk twice the size
of the last, so a program allocates a few buffers once. NumPy arrays and Taichi ndarrays are
copied through NumPy.

Guarantees: ``restore(obj, save(obj))`` puts back exactly the values ``obj`` held at ``save``
(bit for bit); a slot is never handed out twice before it is released; copies run unseen by an
active tape.
"""


import numpy as np
import taichi as ti

from tidal.dsl import launches, runtime

# above this many elements, copies on the CPU run as parallel loops (below it, a serial loop
# avoids the cost of starting the thread pool, which dominates small copies)
_SERIAL_LIMIT = 1 << 18


@ti.kernel
def _save_serial(src: ti.template(), buf: ti.template(), slot: ti.i32):
    ti.loop_config(serialize=True)
    for index in ti.grouped(ti.ndrange(*src.shape)):
        buf[slot, index] = src[index]


@ti.kernel
def _load_serial(buf: ti.template(), slot: ti.i32, dst: ti.template()):
    ti.loop_config(serialize=True)
    for index in ti.grouped(ti.ndrange(*dst.shape)):
        dst[index] = buf[slot, index]


@ti.kernel
def _save_parallel(src: ti.template(), buf: ti.template(), slot: ti.i32):
    for index in ti.grouped(ti.ndrange(*src.shape)):
        buf[slot, index] = src[index]


@ti.kernel
def _load_parallel(buf: ti.template(), slot: ti.i32, dst: ti.template()):
    for index in ti.grouped(ti.ndrange(*dst.shape)):
        dst[index] = buf[slot, index]


class _Pool:
    """Slots for copies of fields of one element type and shape: buffer fields of shape
    ``(slots, *shape)``, each chunk twice the size of the one before."""

    def __init__(self, like):
        self.like = like
        self.free: list = []  # (buffer, slot)
        self.size = 0
        elements = int(np.prod(like.shape, dtype=np.int64)) * getattr(like, "n", 1) * \
            getattr(like, "m", 1)
        serial = runtime.config().arch == "cpu" and elements <= _SERIAL_LIMIT
        # Taichi's Kernel objects, launched past tidal's launch hook
        self.save_kernel = (_save_serial if serial else _save_parallel)._primal
        self.load_kernel = (_load_serial if serial else _load_parallel)._primal

    def take(self):
        if not self.free:
            self._grow()
        return self.free.pop()

    def _grow(self) -> None:
        slots = max(4, self.size)
        like = self.like
        shape = (slots, *like.shape)
        if hasattr(like, "n"):
            buf = (ti.Vector.field(like.n, like.dtype, shape=shape) if like.ndim == 1 else
                   ti.Matrix.field(like.n, like.m, like.dtype, shape=shape))
        else:
            buf = ti.field(like.dtype, shape=shape)
        self.size += slots
        self.free.extend((buf, s) for s in reversed(range(slots)))


_POOLS: dict = {}  # (runtime generation, element type and shape) -> _Pool


def _pool(field) -> _Pool:
    key = (runtime.config().generation, str(field.dtype), tuple(field.shape),
           getattr(field, "n", None), getattr(field, "m", None), getattr(field, "ndim", None))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = _Pool(field)
    return pool


class FieldCopy:
    """The contents of a field, held in a slot of a pooled buffer until released."""

    __slots__ = ("pool", "buf", "slot")

    def __init__(self, pool: _Pool, buf, slot: int):
        self.pool, self.buf, self.slot = pool, buf, slot


class Store:
    """The copies one tape holds; :meth:`release` returns their slots to the pools."""

    def __init__(self):
        self.held: list[FieldCopy] = []

    def save(self, obj):
        """A copy of the contents of a field, ndarray or NumPy array."""
        if isinstance(obj, np.ndarray):
            return obj.copy()
        if not hasattr(obj, "snode"):
            with launches.quiet():
                return obj.to_numpy()
        pool = _pool(obj)
        buf, slot = pool.take()
        launches.run_taichi(pool.save_kernel, (obj, buf, slot))
        copy = FieldCopy(pool, buf, slot)
        self.held.append(copy)
        return copy

    @staticmethod
    def restore(obj, saved) -> None:
        """Put back the contents ``saved`` (from :meth:`save` of the same object)."""
        if isinstance(saved, FieldCopy):
            launches.run_taichi(saved.pool.load_kernel, (saved.buf, saved.slot, obj))
        elif isinstance(obj, np.ndarray):
            np.copyto(obj, saved)
        else:
            with launches.quiet():
                obj.from_numpy(saved)

    def release(self, copies=None) -> None:
        """Return the slots of ``copies`` (default: every copy held) to their pools."""
        if copies is None:
            copies, self.held = self.held, []
        else:
            ids = {id(c) for c in copies}
            self.held = [c for c in self.held if id(c) not in ids]
        for c in copies:
            if isinstance(c, FieldCopy):
                c.pool.free.append((c.buf, c.slot))
