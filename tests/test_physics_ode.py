"""ODE simulators (tidal.physics.ode) and td.fit.

Forward values against closed forms, SciPy's solve_ivp and conserved quantities; per-step and
whole-rollout kernels against each other; gradients and Hessian-vector products against central
finite differences of the forward runs (f64); parameter recovery from noise-free and noisy data;
bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import taichi as ti

import tidal as td
from tidal.physics import ODE, lorenz, lotka_volterra, pair_system, pendulum

from .reference import assert_close, run_example


def test_exponential_decay_matches_its_closed_form():
    @td.func
    def decay(y: td.vec(2), p: td.vec(2), t: float) -> td.vec(2):
        return td.vec(2)(-p[0] * y[0], -p[1] * y[1] + ti.cos(t))

    sim = ODE(decay, ["a", "b"], {"ra": 1.5, "rb": 0.5}, y0=[1.0, 2.0], dt=0.01, steps=200)
    t = sim.times()
    y = sim.simulate()[0]
    # b' = -0.5 b + cos t: b = (2 - 0.4) e^{-t/2} + 0.4 cos t + 0.8 sin t
    exact_b = 1.6 * np.exp(-0.5 * t) + 0.4 * np.cos(t) + 0.8 * np.sin(t)
    assert_close(y[:, 0], np.exp(-1.5 * t), rtol=1e-9)
    assert_close(y[:, 1], exact_b, rtol=1e-9)


def _solve_ivp(rhs, y0, t):
    r = scipy.integrate.solve_ivp(rhs, (t[0], t[-1]), y0, t_eval=t, rtol=1e-12, atol=1e-12,
                                  method="DOP853")
    return r.y.T


def _rk4_errors(make, rhs, y0, horizon, dt):
    """Largest error against SciPy (DOP853 at 1e-12) of the model at steps dt and dt / 2."""
    errors = []
    for h in (dt, dt / 2):
        sim = make(dt=h, steps=int(round(horizon / h)))
        ref = _solve_ivp(rhs, y0, sim.times())
        errors.append(np.max(np.abs(sim.simulate()[0] - ref)) / np.max(np.abs(ref)))
    return errors


@pytest.mark.parametrize("name", ["pendulum", "lotka_volterra", "lorenz"])
def test_rk4_converges_to_scipy_at_fourth_order(name):
    a, b, d, g = 1.1, 0.4, 0.1, 0.4
    cases = {
        "pendulum": (lambda **kw: pendulum(length=1.3, damping=0.2, y0=(1.0, 0.5), **kw),
                     lambda t, y: [y[1], -9.81 / 1.3 * math.sin(y[0]) - 0.2 * y[1]],
                     [1.0, 0.5], 2.0, 0.02),
        "lotka_volterra": (lambda **kw: lotka_volterra(y0=(10.0, 5.0), **kw),
                           lambda t, y: [a * y[0] - b * y[0] * y[1],
                                         d * y[0] * y[1] - g * y[1]], [10.0, 5.0], 5.0, 0.05),
        "lorenz": (lambda **kw: lorenz(**kw),
                   lambda t, y: [10 * (y[1] - y[0]), y[0] * (28 - y[2]) - y[1],
                                 y[0] * y[1] - 8 / 3 * y[2]], [1.0, 1.0, 1.0], 0.5, 0.005),
    }
    make, rhs, y0, horizon, dt = cases[name]
    coarse, fine = _rk4_errors(make, rhs, y0, horizon, dt)
    assert fine < 1e-6, (coarse, fine)
    assert 12 < coarse / fine < 20, (coarse, fine)  # halving the step divides it by 2^4


def test_lotka_volterra_conserves_its_first_integral():
    sim = lotka_volterra(y0=(10.0, 5.0), dt=0.005, steps=4000)
    x, y = sim.simulate()[0].T
    a, b, d, g = 1.1, 0.4, 0.1, 0.4
    v = d * x - g * np.log(x) + b * y - a * np.log(y)
    assert np.max(np.abs(v - v[0])) < 1e-9 * abs(v[0])


def test_leapfrog_keeps_the_pendulum_energy_bounded_where_euler_drifts():
    def energy(traj):
        return 0.5 * traj[:, 1] ** 2 + 9.81 * (1 - np.cos(traj[:, 0]))

    drift = {}
    for integrator in ("leapfrog", "symplectic_euler", "euler"):
        sim = pendulum(y0=(1.0, 0.0), dt=0.01, steps=5000, integrator=integrator)
        e = energy(sim.simulate()[0])
        drift[integrator] = np.max(np.abs(e - e[0])) / e[0]
    assert drift["leapfrog"] < 1e-3  # O((omega dt)^2), oscillating, not growing
    assert drift["symplectic_euler"] < 2e-2
    assert drift["euler"] > 1.0  # explicit Euler gains energy without bound


@pytest.mark.parametrize("integrator", ["rk4", "euler", "symplectic_euler", "leapfrog"])
def test_per_step_and_whole_rollout_kernels_give_the_same_trajectory(integrator):
    sim = pendulum(length=0.8, damping=0.3, y0=[(1.0, 0.0), (-0.5, 2.0)], dt=0.02, steps=150,
                   integrator=integrator)
    assert_close(sim.simulate(whole=False), sim.simulate(whole=True), rtol=1e-12)


LJ_TRIANGLE = [[0.0, 0.0], [1.15, 0.05], [0.5, 1.0]]


def _models():
    return {
        "pendulum": (pendulum(length=1.2, damping=0.15, y0=[(1.0, 0.0), (0.3, -1.0)],
                              dt=0.01, steps=150), ["length", "damping", "y0"]),
        "lotka_volterra": (lotka_volterra(y0=(10.0, 5.0), dt=0.02, steps=200),
                           ["alpha", "beta", "delta", "gamma"]),
        "lorenz": (lorenz(dt=0.002, steps=200), ["sigma", "rho", "beta", "y0"]),
        # forces are -td.grad of the potential: these derivatives go through a derivative
        "lennard_jones": (pair_system("lennard_jones", LJ_TRIANGLE, epsilon=1.0, sigma=1.0,
                                      dt=0.005, steps=150), ["epsilon", "sigma", "y0"]),
    }


def _loss(sim, names, flat):
    i = 0
    for n in names:
        k = int(np.prod(np.shape(sim.get(n))))
        sim.set(n, np.reshape(flat[i:i + k], np.shape(sim.get(n))))
        i += k
    return sim.loss_grad(names)


@pytest.mark.parametrize("name", ["pendulum", "lotka_volterra", "lorenz", "lennard_jones"])
def test_gradient_and_hvp_equal_central_differences(name):
    sim, names = _models()[name]
    r = np.random.default_rng(sum(map(ord, name)))
    truth = sim.simulate()
    sim.observe(truth + 0.05 * r.normal(size=truth.shape) * np.abs(truth).mean())
    x0 = np.concatenate([np.ravel(sim.get(n)) for n in names])
    x = x0 * (1 + 0.05 * r.normal(size=x0.shape))
    scale = np.maximum(np.abs(x0), 1.0)
    v = r.normal(size=x.shape) * scale
    loss, grads = _loss(sim, names, x)
    g = np.concatenate([np.ravel(a) for a in grads])
    h = 1e-6
    fd = (_loss(sim, names, x + h * v)[0] - _loss(sim, names, x - h * v)[0]) / (2 * h)
    assert_close(g @ v, fd, rtol=1e-6, what=f"{name} directional derivative")
    # the same check per component (the cosine of gradient and finite differences is 1)
    fd_all = np.array([(_loss(sim, names, x + h * e * scale)[0]
                        - _loss(sim, names, x - h * e * scale)[0]) / (2 * h)
                       for e in np.eye(len(x))]) / scale
    assert_close(g, fd_all, rtol=1e-5, what=f"{name} gradient")
    assert g @ fd_all / np.linalg.norm(g) / np.linalg.norm(fd_all) > 1 - 1e-10
    # Hessian-vector product against differences of gradients
    _loss(sim, names, x)
    split = []
    i = 0
    for n in names:
        k = int(np.prod(np.shape(sim.get(n))))
        split.append(np.reshape(v[i:i + k], np.shape(sim.get(n))))
        i += k
    value, _, hv = sim.loss_grad_hvp(names, split)
    hv = np.concatenate([np.ravel(a) for a in hv])
    gp = np.concatenate([np.ravel(a) for a in _loss(sim, names, x + h * v)[1]])
    gm = np.concatenate([np.ravel(a) for a in _loss(sim, names, x - h * v)[1]])
    assert_close(value, loss, rtol=1e-12)
    assert_close(hv, (gp - gm) / (2 * h), rtol=1e-6 * max(1.0, np.abs(hv).max()),
                 what=f"{name} Hessian-vector product")


@pytest.mark.parametrize("method, weight", [
    ("L-BFGS-B", None), ("Newton-CG", None),
    # weights (or data in small units) that make the loss tiny: L-BFGS-B compares a reduction
    # with max(loss, 1), so a starting loss of 1e-20 ended the fit at its first step, at the
    # starting values (and 1e-12 stopped short, 2e-6 off); the same answer is expected
    ("L-BFGS-B", 1e-12), ("L-BFGS-B", 1e-20), ("L-BFGS-B", 1e-200)])
def test_pendulum_length_and_damping_are_recovered_from_noise_free_data(method, weight):
    observed = pendulum(length=1.5, damping=0.25, y0=[(1.0, 0.0), (0.2, 1.5)],
                        steps=300).simulate()
    sim = pendulum(length=1.0, damping=0.1, y0=[(1.0, 0.0), (0.2, 1.5)], steps=300)
    weights = None if weight is None else np.full(observed.shape, weight)
    result = td.fit(sim, observed, ["length", "damping"], method=method, progress=False,
                    max_iter=30, weights=weights, uncertainty=False)
    assert 1 < result.iterations <= 30
    assert abs(result.values["length"] - 1.5) < 1.5e-8
    assert abs(result.values["damping"] - 0.25) < 0.25e-8
    assert sim.get("length") == result.values["length"]  # the model is left fitted


@pytest.mark.parametrize("weight", [1.0, 1e-20])
def test_adam_does_not_depend_on_the_scale_of_the_loss(weight):
    """Adam's epsilon (1e-12) is absolute: at weight 1e-20 the gradients were far below it and
    300 steps moved the parameters by 1e-4."""
    observed = pendulum(length=1.5, damping=0.2, steps=200).simulate()
    sim = pendulum(length=1.0, damping=0.1, steps=200)
    result = td.fit(sim, observed, ["length", "damping"], method="adam", max_iter=300,
                    learning_rate=0.02, weights=np.full(observed.shape, weight),
                    uncertainty=False, progress=False)
    assert abs(result.values["length"] - 1.5) < 1e-5
    assert abs(result.values["damping"] - 0.2) < 1e-5


def test_four_lotka_volterra_rates_are_recovered():
    truth = dict(alpha=1.1, beta=0.4, delta=0.1, gamma=0.4)
    observed = lotka_volterra(**truth, y0=(10.0, 5.0), dt=0.02, steps=500).simulate()
    sim = lotka_volterra(alpha=1.0, beta=0.5, delta=0.12, gamma=0.3, y0=(10.0, 5.0), dt=0.02,
                         steps=500)
    result = td.fit(sim, observed, method="Newton-CG", log_scale=True, progress=False,
                    max_iter=30)
    for n, v in truth.items():
        assert abs(result.values[n] - v) < 1e-8 * v, (n, result.values[n])


@pytest.mark.parametrize("method", ["Newton-CG", "L-BFGS-B"])
def test_lorenz_parameters_are_recovered_through_chaos(method):
    """Over 300 steps (1.5 time units, into the chaotic regime) from 10-15 % off: measured
    2026-12-04 both methods reach 1e-13 or better in 13 iterations."""
    truth = dict(sigma=10.0, rho=28.0, beta=8.0 / 3.0)
    observed = lorenz(**truth, y0=(1.0, 1.0, 1.0), dt=0.005, steps=300).simulate()
    sim = lorenz(sigma=9.0, rho=30.0, beta=2.4, y0=(1.0, 1.0, 1.0), dt=0.005, steps=300)
    result = td.fit(sim, observed, ["sigma", "rho", "beta"], method=method, log_scale=True,
                    max_iter=30, progress=False)
    for n, v in truth.items():
        assert abs(result.values[n] - v) < 1e-8 * v, (n, result.values[n])


def test_standard_errors_cover_the_truth_on_noisy_data():
    """20 replicates of noisy observations: the truth lies within two standard errors about
    95 % of the time (at least 16 of 20 for each parameter)."""
    truth = pendulum(length=1.5, damping=0.25, y0=(1.0, 0.0), dt=0.02, steps=200)
    clean = truth.simulate()
    sim = pendulum(length=1.2, damping=0.2, y0=(1.0, 0.0), dt=0.02, steps=200)
    r = np.random.default_rng(42)
    inside = {"length": 0, "damping": 0}
    for _ in range(20):
        noisy = clean + 0.05 * r.normal(size=clean.shape)
        result = td.fit(sim, noisy, {"length": 1.2, "damping": 0.2}, progress=False)
        for n, v in (("length", 1.5), ("damping", 0.25)):
            inside[n] += abs(result.values[n] - v) <= 2 * result.stderr[n]
    assert all(c >= 16 for c in inside.values()), inside


def test_missing_observations_are_skipped():
    observed = pendulum(length=1.5, damping=0.25, steps=200).simulate()
    observed[:, ::2, 1] = np.nan  # velocity seen at every other step only
    sim = pendulum(length=1.0, damping=0.1, steps=200)
    result = td.fit(sim, observed, ["length", "damping"], progress=False)
    assert abs(result.values["length"] - 1.5) < 1e-7


class _Cliff:
    """A model whose simulation "blows up" (non-finite loss) beyond x = 0.5; the minimum is at
    x = 0.45, so L-BFGS-B's first trial step (length 1 from x = 0) lands on the cliff."""

    names = ("x",)

    def __init__(self):
        self.x = np.array(0.0)

    def get(self, name):
        return self.x.copy()

    def set(self, name, value):
        self.x = np.asarray(value, dtype=float).reshape(())

    def observe(self, data, weights=None):
        return 10

    def loss_grad(self, names):
        x = float(self.x)
        if x > 0.5:
            return math.inf, [np.array(math.nan)]
        return 50.0 * (x - 0.45) ** 2, [np.array(100.0 * (x - 0.45))]

    def loss_grad_hvp(self, names, vectors):
        loss, g = self.loss_grad(names)
        return loss, g, [100.0 * np.asarray(vectors[0])]


