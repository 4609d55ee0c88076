"""tidal.solvers.training: Adam (Taichi kernel) against a NumPy reference, L-BFGS against SciPy,
schedules, callbacks, progress, checkpoints and resuming, non-finite losses, bad input."""

import math
import os
import warnings

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import rosen, rosen_der

import tidal as td
from tidal.solvers.schedules import CosineDecay, ExponentialDecay, InverseTimeDecay, StepDecay
from tidal.solvers.training import History, Trainer


@pytest.fixture(scope="module", autouse=True)
def _f64():
    """CPU, f64 (a module run before this one may have switched backend)."""
    td.init(arch="cpu", default_fp=td.f64)


class Quadratic:
    """0.5 x^T A x - b^T x with a fixed SPD A; counts evaluations."""

    def __init__(self, n=7, seed=0):
        rng = np.random.default_rng(seed)
        q = rng.normal(size=(n, n))
        self.a = q @ q.T / n + np.eye(n)
        self.b = rng.normal(size=n)
        self.size = n
        self.calls = 0

    def value(self, x):
        return float(0.5 * x @ self.a @ x - self.b @ x)

    def value_and_grad(self, x):
        self.calls += 1
        return self.value(x), self.a @ x - self.b

    def describe(self, x):
        return {"norm": float(np.linalg.norm(x)), "x0": float(x[0])}


class Rosen:
    size = 2

    def __init__(self):
        self.calls = 0

    def value(self, x):
        return float(rosen(x))

    def value_and_grad(self, x):
        self.calls += 1
        return float(rosen(x)), rosen_der(x)


class Guarded:
    """(x - 5)^2 summed, but NaN (or an infinite gradient) once any parameter exceeds ``limit``."""

    def __init__(self, n=3, limit=1.0, bad="loss"):
        self.size, self.limit, self.bad = n, limit, bad

    def value(self, x):
        return self.value_and_grad(x)[0]

    def value_and_grad(self, x):
        loss, grad = float(np.sum((x - 5.0) ** 2)), 2.0 * (x - 5.0)
        if np.any(x > self.limit):
            if self.bad == "loss":
                loss = math.nan
            else:
                grad = grad.copy()
                grad[0] = math.inf
        return loss, grad


def numpy_adam(grad, x0, steps, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    """Reference Adam (Kingma & Ba, with bias correction); returns x after each step. ``lr`` is
    a number or a function of the 0-based step."""
    x, m, v, out = x0.copy(), np.zeros_like(x0), np.zeros_like(x0), []
    for t in range(1, steps + 1):
        rate = lr(t - 1) if callable(lr) else lr
        g = grad(x) + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - rate * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(x.copy())
    return out


def recorder():
    seen = []

    def cb(step, loss, params):
        seen.append((step, loss, params))

    return cb, seen


def same_run(h1: History, h2: History):
    assert h1.step == h2.step
    assert h1.loss == h2.loss
    assert h1.optimiser == h2.optimiser
    assert h1.evaluations == h2.evaluations
    assert h1.scalars == h2.scalars


# ------------------------------------------------------------------------------------- Adam
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_numpy_reference(wd):
    obj = Quadratic()
    x0 = np.linspace(-1.0, 1.0, obj.size)
    cb, seen = recorder()
    t = Trainer(obj, x0, progress=False, callbacks=[cb], log_every=1, keep_best=False)
    t.adam(steps=60, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=wd)
    ref = numpy_adam(lambda x: obj.a @ x - obj.b, x0, 60, 0.05, 0.8, 0.99, 1e-6, wd)
    assert [s for s, _, _ in seen] == list(range(1, 61))
    for (_, loss, p), r in zip(seen, ref):
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-13)
        assert loss == pytest.approx(obj.value(r), rel=1e-12, abs=1e-13)
    np.testing.assert_allclose(t.params, ref[-1], rtol=1e-12, atol=1e-13)
    assert t.stopped_reason == "max steps"
    assert obj.calls == 61  # one evaluation per step plus the starting point
    assert t.history.evaluations[-1] == 61


