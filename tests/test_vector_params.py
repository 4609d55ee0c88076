"""Functions with vector and matrix parameters: gradients (reverse), jacobians (forward),
hessians (forward-over-reverse) and third derivatives (forward-over-reverse-over-forward),
against central finite differences on the components, in f64.
"""

from __future__ import annotations

import numpy as np
import pytest

import tidal as td
from tidal.autodiff.derived import build
from tidal.autodiff.jvp import emit_jvp
from tidal.dsl import emitter
from tidal.dsl.function import TidalFunction

from .corpus import VECTOR_ENTRIES
from .reference import assert_close, fd_partial


def along(fn, argnum, direction):
    """The derivative of fn along ``direction`` in parameter ``argnum`` (forward mode)."""

    def builder(fp):
        F = fn.ir(fp)

        def body(pv):
            tangents = [emitter.make_const(direction, p.type) if i == argnum else
                        emitter.ir.Zero(p.type) for i, p in enumerate(F.params)]
            return [emit_jvp(F, pv, tangents)[1][0]]
        return build(f"{fn.name}_along", [(p.name, p.type) for p in F.params], body, fp)

    return TidalFunction(f"{fn.name}_along", builder)


def component_fd(f, args, argnum, order_counts):
    """FD partial of f with respect to components of parameter ``argnum``."""
    base = np.asarray(args[argnum], dtype=np.float64)
    flat = base.reshape(-1)

    def g(*comps):
        n = len(comps[0])
        full = []
        for k, a in enumerate(args):
            if k == argnum:
                arr = np.broadcast_to(flat, (n, flat.size)).copy()
                for c, vals in enumerate(comps):
                    arr[:, c] = vals
                full.append(arr.reshape((n,) + base.shape))
            else:
                full.append(a)
        return f(*full)

    return fd_partial(g, [np.array([x]) for x in flat], order_counts)[0]


def unit(shape, c):
    e = np.zeros(int(np.prod(shape)))
    e[c] = 1.0
    return e.reshape(shape)


@pytest.mark.parametrize("e", VECTOR_ENTRIES, ids=lambda e: e.name)
def test_vector_parameter_derivatives(e):
    rng = np.random.default_rng(7)
    args = e.sample(rng)
    f = td.vectorize(e.fn)
    vec_arg = 0
    shape = np.shape(args[vec_arg])
    n = int(np.prod(shape))
    if not e.scalar_output:
        jac = td.jacobian(e.fn, vec_arg)(*args)
        for c in range(n):
            for r in range(jac.shape[0]):
                ref = component_fd(lambda *a, r=r: f(*a)[..., r], args, vec_arg,
                                   tuple(1 if k == c else 0 for k in range(n)))
                assert_close(jac[r, c], ref, what=f"{e.name} jacobian[{r}, {c}]")
        return
    grad = np.asarray(td.grad(e.fn, vec_arg)(*args)).reshape(-1)
    jac = np.asarray(td.jacobian(e.fn, vec_arg)(*args)).reshape(-1)
    hess = np.asarray(td.hessian(e.fn, vec_arg)(*args)).reshape(n, n)
    for c in range(n):
        counts = tuple(1 if k == c else 0 for k in range(n))
        ref = component_fd(f, args, vec_arg, counts)
        assert_close(grad[c], ref, what=f"{e.name} grad[{c}]")
        assert_close(jac[c], ref, what=f"{e.name} jacobian[{c}]")
    for a in range(n):
        for b in range(n):
            counts = tuple((k == a) + (k == b) for k in range(n))
            ref = component_fd(f, args, vec_arg, counts)
            assert_close(hess[a, b], ref, what=f"{e.name} hessian[{a}, {b}]")
    # third derivatives: the hessian of the derivative along each unit direction
    for a in range(n):
        t = np.asarray(td.hessian(along(e.fn, vec_arg, unit(shape, a)), vec_arg)(*args))
        for b in range(n):
            for c in range(b, n):
                counts = tuple((k == a) + (k == b) + (k == c) for k in range(n))
                ref = component_fd(f, args, vec_arg, counts)
                assert_close(t[b, c], ref, what=f"{e.name} d3[{a}, {b}, {c}]")
