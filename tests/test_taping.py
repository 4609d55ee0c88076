"""Reverse mode keeps values computed inside called functions on a loop's tape (calls in short
loops are inlined before taping), so the adjoint does not recompute a network's activations.
Gradients are checked against central differences of a NumPy reference in f64."""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td

from .reference import assert_close


@td.func
def unit(a: td.f64) -> td.f64:
    return ti.tanh(a) * ti.exp(-0.5 * a * a)


def _numpy_loss(w, x):
    total = 0.0
    for xi in x:
        h = np.array([xi, -xi, 0.5 * xi])
        for layer in range(3):
            a = w[layer] * h + 0.1 * np.arange(3)
            h = np.tanh(a) * np.exp(-0.5 * a * a)
        total += h.sum() ** 2
    return total


def test_adjoint_reads_callee_values_back_instead_of_recomputing_them():
    n = 29
    w = ti.field(ti.f64, shape=3, needs_grad=True)
    x = ti.field(ti.f64, shape=n)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    ws = np.array([0.8, -1.1, 1.3])
    xs = np.linspace(-1.2, 1.5, n)
    w.from_numpy(ws)
    x.from_numpy(xs)

    @td.kernel
    def net():
        for i in range(n):
            h = ti.Vector([x[i], -x[i], 0.5 * x[i]])
            for layer in range(3):
                out = h
                for j in range(3):
                    out[j] = unit(w[layer] * h[j] + 0.1 * j)
                h = out
            s = h[0] + h[1] + h[2]
            loss[None] += s * s

    loss[None] = 0.0
    with td.Tape(loss):
        net()
    assert_close(loss[None], _numpy_loss(ws, xs), rtol=1e-12, what="loss")
    eps = 1e-6
    fd = []
    for d in range(3):
        up, down = ws.copy(), ws.copy()
        up[d] += eps
        down[d] -= eps
        fd.append((_numpy_loss(up, xs) - _numpy_loss(down, xs)) / (2 * eps))
    assert_close(w.grad.to_numpy(), fd, rtol=1e-7, what="dw")
    src = td.source(net, mode="adjoint")
    # tanh (tidal's arithmetic float64 form) and exp run once per unit in the forward sweep; the
    # reverse sweep reads them back
    # (one line each, which SIMD lanes may apply lane by lane)
    for call in ("_tidal_tanh_f64(", "ti.exp("):
        assert sum(call in line for line in src.splitlines()) == 1, src


def test_tape_adopts_the_runtime_of_a_users_ti_init(cpu64):
    """A Taichi program calls ti.init itself, after tidal was initialised: tidal keeps that
    runtime (and the fields made in it) and its float type, instead of resetting Taichi."""
    from tidal.dsl import runtime

    def run_in_own_runtime(fp, tol):
        ti.init(arch=ti.cpu, default_fp=fp, log_level=ti.ERROR)
        x = ti.field(fp, shape=3, needs_grad=True)
        loss = ti.field(fp, shape=(), needs_grad=True)
        x.from_numpy(np.array([1.0, 2.0, 3.0]))

        @td.kernel
        def squares():
            for i in x:
                loss[None] += x[i] ** 3

        with td.Tape(loss):
            squares()
        assert runtime.config().default_fp.taichi == fp
        np.testing.assert_allclose(loss[None], 36.0, rtol=tol)
        np.testing.assert_allclose(x.grad.to_numpy(), [3.0, 12.0, 27.0], rtol=tol)

    run_in_own_runtime(ti.f64, 1e-12)
    run_in_own_runtime(ti.f32, 1e-6)
    td.init(arch="cpu", default_fp=td.f64)