def test_a_non_finite_trial_step_is_a_failed_step_not_convergence():
    model = _Cliff()
    result = td.fit(model, None, method="L-BFGS-B", progress=False)
    assert result.failed_steps >= 1
    assert abs(result.values["x"] - 0.45) < 1e-8


def test_bad_input_is_refused_clearly():
    sim = pendulum(steps=20)
    observed = sim.simulate()
    with pytest.raises(td.TidalError, match="unknown parameter 'lenght'"):
        td.fit(sim, observed, ["lenght"], progress=False)
    with pytest.raises(td.TidalError, match="outside its bounds"):
        td.fit(sim, observed, ["length"], bounds={"length": (2.0, 3.0)}, progress=False)
    with pytest.raises(td.TidalError, match="observations must have shape"):
        td.fit(sim, observed[:, :5], ["length"], progress=False)
    with pytest.raises(td.TidalError, match="unknown method"):
        td.fit(sim, observed, ["length"], method="BFGS!", progress=False)
    with pytest.raises(td.TidalError, match="must start positive"):
        td.fit(sim, observed, {"damping": 0.0}, log_scale=True, progress=False)
    with pytest.raises(td.TidalError, match="unknown integrator"):
        pendulum(integrator="rk5")
    with pytest.raises(td.TidalError, match="even number"):
        lorenz(integrator="leapfrog")
    # what a first user got wrong (2026-12-04 trial): each a TidalError, not NumPy's
    with pytest.raises(td.TidalError, match="weights of shape \\(5,\\) do not broadcast"):
        td.fit(sim, observed, ["length"], weights=np.ones(5), progress=False)
    with pytest.raises(td.TidalError, match="y0 must be finite"):
        pendulum(y0=(np.nan, 0.0), steps=10)
    with pytest.raises(td.TidalError, match="observations contain inf"):
        td.fit(sim, np.where(observed > 0.5, np.inf, observed), ["length"], progress=False)
    with pytest.raises(td.TidalError, match="nothing is observed"):
        td.fit(sim, np.full_like(observed, np.nan), ["length"], progress=False)
    with pytest.raises(td.TidalError, match="noise .* positive number"):
        td.fit(sim, observed, ["length"], noise=-0.01, progress=False)


