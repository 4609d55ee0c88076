"""td.LinearMap: a linear solve applied by Python code between kernels is differentiated as the
map itself: gradients under td.Tape (also with the tape's own checkpointing), directional
derivatives from td.jvp_run and Hessian-vector products from td.hvp, against central
differences in f64; a map that overwrites values an earlier launch read keeps them for its
adjoint."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH

from .reference import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N = 5
RNG = np.random.default_rng(0)
_A = RNG.standard_normal((N, N))
M = _A @ _A.T + N * np.eye(N)  # a fixed SPD matrix: the map is y[s] = M^{-1} x[s]


def _solve(srcs, dsts, s):
    x, y = srcs[0].to_numpy(), dsts[0].to_numpy()
    y[s] = np.linalg.solve(M, x[s])
    dsts[0].from_numpy(y)


def _solve_t(dsts_bar, srcs_bar, s):
    yb, xb = dsts_bar[0].to_numpy(), srcs_bar[0].to_numpy()
    xb[s] += np.linalg.solve(M.T, yb[s])
    yb[s] = 0.0
    dsts_bar[0].from_numpy(yb)
    srcs_bar[0].from_numpy(xb)


@pytest.fixture()
def program():
    td.init(arch=ARCH, default_fp=td.f64)
    p = ti.field(ti.f64, shape=N, needs_grad=True)
    x = ti.field(ti.f64, shape=(3, N), needs_grad=True)
    y = ti.field(ti.f64, shape=(3, N), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    solve = td.LinearMap(_solve, _solve_t, slice_arg=0, name="the solve")

    @td.kernel
    def source(s: ti.i32):
        for i in range(N):
            x[s, i] = ti.sin(p[i]) * (s + 1.0) + p[i] * p[(i + 1) % N]

    @td.kernel
    def feed(s: ti.i32):
        for i in range(N):
            x[s + 1, i] = y[s, i] * y[s, i]

    @td.kernel
    def total():
        for i in range(N):
            loss[None] += ti.exp(0.3 * y[2, i]) + y[1, i] * p[i]

    def run():
        loss[None] = 0.0
        source(0)
        solve([x], [y], 0)
        feed(0)
        solve([x], [y], 1)
        feed(1)
        solve([x], [y], 2)
        total()
        return loss

    p.from_numpy(RNG.standard_normal(N))
    return p, run, loss


def _loss_at(p, run, value):
    p.from_numpy(value)
    return float(run()[None])


def test_gradients_through_the_map_equal_central_differences(program):
    p, run, loss = program
    base = p.to_numpy()
    for every in (None, 1, 2):
        with td.Tape(loss, checkpoint_every=every):
            run()
        grad = p.grad.to_numpy()
        h = 1e-6
        fd = np.array([(_loss_at(p, run, base + h * e) - _loss_at(p, run, base - h * e)) / (2 * h)
                       for e in np.eye(N)])
        p.from_numpy(base)
        assert_close(grad, fd, rtol=1e-7, what=f"gradient (checkpoint_every={every})")


def test_tangents_and_hessian_vector_products_equal_central_differences(program):
    p, run, loss = program
    base, v = p.to_numpy(), RNG.standard_normal(N)
    h = 1e-6
    value, dvalue = td.jvp_run(run, [p], [v])
    fd = (_loss_at(p, run, base + h * v) - _loss_at(p, run, base - h * v)) / (2 * h)
    assert_close(dvalue, fd, rtol=1e-7, what="directional derivative")

    def grad_at(value):
        p.from_numpy(value)
        with td.Tape(loss):
            run()
        return p.grad.to_numpy()

    p.from_numpy(base)
    _, (g,), (hv,) = td.hvp(run, [p], [v])
    assert_close(g, grad_at(base), rtol=1e-12, what="gradient from the hvp run")
    assert_close(hv, (grad_at(base + h * v) - grad_at(base - h * v)) / (2 * h), rtol=1e-6,
                 what="Hessian-vector product")


def test_a_map_overwriting_what_a_launch_read_keeps_it_for_the_adjoint():
    td.init(arch=ARCH, default_fp=td.f64)
    x = ti.field(ti.f64, shape=(1, N), needs_grad=True)
    y = ti.field(ti.f64, shape=(1, N), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    solve = td.LinearMap(_solve, _solve_t, slice_arg=0)

    @td.kernel
    def cube():
        for i in range(N):
            loss[None] += y[0, i] ** 3

    @td.kernel
    def bump():
        for i in range(N):
            x[0, i] += 1.0

    def run():
        loss[None] = 0.0
        solve([x], [y], 0)
        cube()  # reads y, which the next solve overwrites with other values
        bump()
        solve([x], [y], 0)
        cube()
        return loss

    start = RNG.standard_normal((1, N))
    x.from_numpy(start)
    with td.Tape(loss):
        run()
    first, second = np.linalg.solve(M, start[0]), np.linalg.solve(M, start[0] + 1.0)
    expect = np.linalg.solve(M.T, 3 * first ** 2 + 3 * second ** 2)
    assert_close(x.grad.to_numpy()[0], expect, rtol=1e-10, what="gradient")
