"""Bad input gives tidal errors that name the problem and the user's line; IEEE specials
propagate through functions and derivatives without crashes."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import taichi as ti

import tidal as td


def line_of(fn, text: str) -> int:
    """Line number in this file of the first source line of ``fn`` containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return start + k
    raise AssertionError(text)


def check_error(exc_info, cls, fragment: str, pyfunc=None, text: str | None = None):
    err = exc_info.value
    assert isinstance(err, cls), type(err)
    msg = str(err)
    assert fragment in msg, msg
    if pyfunc is not None:
        assert err.loc is not None, msg
        assert err.loc.filename == __file__
        assert err.loc.lineno == line_of(pyfunc, text), msg
        assert f"line {err.loc.lineno}" in msg


@td.func
def two_args(x: td.f64, n: td.i32) -> td.f64:
    return x * n


def test_differentiating_an_integer_parameter():
    with pytest.raises(td.TidalArgumentError) as e:
        td.grad(two_args, argnums=1)
    check_error(e, td.TidalArgumentError, "integer parameter")


@pytest.mark.parametrize("argnums", [2, -3, (0, 5), "x", 1.0, ()])
def test_bad_argnums(argnums):
    with pytest.raises(td.TidalArgumentError) as e:
        td.grad(two_args, argnums=argnums)
    assert "argnums" in str(e.value)


def test_wrong_arity_from_python():
    with pytest.raises(td.TidalArgumentError) as e:
        two_args(1.0)
    check_error(e, td.TidalArgumentError, "takes 2 arguments")


def test_non_numeric_argument():
    with pytest.raises(td.TidalArgumentError) as e:
        two_args("a", 2)
    check_error(e, td.TidalArgumentError, "numeric")


def test_non_integer_value_for_integer_parameter():
    with pytest.raises(td.TidalArgumentError) as e:
        two_args(1.0, 2.5)
    check_error(e, td.TidalArgumentError, "integer parameter")


def test_grad_of_vector_output():
    @td.func
    def vout(x: td.f64) -> td.vec(2, td.f64):
        return ti.Vector([x, x * x])

    with pytest.raises(td.TidalArgumentError) as e:
        td.grad(vout)
    check_error(e, td.TidalArgumentError, "jacobian")


def test_derivative_order_must_be_non_negative():
    with pytest.raises(td.TidalArgumentError):
        td.derivative(two_args, 0, order=-1)


def test_not_a_tidal_function():
    with pytest.raises(td.TidalArgumentError) as e:
        td.grad(math.sin)
    check_error(e, td.TidalArgumentError, "@td.func")


def bad_arity_call(x: td.f64) -> td.f64:
    return two_args(x) * 2.0


def test_wrong_arity_inside_a_function():
    f = td.func(bad_arity_call)
    with pytest.raises(td.TidalTypeError) as e:
        f(1.0)
    check_error(e, td.TidalTypeError, "takes 2 arguments", bad_arity_call, "two_args(x)")


def uses_lambda(x: td.f64) -> td.f64:
    g = lambda t: t * 2  # noqa: E731 - the unsupported construct under test
    return g(x)


def uses_comprehension(x: td.f64) -> td.f64:
    return sum([x * k for k in range(3)])


def uses_try(x: td.f64) -> td.f64:
    try:
        y = x
    except ValueError:
        y = 0.0
    return y


def uses_print(x: td.f64) -> td.f64:
    print(x)
    return x


def uses_while_else(x: td.f64) -> td.f64:
    while x < 1.0:
        x = x * 2.0
    else:
        x = x + 1.0
    return x


def uses_string(x: td.f64) -> td.f64:
    return x * "abc"


def uses_python_function(x: td.f64) -> td.f64:
    return np.sin(x)


def uses_dict(x: td.f64) -> td.f64:
    return x * TABLE


TABLE = {"a": 1}


def uses_undefined(x: td.f64) -> td.f64:
    if x > 0.0:
        y = x
    return y


def no_annotation(x) -> td.f64:
    return x


def uses_ti_func(x: td.f64) -> td.f64:
    return raw_taichi(x)


@ti.func
def raw_taichi(x):
    return x


def writes_field(x: td.f64) -> td.f64:
    FIELD_HOLDER[0][0] = x
    return x


FIELD_HOLDER = []


def infinite_loop(x: td.f64) -> td.f64:
    while True:
        x = x + 1.0
    return x


