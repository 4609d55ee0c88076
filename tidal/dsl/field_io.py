"""Filling Taichi fields and ndarrays, and moving fields, whole or one time slice, to and from
NumPy, fast.

Taichi's ``field.fill``, ``from_numpy`` and ``to_numpy`` are template kernels: every call
re-derives the instance key from the field in Python (about 85 us on this project's 2-core
machine) and runs a parallel loop, whose thread-pool start costs about as much again for a
small field. Simulators and tapes move their parameters, losses and gradients at every
evaluation, so for them that is most of the time of a small problem. Here each field gets its
own small kernels, with the field bound in (their arguments are only scalars and NumPy arrays,
so :mod:`tidal.dsl.direct` launches them straight into their compiled code), made on first use
and kept for the life of the runtime; on the CPU, a field of at most :data:`SERIAL_LIMIT`
values is filled or copied by a serial loop.

Taichi's ``Ndarray.fill`` is a memory fill only for 32-bit scalar ndarrays on the CPU and CUDA;
any other (float64 above all) goes through a kernel that computes every element's whole index
(about 140 us for 16,384 float64 values, 4.3 ms for 655,360, where a loop over the last axis
takes 40 us and 0.7 ms). :func:`fill` gives those ndarrays such a loop, serial when small, and
:func:`fill_all` fills many in one launch (the zeroing of a network's intermediates and their
gradients: 55 launches of about 50 us each become one).

Taichi's ``from_numpy`` and ``to_numpy`` of an ndarray are template kernels too (about 0.1 ms a
call): :func:`ndarray_from_numpy` and :func:`ndarray_to_numpy` copy an ndarray of scalars by one
kernel per type and number of dimensions that takes both arrays as arguments (a surrogate's
batch moves four a training step).

Guarantees: :func:`fill` sets every element (every component of a vector or matrix element)
to ``value``; :func:`from_numpy` sets ``field`` to ``array`` (cast to the field's type), and
:func:`ndarray_from_numpy` an ndarray of scalars to an array of exactly its shape;
:func:`to_numpy` returns a new array of ``field.shape + element shape`` in the field's NumPy
type; :func:`write_slice` / :func:`read_slice` do the same for ``field[s, ...]`` only. All run
unseen by an active tape and work on scalar, vector and matrix fields of any number of
dimensions (a 0-d field too), on every backend.

Example:
    >>> import numpy as np, taichi as ti, tidal as td
    >>> from tidal.dsl import field_io
    >>> _ = td.init(arch="cpu", default_fp=td.f64)
    >>> f = ti.Vector.field(2, ti.f64, shape=(3, 4))
    >>> field_io.write_slice(f, 1, np.arange(8.0).reshape(4, 2))
    >>> field_io.read_slice(f, 1)[3].tolist(), field_io.read_slice(f, 0)[3].tolist()
    ([6.0, 7.0], [0.0, 0.0])
    >>> field_io.fill(f, 0.5); float(field_io.to_numpy(f).sum())
    12.0
    >>> a = ti.ndarray(ti.f32, shape=(2, 3))
    >>> field_io.ndarray_from_numpy(a, np.arange(6.0).reshape(2, 3))
    >>> field_io.ndarray_to_numpy(a)[1].tolist()
    [3.0, 4.0, 5.0]
"""

import ctypes
import math

import numpy as np
import taichi as ti
from taichi.lang.util import to_numpy_type
from taichi.types import primitive_types

from tidal.dsl import direct, launches, loader, runtime

# on the CPU, fields of at most this many values are filled and copied by a serial loop
# (below it, starting the thread pool costs more than the loop)
SERIAL_LIMIT = 1 << 18


def element_shape(storage) -> tuple:
    """The shape of one element of a field or ndarray ``storage`` (``()`` for scalars)."""
    if not hasattr(storage, "n"):
        return ()
    ndim = getattr(storage, "ndim", 2 if hasattr(storage, "m") else 1)  # (ndarrays have no ndim)
    return (storage.n,) if ndim == 1 else (storage.n, storage.m)


