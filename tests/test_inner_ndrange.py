"""``ti.ndrange`` and ``ti.grouped`` in loops below a kernel's top level and in tidal functions
(Taichi allows the first there; tidal used to refuse both). Each is lowered to one serial loop
over the product of the extents with the indices decoded in Taichi's order, so ``break`` and
``continue`` act on the whole range. Values are checked against NumPy and the same kernel in
Taichi, gradients against closed forms."""

import numpy as np
import pytest
import taichi as ti

import tidal as td

from .reference import assert_close

nd1 = ti.types.ndarray(dtype=ti.f64, ndim=1)
nd2 = ti.types.ndarray(dtype=ti.f64, ndim=2)


@pytest.fixture(autouse=True)
def cpu():
    td.init(arch="cpu", default_fp=td.f64)


def _weighted(k):
    """sum_{i, j} (i + 1) (j + 2) a[i, j]^2 over a window of rows [1, n) and all columns, as
    a tidal kernel (``k`` = td.kernel) or a Taichi one (``k`` = ti.kernel)."""

    @k
    def weighted(a: nd2, out: nd1):
        for r in range(out.shape[0]):
            s = 0.0
            for i, j in ti.ndrange((1, a.shape[0]), a.shape[1]):
                s += (i + 1) * (j + 2) * a[i, j] * a[i, j] * (r + 1)
            out[r] = s

    return weighted


def test_values_match_taichi_and_numpy_and_the_gradient_its_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3))
    i, j = np.meshgrid(np.arange(4), np.arange(3), indexing="ij")
    wts = (i + 1) * (j + 2) * (i >= 1)
    want = np.array([1.0, 2.0]) * np.sum(wts * a * a)
    got, plain = np.zeros(2), np.zeros(2)
    _weighted(td.kernel)(a, got)
    _weighted(ti.kernel)(a, plain)
    assert_close(got, want, rtol=1e-13, what="tidal")
    assert_close(plain, want, rtol=1e-13, what="Taichi")
    kernel = _weighted(td.kernel)
    arr, out = ti.ndarray(ti.f64, (4, 3), needs_grad=True), ti.ndarray(ti.f64, 2, needs_grad=True)
    arr.from_numpy(a)
    kernel(arr, out)
    out.grad.from_numpy(np.array([1.0, 0.25]))
    arr.grad.fill(0.0)
    kernel.grad(arr, out)
    assert_close(arr.grad.to_numpy(), (1.0 + 0.25 * 2.0) * 2 * wts * a, rtol=1e-13,
                 what="gradient")


def test_break_and_continue_act_on_the_whole_range_as_in_taichi():
    """The first (i, j) in row-major order with a[i, j] > limit ends the whole loop; negative
    entries are skipped."""

    def build(k):
        @k
        def first_large(a: nd2, limit: ti.f64, out: nd1):
            for r in range(1):
                s = 0.0
                for i, j in ti.ndrange(a.shape[0], a.shape[1]):
                    if a[i, j] < 0.0:
                        continue
                    if a[i, j] > limit:
                        break
                    s += a[i, j]
                out[r] = s

        return first_large

    a = np.array([[0.5, -1.0, 0.25], [3.0, 0.125, 9.0]])
    kernels = {k: build(k) for k in (td.kernel, ti.kernel)}
    for k, kernel in kernels.items():
        out = np.zeros(1)
        kernel(a, 1.0, out)
        assert out[0] == 0.75, k  # 0.5 + 0.25, then 3.0 ends the loop
    # compiled by tidal (a kernel tidal cannot lower runs as Taichi compiles it, until it is
    # differentiated): its generated source has the one flat loop
    assert "for q in range(" in kernels[td.kernel].source(a, 1.0, out)


def test_in_a_function_and_its_derivatives():
    """A td.func looping over ti.ndrange(3, 2): f(x) = sum_{i, j} sin((i + 2 j + 1) x);
    td.grad and the second derivative against closed forms."""

    @td.func
    def f(x: td.f64) -> td.f64:
        s = 0.0
        for i, j in ti.ndrange(3, 2):
            s += ti.sin((i + 2 * j + 1) * x)
        return s

    ks = np.array([i + 2 * j + 1 for i in range(3) for j in range(2)], dtype=float)
    x = 0.37
    assert_close(f(x), np.sum(np.sin(ks * x)), rtol=1e-14, what="f")
    assert_close(td.grad(f)(x), np.sum(ks * np.cos(ks * x)), rtol=1e-14, what="f'")
    assert_close(td.derivative(f, order=2)(x), -np.sum(ks ** 2 * np.sin(ks * x)), rtol=1e-13,
                 what="f''")