@pytest.mark.parametrize("pyfunc,cls,fragment,text", [
    (uses_lambda, td.UnsupportedConstructError, "lambda", "lambda t"),
    (uses_comprehension, td.UnsupportedConstructError, "comprehension", "sum(["),
    (uses_try, td.UnsupportedConstructError, "try", "try:"),
    (uses_print, td.UnsupportedConstructError, "print", "print(x)"),
    (uses_while_else, td.UnsupportedConstructError, "else", "while x < 1.0"),
    (uses_string, td.TidalTypeError, "str", 'x * "abc"'),
    (uses_python_function, td.UnsupportedConstructError, "sin", "np.sin(x)"),
    (uses_dict, td.TidalTypeError, "dict", "x * TABLE"),
    (uses_undefined, td.UnsupportedConstructError, "only one branch", "return y"),
    (no_annotation, td.TidalTypeError, "annotation", "def no_annotation"),
    (infinite_loop, td.UnsupportedConstructError, "never ends", "while True"),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_unsupported_input_names_the_line(pyfunc, cls, fragment, text):
    f = td.func(pyfunc)
    with pytest.raises(td.TidalError) as e:
        f(0.5)
    check_error(e, cls, fragment, pyfunc, text)


def test_a_taichi_function_helper_is_compiled_like_a_tidal_function():
    f = td.func(uses_ti_func)
    assert f(0.5) == 0.5
    assert td.grad(f)(0.5) == 1.0


def test_writing_a_field_is_refused_at_its_line():
    FIELD_HOLDER.clear()
    FIELD_HOLDER.append(ti.field(ti.f64, shape=2))
    f = td.func(writes_field)
    with pytest.raises(td.TidalError) as e:
        f(0.5)
    check_error(e, td.UnsupportedConstructError, "cannot write", writes_field, "FIELD_HOLDER[0][0]")


def test_errors_are_raised_when_asking_for_a_derivative_too():
    f = td.func(uses_lambda)
    with pytest.raises(td.UnsupportedConstructError):
        td.grad(f)


def test_shape_mismatch_names_the_line():
    def bad(x: td.f64) -> td.f64:
        v = ti.Vector([x, x])
        w = ti.Vector([x, x, x])
        return (v + w).sum()

    with pytest.raises(td.TidalTypeError) as e:
        td.func(bad)(1.0)
    check_error(e, td.TidalTypeError, "shapes", bad, "(v + w)")


@td.func
def ieee(x: td.f64) -> td.f64:
    return ti.exp(x) + 1.0 / x + ti.sqrt(x)


def test_nan_and_inf_propagate_like_ieee():
    xs = np.array([np.nan, np.inf, 0.0, -1.0, 1.0])
    with np.errstate(all="ignore"):
        expected = np.exp(xs) + 1.0 / xs + np.sqrt(xs)
        dexpected = np.exp(xs) - 1.0 / xs ** 2 + 0.5 / np.sqrt(xs)
    np.testing.assert_array_equal(td.vectorize(ieee)(xs), expected)
    np.testing.assert_array_equal(td.vectorize(td.grad(ieee))(xs), dexpected)
    np.testing.assert_array_equal(td.vectorize(td.derivative(ieee, 0, 1))(xs), dexpected)
    assert math.isnan(ieee(float("nan")))
    assert td.grad(ieee)(float("inf")) == float("inf")


def test_taichi_errors_in_generated_code_are_reported_at_the_users_line():
    from tidal.dsl import loader

    @td.func
    def user(x: td.f64) -> td.f64:
        y = ti.exp(x)
        return y * 2.0

    g = td.grad(user)
    g.taichi_object()
    filename = max(loader.LINE_MAPS, key=lambda k: int(k.rsplit(":", 1)[1].rstrip(">")))
    source = loader.SOURCES[filename].splitlines()
    generated_line = 1 + next(k for k, text in enumerate(source) if "ti.exp" in text)
    fake = RuntimeError(f'File "{filename}", line {generated_line}, in user_grad:\n'
                        "    something\nTaichiTypeError: bad operand")
    mapped = loader.user_error_from_taichi(fake)
    assert isinstance(mapped, td.TidalCompileError)
    assert mapped.loc.filename == __file__
    # the line holds `ti.exp(x) * 2.0`: it maps to one of the user lines it came from
    assert mapped.loc.lineno in (line_of(user, "ti.exp(x)"), line_of(user, "y * 2.0"))
    assert "bad operand" in str(mapped)