@pytest.mark.parametrize("decorator", ["ti.kernel", "td.kernel"])
def test_kernels_of_data_oriented_classes_are_differentiated(decorator):
    """Kernels that are methods of a @ti.data_oriented class (plain Taichi kernels launched in
    td.Tape, or renamed to @td.kernel) take their object as a template, read and write its
    fields through ``self``, and get gradients equal to the closed form."""
    kernel = ti.kernel if decorator == "ti.kernel" else td.kernel

    @ti.data_oriented
    class Waves:
        def __init__(self):
            self.x = ti.field(ti.f64, shape=4, needs_grad=True)
            self.y = ti.field(ti.f64, shape=4, needs_grad=True)
            self.loss = ti.field(ti.f64, shape=(), needs_grad=True)
            self.k = 1.5
            self.c = 0.5

        @kernel
        def step(self):  # (no annotated parameters: this module's annotations are strings)
            for i in range(4):
                self.y[i] = self.c * ti.sin(self.k * self.x[i])

        @kernel
        def total(self):
            for i in self.y:
                self.loss[None] += self.y[i] ** 2

    w = Waves()
    x = np.array([0.1, 0.2, 0.3, 0.4])
    w.x.from_numpy(x)
    with td.Tape(w.loss):
        w.step()
        w.total()
    y = 0.5 * np.sin(1.5 * x)
    assert_close(w.loss[None], np.sum(y ** 2), rtol=1e-12, what="loss")
    assert_close(w.x.grad.to_numpy(), 2 * y * 0.5 * 1.5 * np.cos(1.5 * x), rtol=1e-12,
                 what="x.grad")


