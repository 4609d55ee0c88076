"""One time slice of a state field, written from or read into NumPy without moving the rest.

A simulator keeps its trajectory in fields indexed ``[t, ...]``; a run needs only the first
slice written (the initial state) and a gradient only the first slice read (the initial
state's adjoint). ``from_numpy`` / ``to_numpy`` of the whole field move every step (a 400-step
32 x 32 diffusion: 3.3 MB, about 1.5 ms each way on a 2-core CPU) where these move one slice.

Guarantees: :func:`write_slice` sets exactly the elements ``field[s, ...]`` to ``value`` (cast
to the field's type) and nothing else; :func:`read_slice` returns ``field[s, ...]`` as a new
float64 array of shape ``field.shape[1:] + element shape``. Both work on scalar, vector and
matrix fields of any number of dimensions, and run unseen by an active tape.

Example:
    >>> import numpy as np, taichi as ti, tidal as td
    >>> from tidal.physics.slices import read_slice, write_slice
    >>> _ = td.init(arch="cpu", default_fp=td.f64)
    >>> f = ti.Vector.field(2, ti.f64, shape=(3, 4))
    >>> write_slice(f, 1, np.arange(8.0).reshape(4, 2))
    >>> read_slice(f, 1)[3].tolist(), read_slice(f, 0)[3].tolist()
    ([6.0, 7.0], [0.0, 0.0])
"""

import numpy as np
import taichi as ti

from tidal.dsl import launches


def _numpy_type(field):
    return np.float32 if field.dtype == ti.f32 else np.float64


def element_shape(field) -> tuple:
    """The shape of one element of ``field`` (``()`` for a scalar field)."""
    if not hasattr(field, "n"):
        return ()
    return (field.n,) if field.ndim == 1 else (field.n, field.m)


@ti.kernel
def _write(field: ti.template(), s: ti.i32, value: ti.types.ndarray()):
    for index in ti.grouped(ti.ndrange(*field.shape[1:])):
        if ti.static(not hasattr(field, "n")):
            field[s, index] = value[index]
        elif ti.static(field.ndim == 1):
            for k in ti.static(range(field.n)):
                field[s, index][k] = value[index, k]
        else:
            for k, q in ti.static(ti.ndrange(field.n, field.m)):
                field[s, index][k, q] = value[index, k, q]


@ti.kernel
def _read(field: ti.template(), s: ti.i32, value: ti.types.ndarray()):
    for index in ti.grouped(ti.ndrange(*field.shape[1:])):
        if ti.static(not hasattr(field, "n")):
            value[index] = field[s, index]
        elif ti.static(field.ndim == 1):
            for k in ti.static(range(field.n)):
                value[index, k] = field[s, index][k]
        else:
            for k, q in ti.static(ti.ndrange(field.n, field.m)):
                value[index, k, q] = field[s, index][k, q]


def write_slice(field, s: int, value) -> None:
    """``field[s, ...] = value`` for a field indexed by time first."""
    shape = tuple(field.shape[1:]) + element_shape(field)
    value = np.array(np.broadcast_to(np.asarray(value, dtype=_numpy_type(field)), shape))
    with launches.quiet():
        if len(field.shape) < 2:
            field[s] = value.item() if not shape else value.tolist()
        else:
            _write(field, int(s), value)


def read_slice(field, s: int) -> np.ndarray:
    """A copy of ``field[s, ...]`` for a field indexed by time first."""
    shape = tuple(field.shape[1:]) + element_shape(field)
    with launches.quiet():
        if len(field.shape) < 2:
            return np.asarray(field[s], dtype=np.float64).reshape(shape)
        out = np.zeros(shape, dtype=_numpy_type(field))
        _read(field, int(s), out)
    return out.astype(np.float64, copy=False)
