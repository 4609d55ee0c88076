"""Derived tidal functions: the JVP, VJP and Taylor versions of a tidal function.

Each constructor returns a memoised :class:`~tidal.dsl.function.TidalFunction` whose IR is made by
one transformation of the original's IR. They are what calls of tidal functions are
differentiated into, and the building blocks of the public API.

Signatures (``n`` parameters, ``m`` results):

* ``jvp_fn(f, mask)``: ``(params..., tangents of masked params...) -> (results..., tangents...)``;
  every constructor takes a memory ``mode`` (derivatives of calls made inside kernels);
* ``vjp_fn(f, wrt, cts)``: ``(params..., cotangents of masked results...) ->
  (results..., cotangents of wrt params...)``;
* ``taylor_fn(f, K, mask)``: ``(params..., coefficients 1..K of masked params...) ->
  (coefficients 0..K of result 1, ..., of result m)``; with ``K`` a tuple of orders (and one
  mask per direction), several directions in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tidal.autodiff import memory
from tidal.autodiff.jvp import emit_jvp
from tidal.autodiff.taylor import emit_taylor
from tidal.autodiff.vjp import emit_vjp
from tidal.dsl import ir
from tidal.dsl.emitter import Emitter
from tidal.dsl.function import TidalFunction
from tidal.dsl.types import DType, TType


def build(name: str, params: Sequence[tuple[str, TType]], body: Callable, default_fp: DType,
          loc=None) -> ir.Function:
    """Build an IR function whose body is emitted by ``body(param_vars) -> results``."""
    em = Emitter(default_fp)
    pvars = [ir.Var(n, t) for n, t in params]
    with em:
        em.loc = loc
        em.begin()
        results = body(pvars)
        block = em.end(tuple(results))
    return ir.Function(name, pvars, block, loc)


def _in_mode(mode):
    """Run a builder in a memory mode (:mod:`tidal.autodiff.memory`): derivatives of calls made
    inside kernels read and write derivative storage, the same function's outside them do not."""
    def wrap(builder):
        def run(fp):
            with memory.mode(mode):
                return builder(fp)
        return run
    return wrap


def _params(f: ir.Function):
    return [(p.name, p.type) for p in f.params]


def jvp_fn(fn: TidalFunction, mask: tuple[bool, ...], mode=None) -> TidalFunction:
    """Forward mode with tangents for the parameters in ``mask`` (in memory mode ``mode``)."""

    def make():
        @_in_mode(mode)
        def builder(fp):
            f = fn.transform_ir(fp)
            extra = [("d" + p.name, p.type) for p, m in zip(f.params, mask) if m]

            def body(pv):
                n = len(f.params)
                it = iter(pv[n:])
                tangents = [next(it) if m else ir.Zero(p.type) for p, m in zip(f.params, mask)]
                results, touts = emit_jvp(f, pv[:n], tangents)
                return list(results) + list(touts)

            return build(f"{fn.name}_jvp", _params(f) + extra, body, fp, f.loc)

        return TidalFunction(f"{fn.name}_jvp", builder, kind="jvp")

    return fn.memo(("jvp", mask, mode), make)


def vjp_fn(fn: TidalFunction, wrt: tuple[bool, ...], cts: tuple[bool, ...],
           with_primal: bool = True, mode=None) -> TidalFunction:
    """Reverse mode: cotangents for results in ``cts``, returned for parameters in ``wrt``."""

    def make():
        @_in_mode(mode)
        def builder(fp):
            f = fn.transform_ir(fp)
            extra = [(f"ct{i}", r.type) for i, (r, m) in enumerate(zip(f.body.results, cts)) if m]

            def body(pv):
                n = len(f.params)
                it = iter(pv[n:])
                seeds = [next(it) if m else None for m in cts]
                results, pcts = emit_vjp(f, pv[:n], seeds)
                out = list(results) if with_primal else []
                return out + [c for c, w in zip(pcts, wrt) if w]

            names = [(p.name, p.type) for p in f.params]
            return build(f"{fn.name}_vjp", names + extra, body, fp, f.loc)

        return TidalFunction(f"{fn.name}_vjp", builder, kind="vjp")

    return fn.memo(("vjp", wrt, cts, with_primal, mode), make)


def taylor_fn(fn: TidalFunction, order, mask, mode=None) -> TidalFunction:
    """Taylor mode of order ``order`` with input series for the parameters in ``mask``.

    With several directions, ``order`` is ``(K_1, ..., K_D)`` and ``mask`` one mask per
    direction: the function takes ``(params..., direction 1's coefficients 1..K_1 of its masked
    params..., direction 2's ..., ...)`` and returns, per result, coefficient 0 followed by each
    direction's coefficients ``1 .. K_d``, from one pass that shares the primal work.
    """
    multi = not isinstance(order, int)
    orders = tuple(order) if multi else (order,)
    masks = tuple(mask) if multi else (mask,)
    name = f"{fn.name}_taylor{'_'.join(map(str, orders))}"

    def make():
        @_in_mode(mode)
        def builder(fp):
            f = fn.transform_ir(fp)
            extra = [(f"{p.name}_{k}" + (f"_{d}" if d else ""), p.type)
                     for d, (K, m_d) in enumerate(zip(orders, masks))
                     for p, m in zip(f.params, m_d) if m for k in range(1, K + 1)]

            def body(pv):
                n = len(f.params)
                it = iter(pv[n:])
                given = [{p: [next(it) for _ in range(K)] for p, m in zip(f.params, m_d) if m}
                         for K, m_d in zip(orders, masks)]
                coefs = [[v] + [c for d, K in enumerate(orders)
                                for c in given[d].get(p, [ir.Zero(p.type)] * K)]
                         for p, v in zip(f.params, pv[:n])]
                outs = emit_taylor(f, coefs, order)
                return [c for cs in outs for c in cs]

            return build(name, _params(f) + extra, body, fp, f.loc)

        return TidalFunction(name, builder, kind="taylor")

    return fn.memo(("taylor", order, mask, mode), make)
