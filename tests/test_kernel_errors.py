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


def test_decompositions_of_4x4_matrices_are_refused_at_the_users_line(fields):
    x, y, loss = fields
    a = ti.Matrix.field(4, 4, ti.f64, shape=2)

    @td.kernel
    def stretch_4x4():
        for i in range(2):
            r, s = ti.polar_decompose(a[i])
            loss[None] += s[0, 0] * x[i]

    text = refusal(stretch_4x4, fields)
    assert f"line {line_of('r, s = ti.polar_decompose(a[i])')}" in text
    assert "2x2 and 3x3" in text


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


def test_a_field_taichi_could_not_address_is_refused_instead_of_crashing():
    """Taichi 1.7's CPU runtime crashes on any launch once a program has 513 field groups (SNode
    trees); tidal refuses the 513th, and td.init() gives a working runtime again."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np, taichi as ti, tidal as td
        td.init(arch="cpu", default_fp=td.f64)
        made = 0
        try:
            for _ in range(600):
                f = ti.field(ti.f64, shape=2)
                f.fill(1.0)  # a launch after each allocation: a new group every time
                made += 1
        except td.TidalError as e:
            assert "513th group of fields" in str(e) and "td.init()" in str(e), e
        assert made == 512, made
        td.init(arch="cpu", default_fp=td.f64)
        g = ti.field(ti.f64, shape=3)
        g.fill(2.0)
        assert g.to_numpy().tolist() == [2.0, 2.0, 2.0]
        print("OK")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-2000:]


@td.func
def _sum_of_two(x: td.f64, y: td.f64) -> td.f64:
    return x + y


def test_a_kernel_neither_tidal_nor_taichi_compiles_shows_tidals_message():
    # outside a tape a kernel tidal refuses runs as Taichi's own kernel; when Taichi cannot
    # compile it either, the error is tidal's (the user's line and what is wrong), not Taichi's
    @td.kernel
    def missing_argument(a: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in range(a.shape[0]):
            a[i] = _sum_of_two(a[i])

    with pytest.raises(td.TidalError) as err:
        missing_argument(np.ones(3))
    text = str(err.value)
    assert "_sum_of_two takes 2 arguments, got 1" in text
    assert __file__ in text and f"line {line_of('a[i] = _sum_of_two(a[i])')}" in text


def test_a_kernel_without_source_is_a_tidal_error(fields):
    """A kernel made by exec (or typed at a prompt) has no source for tidal to read, nor for
    Taichi: the launch says so as a td.TidalError instead of Taichi's OSError."""
    x = fields[0]
    scope = {"td": td, "ti": ti, "x": x}
    exec("@td.kernel\ndef scale():\n    for i in range(8):\n        x[i] *= 2.0\n", scope)
    with pytest.raises(td.TidalError, match="cannot read the source of scale") as err:
        scope["scale"]()
    assert "defined in a file" in str(err.value)
    assert_close(x.to_numpy(), np.linspace(0.1, 0.8, 8), rtol=0, what="x untouched")


def test_atomic_max_is_refused_with_a_remedy_that_works(fields):
    """ti.atomic_max inside a tape is refused at its line, and the hint's serial maximum gives
    the gradient of the maximum (3 at the largest x, 0 elsewhere)."""
    x, y, loss = fields

    @td.kernel
    def largest():
        for i in range(8):
            ti.atomic_max(loss[None], x[i] * 3.0)

    text = refusal(largest, fields)
    assert "ti.atomic_max is not supported" in text and "ti.max(m, v[i])" in text
    assert f"line {line_of('ti.atomic_max(loss[None], x[i] * 3.0)')}" in text

    @td.kernel
    def largest_serially():
        for _ in range(1):
            m = -1e30
            for i in range(8):
                m = ti.max(m, x[i] * 3.0)
            loss[None] += m

    with td.Tape(loss):
        largest_serially()
    assert_close(loss[None], 3 * 0.8, rtol=1e-15, what="maximum")
    want = np.zeros(8)
    want[-1] = 3.0
    assert_close(x.grad.to_numpy(), want, rtol=1e-15, what="gradient of the maximum")
