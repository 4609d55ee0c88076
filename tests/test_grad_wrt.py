"""kernel.grad(*args, wrt=...): the adjoint of one launch computing only the listed gradients
(as td.Tape(loss, wrt=...)). The listed gradients must equal the full adjoint's closed forms;
the gradients of what the kernel only reads and is not listed must stay exactly as they were;
what the kernel writes takes part whether listed or not; anything but a field or an ndarray is
refused."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH

N = 700  # enough iterations for the shared sum of c's gradient to be split into blocks


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _problem():
    """y[i] = sin(w[i] x[i]) + c[0] x[i]^2: w read per element, c shared by every iteration."""
    w = ti.field(ti.f64, shape=N, needs_grad=True)
    c = ti.field(ti.f64, shape=1, needs_grad=True)

    @td.kernel
    def model(x: ti.types.ndarray(), y: ti.types.ndarray()):
        for i in range(x.shape[0]):
            y[i] = ti.sin(w[i] * x[i]) + c[0] * x[i] * x[i]

    rng = np.random.default_rng(0)
    wv, xv, cv, gv = rng.normal(size=N), rng.normal(size=N), np.array([0.7]), rng.normal(size=N)
    w.from_numpy(wv)
    c.from_numpy(cv)
    x = ti.ndarray(ti.f64, shape=N, needs_grad=True)
    y = ti.ndarray(ti.f64, shape=N, needs_grad=True)
    x.from_numpy(xv)
    closed = {"x": gv * (np.cos(wv * xv) * wv + 2 * cv[0] * xv),
              "w": gv * np.cos(wv * xv) * xv,
              "c": np.array([np.sum(gv * xv * xv)])}

    def adjoint(wrt=None):
        """One forward launch and its adjoint; the gradients start at a sentinel, 5.0."""
        model(x, y)
        for arr in (x.grad, w.grad, c.grad):
            arr.fill(5.0)
        y.grad.from_numpy(gv)
        model.grad(x, y, wrt=wrt)
        return {"x": x.grad.to_numpy() - 5.0, "w": w.grad.to_numpy() - 5.0,
                "c": c.grad.to_numpy() - 5.0}

    return w, c, x, y, model, closed, adjoint


def test_the_full_adjoint_equals_the_closed_forms():
    *_, closed, adjoint = _problem()
    got = adjoint()
    for name in ("x", "w", "c"):
        np.testing.assert_allclose(got[name], closed[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("wanted", [["x"], ["w"], ["x", "c"], ["w", "c"], []])
def test_only_the_listed_gradients_are_computed(wanted):
    w, c, x, _, _, closed, adjoint = _problem()
    objects = {"w": w, "c": c, "x": x}
    got = adjoint(wrt=[objects[h] for h in wanted])
    for name in ("x", "w", "c"):
        if name in wanted:
            np.testing.assert_allclose(got[name], closed[name], rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_array_equal(got[name], 0.0)  # still the sentinel exactly


def test_a_single_ndarray_may_be_passed_without_a_list():
    _, _, x, _, _, closed, adjoint = _problem()
    got = adjoint(wrt=x)
    np.testing.assert_array_equal(got["w"], 0.0)
    np.testing.assert_allclose(got["x"], closed["x"], rtol=1e-12, atol=1e-12)


def test_what_the_kernel_writes_takes_part_unlisted():
    """y is written: its gradient is read (into x's) and reset to zero though wrt omits it."""
    _, _, x, y, _, closed, adjoint = _problem()
    got = adjoint(wrt=[x])
    np.testing.assert_allclose(got["x"], closed["x"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y.grad.to_numpy(), 0.0)


@pytest.mark.parametrize("bad", [np.zeros(3), 3.0, "w"])
def test_anything_but_fields_and_ndarrays_is_refused(bad):
    *_, adjoint = _problem()
    with pytest.raises(td.TidalArgumentError,
                       match="fields or ndarrays, got (numpy.ndarray|float|str)") as e:
        adjoint(wrt=[bad])
    assert "test_grad_wrt.py" in str(e.value)  # names the kernel's definition
