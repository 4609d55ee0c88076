"""Derivative storage of fields and ndarrays, and the transformation mode that uses it.

Function-level transformations (``td.grad`` and friends) treat memory as constant: a tidal
function that reads a field has no derivative with respect to it. Kernel transformations run in
a *memory mode* (:func:`mode`), in which reading an element, writing it and adding to it are
differentiable and their derivatives live in derivative storage:

* adjoint storage of a field is its ``.grad`` (``needs_grad=True``), else a shadow field that
  tidal allocates (for intermediate fields the user did not mark);
* tangent storage is its ``.dual`` (``needs_dual=True``), else a shadow field;
* storage of ndarray arguments is passed to the generated kernels as extra ndarray arguments
  (``<name>_grad`` / ``<name>_dot``).

Only the references in the mode's ``active`` set have derivatives; the others are constants.
Shadows are allocated lazily, keyed by the object they shadow, and dropped by ``td.init``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import taichi as ti
from taichi.lang._ndarray import Ndarray
from taichi.lang.field import Field

from tidal.dsl import field_io, runtime
from tidal.dsl import primitives as P
from tidal.dsl.errors import TidalArgumentError


@dataclass(frozen=True)
class Mode:
    """A memory mode: ``kind`` is ``"adjoint"`` or ``"tangent"``; ``active`` holds the
    references (by ``id`` of their object) that have derivatives."""

    kind: str
    active: frozenset


_STACK: list[Mode] = []


@contextlib.contextmanager
def mode(m: Mode | None):
    """Run a transformation in memory mode ``m`` (None: memory is constant)."""
    _STACK.append(m)
    try:
        yield m
    finally:
        _STACK.pop()


def current() -> Mode | None:
    return _STACK[-1] if _STACK else None


def is_active(ref: P.GlobalRef, kind: str) -> bool:
    m = current()
    return m is not None and m.kind == kind and id(ref.obj) in m.active


_SHADOWS: dict = {}


def _shadow_field(obj, kind: str):
    gen = runtime.config().generation
    key = (id(obj), kind)
    hit = _SHADOWS.get(key)
    if hit is not None and hit[0] == gen and hit[1] is obj:
        return hit[2]
    dtype = obj.dtype
    if hasattr(obj, "n"):
        if obj.ndim == 1:
            f = ti.Vector.field(obj.n, dtype, shape=obj.shape)
        else:
            f = ti.Matrix.field(obj.n, obj.m, dtype, shape=obj.shape)
    else:
        f = ti.field(dtype, shape=obj.shape)
    _SHADOWS[key] = (gen, obj, f)
    return f


def own_storage(obj, kind: str):
    """The derivative storage Taichi allocated for a field or ndarray (``needs_grad`` /
    ``needs_dual``), or None."""
    if isinstance(obj, np.ndarray):
        return None
    if hasattr(obj, "snode"):  # a field: .grad/.dual exist even when not allocated
        ptr = obj.snode.ptr
        allocated = ptr.has_adjoint() if kind == "adjoint" else ptr.has_dual()
        return (obj.grad if kind == "adjoint" else obj.dual) if allocated else None
    return getattr(obj, "grad" if kind == "adjoint" else "dual", None)


def wanted_objects(wrt, loc=None) -> dict | None:
    """The ``wrt`` of ``td.Tape`` and ``kernel.grad`` (None: every gradient; one field or
    ndarray; or an iterable of them) as ``{id(object): object}``. Anything else is a
    :class:`TidalArgumentError` (``loc``: the kernel's definition, where there is one)."""
    if wrt is None:
        return None
    if isinstance(wrt, (Field, Ndarray)) or not isinstance(wrt, Iterable):
        wrt = [wrt]
    wanted = {}
    for obj in wrt:
        if not isinstance(obj, (Field, Ndarray)):
            kind = type(obj)
            name = kind.__name__ if kind.__module__ == "builtins" else \
                f"{kind.__module__}.{kind.__name__}"
            raise TidalArgumentError(
                f"wrt must hold Taichi fields or ndarrays, got {name}", loc,
                hint="pass the fields and ndarrays whose gradients you want, e.g. wrt=[x]")
        wanted[id(obj)] = obj
    return wanted


def storage(obj, kind: str):
    """The derivative storage object of a field: ``kind`` is ``"adjoint"`` or ``"tangent"``."""
    if isinstance(obj, P.ArrayArg):
        # one storage argument per (argument, kind), so references to it compare equal
        cache = obj.__dict__.setdefault("_storage", {})
        if kind not in cache:
            suffix = "_grad" if kind == "adjoint" else "_dot"
            cache[kind] = P.ArrayArg(obj.name + suffix, obj.ndim, obj.elem)
        return cache[kind]
    own = own_storage(obj, kind)
    if own is not None:
        return own
    return _shadow_field(obj, kind)


def ref(r: P.GlobalRef, kind: str) -> P.GlobalRef:
    """Reference to the derivative storage of ``r``."""
    obj = storage(r.obj, kind)
    suffix = "_grad" if kind == "adjoint" else "_dot"
    return P.GlobalRef(obj, r.name + suffix)


def array_storage(arr, kind: str):
    """Derivative storage of an ndarray argument value (Taichi ndarray or NumPy array)."""
    own = own_storage(arr, kind)
    if own is not None:
        return own
    gen = runtime.config().generation
    key = (id(arr), kind)
    hit = _SHADOWS.get(key)
    if hit is not None and hit[0] == gen and hit[1] is arr:
        return hit[2]
    if isinstance(arr, np.ndarray):
        shadow = np.zeros_like(arr)
    else:
        shape = tuple(arr.shape)
        es = tuple(getattr(arr, "element_shape", ()))
        if len(es) == 1:
            shadow = ti.Vector.ndarray(es[0], arr.dtype, shape=shape)
        elif len(es) == 2:
            shadow = ti.Matrix.ndarray(es[0], es[1], arr.dtype, shape=shape)
        else:
            shadow = ti.ndarray(arr.dtype, shape=shape)
    _SHADOWS[key] = (gen, arr, shadow)
    return shadow


def zero(obj) -> None:
    """Set a field or ndarray (Taichi or NumPy) to zero (unseen by an active tape)."""
    fill(obj, 0)


def fill(obj, value) -> None:
    """Set every element of a field or ndarray (Taichi or NumPy) to the scalar ``value``
    (unseen by an active tape)."""
    if isinstance(obj, np.ndarray):
        obj.fill(value)
    else:
        field_io.fill(obj, value)


def applies(prim) -> bool:
    """Whether ``prim`` touches memory, so that its rule must run in the current mode even
    without derivatives flowing through its arguments (memory operations, calls of functions
    that read fields)."""
    return current() is not None and prim.touches_memory
