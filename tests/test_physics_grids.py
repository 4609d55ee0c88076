"""Grid PDEs in 1-D (tidal.physics.Wave1D, AdvectionDiffusion1D, Burgers1D): standing waves
against the discrete dispersion relation of leapfrog, Fourier modes of advection-diffusion
against their exact per-step amplification factor, every scheme against an independent NumPy
implementation, Burgers' mass conservation and convergence to the Cole-Hopf solution, per-step
and rollout kernels against each other, gradients and Hessian-vector products of every named
parameter against central differences (f64), recovery of the wave speed, the advection velocity
and diffusivity, and the Burgers viscosity with td.fit (L-BFGS-B and Newton-CG), bad input and
the stability warnings."""

import math
import warnings

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.physics import AdvectionDiffusion1D, Burgers1D, Wave1D

from .reference import assert_close, run_example


@pytest.fixture(scope="module", autouse=True)
def _f64():
    td.init(arch=ARCH, default_fp=td.f64)
    yield


# -- independent NumPy schemes ----------------------------------------------------------------
def _numpy_wave(c, u0, v0, source, dt, h, steps):
    """Leapfrog written independently: interior nodes only, the ends copied."""
    r2 = (c * dt / h) ** 2
    out = [u0.copy()]
    lap = np.zeros_like(u0)
    lap[1:-1] = u0[2:] - 2 * u0[1:-1] + u0[:-2]
    first = u0.copy()
    first[1:-1] += dt * v0[1:-1] + 0.5 * r2 * lap[1:-1] + 0.5 * dt * dt * source[1:-1]
    out.append(first)
    for _ in range(steps - 1):
        u, prev = out[-1], out[-2]
        new = u.copy()
        new[1:-1] = 2 * u[1:-1] - prev[1:-1] + r2 * (u[2:] - 2 * u[1:-1] + u[:-2]) \
            + dt * dt * source[1:-1]
        out.append(new)
    return np.array(out[:steps + 1])


def _numpy_advection_diffusion(a, d_coef, u0, dt, h, steps):
    c, d = a * dt / h, d_coef * dt / h ** 2
    u, out = u0.copy(), [u0.copy()]
    for _ in range(steps):
        right, left = np.roll(u, -1), np.roll(u, 1)
        upwind = (u - left) if a >= 0 else (right - u)
        u = u - c * upwind + d * (right - 2 * u + left)
        out.append(u.copy())
    return np.array(out)


def _numpy_burgers(nu, u0, dt, h, steps):
    u, out = u0.copy(), [u0.copy()]
    for _ in range(steps):
        right, left = np.roll(u, -1), np.roll(u, 1)
        u = u - dt / (4 * h) * (right ** 2 - left ** 2) + nu * dt / h ** 2 * (right - 2 * u + left)
        out.append(u.copy())
    return np.array(out)


# -- forward checks ---------------------------------------------------------------------------
def test_standing_waves_follow_the_discrete_dispersion_relation():
    """sin(k pi x) is an eigenvector of the 3-point Laplacian: leapfrog turns it into
    cos(m theta) (from u0) and dt sin(m theta) / sin(theta) (from v0) with
    cos theta = 1 - 2 (c dt / h)^2 sin^2(k pi h / 2)."""
    n, c, steps = 33, 1.3, 120
    h = 1.0 / (n - 1)
    dt = 0.8 * h / c
    x = np.linspace(0.0, 1.0, n)
    a_mode, b_mode = np.sin(2 * np.pi * x), np.sin(5 * np.pi * x)
    sim = Wave1D(c, a_mode, dt=dt, steps=steps, v0=0.7 * b_mode)
    u = sim.simulate()
    m = np.arange(steps + 1)[:, None]

    def theta(k):
        return math.acos(1 - 2 * (c * dt / h) ** 2 * math.sin(k * math.pi * h / 2) ** 2)

    ta, tb = theta(2), theta(5)
    exact = np.cos(m * ta) * a_mode + 0.7 * dt * np.sin(m * tb) / math.sin(tb) * b_mode
    assert_close(u, exact, rtol=1e-12)