def test_adam_logs_every_and_last_step():
    t = Trainer(Quadratic(), np.zeros(7), progress=False, log_every=4)
    h = t.adam(steps=10, lr=0.01)
    assert h.step == [0, 4, 8, 10]
    assert h.optimiser == ["adam"] * 4
    assert sorted(h.scalars) == ["norm", "x0"]
    assert all(len(v) == len(h) for v in h.scalars.values())
    assert h.scalars["norm"][0] == 0.0
    assert np.all(np.diff(h.time) >= 0)
    assert t.step == 10


# ----------------------------------------------------------------------------------- L-BFGS
def test_lbfgs_rosenbrock_matches_scipy():
    obj = Rosen()
    x0 = np.array([-1.2, 1.0])
    t = Trainer(obj, x0, progress=False, log_every=1)
    h = t.lbfgs(max_iter=500)
    np.testing.assert_allclose(t.params, [1.0, 1.0], atol=1e-6)
    assert t.stopped_reason.startswith("converged: ")
    res = scipy.optimize.minimize(lambda x: (rosen(x), rosen_der(x)), x0, jac=True,
                                  method="L-BFGS-B",
                                  options={"maxiter": 500, "maxcor": 50, "maxls": 50,
                                           "ftol": np.finfo(float).eps, "gtol": 1e-8,
                                           "maxfun": 625})
    np.testing.assert_array_equal(t.params, res.x)
    assert t.step == res.nit and h.step == list(range(res.nit + 1))
    assert h.loss[-1] == rosen(t.params)
    assert h.loss[0] == rosen(x0)
    assert all(b <= a for a, b in zip(h.loss, h.loss[1:]))  # accepted iterates only
    assert obj.calls == h.evaluations[-1]
    assert h.evaluations[-1] >= res.nit


def test_lbfgs_iteration_limit():
    t = Trainer(Rosen(), np.array([-1.2, 1.0]), progress=False)
    t.lbfgs(max_iter=5)
    assert t.step == 5 and t.stopped_reason.startswith("max steps")
    assert t.history.step == [0, 5]


def test_adam_then_lbfgs_continues_steps_and_fit_matches():
    x0 = np.linspace(-1.0, 1.0, 7)
    t = Trainer(Quadratic(), x0, progress=False, log_every=5)
    t.adam(steps=20, lr=0.01)
    adam_params = t.params
    t.lbfgs(max_iter=100)
    h = t.history
    assert h.step[:5] == [0, 5, 10, 15, 20] and h.optimiser[:5] == ["adam"] * 5
    assert h.step[5] > 20 and set(h.optimiser[5:]) == {"lbfgs"}
    assert all(b > a for a, b in zip(h.step, h.step[1:]))
    assert all(b >= a for a, b in zip(h.time, h.time[1:]))
    q = Quadratic()
    np.testing.assert_allclose(t.params, np.linalg.solve(q.a, q.b), atol=1e-7)
    assert not np.array_equal(adam_params, t.params)
    # the L-BFGS start reused Adam's last evaluation: one call less than steps + 1 + L-BFGS calls
    t2 = Trainer(Quadratic(), x0, progress=False, log_every=5)
    t2.fit(adam_steps=20, lbfgs_iter=100, lr=0.01)
    same_run(t.history, t2.history)
    np.testing.assert_array_equal(t.params, t2.params)


def test_determinism():
    runs = []
    for _ in range(2):
        t = Trainer(Rosen(), np.array([-1.2, 1.0]), progress=False, log_every=3)
        t.fit(adam_steps=30, lbfgs_iter=200, lr=1e-2)
        runs.append(t)
    same_run(runs[0].history, runs[1].history)
    np.testing.assert_array_equal(runs[0].params, runs[1].params)


# -------------------------------------------------------------------------------- callbacks
def test_callback_stops_adam():
    cb, seen = recorder()
    t = Trainer(Quadratic(), np.zeros(7), progress=False,
                callbacks=[cb, lambda step, loss, p: step == 7])
    t.adam(steps=50, lr=0.01)
    assert t.stopped_reason == "callback" and t.step == 7
    assert [s for s, _, _ in seen] == list(range(1, 8))
    np.testing.assert_array_equal(t.params, seen[-1][2])
    assert t.history.step[-1] == 7 and t.history.loss[-1] == seen[-1][1]


