"""tidal.dsl.field_io fills fields and ndarrays and moves fields to and from NumPy by kernels of
their own: the values must be exactly Taichi's ``fill`` / ``from_numpy`` / ``to_numpy``, for
every kind of field and ndarray, on the backend under test and on Vulkan."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH
from tidal.dsl import field_io, runtime

FIELDS = {
    "0-d scalar": lambda dt: ti.field(dt, shape=()),
    "1-d scalar": lambda dt: ti.field(dt, shape=7),
    "2-d vector": lambda dt: ti.Vector.field(3, dt, shape=(4, 5)),
    "3-d matrix": lambda dt: ti.Matrix.field(2, 3, dt, shape=(3, 2, 2)),
    "0-d vector": lambda dt: ti.Vector.field(2, dt, shape=()),
    "large": lambda dt: ti.field(dt, shape=(field_io.SERIAL_LIMIT // 64 + 3, 65)),
}


NDARRAYS = {
    "1-d scalar": lambda dt: ti.ndarray(dt, shape=7),
    "3-d scalar": lambda dt: ti.ndarray(dt, shape=(2, 5, 3)),
    "5-d scalar": lambda dt: ti.ndarray(dt, shape=(2, 1, 3, 4, 2)),
    "2-d vector": lambda dt: ti.Vector.ndarray(8, dt, shape=(3, 4)),
    "1-d matrix": lambda dt: ti.Matrix.ndarray(2, 3, dt, shape=5),
    "large": lambda dt: ti.ndarray(dt, shape=(field_io.SERIAL_LIMIT // 64 + 3, 65)),
}


def _ndarray_fills(dtype):
    rng = np.random.default_rng(2)
    for name, make in NDARRAYS.items():
        a = make(dtype)
        shape = tuple(a.to_numpy().shape)
        a.from_numpy(rng.normal(size=shape).astype(a.to_numpy().dtype))
        for value in (0, -1.25):  # (twice: the kernel is made once, then reused)
            field_io.fill(a, value)
            np.testing.assert_array_equal(a.to_numpy(), np.full(shape, value), err_msg=name)


def test_many_ndarrays_fill_together_exactly():
    """fill_all: fields, 32-bit ndarrays (Taichi's memory fill) and more ndarrays of two types
    than one launch takes; every one set, nothing else touched."""
    td.init(arch=ARCH, default_fp=td.f64)
    rng = np.random.default_rng(4)
    kinds = list(NDARRAYS.values())
    storages = [kinds[i % len(kinds)](ti.f64 if i % 3 else ti.i32)
                for i in range(field_io.MAX_FILLED_TOGETHER + 9)]
    storages += [ti.field(ti.f64, shape=(4, 3)), ti.ndarray(ti.f32, shape=(6,))]
    left = ti.ndarray(ti.f64, shape=(5, 2))
    kept = rng.normal(size=(5, 2))
    left.from_numpy(kept)
    for value in (3, 0):
        field_io.fill_all(storages, value)
        for s in storages:
            np.testing.assert_array_equal(s.to_numpy(), np.full(s.to_numpy().shape, value))
        np.testing.assert_array_equal(left.to_numpy(), kept)


def test_every_kind_of_ndarray_fills_exactly():
    td.init(arch=ARCH, default_fp=td.f64)
    _ndarray_fills(ti.f64)
    _ndarray_fills(ti.f32)
    ints = ti.ndarray(ti.i64, shape=(3, 4))
    field_io.fill(ints, 7)
    np.testing.assert_array_equal(ints.to_numpy(), np.full((3, 4), 7))


def _round_trips(dtype):
    rng = np.random.default_rng(1)
    for name, make in FIELDS.items():
        f = make(dtype)
        shape = tuple(f.shape) + field_io.element_shape(f)
        for _ in range(2):  # the first call compiles, the second launches directly
            a = rng.normal(size=shape).astype(field_io.numpy_type(f))
            field_io.from_numpy(f, a)
            np.testing.assert_array_equal(f.to_numpy(), a, err_msg=name)
            np.testing.assert_array_equal(field_io.to_numpy(f), a, err_msg=name)
            field_io.fill(f, 2.5)
            np.testing.assert_array_equal(f.to_numpy(), np.full(shape, 2.5), err_msg=name)
        if f.shape:
            s = f.shape[0] - 1
            b = rng.normal(size=shape[1:]).astype(field_io.numpy_type(f))
            field_io.write_slice(f, s, b)
            expect = np.full(shape, 2.5, dtype=b.dtype)
            expect[s] = b
            np.testing.assert_array_equal(f.to_numpy(), expect, err_msg=name)
            np.testing.assert_array_equal(field_io.read_slice(f, s), b, err_msg=name)
            field_io.write_slice(f, 0, 1.0)  # a scalar broadcasts over the slice
            assert np.all(f.to_numpy()[0] == 1.0), name


def test_every_kind_of_field_round_trips_exactly_in_f64():
    td.init(arch=ARCH, default_fp=td.f64)
    _round_trips(ti.f64)


def test_integer_fields_fill_and_load():
    td.init(arch=ARCH, default_fp=td.f64)
    f = ti.field(ti.i32, shape=(3, 4))
    field_io.fill(f, 7)
    assert np.all(f.to_numpy() == 7)
    field_io.from_numpy(f, np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(field_io.to_numpy(f), np.arange(12).reshape(3, 4))


def test_a_new_runtime_gets_new_kernels():
    td.init(arch=ARCH, default_fp=td.f64)
    f = ti.field(ti.f64, shape=3)
    field_io.fill(f, 1.0)
    td.init(arch=ARCH, default_fp=td.f64)
    g = ti.field(ti.f64, shape=3)
    field_io.fill(g, 4.0)
    np.testing.assert_array_equal(field_io.to_numpy(g), [4.0, 4.0, 4.0])


@pytest.mark.vulkan
def test_every_kind_of_field_round_trips_exactly_on_vulkan_in_f32():
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="vulkan", default_fp=td.f32)
    try:
        _round_trips(ti.f32)
        _ndarray_fills(ti.f32)
    finally:
        td.init(arch=ARCH, default_fp=td.f64)


@pytest.mark.parametrize("dtype", [ti.f32, ti.f64, ti.i32])
def test_scalar_ndarrays_move_to_and_from_numpy_exactly_and_straight_in(dtype):
    """ndarray_from_numpy / ndarray_to_numpy equal Taichi's from_numpy / to_numpy (gradient
    ndarrays and 0-d ones too; values cast to the ndarray's type); after the first launch of
    each direction the copies go straight into their compiled code; a wrong shape is an error,
    never a broadcast."""
    from tidal.dsl import direct

    td.init(arch=ARCH, default_fp=td.f64)
    rng = np.random.default_rng(5)
    shapes = [(), (7,), (2, 5, 3), (2, 1, 3, 4, 2), (field_io.SERIAL_LIMIT // 64 + 3, 65)]
    through_taichi = []
    real_call = direct._TAICHI_CALL

    def spy(kernel, *args):
        through_taichi.append(kernel)
        return real_call(kernel, *args)

    for rounds in range(2):
        through_taichi.clear()
        if rounds:
            direct._TAICHI_CALL = spy
        try:
            for shape in shapes:
                for grad in (False, True) if dtype != ti.i32 else (False,):
                    a = ti.ndarray(dtype, shape=shape, needs_grad=grad)
                    x = rng.normal(size=shape) * 100
                    want = x.astype(field_io.numpy_type(a))
                    field_io.ndarray_from_numpy(a, x)
                    np.testing.assert_array_equal(a.to_numpy(), want, err_msg=str(shape))
                    np.testing.assert_array_equal(field_io.ndarray_to_numpy(a), want)
                    if grad:
                        field_io.ndarray_from_numpy(a.grad, -x)
                        np.testing.assert_array_equal(a.grad.to_numpy(), -want)
                        np.testing.assert_array_equal(field_io.ndarray_to_numpy(a.grad), -want)
        finally:
            direct._TAICHI_CALL = real_call
        assert through_taichi == []  # (the second round: every copy went straight in)
    a = ti.ndarray(dtype, shape=(3, 4))
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        field_io.ndarray_from_numpy(a, np.zeros((4, 3)))