def test_the_wave_scheme_matches_numpy_and_both_kernels_agree():
    n, steps = 40, 90
    h = 1.0 / (n - 1)
    x = np.linspace(0.0, 1.0, n)
    r = np.random.default_rng(1)
    u0 = np.exp(-((x - 0.3) / 0.1) ** 2) + 0.2 + 0.1 * x  # non-zero fixed ends
    v0 = r.normal(size=n)
    source = np.cos(3 * x)
    c = 0.9
    dt = 0.9 * h / c
    sim = Wave1D(c, u0, dt=dt, steps=steps, v0=v0, source=source)
    expected = _numpy_wave(c, u0, v0, source, dt, h, steps)
    whole = sim.simulate(whole=True)
    assert_close(whole, expected, rtol=1e-12)
    assert_close(sim.simulate(whole=False), whole, rtol=1e-12)
    assert np.all(whole[:, 0] == u0[0]) and np.all(whole[:, -1] == u0[-1])


@pytest.mark.parametrize("a", [0.8, -0.6])
def test_a_fourier_mode_moves_and_decays_by_its_exact_discrete_factor(a):
    """exp(i theta j) is an eigenvector of the upwind scheme: each step multiplies it by
    g = 1 - C (1 - e^{-i theta}) - 2 d (1 - cos theta) (a > 0; C (e^{i theta} - 1) for a < 0),
    so sin(theta j) becomes |g|^m sin(theta j + m arg g)."""
    n, diffusivity, steps = 32, 0.004, 80
    h = 1.0 / n
    dt = 0.5 * h / (abs(a) + 2 * diffusivity / h)
    j = np.arange(n)
    theta = 2 * np.pi * 3 * h
    sim = AdvectionDiffusion1D(a, diffusivity, np.sin(theta * j), dt=dt, steps=steps)
    assert sim.stability() == pytest.approx(0.5)
    cn, d = a * dt / h, diffusivity * dt / h ** 2
    upwind = (1 - np.exp(-1j * theta)) if a > 0 else (np.exp(1j * theta) - 1)
    g = 1 - cn * upwind - 2 * d * (1 - np.cos(theta))
    exact = np.imag(g ** np.arange(steps + 1)[:, None] * np.exp(1j * theta * j)[None, :])
    assert_close(sim.simulate(), exact, rtol=1e-12)


def test_advection_diffusion_matches_numpy_and_both_kernels_agree():
    n, steps = 48, 100
    h = 1.0 / n
    r = np.random.default_rng(2)
    u0 = r.normal(size=n)
    for a in (1.1, -0.7):
        diffusivity = 0.003
        dt = 0.9 * h / (abs(a) + 2 * diffusivity / h)
        sim = AdvectionDiffusion1D(a, diffusivity, u0, dt=dt, steps=steps)
        expected = _numpy_advection_diffusion(a, diffusivity, u0, dt, h, steps)
        whole = sim.simulate(whole=True)
        assert_close(whole, expected, rtol=1e-12)
        assert_close(sim.simulate(whole=False), whole, rtol=1e-12)
        assert np.max(np.abs(whole.sum(axis=1) - u0.sum())) < 1e-12  # upwind fluxes telescope


def test_burgers_matches_numpy_conserves_mass_and_both_kernels_agree():
    n, steps, nu = 64, 200, 0.05
    h = 1.0 / n
    x = np.arange(n) * h
    u0 = 0.4 + np.sin(2 * np.pi * x) + 0.3 * np.cos(6 * np.pi * x)
    dt = 0.4 * h * h / nu
    sim = Burgers1D(nu, u0, dt=dt, steps=steps)
    d, ratio = sim.stability()
    assert d == pytest.approx(0.4) and ratio < 1
    whole = sim.simulate(whole=True)
    assert_close(whole, _numpy_burgers(nu, u0, dt, h, steps), rtol=1e-12)
    assert_close(sim.simulate(whole=False), whole, rtol=1e-12)
    # the flux telescopes on the periodic grid: sum(u) is the same at every step
    assert np.max(np.abs(whole.sum(axis=1) - u0.sum())) < 1e-12


def _cole_hopf(nu, x, t):
    """u = -2 nu phi_x / phi with phi = 2 + exp(-nu k^2 t) cos(k x), k = 2 pi: an exact
    periodic solution of viscous Burgers."""
    k = 2 * np.pi
    e = np.exp(-nu * k * k * t)[:, None]
    return 2 * nu * k * e * np.sin(k * x) / (2 + e * np.cos(k * x))


