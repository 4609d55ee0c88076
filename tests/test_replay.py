"""A fixed sequence of launches is noted once and launched again without its Python
(tidal.dsl.replay): the values must be those of running the body, and the body must run
instead wherever a replay could be wrong (recorders, a new runtime, new fields, launches that
went past tidal)."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH
from tidal.dsl import direct, launches
from tidal.dsl.replay import Sequence

F64 = ti.types.ndarray(dtype=ti.f64, ndim=1)


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _kernels():
    @td.kernel
    def scale(a: F64, s: ti.f64):
        for i in a:
            a[i] = s * a[i] + 1.0

    @td.kernel
    def add_into(a: F64, b: F64):
        for i in a:
            b[i] += a[i] * a[i]

    return scale, add_into


def _body(scale, add_into, holder):
    def body():
        a, b = holder
        scale(a, 0.5)
        add_into(a, b)
        scale(a, 2.0)

    return body


def _expected(a0, calls):
    a, b = a0.copy(), np.zeros_like(a0)
    for _ in range(calls):
        a = 0.5 * a + 1.0
        b += a * a
        a = 2.0 * a + 1.0
    return a, b


def _assert_after(holder, a0, calls):
    """The arrays hold what ``calls`` runs of the body give from ``a0`` (NumPy)."""
    a, b = _expected(a0, calls)
    np.testing.assert_allclose(holder[0].to_numpy(), a, rtol=1e-15)
    np.testing.assert_allclose(holder[1].to_numpy(), b, rtol=1e-15)


def _arrays(n=6):
    a0 = np.linspace(-1.0, 2.0, n)
    a, b = ti.ndarray(ti.f64, n), ti.ndarray(ti.f64, n)
    a.from_numpy(a0)
    b.fill(0.0)
    return a0, [a, b]


def test_replays_give_the_values_of_the_body_and_skip_its_python():
    scale, add_into = _kernels()
    a0, holder = _arrays()
    seq = Sequence(_body(scale, add_into, holder))
    seq()
    calls = {"n": 0}
    original = type(scale).specialize

    def counting(self, args):
        calls["n"] += 1
        return original(self, args)

    type(scale).specialize = counting
    try:
        for _ in range(4):
            seq()
    finally:
        type(scale).specialize = original
    assert seq.replayed == 4 and calls["n"] == 0  # tidal's per-launch Python never ran
    _assert_after(holder, a0, 5)


def _squares(decorate):
    """``x`` (1, 2, 3, 4), the scalar ``loss`` and a kernel adding ``s * sum(x**2)`` into it,
    made with ``decorate`` (``td.kernel`` or ``ti.kernel``)."""
    x = ti.field(ti.f64, shape=4, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)

    @decorate
    def square(s: ti.f64):
        for i in range(4):
            loss[None] += s * x[i] ** 2

    x.from_numpy(np.arange(1.0, 5.0))
    return x, loss, square


def test_inside_td_tape_the_body_runs_and_the_tape_sees_every_launch():
    x, loss, square = _squares(td.kernel)
    seq = Sequence(lambda: (square(0.5), square(1.5)))
    seq()
    seq()
    assert seq.replayed == 1
    for _ in range(2):
        with td.Tape(loss):
            seq()
        np.testing.assert_allclose(loss[None], 2.0 * np.sum(np.arange(1.0, 5.0) ** 2))
        np.testing.assert_allclose(x.grad.to_numpy(), 4.0 * np.arange(1.0, 5.0))
    assert seq.replayed == 1


def test_inside_taichis_tape_the_body_runs_and_the_tape_sees_every_launch():
    # a plain Taichi kernel launched through tidal.dsl.direct (as tidal launches the Trainer's
    # copies): noted, and replayable outside Taichi's tape
    x, loss, square = _squares(ti.kernel)
    seq = Sequence(lambda: (direct.launch(square, 0.5), direct.launch(square, 1.5)))
    seq()
    seq()
    assert seq.replayed == 1
    for _ in range(2):
        with ti.ad.Tape(loss):
            seq()
        np.testing.assert_allclose(loss[None], 2.0 * np.sum(np.arange(1.0, 5.0) ** 2))
        np.testing.assert_allclose(x.grad.to_numpy(), 4.0 * np.arange(1.0, 5.0))
    assert seq.replayed == 1


def test_a_launch_past_tidal_means_the_body_runs_every_time():
    scale, add_into = _kernels()
    a0, holder = _arrays()

    @ti.kernel
    def clear(b: F64):
        for i in b:
            b[i] = 0.0

    def body():
        clear(holder[1])  # a plain Taichi kernel, launched past tidal
        add_into(holder[0], holder[1])

    seq = Sequence(body)
    for _ in range(3):
        seq()
    assert seq.replayed == 0
    np.testing.assert_allclose(holder[1].to_numpy(), a0 * a0, rtol=1e-15)

    raw = _kernels()[1]
    raw(holder[0], holder[1])  # compiled
    seq2 = Sequence(lambda: launches.run_taichi(raw._last.forward()._primal,
                                                (holder[0], holder[1])))
    for _ in range(3):
        seq2()
    assert seq2.replayed == 0
    np.testing.assert_allclose(holder[1].to_numpy(), 5 * a0 * a0, rtol=1e-15)


def test_a_field_declared_after_noting_is_placed_before_the_next_launch():
    scale, add_into = _kernels()
    a0, holder = _arrays()
    seq = Sequence(_body(scale, add_into, holder))
    seq()
    seq()
    y = ti.field(ti.f64, shape=3)  # Taichi must place it: this call runs the body
    seq()
    assert seq.replayed == 1
    seq()
    assert seq.replayed == 2
    y[1] = 4.0
    assert y[1] == 4.0
    _assert_after(holder, a0, 4)


def test_a_new_runtime_runs_the_body_with_its_new_kernels():
    scale, add_into = _kernels()
    a0, holder = _arrays()
    seq = Sequence(_body(scale, add_into, holder))
    seq()
    seq()
    td.init(arch=ARCH, default_fp=td.f64)
    a0, arrays = _arrays(5)
    holder[:] = arrays
    seq()
    assert seq.replayed == 1  # the plans belong to the old runtime
    seq()
    assert seq.replayed == 2
    _assert_after(holder, a0, 2)


def test_a_sequence_inside_another_is_replayed_as_part_of_it():
    scale, add_into = _kernels()
    a0, holder = _arrays()
    inner = Sequence(lambda: scale(holder[0], 0.5))
    outer = Sequence(lambda: (inner(), add_into(holder[0], holder[1]), scale(holder[0], 2.0)))
    for _ in range(4):
        outer()
    assert outer.replayed == 3 and inner.replayed == 0
    inner()  # on its own: it noted nothing while the outer one was noting
    inner()
    assert inner.replayed == 1
    a, b = _expected(a0, 4)
    a = 0.5 * (0.5 * a + 1.0) + 1.0
    np.testing.assert_allclose(holder[0].to_numpy(), a, rtol=1e-15)
    np.testing.assert_allclose(holder[1].to_numpy(), b, rtol=1e-15)


def test_an_error_while_noting_leaves_nothing_noted_and_taichi_as_it_was():
    scale, add_into = _kernels()
    a0, holder = _arrays()
    before = ti.lang.kernel_impl.Kernel.__call__
    state = {"fail": True}

    def body():
        scale(holder[0], 0.5)
        if state["fail"]:
            raise RuntimeError("stop")

    seq = Sequence(body)
    with pytest.raises(RuntimeError, match="stop"):
        seq()
    assert ti.lang.kernel_impl.Kernel.__call__ is before
    state["fail"] = False
    seq()
    seq()
    assert seq.replayed == 1
    np.testing.assert_allclose(holder[0].to_numpy(), 0.125 * a0 + 1.75, rtol=1e-15)


def test_replays_launch_contexts_bound_once_and_give_new_values_and_gradients():
    # on the CPU a replay launches contexts filled once, with the ndarrays' host memory (a
    # vector ndarray and gradient storage included); each call has new values, so a context
    # that still pointed at the first call's data (or at freed memory) would fail
    vec3 = ti.types.vector(3, ti.f64)

    @td.kernel
    def weigh(v: ti.types.ndarray(dtype=vec3, ndim=2), out: ti.types.ndarray(dtype=ti.f64, ndim=2),
              s: ti.f64):
        for i, j in v:
            out[i, j] = s * (v[i, j][0] * v[i, j][1] + ti.sin(v[i, j][2]))

    v = ti.ndarray(vec3, shape=(4, 5), needs_grad=True)
    out = ti.ndarray(ti.f64, shape=(4, 5), needs_grad=True)
    seq = Sequence(lambda: (weigh(v, out, 1.5), weigh.grad(v, out, 1.5)))
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, w = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5))
        v.from_numpy(x)
        v.grad.fill(0.0)
        out.grad.from_numpy(w)
        seq()
        np.testing.assert_allclose(out.to_numpy(),
                                   1.5 * (x[..., 0] * x[..., 1] + np.sin(x[..., 2])), rtol=1e-14)
        expected = 1.5 * w[..., None] * np.stack([x[..., 1], x[..., 0], np.cos(x[..., 2])], -1)
        np.testing.assert_allclose(v.grad.to_numpy(), expected, rtol=1e-14)
    assert seq.replayed == 5
    bound = [ctx is not None for _, _, ctx in seq._launched]
    assert bound == [ARCH == "cpu"] * 2
