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
nd2 = ti.types.ndarray(dtype=td.f32, ndim=2)


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


def test_loops_over_a_computed_number_of_iterations(vulkan):
    """``for k in range(a.shape[1] // 2)`` (and the bound held in a variable first): Taichi's
    SPIR-V generator refuses such a one-index range ("Not supported"); tidal writes it as an
    ndrange, which it compiles. Pair sums against NumPy, their gradient against its closed form
    (each input element gets its pair's cotangent, times 3 for the odd ones)."""
    @td.kernel
    def pair_sums(a: nd2, out: nd2):
        for k in range(a.shape[1] // 2):
            for i in range(a.shape[0]):
                out[i, k] = a[i, 2 * k] + 3.0 * a[i, 2 * k + 1]

    @td.kernel
    def pair_sums_bound_first(a: nd2, out: nd2):
        half = a.shape[1] // 2
        for k in range(1, half):
            for i in range(a.shape[0]):
                out[i, k] = a[i, 2 * k] + 3.0 * a[i, 2 * k + 1]

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 10))
    g = rng.normal(size=(3, 5))
    for kernel, first in ((pair_sums, 0), (pair_sums_bound_first, 1)):
        a, out = ti.ndarray(td.f32, (3, 10), needs_grad=True), ti.ndarray(td.f32, (3, 5),
                                                                           needs_grad=True)
        a.from_numpy(x.astype(np.float32))
        out.fill(0.0)
        kernel(a, out)
        want = x[:, 0::2] + 3.0 * x[:, 1::2]
        want[:, :first] = 0.0
        assert_close(out.to_numpy(), want, rtol=1e-5, what=kernel.name)
        out.grad.from_numpy(g.astype(np.float32))
        a.grad.fill(0.0)
        kernel.grad(a, out)
        da = np.zeros_like(x)
        da[:, 0::2], da[:, 1::2] = g, 3.0 * g
        da[:, :2 * first] = 0.0
        assert_close(a.grad.to_numpy(), da, rtol=1e-5, what=f"{kernel.name} gradient")