def test_burgers_converges_to_the_cole_hopf_solution_at_second_order():
    """With nu large (cell Reynolds number 0.2) and dt = 0.25 h^2 / nu the error of the
    explicit scheme is O(h^2): halving h divides it by about 4."""
    nu, end = 0.1, 0.2
    errors = []
    for n in (32, 64):
        h = 1.0 / n
        x = np.arange(n) * h
        steps = round(end / (0.25 * h * h / nu))
        dt = end / steps
        sim = Burgers1D(nu, _cole_hopf(nu, x, np.zeros(1))[0], dt=dt, steps=steps)
        u = sim.simulate()
        exact = _cole_hopf(nu, x, dt * np.arange(steps + 1))
        errors.append(np.max(np.abs(u - exact)) / np.max(np.abs(exact)))
    assert errors[0] < 5e-3, errors
    assert 3.6 < errors[0] / errors[1] < 4.4, errors


# -- derivatives ------------------------------------------------------------------------------
def _models():
    """Small models with noisy data and some cells without a sensor; a random direction for
    each named parameter."""
    r = np.random.default_rng(0)
    n, steps = 16, 30
    x = np.linspace(0.0, 1.0, n)
    h = 1.0 / (n - 1)
    wave = Wave1D(1.1, np.sin(np.pi * x) + 0.2 * r.normal(size=n), dt=0.7 * h / 1.1,
                  steps=steps, v0=r.normal(size=n), source=r.normal(size=n))
    xp = np.arange(n) / n
    adv = AdvectionDiffusion1D(0.9, 0.01, np.sin(2 * np.pi * xp) + 0.3 * r.normal(size=n),
                               dt=0.5 / n / (0.9 + 2 * 0.01 * n), steps=steps)
    burgers = Burgers1D(0.05, 0.5 + np.sin(2 * np.pi * xp) + 0.2 * r.normal(size=n),
                        dt=0.3 / n ** 2 / 0.05, steps=steps)
    out = []
    for sim in (wave, adv, burgers):
        observed = sim.simulate() + 0.05 * r.normal(size=sim.observation_shape)
        observed[:, ::3] = np.nan  # these cells have no sensor
        sim.observe(observed)
        out.append((sim, observed))
    return out, r


def _numpy_loss(sim, observed):
    u = sim.simulate()
    seen = np.isfinite(observed)
    return float(np.sum((u[seen] - observed[seen]) ** 2))


@pytest.mark.parametrize("which", [0, 1, 2], ids=["wave", "advection_diffusion", "burgers"])
def test_gradients_and_hvps_of_every_parameter_equal_central_differences(which):
    models, r = _models()
    sim, observed = models[which]
    names = list(sim.names)
    x = {n: sim.get(n) for n in names}
    value, grads = sim.loss_grad(names)
    assert_close(value, _numpy_loss(sim, observed), rtol=1e-13)
    # fourth-order central differences of the loss computed in NumPy from simulate() (the
    # second-order stencil's truncation error, 4e-7 relative for the viscosity 0.05 at a step of
    # 1e-6, would leave too thin a margin below 1e-6)
    eps = 1e-5
    stencil = ((2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12))
    for name, g in zip(names, grads):
        flat = x[name].reshape(-1)
        fd = np.zeros(flat.size)
        for k in range(flat.size):
            for offset, weight in stencil:
                moved = flat.copy()
                moved[k] += offset * eps
                sim.set(name, moved.reshape(x[name].shape))
                fd[k] += weight * _numpy_loss(sim, observed) / eps
        sim.set(name, x[name])
        g = np.ravel(g)
        error = np.linalg.norm(g - fd) / np.linalg.norm(fd)
        cosine = g @ fd / (np.linalg.norm(g) * np.linalg.norm(fd))
        assert error < 1e-6, (name, error)
        assert cosine > 1 - 1e-10, (name, cosine)
    v = [r.normal(size=np.shape(x[n])) for n in names]
    eps = 1e-6  # central differences of the adjoint gradients

    def grads_at(e):
        for n, vn in zip(names, v):
            sim.set(n, x[n] + e * vn)
        return sim.loss_grad(names)[1]

    plus, minus = grads_at(eps), grads_at(-eps)
    grads_at(0.0)
    value2, grads2, hv = sim.loss_grad_hvp(names, v)
    assert_close(value2, value, rtol=1e-13)
    for name, a, b in zip(names, grads2, grads):
        assert_close(a, b, rtol=1e-12, what=f"gradient, {name}")
    for name, a, p, m in zip(names, hv, plus, minus):
        fd = (p - m) / (2 * eps)
        error = np.linalg.norm(np.ravel(a - fd)) / max(np.linalg.norm(np.ravel(fd)), 1e-300)
        assert error < 1e-6, (name, error)


