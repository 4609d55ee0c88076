"""The gallery's differentiable demos, headless: the live fit approaches the hidden truth and a
restart leaves it; the live PINN's loss and error fall; the surrogate demo's sliders move both
answers, the solver's answer is the solver's, and the (tiny) surrogate beats a constant guess.
Adam continued across short calls (the PINN and FNO training per frame) is one Adam run."""

import numpy as np
import pytest

import tidal as td
from tidal import demos
from tidal.demos.app import Layout, run
from tidal.demos.window import Event


@pytest.fixture(autouse=True, scope="module")
def _f32():
    td.init(arch="cpu", default_fp=td.f32)


def click(demo, label_part, fraction=None):
    """Window positions of a press and release on the panel widget whose label contains
    ``label_part`` (at ``fraction`` of a slider's track)."""
    widgets = demo.controls()  # run() builds the same widgets in the same places
    layout = Layout(demo.view, widgets)
    w = next(w for w in widgets if label_part in (w.label if isinstance(w.label, str)
                                                  else w.text()))
    (x0, y0), (x1, y1) = w.rect
    if fraction is None:
        x = 0.5 * (x0 + x1)
    else:
        a, b, _ = w._track()
        x = a + fraction * (b - a)
    at = layout.window_position("panel", (x, 0.5 * (y0 + y1)))
    return [Event("press", "LMB", at), Event("release", "LMB", at)]


# -- fit -----------------------------------------------------------------------------------------
def test_the_live_fit_approaches_the_hidden_truth_and_its_loss_falls():
    demo = demos.demo("fit", speed=2.0, seed=1)
    run(demo, headless=True, frames=14, quiet=True)
    s = demo.state()
    errors, losses = np.array(s["errors"]), np.array(s["losses"])
    assert errors[0] > 0.2  # a random start well away from the truth
    assert errors[-1] < 0.03  # 3 %: noise 0.05 rad on 301 samples
    assert errors[-1] < 0.1 * errors[0]
    assert losses[-1] < 0.1 * losses[0]
    assert losses[-1] <= losses.min() * (1 + 1e-6)  # it ends at the lowest loss seen
    # the loss at the optimum is the noise: sum of squares of ~ N(0, 0.05^2) over 602 values
    assert losses[-1] == pytest.approx(602 * 0.05 ** 2, rel=0.25)
    # the displayed trajectory is the simulation at the displayed values
    from tidal.physics import pendulum

    again = pendulum(**s["values"], y0=demo.y0, dt=0.02, steps=300).simulate()[0]
    np.testing.assert_allclose(demo.trajectory, again, atol=1e-5)


def test_the_restart_key_sends_the_fit_away_from_the_fitted_values_and_it_comes_back():
    demo = demos.demo("fit", speed=2.0, seed=2)
    run(demo, headless=True, frames=14, quiet=True)
    fitted = demo.error()
    assert fitted < 0.03
    script = [(0, Event("press", "r")), (0, Event("release", "r"))]
    run(demo, headless=True, frames=1, script=script, quiet=True)
    # a fresh path from a random start: far from the fitted values after one frame's iterates
    assert len(demo.state()["losses"]) <= 2
    assert demo.state()["errors"][0] > 10 * fitted
    run(demo, headless=True, frames=14, quiet=True)
    assert demo.error() < 0.03


def test_the_new_data_button_draws_new_noise_and_the_noise_slider_sets_its_level():
    demo = demos.demo("fit", speed=2.0)
    before = demo.data.copy()
    script = [(0, e) for e in click(demo, "new data")]
    script += [(1, e) for e in click(demo, "noise", fraction=0.0)]
    run(demo, headless=True, frames=2, script=script, quiet=True)
    assert demo.noise == 0.0
    np.testing.assert_array_equal(demo.data, demo.clean)  # no noise: the clean trajectory
    assert not np.array_equal(before, demo.data)


# -- PINN ----------------------------------------------------------------------------------------
def test_the_live_pinn_loss_and_error_fall_over_frames():
    demo = demos.demo("pinn", width=16, depth=2, collocation=500, boundary=50, steps=20,
                      lr=1e-2, grid=(48, 25))
    run(demo, headless=True, frames=12, quiet=True)
    s = demo.state()
    assert s["step"] == 12 * 20
    assert s["losses"][-1] < 0.5 * s["losses"][0]
    assert s["errors"][-1] < 0.8 * s["errors"][0]
    # the error is against the exact (Cole-Hopf) solution, computed independently here
    from tidal.solvers.exact import burgers_exact

    exact = burgers_exact(demo.x[:, None], demo.t[None, :])
    u = demo.problem.predict_grid(demo.x, demo.t)
    assert s["errors"][-1] == pytest.approx(np.linalg.norm(u - exact) / np.linalg.norm(exact),
                                            rel=1e-6)


