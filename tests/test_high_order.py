"""Derivatives of orders 4 to 6 on a subset of the corpus, against references computed
independently of tidal: the same functions written with mpmath at 40 significant digits and
differentiated by ``mpmath.diff``, or closed forms.

Orders 4-6 come from one Taylor pass, nested forward mode, nested reverse mode (orders 4-5) and
forward-over-reverse. Relative tolerance 1e-9 (f64 evaluation of the derivative code is the
only error).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import tidal as td
from tidal.dsl import pycall

from . import corpus
from .reference import assert_close

mp.mp.dps = 40


def mp_tanh_f(x):
    return mp.tanh(1.5 * x) * mp.tanh(x - 0.3)


def mp_exp_f(x):
    return mp.exp(0.7 * x) * x - mp.exp(-x * x)


def mp_log_f(x):
    return mp.log(x) * x + mp.log(1 + x * x)


def mp_sin_cos(x):
    return mp.sin(2 * x) * mp.cos(x) - mp.cos(3 * x)


def mp_horner(x, n=5):
    acc = mp.mpf(1)
    for k in range(n):
        acc = acc * x + mp.mpf(1) / (k + 1)
    return acc


def mp_newton(a):
    return mp.sqrt(a)  # the loop converges to sqrt(a) to f64 precision after 12 steps


def mp_deep(x, y=0.4):
    return mp.sin(mp.exp(0.3 * mp.cos(x * y)) + mp.tanh(x - y))


def mp_nonlinear_state(x, n=4):
    z = x
    for _ in range(n):
        z = mp.sin(z) + 0.5 * z * z
    return z


def mp_erf_f(x):
    return mp.erf(x) * mp.exp(-0.5 * x)


CASES = [
    (corpus.tanh_f, mp_tanh_f, [0.37, -0.81]),
    (corpus.exp_f, mp_exp_f, [0.2, -1.1]),
    (corpus.log_f, mp_log_f, [0.6, 1.7]),
    (corpus.sin_cos, mp_sin_cos, [0.45, -0.9]),
    (corpus.dynamic_horner, mp_horner, [0.3, -0.6]),
    (corpus.while_newton_sqrt, mp_newton, [0.7, 1.6]),
    (corpus.deep_composition, mp_deep, [0.5, -0.35]),
    (corpus.dynamic_nonlinear_state, mp_nonlinear_state, [0.25, -0.4]),
    (corpus.erf_f, mp_erf_f, [0.3, -0.7]),
]


def _fixed_args(fn, xs):
    """Arguments: x varies; other float parameters fixed (0.4), int parameters as in corpus."""
    entry = next(e for e in corpus.ENTRIES if e.fn is fn)
    args = [np.asarray(xs, dtype=np.float64)]
    for d in entry.domain[1:]:
        args.append(np.full(len(xs), 0.4) if isinstance(d, tuple) else
                    np.full(len(xs), d, dtype=np.int32))
    return args


def _nested(fn, order, mode):
    g = fn
    for _ in range(order):
        g = td.grad(g, 0) if mode == "r" else td.derivative(g, (0,))
    return g


@pytest.mark.parametrize("fn,ref,xs", CASES, ids=lambda c: getattr(c, "name", ""))
def test_orders_4_to_6(fn, ref, xs):
    rows = []
    for k in (4, 5, 6):
        rows.append((f"taylor{k}", k, td.derivative(fn, 0, order=k)))
        rows.append((f"forward{k}", k, _nested(fn, k, "f")))
    for k in (4, 5):
        rows.append((f"reverse{k}", k, _nested(fn, k, "r")))
    rows.append(("forward-over-reverse4", 4, td.derivative(td.grad(td.grad(fn, 0), 0), (0, 0))))
    outs, _ = pycall.evaluate([fn] + [r[2] for r in rows], _fixed_args(fn, xs))
    for (label, k, _), (out,) in zip(rows, outs[1:]):
        expected = [float(mp.diff(ref, mp.mpf(x), k)) for x in xs]
        assert_close(out, expected, rtol=1e-9, what=f"{fn.name} {label}")


def test_taylor_gives_all_orders_in_one_pass():
    t = td.taylor(corpus.tanh_f, order=6)
    xs = np.array([0.37, -0.81])
    outs = t(xs)
    for k, out in enumerate(outs):
        expected = [float(mp.diff(mp_tanh_f, mp.mpf(x), k)) for x in xs]
        assert_close(out, expected, rtol=1e-9, what=f"taylor order {k}")