def numpy_type(field):
    """The NumPy type of ``field``'s values."""
    return np.dtype(to_numpy_type(field.dtype))


def serial(values: int) -> bool:
    """Whether a loop over ``values`` values runs serially (on the CPU, when small)."""
    return runtime.config().arch == "cpu" and values <= SERIAL_LIMIT


def fill(storage, value) -> None:
    """Every element (every component) of a field or ndarray ``storage`` set to the scalar
    ``value``."""
    fill_all([storage], value)


def fill_all(storages, value) -> None:
    """:func:`fill` for each field and ndarray of ``storages``; the ndarrays without a memory
    fill of Taichi's are filled together, one launch per type (up to :data:`MAX_FILLED_TOGETHER`
    ndarrays each)."""
    groups: dict = {}
    for storage in storages:
        if hasattr(storage, "snode"):
            k = _kernels(storage)
            _launch(k.fill, (k.dtype.type(value).item(),))
        elif _taichi_memory_fill(storage):
            with launches.quiet():
                storage.fill(value)
        elif math.prod(storage.shape):
            groups.setdefault(str(storage.dtype), []).append(storage)
    for arrays in groups.values():
        for start in range(0, len(arrays), MAX_FILLED_TOGETHER):
            _fill_together(arrays[start:start + MAX_FILLED_TOGETHER], value)


# ndarrays filled by one launch at most (a kernel's arguments are set one by one in Python)
MAX_FILLED_TOGETHER = 64


def _taichi_memory_fill(arr) -> bool:
    """Whether Taichi's own ``fill`` of the ndarray ``arr`` is a memory fill (or it is 0-d)."""
    scalar32 = not element_shape(arr) and np.dtype(to_numpy_type(arr.dtype)).itemsize == 4
    return not arr.shape or (scalar32 and runtime.config().arch in ("cpu", "cuda"))


_FILLS: dict = {}


def _fill_together(arrays: list, value) -> None:
    """Fill ndarrays of one type in one launch (serial loops when small, on the CPU)."""
    kinds = tuple((len(a.shape), element_shape(a)) for a in arrays)
    values = sum(math.prod(tuple(a.shape) + el) for a, (_, el) in zip(arrays, kinds))
    key = (runtime.config().generation, str(arrays[0].dtype), kinds, serial(values))
    kernel = _FILLS.get(key)
    if kernel is None:
        if any(k[0] != key[0] for k in _FILLS):
            _FILLS.clear()  # a new runtime: every kernel of the old one is gone
        kernel = _FILLS[key] = _make_fill(arrays[0].dtype, kinds, key[-1])
    with launches.quiet():
        kernel(*arrays, numpy_type(arrays[0]).type(value).item())


def _make_fill(dtype, kinds: tuple, serialize: bool):
    """A kernel ``fill(a0, a1, ..., value)`` for ndarrays of ``kinds`` (``(dimensions, element
    shape)`` each) holding values of ``dtype``: per ndarray, its last axis an inner loop
    (contiguous stores), the others the loop Taichi runs (in parallel unless ``serialize``)."""
    scalar = next(t for t in primitive_types.all_types if t == dtype)
    namespace = {"ti": ti, "S": scalar}
    params, body = [], []
    for i, (dims, el) in enumerate(kinds):
        namespace[f"T{i}"] = (scalar if not el else ti.types.vector(el[0], scalar) if len(el) == 1
                              else ti.types.matrix(el[0], el[1], scalar))
        params.append(f"a{i}: ti.types.ndarray(dtype=T{i}, ndim={dims})")
        element = ("value" if not el else f"ti.Vector.zero(S, {el[0]}) + value" if len(el) == 1
                   else f"ti.Matrix.zero(S, {el[0]}, {el[1]}) + value")
        body += [f"    ti.loop_config(serialize={serialize})",
                 f"    for index in ti.grouped(ti.ndrange(*a{i}.shape[:{dims - 1}])):",
                 f"        for j in range(a{i}.shape[{dims - 1}]):",
                 f"            a{i}[index, j] = {element}"]
    source = "\n".join([f"def fill({', '.join(params)}, value: S):", *body]) + "\n"
    return loader.load("@ti.kernel\n" + source, "fill", namespace, "fill")