def test_a_called_function_reading_a_part_later_overwritten_keeps_it_for_the_adjoint(cpu64):
    """A typed ``td.func`` left as a call reads row ``t + 1``, which the next launch overwrites:
    the tape must save that row as it was when read. (Before call reads were mapped to the
    launch's arguments the tape saved only row ``t``, which the kernel reads directly, and the
    gradient came out as ``ti.ad.Tape``'s, which breaks Taichi's global data access rule here.)
    Checked against central differences of a NumPy reference."""
    n, steps = 4, 2
    x = ti.field(ti.f64, shape=(steps + 2, n), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.func
    def ahead(t: ti.i32, i: ti.i32) -> ti.f64:
        return ti.sin(x[t + 1, i])

    @td.kernel
    def accumulate(t: ti.i32):
        for i in range(n):
            loss[None] += x[t, i] * ahead(t, i)

    @td.kernel
    def advance(t: ti.i32):
        for i in range(n):
            x[t + 1, i] = 1.5 * x[t, i] + 0.1

    start = np.stack([0.3 + 0.1 * np.arange(n), 0.2 * np.arange(n), np.full(n, 0.7),
                      np.zeros(n)])

    def reference(x0):
        s = start.copy()
        s[0] = x0
        total = 0.0
        for t in range(steps):
            total += np.sum(s[t] * np.sin(s[t + 1]))
            s[t + 1] = 1.5 * s[t] + 0.1
        return total

    x.from_numpy(start)
    with td.Tape(loss):
        for t in range(steps):
            accumulate(t)
            advance(t)
    assert_close(loss[None], reference(start[0]), rtol=1e-12, what="loss")
    eps = 1e-6
    fd = [(reference(start[0] + eps * e) - reference(start[0] - eps * e)) / (2 * eps)
          for e in np.eye(n)]
    assert_close(x.grad.to_numpy()[0], np.array(fd), rtol=1e-7, what="gradient")


def _two_parameter_program():
    """``loss = sum_i (a x_i + b)^2`` accumulated in a one-iteration loop (the whole-rollout
    idiom, whose adds tidal makes plain instead of atomic), with a and b in their own fields."""
    n = 6
    a = ti.field(ti.f64, shape=(), needs_grad=True)
    b = ti.field(ti.f64, shape=(), needs_grad=True)
    x = ti.field(ti.f64, shape=n, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    xs = np.linspace(-1.0, 2.0, n)
    a[None], b[None] = 0.7, -0.3
    x.from_numpy(xs)

    @td.kernel
    def total():
        for _ in range(1):
            for i in range(n):
                loss[None] += (a[None] * x[i] + b[None]) ** 2

    r = 0.7 * xs - 0.3
    return (a, b, x, loss, total), (float(np.sum(r * r)), float(np.sum(2 * r * xs)),
                                    float(np.sum(2 * r)), 2 * r * 0.7)


def test_tape_wrt_computes_only_the_gradients_asked_for(cpu64):
    (a, b, x, loss, total), (value, da, db, dx) = _two_parameter_program()
    b.grad[None] = 123.0  # not asked for: left alone
    x.grad.fill(7.0)
    with td.Tape(loss, clear_gradients="recorded", wrt=[a]):
        total()
    assert_close(loss[None], value, rtol=1e-13, what="loss")
    assert_close(a.grad[None], da, rtol=1e-13, what="d/da")
    assert b.grad[None] == 123.0 and np.all(x.grad.to_numpy() == 7.0)
    with td.Tape(loss):  # the default: every gradient, all cleared first
        total()
    assert_close(np.array([a.grad[None], b.grad[None]]), np.array([da, db]), rtol=1e-13,
                 what="d/da, d/db")
    assert_close(x.grad.to_numpy(), dx, rtol=1e-13, what="d/dx")


def test_a_wanted_field_no_launch_reads_gets_a_zero_gradient(cpu64):
    (a, b, x, loss, total), (value, da, db, dx) = _two_parameter_program()
    unread = ti.field(ti.f64, shape=4, needs_grad=True)
    unread.grad.fill(9.0)  # stale
    with td.Tape(loss, clear_gradients="recorded", wrt=[a, unread]):
        total()
    assert_close(a.grad[None], da, rtol=1e-13, what="d/da")
    assert np.all(unread.grad.to_numpy() == 0.0)


def test_tape_wrt_takes_one_field_alone_and_refuses_what_is_not_a_field(cpu64):
    """wrt=a (no list) is wrt=[a]; a NumPy array or a number in wrt was silently ignored (and a
    field alone raised Taichi's NotImplementedError): now a TidalArgumentError."""
    (a, b, x, loss, total), (value, da, db, dx) = _two_parameter_program()
    b.grad[None] = 123.0
    with td.Tape(loss, clear_gradients="recorded", wrt=a):
        total()
    assert_close(a.grad[None], da, rtol=1e-13, what="d/da")
    assert b.grad[None] == 123.0
    for bad, name in ((np.zeros(3), "numpy.ndarray"), (0.5, "float")):
        with pytest.raises(td.TidalArgumentError, match=f"fields or ndarrays, got {name}"):
            td.Tape(loss, wrt=[a, bad])


def test_clear_gradients_recorded_zeroes_what_the_launches_touch_only(cpu64):
    (a, b, x, loss, total), (value, da, db, dx) = _two_parameter_program()
    other = ti.field(ti.f64, shape=3, needs_grad=True)
    other.grad.fill(5.0)
    a.grad[None] = 100.0  # stale: must not leak into the result
    with td.Tape(loss, clear_gradients="recorded"):
        total()
    assert_close(np.array([a.grad[None], b.grad[None]]), np.array([da, db]), rtol=1e-13,
                 what="d/da, d/db")
    assert np.all(other.grad.to_numpy() == 5.0)
    with pytest.raises(td.TidalError, match="clear_gradients"):
        td.Tape(loss, clear_gradients="some")


def test_a_called_function_taking_vector_and_float_constants(cpu64):
    """Calls left as calls note what the callee reads in terms of the call's arguments; a
    vector or float constant argument is no index and must not be taken for one."""
    w = ti.field(ti.f64, shape=3, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    ws = np.array([0.5, -1.0, 2.0])
    w.from_numpy(ws)

    @td.func
    def weighted(d: td.vec(2), s: ti.f64, i: ti.i32) -> ti.f64:
        return w[i] * (d[0] + s)

    @td.kernel
    def total():
        for i in range(3):
            loss[None] += weighted(ti.Vector([1.0, 0.0]), 0.5, i) ** 2

    with td.Tape(loss):
        total()
    assert_close(loss[None], float(np.sum((1.5 * ws) ** 2)), rtol=1e-13, what="loss")
    assert_close(w.grad.to_numpy(), 2 * 1.5 ** 2 * ws, rtol=1e-13, what="gradient")
