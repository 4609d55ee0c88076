"""Serial forms of generated CPU kernels (tidal.dsl.direct): a kernel with a top-level loop can
also run on the launching thread, past Taichi's thread pool. The choice is a matter of speed
only: each form must give the values of NumPy references, of the other form and of Taichi's own
launch, and the choice must follow the timings it is given."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import direct
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
    assert all(p.trial is None for p in plans)


def test_the_trial_keeps_the_form_with_the_faster_launches(monkeypatch):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "auto")
    total, weigh, prefix, _ = _kernels()
    x, y1, y2 = np.linspace(-1.0, 2.0, N), np.zeros(N), np.zeros(N)
    weigh(x, y1, 2.0)
    prefix(x, y2)
    # launches take 150 us in parallel; serial ones 50 us (weigh) or 140 us (prefix: not
    # enough faster to be kept)
    timings = {id(_plan(weigh)): (1.5e-4, 5e-5), id(_plan(prefix)): (1.5e-4, 1.4e-4)}
    seen = {key: [] for key in timings}

    def timed(plan, args):
        direct._launch(plan, args)
        seen[id(plan)].append(plan.gate >= 0)
        return timings[id(plan)][plan.gate >= 0]

    monkeypatch.setattr(direct, "_timed", timed)
    launches = direct.TRIAL_WARMUP + direct.TRIAL_PRELIMINARY + 2 * direct.TRIAL_ROUNDS + 4
    for _ in range(launches):
        weigh(x, y1, 2.0)
        prefix(x, y2)
    assert _plan(weigh).gate >= 0 and _plan(weigh).trial is None  # serial was faster
    assert _plan(prefix).gate < 0 and _plan(prefix).trial is None  # by too little
    for forms in seen.values():  # in each form in turn (the serial one's first untimed)
        assert forms == ([False] * direct.TRIAL_PRELIMINARY + [True]
                         + [False, True] * direct.TRIAL_ROUNDS)
    np.testing.assert_allclose(total.to_numpy(), (launches + 1) * x.sum(), rtol=1e-13)
    np.testing.assert_allclose(y1, 2.0 * x * x, rtol=1e-15)
    np.testing.assert_allclose(y2, np.cumsum(x), rtol=1e-15)


def test_slow_or_long_kernels_are_not_compiled_twice(monkeypatch):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "auto")
    monkeypatch.setattr(direct, "_timed", lambda plan, args: (direct._launch(plan, args),
                                                              2 * direct.SERIAL_CEILING_S)[1])
    _, weigh, _, _ = _kernels()
    x, y = np.ones(N), np.zeros(N)
    for _ in range(direct.TRIAL_WARMUP + direct.TRIAL_PRELIMINARY + 2 * direct.TRIAL_ROUNDS + 5):
        weigh(x, y, 1.0)
    form = weigh._last.forward()._primal._tidal_serial_form
    assert _plan(weigh).trial is None and _plan(weigh).gate < 0
    assert form._kernel is None  # never printed nor compiled
    monkeypatch.setattr(direct, "SERIAL_MAX_LINES", 1)
    _, weigh, _, _ = _kernels()
    weigh(x, y, 1.0)
    weigh(x, y, 1.0)
    assert _plan(weigh).form is None and _plan(weigh).trial is None


def test_replayed_sequences_launch_the_serial_form(monkeypatch):
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "always")
    _, weigh, prefix, _ = _kernels()
    x = np.linspace(0.0, 1.0, N)
    xs = ti.ndarray(td.f64, shape=N)
    ys = ti.ndarray(td.f64, shape=N)
    xs.from_numpy(x)

    def body():
        prefix(xs, ys)
        weigh(ys, ys, 3.0)  # y <- 3 cumsum(x)^2, in place

    step = Sequence(body)
    for _ in range(4):
        step()
    assert step.replayed == 3
    assert all(p.gate >= 0 for p in (_plan(weigh), _plan(prefix)))
    np.testing.assert_allclose(ys.to_numpy(), 3.0 * np.cumsum(x) ** 2, rtol=1e-14)


def test_a_kernel_without_a_top_level_loop_has_no_serial_form():
    y = ti.field(ti.f64, shape=())

    @td.kernel
    def put(v: ti.f64):
        y[None] = 2.0 * v

    put(1.5)
    put(2.5)
    assert not hasattr(put._last.forward()._primal, "_tidal_serial_form")
    assert y[None] == 5.0


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
    a = rng.normal(size=(1, *grid, 1))
    c = rng.normal(size=(1, *grid))
    for _ in range(3):  # Taichi's launch, the direct one, then the replayed passes
        y, g = net.predict_and_vjp(a, lambda y: c)
    np.testing.assert_allclose(y, numpy_fno(net, a), rtol=0, atol=1e-10)
    d = rng.normal(size=a.shape)
    h = 1e-5
    slope = (np.sum(c * numpy_fno(net, a + h * d)) - np.sum(c * numpy_fno(net, a - h * d))) / (
        2 * h)
    np.testing.assert_allclose(np.sum(g * d), slope, rtol=1e-7)
    launched = [k._last.forward() for k in net.kernels.values() if hasattr(k, "_last")]
    planned = [p for f in launched for p in getattr(f, "taichi_kernel", getattr(
        f, "_primal", None)).__dict__.get("_tidal_direct", ())]
    assert len(planned) >= 3 and all(p.gate >= 0 for p in planned if p.form is not None)
