"""The copies a tape keeps of overwritten fields (tidal.autodiff.snapshots): restored bit for
bit for every kind of field, through the serial and the parallel copy kernels, and their slots
reused by later tapes instead of growing memory; a tape that overwrites what it read still
returns the gradient of a NumPy reference computed by central differences."""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.autodiff import snapshots
from tidal.dsl import field_io

from .reference import assert_close


def _fields():
    r = np.random.default_rng(3)
    scalar0 = ti.field(ti.f64, shape=())
    scalar0[None] = r.normal()
    vec = ti.Vector.field(3, ti.f64, shape=(5, 4))
    vec.from_numpy(r.normal(size=(5, 4, 3)))
    mat = ti.Matrix.field(2, 2, ti.f64, shape=7)
    mat.from_numpy(r.normal(size=(7, 2, 2)))
    ints = ti.field(ti.i32, shape=(3, 2, 2))
    ints.from_numpy(r.integers(-100, 100, size=(3, 2, 2)).astype(np.int32))
    return [scalar0, vec, mat, ints]


@pytest.mark.parametrize("serial_limit", [1 << 18, 0], ids=["serial", "parallel"])
def test_restore_puts_back_exactly_what_was_saved(monkeypatch, serial_limit):
    monkeypatch.setattr(field_io, "SERIAL_LIMIT", serial_limit)
    monkeypatch.setattr(snapshots, "_POOLS", {})
    store = snapshots.Store()
    for f in _fields():
        before = f.to_numpy()
        saved = store.save(f)
        f.fill(7)
        store.restore(f, saved)
        np.testing.assert_array_equal(f.to_numpy(), before)
    store.release()


def test_numpy_arrays_and_ndarrays_are_copied_through_numpy():
    store = snapshots.Store()
    a = np.arange(6.0)
    nd = ti.ndarray(ti.f64, shape=4)
    nd.from_numpy(np.array([1.0, -2.0, 3.5, 0.25]))
    sa, snd = store.save(a), store.save(nd)
    a[:] = 0.0
    nd.fill(0.0)
    store.restore(a, sa)
    store.restore(nd, snd)
    np.testing.assert_array_equal(a, np.arange(6.0))
    np.testing.assert_array_equal(nd.to_numpy(), [1.0, -2.0, 3.5, 0.25])


def test_slots_are_held_until_released_and_then_reused():
    f = ti.field(ti.f64, shape=9)
    store = snapshots.Store()
    copies = [store.save(f) for _ in range(6)]
    assert len({(id(c.buf), c.slot) for c in copies}) == 6
    pool = copies[0].pool
    size = pool.size
    store.release()
    again = [store.save(f) for _ in range(6)]
    assert pool.size == size  # no new buffer: the released slots were reused
    assert {(id(c.buf), c.slot) for c in again} == {(id(c.buf), c.slot) for c in copies}
    store.release()


def _overwriting_program():
    """x is overwritten in place every step (x = sin(w x)), so the tape must keep copies."""
    n, steps = 6, 5
    x = ti.field(ti.f64, shape=n, needs_grad=True)
    w = ti.field(ti.f64, shape=(), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.kernel
    def step():
        for i in range(n):
            x[i] = ti.sin(w[None] * x[i] + 0.1 * i)

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += x[i] ** 2

    x0 = np.linspace(-0.8, 0.9, n)

    def loss_and_grad(wv, checkpoint_every=None):
        x.from_numpy(x0)
        w[None] = wv
        with td.Tape(loss, checkpoint_every=checkpoint_every):
            for _ in range(steps):
                step()
            total()
        return loss[None], w.grad[None]

    def reference(wv):
        xs = x0.copy()
        for _ in range(steps):
            xs = np.sin(wv * xs + 0.1 * np.arange(n))
        return float(np.sum(xs ** 2))

    return loss_and_grad, reference, x


@pytest.mark.parametrize("checkpoint_every", [None, 2])
def test_tapes_reuse_their_copies_and_stay_right(checkpoint_every):
    loss_and_grad, reference, x = _overwriting_program()
    h = 1e-6
    for wv in (0.7, 1.3, -0.4):
        value, grad = loss_and_grad(wv, checkpoint_every)
        fd = (reference(wv + h) - reference(wv - h)) / (2 * h)
        assert_close(value, reference(wv), rtol=1e-12)
        assert_close(grad, fd, rtol=1e-7)
    pool = snapshots._pool(x)
    size = pool.size
    for _ in range(3):
        loss_and_grad(0.7, checkpoint_every)
    assert pool.size == size  # every tape handed its slots back
    assert len(pool.free) == pool.size
