"""Kernels whose adjoint could not recompute what they read are refused at compile time with a
``td.TidalError`` naming the user's line; bad tape arguments are refused with clear messages."""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td

from .reference import assert_close


def line_of(text):
    """The line number of the one line of this file that reads ``text``."""
    hits = [k + 1 for k, line in enumerate(open(__file__).read().splitlines())
            if line.strip() == text]
    assert len(hits) == 1, text
    return hits[0]


@pytest.fixture
def fields():
    x = ti.field(ti.f64, shape=8, needs_grad=True)
    y = ti.field(ti.f64, shape=8, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    x.from_numpy(np.linspace(0.1, 0.8, 8))
    return x, y, loss


def refusal(kernel, fields):
    x, y, loss = fields
    with pytest.raises(td.TidalError) as err:
        with td.Tape(loss):
            kernel()
    return str(err.value)


def test_read_after_write_in_one_kernel(fields):
    x, y, loss = fields

    @td.kernel
    def shift():
        for i in range(7):
            x[i] = x[i] * 2.0
            y[i] = x[i + 1]

    text = refusal(shift, fields)
    assert "`x` is read here after this kernel wrote it" in text
    assert f"line {line_of('y[i] = x[i + 1]')}" in text
    assert "x[i + 1]" in text and __file__ in text


def test_read_before_a_serial_loop_overwrites(fields):
    x, y, loss = fields

    @td.kernel
    def rollout():
        first = x[0]
        ti.loop_config(serialize=True)
        for t in range(7):
            x[t + 1] = x[t] * 0.5
        loss[None] += first * x[7]

    text = refusal(rollout, fields)
    assert "`x` is read here and later overwritten by the loop at line " in text
    assert f"line {line_of('first = x[0]')}" in text


def test_serial_loop_rereading_what_it_overwrites(fields):
    x, y, loss = fields

    @td.kernel
    def accumulate_in_place():
        ti.loop_config(serialize=True)
        for t in range(7):
            x[0] = x[0] * x[t + 1]
        loss[None] += x[0]

    text = refusal(accumulate_in_place, fields)
    assert "`x` is read here in a loop that also writes it" in text
    assert f"line {line_of('x[0] = x[0] * x[t + 1]')}" in text


def test_overwriting_what_a_serial_loop_read_back(fields):
    """The loop's adjoint recomputes ``x[t + 1]`` from the values the kernel leaves, so a later
    overwrite of ``x`` in the same kernel would silently change them: refused."""
    x, y, loss = fields

    @td.kernel
    def then_clear():
        ti.loop_config(serialize=True)
        for t in range(7):
            x[t + 1] = x[t] * y[t]
            loss[None] += x[t + 1] * x[t + 1]
        for i in range(8):
            x[i] = 0.0

    text = refusal(then_clear, fields)
    assert "`x` is overwritten here after the kernel read values it had written" in text
    assert f"line {line_of('x[i] = 0.0')}" in text


def test_serial_loop_writing_the_next_step_is_differentiated(fields):
    """The accepted form of the refused loops above: write x[t + 1] from x[t], read the final
    state after the loop."""
    x, y, loss = fields

    @td.kernel
    def product():
        ti.loop_config(serialize=True)
        for t in range(7):
            x[t + 1] = x[t] * y[t]
        loss[None] += x[7]

    x.from_numpy(np.full(8, 0.5))
    ys = np.linspace(0.5, 1.5, 8)
    y.from_numpy(ys)
    loss[None] = 0.0
    with td.Tape(loss):
        product()
    expected = 0.5 * np.prod(ys[:7]) / ys[:7]
    np.testing.assert_allclose(y.grad.to_numpy()[:7], expected, rtol=1e-12)


def test_bad_tape_arguments(fields):
    x, y, loss = fields
    no_grad = ti.field(ti.f64, shape=())
    with pytest.raises(td.TidalError, match="no gradient storage"):
        td.Tape(no_grad)
    with pytest.raises(td.TidalError, match="0-D field or a one-element ndarray"):
        td.Tape(x)
    with pytest.raises(td.TidalError, match="checkpoint_every must be a positive int"):
        td.Tape(loss, checkpoint_every=0)


def test_3x3_decompositions_are_refused_at_the_users_line_and_run_outside_a_tape(fields):
    x, y, loss = fields
    a = ti.Matrix.field(3, 3, ti.f64, shape=2)
    a.from_numpy(np.array([np.eye(3) * 2.0, np.diag([1.0, 2.0, 3.0])]))

    @td.kernel
    def stretch_3x3():
        for i in range(2):
            r, s = ti.polar_decompose(a[i])
            loss[None] += s[0, 0] * x[i]

    text = refusal(stretch_3x3, fields)
    assert f"line {line_of('r, s = ti.polar_decompose(a[i])')}" in text
    assert "2x2" in text and "hint:" in text
    loss[None] = 0.0
    stretch_3x3()  # outside a tape: Taichi's own compilation of the kernel
    assert abs(loss[None] - (2.0 * 0.1 + 1.0 * 0.2)) < 1e-12



def test_reads_of_elements_other_iterations_write_are_refused(fields):
    """In a parallel loop, reading an element another iteration writes gives a value that
    depends on the order the iterations run in: refused at the reading line. Reading the
    element the iteration itself updates, or one that uniform indices prove distinct, is not."""
    x, y, loss = fields

    @td.kernel
    def chain():
        for i in range(7):
            x[i + 1] += 0.5 * ti.sin(x[i])

    text = refusal(chain, fields)
    assert f"line {line_of('x[i + 1] += 0.5 * ti.sin(x[i])')}" in text
    assert "other iterations" in text

    @td.kernel
    def own_element():
        for i in range(8):
            x[i] += 0.5 * ti.sin(x[i])

    @td.kernel
    def shifted(t: ti.i32):
        for i in range(4):
            y[2 * t + 1] += x[i] * y[2 * t]

    @td.kernel
    def squares():
        for i in range(8):
            loss[None] += x[i] ** 2

    x0 = x.to_numpy()
    with td.Tape(loss):
        own_element()
        shifted(1)
        squares()
    x1 = x0 + 0.5 * np.sin(x0)
    assert_close(x.grad.to_numpy(), 2 * x1 * (1 + 0.5 * np.cos(x0)), rtol=1e-12,
                 what="x.grad")
