"""Directional derivatives and Hessian-vector products of kernel programs.

``run`` is a Python callable that launches tidal kernels and returns the loss (a 0-D field or
one-element ndarray). :func:`jvp_run` runs the *tangent* kernels instead, which compute every
value together with its directional derivative along the given parameter tangents.
:func:`hvp` records those tangent kernels on a tape and runs the adjoints of the tangent kernels
(reverse over forward, all generated code): seeding the cotangent of the loss's tangent gives the
Hessian-vector product in the parameters' adjoints and the gradient in their tangents' adjoints.
"""

from __future__ import annotations

import numpy as np

from tidal.autodiff import kernels, memory
from tidal.autodiff.tape import Tape, taichi_overwrite
from tidal.dsl import kernel as kernel_mod
from tidal.dsl import launches
from tidal.dsl.errors import TidalArgumentError


def _storage(obj, kind: str):
    if isinstance(obj, np.ndarray) or not hasattr(obj, "snode"):
        return memory.array_storage(obj, kind)
    return memory.storage(obj, kind)


def _scalar(obj) -> float:
    v = obj.to_numpy() if not isinstance(obj, np.ndarray) else obj
    return float(np.asarray(v).reshape(-1)[0])


class TangentRun:
    """While active, kernel launches run their tangent kernels.

    Tangent storage of the parameters holds the given tangents; any other field or ndarray gets
    a zero tangent when a kernel first writes it; values never written are constants.
    """

    def __init__(self, seeded: dict):
        self.active = dict(seeded)

    def taichi_launch(self, kernel, args):
        """A plain Taichi kernel: its tangent kernel runs (compiled by tidal from its source);
        Taichi's ``fill``/``from_numpy`` give the object they overwrite a zero tangent."""
        if launches.taichi_internal(kernel):
            obj = taichi_overwrite(kernel, args)
            if obj is not None:
                memory.zero(_storage(obj, "tangent"))
                self.active[id(obj)] = obj
            return launches.run_taichi(kernel, args)
        return self.launch(kernel_mod.from_taichi(kernel).specialize(args), args)

    def python_store(self, field, key, write) -> None:
        """``field[key] = v`` in Python scope: the element gets a zero tangent."""
        with launches.quiet():
            write()
            if id(field) in self.active:
                tangent = _storage(field, "tangent")
                tangent[key] = tangent[key] * 0 if hasattr(field, "n") else 0

    def linear(self, op, srcs: list, dsts: list, args: tuple) -> None:
        """A :class:`~tidal.autodiff.linear.LinearMap`: the map applied to the values and to
        their tangents (zero for sources with none), both recorded by an enclosing tape."""
        for obj in srcs + dsts:
            if id(obj) not in self.active:
                memory.zero(_storage(obj, "tangent"))
                self.active[id(obj)] = obj
        tangents = ([_storage(s, "tangent") for s in srcs], [_storage(d, "tangent") for d in dsts])
        outer = launches.outer(self)
        for pair in ((srcs, dsts), tangents):
            if outer is not None:
                outer.linear(op, pair[0], pair[1], args)
            else:
                op.run(pair[0], pair[1], args)

    def launch(self, spec, args):
        objs = kernels.ref_objects(spec, args)
        for r in spec.kir.writes + spec.kir.adds:
            obj = objs[id(r.obj)]
            if id(obj) not in self.active:
                memory.zero(_storage(obj, "tangent"))
                self.active[id(obj)] = obj
        act = frozenset(rid for rid, obj in objs.items() if id(obj) in self.active)
        tangent = kernels.derived(spec, "tangent", act)
        targs = spec.call_args(args) + kernels.storage_args(spec, args, "tangent", act)
        outer = launches.outer(self)
        if outer is not None:
            return outer.launch(tangent, targs)
        return launches.run_compiled(tangent.forward(), targs)