# -- recovery ---------------------------------------------------------------------------------
# measured iterations / evaluations (2026-12-04, this 2-core machine) are in docs/physics.md
METHODS = ["L-BFGS-B", "Newton-CG"]


def _relative(result, truth):
    return max(abs(float(result.values[n]) - v) / abs(v) for n, v in truth.items())


def _sensors(observed, cells):
    out = np.full_like(observed, np.nan)
    out[:, cells] = observed[:, cells]
    return out


@pytest.mark.parametrize("method", METHODS)
def test_the_wave_speed_is_recovered(method):
    n, steps = 33, 80
    h = 1.0 / (n - 1)
    x = np.linspace(0.0, 1.0, n)
    u0 = np.sin(np.pi * x) + 0.3 * np.sin(2 * np.pi * x)
    dt = 0.8 * h / 1.2
    observed = Wave1D(1.0, u0, dt=dt, steps=steps).simulate()
    sim = Wave1D(1.2, u0, dt=dt, steps=steps)  # 20 % off
    result = td.fit(sim, _sensors(observed, [5, 12, 20, 27]), ["c"], method=method,
                    max_iter=30, progress=False)
    error = _relative(result, {"c": 1.0})
    print(f"\nwave speed, {method}: error {error:.2e}, {result.iterations} iterations, "
          f"{result.evaluations} evaluations, {result.hvp_evaluations} hvps, {result.time:.1f} s")
    assert result.iterations <= 30
    assert error <= 1e-8, (error, result.iterations)


@pytest.mark.parametrize("method", METHODS)
def test_advection_velocity_and_diffusivity_are_recovered_jointly(method):
    n, steps = 32, 100
    h = 1.0 / n
    xp = np.arange(n) * h
    u0 = np.exp(-((xp - 0.5) / 0.1) ** 2)
    truth = {"velocity": 0.8, "diffusivity": 0.005}
    dt = 0.8 * h / (1.0 + 2 * 0.006 / h)
    observed = AdvectionDiffusion1D(**truth, u0=u0, dt=dt, steps=steps).simulate()
    sim = AdvectionDiffusion1D(0.96, 0.006, u0, dt=dt, steps=steps)  # 20 % off each
    result = td.fit(sim, _sensors(observed, [3, 10, 17, 24]), ["velocity", "diffusivity"],
                    method=method, max_iter=30, progress=False)
    error = _relative(result, truth)
    print(f"\nadvection-diffusion, {method}: error {error:.2e}, {result.iterations} iterations, "
          f"{result.evaluations} evaluations, {result.hvp_evaluations} hvps, {result.time:.1f} s")
    assert result.iterations <= 30
    assert error <= 1e-8, (error, result.iterations)


@pytest.mark.parametrize("method", METHODS)
def test_the_burgers_viscosity_is_recovered(method):
    n, steps = 32, 100
    h = 1.0 / n
    xp = np.arange(n) * h
    u0 = 0.3 + np.sin(2 * np.pi * xp)
    dt = 0.4 * h * h / 0.025
    observed = Burgers1D(0.02, u0, dt=dt, steps=steps).simulate()
    sim = Burgers1D(0.025, u0, dt=dt, steps=steps)  # 25 % off
    result = td.fit(sim, _sensors(observed, [4, 11, 19, 26]), ["viscosity"], method=method,
                    max_iter=30, progress=False)
    error = _relative(result, {"viscosity": 0.02})
    print(f"\nBurgers viscosity, {method}: error {error:.2e}, {result.iterations} iterations, "
          f"{result.evaluations} evaluations, {result.hvp_evaluations} hvps, {result.time:.1f} s")
    assert result.iterations <= 30
    assert error <= 1e-8, (error, result.iterations)


# -- bad input and warnings -------------------------------------------------------------------
def _warns(sim, words):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.simulate()
    return any(issubclass(w.category, td.TidalWarning) and words in str(w.message)
               for w in caught)


