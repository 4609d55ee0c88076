"""Parallel adds in generated adjoint kernels (tidal.dsl.parallel): gradients stay exact when
``+=`` is demoted to plain adds (iterations owning their elements) or split into per-block
partial sums (every iteration adding into the same few entries), checked against closed forms
and ``ti.ad.Tape`` in f64 (tolerance 1e-12 relative)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import parallel

from .reference import assert_close


@pytest.fixture(scope="module")
def polynomial_fit():
    """A loss adding, from every iteration of a 2-D range with non-zero starts, into the same
    four weights' gradients and into the iteration's own element of ``x``'s gradient."""
    n, m = 37, 29
    w = ti.field(ti.f64, shape=4, needs_grad=True)
    x = ti.field(ti.f64, shape=(n, m), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    rng = np.random.default_rng(5)
    w.from_numpy(rng.uniform(-1, 1, 4))
    x.from_numpy(rng.uniform(-1, 1, (n, m)))

    @td.kernel
    def fit():
        for i, j in ti.ndrange((2, n), (1, m)):
            p = w[0] + w[1] * i + w[2] * j + w[3] * i * j
            loss[None] += (p - ti.sin(x[i, j])) ** 2

    i, j = np.meshgrid(np.arange(2, n), np.arange(1, m), indexing="ij")
    basis = np.stack([np.ones_like(i), i, j, i * j]).astype(np.float64)
    return fit, w, x, loss, basis, (i, j)


def test_shared_accumulation_over_ndrange_matches_closed_form(polynomial_fit):
    fit, w, x, loss, basis, (i, j) = polynomial_fit
    loss[None] = 0.0
    with td.Tape(loss):
        fit()
    xs = x.to_numpy()
    r = np.tensordot(w.to_numpy(), basis, axes=1) - np.sin(xs[i, j])
    assert_close(loss[None], np.sum(r * r), rtol=1e-12, what="loss")
    assert_close(w.grad.to_numpy(), (2 * r * basis).sum(axis=(1, 2)), rtol=1e-12, what="dw")
    dx = np.zeros_like(xs)
    dx[i, j] = -2 * r * np.cos(xs[i, j])
    assert_close(x.grad.to_numpy(), dx, rtol=1e-12, what="dx")
    ours = w.grad.to_numpy(), x.grad.to_numpy()
    loss[None] = 0.0
    with ti.ad.Tape(loss=loss):
        fit.raw()()
    assert_close(ours[0], w.grad.to_numpy(), rtol=1e-12, what="dw vs ti.ad.Tape")
    assert_close(ours[1], x.grad.to_numpy(), rtol=1e-12, what="dx vs ti.ad.Tape")


def test_adjoint_uses_block_sums_and_plain_adds(polynomial_fit):
    src = td.source(polynomial_fit[0], mode="adjoint")
    # shared weights: one partial sum per block (lane-wide where the loop runs in SIMD lanes)
    assert re.search(r"w_grad_(partial|lanes)\[block, 0\]", src)
    # own element: load, add, store (one per lane where the loop runs in SIMD lanes)
    assert re.search(r"x_grad\[[^\]]+\] = old", src)
    assert "atomic" not in src and "+=" not in src


def test_each_block_is_its_own_cpu_task(polynomial_fit):
    """Taichi gives a CPU thread tasks of at least 512 iterations of a parallel loop, so the
    loop over the blocks is spread over task_slots slots, the first of every
    CPU_TASK_ITERATIONS doing a block's work: every block runs once (the values above) and on
    its own task (the source here)."""
    src = td.source(polynomial_fit[0], mode="adjoint")
    nblocks = parallel.blocks_for("cpu")
    spread = parallel.CPU_TASK_ITERATIONS
    assert parallel.task_slots("cpu") == nblocks * spread
    loop = re.search(r"for (slot\w*) in range\((\d+)\):", src)
    assert loop and int(loop.group(2)) == nblocks * spread
    slot = loop.group(1)
    assert re.search(rf"{slot} // {spread}", src)


def test_shared_accumulation_with_runtime_trip_counts():
    """Zero iterations, fewer iterations than blocks, counts about the number that opens
    another block, and many: the partial sums start and end at zero, so repeated launches
    accumulate exactly."""
    w = ti.field(ti.f64, shape=2, needs_grad=True)
    y = ti.field(ti.f64, shape=1000, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    w.from_numpy(np.array([0.7, -1.3]))
    ys = np.random.default_rng(1).uniform(-1, 1, 1000)
    y.from_numpy(ys)

    @td.kernel
    def partial_loss(count: ti.i32):
        for k in range(count):
            loss[None] += ti.tanh(w[0] * y[k] + w[1]) * y[k]

    per = parallel.MIN_BLOCK_ITERATIONS  # (one block per `per` iterations, up to all blocks)
    for counts in ([0], [1], [3], [per - 1], [per], [per + 1], [3 * per + 5], [1000],
                   [5, 0, 17, 1000]):
        loss[None] = 0.0
        with td.Tape(loss):
            for c in counts:
                partial_loss(c)
        dw = np.zeros(2)
        for c in counts:
            t = 1 - np.tanh(0.7 * ys[:c] - 1.3) ** 2
            dw += [np.sum(t * ys[:c] ** 2), np.sum(t * ys[:c])]
        assert_close(w.grad.to_numpy(), dw, rtol=1e-12, what=f"dw for trip counts {counts}")


def test_large_shared_targets_keep_atomic_adds():
    """Fields above MAX_SHARED_ELEMENTS would make the block scratch too large: adds stay
    atomic, and gradients stay right."""
    size = parallel.MAX_SHARED_ELEMENTS + 1
    w = ti.field(ti.f64, shape=size, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    w.from_numpy(np.linspace(0, 1, size))

    @td.kernel
    def pick(count: ti.i32):
        for k in range(count):
            loss[None] += w[size - 1] * w[3] * k

    loss[None] = 0.0
    with td.Tape(loss):
        pick(100)
    assert "w_grad_partial" not in td.source(pick, mode="adjoint")
    expected = np.zeros(size)
    expected[size - 1] = w[3] * 4950
    expected[3] = w[size - 1] * 4950
    assert_close(w.grad.to_numpy(), expected, rtol=1e-12, what="dw")


def test_few_heavy_iterations_are_spread_over_cpu_tasks():
    """A loop whose body holds a loop and whose iteration count is known only at launch is
    spread over task_slots slots (so that its few iterations run on all threads); every
    iteration still runs exactly once, for counts from 0 to past task_slots, on a 2-D range
    with a non-zero start, and so does its adjoint (against closed forms, f64)."""
    size = parallel.task_slots("cpu") + 7
    x = ti.field(ti.f64, shape=(size, 2), needs_grad=True)
    y = ti.field(ti.f64, shape=(size, 2), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    xs = np.random.default_rng(3).uniform(-1, 1, (size, 2))
    x.from_numpy(xs)

    @td.kernel
    def powers(n: ti.i32, terms: ti.i32):
        for i, j in ti.ndrange((1, n), 2):
            s = 0.0
            for t in range(terms):
                s += ti.sin(x[i, j]) ** t
            y[i, j] += s

    @td.kernel
    def total(n: ti.i32):
        for i, j in ti.ndrange((1, n), 2):
            loss[None] += y[i, j]

    for n in (0, 1, 2, 9, 300, size):
        y.fill(0)
        loss[None] = 0.0
        with td.Tape(loss):
            powers(n, 4)
            total(n)
        u = np.sin(xs[1:n])
        want = np.zeros_like(xs)
        want[1:n] = 1 + u + u**2 + u**3
        assert_close(y.to_numpy(), want, rtol=1e-13, what=f"values, n={n}")
        dx = np.zeros_like(xs)
        dx[1:n] = (1 + 2 * u + 3 * u**2) * np.cos(xs[1:n])
        assert_close(x.grad.to_numpy(), dx, rtol=1e-12, what=f"gradient, n={n}")
    for mode in ("forward", "adjoint"):
        src = td.source(powers, mode=mode)
        assert re.search(r"for slot\w* in range\(total\w* \* spread\w*\):", src), src


def test_stacked_weights_combine_only_the_slice_a_launch_adds_to():
    """Weights of several layers in one field, the layer a kernel argument: the blocks' partial
    sums are combined for that layer's slice only, and launches for different layers (some
    twice) give each slice exactly its own gradient and leave the others untouched (closed
    form, f64)."""
    layers, width, n = 3, 5, 300
    W = ti.field(ti.f64, shape=(layers, width, width), needs_grad=True)
    u = ti.field(ti.f64, shape=(n, width), needs_grad=False)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    rng = np.random.default_rng(7)
    Ws, us = rng.normal(size=(layers, width, width)), rng.normal(size=(n, width))
    W.from_numpy(Ws)
    u.from_numpy(us)

    @td.kernel
    def layer_loss(layer: ti.i32, count: ti.i32):
        for p in range(count):
            for o in range(width):
                s = 0.0
                for c in range(width):
                    s += W[layer, o, c] * u[p, c]
                loss[None] += ti.sin(s)

    launches = [(1, n), (2, 7), (1, 65)]
    loss[None] = 0.0
    with td.Tape(loss):
        for layer, count in launches:
            layer_loss(layer, count)
    want = np.zeros_like(Ws)
    for layer, count in launches:
        s = us[:count] @ Ws[layer].T  # (count, width): s[p, o]
        want[layer] += np.cos(s).T @ us[:count]
    assert_close(W.grad.to_numpy(), want, rtol=1e-12, what="dW")
    assert np.all(W.grad.to_numpy()[0] == 0.0)
    src = td.source(layer_loss, mode="adjoint")
    assert re.search(r"W_grad\[layer, e\w*, e\w*\] = old", src), src
