"""Copies of memory that a tape keeps for its backward pass.

A tape saves the values a launch is about to overwrite and restores them before that launch's
adjoint runs. For a Taichi field the copy stays on the device: it goes into a slot of a buffer
field of the same element type and shape, by one small Taichi kernel per field and buffer that
takes only scalars, so that it launches directly (:mod:`tidal.dsl.direct`; about 25 us a copy
on a 2-core CPU, where Taichi's call of a template kernel costs about 85 us and ``to_numpy``
and ``from_numpy`` about 140 us each). Buffers are kept in
per-shape pools and reused by later tapes; a buffer grows by allocating a chunk twice the size
of the last, so a program allocates a few buffers once. NumPy arrays and Taichi ndarrays are
copied through NumPy.

Guarantees: ``restore(obj, save(obj))`` puts back exactly the values ``obj`` held at ``save``
(bit for bit); a slot is never handed out twice before it is released; copies run unseen by an
active tape.
"""


import numpy as np
import taichi as ti

from tidal.dsl import direct, field_io, launches, runtime


def _copy_kernel(src, buf, serial: bool):
    """The kernel ``copy(slot, back)``: ``buf[slot] = src`` (``back`` 0) or ``src =
    buf[slot]`` (``back`` 1), with both fields bound, so that only scalars are passed (it
    launches directly) and one compilation serves both directions."""

    @ti.kernel
    def copy(slot: ti.i32, back: ti.i32):
        ti.loop_config(serialize=serial)
        for index in ti.grouped(ti.ndrange(*src.shape)):
            if back:
                src[index] = buf[slot, index]
            else:
                buf[slot, index] = src[index]

    return copy._primal  # Taichi's Kernel object, launched past tidal's launch hook


class _Pool:
    """Slots for copies of fields of one element type and shape: buffer fields of shape
    ``(slots, *shape)``, each chunk twice the size of the one before."""

    def __init__(self, like):
        self.like = like
        self.free: list = []  # (buffer, slot)
        self.size = 0
        elements = int(np.prod(like.shape, dtype=np.int64)) * getattr(like, "n", 1) * \
            getattr(like, "m", 1)
        self.serial = field_io.serial(elements)  # (small copies skip the thread pool)
        # (id(field), id(buffer)) -> (field, copy kernel); the field is held so that its id
        # is not reused while the pool lives
        self.kernels: dict = {}

    def copy_kernel(self, field, buf):
        """The kernel copying between ``field`` and buffer ``buf`` (see :func:`_copy_kernel`)."""
        entry = self.kernels.get((id(field), id(buf)))
        if entry is None:
            entry = self.kernels[(id(field), id(buf))] = (
                field, _copy_kernel(field, buf, self.serial))
        return entry[1]

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
_POOL_OF: dict = {}  # id(field) -> (field, runtime generation, its _Pool)


def _pool(field) -> _Pool:
    generation = runtime.config().generation
    known = _POOL_OF.get(id(field))
    if known is not None and known[0] is field and known[1] == generation:
        return known[2]
    key = (generation, str(field.dtype), tuple(field.shape),
           getattr(field, "n", None), getattr(field, "m", None), getattr(field, "ndim", None))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = _Pool(field)
    _POOL_OF[id(field)] = (field, generation, pool)
    return pool


class FieldCopy:
    """The contents of a field, held in a slot of a pooled buffer until released."""

    __slots__ = ("pool", "buf", "slot", "kernel")

    def __init__(self, pool: _Pool, buf, slot: int, kernel):
        self.pool, self.buf, self.slot, self.kernel = pool, buf, slot, kernel


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
        kernel = pool.copy_kernel(obj, buf)
        direct.call(kernel, (slot, 0))
        copy = FieldCopy(pool, buf, slot, kernel)
        self.held.append(copy)
        return copy

    @staticmethod
    def restore(obj, saved) -> None:
        """Put back the contents ``saved`` (from :meth:`save` of the same object)."""
        if isinstance(saved, FieldCopy):
            direct.call(saved.kernel, (saved.slot, 1))
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