def from_numpy(field, array) -> None:
    """``field`` set to ``array`` (of shape ``field.shape + element shape``)."""
    k = _kernels(field)
    _launch(k.load, (_as_array(array, k.shape, k.dtype),))


def to_numpy(field) -> np.ndarray:
    """A copy of ``field`` as a NumPy array of its shape and element shape."""
    k = _kernels(field)
    out = np.empty(k.shape, dtype=k.dtype)
    _launch(k.store, (out,))
    return out


def ndarray_from_numpy(arr, array) -> None:
    """The Taichi ndarray ``arr`` (of scalars) set to ``array`` (cast to its type)."""
    values = np.asarray(array, dtype=numpy_type(arr))
    if not values.flags.c_contiguous:
        values = np.array(values, order="C")
    if values.shape != tuple(arr.shape):
        raise ValueError(f"an array of shape {values.shape} for an ndarray of shape "
                         f"{tuple(arr.shape)}")
    if not arr.shape:  # (0-d: Taichi's own copy)
        with launches.quiet():
            arr.from_numpy(values)
        return
    _launch(_copy_kernel(arr), (arr, values))


def ndarray_to_numpy(arr) -> np.ndarray:
    """A copy of the Taichi ndarray ``arr`` (of scalars) as a NumPy array of its shape."""
    if not arr.shape:
        with launches.quiet():
            return arr.to_numpy()
    out = np.empty(tuple(arr.shape), dtype=numpy_type(arr))
    _launch(_copy_kernel(arr), (out, arr))
    return out


def host_array(arr) -> np.ndarray | None:
    """On the CPU, a NumPy array sharing the memory of the Taichi ndarray ``arr`` (its shape
    and element shape, its type), or None on another backend.

    Reading or writing it moves no data and launches nothing, and it always shows the
    ndarray's values (CPU launches return once their kernels have run). It is valid while
    ``arr`` lives and only in the runtime that made ``arr`` (after ``td.init`` it would point at
    freed memory): keep it beside ``arr``, behind a check that the runtime is still the one (as
    :class:`HostCopies` in an FNO's batches, which are reached through a check).

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> from tidal.dsl import field_io
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> a = ti.ndarray(ti.f32, shape=(2, 3))
        >>> view = field_io.host_array(a)
        >>> view[1] = 7.0
        >>> a.to_numpy()[1].tolist()
        [7.0, 7.0, 7.0]
    """
    if runtime.config().arch != "cpu":
        return None
    dtype = numpy_type(arr)
    shape = tuple(arr.shape) + element_shape(arr)
    nbytes = math.prod(shape) * dtype.itemsize
    if not nbytes:
        return np.empty(shape, dtype=dtype)
    address = ti.lang.impl.get_runtime().prog.get_ndarray_data_ptr_as_int(arr.arr)
    memory = (ctypes.c_char * nbytes).from_address(address)
    return np.frombuffer(memory, dtype=dtype).reshape(shape)


