"""First derivatives of the corpus against Taichi's own autodiff (``ti.ad.Tape``).

Taichi differentiates the generated primal code (the same ``@ti.func`` tidal emits) inside a
kernel that sums the function over the sample points. Where Taichi handles the construct
(``taichi=True``) its gradients equal tidal's to 1e-10. The other entries document Taichi's
limits: some constructs it refuses, and for some it returns a gradient that is silently wrong
(far from finite differences) while tidal's matches them.
"""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import loader, pycall

from .corpus import ENTRIES
from .reference import assert_close

TAICHI_ENTRIES = [e for e in ENTRIES if e.taichi is True]
REFUSED = [e for e in ENTRIES if e.taichi == "refuses"]
WRONG = [e for e in ENTRIES if e.taichi == "wrong"]


def taichi_gradient(e, args):
    n = len(args[0])
    fpos = e.float_positions()
    fields = {f"x{i}": ti.field(ti.f64, shape=n, needs_grad=True) for i in fpos}
    for i in fpos:
        fields[f"x{i}"].from_numpy(args[i])
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    call_args = [f"x{i}[i]" if i in fpos else str(int(args[i][0])) for i in range(len(args))]
    src = (
        "@ti.kernel\n"
        "def total():\n"
        f"    for i in range({n}):\n"
        f"        loss[None] += f({', '.join(call_args)})\n"
    )
    kern = loader.load(src, "total", dict(fields, loss=loss, f=e.fn.taichi_object()),
                       f"oracle_{e.name}")
    with ti.ad.Tape(loss=loss):
        kern()
    return [fields[f"x{i}"].grad.to_numpy() for i in fpos]


@pytest.mark.parametrize("e", TAICHI_ENTRIES, ids=lambda e: e.name)
def test_first_derivatives_match_taichi_autodiff(e):
    args = e.sample(4, seed=1)
    fpos = e.float_positions()
    grads = [td.grad(e.fn, i) for i in fpos]
    outs, _ = pycall.evaluate(grads, args)
    expected = taichi_gradient(e, args)
    for i, (out,), ref in zip(fpos, outs, expected):
        assert_close(out, ref, rtol=1e-10, what=f"{e.name} d/d{e.fn.param_names[i]} vs ti.ad")


def test_oracle_covers_most_of_the_corpus():
    assert len(TAICHI_ENTRIES) >= 60


@pytest.mark.parametrize("e", REFUSED, ids=lambda e: e.name)
def test_taichi_refuses_but_tidal_differentiates(e):
    with pytest.raises(Exception):  # noqa: B017 - Taichi raises RuntimeError or its own types
        taichi_gradient(e, e.sample(2, seed=1))


@pytest.mark.parametrize("e", WRONG, ids=lambda e: e.name)
def test_taichi_is_silently_wrong_where_tidal_is_right(e):
    args = e.sample(4, seed=1)
    fpos = e.float_positions()
    outs, _ = pycall.evaluate([td.grad(e.fn, i) for i in fpos], args)
    theirs = taichi_gradient(e, args)
    primal = td.vectorize(e.fn)
    worst = 0.0
    for i, (ours,), t in zip(fpos, outs, theirs):
        h = 1e-6
        up = [a + h if k == i else a for k, a in enumerate(args)]
        down = [a - h if k == i else a for k, a in enumerate(args)]
        fd = (primal(*up) - primal(*down)) / (2 * h)
        assert_close(ours, fd, rtol=1e-6, what=f"tidal {e.name}")
        worst = max(worst, float(np.max(np.abs(t - fd) / (1 + np.abs(fd)))))
    assert worst > 1e-3, f"Taichi's gradient of {e.name} is now right: update the corpus"