def _check(params, vectors, what: str):
    if not isinstance(params, (list, tuple)) or not params:
        raise TidalArgumentError(f"{what}: params must be a non-empty list of fields/ndarrays")
    if len(vectors) != len(params):
        raise TidalArgumentError(f"{what}: got {len(vectors)} tangents for {len(params)} params")
    out = []
    for p, v in zip(params, vectors):
        arr = np.asarray(v, dtype=np.float64)
        shape = tuple(p.shape) + tuple(getattr(p, "element_shape", ()) or
                                        ((p.n,) if getattr(p, "ndim", 0) == 1 and hasattr(p, "n")
                                         else (p.n, p.m) if hasattr(p, "n") else ()))
        if arr.shape != shape:
            raise TidalArgumentError(f"{what}: a tangent has shape {arr.shape}, its parameter "
                                     f"{shape}")
        out.append(arr)
    return out


def _seed(params, vectors) -> dict:
    seeded = {}
    for p, v in zip(params, vectors):
        store = _storage(p, "tangent")
        if isinstance(store, np.ndarray):
            np.copyto(store, v)
        else:
            store.from_numpy(v.astype(store.to_numpy().dtype))
        seeded[id(p)] = p
    return seeded


def jvp_run(run, params, tangents):
    """Loss and its directional derivative along ``tangents`` (forward mode through kernels).

    Args:
        run: callable launching tidal kernels and returning the loss field.
        params: fields/ndarrays the tangents refer to.
        tangents: NumPy arrays shaped like ``params``.

    Returns:
        ``(loss_value, directional_derivative)``.

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = ti.field(ti.f64, shape=2)
        >>> loss = ti.field(ti.f64, shape=())
        >>> @td.kernel
        ... def sq():
        ...     for i in x:
        ...         loss[None] += x[i] ** 2
        >>> x.from_numpy(np.array([1.0, 2.0]))
        >>> def run():
        ...     loss[None] = 0.0
        ...     sq()
        ...     return loss
        >>> td.jvp_run(run, [x], [np.array([1.0, 0.0])])
        (5.0, 2.0)
    """
    vectors = _check(params, tangents, "jvp_run")
    ctx = TangentRun(_seed(params, vectors))
    launches.push(ctx)
    try:
        loss = run()
    finally:
        launches.pop(ctx)
    return _scalar(loss), _scalar(_storage(loss, "tangent"))


def hvp(run, params, v):
    """Loss, gradients and Hessian-vector products with respect to ``params`` (NumPy arrays),
    from the adjoints of the tangent kernels (no finite differences).

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = ti.field(ti.f64, shape=2)
        >>> loss = ti.field(ti.f64, shape=())
        >>> @td.kernel
        ... def cube():
        ...     for i in x:
        ...         loss[None] += x[i] ** 3
        >>> x.from_numpy(np.array([1.0, 2.0]))
        >>> def run():
        ...     loss[None] = 0.0
        ...     cube()
        ...     return loss
        >>> value, (g,), (hv,) = td.hvp(run, [x], [np.array([1.0, 1.0])])
        >>> value, g.tolist(), hv.tolist()
        (9.0, [3.0, 12.0], [6.0, 12.0])
    """
    vectors = _check(params, v, "hvp")
    ctx = TangentRun(_seed(params, vectors))
    tape = Tape(None, clear_gradients=True, _seed_shadow=True)
    for p in params:
        tape.extra_active[id(p)] = p
        t = _storage(p, "tangent")
        tape.extra_active[id(t)] = t
    launches.push(tape)
    launches.push(ctx)
    try:
        loss = run()
    finally:
        launches.pop(ctx)
        launches.pop(tape)
    value = _scalar(loss)
    tape.loss = _storage(loss, "tangent")
    tape.backward()
    grads = [np.array(_to_numpy(_storage(_storage(p, "tangent"), "adjoint"))) for p in params]
    hvps = [np.array(_to_numpy(_storage(p, "adjoint"))) for p in params]
    return value, grads, hvps


def _to_numpy(obj):
    return obj.copy() if isinstance(obj, np.ndarray) else obj.to_numpy()