@td.func
def _oscillator(y: td.vec(2), p: td.vec(1), t: float) -> td.vec(2):
    return td.vec(2)(y[1], -p[0] * p[0] * y[0])


@td.func
def _decay(y: td.vec(1), p: td.vec(1), t: float) -> td.vec(1):
    return -p[0] * y


def _warnings_of(sim) -> list:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.simulate()
    return [w for w in caught if issubclass(w.category, td.TidalWarning)]


@pytest.mark.parametrize("integrator, limit", [("leapfrog", 2.0), ("symplectic_euler", 2.0),
                                               ("rk4", 2.0 * math.sqrt(2.0))])
def test_a_step_beyond_the_oscillation_stability_limit_warns(integrator, limit):
    """On the imaginary axis (an undamped oscillator, omega dt < limit): leapfrog and
    symplectic Euler are stable up to omega dt = 2, RK4 up to 2 sqrt(2)."""
    dt = 0.1
    for omega_dt, warns in ((0.95 * limit, False), (1.05 * limit, True)):
        sim = ODE(_oscillator, ["q", "v"], {"omega": omega_dt / dt}, y0=[1.0, 0.0], dt=dt,
                  steps=200, integrator=integrator)
        step_radius, flow_radius = sim.stability()
        assert flow_radius == pytest.approx(1.0, abs=1e-12)  # the exact flow is a rotation
        assert (step_radius > 1.0 + 1e-9) == warns, (omega_dt, step_radius)
        caught = _warnings_of(sim)
        assert len(caught) == warns, [str(w.message) for w in caught]
        if warns:
            assert "stability limit" in str(caught[0].message)
            assert "smaller dt" in str(caught[0].message)