def test_callback_stops_lbfgs_at_the_accepted_iterate():
    x0 = np.array([-1.2, 1.0])
    t = Trainer(Rosen(), x0, progress=False, callbacks=[lambda s, loss, p: s >= 3])
    t.lbfgs(max_iter=500)
    assert t.stopped_reason == "callback" and t.step == 3
    res = scipy.optimize.minimize(lambda x: (rosen(x), rosen_der(x)), x0, jac=True,
                                  method="L-BFGS-B",
                                  options={"maxiter": 3, "maxcor": 50, "maxls": 50,
                                           "ftol": np.finfo(float).eps, "gtol": 1e-8})
    np.testing.assert_array_equal(t.params, res.x)
    assert t.history.loss[-1] == rosen(res.x)


class Slow(Quadratic):
    """A quadratic whose every evaluation takes at least 20 ms."""

    def value_and_grad(self, x):
        import time

        time.sleep(0.02)
        return super().value_and_grad(x)


def test_time_limit_counts_across_optimiser_calls():
    t = Trainer(Slow(), np.zeros(7), progress=False, time_limit=0.2)
    t.fit(adam_steps=1000, lbfgs_iter=1000, lr=1e-3)
    # each step sleeps 20 ms, so the 0.2 s limit allows at most 10 steps (11 evaluations)
    assert t.stopped_reason == "time limit" and 1 <= t.step <= 10
    assert t.history.optimiser[-1] == "adam"  # L-BFGS is skipped after a time stop
    assert t.history.time[-1] >= 0.2
    before = t.step
    t.lbfgs(max_iter=1000)  # the limit is spent: stops after its first accepted iterate
    assert t.stopped_reason == "time limit" and t.step == before + 1


# --------------------------------------------------------------------------------- progress
def test_progress_bar(capsys):
    t = Trainer(Quadratic(), np.zeros(7), progress=True, log_every=5)
    t.fit(adam_steps=10, lbfgs_iter=20, lr=0.01)
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.endswith("\n")  # one finished bar per optimiser call
    adam_line, lbfgs_line = err.split("\n")[:2]
    last = adam_line.split("\r")[-1]
    assert last.startswith("adam: 100%") and "10/10" in last
    assert "step 10" in last and "loss " in last and "norm " in last and "x0 " in last
    assert lbfgs_line.split("\r")[-1].startswith("lbfgs:") and "/20" in lbfgs_line


def test_no_progress_prints_nothing(capsys):
    Trainer(Quadratic(), np.zeros(7), progress=False).fit(adam_steps=5, lbfgs_iter=5)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# ------------------------------------------------------------------------------ checkpoints
def test_checkpoint_round_trip(tmp_path):
    path = tmp_path / "run.npz"
    t = Trainer(Quadratic(), np.linspace(0, 1, 7), progress=False, checkpoint=path, log_every=3)
    t.fit(adam_steps=10, lbfgs_iter=10, lr=0.01)
    params, history = Trainer.load_checkpoint(path)
    assert params.dtype == np.float64 and params.tobytes() == t.params.tobytes()
    assert history == t.history  # every field, times included
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary file left behind
    explicit = t.save(tmp_path / "copy.npz")
    p2, h2 = Trainer.load_checkpoint(explicit)
    assert p2.tobytes() == params.tobytes() and h2 == history


def test_checkpoint_every_holds_that_steps_params(tmp_path):
    path = tmp_path / "run.npz"
    checked = []

    def check(step, loss, params):
        if step % 10 == 0:
            saved, hist = Trainer.load_checkpoint(path)
            np.testing.assert_array_equal(saved, params)
            assert hist.step[-1] == step and hist.loss[-1] == loss
            checked.append(step)

    t = Trainer(Quadratic(), np.zeros(7), progress=False, checkpoint=path, checkpoint_every=10,
                callbacks=[check], log_every=1000)
    t.adam(steps=25, lr=0.01)
    assert checked == [10, 20]
    assert Trainer.load_checkpoint(path)[1].step == [0, 10, 20, 25]


