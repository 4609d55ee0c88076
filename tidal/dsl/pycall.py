"""Calling tidal functions from Python: on numbers, and element-wise over NumPy arrays.

One mechanism serves both: a generated kernel evaluates the function over a batch of points, with
arguments either batched (NumPy arrays, passed without copies on the CPU) or broadcast (kernel
scalars). A plain call is a batch of one. Kernels are cached per function, argument pattern and
Taichi initialisation, so repeated calls never recompile.
"""

from __future__ import annotations

import numpy as np
from taichi.lang.exception import TaichiCompilationError

from tidal.dsl import loader, runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.dsl.types import TType, taichi_type_source


def _elem_reads(arr: str, t: TType, index: str) -> str:
    dt = f"ti.{t.dtype.name}"
    if t.is_scalar:
        return f"{arr}[{index}]"
    if t.is_vector:
        elems = ", ".join(f"{arr}[{index}, {j}]" for j in range(t.shape[0]))
        return f"ti.Vector([{elems}], dt={dt})"
    n, m = t.shape
    rows = ", ".join("[" + ", ".join(f"{arr}[{index}, {i}, {j}]" for j in range(m)) + "]"
                     for i in range(n))
    return f"ti.Matrix([{rows}], dt={dt})"


def _elem_writes(arr: str, t: TType, index: str, value: str) -> list[str]:
    if t.is_scalar:
        return [f"{arr}[{index}] = {value}"]
    if t.is_vector:
        return [f"{arr}[{index}, {j}] = {value}[{j}]" for j in range(t.shape[0])]
    n, m = t.shape
    return [f"{arr}[{index}, {i}, {j}] = {value}[{i}, {j}]" for i in range(n) for j in range(m)]


def _ndarray_type(t: TType) -> str:
    return f"ti.types.ndarray(dtype=ti.{t.dtype.name}, ndim={1 + len(t.shape)})"


def batch_kernel(fns, pattern: tuple[bool, ...]):
    """A kernel evaluating each function in ``fns`` (same parameters) over a batch.

    ``pattern[k]`` says whether argument ``k`` is a batched array or a broadcast scalar.
    """
    cfg = runtime.config()
    key = (cfg.generation, pattern, tuple(id(f) for f in fns[1:]))
    owner = fns[0]
    kern = owner._kernels.get(key)
    if kern is not None:
        return kern
    ptypes = owner.param_types
    params = ["n: ti.i32"]
    reads = []
    for k, (t, batched) in enumerate(zip(ptypes, pattern)):
        if batched:
            params.append(f"a{k}: {_ndarray_type(t)}")
            reads.append(_elem_reads(f"a{k}", t, "i"))
        else:
            params.append(f"a{k}: {taichi_type_source(t)}")
            reads.append(f"a{k}")
    body = []
    namespace = {}
    r = 0
    for fi, fn in enumerate(fns):
        fname = f"f{fi}"
        namespace[fname] = fn.taichi_object()
        outs = []
        for t in fn.result_types:
            params.append(f"r{r}: {_ndarray_type(t)}")
            outs.append((f"r{r}", f"o{r}", t))
            r += 1
        if not outs:
            continue
        targets = ", ".join(o for _, o, _ in outs)
        body.append(f"        {targets} = {fname}({', '.join(reads)})")
        for arr, o, t in outs:
            body += [f"        {line}" for line in _elem_writes(arr, t, "i", o)]
    src = "@ti.kernel\ndef batch(" + ", ".join(params) + "):\n    for i in range(n):\n"
    src += "\n".join(body) + "\n"
    kern = loader.load(src, "batch", namespace, f"{owner.name}_batch")
    owner._kernels[key] = kern
    return kern