def test_steps_beyond_the_stability_limits_warn():
    n = 16
    x = np.linspace(0.0, 1.0, n)
    h = 1.0 / (n - 1)
    wave = Wave1D(2.0, np.sin(np.pi * x), dt=0.6 * h, steps=4)
    assert wave.stability() == pytest.approx(1.2)
    assert _warns(wave, "CFL limit")
    assert not _warns(Wave1D(1.0, np.sin(np.pi * x), dt=h, steps=4), "CFL")
    hp = 1.0 / n
    adv = AdvectionDiffusion1D(1.0, 0.01, np.zeros(n), dt=0.9 * hp, steps=4)
    assert adv.stability() == pytest.approx(0.9 + 2 * 0.01 * 0.9 / hp)
    assert _warns(adv, "stability limit")
    assert not _warns(AdvectionDiffusion1D(-1.0, 0.0, np.zeros(n), dt=hp, steps=4), "stability")
    # Burgers: too much viscosity for dt, and too little for the speed
    assert _warns(Burgers1D(0.1, np.ones(n), dt=0.6 * hp * hp / 0.1, steps=4), "stability limit")
    assert _warns(Burgers1D(1e-4, np.ones(n), dt=0.2 * hp, steps=4), "stability limit")
    assert not _warns(Burgers1D(0.05, np.ones(n), dt=0.4 * hp * hp / 0.05, steps=4), "stability")


def test_bad_input_is_refused_with_a_hint():
    n = 16
    u0 = np.zeros(n)
    with pytest.raises(td.TidalError, match=r"\(n,\) field"):
        Wave1D(1.0, np.zeros((4, 4)), dt=0.01, steps=3)
    with pytest.raises(td.TidalError, match=r"\(n,\) field"):
        Burgers1D(0.1, np.zeros(2), dt=0.01, steps=3)
    with pytest.raises(td.TidalError, match="steps must be a positive int"):
        AdvectionDiffusion1D(1.0, 0.1, u0, dt=0.01, steps=0)
    with pytest.raises(td.TidalError, match="steps must be a positive int"):
        Wave1D(1.0, u0, dt=0.01, steps=2.5)
    with pytest.raises(td.TidalError, match="dt must be a positive"):
        Burgers1D(0.1, u0, dt=0.0, steps=3)
    with pytest.raises(td.TidalError, match="dt must be a positive"):
        Wave1D(1.0, u0, dt=-1.0, steps=3)
    with pytest.raises(td.TidalError, match="h must be a positive"):
        Wave1D(1.0, u0, dt=0.1, steps=3, h=0.0)
    with pytest.raises(td.TidalError, match="must have shape"):
        Wave1D(1.0, u0, dt=0.01, steps=3, v0=np.zeros(n + 1))
    with pytest.raises(td.TidalError, match="non-negative"):
        Burgers1D(-0.1, u0, dt=0.01, steps=3)
    sim = AdvectionDiffusion1D(1.0, 0.01, u0, dt=0.01, steps=3)
    with pytest.raises(td.TidalError, match="unknown parameter 'speed'") as caught:
        sim.get("speed")
    assert "velocity" in str(caught.value)
    with pytest.raises(td.TidalError, match="unknown parameter"):
        sim.loss_grad(["speed"])
    with pytest.raises(td.TidalError, match="is a scalar"):
        sim.set("velocity", [1.0, 2.0])
    with pytest.raises(td.TidalError, match="non-negative"):
        sim.set("diffusivity", -1.0)
    with pytest.raises(td.TidalError, match="finite"):
        sim.set("u0", np.full(n, np.nan))
    with pytest.raises(td.TidalError, match="observations must have shape"):
        sim.observe(np.zeros((3, n)))
    with pytest.raises(td.TidalError, match="unknown parameter"):
        td.fit(sim, np.zeros((4, n)), ["speed"], progress=False)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_wave_example_runs(tmp_path):
    r = run_example("physics_wave", tmp_path, "--small")
    assert (tmp_path / "physics_wave.png").stat().st_size > 10_000
    # each method's line "  c = 0.99... +- 0.00..." lies within 3 standard errors of the truth
    rows = [line for line in r.stdout.splitlines() if line.strip().startswith("c =")]
    assert len(rows) == 2, r.stdout
    for row in rows:
        value, err = (float(x) for x in row.split("=")[1].split("+-"))
        assert abs(value - 1.0) < 3 * err, row