def test_resume_from_checkpoint_matches_uninterrupted(tmp_path):
    path = tmp_path / "run.npz"
    x0 = np.array([-1.2, 1.0])
    first = Trainer(Rosen(), x0, progress=False, checkpoint=path, log_every=4)
    first.adam(steps=20, lr=1e-2)
    resumed = Trainer.from_checkpoint(Rosen(), path, progress=False, log_every=4)
    assert resumed.step == 20 and resumed.checkpoint == path
    resumed.lbfgs(max_iter=300)
    params, history = Trainer.load_checkpoint(path)
    assert params.tobytes() == resumed.params.tobytes()

    whole = Trainer(Rosen(), x0, progress=False, log_every=4)
    whole.fit(adam_steps=20, lbfgs_iter=300, lr=1e-2)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert history.step == whole.history.step and history.loss == whole.history.loss
    assert history.optimiser == whole.history.optimiser
    # the resumed run re-evaluates its starting point once (no cache across processes)
    assert history.evaluations[-1] == whole.history.evaluations[-1] + 1
    assert all(b >= a for a, b in zip(history.time, history.time[1:]))


# ------------------------------------------------------------------------- non-finite losses
@pytest.mark.parametrize("bad", ["loss", "gradient"])
def test_non_finite_adam_keeps_last_good_params(tmp_path, bad):
    path = tmp_path / "run.npz"
    cb, seen = recorder()
    t = Trainer(Guarded(bad="loss" if bad == "loss" else "grad"), np.zeros(3), progress=False,
                checkpoint=path, callbacks=[cb])
    with pytest.warns(td.TidalWarning, match=r"adam stopped at step \d+: non-finite") as rec:
        t.adam(steps=200, lr=0.1)
    message = str(rec[0].message)
    assert "kept the last good parameters" in message and str(path) in message
    last_step, last_loss, last_params = seen[-1]
    assert f"at step {last_step + 1}" in message
    assert t.stopped_reason == f"non-finite {bad} at step {last_step + 1}"
    assert np.all(last_params <= 1.0) and np.all(np.isfinite(last_params))
    np.testing.assert_array_equal(t.params, last_params)
    assert t.step == last_step and t.history.loss[-1] == last_loss
    saved, hist = Trainer.load_checkpoint(path)
    np.testing.assert_array_equal(saved, last_params)
    assert hist.step[-1] == last_step and all(math.isfinite(v) for v in hist.loss)


def test_non_finite_after_k_evaluations():
    class Breaks(Quadratic):
        def value_and_grad(self, x):
            loss, g = super().value_and_grad(x)
            return (math.nan if self.calls > 12 else loss), g

    cb, seen = recorder()
    t = Trainer(Breaks(), np.zeros(7), progress=False, callbacks=[cb])
    with pytest.warns(td.TidalWarning, match="adam stopped at step 12"):
        t.adam(steps=100, lr=0.01)
    assert t.step == 11 and t.stopped_reason == "non-finite loss at step 12"
    np.testing.assert_array_equal(t.params, seen[-1][2])
    ref = numpy_adam(lambda x: Quadratic().a @ x - Quadratic().b, np.zeros(7), 11, 0.01)
    np.testing.assert_allclose(t.params, ref[-1], rtol=1e-12, atol=1e-13)


def test_non_finite_lbfgs_trial_point_rolls_back(tmp_path):
    path = tmp_path / "run.npz"
    cb, seen = recorder()
    x0 = np.zeros(3)
    t = Trainer(Guarded(limit=0.1), x0, progress=False, checkpoint=path, callbacks=[cb])
    with pytest.warns(td.TidalWarning, match="lbfgs stopped at step 1: non-finite loss"):
        t.lbfgs(max_iter=100)
    # the first line-search trial (a unit step along -grad/|grad|) leaves the safe region
    assert seen == [] and t.step == 0
    np.testing.assert_array_equal(t.params, x0)
    np.testing.assert_array_equal(Trainer.load_checkpoint(path)[0], x0)
    assert t.stopped_reason == "non-finite loss at step 1"