def test_explicit_euler_on_decay_warns_past_dt_two_over_rate():
    """Explicit Euler multiplies by 1 - rate dt: stable while rate dt < 2."""
    for dt, warns in ((0.95, False), (1.05, True)):
        sim = ODE(_decay, ["u"], {"rate": 2.0}, y0=[1.0], dt=dt, steps=60, integrator="euler")
        step_radius, flow_radius = sim.stability()
        assert step_radius == pytest.approx(abs(1.0 - 2.0 * dt), rel=1e-12)
        assert flow_radius == pytest.approx(math.exp(-2.0 * dt), rel=1e-12)
        assert len(_warnings_of(sim)) == warns


def test_physical_growth_is_not_taken_for_instability():
    """Lorenz grows on its own (a positive eigenvalue at the start): RK4 at a small step
    follows it, and that is no warning."""
    sim = lorenz(dt=0.01, steps=300)
    step_radius, flow_radius = sim.stability()
    assert flow_radius > 1.0
    assert not _warnings_of(sim)


@td.func
def _scaled(y: td.vec(2)) -> td.vec(2):
    """Made at import, before td.init: td.vec(2) must still mean the default float type."""
    return y * (1.0 + 1e-12)


def test_vector_types_made_before_init_follow_the_default_float():
    out = td.vectorize(_scaled)(np.array([[1.0, 2.0]]))
    assert_close(out, np.array([[1.0 + 1e-12, 2.0 + 2e-12]]), rtol=1e-15)


def test_the_pendulum_example_fits_and_saves_its_figure(tmp_path):
    r = run_example("physics_pendulum", tmp_path, "--small")
    assert (tmp_path / "physics_pendulum.png").stat().st_size > 10_000
    # each method's lines: "  length = 1.49... +- 0.0..." within 3 standard errors of the truth
    for name, truth in (("length", 1.5), ("damping", 0.25)):
        rows = [line for line in r.stdout.splitlines() if line.strip().startswith(name)]
        assert len(rows) == 2, r.stdout
        for row in rows:
            value, err = (float(x) for x in row.split("=")[1].split("+-"))
            assert abs(value - truth) < 3 * err, row
