"""PINN problems of many shapes on default settings (SIMD lanes on), each loss gradient against
central finite differences of the loss in f64.

Shapes: domains of 1 to 4 inputs (an interval, space-time products, a rectangle, a box, a
4-cube), residuals naming derivatives of every order up to 3 along one axis and mixed second
derivatives, with and without boundary conditions, and kernels that call two networks at once.
A 3-input problem used to kill the process in its first SIMD launch, and two networks in one
kernel gave a SyntaxError from generated code (issue findings 4 and 5): both are among these.
"""


import itertools
import linecache

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.solvers import (
    MLP,
    Box,
    DirichletBC,
    Hypercube,
    Interval,
    NeumannBC,
    Problem,
    Rectangle,
    TimeDomain,
)

DOMAINS = {
    "x": lambda: Interval(-1.0, 1.0),
    "xt": lambda: Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0),
    "xy": lambda: Rectangle((0.0, 0.0), (1.0, 2.0)),
    "xyt": lambda: Rectangle((0.0, 0.0), (1.0, 1.0)) * TimeDomain(0.0, 0.5),
    "xyz": lambda: Box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "xyzw": lambda: Hypercube([0.0] * 4, [1.0] * 4),
}


def _residual_names(axes: str) -> list[tuple[str, ...]]:
    """Derivative sets a residual may name on these axes: every order 0..3 along the first
    axis, first and second derivatives along the last, a mixed derivative, a coordinate."""
    a, b = axes[0], axes[-1]
    sets = [("u",), (f"u_{a}",), (f"u_{a}{a}", "u"), (f"u_{a}{a}{a}", f"u_{a}")]
    if len(axes) > 1:
        sets += [(f"u_{b}", f"u_{a}{a}"), (f"u_{a}{b}", "u", a), (f"u_{b}{b}", f"u_{a}{a}")]
    lap = tuple(f"u_{c}{c}" for c in axes)
    if len(axes) > 2:
        sets.append(lap)
    return sets


def _residual(names: tuple[str, ...]):
    """A tidal residual of the named derivatives: a nonlinear combination of all of them."""
    args = ", ".join(f"{n}: td.f64" for n in names)
    terms = " + ".join(f"{0.3 + 0.2 * k} * {n}" for k, n in enumerate(names))
    src = f"def res({args}) -> td.f64:\n    s = {terms}\n    return s + 0.1 * s * s\n"
    filename = f"<pinn_shape:{'_'.join(names)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns = {"td": td}
    exec(compile(src, filename, "exec"), ns)  # noqa: S102 - a residual of these names
    return td.func(ns["res"])


def _shapes():
    out = []
    for axes, with_bc in itertools.product(DOMAINS, (False, True)):
        for names in _residual_names(axes):
            if with_bc and names not in _residual_names(axes)[1::3]:
                continue
            out.append(pytest.param(axes, names, with_bc,
                                    id=f"{axes}-{'+'.join(names)}{'-bc' if with_bc else ''}"))
    return out


SHAPES = _shapes()


def _fd_check(value_and_grad, flat, what, directions=2, h=1e-5):
    value, grad = value_and_grad(flat)
    assert np.isfinite(value) and np.all(np.isfinite(grad)), what
    rng = np.random.default_rng(len(flat))
    for _ in range(directions):
        d = rng.normal(size=flat.shape)
        d /= np.linalg.norm(d)
        fd = (value_and_grad(flat + h * d)[0] - value_and_grad(flat - h * d)[0]) / (2 * h)
        got = grad @ d
        assert abs(got - fd) <= 1e-6 * max(abs(fd), 1e-3 * np.abs(grad).max()), \
            f"{what}: directional derivative {got!r}, finite differences {fd!r}"


def test_there_are_at_least_50_shapes():
    assert len(SHAPES) >= 50


@pytest.mark.parametrize("axes,names,with_bc", SHAPES)
def test_loss_gradient_matches_finite_differences(axes, names, with_bc):
    domain = DOMAINS[axes]()
    net = MLP(len(axes), width=3, depth=2, seed=len(names), dtype=td.f64)
    conditions = []
    if with_bc:
        conditions = [DirichletBC(domain, 0.25, n=5),
                      NeumannBC(domain, lambda p: p[:, 0], n=5)] if "t" not in axes else \
            [DirichletBC(domain, 0.25, n=5)]
    problem = Problem(domain, _residual(names), conditions, net, n_collocation=11, seed=3,
                      variables=tuple(axes))
    _fd_check(problem.value_and_grad, problem.get_flat(), f"{axes} {names}")


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_two_networks_in_one_kernel(dim):
    """A kernel calling two networks (and one network's derivative): gradients in both."""
    a = MLP(dim, width=3, depth=2, seed=1, dtype=td.f64)
    b = MLP(dim, width=4, depth=1, seed=2, dtype=td.f64)
    da = td.grad(a.func)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    vec = td.vec(dim, td.f64)

    @td.kernel
    def both(pts: ti.types.ndarray(dtype=vec, ndim=1)):
        for i in range(pts.shape[0]):
            z = pts[i]
            loss[None] += a.func(z) * b.func(z) + da(z).norm_sqr()

    pts = np.random.default_rng(dim).uniform(-1.0, 1.0, (37, dim))
    n_a = a.size

    def value_and_grad(flat):
        a.set_flat(flat[:n_a])
        b.set_flat(flat[n_a:])
        with td.Tape(loss):
            both(pts)
        return loss[None], np.concatenate([a.grad_flat(), b.grad_flat()])

    _fd_check(value_and_grad, np.concatenate([a.get_flat(), b.get_flat()]), f"two nets {dim}")