def test_non_finite_lbfgs_after_accepted_iterates():
    cb, seen = recorder()
    x0 = np.array([-1.2, 1.0])

    class RosenGuard(Rosen):
        def value_and_grad(self, x):
            loss, g = super().value_and_grad(x)
            return (math.inf if x[0] > 0.5 else loss), g

    t = Trainer(RosenGuard(), x0, progress=False, callbacks=[cb])
    with pytest.warns(td.TidalWarning, match="lbfgs stopped at step"):
        t.lbfgs(max_iter=500)
    assert seen, "some iterations are accepted before x[0] passes 0.5"
    np.testing.assert_array_equal(t.params, seen[-1][2])
    assert t.params[0] <= 0.5 and t.step == seen[-1][0]
    assert t.stopped_reason == f"non-finite loss at step {t.step + 1}"


def test_non_finite_at_start_keeps_params0():
    t = Trainer(Guarded(limit=-1.0), np.zeros(3), progress=False)
    with pytest.warns(td.TidalWarning, match="adam stopped at step 0.*kept the starting param"):
        t.adam(steps=5, lr=0.1)
    np.testing.assert_array_equal(t.params, np.zeros(3))
    assert t.stopped_reason == "non-finite loss at step 0" and len(t.history) == 0


def test_fit_skips_lbfgs_after_non_finite():
    t = Trainer(Guarded(), np.zeros(3), progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t.fit(adam_steps=100, lbfgs_iter=100, lr=0.1)
    assert len(caught) == 1 and issubclass(caught[0].category, td.TidalWarning)
    assert set(t.history.optimiser) == {"adam"}


# -------------------------------------------------------------------------------- bad input
class NoGrad:
    size = 2


@pytest.mark.parametrize("make, match", [
    (lambda: Trainer(Quadratic(), np.zeros(6)), r"shape \(6,\).*size 7"),
    (lambda: Trainer(Quadratic(), np.zeros((7, 1))), r"shape \(7, 1\)"),
    (lambda: Trainer(Quadratic(), np.full(7, np.nan)), "not finite"),
    (lambda: Trainer(NoGrad(), np.zeros(2)), "does not look like an Objective"),
    (lambda: Trainer(Quadratic(), np.zeros(7), log_every=0), "log_every"),
    (lambda: Trainer(Quadratic(), np.zeros(7), checkpoint_every=0), "checkpoint_every"),
    (lambda: Trainer(Quadratic(), np.zeros(7), callbacks=[1]), "not callable"),
    (lambda: Trainer(Quadratic(), np.zeros(7), time_limit=-1.0), "time_limit"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=-1), "steps"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=1.5), "steps"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=5, lr=0.0), "lr"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=5, lr=-1e-3), "lr"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=5, lr=math.nan), "lr"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).adam(steps=5, betas=(0.9, 1.0)), "betas"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).lbfgs(max_iter=-2), "max_iter"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).lbfgs(options={"maxiters": 3}), "maxiters"),
    (lambda: Trainer(Quadratic(), np.zeros(7)).lbfgs(maxcor=0), "maxcor"),
])
def test_bad_input_raises(make, match):
    with pytest.raises(td.TidalArgumentError, match=match):
        make()


def test_bad_gradient_shape_and_checkpoint_files(tmp_path):
    class WrongGrad(Quadratic):
        def value_and_grad(self, x):
            return 0.0, np.zeros(3)

    with pytest.raises(td.TidalArgumentError, match=r"gradient of shape \(3,\)"):
        Trainer(WrongGrad(), np.zeros(7), progress=False).adam(steps=1)
    with pytest.raises(td.TidalArgumentError, match="no checkpoint file"):
        Trainer.load_checkpoint(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, params=np.zeros(3))
    with pytest.raises(td.TidalArgumentError, match="not a tidal Trainer checkpoint"):
        Trainer.load_checkpoint(other)


