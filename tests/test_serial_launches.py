"""Serial forms of generated CPU kernels (tidal.dsl.direct, tidal.dsl.replay): a kernel with a
top-level loop can also run on the launching thread, past Taichi's thread pool, and a replayed
sequence of launches chooses between the forms by timing itself. The choice is a matter of speed
only: each form must give the values of NumPy references, and the choice must follow the
timings it is given."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import direct, replay
from tidal.dsl.replay import Sequence

N = 37


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch="cpu", default_fp=td.f64)


def _plan(kernel):
    (plan,) = kernel._last.forward()._primal.__dict__["_tidal_direct"]
    return plan


def _kernels():
    """Kernels with each kind of top-level statement tidal generates: a parallel loop with a
    shared accumulation (partial sums in scratch rows), a serial loop carrying a value, a
    parallel loop of one iteration holding a time loop."""
    total = ti.field(ti.f64, shape=())

    @td.kernel
    def weigh(x: ti.types.ndarray(dtype=td.f64, ndim=1), y: ti.types.ndarray(dtype=td.f64,
                                                                          ndim=1), s: ti.f64):
        for i in range(x.shape[0]):
            y[i] = s * x[i] * x[i]
            total[None] += x[i]

    @td.kernel
    def prefix(x: ti.types.ndarray(dtype=td.f64, ndim=1), y: ti.types.ndarray(dtype=td.f64,
                                                                           ndim=1)):
        acc = 0.0
        ti.loop_config(serialize=True)
        for i in range(x.shape[0]):
            acc += x[i]
            y[i] = acc

    @td.kernel
    def relax(u: ti.types.ndarray(dtype=td.f64, ndim=2)):
        for _ in range(1):
            for t in range(u.shape[0] - 1):
                u[t + 1, 0] = u[t, 0]
                u[t + 1, u.shape[1] - 1] = u[t, u.shape[1] - 1]
                for i in range(1, u.shape[1] - 1):
                    u[t + 1, i] = 0.5 * u[t, i] + 0.25 * (u[t, i - 1] + u[t, i + 1])

    return total, weigh, prefix, relax


def _run_all(launches: int):
    """Launch each kernel ``launches`` times on fixed data; return the values and the plans."""
    total, weigh, prefix, relax = _kernels()
    x = np.linspace(-1.0, 2.0, N)
    y1, y2, u = np.zeros(N), np.zeros(N), np.zeros((4, N))
    for k in range(launches):
        weigh(x, y1, 1.0 + k)
        prefix(x, y2)
        u[0] = np.sin(np.arange(N) + k)
        relax(u)
    values = (total.to_numpy().item(), y1.copy(), y2.copy(), u[-1].copy())
    return values, [_plan(k) for k in (weigh, prefix, relax)]


def _expected(launches: int):
    x = np.linspace(-1.0, 2.0, N)
    u = np.sin(np.arange(N) + launches - 1)
    for _ in range(3):
        u = np.concatenate([u[:1], 0.5 * u[1:-1] + 0.25 * (u[:-2] + u[2:]), u[-1:]])
    return launches * x.sum(), launches * x * x, np.cumsum(x), u


@pytest.mark.parametrize("mode", ["always", "never"])
def test_both_forms_give_the_numpy_values(monkeypatch, mode):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", mode)
    launches = 4
    values, plans = _run_all(launches)
    for got, want in zip(values, _expected(launches)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    # the form each plan launches: the serial one (its extra argument set) or the pool's
    assert all((p.gate >= 0) == (mode == "always") for p in plans)


def _sequence(weigh, prefix):
    """A replayable sequence ``y <- 3 cumsum(x)^2`` (two kernels, Taichi ndarrays), x and y."""
    xs, ys = ti.ndarray(td.f64, shape=N), ti.ndarray(td.f64, shape=N)

    def body():
        prefix(xs, ys)
        weigh(ys, ys, 3.0)  # in place

    return Sequence(body), xs, ys


def _run(step, xs, ys, calls: int) -> None:
    """Call ``step`` ``calls`` times, each on new values of x, checking y after each."""
    for k in range(calls):
        x = np.linspace(0.0, 1.0 + k, N)
        xs.from_numpy(x)
        step()
        np.testing.assert_allclose(ys.to_numpy(), 3.0 * np.cumsum(x) ** 2, rtol=1e-14)


@pytest.mark.parametrize("serial_seconds, kept", [(5e-5, True), (1.4e-4, False)])
def test_a_sequence_keeps_the_serial_forms_only_when_clearly_faster(monkeypatch, serial_seconds,
                                                                     kept):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "auto")
    _, weigh, prefix, _ = _kernels()
    step, xs, ys = _sequence(weigh, prefix)
    forms = []

    def timed(launched):  # replays take 150 us in parallel, serial_seconds in serial forms
        replay._launch(launched)
        serial = all(plan.gate >= 0 for plan, _, _ in launched)
        forms.append(serial)
        return serial_seconds if serial else 1.5e-4

    monkeypatch.setattr(replay, "_timed", timed)
    calls = 1 + replay.TRIAL_WARMUP + replay.TRIAL_PRELIMINARY + 2 * replay.TRIAL_ROUNDS + 3
    _run(step, xs, ys, calls)
    assert step.replayed == calls - 1 and step._trial is None
    assert step.serial == kept
    # timed in turn after the parallel ones (the serial forms' first replay untimed)
    assert forms == ([False] * replay.TRIAL_PRELIMINARY + [True]
                     + [False, True] * replay.TRIAL_ROUNDS)
    # the kernels' own plans stay parallel: launched alone they are not the sequence's
    assert _plan(weigh).gate < 0 and _plan(prefix).gate < 0


def test_slow_sequences_and_long_kernels_are_not_compiled_twice(monkeypatch):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "auto")
    monkeypatch.setattr(replay, "_timed", lambda launched: (
        replay._launch(launched), 2 * replay.SERIAL_CEILING_S * len(launched))[1])
    _, weigh, prefix, _ = _kernels()
    step, xs, ys = _sequence(weigh, prefix)
    _run(step, xs, ys, 2 + replay.TRIAL_WARMUP + replay.TRIAL_PRELIMINARY + 5)
    assert step._trial is None and not step.serial
    form = weigh._last.forward()._primal._tidal_serial_form
    assert form._kernel is None  # never printed nor compiled
    monkeypatch.setattr(direct, "SERIAL_MAX_LINES", 1)
    _, weigh, _, _ = _kernels()
    x, y = np.ones(N), np.zeros(N)
    weigh(x, y, 1.0)
    weigh(x, y, 1.0)
    assert _plan(weigh).form is None


def test_replayed_sequences_launch_the_serial_form(monkeypatch):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "always")
    _, weigh, prefix, _ = _kernels()
    step, xs, ys = _sequence(weigh, prefix)
    _run(step, xs, ys, 4)
    assert step.replayed == 3 and step.serial


def test_a_kernel_without_a_top_level_loop_has_no_serial_form():
    y = ti.field(ti.f64, shape=())

    @td.kernel
    def put(v: ti.f64):
        y[None] = 2.0 * v

    put(1.5)
    put(2.5)
    assert not hasattr(put._last.forward()._primal, "_tidal_serial_form")
    assert y[None] == 5.0


def test_the_serial_form_of_a_loop_of_few_heavy_rows_is_not_spread(monkeypatch):
    """A top-level loop of a few iterations, each holding a loop, is spread over the thread
    pool's task slots in the parallel form (most slots run nothing); on one thread those slots
    would only cost time, so the serial form loops over the rows themselves. Both forms give
    NumPy's row sums."""
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "always")

    @td.kernel
    def row_sums(a: ti.types.ndarray(dtype=td.f64, ndim=2),
                 out: ti.types.ndarray(dtype=td.f64, ndim=1)):
        for r in range(a.shape[0]):
            s = 0.0
            for c in range(a.shape[1]):
                s += a[r, c] * a[r, c]
            out[r] = s

    a = np.random.default_rng(3).normal(size=(3, 50))
    for _ in range(3):  # Taichi's launch, then the direct ones (the serial form)
        out = np.zeros(3)
        row_sums(a, out)
        np.testing.assert_allclose(out, (a * a).sum(axis=1), rtol=1e-14)
    plan = _plan(row_sums)
    assert plan.gate >= 0
    parallel = row_sums._last.source()
    serial = plan.form._print().source
    assert "spread" in parallel and "spread" not in serial
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "never")
    out = np.zeros(3)
    row_sums._last.forward()._primal(a, out)  # the parallel form, through Taichi
    np.testing.assert_allclose(out, (a * a).sum(axis=1), rtol=1e-14)