def test_adam_kept_across_calls_is_one_adam_run():
    from tidal.solvers import Trainer

    class Quartic:
        size = 3

        def value_and_grad(self, x):
            return float(np.sum(x ** 4 + x ** 2)), 4 * x ** 3 + 2 * x

        def value(self, x):
            return float(np.sum(x ** 4 + x ** 2))

    x0 = np.array([1.0, -2.0, 0.5])
    whole = Trainer(Quartic(), x0, progress=False, keep_best=False)
    whole.adam(30, lr=0.05)
    parts = Trainer(Quartic(), x0, progress=False, keep_best=False)
    for _ in range(6):
        parts.adam(5, lr=0.05, keep_moments=True)
    np.testing.assert_allclose(parts.params, whole.params, rtol=0, atol=1e-12)
    restarted = Trainer(Quartic(), x0, progress=False, keep_best=False)
    for _ in range(6):
        restarted.adam(5, lr=0.05)  # the default: fresh moments each call
    assert np.abs(restarted.params - whole.params).max() > 1e-3


# -- surrogate -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def surrogate():
    demo = demos.demo("surrogate", quick=True, cache=None)
    demo.prepare()  # the tiny FNO: data from the solver and training, a few seconds
    return demo


def test_the_surrogate_slider_changes_both_answers_and_the_solver_answer_is_the_solver(
        surrogate):
    from tidal.surrogates.burgers import solve_burgers

    demo = surrogate
    run(demo, headless=True, frames=1, quiet=True)
    solver0, fno0 = demo.solver_answer.copy(), demo.surrogate_answer.copy()
    script = [(0, e) for e in click(demo, "amplitude", fraction=0.9)]
    script += [(1, e) for e in click(demo, "shape", fraction=0.1)]
    run(demo, headless=True, frames=2, script=script, quiet=True)
    amplitude, shape = 0.2 + 0.9 * 1.8, -1.0 + 0.1 * 2.0
    assert demo.amplitude == pytest.approx(amplitude) and demo.shape == pytest.approx(shape)
    assert np.abs(demo.solver_answer - solver0).max() > 0.1
    assert np.abs(demo.surrogate_answer - fno0).max() > 0.1
    # the solver's answer is a direct call of the solver with these coefficients
    n = demo.settings["n"]
    x = np.arange(n) / n
    u0 = amplitude * (np.sin(2 * np.pi * x) + shape * np.cos(4 * np.pi * x))
    direct = solve_burgers(u0, [demo.settings["t_end"]], nu=demo.settings["nu"])[0]
    np.testing.assert_allclose(demo.solver_answer, direct, rtol=0, atol=1e-10)
    # the tiny surrogate: within 15 % of the solver, and far closer than the best constant
    error = np.linalg.norm(demo.surrogate_answer - direct) / np.linalg.norm(direct)
    constant = np.linalg.norm(direct - direct.mean()) / np.linalg.norm(direct)
    assert error < 0.15 and error < 0.3 * constant
    assert demo.relative_error() == pytest.approx(error, rel=1e-6)
    assert demo.solver_s > 0 and demo.surrogate_s > 0


def test_the_surrogate_arrow_keys_move_the_amplitude(surrogate):
    demo = surrogate
    start = demo.amplitude = 1.0
    demo.dirty = True
    run(demo, headless=True, frames=1, quiet=True)
    peak = np.abs(demo.solver_answer).max()
    run(demo, headless=True, frames=1, script=[(0, Event("press", "up"))], quiet=True)
    assert demo.amplitude == pytest.approx(start + 0.1)
    assert np.abs(demo.solver_answer).max() > peak


def test_the_surrogate_demo_trains_while_drawing_and_caches_its_model(tmp_path):
    settings = {"samples": 6, "steps": 4}
    first = demos.demo("surrogate", quick=True, cache=tmp_path, per_frame=0.05, **settings)
    assert first.phase == "data"
    run(first, headless=True, frames=40, quiet=True)
    assert first.phase == "ready" and len(first.losses) == 4
    cached = list(tmp_path.glob("*.npz"))
    assert len(cached) == 1
    again = demos.demo("surrogate", quick=True, cache=tmp_path, **settings)
    assert again.phase == "ready"  # loaded, not retrained
    again.prepare()
    np.testing.assert_allclose(again.surrogate_answer, first.surrogate_answer, atol=1e-6)
    other = demos.demo("surrogate", quick=True, cache=tmp_path, samples=6, steps=5)
    assert other.phase == "data"  # other settings: trained again