def test_history_arrays_round_trip_with_missing_scalars():
    h = History()
    h.append(0, 1.0, 0.0, "adam", 1)
    h.append(5, 0.5, 0.1, "adam", 6, {"c": 3.0})
    h.append(9, 0.25, 0.2, "lbfgs", 12, {"d": 4.0})
    assert len(h) == 3
    back = History.from_arrays(h.as_arrays())
    assert back.step == h.step and back.optimiser == h.optimiser
    np.testing.assert_array_equal(back.scalars["c"], [math.nan, 3.0, math.nan])
    np.testing.assert_array_equal(back.scalars["d"], [math.nan, math.nan, 4.0])


def test_interrupt_inside_objective_keeps_evaluated_params():
    class Interrupts(Quadratic):
        def value_and_grad(self, x):
            if self.calls == 6:
                raise KeyboardInterrupt
            return super().value_and_grad(x)

    cb, seen = recorder()
    t = Trainer(Interrupts(), np.zeros(7), progress=False, callbacks=[cb])
    with pytest.raises(KeyboardInterrupt):
        t.adam(steps=100, lr=0.01)
    assert t.step == 5
    np.testing.assert_array_equal(t.params, seen[-1][2])


# ------------------------------------------------------------------- schedules and best params
@pytest.mark.parametrize("schedule", [
    StepDecay(every=7, factor=0.5), ExponentialDecay(factor=0.2, every=20),
    InverseTimeDecay(every=10, rate=0.5), CosineDecay(floor=1e-3), CosineDecay(steps=15)])
