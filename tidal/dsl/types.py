"""Value types of the tidal language: scalars, vectors and matrices of f32, f64 or i32.

A :class:`TType` is a dtype and a shape: ``()`` for scalars, ``(n,)`` for vectors, ``(n, m)`` for
matrices. Types are plain hashable values; conversion to and from Taichi's type objects happens
only here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from tidal.dsl.errors import TidalTypeError

f32 = ti.f32
f64 = ti.f64
i32 = ti.i32


@dataclass(frozen=True)
class DType:
    """An element type. ``rank`` orders types for promotion (int < f32 < f64)."""

    name: str
    is_float: bool
    rank: int

    @property
    def numpy(self) -> type:
        return {"f32": np.float32, "f64": np.float64, "i32": np.int32}[self.name]

    @property
    def taichi(self):
        return {"f32": ti.f32, "f64": ti.f64, "i32": ti.i32}[self.name]

    def __repr__(self) -> str:
        return self.name


F32 = DType("f32", True, 1)
F64 = DType("f64", True, 2)
I32 = DType("i32", False, 0)
_BY_NAME = {"f32": F32, "f64": F64, "i32": I32}


@dataclass(frozen=True)
class TType:
    """A tidal value type: element dtype and shape."""

    dtype: DType
    shape: tuple[int, ...] = ()

    @property
    def is_scalar(self) -> bool:
        return self.shape == ()

    @property
    def is_vector(self) -> bool:
        return len(self.shape) == 1

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2

    @property
    def is_float(self) -> bool:
        return self.dtype.is_float

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def with_dtype(self, dtype: DType) -> TType:
        return TType(dtype, self.shape)

    def with_shape(self, shape: tuple[int, ...]) -> TType:
        return TType(self.dtype, shape)

    @property
    def scalar(self) -> TType:
        return TType(self.dtype, ())

    def __repr__(self) -> str:
        if not self.shape:
            return self.dtype.name
        kind = "vec" if self.is_vector else "mat"
        return f"{kind}{'x'.join(map(str, self.shape))}<{self.dtype.name}>"


def scalar(dtype: DType) -> TType:
    return TType(dtype, ())


def dtype_from_taichi(dt, default_fp: DType) -> DType:
    """Map a Taichi dtype (or Python ``float``/``int``) to a :class:`DType`."""
    if dt is float:
        return default_fp
    if dt is int:
        return I32
    name = dt.name if isinstance(dt, DType) else str(dt)
    if name not in _BY_NAME:
        raise TidalTypeError(
            f"dtype {name} is not supported in tidal functions",
            hint="use td.f32, td.f64 or td.i32",
        )
    return _BY_NAME[name]


def from_annotation(ann, default_fp: DType) -> TType:
    """Convert a Taichi type annotation (``ti.f64``, ``ti.math.vec3``, ...) to a :class:`TType`."""
    from taichi.lang.matrix import MatrixType, VectorType

    if isinstance(ann, TType):
        return ann
    if id(ann) in _DEFAULT_FLOAT_TYPES:
        return TType(default_fp, _DEFAULT_FLOAT_TYPES[id(ann)])
    if isinstance(ann, VectorType):
        return TType(dtype_from_taichi(ann.dtype, default_fp), (ann.n,))
    if isinstance(ann, MatrixType):
        return TType(dtype_from_taichi(ann.dtype, default_fp), (ann.n, ann.m))
    return TType(dtype_from_taichi(ann, default_fp), ())


def promote(a: DType, b: DType) -> DType:
    """Taichi's binary promotion: the higher-ranked dtype wins."""
    return a if a.rank >= b.rank else b


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Shape of an elementwise op on shapes ``a`` and ``b`` (scalars broadcast), or None."""
    if a == b or not b:
        return a
    if not a:
        return b
    return None


def taichi_type_source(t: TType) -> str:
    """Source text of the Taichi type for ``t``, e.g. ``ti.types.vector(3, ti.f64)``."""
    base = f"ti.{t.dtype.name}"
    if t.is_scalar:
        return base
    if t.is_vector:
        return f"ti.types.vector({t.shape[0]}, {base})"
    return f"ti.types.matrix({t.shape[0]}, {t.shape[1]}, {base})"


# Taichi fixes ``float`` to its default float when a type is created (often at import, before
# ``td.init``), so types of the default float are made once per shape and resolved by identity:
# they mean the default float type of the configuration a function is compiled for.
_DEFAULT_FLOAT_TYPES: dict = {}  # id(type) -> shape
_DEFAULT_FLOAT_BY_SHAPE: dict = {}  # shape -> type


def _default_float_type(shape: tuple):
    t = _DEFAULT_FLOAT_BY_SHAPE.get(shape)
    if t is None:
        t = ti.types.vector(shape[0], float) if len(shape) == 1 else \
            ti.types.matrix(shape[0], shape[1], float)
        _DEFAULT_FLOAT_BY_SHAPE[shape] = t
        _DEFAULT_FLOAT_TYPES[id(t)] = shape
    return t


def vec(n: int, dtype=float):
    """A vector type for annotations, e.g. ``td.vec(3, td.f64)``; without a dtype, of the
    default float type (``td.init``'s ``default_fp``), whenever it is created.

    Example:
        >>> import tidal as td
        >>> v3 = td.vec(3, td.f64)
    """
    return _default_float_type((n,)) if dtype is float else ti.types.vector(n, dtype)


def mat(n: int, m: int, dtype=float):
    """A matrix type for annotations, e.g. ``td.mat(2, 2, td.f64)``; without a dtype, of the
    default float type.

    Example:
        >>> import tidal as td
        >>> m2 = td.mat(2, 2, td.f64)
    """
    return _default_float_type((n, m)) if dtype is float else ti.types.matrix(n, m, dtype)


vec2, vec3, vec4 = (vec(n) for n in (2, 3, 4))
mat2, mat3, mat4 = (mat(n, n) for n in (2, 3, 4))
