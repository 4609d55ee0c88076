"""``launch_with_adjoint``: a kernel and its adjoint in one pass, for accumulating kernels whose
output cotangents are seeded in advance, against central differences in f64 and ``td.Tape``."""

import numpy as np
import pytest
import taichi as ti

import tidal as td

from .reference import assert_close

SEEDS = np.array([0.7, -1.3])
X = np.linspace(-1.0, 1.5, 37)


@td.func
def feature(w0: td.f64, w1: td.f64, x: td.f64) -> td.f64:
    return ti.tanh(w0 * x + w1) * ti.exp(-x * x)


def program():
    """Fields and an accumulating kernel (made after ti.init)."""
    W = ti.field(ti.f64, shape=(3, 2), needs_grad=True)
    c = ti.field(ti.f64, shape=(), needs_grad=True)
    out = ti.field(ti.f64, shape=2, needs_grad=True)

    @td.kernel
    def accumulate(x: ti.types.ndarray(dtype=ti.f64, ndim=1), scale: ti.f64):
        for i in range(x.shape[0]):
            s = 0.0
            for j in range(3):
                s += feature(W[j, 0], W[j, 1], x[i]) * (j + 1.0)
            out[0] += scale * s * s
            out[1] += c[None] * ti.sin(s)

    return W, c, out, accumulate


def test_value_and_gradient_match_finite_differences_and_the_tape():
    W, c, out, accumulate = program()

    def objective(w, cval):
        """sum_k seed_k out_k, evaluated by an ordinary launch."""
        W.from_numpy(w)
        c[None] = cval
        out.fill(0.0)
        accumulate(X, 0.5)
        return float(SEEDS @ out.to_numpy())

    w0 = np.random.default_rng(3).normal(size=(3, 2))
    value = objective(w0, 0.4)
    out.fill(0.0)
    ti.ad.clear_all_gradients()
    out.grad.from_numpy(SEEDS)
    td.launch_with_adjoint(accumulate, X, 0.5)
    assert_close(float(SEEDS @ out.to_numpy()), value, rtol=1e-14, what="value")
    grad_w, grad_c = W.grad.to_numpy(), c.grad[None]
    h = 1e-6
    for j in range(3):
        for k in range(2):
            e = np.zeros((3, 2))
            e[j, k] = h
            fd = (objective(w0 + e, 0.4) - objective(w0 - e, 0.4)) / (2 * h)
            assert_close(grad_w[j, k], fd, rtol=1e-7, what=f"dW[{j}, {k}]")
    fd_c = (objective(w0, 0.4 + h) - objective(w0, 0.4 - h)) / (2 * h)
    assert_close(grad_c, fd_c, rtol=1e-7, what="dc")
    # the same gradients from a tape with a loss kernel on top
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    s0, s1 = float(SEEDS[0]), float(SEEDS[1])

    @td.kernel
    def total():
        loss[None] += s0 * out[0] + s1 * out[1]

    W.from_numpy(w0)
    c[None] = 0.4
    out.fill(0.0)
    loss[None] = 0.0
    with td.Tape(loss):
        accumulate(X, 0.5)
        total()
    assert_close(W.grad.to_numpy(), grad_w, rtol=1e-13, what="dW vs tape")


def test_refuses_kernels_whose_adjoint_cannot_share_the_pass():
    _, c, _, accumulate = program()
    y = ti.field(ti.f64, shape=4, needs_grad=True)

    @td.kernel
    def stores(x: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in range(4):
            y[i] = x[i] * c[None]

    @td.kernel
    def reads_its_output():
        for i in range(4):
            y[i] += y[i] * c[None]

    @td.kernel
    def serial_effect():
        y[0] += c[None]

    with pytest.raises(td.TidalError, match="stores values"):
        td.launch_with_adjoint(stores, np.ones(4))
    with pytest.raises(td.TidalError, match="reads storage it accumulates into"):
        td.launch_with_adjoint(reads_its_output)
    # a top-level `+=` runs once, serially: a read, an add and a store
    with pytest.raises(td.TidalError, match="stores values"):
        td.launch_with_adjoint(serial_effect)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    with pytest.raises(td.TidalError, match="inside a tape"):
        with td.Tape(loss):
            td.launch_with_adjoint(accumulate, X, 0.5)