def test_under_a_tape_with_a_field():
    x = ti.field(ti.f64, shape=(2, 3), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.kernel
    def total():
        for _k in range(1):
            for i, j in ti.ndrange(x.shape[0], x.shape[1]):
                loss[None] += x[i, j] ** 3

    xs = np.arange(6.0).reshape(2, 3) - 2.0
    x.from_numpy(xs)
    with td.Tape(loss):
        total()
    assert_close(loss[None], np.sum(xs ** 3), rtol=1e-14, what="loss")
    assert_close(x.grad.to_numpy(), 3 * xs ** 2, rtol=1e-14, what="gradient")


def test_one_name_per_dimension():
    @td.func
    def g(x: td.f64) -> td.f64:
        s = 0.0
        for _ij in ti.ndrange(2, 2):
            s += x
        return s

    with pytest.raises(td.TidalError, match="one index name per dimension") as e:
        g(1.0)
    assert "test_inner_ndrange.py" in str(e.value)


def test_grouped_index_vectors_match_taichi_and_the_gradient_its_closed_form():
    """``for I in ti.grouped(ti.ndrange(3, (1, 4)))`` below the top level (I the vector of
    indices) against Taichi's own compilation of the same kernel, and ``for I in
    ti.grouped(x)`` there too (which Taichi refuses: a struct-for cannot be nested) against
    NumPy; the gradient against its closed form."""
    x = ti.field(ti.f64, shape=(3, 4), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    def build(k):
        @k
        def window_sum():
            for _r in range(1):
                s = 0.0
                for I in ti.grouped(ti.ndrange(3, (1, 4))):
                    s += x[I] * x[I] * (I[0] + 2 * I[1])
                loss[None] += s

        return window_sum

    @td.kernel
    def field_sum():
        for _r in range(1):
            s = 0.0
            for I in ti.grouped(x):
                s += x[I] * (I[0] + 1)
            loss[None] += s

    xs = np.random.default_rng(1).normal(size=(3, 4))
    i, j = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    window = (j >= 1) * (i + 2 * j)
    x.from_numpy(xs)
    loss[None] = 0.0
    build(ti.kernel)()
    assert_close(loss[None], np.sum(window * xs * xs), rtol=1e-13, what="Taichi")
    kernel = build(td.kernel)
    with td.Tape(loss):
        kernel()
        field_sum()
    assert_close(loss[None], np.sum(window * xs * xs) + np.sum(xs * (i + 1)), rtol=1e-13,
                 what="tidal")
    assert_close(x.grad.to_numpy(), 2 * window * xs + (i + 1), rtol=1e-13, what="gradient")


def test_loops_over_an_ndarray_at_the_top_level_and_below_it():
    """``for i, j in a`` and ``for I in ti.grouped(a)`` over an ndarray argument (its index
    dimensions, also for an ndarray of 3-vectors) at a kernel's top level, against Taichi's
    own compilation, and ``ti.grouped(a)`` in a serial loop below it, against NumPy; gradients
    against closed forms."""
    v3 = ti.types.ndarray(dtype=ti.types.vector(3, ti.f64), ndim=2)

    def build(k):
        @k
        def struct_for(a: nd2, out: nd2):
            for i, j in a:
                out[i, j] = a[i, j] * a[i, j] * (i + 2 * j + 1)

        @k
        def grouped(p: v3, out: nd2):
            for I in ti.grouped(p):
                out[I] = p[I].dot(ti.Vector([1.0, 2.0, 3.0])) * (I[0] + 1)

        return struct_for, grouped

    @td.kernel
    def serial_total(a: nd2, out: nd1):
        for r in range(out.shape[0]):
            s = 0.0
            for I in ti.grouped(a):
                s += a[I] * (I[1] + 1)
            out[r] = s * (r + 1)

    rng = np.random.default_rng(2)
    xs, ps = rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 3))
    i, j = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    wants = (xs * xs * (i + 2 * j + 1), (ps @ np.array([1.0, 2.0, 3.0])) * (i + 1))
    for k in (ti.kernel, td.kernel):
        for kernel, arg, want in zip(build(k), (xs, ps), wants):
            out = np.zeros((3, 4))
            kernel(arg, out)
            assert_close(out, want, rtol=1e-14, what=f"{k.__module__} {kernel}")
    struct_for, grouped = build(td.kernel)
    a = ti.ndarray(ti.f64, (3, 4), needs_grad=True)
    p = ti.ndarray(ti.types.vector(3, ti.f64), (3, 4), needs_grad=True)
    out = ti.ndarray(ti.f64, (3, 4), needs_grad=True)
    a.from_numpy(xs)
    p.from_numpy(ps)
    struct_for(a, out)
    out.grad.fill(1.0)
    a.grad.fill(0.0)
    struct_for.grad(a, out)
    assert_close(a.grad.to_numpy(), 2 * xs * (i + 2 * j + 1), rtol=1e-14, what="struct-for grad")
    grouped(p, out)
    out.grad.fill(1.0)
    p.grad.fill(0.0)
    grouped.grad(p, out)
    assert_close(p.grad.to_numpy(), (i + 1)[..., None] * np.array([1.0, 2.0, 3.0]), rtol=1e-14,
                 what="grouped grad")
    totals = ti.ndarray(ti.f64, 2, needs_grad=True)
    serial_total(a, totals)
    assert_close(totals.to_numpy(), np.array([1.0, 2.0]) * np.sum(xs * (j + 1)), rtol=1e-14,
                 what="serial grouped")
    totals.grad.fill(1.0)
    a.grad.fill(0.0)
    serial_total.grad(a, totals)
    assert_close(a.grad.to_numpy(), 3.0 * (j + 1), rtol=1e-14, what="serial grouped grad")


def test_grouped_over_a_field_without_indices_is_refused_at_its_line():
    """Below the top level and at it (both raised a raw IndexError before)."""
    scalar = ti.field(ti.f64, shape=(), needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.kernel
    def over_nothing():
        for _r in range(1):
            for I in ti.grouped(scalar):
                loss[None] += scalar[I]

    @td.kernel
    def over_nothing_in_parallel():
        for I in ti.grouped(scalar):
            loss[None] += scalar[I]

    for kernel in (over_nothing, over_nothing_in_parallel):
        with pytest.raises(td.TidalError, match=r"shape \(\) has no index") as e:
            with td.Tape(loss):
                kernel()
        assert "for I in ti.grouped(scalar):" in str(e.value)
