"""Star arguments in calls (``f(*args)``) and compile-time tuples: the language feature the PINN
operator kernels are written with. Values and derivatives are checked against closed forms
(Taichi itself cannot rebind a tuple, so it is no oracle here)."""

import math

import numpy as np
import pytest
import taichi as ti

import tidal as td

SCALES = (1.0, 2.0, -0.5)


@td.func
def weighted(a: td.f64, b: td.f64, c: td.f64) -> td.f64:
    return a + b * b + c * c * c


@td.func
def through_a_tuple(x: td.f64) -> td.f64:
    args = ()
    for k in ti.static(range(3)):
        args = args + (SCALES[k] * ti.sin(x),)
    return weighted(*args)


@td.func
def through_a_vector(x: td.f64) -> td.f64:
    v = ti.Vector([x, 2.0 * x, x * x])
    return weighted(*v)


@td.func
def star_of_a_scalar(x: td.f64) -> td.f64:
    return weighted(*x)


@td.func
def starred_target(x: td.f64) -> td.f64:
    v = ti.Vector([x, x, x])
    a, *b = v
    return a


NOTHING = None


@td.func
def static_identity(x: td.f64) -> td.f64:
    y = x
    if ti.static(NOTHING is None):
        y = 2.0 * x
    if ti.static(SCALES is not None):
        y = y + 1.0
    return y


def _expected_tuple(x):
    s = math.sin(x)
    return s + (2 * s) ** 2 + (-0.5 * s) ** 3


def test_a_tuple_built_in_a_static_loop_is_passed_item_by_item(cpu64):
    x = 0.7
    assert math.isclose(through_a_tuple(x), _expected_tuple(x), rel_tol=1e-14)
    s, c = math.sin(x), math.cos(x)
    slope = c + 8 * s * c - 0.375 * s * s * c
    assert math.isclose(td.grad(through_a_tuple)(x), slope, rel_tol=1e-12)


def test_a_vector_is_passed_element_by_element(cpu64):
    x = 0.3
    assert math.isclose(through_a_vector(x), x + 4 * x * x + x ** 6, rel_tol=1e-14)
    assert math.isclose(td.grad(through_a_vector)(x), 1 + 8 * x + 6 * x ** 5, rel_tol=1e-12)
    second = td.grad(td.grad(through_a_vector))(x)
    assert math.isclose(second, 8 + 30 * x ** 4, rel_tol=1e-12)


def test_a_star_of_a_scalar_is_refused_at_its_line(cpu64):
    with pytest.raises(td.TidalTypeError) as e:
        star_of_a_scalar(0.5)
    assert "unpacked" in str(e.value) and "weighted(*x)" in str(e.value)


def test_a_starred_assignment_target_is_still_refused(cpu64):
    with pytest.raises(td.UnsupportedConstructError) as e:
        starred_target(0.5)
    assert "starred" in str(e.value) and "a, *b = v" in str(e.value)


def test_is_compares_compile_time_objects(cpu64):
    assert static_identity(0.25) == 1.5


@td.kernel
def star_kernel(x: ti.types.ndarray(dtype=ti.f64, ndim=1),
                out: ti.types.ndarray(dtype=ti.f64, ndim=1)):
    for i in range(x.shape[0]):
        args = ()
        for k in ti.static(range(3)):
            args = args + (SCALES[k] * x[i],)
        out[i] = weighted(*args)


def test_a_kernel_calls_with_the_items_of_a_tuple(cpu64):
    x = np.linspace(-1.0, 1.0, 7)
    xs, out = ti.ndarray(ti.f64, 7), ti.ndarray(ti.f64, 7)
    xs.from_numpy(x)
    star_kernel(xs, out)
    np.testing.assert_allclose(out.to_numpy(), x + 4 * x * x - 0.125 * x ** 3, rtol=1e-14)
    # the generated Taichi source has no star: one argument per item
    source = td.source(star_kernel)
    assert "weighted(" in source and "weighted(*" not in source


@td.func
def too_few(x: td.f64) -> td.f64:
    t = (x, x)
    return weighted(*t)


def test_a_wrong_number_of_unpacked_arguments_names_the_line(cpu64):
    with pytest.raises(td.TidalTypeError) as e:
        too_few(0.5)
    assert "takes 3 arguments, got 2" in str(e.value) and "weighted(*t)" in str(e.value)



@td.kernel
def taped_star(x: ti.template(), loss: ti.template()):
    for i in range(x.shape[0]):
        args = ()
        for k in ti.static(range(3)):
            args = args + (SCALES[k] * x[i],)
        loss[None] += weighted(*args)


def test_the_adjoint_of_a_kernel_with_star_arguments_equals_the_closed_form(cpu64):
    x = ti.field(ti.f64, shape=5, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    values = np.linspace(-1.0, 1.0, 5)
    x.from_numpy(values)
    with td.Tape(loss):
        taped_star(x, loss)
    # loss = sum(x + 4 x^2 - x^3 / 8): d/dx = 1 + 8 x - 3 x^2 / 8
    np.testing.assert_allclose(x.grad.to_numpy(), 1 + 8 * values - 0.375 * values ** 2,
                               rtol=1e-13)
