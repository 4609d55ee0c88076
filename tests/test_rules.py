"""The rule tables: every primitive has JVP, VJP and Taylor rules and a declared test domain,
and every rule is checked to order 3 on that domain.

For each primitive and each declared case, the primitive is applied to the case's inputs (vector
and matrix outputs are reduced to a scalar with fixed weights) and the k-th derivative along a
random direction v, k = 1..3, is computed three ways: one Taylor pass, nested forward mode, and
nested reverse mode (D_k = <grad D_{k-1}, v>). Each must match central finite differences of
t -> f(x + t v) in f64 (tolerance in tests/reference.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.autodiff import rules
from tidal.autodiff.derived import build
from tidal.autodiff.jvp import emit_jvp
from tidal.autodiff.taylor import emit_taylor
from tidal.dsl import emitter, ir, pycall
from tidal.dsl import primitives as P
from tidal.dsl.function import TidalFunction
from tidal.dsl.types import F64, I32, TType

from .reference import assert_close, fd_directional

ALL = P.all_primitives()


def test_every_primitive_has_rules_and_a_domain():
    missing = []
    for p in ALL:
        for table in (rules.JVP, rules.VJP, rules.TAYLOR):
            if p not in table:
                missing.append(f"{p.name}: no {table.kind} rule")
        if not p.cases:
            missing.append(f"{p.name}: no test domain (cases)")
    assert not missing, "\n".join(missing)


def _cases():
    for p in ALL:
        for k, c in enumerate(p.cases):
            yield pytest.param(p, c, id=f"{p.name}-{k}")


_FIELD = {}


def _load_attrs():
    if "f" not in _FIELD or _FIELD["gen"] != td.dsl.runtime.config().generation:
        f = ti.field(ti.f64, shape=3)
        f.from_numpy(np.array([0.5, -1.25, 2.0]))
        _FIELD.update(f=f, gen=td.dsl.runtime.config().generation)
    return (P.GlobalRef(_FIELD["f"], "table"), TType(F64))


def make_function(prim, case, rng):
    """A tidal function of the case's float inputs: prim applied, reduced to a scalar."""
    float_inputs = [d for d in case.inputs if isinstance(d, P.Interval)]
    weights = None

    def builder(fp):
        def body(pv):
            nonlocal weights
            it = iter(pv)
            args = []
            for d in case.inputs:
                if isinstance(d, P.Interval):
                    args.append(next(it))
                else:
                    args.append(ir.Const(int(d.values[0]), TType(I32)))
            attrs = _load_attrs() if prim is P.load else case.attrs
            em = emitter.current()
            out = em.apply(prim, args, attrs)
            out = out[0] if isinstance(out, tuple) else out
            if not out.type.is_float:
                out = P.cast(out, dtype=F64)
            if not out.type.is_scalar:
                if weights is None:
                    weights = rng.uniform(0.5, 1.5, out.type.shape)
                out = P.sum_(out * em.const(weights, out.type))
            if prim is P.load:
                out = out * pv[0] if pv else out
            return [out]

        params = [(f"x{i}", TType(F64, d.shape)) for i, d in enumerate(float_inputs)]
        if prim is P.load:
            params = [("x0", TType(F64))]
        return build(f"rule_{prim.name}", params, body, fp)

    return TidalFunction(f"rule_{prim.name}", builder)


def directional(fn, v, mode, order):
    """The order-th derivative of fn along direction v (a list of arrays, one per param)."""

    def consts(F):
        return [emitter.make_const(vi, p.type) for vi, p in zip(v, F.params)]

    def builder(fp):
        F = fn.ir(fp)
        params = [(p.name, p.type) for p in F.params]
        if mode == "t":
            def body(pv):
                vc = consts(F)
                coefs = [[x, d] + [ir.Zero(x.type)] * (order - 1) for x, d in zip(pv, vc)]
                return [emit_taylor(F, coefs, order)[0][order] * float(math.factorial(order))]
            return build("dir_t", params, body, fp)
        inner = fn if order == 1 else directional(fn, v, mode, order - 1)
        G = inner.ir(fp)
        if mode == "f":
            def body(pv):
                return [emit_jvp(G, pv, consts(G))[1][0]]
            return build(f"dir_f{order}", params, body, fp)
        grads = td.grad(inner, tuple(range(len(G.params))))
        GR = grads.ir(fp)

        def body(pv):
            from tidal.dsl import calls

            gs = calls.emit_call(grads, list(pv), fp, None)
            gs = gs if isinstance(gs, tuple) else (gs,)
            total = None
            for g, c in zip(gs, consts(GR)):
                term = P.sum_(g * c) if not g.type.is_scalar else g * c
                total = term if total is None else total + term
            return [total]
        return build(f"dir_r{order}", params, body, fp)

    return TidalFunction(f"dir_{mode}{order}", builder)


