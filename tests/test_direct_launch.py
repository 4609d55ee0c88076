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