def test_adam_with_a_schedule_matches_numpy_with_those_learning_rates(schedule):
    obj = Quadratic()
    x0 = np.linspace(-1.0, 1.0, obj.size)
    cb, seen = recorder()
    t = Trainer(obj, x0, progress=False, callbacks=[cb], keep_best=False)
    t.adam(steps=40, lr=0.05, schedule=schedule)
    rates = [schedule(0.05, k, 40) for k in range(40)]
    ref = numpy_adam(lambda x: obj.a @ x - obj.b, x0, 40, lambda k: rates[k])
    for (_, _, p), r in zip(seen, ref):
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-13)
    # the closed forms, independently of the classes' own arithmetic
    expect = {StepDecay: 0.05 * 0.5 ** (39 // 7), ExponentialDecay: 0.05 * 0.2 ** (39 / 20),
              InverseTimeDecay: 0.05 / (1 + 0.5 * 3.9)}
    if type(schedule) in expect:
        assert rates[-1] == pytest.approx(expect[type(schedule)], rel=1e-14)
    if isinstance(schedule, CosineDecay):
        span = schedule.steps or 40
        closed = [schedule.floor + (0.05 - schedule.floor) * 0.5 * (1 + np.cos(np.pi * min(k, span)
                                                                         / span))
                  for k in range(40)]
        np.testing.assert_allclose(rates, closed, rtol=1e-13)
        assert rates[0] == 0.05


class Holder(Quadratic):
    """A Quadratic that, like a Problem, holds parameters of its own (``set_flat``)."""

    held = None

    def set_flat(self, flat):
        self.held = np.array(flat)


def test_adam_ends_at_the_lowest_loss_it_saw_not_at_a_final_spike():
    obj = Holder()
    x0 = np.linspace(-1.0, 1.0, obj.size)
    cb, seen = recorder()
    t = Trainer(obj, x0, progress=False, callbacks=[cb])
    t.adam(steps=60, lr=0.9)  # far too large: the loss jumps about
    losses = [obj.value(x0)] + [loss for _, loss, _ in seen]
    assert losses[-1] > min(losses)  # (the run this test needs: the last step is not the best)
    k = int(np.argmin(losses))
    best = x0 if k == 0 else seen[k - 1][2]
    np.testing.assert_array_equal(t.params, best)
    np.testing.assert_array_equal(obj.held, best)  # the objective was left at them
    assert t.best_step == k and t.best_value == min(losses)
    assert t.step == 60 and t.history.step[-1] == 60  # the step count still counts every step

    plain = Trainer(Holder(), x0, progress=False, keep_best=False)
    plain.adam(steps=60, lr=0.9)
    np.testing.assert_array_equal(plain.params, seen[-1][2])


def test_a_validation_metric_chooses_the_kept_parameters_at_logged_steps():
    obj = Quadratic()
    target = np.full(obj.size, 0.3)
    calls = []

    def distance(params):
        calls.append(params.copy())
        return float(np.linalg.norm(params - target))

    t = Trainer(obj, np.zeros(obj.size), progress=False, log_every=5, validation=distance)
    h = t.adam(steps=50, lr=0.05)
    assert len(calls) == len(h) == 11  # steps 0, 5, ..., 50
    metrics = h.scalars["validation"]
    k = int(np.argmin(metrics))
    np.testing.assert_array_equal(t.params, calls[k])
    assert t.best_step == h.step[k] and t.best_value == metrics[k]


def test_lbfgs_keeps_the_best_and_continues_from_adams_best():
    obj = Holder()
    x0 = np.linspace(-1.0, 1.0, obj.size)
    t = Trainer(obj, x0, progress=False)
    t.adam(steps=30, lr=0.9)
    kept = t.params
    t.lbfgs(max_iter=50)
    assert obj.value(t.params) <= obj.value(kept)
    np.testing.assert_allclose(t.params, np.linalg.solve(obj.a, obj.b), rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(obj.held, t.params)


def test_schedule_and_validation_bad_input():
    t = Trainer(Quadratic(), np.zeros(7), progress=False)
    with pytest.raises(td.TidalError, match="schedule must be"):
        t.adam(steps=3, schedule="cosine")
    with pytest.raises(td.TidalError, match="every must be a positive integer"):
        StepDecay(every=0)
    with pytest.raises(td.TidalError, match="factor must be a number in"):
        ExponentialDecay(factor=1.5)
    with pytest.raises(td.TidalError, match="floor"):
        CosineDecay(floor=-1.0)
    with pytest.raises(td.TidalError, match="validation must be"):
        Trainer(Quadratic(), np.zeros(7), validation=3.0)


class _Counting:
    """A quadratic objective counting its evaluations; ``version`` as a Problem keeps it."""

    def __init__(self, size):
        self.size, self.calls, self.version = size, 0, 0

    def value_and_grad(self, x):
        self.calls += 1
        return float(x @ x), 2 * x


def test_evaluation_cache_tells_every_change_apart():
    """The last evaluation is reused only at the very same parameters and objective version:
    a change in one value between the probed ones, a version change, and the caller changing
    its own array in place after the evaluation all evaluate again."""
    size = 3000
    objective = _Counting(size)
    trainer = Trainer(objective, np.zeros(size), progress=False)
    x = np.linspace(-1, 1, size)
    first = trainer._evaluate(x)
    assert first[2] and objective.calls == 1
    again = trainer._evaluate(x.copy())
    assert not again[2] and again[0] == first[0] and objective.calls == 1
    y = x.copy()
    y[1] += 1e-12  # not one of the values compared first
    assert trainer._evaluate(y)[2] and objective.calls == 2
    y[2] -= 0.5  # the caller changes the array it evaluated at, in place, as Adam does
    assert trainer._evaluate(y)[2] and objective.calls == 3
    objective.version += 1
    assert trainer._evaluate(y)[2] and objective.calls == 4


def test_an_objective_that_writes_into_its_parameters_gets_a_tidal_error():
    class Scales(Quadratic):
        def value_and_grad(self, x):
            x *= 2.0  # in place: the trainer's copy is read-only (it keys the cache)
            return super().value_and_grad(x)

    t = Trainer(Scales(), np.ones(7), progress=False)
    with pytest.raises(td.TidalArgumentError, match="wrote into the parameters"):
        t.adam(steps=2, lr=0.1)
    np.testing.assert_array_equal(t.params, np.ones(7))  # nothing was changed
