"""Differentiable kernels: gradients from ``td.Tape`` against central finite differences in f64
(fourth-order stencil, h = 1e-4, tolerance 1e-7 (1 + |reference|)), and against ``ti.ad.Tape``
on the same kernels wherever Taichi's gradient is right; where Taichi is silently wrong or
refuses, the test records it.
"""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td

from .kernel_programs import PROGRAMS
from .reference import assert_close

FD_H = 1e-4
FD_RTOL = 1e-7
MAX_ELEMENTS = 4  # finite differences on at most this many elements per parameter


_INSTANCES: dict = {}


def instance(name):
    """One instance of each program per session: Taichi allows a limited number of field trees
    (every allocation after a kernel launch starts a new one), so tests share the fields."""
    if name not in _INSTANCES:
        _INSTANCES[name] = PROGRAMS[name][0]()
    return _INSTANCES[name]


def tidal_launch(kernel, *args):
    kernel(*args)


def taichi_launch(kernel, *args):
    kernel.raw()(*args)


def get(param):
    return param.to_numpy().astype(np.float64)


def loss_value(prog):
    v = prog.loss.to_numpy()
    return float(np.asarray(v).reshape(-1)[0])


def tidal_gradients(prog):
    prog.reset()
    with td.Tape(prog.loss):
        prog.run(tidal_launch)
    return [p.grad.to_numpy().astype(np.float64) for p in prog.params], loss_value(prog)


def finite_differences(prog, rng):
    """Reference gradient entries: {(param index, flat index): value}."""
    out = {}
    for k, p in enumerate(prog.params):
        base = get(p)
        flat = base.reshape(-1)
        picks = rng.choice(flat.size, size=min(MAX_ELEMENTS, flat.size), replace=False)
        for j in picks:
            vals = []
            for step in (2, 1, -1, -2):
                trial = flat.copy()
                trial[j] += step * FD_H
                p.from_numpy(trial.reshape(base.shape))
                prog.reset()
                prog.run(tidal_launch)
                vals.append(loss_value(prog))
            p.from_numpy(base)
            out[(k, int(j))] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * FD_H)
    return out


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_gradients_match_finite_differences(name):
    prog = instance(name)
    grads, _ = tidal_gradients(prog)
    fd = finite_differences(prog, np.random.default_rng(0))
    for (k, j), ref in fd.items():
        assert_close(grads[k].reshape(-1)[j], ref, rtol=FD_RTOL,
                     what=f"{name}: d loss / d param{k}[{j}]")


def taichi_gradients(prog):
    prog.reset()
    with ti.ad.Tape(loss=prog.loss):
        prog.run(taichi_launch)
    return [p.grad.to_numpy().astype(np.float64) for p in prog.params]


AGREES = [n for n, (_, t) in PROGRAMS.items() if t == "agrees"]
WRONG = [n for n, (_, t) in PROGRAMS.items() if t == "wrong"]
REFUSES = [n for n, (_, t) in PROGRAMS.items() if t == "refuses"]


@pytest.mark.parametrize("name", AGREES)
def test_first_order_matches_taichi_autodiff(name):
    ours, _ = tidal_gradients(instance(name))
    theirs = taichi_gradients(instance(name))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a, b, rtol=1e-10, what=f"{name}: param{k} vs ti.ad.Tape")


@pytest.mark.parametrize("name", WRONG)
def test_taichi_is_silently_wrong_where_tidal_is_right(name):
    prog = instance(name)
    ours, _ = tidal_gradients(prog)
    fd = finite_differences(prog, np.random.default_rng(0))
    theirs = taichi_gradients(instance(name))
    worst = 0.0
    for (k, j), ref in fd.items():
        assert_close(ours[k].reshape(-1)[j], ref, rtol=FD_RTOL, what=f"tidal {name}")
        worst = max(worst, abs(theirs[k].reshape(-1)[j] - ref) / (1 + abs(ref)))
    assert worst > 1e-3, f"Taichi's gradient of {name} is now right: update the program table"


@pytest.mark.parametrize("name", REFUSES)
def test_taichi_refuses_what_tidal_differentiates(name):
    with pytest.raises(Exception):  # noqa: B017 - Taichi raises RuntimeError or its own types
        taichi_gradients(instance(name))


def test_at_least_25_kernel_programs():
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_forward_matches_taichi(name):
    """tidal's generated kernels compute what Taichi computes from the same source."""
    ours = instance(name)
    ours.reset()
    ours.run(tidal_launch)
    theirs = instance(name)
    theirs.reset()
    theirs.run(taichi_launch)
    assert_close(loss_value(ours), loss_value(theirs), rtol=1e-12, what=f"{name} loss")


def _direction(prog, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, get(p).shape) for p in prog.params]