def _prepare(fn, args):
    ptypes = fn.param_types
    if len(args) != len(ptypes):
        raise TidalArgumentError(
            f"{fn.name} takes {len(ptypes)} arguments ({', '.join(fn.param_names)}), "
            f"got {len(args)}")
    arrays, batch_shapes = [], []
    for k, (a, t) in enumerate(zip(args, ptypes)):
        try:
            arr = np.asarray(a)
        except Exception as e:  # noqa: BLE001 - report what could not be converted
            raise TidalArgumentError(f"argument {k + 1} of {fn.name} is not numeric: {e}") \
                from None
        if arr.dtype.kind not in "biuf":
            raise TidalArgumentError(
                f"argument {k + 1} of {fn.name} must be numeric, got {arr.dtype} ({a!r})")
        if not t.is_float and arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise TidalArgumentError(
                    f"argument {k + 1} of {fn.name} ({fn.param_names[k]}) is an integer "
                    f"parameter, got non-integer values")
        nd = len(t.shape)
        if nd and tuple(arr.shape[arr.ndim - nd:]) != t.shape:
            raise TidalArgumentError(
                f"argument {k + 1} of {fn.name} must have trailing shape {t.shape} ({t}), "
                f"got an array of shape {arr.shape}")
        arrays.append(arr.astype(t.dtype.numpy, copy=False))
        batch_shapes.append(arr.shape[:arr.ndim - nd])
    try:
        batch = np.broadcast_shapes(*batch_shapes) if batch_shapes else ()
    except ValueError:
        raise TidalArgumentError(
            f"arguments of {fn.name} have shapes that do not broadcast: "
            f"{[a.shape for a in arrays]}") from None
    return arrays, batch_shapes, batch


def evaluate(fns, args):
    """Evaluate ``fns`` (sharing parameters) at ``args``; returns (outputs per fn, batch shape)."""
    owner = fns[0]
    arrays, batch_shapes, batch = _prepare(owner, args)
    n = int(np.prod(batch)) if batch else 1
    pattern = tuple(bs != () for bs in batch_shapes)
    kern = batch_kernel(fns, pattern)
    call_args = [n]
    for arr, bs, t in zip(arrays, batch_shapes, owner.param_types):
        if bs != ():
            full = np.broadcast_to(arr, batch + t.shape).reshape((n,) + t.shape)
            call_args.append(np.ascontiguousarray(full))
        else:
            call_args.append(_scalar_arg(arr, t))
    outputs = []
    for fn in fns:
        outs = [np.empty((n,) + t.shape, dtype=t.dtype.numpy) for t in fn.result_types]
        outputs.append(outs)
        call_args += outs
    try:
        kern(*call_args)
    except TaichiCompilationError as e:
        mapped = loader.user_error_from_taichi(e)
        if mapped is not None:
            raise mapped from None
        raise
    return [[o.reshape(batch + o.shape[1:]) for o in outs] for outs in outputs], batch


def _scalar_arg(arr: np.ndarray, t: TType):
    if t.is_scalar:
        return arr.item()
    import taichi as ti

    if t.is_vector:
        return ti.Vector(arr.tolist(), dt=t.dtype.taichi)
    return ti.Matrix(arr.tolist(), dt=t.dtype.taichi)


def _to_python(o: np.ndarray, t: TType, batch):
    if batch == () and t.is_scalar:
        return o.item()
    return o


def call(fn, args):
    """Call tidal function ``fn`` from Python; numbers in, numbers (or arrays) out."""
    (outs,), batch = evaluate([fn], args)
    vals = [_to_python(o, t, batch) for o, t in zip(outs, fn.result_types)]
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else tuple(vals)


def vectorize(fn):
    """Evaluate a tidal function element-wise over NumPy arrays in one compiled kernel.

    Arguments broadcast against each other like NumPy arrays (a vector argument's last axis is
    its element); scalars are passed to the kernel without being expanded. Results are NumPy
    arrays of the broadcast shape (a tuple for several results).

    Example:
        >>> import numpy as np
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return x * y
        >>> td.vectorize(f)(np.array([1.0, 2.0]), 3.0)
        array([3., 6.])
    """
    from tidal.dsl.function import TidalFunction

    if not isinstance(fn, TidalFunction):
        raise TidalArgumentError(f"vectorize expects a tidal function, got {fn!r}",
                                 hint="decorate it with @td.func")

    def run(*args):
        (outs,), batch = evaluate([fn], args)
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else tuple(outs)

    run.__name__ = f"vectorized_{fn.name}"
    run.__doc__ = f"{fn.name} evaluated element-wise over arrays."
    return run
