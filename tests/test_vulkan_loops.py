"""Kernels with several parallel loops on the SPIR-V code path (software Vulkan).

Taichi 1.7.4's SPIR-V generator cannot compile a kernel in which two parallel loops each index
a local vector with a loop variable; tidal launches such a kernel as one kernel per loop
(:mod:`tidal.dsl.split`). Values are checked against closed forms, gradients against their
closed forms too; a kernel that cannot be split (a write between its loops) must fail with a
``TidalCompileError`` at the kernel's line, never Taichi's raw ``RuntimeError``.
"""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import runtime

from .reference import assert_close

pytestmark = pytest.mark.vulkan

nd1 = ti.types.ndarray(dtype=td.f32, ndim=1)


@td.kernel
def squares_and_sums(v: nd1, out: nd1, out2: nd1):
    # out = sum_j (j v)^2 = 140 v^2, out2 = sum_j (v + j) = 8 v + 28, each through a local
    # vector indexed by a loop variable, in two parallel loops
    for i in range(v.shape[0]):
        h = ti.Vector.zero(td.f32, 8)
        for j in range(8):
            h[j] = v[i] * j
        s = 0.0
        for j in range(8):
            s += h[j] * h[j]
        out[i] = s
    for i in range(v.shape[0]):
        g = ti.Vector.zero(td.f32, 8)
        for j in range(8):
            g[j] = v[i] + j
        s = 0.0
        for j in range(8):
            s += g[j] * g[j]
        out2[i] = s


@pytest.fixture
def vulkan():
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="vulkan", default_fp=td.f32)
    yield
    td.init(arch="cpu", default_fp=td.f64)


def arrays(x):
    v = ti.ndarray(td.f32, x.size, needs_grad=True)
    v.from_numpy(x.astype(np.float32))
    out, out2 = (ti.ndarray(td.f32, x.size, needs_grad=True) for _ in range(2))
    return v, out, out2


def test_two_loops_with_indexed_local_vectors_run_and_differentiate(vulkan):
    x = np.linspace(-1.0, 1.0, 7)
    v, out, out2 = arrays(x)
    squares_and_sums(v, out, out2)
    assert_close(out.to_numpy(), 140.0 * x ** 2, rtol=1e-5, what="first loop")
    assert_close(out2.to_numpy(), 8.0 * x ** 2 + 56.0 * x + 140.0, rtol=1e-5,
                 what="second loop")
    # adjoint (two loops again): d/dv of sum(out + out2) = 280 v + 16 v + 56
    out.grad.fill(1.0)
    out2.grad.fill(1.0)
    v.grad.fill(0.0)
    squares_and_sums.grad(v, out, out2)
    assert_close(v.grad.to_numpy(), 296.0 * x + 56.0, rtol=1e-5, what="adjoint")


def test_a_kernel_that_cannot_be_split_fails_at_its_line(vulkan):
    marker = ti.field(td.f32, shape=())

    @td.kernel
    def with_write_between(v: nd1, out: nd1, out2: nd1):
        for i in range(v.shape[0]):
            h = ti.Vector.zero(td.f32, 8)
            for j in range(8):
                h[j] = v[i] * j
            out[i] = h[3]
        marker[None] = 1.0
        for i in range(v.shape[0]):
            g = ti.Vector.zero(td.f32, 8)
            for j in range(8):
                g[j] = v[i] + j
            out2[i] = g[5]

    v, out, out2 = arrays(np.ones(3))
    with pytest.raises(td.TidalError) as err:
        with_write_between(v, out, out2)
    assert "SPIR-V" in str(err.value) and "with_write_between" in str(err.value)
    loc = err.value.loc
    assert loc.filename == __file__ and loc.source_line().startswith("def with_write_between")