def _run_fn(prog):
    def run():
        prog.run(tidal_launch)
        return prog.loss
    return run


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_jvp_run_equals_gradient_dot_tangent(name):
    prog = instance(name)
    grads, value = tidal_gradients(prog)
    tangents = _direction(prog, 1)
    prog.reset()
    v, d = td.jvp_run(_run_fn(prog), prog.params, tangents)
    assert_close(v, value, rtol=1e-12, what=f"{name} loss")
    expected = sum(float(np.sum(g * t)) for g, t in zip(grads, tangents))
    assert_close(d, expected, rtol=1e-9, what=f"{name} directional derivative")


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_hvp_matches_differences_of_gradients(name):
    prog = instance(name)
    v = _direction(prog, 2)
    prog.reset()
    value, g, hv = td.hvp(_run_fn(prog), prog.params, v)
    grads, value_ref = tidal_gradients(prog)
    assert_close(value, value_ref, rtol=1e-12, what=f"{name} loss")
    for a, b in zip(g, grads):
        assert_close(a, b, rtol=1e-10, what=f"{name} gradient from hvp")
    base = [get(p) for p in prog.params]
    h = 1e-5
    diffs = []
    for sign in (1, -1):
        for p, b0, d in zip(prog.params, base, v):
            p.from_numpy(np.asarray(b0 + sign * h * d))
        diffs.append(tidal_gradients(prog)[0])
    for p, b0 in zip(prog.params, base):
        p.from_numpy(b0)
    for k, (a, gp, gm) in enumerate(zip(hv, *diffs)):
        assert_close(a, (gp - gm) / (2 * h), rtol=1e-6, what=f"{name} hvp param{k}")


@pytest.mark.parametrize("rows", [1, 3])
def test_serial_loop_inside_a_parallel_loop_reading_what_it_wrote(rows):
    """y[e, t + 1] = f(y[e, t]) in a serial loop inside `for e`: the adjoint must recompute
    from the values the launch left, not from the values before it (a rollout kernel)."""
    import math as _m

    n = 6
    y = ti.field(ti.f64, shape=(rows, n + 1), needs_grad=True)
    w = ti.field(ti.f64, shape=(), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.kernel
    def rollout():
        for e in range(rows):
            for t in range(n):
                y[e, t + 1] = ti.sin(w[None] * y[e, t]) + 0.1 * e

    @td.kernel
    def total():
        for e in range(rows):
            loss[None] += y[e, n] ** 2

    def value(wv):
        y0 = np.zeros((rows, n + 1))
        y0[:, 0] = 0.7 + 0.1 * np.arange(rows)
        y.from_numpy(y0)
        w[None] = wv
        with td.Tape(loss):
            rollout()
            total()
        return loss[None], w.grad[None]

    def reference(wv):
        total_ = 0.0
        for e in range(rows):
            v = 0.7 + 0.1 * e
            for _ in range(n):
                v = _m.sin(wv * v) + 0.1 * e
            total_ += v * v
        return total_

    got, grad = value(1.3)
    h = 1e-6
    assert abs(got - reference(1.3)) < 1e-12
    fd = (reference(1.3 + h) - reference(1.3 - h)) / (2 * h)
    assert abs(grad - fd) < 1e-7 * (1 + abs(fd))


@pytest.mark.parametrize("outer", ["parallel rows", "one launch"])
def test_a_function_reading_what_a_serial_loop_wrote(outer):
    """u[t + 1, i] = u[t, i] + c[i] * (neighbours of u[t]) with the neighbours read inside a
    td.func: the callee's loads are the loop's reads of what earlier iterations wrote, so the
    adjoint needs the values the launch leaves (it once used the tape's copy from before the
    launch, and the gradient in c was wrong while those in u0 were right)."""
    n, steps = 7, 5
    u = ti.field(ti.f64, shape=(steps + 1, n), needs_grad=True)
    c = ti.field(ti.f64, shape=n, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    n_runtime = ti.field(ti.i32, shape=())
    n_runtime[None] = n

    @td.func
    def nudged(t: ti.i32, i: ti.i32) -> ti.f64:
        new = u[t, i]
        if 0 < i < n - 1:
            new = u[t, i] + c[i] * (u[t, i - 1] - 2.0 * u[t, i] + u[t, i + 1])
        return new

    if outer == "parallel rows":
        @td.kernel
        def rollout():
            for i in range(n):  # each column on its own (reads of neighbours: no)
                for t in range(steps):
                    u[t + 1, i] = u[t, i] * (1.0 + c[i])
    else:
        @td.kernel
        def rollout():
            for _ in range(1):
                for t in range(steps):
                    for i in range(n_runtime[None]):  # a constant bound: LLVM unrolls the
                        u[t + 1, i] = nudged(t, i)     # nest and compiles for ~2 minutes

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += u[steps, i] ** 2 * (1.0 + 0.1 * i)

    u0 = np.sin(np.arange(n) + 0.5)
    c0 = 0.1 + 0.02 * np.arange(n)

    def reference(cv):
        v = u0.copy()
        for _ in range(steps):
            if outer == "parallel rows":
                v = v * (1.0 + cv)
            else:
                w = v.copy()
                w[1:-1] = v[1:-1] + cv[1:-1] * (v[:-2] - 2.0 * v[1:-1] + v[2:])
                v = w
        return float(np.sum(v ** 2 * (1.0 + 0.1 * np.arange(n))))

    start = np.zeros((steps + 1, n))
    start[0] = u0
    u.from_numpy(start)
    c.from_numpy(c0)
    with td.Tape(loss):
        rollout()
        total()
    assert_close(loss[None], reference(c0), rtol=1e-12)
    h = 1e-6
    fd = np.array([(reference(c0 + h * e) - reference(c0 - h * e)) / (2 * h)
                   for e in np.eye(n)])
    assert_close(c.grad.to_numpy(), fd, rtol=1e-7, what="dloss/dc")