class HostCopies:
    """Copies between NumPy arrays and a fixed set of Taichi ndarrays of scalars: through
    :func:`host_array` views on the CPU (no launch), through :func:`ndarray_from_numpy` and
    :func:`ndarray_to_numpy` elsewhere. The same guarantees as those; the arrays are kept alive
    by this object, whose owner must not use it after ``td.init`` replaced their runtime.

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> from tidal.dsl import field_io
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> a = ti.ndarray(ti.f64, shape=3)
        >>> io = field_io.HostCopies([a])
        >>> io.put(a, np.arange(3.0)); io.get(a).tolist()
        [0.0, 1.0, 2.0]
    """

    def __init__(self, arrays):
        self._arrays = list(arrays)
        self._views = {id(a): host_array(a) for a in self._arrays}

    def put(self, arr, array) -> None:
        """``arr`` set to ``array`` (of exactly its shape; cast to its type)."""
        view = self._views[id(arr)]
        if view is None:
            ndarray_from_numpy(arr, array)
            return
        values = np.asarray(array)
        if values.shape != view.shape:
            raise ValueError(f"an array of shape {values.shape} for an ndarray of shape "
                             f"{view.shape}")
        view[...] = values

    def get(self, arr, dtype=np.float64) -> np.ndarray:
        """A copy of ``arr``'s values, as ``dtype``."""
        view = self._views[id(arr)]
        return (ndarray_to_numpy(arr) if view is None else view).astype(dtype)

    def fill(self, arr, value) -> None:
        """Every element of ``arr`` set to ``value``."""
        view = self._views[id(arr)]
        if view is None:
            fill(arr, value)
        else:
            view.fill(value)


_COPIES: dict = {}


def _copy_kernel(arr):
    """A kernel ``copy(dst, src)`` for ndarrays (Taichi's or NumPy's) of ``arr``'s type and
    dimensions: Taichi's ``from_numpy`` and ``to_numpy`` of an ndarray are template kernels
    launched through its Python path (about 0.1 ms each, four a training step of a surrogate);
    this one goes straight in (:mod:`tidal.dsl.direct`, one plan for each direction)."""
    if element_shape(arr):
        raise TypeError("ndarray_from_numpy and ndarray_to_numpy take ndarrays of scalars")
    key = (runtime.config().generation, str(arr.dtype), len(arr.shape),
           serial(math.prod(arr.shape)))
    kernel = _COPIES.get(key)
    if kernel is None:
        if any(k[0] != key[0] for k in _COPIES):
            _COPIES.clear()  # a new runtime: every kernel of the old one is gone
        kernel = _COPIES[key] = _make_copy(arr.dtype, len(arr.shape), key[-1])
    return kernel


def _make_copy(dtype, dims: int, serialize: bool):
    array = ti.types.ndarray(dtype=next(t for t in primitive_types.all_types if t == dtype),
                             ndim=dims)

    @ti.kernel
    def copy(dst: array, src: array):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*dst.shape[:dims - 1])):
            for j in range(dst.shape[dims - 1]):
                dst[index, j] = src[index, j]

    return copy._primal


def write_slice(field, s: int, array) -> None:
    """``field[s, ...] = array`` for a field indexed by time first."""
    k = _kernels(field)
    _launch(k.load_slice, (int(s), _as_array(array, k.shape[1:], k.dtype)))


def read_slice(field, s: int) -> np.ndarray:
    """A copy of ``field[s, ...]`` for a field indexed by time first."""
    k = _kernels(field)
    out = np.empty(k.shape[1:], dtype=k.dtype)
    _launch(k.store_slice, (int(s), out))
    return out


def copy_slice(field, source: int, target: int) -> None:
    """``field[target, ...] = field[source, ...]`` for a field indexed by time first, on the
    device (no copy through NumPy)."""
    k = _kernels(field)
    _launch(k.copy_slice, (int(source), int(target)))


def _as_array(array, shape: tuple, dtype) -> np.ndarray:
    """``array`` as a C-ordered array of ``shape`` and ``dtype`` (copied only if need be)."""
    a = np.asarray(array, dtype=dtype)
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return a if a.flags.c_contiguous else np.array(a, order="C")


def _launch(kernel, args) -> None:
    with launches.quiet():
        direct.call(kernel, args)


