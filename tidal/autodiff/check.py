"""``td.check_grad``: derivatives against finite differences, with a readable report.

The function's float outputs are combined with fixed random weights into one scalar
``phi(x) = sum_i w_i y_i(x)``. At order 1 every component of the gradient of ``phi`` is checked,
from reverse mode and from forward mode. At order k > 1 the k-th derivative of ``phi`` along a
random direction ``v`` (covering every float parameter) is checked from one Taylor pass, from
nested forward mode and from reverse mode over forward mode. The reference is a central
finite-difference stencil of ``t -> phi(x + t v)`` (9 points, 8th-order accurate for k = 1),
computed in the active float type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tidal.autodiff.derived import build
from tidal.autodiff.jvp import emit_jvp
from tidal.autodiff.taylor import emit_taylor
from tidal.autodiff.vjp import emit_vjp
from tidal.dsl import emitter, ir, pycall, runtime
from tidal.dsl import primitives as P
from tidal.dsl.errors import GradientMismatch, TidalArgumentError
from tidal.dsl.function import TidalFunction, require_tidal


@dataclass
class Comparison:
    """One compared derivative."""

    mode: str
    order: int
    component: str
    computed: float
    reference: float
    tolerance: float

    @property
    def error(self) -> float:
        return abs(self.computed - self.reference)

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance

    def row(self) -> str:
        flag = "ok" if self.ok else "MISMATCH"
        return (f"  {self.mode:<22} {self.order:>5}  {self.component:<14} {self.computed:>16.9g}"
                f" {self.reference:>16.9g} {self.error:>10.2e} {self.tolerance:>10.2e}  {flag}")


def _weights(fn: TidalFunction, rng):
    return [rng.uniform(0.5, 1.5, r.shape) if r.is_float else None for r in fn.result_types]


def _dot_outputs(ys, weights):
    total = None
    for y, w in zip(ys, weights):
        if w is None:
            continue
        term = y * emitter.make_const(w, y.type)
        if not y.type.is_scalar:
            term = P.sum_(term)
        total = term if total is None else total + term
    return total


def _scalarized(fn: TidalFunction, weights) -> TidalFunction:
    def builder(fp):
        F = fn.transform_ir(fp)

        def body(pv):
            from tidal.dsl.calls import emit_call

            res = emit_call(fn, list(pv), fp, F.loc)
            res = res if isinstance(res, tuple) else (res,)
            return [_dot_outputs(res, weights)]
        return build(f"{fn.name}_weighted", [(p.name, p.type) for p in F.params], body, fp)

    return TidalFunction(f"{fn.name}_weighted", builder)


def _const_list(F, direction):
    return [emitter.make_const(d, p.type) if d is not None else ir.Zero(p.type)
            for d, p in zip(direction, F.params)]


def _along(g: TidalFunction, direction, order: int, mode: str) -> TidalFunction:
    """The order-th derivative of scalar ``g`` along ``direction`` (per-parameter arrays)."""

    def builder(fp):
        F = g.transform_ir(fp)
        params = [(p.name, p.type) for p in F.params]
        if mode == "taylor":
            def body(pv):
                coefs = [[x, d] + [ir.Zero(x.type)] * (order - 1)
                         for x, d in zip(pv, _const_list(F, direction))]
                return [emit_taylor(F, coefs, order)[0][order] * float(math.factorial(order))]
            return build("along", params, body, fp)
        inner = g if order == 1 else _along(g, direction, order - 1, "forward")
        G = inner.transform_ir(fp)
        if mode == "forward":
            def body(pv):
                return [emit_jvp(G, pv, _const_list(G, direction))[1][0]]
        else:
            def body(pv):
                _, cts = emit_vjp(G, pv, [emitter.make_const(1.0, G.body.results[0].type)])
                return [_dot_outputs(cts, direction)]
        return build("along", params, body, fp)

    return TidalFunction(f"{g.name}_along{order}_{mode}", builder)


def _fd(phi, order: int, h: float) -> float:
    from fractions import Fraction

    p = 4
    offs = list(range(-p, p + 1))
    n = len(offs)
    a = [[Fraction(j) ** k for j in offs] for k in range(n)]
    b = [Fraction(math.factorial(order)) if k == order else Fraction(0) for k in range(n)]
    w = np.linalg.solve(np.array(a, dtype=float), np.array(b, dtype=float))
    vals = phi(np.array(offs, dtype=np.float64) * h)
    return float(np.dot(w, vals) / h ** order)


def check_grad(f, *args, order: int = 1, rtol: float | None = None, seed: int = 0):
    """Check ``f``'s derivatives at ``args`` against finite differences.

    Args:
        f: a tidal function.
        *args: one point (numbers, or arrays for vector/matrix parameters).
        order: highest derivative order to check (1 checks every gradient component).
        rtol: relative tolerance, on ``|computed - reference| <= rtol * (1 + |reference|)``;
            by default 1e-6 (order 1) / 1e-5 (higher) in f64 and 2e-2 in f32.
        seed: seed of the random output weights and direction.

    Returns:
        The list of :class:`Comparison` rows (all passing).

    Raises:
        GradientMismatch: with the table of computed values, references and errors (also as
            its ``rows`` attribute).

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return ti.sin(x * y) + x ** 3
        >>> rows = td.check_grad(f, 0.3, 1.2, order=3)
        >>> all(r.ok for r in rows)
        True
    """
    require_tidal(f, "check_grad")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise TidalArgumentError(f"check_grad: order must be a positive int, got {order!r}")
    types = f.param_types
    if len(args) != len(types):
        raise TidalArgumentError(f"check_grad: {f.name} takes {len(types)} arguments, got "
                                 f"{len(args)}")
    if not any(t.is_float for t in types) or not any(t.is_float for t in f.result_types):
        raise TidalArgumentError(f"check_grad: {f.name} has no float parameter or output")
    fp = runtime.config().default_fp
    single = fp.name == "f32"
    rng = np.random.default_rng(seed)
    weights = _weights(f, rng)
    g = _scalarized(f, weights)
    point = [np.asarray(a, dtype=t.dtype.numpy) for a, t in zip(args, types)]
    scale = max([float(np.max(np.abs(p))) for p, t in zip(point, types) if t.is_float] + [1.0])
    phi_vec = pycall.vectorize(g)

    def phi_along(direction):
        def phi(ts):
            pts = [p[None] + ts.reshape((-1,) + (1,) * p.ndim) * d if d is not None
                   else np.broadcast_to(p, (len(ts),) + p.shape) for p, d in zip(point, direction)]
            return np.asarray(phi_vec(*pts), dtype=np.float64)
        return phi

    rows: list[Comparison] = []
    tol1 = rtol or (2e-2 if single else 1e-6)
    # order 1: every component, reverse and forward
    comps = []
    for k, t in enumerate(types):
        if not t.is_float:
            continue
        for j in range(t.size):
            e = np.zeros(t.shape)
            e.flat[j] = 1.0
            label = f.param_names[k] + (f"[{j}]" if t.shape else "")
            comps.append(([e if i == k else None for i in range(len(types))], label))
    fns = []
    for direction, _ in comps:
        fns.append(_along(g, direction, 1, "reverse"))
        fns.append(_along(g, direction, 1, "forward"))
    h1 = (1e-2 if single else 1e-3) * scale
    higher = []
    if order > 1:
        v = [rng.uniform(-1, 1, t.shape) if t.is_float else None for t in types]
        v = [np.asarray(d, dtype=np.float64) if d is not None else None for d in v]
        for k in range(2, order + 1):
            for mode in ("taylor", "forward", "reverse-over-forward"):
                m = "reverse" if mode.startswith("reverse") else mode
                higher.append((k, mode, _along(g, v, k, m)))
    outs, _ = pycall.evaluate([g] + fns + [h for _, _, h in higher], point)
    it = iter(outs[1:])
    for direction, label in comps:
        ref = _fd(phi_along(direction), 1, h1)
        for mode in ("reverse", "forward"):
            (val,) = next(it)
            rows.append(Comparison(mode, 1, label, float(val), ref, tol1 * (1 + abs(ref))))
    for k, mode, _ in higher:
        (val,) = next(it)
        hk = (3e-2 if single else 10 ** (-3 + 0.5 * (k - 1))) * scale
        ref = _fd(phi_along(v), k, hk)
        tolk = rtol or (2e-2 if single else 1e-5)
        rows.append(Comparison(mode, k, "along v", float(val), ref, tolk * (1 + abs(ref))))
    bad = [r for r in rows if not r.ok]
    if bad:
        head = (f"  {'mode':<22} {'order':>5}  {'component':<14} {'computed':>16} "
                f"{'finite diff.':>16} {'error':>10} {'tolerance':>10}")
        table = "\n".join([head] + [r.row() for r in rows])
        err = GradientMismatch(
            f"derivatives of {f.name} disagree with finite differences at {len(bad)} of "
            f"{len(rows)} checks:\n{table}",
            hint="a declared rule (custom_jvp/custom_vjp) may be wrong, or the point is at a "
                 "kink or branch boundary of the function")
        err.rows = rows
        raise err
    return rows
