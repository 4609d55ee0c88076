"""Parameters as one flat vector: the layer the optimisers of :mod:`tidal.solvers` (network
weights) and :func:`tidal.fit` (a simulator's named parameters) share.

* :class:`FlatLayout`: arrays of given shapes seen as one float64 vector, each row-major, one
  after the other: ``join`` and ``split`` are inverse to each other.
* :class:`FieldVector`: Taichi fields seen that way, their values and their gradients read and
  written by one kernel launch each (not one copy per field).

Example:
    >>> import numpy as np
    >>> from tidal.autodiff.parameters import FlatLayout
    >>> layout = FlatLayout([(2, 2), (), (3,)])
    >>> layout.size, layout.offsets
    (8, [0, 4, 5])
    >>> [p.shape for p in layout.split(np.arange(8.0))]
    [(2, 2), (), (3,)]
    >>> layout.join(layout.split(np.arange(8.0))).tolist() == list(range(8))
    True
"""

import math

import numpy as np
import taichi as ti

from tidal.dsl.errors import TidalArgumentError


class FlatLayout:
    """Arrays of the given shapes as one flat float64 vector."""

    def __init__(self, shapes):
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)

    def split(self, flat) -> list:
        """The arrays (copies) a flat vector holds."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} values, got {flat.size}")
        return [flat[o:o + k].reshape(s).copy()
                for o, k, s in zip(self.offsets, self.sizes, self.shapes)]

    def join(self, parts) -> np.ndarray:
        """One flat vector of the arrays ``parts`` (in order, each of its shape)."""
        if len(parts) != len(self.shapes):
            raise TidalArgumentError(f"expected {len(self.shapes)} arrays, got {len(parts)}")
        out = np.empty(self.size)
        for p, o, k, s in zip(parts, self.offsets, self.sizes, self.shapes):
            p = np.asarray(p, dtype=np.float64)
            if p.shape != s:
                raise TidalArgumentError(f"an array has shape {p.shape}, its slot {s}")
            out[o:o + k] = p.reshape(-1)
        return out


class FieldVector(FlatLayout):
    """Scalar Taichi fields as one flat float64 vector: values and gradients read, values
    written and gradients cleared by one kernel launch each."""

    def __init__(self, fields: list):
        super().__init__([f.shape for f in fields])
        layout = [(f, o, tuple(math.prod(s[d + 1:]) for d in range(len(s))))
                  for f, o, s in zip(fields, self.offsets, self.shapes)]

        @ti.func
        def position(offset: ti.template(), strides: ti.template(), index):
            k = offset
            for d in ti.static(range(len(strides))):
                k += index[d] * strides[d]
            return k

        @ti.kernel
        def write(flat: ti.types.ndarray(dtype=ti.f64, ndim=1)):
            for f, offset, strides in ti.static(layout):
                for index in ti.grouped(f):
                    f[index] = ti.cast(flat[position(offset, strides, index)], f.dtype)

        @ti.kernel
        def read(out: ti.types.ndarray(dtype=ti.f64, ndim=1), grads: ti.template()):
            for f, offset, strides in ti.static(layout):
                for index in ti.grouped(f):
                    if ti.static(grads):
                        out[position(offset, strides, index)] = ti.cast(f.grad[index], ti.f64)
                    else:
                        out[position(offset, strides, index)] = ti.cast(f[index], ti.f64)

        @ti.kernel
        def clear_grads():
            for f, offset, strides in ti.static(layout):  # noqa: B007 - names the tuple
                for index in ti.grouped(f):
                    f.grad[index] = 0

        self._write, self._read, self.clear_grads = write, read, clear_grads

    def write(self, flat) -> None:
        """Set every field from one flat vector."""
        flat = np.ascontiguousarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} values, got {flat.size}")
        self._write(flat)

    def read(self, grads: bool = False) -> np.ndarray:
        """The fields' values (or, with ``grads``, their gradients) as one flat vector."""
        out = np.empty(self.size, dtype=np.float64)
        self._read(out, grads)
        return out


class FlatParameters:
    """The flat-vector interface of a model whose parameters are one :class:`FieldVector`
    ``self._flat`` of ``self.size`` values (the surrogates' networks): read, checked write,
    gradients and their clearing, one launch each."""

    _flat: FieldVector
    size: int

    def get_flat(self) -> np.ndarray:
        """All parameters as one float64 vector."""
        return self._flat.read(grads=False)

    def set_flat(self, flat) -> None:
        """Set every parameter from one vector of length :attr:`size` (finite values)."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} parameters, got {flat.size}")
        if not np.all(np.isfinite(flat)):
            raise TidalArgumentError("parameters must be finite (got NaN or inf)")
        self._flat.write(flat)

    def grad_flat(self) -> np.ndarray:
        """The parameters' gradients (``.grad``) in the order of :meth:`get_flat`."""
        return self._flat.read(grads=True)

    def clear_grads(self) -> None:
        """Zero the parameters' gradients (one launch)."""
        self._flat.clear_grads()
