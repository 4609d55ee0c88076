"""Calling tidal functions from Python: on numbers, and element-wise over NumPy arrays.

One mechanism serves both: a generated kernel evaluates the function over a batch of points, with
arguments either batched (NumPy arrays, passed without copies on the CPU) or broadcast (kernel
scalars). A plain call is a batch of one. Kernels are cached per function, argument pattern and
Taichi initialisation, so repeated calls never recompile.
"""

from __future__ import annotations

import numpy as np

from tidal.dsl import launches, loader, runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.dsl.primitives import DTYPES
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


def _ndarray_type(t: TType) -> str:
    return f"ti.types.ndarray(dtype=ti.{t.dtype.name}, ndim={1 + len(t.shape)})"


def _layout(fns):
    """Where each result goes: results are packed, per dtype, into one 2-D output array
    (Taichi limits the number of kernel arguments)."""
    columns: dict[str, int] = {}
    slots = []
    for fn in fns:
        fslots = []
        for t in fn.result_types:
            c = columns.get(t.dtype.name, 0)
            fslots.append((t.dtype.name, c, t))
            columns[t.dtype.name] = c + t.size
        slots.append(fslots)
    return slots, columns


def batch_kernel(fns, pattern: tuple[bool, ...]):
    """A kernel evaluating each function in ``fns`` (same parameters) over a batch.

    ``pattern[k]`` says whether argument ``k`` is a batched array or a broadcast scalar. Results
    are written to one ``(n, columns)`` array per result dtype (see :func:`_layout`).
    """
    cfg = runtime.config()
    # the functions themselves, not their id(): a function that dies could leave its id to another
    key = (cfg.generation, pattern, tuple(fns[1:]))
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
    slots, columns = _layout(fns)
    for dt in sorted(columns):
        params.append(f"out_{dt}: ti.types.ndarray(dtype=ti.{dt}, ndim=2)")
    body = []
    namespace = {}
    r = 0
    for fi, (fn, fslots) in enumerate(zip(fns, slots)):
        if not fslots:
            continue
        fname = f"f{fi}"
        namespace[fname] = fn.taichi_object()
        names = [f"o{r + j}" for j in range(len(fslots))]
        r += len(fslots)
        body.append(f"        {', '.join(names)} = {fname}({', '.join(reads)})")
        for o, (dt, c, t) in zip(names, fslots):
            if t.is_scalar:
                body.append(f"        out_{dt}[i, {c}] = {o}")
            else:
                idx = [(j,) for j in range(t.shape[0])] if t.is_vector else \
                    [(a, b) for a in range(t.shape[0]) for b in range(t.shape[1])]
                for j, ij in enumerate(idx):
                    body.append(f"        out_{dt}[i, {c + j}] = {o}[{', '.join(map(str, ij))}]")
    src = "@ti.kernel\ndef batch(" + ", ".join(params) + "):\n    for i in range(n):\n"
    src += "\n".join(body or ["        pass"]) + "\n"
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


# Taichi's compile time grows faster than linearly with kernel size, so large batches of
# functions are split into kernels of about this many IR statements.
KERNEL_STATEMENT_BUDGET = 400


def _chunks(fns):
    from tidal.dsl.optimize import count_stmts

    chunk, size = [], 0
    for fn in fns:
        n = count_stmts(fn.ir())
        if chunk and size + n > KERNEL_STATEMENT_BUDGET:
            yield chunk
            chunk, size = [], 0
        chunk.append(fn)
        size += n
    if chunk:
        yield chunk


def evaluate(fns, args):
    """Evaluate ``fns`` (sharing parameters) at ``args``; returns (outputs per fn, batch shape)."""
    if len(fns) > 1:
        outputs, batch = [], ()
        for chunk in _chunks(fns):
            outs, batch = _evaluate([fns[0]] + chunk if chunk[0] is not fns[0] else chunk, args)
            outputs += outs[1:] if chunk[0] is not fns[0] else outs
        return outputs, batch
    return _evaluate(fns, args)


def _evaluate(fns, args):
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
    slots, columns = _layout(fns)
    packed = {dt: np.empty((n, c), dtype=DTYPES[dt].numpy) for dt, c in columns.items()}
    call_args += [packed[dt] for dt in sorted(columns)]
    launches.run_compiled(kern, call_args)  # (compile errors at the user's line)
    outputs = []
    for fslots in slots:
        outputs.append([packed[dt][:, c:c + t.size].reshape(batch + t.shape)
                        for dt, c, t in fslots])
    return outputs, batch


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
    from tidal.dsl.function import require_tidal

    require_tidal(fn, "vectorize")

    def run(*args):
        (outs,), batch = evaluate([fn], args)
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else tuple(outs)

    run.__name__ = f"vectorized_{fn.name}"
    run.__doc__ = f"{fn.name} evaluated element-wise over arrays."
    return run