# Writes to memory (and array sizes) only mean something inside kernels: their rules are
# checked to order 2 through whole kernels in tests/test_kernels.py.
KERNEL_ONLY = {P.store, P.atomic_add, P.array_size}


# The 3x3 decompositions' derivatives compile to very large kernels (order 1 alone: 70-105 s
# each on the 2-core CI machine, order 2 about three minutes): they run in the slow set, to
# orders 1, 2 and 3. CI keeps their first derivatives through kernels under td.Tape, against
# Taichi and finite differences (tests/test_decompositions.py).
LARGE = {P.polar3, P.svd3, P.sym_eig3}


def _rule_params():
    for c in _cases():
        prim = c.values[0]
        if prim in KERNEL_ONLY:
            continue
        if prim in LARGE:
            yield pytest.param(*c.values, 1, id=f"{c.id}-order1", marks=pytest.mark.slow)
            yield pytest.param(*c.values, 2, id=f"{c.id}-order2", marks=pytest.mark.slow)
            yield pytest.param(*c.values, 3, id=f"{c.id}-order3", marks=pytest.mark.slow)
        else:
            yield pytest.param(*c.values, 3, id=c.id)


@pytest.mark.parametrize("prim,case,max_order", _rule_params())
def test_rule_to_order_3(prim, case, max_order):
    orders = tuple(range(1, max_order + 1))
    rng = np.random.default_rng(sum(map(ord, prim.name)))
    fn = make_function(prim, case, rng)
    float_inputs = [d for d in case.inputs if isinstance(d, P.Interval)]
    if prim is P.load:
        float_inputs = [P.Interval(-1.0, 1.0)]
    if not float_inputs:
        _check_integer_only(prim, case)
        return
    n = 3
    points, direction = [], []
    for d in float_inputs:
        pad = 0.15 * (d.hi - d.lo)
        points.append(rng.uniform(d.lo + pad, d.hi - pad, (n,) + d.shape))
        direction.append(rng.uniform(-1.0, 1.0, d.shape))
    fns = [fn] + [directional(fn, direction, m, k) for k in orders for m in ("t", "f", "r")]
    outs, _ = pycall.evaluate(fns, points)
    primal = td.vectorize(fn)
    for j in range(n):
        def g(t, j=j):
            return primal(*[p[j][None] + t.reshape((-1,) + (1,) * p[j].ndim) * v
                            for p, v in zip(points, direction)])
        for idx, (k, m) in enumerate((k, m) for k in orders for m in ("t", "f", "r")):
            ref = fd_directional(g, k, h=0.01)
            assert_close(outs[1 + idx][0][j], ref,
                         what=f"{prim.name} {case} order {k} mode {m} at point {j}")


def _check_integer_only(prim, case):
    """Primitives on integers only: no derivative flows, and every rule says so."""
    from tidal.autodiff.series import Series

    assert not prim.diff_args(len(case.inputs))
    em = emitter.Emitter(F64)
    with em:
        args = [ir.Var(f"a{i}", TType(I32)) for i in range(len(case.inputs))]
        out = em.apply(prim, args, case.attrs)
        outs = (out,)
        zeros = tuple(ir.Zero(a.type) for a in args)
        assert all(ir.is_zero(t) for t in rules.JVP.lookup(prim)(tuple(args), outs, zeros, ()))
        assert all(c is None for c in rules.VJP.lookup(prim)(tuple(args), outs, outs, ()))
        ys = rules.TAYLOR.lookup(prim)(tuple(Series.constant(a, 3) for a in args), outs, (), 3)
        assert all(y.is_constant() for y in ys)
