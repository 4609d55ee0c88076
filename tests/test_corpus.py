"""Every corpus function: all partial derivatives to order 3, through forward, reverse and mixed
compositions, against central finite differences in f64 (tolerance documented in
``tests/reference.py``), and against each other.

Modes are written innermost first: ``"fr"`` is reverse mode applied to a forward-mode
derivative (reverse-over-forward), ``"rf"`` forward-over-reverse, ``"t"`` one Taylor pass.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tidal as td
from tidal.dsl import pycall

from .corpus import ENTRIES
from .reference import assert_close, fd_partial

MODES = {1: ("f", "r"), 2: ("ff", "fr", "rf", "rr"), 3: ("fff", "rrr", "frr", "rff")}
N_POINTS = 3


def compose(f, index, modes):
    g = f
    for i, m in zip(index, modes):
        g = td.grad(g, i) if m == "r" else td.derivative(g, (i,))
    return g


def derivative_table(e):
    """(label, counts, function) for every partial of order 1..3 in every mode."""
    fpos = e.float_positions()
    rows = []
    for order in (1, 2, 3):
        for index in itertools.combinations_with_replacement(fpos, order):
            counts = tuple(index.count(i) for i in range(len(e.domain)))
            for modes in MODES[order]:
                rows.append((f"{modes}{index}", counts, compose(e.fn, index, modes)))
            if len(set(index)) == 1:
                rows.append((f"t{index}", counts, td.derivative(e.fn, index[0], order=order)))
    return rows


@pytest.mark.parametrize("e", ENTRIES, ids=lambda e: e.name)
def test_partials_to_order_3(e):
    rows = derivative_table(e)
    args = e.sample(N_POINTS)
    fns = [e.fn] + [fn for _, _, fn in rows]
    outs, _ = pycall.evaluate(fns, args)
    primal = td.vectorize(e.fn)
    fpos = e.float_positions()

    def f_of_floats(*xs):
        full = list(args)
        n = len(xs[0])
        for i, x in zip(fpos, xs):
            full[i] = x
        for i in range(len(full)):
            if i not in fpos:
                full[i] = np.full(n, args[i][0], dtype=np.int32)
        return primal(*full)

    by_counts = {}
    for (label, counts, _), (out,) in zip(rows, outs[1:]):
        by_counts.setdefault(counts, []).append((label, out))
    for counts, results in by_counts.items():
        ref = fd_partial(f_of_floats, [args[i] for i in fpos], tuple(counts[i] for i in fpos))
        for label, out in results:
            assert_close(out, ref, what=f"{e.name} {label} vs finite differences")
        first = results[0][1]
        for label, out in results[1:]:
            assert_close(out, first, rtol=1e-9, what=f"{e.name} {label} vs {results[0][0]}")
