"""The public derivative API: grad, jvp, vjp, derivative, jacobian, hessian, laplacian, taylor.

Every function here returns a :class:`~tidal.dsl.function.TidalFunction` whose body is produced by
emitting a transformation of the argument's IR inline, so the result reads as one function
(``td.source``) and can be transformed again. Results are memoised on the argument: asking twice
returns the same object, which generates and compiles once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tidal.autodiff import derived
from tidal.autodiff.derived import build
from tidal.autodiff.jvp import emit_jvp
from tidal.autodiff.taylor import emit_taylor
from tidal.autodiff.vjp import emit_vjp
from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.emitter import make_const
from tidal.dsl.errors import TidalArgumentError
from tidal.dsl.function import TidalFunction, require_tidal
from tidal.dsl.types import TType


def _argnums(f: TidalFunction, argnums, what: str) -> tuple[tuple[int, ...], bool]:
    """Normalise ``argnums`` to a tuple of valid float parameter positions."""
    is_tuple = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if is_tuple else (argnums,)
    names = f.param_names
    types = f.param_types
    if not nums:
        raise TidalArgumentError(f"{what}: argnums is empty")
    for a in nums:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TidalArgumentError(f"{what}: argnums must be an int or a tuple of ints, got "
                                     f"{argnums!r}")
        if not -len(types) <= a < len(types):
            raise TidalArgumentError(
                f"{what}: argnums={argnums!r} is out of range: {f.name} has {len(types)} "
                f"parameters ({', '.join(names)})")
    nums = tuple(int(a) % len(types) for a in nums)
    for a in nums:
        if not types[a].is_float:
            raise TidalArgumentError(
                f"{what}: cannot differentiate {f.name} with respect to `{names[a]}`, an "
                f"integer parameter ({types[a]})",
                hint="integer parameters are not differentiable; declare it as td.f32/td.f64 if "
                     "it varies continuously")
    return nums, is_tuple


def _single_float_result(f: TidalFunction, what: str, scalar: bool = True) -> TType:
    rt = f.result_types
    if len(rt) != 1 or not rt[0].is_float or (scalar and not rt[0].is_scalar):
        got = ", ".join(map(repr, rt)) or "nothing"
        raise TidalArgumentError(
            f"{what} needs a function returning one {'float scalar' if scalar else 'float value'}"
            f"; {f.name} returns {got}",
            hint="use td.jacobian for vector outputs, or td.vjp for several outputs"
            if scalar else None)
    return rt[0]


def _params(F: ir.Function):
    return [(p.name, p.type) for p in F.params]


def _unit(t: TType, j: int | None):
    """The unit tangent of type ``t`` (component ``j`` for vectors)."""
    if t.is_scalar:
        return make_const(1.0, t)
    e = np.zeros(t.shape)
    e.reshape(-1)[j] = 1.0
    return make_const(e, t)


def _directions(F: ir.Function, nums: Sequence[int]):
    """Unit input directions: one per scalar parameter, or per component of one vector."""
    dirs = []
    for a in nums:
        t = F.params[a].type
        if t.is_scalar:
            dirs.append({a: _unit(t, None)})
        elif len(nums) == 1:
            dirs += [{a: _unit(t, j)} for j in range(t.size)]
        else:
            raise TidalArgumentError(
                f"differentiate with respect to one vector parameter, or to scalar parameters; "
                f"`{F.params[a].name}` is {t}")
    return dirs


def _tangents(F: ir.Function, direction: dict):
    return [direction.get(i, ir.Zero(p.type)) for i, p in enumerate(F.params)]


def _derived(f, key, name, kind, body_for):
    def make():
        def builder(fp):
            F = f.transform_ir(fp)
            return build(name, *body_for(F, fp), fp, F.loc)

        return TidalFunction(name, builder, kind=kind)

    return f.memo(key, make)


def grad(f, argnums=0) -> TidalFunction:
    """Gradient of a scalar-valued tidal function (reverse mode).

    Args:
        f: a tidal function returning one float scalar.
        argnums: which parameter (int) or parameters (tuple) to differentiate with respect to.

    Returns:
        A tidal function with ``f``'s parameters returning the partial derivative (a tuple of
        partials when ``argnums`` is a tuple; a vector for a vector parameter).

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return x * x * y
        >>> td.grad(f, argnums=(0, 1))(3.0, 2.0)
        (12.0, 9.0)
    """
    f = require_tidal(f, "grad")
    nums, _ = _argnums(f, argnums, "grad")
    rt = _single_float_result(f, "grad")

    def body_for(F, fp):
        def body(pv):
            _, cts = emit_vjp(F, pv, [make_const(1.0, rt)])
            return [cts[i] for i in nums]
        return _params(F), body

    return _derived(f, ("grad", argnums if isinstance(argnums, tuple) else nums[0]),
                    f"{f.name}_grad", "grad", body_for)


def jvp(f) -> TidalFunction:
    """Forward-mode derivative: ``(primals..., tangents...) -> (outputs..., output tangents...)``.

    Tangents are taken for the float parameters, in order; one tangent is returned per output.

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64) -> td.f64:
        ...     return x * x
        >>> td.jvp(f)(3.0, 1.0)
        (9.0, 6.0)
    """
    f = require_tidal(f, "jvp")

    return derived.jvp_fn(f, tuple(t.is_float for t in f.param_types))


def vjp(f) -> TidalFunction:
    """Reverse-mode derivative: ``(primals..., cotangents...) -> (outputs..., cotangents...)``.

    One cotangent is taken per float output and one returned per float parameter, in order.

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return x * y
        >>> td.vjp(f)(3.0, 2.0, 1.0)
        (6.0, 2.0, 3.0)
    """
    f = require_tidal(f, "vjp")

    floats = tuple(t.is_float for t in f.param_types)
    return derived.vjp_fn(f, floats, tuple(t.is_float for t in f.result_types))


def _partial(f: TidalFunction, i: int) -> TidalFunction:
    """Forward-mode partial derivative with respect to scalar parameter ``i``."""

    def body_for(F, fp):
        def body(pv):
            _, touts = emit_jvp(F, pv, _tangents(F, {i: _unit(F.params[i].type, None)}))
            return touts
        return _params(F), body

    return _derived(f, ("partial", i), f"{f.name}_d{f.param_names[i]}", "derivative", body_for)


def derivative(f, argnums=0, order: int = 1) -> TidalFunction:
    """Derivative of order ``order`` with respect to a scalar parameter, or a mixed partial.

    With an int ``argnums`` the derivative is computed in one Taylor-mode pass (cost grows as
    ``order**2``). With a tuple, e.g. ``(0, 0, 1)``, the mixed partial d^3 f / dx^2 dy is built
    by nesting forward-mode derivatives (``order`` is then ``len(argnums)``).

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64) -> td.f64:
        ...     return x ** 4
        >>> td.derivative(f, order=3)(2.0)
        48.0
    """
    f = require_tidal(f, "derivative")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise TidalArgumentError(f"derivative: order must be a non-negative int, got {order!r}")
    nums, is_tuple = _argnums(f, argnums, "derivative")
    for a in nums:
        if not f.param_types[a].is_scalar:
            raise TidalArgumentError(
                f"derivative: `{f.param_names[a]}` is {f.param_types[a]}; derivative() is for "
                "scalar parameters", hint="use td.jacobian, td.hessian or td.taylor for vectors")
    if is_tuple:
        if order not in (1, len(nums)):
            raise TidalArgumentError(
                f"derivative: argnums={argnums!r} already gives the order ({len(nums)}); "
                f"got order={order}")
        g = f
        for a in reversed(nums):
            g = _partial(g, a)
        return g
    if order == 0:
        return f
    (a,) = nums

    def body_for(F, fp):
        def body(pv):
            coefs = [[v] + [ir.Zero(p.type)] * order for p, v in zip(F.params, pv)]
            coefs[a][1] = _unit(F.params[a].type, None)
            outs = emit_taylor(F, coefs, order)
            scale = float(math.factorial(order))
            return [c[order] * scale if r.type.is_float else ir.Zero(r.type)
                    for c, r in zip(outs, F.body.results)]
        return _params(F), body

    return _derived(f, ("derivative", a, order), f"{f.name}_d{order}{f.param_names[a]}",
                    "derivative", body_for)


def _assemble(columns: list, out_t: TType, n: int, as_matrix: bool, in_shape=None):
    """Stack ``n`` tangents (one per input direction) into a vector or matrix."""
    if not as_matrix:
        return columns[0]
    if out_t.is_scalar:
        return P.make(*columns, shape=in_shape if in_shape and len(in_shape) == 2 else (n,))
    if in_shape and len(in_shape) == 2:
        raise TidalArgumentError("the jacobian of a vector output with respect to a matrix "
                                 "parameter would be a 3-tensor",
                                 hint="flatten the matrix parameter into a vector")
    if out_t.is_vector:
        m = out_t.shape[0]
        return P.make(*[columns[j][i] for i in range(m) for j in range(n)], shape=(m, n))
    raise TidalArgumentError("jacobian of a matrix-valued function is not supported",
                             hint="return a vector (flatten the matrix)")


def jacobian(f, argnums=0) -> TidalFunction:
    """Jacobian of a function with one float output (forward mode, one pass per input direction).

    Shapes: scalar input -> the output's shape; vector input of size n (or a tuple of n scalar
    parameters) -> a vector of size n for a scalar output, an (m, n) matrix for a vector output;
    matrix input with a scalar output -> a matrix of the input's shape.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(v: td.vec(2, td.f64)) -> td.vec(2, td.f64):
        ...     return ti.Vector([v[0] * v[1], v[0] + v[1]])
        >>> td.jacobian(f)(np.array([2.0, 3.0])).tolist()
        [[3.0, 2.0], [1.0, 1.0]]
    """
    f = require_tidal(f, "jacobian")
    nums, is_tuple = _argnums(f, argnums, "jacobian")
    out_t = _single_float_result(f, "jacobian", scalar=False)

    def body_for(F, fp):
        dirs = _directions(F, nums)
        as_matrix = is_tuple or not F.params[nums[0]].type.is_scalar

        def body(pv):
            cols = [emit_jvp(F, pv, _tangents(F, d))[1][0] for d in dirs]
            in_shape = None if is_tuple else F.params[nums[0]].type.shape
            return [_assemble(cols, out_t, len(dirs), as_matrix, in_shape)]
        return _params(F), body

    return _derived(f, ("jacobian", argnums if is_tuple else nums[0]), f"{f.name}_jacobian",
                    "jacobian", body_for)


def hessian(f, argnums=0) -> TidalFunction:
    """Hessian of a scalar-valued function (forward-over-reverse).

    A scalar parameter gives the second derivative; a vector parameter of size n, or a tuple of n
    scalar parameters, gives an n x n matrix (a matrix parameter: its elements in row-major order).

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return x * x * y
        >>> td.hessian(f, argnums=(0, 1))(3.0, 2.0).tolist()
        [[4.0, 6.0], [6.0, 0.0]]
    """
    f = require_tidal(f, "hessian")
    nums, is_tuple = _argnums(f, argnums, "hessian")
    _single_float_result(f, "hessian")
    g = grad(f, argnums)

    def body_for(F, fp):
        G = g.ir(fp)
        dirs = _directions(F, nums)
        as_matrix = is_tuple or not F.params[nums[0]].type.is_scalar
        n = len(dirs)

        def body(pv):
            cols = [emit_jvp(G, pv, _tangents(G, d))[1] for d in dirs]
            if not as_matrix:
                return [cols[0][0]]
            if is_tuple:
                elems = [cols[j][i] for i in range(n) for j in range(n)]
            else:
                t = F.params[nums[0]].type
                idx = [(i,) for i in range(n)] if t.is_vector else \
                    [(i, j) for i in range(t.shape[0]) for j in range(t.shape[1])]
                elems = [cols[j][0][idx[i]] for i in range(n) for j in range(n)]
            return [P.make(*elems, shape=(n, n))]
        return _params(F), body

    return _derived(f, ("hessian", argnums if is_tuple else nums[0]), f"{f.name}_hessian",
                    "hessian", body_for)


def laplacian(f, argnums=0) -> TidalFunction:
    """Laplacian (sum of second derivatives) with respect to a vector parameter or a tuple of
    scalar parameters, by one Taylor pass of order 2 along all coordinate directions at once
    (the primal work is shared).

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return x * x * y + y * y * y
        >>> td.laplacian(f, argnums=(0, 1))(1.0, 2.0)
        16.0
    """
    f = require_tidal(f, "laplacian")
    nums, is_tuple = _argnums(f, argnums, "laplacian")
    _single_float_result(f, "laplacian")

    def body_for(F, fp):
        dirs = _directions(F, nums)

        def body(pv):
            coefs = [[v] + [c for d in dirs for c in (d.get(i, ir.Zero(p.type)), ir.Zero(p.type))]
                     for i, (p, v) in enumerate(zip(F.params, pv))]
            (ys,) = emit_taylor(F, coefs, (2,) * len(dirs))
            total = ys[2]
            for j in range(1, len(dirs)):
                total = total + ys[2 + 2 * j]
            return [total * 2.0]
        return _params(F), body

    return _derived(f, ("laplacian", argnums if is_tuple else nums[0]), f"{f.name}_laplacian",
                    "laplacian", body_for)


def taylor(f, order=2, argnums=0) -> TidalFunction:
    """All derivatives up to ``order`` along one input, in one Taylor-mode pass.

    The returned function takes ``f``'s arguments (plus a ``direction`` of the same type when the
    parameter is a vector) and returns the tuple of **derivatives** (not normalised Taylor
    coefficients) ``(f, f', f'', ..., f^(order))`` along that input. Cost grows as ``order**2``.

    With ``order`` a tuple ``(K_1, ..., K_D)`` (vector parameter only), one pass serves ``D``
    directions and shares the primal work between them: the function takes one direction per
    entry and returns ``f`` followed by each direction's derivatives ``1 .. K_d`` in turn, e.g.
    ``(u, u_x, u_xx, u_t)`` for ``order=(2, 1)`` and directions ``e_x, e_t``.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64) -> td.f64:
        ...     return ti.exp(2.0 * x)
        >>> [round(d, 6) for d in td.taylor(f, order=3)(0.0)]
        [1.0, 2.0, 4.0, 8.0]
        >>> @td.func
        ... def g(z: td.vec(2, td.f64)) -> td.f64:
        ...     return ti.sin(z[0]) * z[1] ** 2
        >>> e_x, e_y = (1.0, 0.0), (0.0, 1.0)
        >>> [round(d, 6) for d in td.taylor(g, order=(2, 1))((0.0, 3.0), e_x, e_y)]
        [0.0, 9.0, 0.0, 0.0]
    """
    f = require_tidal(f, "taylor")
    multi = isinstance(order, tuple)
    orders = order if multi else (order,)
    for k in orders:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise TidalArgumentError(f"taylor: order must be a positive int or a tuple of them, "
                                     f"got {order!r}")
    if multi and not orders:
        raise TidalArgumentError("taylor: order=() names no direction")
    orders = tuple(int(k) for k in orders)
    nums, is_tuple = _argnums(f, argnums, "taylor")
    if is_tuple:
        raise TidalArgumentError("taylor: argnums must be one parameter",
                                 hint="for a direction mixing parameters, pack them in a vector")
    (a,) = nums
    _single_float_result(f, "taylor", scalar=False)
    vector = not f.param_types[a].is_scalar
    if multi and not vector:
        raise TidalArgumentError(
            "taylor: several directions (a tuple order) need a vector parameter",
            hint="along one scalar input, give one order, e.g. order=3")

    def body_for(F, fp):
        names = ["direction"] if not multi else [f"direction{d}" for d in range(len(orders))]
        extra = [(n, F.params[a].type) for n in names] if vector else []

        def body(pv):
            n = len(F.params)
            width = sum(orders)
            coefs = [[v] + [ir.Zero(p.type)] * width for p, v in zip(F.params, pv[:n])]
            pos = 1
            for d, K in enumerate(orders):
                coefs[a][pos] = pv[n + d] if vector else _unit(F.params[a].type, None)
                pos += K
            (ys,) = emit_taylor(F, coefs, order if multi else orders[0])
            out, pos = [ys[0]], 1
            for K in orders:
                out += [ys[pos + k - 1] * float(math.factorial(k)) if k > 1 else ys[pos + k - 1]
                        for k in range(1, K + 1)]
                pos += K
            return out
        return _params(F) + extra, body

    label = "_".join(map(str, orders))
    return _derived(f, ("taylor", a, order), f"{f.name}_taylor{label}", "taylor", body_for)
