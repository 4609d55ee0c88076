"""Rules for calls of tidal functions, made by transforming the callee.

A call's JVP calls the callee's JVP function, its VJP calls the callee's VJP function and its
Taylor rule calls the callee's Taylor function (:mod:`tidal.autodiff.derived`). Functions with a
declared rule (:func:`tidal.custom_jvp`, :func:`tidal.custom_vjp`) use it instead; the rule of the
other mode is obtained by transposing the declared one, and the Taylor rule by integrating the
tangent along the series, so declared rules compose to any order as well.
"""

from __future__ import annotations

from tidal.autodiff import derived, memory, rules
from tidal.autodiff.rules import Fused
from tidal.autodiff.series import Series
from tidal.dsl import calls, emitter, ir
from tidal.dsl.errors import TidalArgumentError


def _call(fn, args) -> tuple:
    em = emitter.current()
    res = calls.emit_call(fn, list(args), em.default_fp, em.loc)
    if res is None:
        return ()
    return res if isinstance(res, tuple) else (res,)


def rule_for(prim, kind: str):
    fn = prim.fn
    if "jvp" in fn.custom_rules or "vjp" in fn.custom_rules:
        return _CUSTOM[kind](fn)
    return _DERIVED[kind](fn)


# -- rules derived by transforming the callee ------------------------------------------------


def _jvp(fn):
    def rule(primals, outs, tangents, attrs):
        mask = tuple(not ir.is_zero(t) for t in tangents)
        g = derived.jvp_fn(fn, mask, mode=memory.current())
        res = _call(g, list(primals) + [t for t, m in zip(tangents, mask) if m])
        n = len(outs)
        return Fused(res[:n], res[n:])

    return rule


def _vjp(fn):
    def rule(primals, outs, cts, attrs):
        ct_mask = tuple(not ir.is_zero(c) for c in cts)
        wrt = tuple(p.type.is_float for p in primals)
        g = derived.vjp_fn(fn, wrt, ct_mask, with_primal=False, mode=memory.current())
        res = iter(_call(g, list(primals) + [c for c, m in zip(cts, ct_mask) if m]))
        return tuple(next(res) if w else None for w in wrt)

    return rule


def _taylor(fn):
    def rule(xs, outs, attrs, order):
        mask = tuple(not x.is_constant() for x in xs)
        g = derived.taylor_fn(fn, order, mask, mode=memory.current())
        args = [x.coef(0) for x in xs]
        args += [x.coef(k) for x, m in zip(xs, mask) if m for k in range(1, order + 1)]
        res = _call(g, args)
        w = order + 1
        return tuple(Series.known(list(res[i * w:(i + 1) * w]), order) for i in range(len(outs)))

    return rule


_DERIVED = {"jvp": _jvp, "vjp": _vjp, "taylor": _taylor}


# -- rules from declared derivatives -----------------------------------------------------------


def _float_mask(fn):
    return tuple(t.is_float for t in fn.param_types)


def tangent_function(fn):
    """``(params..., tangents of float params...) -> (results..., tangents of results...)``."""
    rules = fn.custom_rules
    if "jvp" in rules:
        return rules["jvp"]
    # transpose the declared VJP: it is linear in its cotangent arguments
    h = rules["vjp"]
    n, m = len(fn.param_types), len(fn.result_types)
    wrt = (False,) * n + (True,) * m
    cts = tuple(t.is_float for t in fn.param_types if t.is_float)
    return derived.vjp_fn(h, wrt, cts, with_primal=False, mode=memory.current()), "transposed"


def _custom_jvp(fn):
    def rule(primals, outs, tangents, attrs):
        fmask = _float_mask(fn)
        tf = tangent_function(fn)
        if isinstance(tf, tuple):  # transposed VJP: returns tangents only
            g, _ = tf
            zero_cts = [ir.Zero(t) for t in fn.result_types]
            res = _call(g, list(primals) + zero_cts + [t for t, f in zip(tangents, fmask) if f])
            return tuple(res)
        full = [emitter.current().fit(t, p.type) for t, p, f in zip(tangents, primals, fmask) if f]
        res = _call(tf, list(primals) + full)
        _check_arity(fn, "jvp", len(res), 2 * len(outs))
        return Fused(res[:len(outs)], res[len(outs):])

    return rule


def _custom_vjp(fn):
    def rule(primals, outs, cts, attrs):
        fmask = _float_mask(fn)
        if "vjp" in fn.custom_rules:
            h = fn.custom_rules["vjp"]
            res = _call(h, list(primals) + [emitter.current().fit(c, o.type)
                                            for c, o in zip(cts, outs)])
            _check_arity(fn, "vjp", len(res), sum(fmask))
        else:
            g = fn.custom_rules["jvp"]
            n = len(primals)
            m = len(outs)
            wrt = (False,) * n + tuple(f for f in fmask if f)
            ct_mask = (False,) * m + (True,) * m
            t = derived.vjp_fn(g, wrt, ct_mask, with_primal=False, mode=memory.current())
            zeros = [ir.Zero(p.type) for p, f in zip(primals, fmask) if f]
            res = _call(t, list(primals) + zeros + list(cts))
        it = iter(res)
        return tuple(next(it) if f else None for f in fmask)

    return rule


def _custom_taylor(fn):
    def rule(xs, outs, attrs, order):
        fmask = _float_mask(fn)
        tf = tangent_function(fn)
        transposed = isinstance(tf, tuple)
        g = tf[0] if transposed else tf
        dxs = [x.d() for x, f in zip(xs, fmask) if f]
        inputs = list(xs)
        if transposed:
            inputs += [Series.constant(ir.Zero(t), order - 1) for t in fn.result_types]
        inputs += dxs
        lower = order - 1
        mask = tuple(not s.is_constant() for s in inputs)
        tg = derived.taylor_fn(g, lower, mask, mode=memory.current())
        args = [s.coef(0) for s in inputs]
        args += [s.coef(k) for s, mk in zip(inputs, mask) if mk for k in range(1, lower + 1)]
        res = _call(tg, args)
        w = lower + 1
        m = len(outs)
        first = 0 if transposed else m  # skip the primal results of a declared JVP
        out = []
        for i in range(m):
            yp = res[(first + i) * w:(first + i + 1) * w]
            coefs = [outs[i]] + [yp[k - 1] * (1.0 / k) if k > 1 else yp[0]
                                 for k in range(1, order + 1)]
            out.append(Series.known(coefs, order))
        return tuple(out)

    return rule


def _check_arity(fn, kind, got, want):
    if got != want:
        raise TidalArgumentError(
            f"the declared {kind} rule of {fn.name} returns {got} values; expected {want}",
            hint="a jvp rule returns (outputs..., tangents of outputs...); a vjp rule returns "
                 "one cotangent per float parameter")


_CUSTOM = {"jvp": _custom_jvp, "vjp": _custom_vjp, "taylor": _custom_taylor}


for _table in (rules.JVP, rules.VJP, rules.TAYLOR):
    _table.family(calls.CallPrimitive, lambda prim, kind=_table.kind: rule_for(prim, kind))