class _FieldKernels:
    """The kernels of one field: ``fill(value)``, ``load(array)``, ``store(array)``,
    ``load_slice(s, array)``, ``store_slice(s, array)``, ``copy_slice(source, target)``
    (Taichi ``Kernel`` objects)."""

    def __init__(self, field):
        self.field = field  # held, so that its id is not reused while these live
        self.shape = tuple(field.shape) + element_shape(field)
        self.dtype = numpy_type(field)
        values = int(np.prod(self.shape, dtype=np.int64))
        slice_values = values // field.shape[0] if field.shape else values
        whole = _make(field, serial(values))
        self.fill, self.load, self.store = whole
        if len(field.shape) >= 1:
            self.load_slice, self.store_slice, self.copy_slice = _make_slice(
                field, serial(slice_values))


_CACHE: dict = {}


def _kernels(field) -> _FieldKernels:
    gen = runtime.config().generation
    hit = _CACHE.get(id(field))
    if hit is None or hit[0] != gen or hit[1].field is not field:
        if hit is not None and hit[0] != gen:
            _CACHE.clear()  # a new runtime: every kernel of the old one is gone
        hit = _CACHE[id(field)] = (gen, _FieldKernels(field))
    return hit[1]


def _scalar_type(field):
    """Taichi's own object for ``field``'s type (what kernel annotations must be)."""
    return next(t for t in primitive_types.all_types if t == field.dtype)


def _make(field, serialize: bool):
    """``fill``, ``load`` and ``store`` kernels with ``field`` bound."""
    dims, el = len(field.shape), element_shape(field)
    scalar = _scalar_type(field)
    array = ti.types.ndarray(dtype=scalar, ndim=dims + len(el))
    shape = tuple(field.shape)
    kind = 0 if not el else len(el)

    @ti.kernel
    def fill(value: scalar):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*shape)):
            if ti.static(kind == 0):
                field[index] = value
            else:
                field[index].fill(value)

    @ti.kernel
    def load(a: array):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*shape)):
            if ti.static(kind == 0):
                field[index] = a[index]
            elif ti.static(kind == 1):
                for c in ti.static(range(el[0])):
                    field[index][c] = a[index, c]
            else:
                for c, d in ti.static(ti.ndrange(el[0], el[1])):
                    field[index][c, d] = a[index, c, d]

    @ti.kernel
    def store(a: array):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*shape)):
            if ti.static(kind == 0):
                a[index] = field[index]
            elif ti.static(kind == 1):
                for c in ti.static(range(el[0])):
                    a[index, c] = field[index][c]
            else:
                for c, d in ti.static(ti.ndrange(el[0], el[1])):
                    a[index, c, d] = field[index][c, d]

    return fill._primal, load._primal, store._primal


def _make_slice(field, serialize: bool):
    """``load_slice``, ``store_slice`` and ``copy_slice`` kernels with ``field`` bound."""
    dims, el = len(field.shape), element_shape(field)
    array = ti.types.ndarray(dtype=_scalar_type(field), ndim=dims - 1 + len(el))
    kind = 0 if not el else len(el)
    rest = tuple(field.shape[1:])

    @ti.kernel
    def load_slice(s: ti.i32, a: array):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*rest)):
            if ti.static(kind == 0):
                field[s, index] = a[index]
            elif ti.static(kind == 1):
                for c in ti.static(range(el[0])):
                    field[s, index][c] = a[index, c]
            else:
                for c, d in ti.static(ti.ndrange(el[0], el[1])):
                    field[s, index][c, d] = a[index, c, d]

    @ti.kernel
    def store_slice(s: ti.i32, a: array):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*rest)):
            if ti.static(kind == 0):
                a[index] = field[s, index]
            elif ti.static(kind == 1):
                for c in ti.static(range(el[0])):
                    a[index, c] = field[s, index][c]
            else:
                for c, d in ti.static(ti.ndrange(el[0], el[1])):
                    a[index, c, d] = field[s, index][c, d]

    @ti.kernel
    def copy_slice(source: ti.i32, target: ti.i32):
        ti.loop_config(serialize=serialize)
        for index in ti.grouped(ti.ndrange(*rest)):
            field[target, index] = field[source, index]

    return load_slice._primal, store_slice._primal, copy_slice._primal
