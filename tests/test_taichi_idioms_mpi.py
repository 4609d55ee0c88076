"""Idioms of a public MPI + Taichi program (a Poisson solver split over ranks, run with the
``ti.kernel -> td.kernel`` rename): integer arguments declared ``ti.i64``, ``for I in
ti.grouped(field)`` loops, and kernels of a ``@ti.data_oriented`` class that tidal refuses to
differentiate but Taichi runs forward. Values against Taichi's own kernels, gradients against
``ti.ad.Tape`` (f64)."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import pipeline


@pytest.fixture(autouse=True)
def _f64():
    td.init(arch="cpu", default_fp=td.f64)


def test_an_i64_argument_runs_as_i32_and_a_value_that_does_not_fit_is_refused():
    x = ti.field(ti.f64, shape=(6, 5))

    @td.kernel
    def fill(rank: ti.i64, n: ti.u32):
        for i, j in x:
            x[i, j] = ti.sin(i + 0.5 * j + rank * n)

    fill(3, 2)
    i, j = np.meshgrid(np.arange(6), np.arange(5), indexing="ij")
    np.testing.assert_allclose(x.to_numpy(), np.sin(i + 0.5 * j + 6), rtol=0, atol=1e-15)
    with pytest.raises(td.TidalArgumentError, match=r"`rank` is declared i64 and got "
                                                     r"1099511627776") as e:
        fill(2 ** 40, 1)
    assert "test_taichi_idioms_mpi.py" in str(e.value)  # the user's kernel, by file and line


def test_grouped_loops_match_taichi_and_differentiate():
    a = ti.field(ti.f64, shape=(7, 4), needs_grad=True)
    b = ti.field(ti.f64, shape=(7, 4), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    a.from_numpy(np.random.default_rng(0).uniform(-1, 1, (7, 4)))

    @td.kernel
    def square():
        for I in ti.grouped(a):
            b[I] = a[I] * a[I] + I[0] - 0.5 * I[1]

    @td.kernel
    def total():
        for I in ti.grouped(ti.ndrange((1, 6), 4)):
            loss[None] += ti.sin(b[I])

    with td.Tape(loss):
        square()
        total()
    ours = loss[None], a.grad.to_numpy()
    with ti.ad.Tape(loss=loss):
        square.raw()()
        total.raw()()
    assert abs(ours[0] - loss[None]) <= 1e-13 * abs(loss[None])
    np.testing.assert_allclose(ours[1], a.grad.to_numpy(), rtol=1e-12, atol=1e-14)
    assert np.count_nonzero(ours[1][[0, 6]]) == 0 and np.all(ours[1][1:6] != 0)


def test_a_refused_method_runs_in_taichi_and_is_lowered_once(monkeypatch):
    @ti.data_oriented
    class Jacobi:
        def __init__(self):
            self.x = ti.field(ti.f64, shape=10)
            self.xt = ti.field(ti.f64, shape=10)

        @td.kernel
        def sweep(self):
            for i in range(1, 9):  # reads what the first loop wrote: no adjoint, forward only
                self.xt[i] = 0.5 * (self.x[i - 1] + self.x[i + 1]) + 1.0
            for i in range(1, 9):
                self.x[i] = self.xt[i]

    calls = []
    lower = pipeline.kernel_ir
    monkeypatch.setattr(pipeline, "kernel_ir", lambda *a: calls.append(1) or lower(*a))
    s = Jacobi()
    expected = np.zeros(10)
    for _ in range(5):
        s.sweep()
        nxt = expected.copy()
        nxt[1:9] = 0.5 * (expected[:8] + expected[2:]) + 1.0
        expected = nxt
    np.testing.assert_allclose(s.x.to_numpy(), expected, rtol=1e-15)
    assert len(calls) == 1  # refused once, then run by Taichi without lowering again