@pytest.mark.parametrize("dim", [1, 2])
def test_an_fno_in_serial_forms_equals_the_numpy_reference(monkeypatch, dim):
    """The FNO's kernels (SIMD-vector blocks, lanes, adjoints with ``wrt``, replayed passes),
    every one in its serial form from its second launch on."""
    from tests.test_fno import numpy_fno
    from tidal.surrogates import FNO

    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "always")
    rng = np.random.default_rng(4)
    grid = (12,) if dim == 1 else (6, 8)
    net = FNO(dim, 3 if dim == 1 else (2, 3), width=6, layers=2, projection=7, seed=2,
              dtype=td.f64)
    net.set_flat(net.get_flat() + rng.normal(scale=0.2, size=net.size))
    c = rng.normal(size=(1, *grid))
    for _ in range(3):  # Taichi's launch, the direct one, then the replayed passes
        a = rng.normal(size=(1, *grid, 1))  # (new fields: nothing left from a launch before)
        y, g = net.predict_and_vjp(a, lambda y: c)
    np.testing.assert_allclose(y, numpy_fno(net, a), rtol=0, atol=1e-10)
    d = rng.normal(size=a.shape)
    h = 1e-5
    slope = (np.sum(c * numpy_fno(net, a + h * d)) - np.sum(c * numpy_fno(net, a - h * d))) / (
        2 * h)
    np.testing.assert_allclose(np.sum(g * d), slope, rtol=1e-7)
    kernels = [k for v in net.kernels.values() for k in (v.values() if isinstance(v, dict)
                                                          else [v])]
    launched = [k._last.forward() for k in kernels if hasattr(k, "_last")]
    planned = [p for f in launched for p in getattr(f, "taichi_kernel", getattr(
        f, "_primal", None)).__dict__.get("_tidal_direct", ())]
    assert len(planned) >= 3 and all(p.gate >= 0 for p in planned if p.form is not None)
