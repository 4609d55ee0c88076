"""Kernels tidal generated are launched straight into their compiled code after the first call
(tidal.dsl.direct): the values must be Taichi's in every situation where that shortcut could
go stale (new fields, a new runtime, bad arguments, Taichi's own tape)."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH
from tidal.dsl import direct


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _scaled_adder():
    x = ti.field(ti.f64, shape=4, needs_grad=True)

    @td.kernel
    def add(t: ti.i32, s: ti.f64):
        for i in range(4):
            x[i] += (t + i) * s

    return x, add


def _generated(kernel):
    """The Taichi kernel object tidal compiled for ``kernel`` (its one specialisation)."""
    return kernel._last.forward()._primal


def test_repeated_launches_with_changing_scalars_equal_numpy():
    x, add = _scaled_adder()
    expect = np.zeros(4)
    for t, s in [(1, 0.5), (2, -1.25), (np.int32(3), np.float64(2.0)), (0, 7), (5, 1e-3)]:
        add(t, s)
        expect += (int(t) + np.arange(4)) * float(s)
    np.testing.assert_allclose(x.to_numpy(), expect, rtol=0, atol=1e-14)
    assert isinstance(_generated(add).__dict__.get("_tidal_direct"), tuple)


def test_a_field_declared_between_launches_is_placed_before_the_next_launch():
    x, add = _scaled_adder()
    add(1, 1.0)
    add(1, 1.0)
    y = ti.field(ti.f64, shape=4)  # Taichi must place this before any launch reads memory

    @td.kernel
    def copy():
        for i in range(4):
            y[i] = 2.0 * x[i]

    add(1, 1.0)
    copy()
    np.testing.assert_allclose(y.to_numpy(), 2.0 * 3.0 * (1 + np.arange(4)))


def test_a_new_runtime_recompiles_instead_of_reusing_the_old_code():
    x, add = _scaled_adder()
    add(1, 1.0)
    add(1, 1.0)
    td.init(arch=ARCH, default_fp=td.f64)
    x2, add2 = _scaled_adder()
    add2(2, 1.0)
    add2(2, 1.0)
    np.testing.assert_allclose(x2.to_numpy(), 2.0 * (2 + np.arange(4)))


def test_an_argument_of_the_wrong_type_gets_taichis_error_not_a_conversion():
    x, add = _scaled_adder()
    add(1, 1.0)
    add(1, 1.0)
    with pytest.raises(Exception, match="i32|int"):
        direct.call(_generated(add), (2.5, 1.0))  # 2.5 must not become 2
    np.testing.assert_allclose(x.to_numpy(), 2.0 * (1 + np.arange(4)))


def test_gradients_under_td_tape_are_right_after_many_launches():
    x = ti.field(ti.f64, shape=4, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @td.kernel
    def square(s: ti.f64):
        for i in range(4):
            loss[None] += s * x[i] ** 2

    x.from_numpy(np.arange(1.0, 5.0))
    for _ in range(3):  # the first tape compiles, the later ones launch directly
        with td.Tape(loss):
            square(0.5)
            square(1.5)
        np.testing.assert_allclose(loss[None], 2.0 * np.sum(np.arange(1.0, 5.0) ** 2))
        np.testing.assert_allclose(x.grad.to_numpy(), 4.0 * np.arange(1.0, 5.0))


def _array_kernels():
    x = ti.field(ti.f64, shape=5)

    @td.kernel
    def load(a: ti.types.ndarray(dtype=ti.f64, ndim=1), s: ti.f64):
        for i in range(5):
            x[i] = s * a[i]

    @td.kernel
    def store(a: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in range(5):
            a[i] = x[i] + 1.0

    return x, load, store


def test_numpy_array_arguments_launch_directly_and_move_the_values_both_ways():
    x, load, store = _array_kernels()
    for k in range(4):  # the first launch compiles; the later ones go straight in
        a = np.arange(5.0) * (k + 1)
        load(a, 0.5)
        out = np.zeros(5)
        store(out)
        np.testing.assert_array_equal(out, 0.5 * a + 1.0)
    assert isinstance(_generated(load).__dict__.get("_tidal_direct"), tuple)
    assert isinstance(_generated(store).__dict__.get("_tidal_direct"), tuple)


def test_arrays_of_another_kind_go_through_taichi_with_taichis_result_or_error():
    x, load, _ = _array_kernels()
    load(np.ones(5), 1.0)
    load(np.ones(5), 1.0)
    load(np.arange(10.0)[::2].copy(order="C"), 1.0)
    np.testing.assert_array_equal(x.to_numpy(), np.arange(0.0, 10.0, 2.0))
    load(np.asfortranarray(np.full(5, 3.0)), 2.0)  # (1-D: also C-ordered)
    np.testing.assert_array_equal(x.to_numpy(), np.full(5, 6.0))
    with pytest.raises(Exception, match="contiguous"):
        load(np.arange(10.0)[::2], 1.0)  # Taichi refuses strided arrays; never a wrong read
    view = np.arange(10.0)[::2]
    with pytest.raises(Exception, match="contiguous"):
        direct.call(_generated(load), (view, 1.0))
    np.testing.assert_array_equal(x.to_numpy(), np.full(5, 6.0))


def test_taichi_ndarrays_launch_directly_with_and_without_gradient_storage():
    """Taichi ndarrays (scalar and vector elements) go straight in after the first launch;
    one with gradient storage where the compiled instance had none (or the other way round),
    or of another type or dimension, goes through Taichi; values and adjoints stay exact."""
    nd2 = ti.types.ndarray(dtype=ti.f64, ndim=2)
    vec = ti.types.ndarray(dtype=ti.types.vector(3, ti.f64), ndim=1)

    @td.kernel
    def combine(a: nd2, v: vec, out: nd2, s: ti.f64):
        for i, j in ti.ndrange(a.shape[0], a.shape[1]):
            out[i, j] += s * a[i, j] * a[i, j] + v[i][j % 3]

    rng = np.random.default_rng(3)

    def arrays(n, grad):
        a = ti.ndarray(ti.f64, shape=(n, 4), needs_grad=grad)
        v = ti.Vector.ndarray(3, ti.f64, shape=n)
        out = ti.ndarray(ti.f64, shape=(n, 4), needs_grad=grad)
        an, vn = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
        a.from_numpy(an)
        v.from_numpy(vn)
        return a, v, out, an, vn

    for n, grad in [(5, True), (7, True), (6, True), (3, False), (8, True)]:
        a, v, out, an, vn = arrays(n, grad)
        combine(a, v, out, 0.5)
        want = 0.5 * an**2 + vn[:, np.arange(4) % 3]
        np.testing.assert_allclose(out.to_numpy(), want, rtol=1e-15, err_msg=f"n={n}")
        if n == 6:  # the third launch with gradient storage went straight in
            assert isinstance(_generated(combine).__dict__.get("_tidal_direct"), tuple)
        if grad:
            seed = rng.normal(size=(n, 4))
            out.grad.from_numpy(seed)
            combine.grad(a, v, out, 0.5)
            np.testing.assert_allclose(a.grad.to_numpy(), seed * an, rtol=1e-14,
                                       err_msg=f"adjoint, n={n}")
    # one plan per compiled instance (with and without gradient storage): both go straight in
    plans = _generated(combine).__dict__.get("_tidal_direct")
    assert isinstance(plans, tuple) and len(plans) == 2
    through_taichi = []
    real_call = direct._TAICHI_CALL

    def spy(kernel, *args):
        through_taichi.append(args)
        return real_call(kernel, *args)

    direct._TAICHI_CALL = spy
    try:
        for n, grad in [(4, False), (9, True), (2, False)]:
            a, v, out, an, vn = arrays(n, grad)
            combine(a, v, out, 2.0)
            np.testing.assert_allclose(out.to_numpy(), 2.0 * an**2 + vn[:, np.arange(4) % 3],
                                       rtol=1e-15, err_msg=f"n={n}, grad={grad}")
    finally:
        direct._TAICHI_CALL = real_call
    assert through_taichi == []
    a32 = ti.ndarray(ti.f32, shape=(2, 4))  # another type: its own compiled instance
    a32.from_numpy(np.full((2, 4), 2.0, dtype=np.float32))
    _, v, out, _, vn = arrays(2, False)
    combine(a32, v, out, 1.0)
    np.testing.assert_allclose(out.to_numpy(), 4.0 + vn[:, np.arange(4) % 3], rtol=1e-15)


def test_kernels_in_simd_lanes_launch_directly_with_their_partial_sums():
    """A kernel whose loops run in SIMD lanes (compiled in Taichi's vector mode, launched with
    the scratch arrays of its lane-wide partial sums) goes straight in after its first launch,
    and so does its adjoint; values and the weight gradient (a sum over every point, through
    the partial sums) stay exact over repeated launches."""
    if ARCH != "cpu":
        pytest.skip("SIMD lanes are CPU-only")
    nd1 = ti.types.ndarray(dtype=ti.f64, ndim=1)
    w = ti.field(ti.f64, shape=3, needs_grad=True)

    @td.kernel(vectorise=True)
    def cubic(x: nd1, out: nd1):
        for i in range(x.shape[0]):
            out[i] = w[0] * x[i] + w[1] * x[i] * x[i] + w[2] * ti.tanh(x[i])

    rng = np.random.default_rng(5)
    x = ti.ndarray(ti.f64, shape=100, needs_grad=True)
    out = ti.ndarray(ti.f64, shape=100, needs_grad=True)
    for k in range(4):
        xn, wn = rng.normal(size=100), rng.normal(size=3)
        x.from_numpy(xn)
        w.from_numpy(wn)
        cubic(x, out)
        np.testing.assert_allclose(out.to_numpy(), wn[0] * xn + wn[1] * xn**2
                                   + wn[2] * np.tanh(xn), rtol=1e-14, atol=1e-14,
                                   err_msg=f"launch {k}")  # (terms of order 1: atol)
        w.grad.fill(0.0)
        x.grad.fill(0.0)
        seed = rng.normal(size=100)
        out.grad.from_numpy(seed)
        cubic.grad(x, out)
        np.testing.assert_allclose(w.grad.to_numpy(), [seed @ xn, seed @ xn**2,
                                                        seed @ np.tanh(xn)], rtol=1e-12)
    launch = cubic._last.forward()
    assert isinstance(launch.taichi_kernel.__dict__.get("_tidal_direct"), tuple)


def test_launches_through_taichi_keep_one_plan_per_instance():
    """Under Taichi's own tape every launch goes through Taichi and is planned again: the new
    plan replaces the instance's old one instead of piling up beside it."""
    x = ti.field(ti.f64, shape=4, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @ti.kernel
    def weigh(s: ti.f64):
        for i in range(4):
            loss[None] += s * x[i]

    x.from_numpy(np.arange(4.0))
    for _ in range(5):
        with ti.ad.Tape(loss):
            direct.launch(weigh, 2.0)
    assert len(weigh._primal.__dict__["_tidal_direct"]) == 1
    np.testing.assert_array_equal(x.grad.to_numpy(), 2.0)
    assert loss[None] == 12.0
