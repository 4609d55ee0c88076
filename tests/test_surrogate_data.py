"""The surrogate training-data generators against independent references: random-field spectra
and covariances against their defining formulas, the Darcy solver against a manufactured
solution (measured order) and the series solution of the constant-coefficient problem, the
Burgers solver against the exact Cole-Hopf solution and the energy balance, the antiderivative
against closed forms, the diffusion-reaction solver's measured order, and the data-set layer
(bit-identical across process counts, exact .npz round trip, typed errors)."""

import math

import numpy as np
import pytest

from tidal.dsl.errors import TidalArgumentError, TidalError
from tidal.surrogates import (
    antiderivative,
    antiderivative_sample,
    burgers_sample,
    darcy_sample,
    diffusion_reaction_sample,
    generate,
    grf_1d,
    grf_2d,
    grf_rbf,
    load_dataset,
    save_dataset,
    solve_burgers,
    solve_darcy,
    solve_diffusion_reaction,
    threshold,
)
from tidal.surrogates import grf as grf_module


def order(coarse_error, fine_error):
    return math.log2(coarse_error / fine_error)


# -- Gaussian random fields ------------------------------------------------------------------
def test_periodic_1d_field_has_the_stated_spectrum():
    n, samples, alpha, tau, sigma = 32, 400, 2.5, 7.0, 49.0
    rng = np.random.default_rng(1)
    power = np.mean([np.abs(np.fft.fft(grf_1d(n, rng, alpha, tau, sigma)) / n) ** 2
                     for _ in range(samples)], axis=0)
    k = np.fft.fftfreq(n, 1.0 / n)
    expected = sigma ** 2 * ((2 * np.pi * k) ** 2 + tau ** 2) ** (-alpha)
    inner = (k != 0) & (np.abs(k) < n / 2)
    ratio = power[inner] / expected[inner]
    # each ratio: a mean of 400 exponential-like variables (relative spread 5%)
    assert abs(ratio.mean() - 1.0) < 0.05
    assert np.all(np.abs(ratio - 1.0) < 0.3)
    assert power[0] < 1e-25 and power[n // 2] < 1e-25  # no mean, no Nyquist mode


def test_periodic_2d_field_has_the_stated_spectrum():
    s, samples, alpha, tau = 16, 200, 2.0, 3.0
    rng = np.random.default_rng(2)
    power = np.mean([np.abs(np.fft.fft2(grf_2d(s, rng, alpha, tau, boundary="periodic"))
                            / s ** 2) ** 2 for _ in range(samples)], axis=0)
    k = np.fft.fftfreq(s, 1.0 / s)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    sigma = tau ** (alpha - 1.0)  # the FNO code's default amplitude in 2-D
    expected = sigma ** 2 * (4 * np.pi ** 2 * (kx ** 2 + ky ** 2) + tau ** 2) ** (-alpha)
    inner = ((kx != 0) | (ky != 0)) & (np.abs(kx) < s / 2) & (np.abs(ky) < s / 2)
    ratio = power[inner] / expected[inner]
    assert abs(ratio.mean() - 1.0) < 0.03


def test_neumann_2d_field_has_the_stated_pointwise_variance():
    s, samples, alpha, tau = 12, 1500, 2.0, 3.0
    rng = np.random.default_rng(3)
    fields = np.array([grf_2d(s, rng, alpha, tau) for _ in range(samples)])
    x = np.linspace(0.0, 1.0, s)
    expected = np.zeros((s, s))  # sum_k lambda_k phi_k(x, y)^2, phi_k evaluated directly
    for k1 in range(s):
        for k2 in range(s):
            if k1 == k2 == 0:
                continue
            lam = tau ** (2 * alpha - 2) * (np.pi ** 2 * (k1 ** 2 + k2 ** 2) + tau ** 2) ** -alpha
            c = (1.0 if k1 == 0 else 2.0) * (1.0 if k2 == 0 else 2.0)
            expected += lam * c * np.outer(np.cos(np.pi * k1 * x) ** 2, np.cos(np.pi * k2 * x) ** 2)
    ratio = fields.var(axis=0) / expected
    assert abs(ratio.mean() - 1.0) < 0.05
    assert np.all(np.abs(ratio - 1.0) < 0.2)
    # the corner carries four times the variance of the centre (the cosines are all +-1 there)
    assert expected[0, 0] > 2 * expected[s // 2, s // 2]


def test_rbf_field_has_the_rbf_covariance():
    n, samples, length = 101, 3000, 0.2
    rng = np.random.default_rng(4)
    fields = np.array([grf_rbf(n, rng, length) for _ in range(samples)])
    x = np.linspace(0.0, 1.0, n)
    for i, j in ((0, 0), (50, 50), (20, 30), (10, 50), (0, 100)):
        measured = np.mean(fields[:, i] * fields[:, j])
        assert abs(measured - math.exp(-0.5 * ((x[i] - x[j]) / length) ** 2)) < 0.06


def test_fields_are_deterministic_per_seed():
    assert np.array_equal(grf_1d(64, 7), grf_1d(64, 7))
    assert np.array_equal(grf_2d(16, 7), grf_2d(16, 7))
    assert not np.array_equal(grf_2d(16, 7), grf_2d(16, 8))
    assert grf_module.default_sigma(2.0, 3.0, 2) == 3.0


def test_threshold_is_twelve_and_three():
    a = threshold(grf_2d(32, 0))
    assert set(np.unique(a)) == {3.0, 12.0}
    field = grf_2d(32, 0)
    assert np.array_equal(a == 12.0, field >= 0)


# -- Darcy --------------------------------------------------------------------------------------
def _manufactured(s):
    x = np.linspace(0.0, 1.0, s)
    X, Y = np.meshgrid(x, x, indexing="ij")
    pi = np.pi
    a = 2.0 + np.sin(2 * pi * X) * np.cos(3 * pi * Y)
    a_x = 2 * pi * np.cos(2 * pi * X) * np.cos(3 * pi * Y)
    a_y = -3 * pi * np.sin(2 * pi * X) * np.sin(3 * pi * Y)
    u = np.sin(pi * X) * np.sin(2 * pi * Y)
    u_x = pi * np.cos(pi * X) * np.sin(2 * pi * Y)
    u_y = 2 * pi * np.sin(pi * X) * np.cos(2 * pi * Y)
    f = -(a_x * u_x + a_y * u_y - 5 * pi ** 2 * a * u)
    return a, f, u


@pytest.mark.parametrize("averaging", ["arithmetic", "harmonic"])
def test_darcy_is_second_order_for_a_variable_coefficient(averaging):
    errors = []
    for s in (17, 33, 65):
        a, f, u = _manufactured(s)
        errors.append(np.abs(solve_darcy(a, f, averaging) - u).max())
    orders = [order(errors[0], errors[1]), order(errors[1], errors[2])]
    assert all(1.9 < p < 2.1 for p in orders), (errors, orders)
    assert errors[2] < 2e-3


def _series_constant(x, y, terms=401):
    # -Laplace(u) = 1 on the unit square, u = 0 on the boundary: the double sine series
    m = np.arange(1, terms, 2)
    M, N = np.meshgrid(m, m, indexing="ij")
    c = 16.0 / (np.pi ** 4 * M * N * (M ** 2 + N ** 2))
    return np.einsum("mn,mi,nj->ij", c, np.sin(np.pi * np.outer(m, x)),
                     np.sin(np.pi * np.outer(m, y)))


def test_darcy_constant_coefficient_matches_the_series_solution():
    errors = []
    for s in (17, 33):
        x = np.linspace(0.0, 1.0, s)
        u = solve_darcy(np.full((s, s), 2.0), f=2.0)  # -div(2 grad u) = 2: the same u
        errors.append(np.abs(u - _series_constant(x, x)).max())
    assert errors[1] < 1e-4
    assert 1.9 < order(*errors) < 2.1, errors


def test_darcy_sample_solves_its_own_coefficient():
    a, u = darcy_sample(0, s=16)
    assert set(np.unique(a)) == {3.0, 12.0}
    assert np.all(u[0] == 0) and np.all(u[:, -1] == 0) and np.all(u[1:-1, 1:-1] > 0)
    assert np.array_equal(u, solve_darcy(a, 1.0))
    # the stencil treats x and y alike: the transposed coefficient gives the transposed solution
    assert np.abs(solve_darcy(a.T, 1.0) - u.T).max() < 1e-14
    # maximum principle bracket: 1 / (2 * 12) * series <= u <= 1 / (2 * 3) * series, roughly
    assert u.max() < _series_constant([0.5], [0.5])[0, 0] / 3.0


def test_darcy_rejects_bad_coefficients():
    with pytest.raises(TidalArgumentError, match="positive"):
        solve_darcy(-np.ones((8, 8)))
    with pytest.raises(TidalArgumentError, match="s x s"):
        solve_darcy(np.ones((8, 9)))
    with pytest.raises(TidalArgumentError, match="averaging"):
        solve_darcy(np.ones((8, 8)), averaging="geometric")
    with pytest.raises(TidalArgumentError, match="s must be"):
        darcy_sample(0, s=-4)


# -- Burgers ------------------------------------------------------------------------------------
def cole_hopf_sine(n, nu, t, fine=4096):
    """The exact solution for u0 = sin(2 pi x): u = -2 nu phi_x / phi with phi solving the heat
    equation from phi0 = exp(-(1 - cos 2 pi x) / (4 pi nu)), in Fourier on a fine grid."""
    x = np.arange(fine) / fine
    k = np.fft.rfftfreq(fine, 1.0 / fine)
    phi_hat = np.fft.rfft(np.exp(-(1 - np.cos(2 * np.pi * x)) / (4 * np.pi * nu)))
    phi_hat *= np.exp(-nu * (2 * np.pi * k) ** 2 * t)
    phi = np.fft.irfft(phi_hat, fine)
    phi_x = np.fft.irfft(2j * np.pi * k * phi_hat, fine)
    return (-2 * nu * phi_x / phi)[:: fine // n]


@pytest.mark.parametrize("nu,t", [(0.1, 1.0), (0.02, 0.5)])
def test_burgers_matches_cole_hopf(nu, t):
    n = 256
    x = np.arange(n) / n
    reference = cole_hopf_sine(n, nu, t)
    u = solve_burgers(np.sin(2 * np.pi * x), [t], nu, dt=1e-3)[0]
    assert np.abs(u - reference).max() < 1e-9
    if nu < 0.05:  # fourth order in time: halving the step cuts the error about 16x
        e1 = np.abs(solve_burgers(np.sin(2 * np.pi * x), [t], nu, dt=0.01)[0] - reference).max()
        e2 = np.abs(solve_burgers(np.sin(2 * np.pi * x), [t], nu, dt=0.005)[0] - reference).max()
        assert 3.5 < order(e1, e2) < 4.5, (e1, e2)


def test_burgers_energy_balance():
    # d/dt (1/2) int u^2 = -nu int u_x^2: the energy lost equals the time integral of dissipation
    n, nu = 128, 0.05
    x = np.arange(n) / n
    times = np.linspace(0.0, 0.5, 201)
    u = solve_burgers(np.sin(2 * np.pi * x) + 0.5 * np.cos(4 * np.pi * x + 1.0), times, nu)
    energy = 0.5 * np.mean(u ** 2, axis=1)
    k = np.fft.rfftfreq(n, 1.0 / n)
    u_x = np.fft.irfft(2j * np.pi * k * np.fft.rfft(u, axis=1), n, axis=1)
    dissipation = nu * np.mean(u_x ** 2, axis=1)
    lost = energy[0] - energy[-1]
    h = times[1] - times[0]  # Simpson's rule
    integral = h / 3 * (dissipation[0] + dissipation[-1] + 4 * dissipation[1:-1:2].sum()
                        + 2 * dissipation[2:-1:2].sum())
    assert np.all(np.diff(energy) < 0)
    assert abs(lost - integral) < 1e-7 * lost, (lost, integral)


def test_burgers_sample_shapes_and_refinement():
    u0, u1 = burgers_sample(3, n=64)
    assert u0.shape == u1.shape == (64,)
    assert np.abs(u1).max() < np.abs(u0).max()
    # refine=2: the field drawn and solved on 128 points, both arrays on every other point
    u0r, u1r = burgers_sample(3, n=64, refine=2)
    fine = grf_1d(128, 3)
    assert np.array_equal(u0r, fine[::2])
    assert np.array_equal(u1r, solve_burgers(fine, [1.0], 0.1)[0, ::2])
    with pytest.raises(TidalArgumentError, match="blew up"):
        solve_burgers(40 * np.sin(2 * np.pi * np.arange(64) / 64), [1.0], nu=1e-3, dt=0.5)
    with pytest.raises(TidalArgumentError, match="nu"):
        solve_burgers(np.zeros(16), [1.0], nu=-1.0)


# -- antiderivative -----------------------------------------------------------------------------
def test_antiderivative_closed_forms():
    x = np.linspace(0.0, 1.0, 1000)
    at = np.linspace(0.0, 1.0, 100)
    cubic = antiderivative(1 - 2 * x + 3 * x ** 2 - 4 * x ** 3, x, at)
    assert np.abs(cubic - (at - at ** 2 + at ** 3 - at ** 4)).max() < 1e-14
    sine = antiderivative(np.cos(5 * x), x, at)
    assert np.abs(sine - np.sin(5 * at) / 5).max() < 1e-11
    v, u = antiderivative_sample(0)
    assert v.shape == u.shape == (100,) and u[0] == 0.0
    # the derivative of the output is the input (centred differences, O(h^2) = 1e-4 level)
    h = 1.0 / 99
    assert np.abs((u[2:] - u[:-2]) / (2 * h) - v[1:-1]).max() < 2e-3 * np.abs(v).max()


# -- diffusion-reaction -------------------------------------------------------------------------
def test_diffusion_reaction_is_second_order():
    diffusivity, k = 0.1, 1.0

    def exact(x, t):
        return np.sin(np.pi * x) * np.sin(2 * t)

    def source(x, t):
        u = exact(x, t)
        return (2 * np.sin(np.pi * x) * np.cos(2 * t) + diffusivity * np.pi ** 2 * u
                + k * u ** 2)

    errors = []
    for n in (21, 41, 81):
        u = solve_diffusion_reaction(source, nx=n, nt=n, diffusivity=diffusivity, k=k)
        x, t = np.linspace(0, 1, n), np.linspace(0, 1, n)
        errors.append(np.abs(u - exact(x[None, :], t[:, None])).max())
    orders = [order(errors[0], errors[1]), order(errors[1], errors[2])]
    assert all(1.9 < p < 2.1 for p in orders), (errors, orders)


def test_diffusion_reaction_sample_converges_at_second_order():
    # DeepXDE's set-up (D = k = 0.01, RBF source): the same source on three grids
    outputs = [diffusion_reaction_sample(9, nx=n, nt=n)[1] for n in (26, 51, 101)]
    coarse = [outputs[0], outputs[1][::2, ::2], outputs[2][::4, ::4]]
    d1 = np.abs(coarse[0] - coarse[1]).max()
    d2 = np.abs(coarse[1] - coarse[2]).max()
    assert 1.8 < order(d1, d2) < 2.2, (d1, d2)
    assert np.all(outputs[2][0] == 0) and np.all(outputs[2][:, [0, -1]] == 0)


# -- data sets ----------------------------------------------------------------------------------
def test_generate_is_identical_across_process_counts(tmp_path):
    one = generate("darcy", 6, seed=11, processes=1, s=16, progress=False)
    two = generate("darcy", 6, seed=11, processes=2, s=16, progress=False)
    assert np.array_equal(one.inputs, two.inputs) and np.array_equal(one.outputs, two.outputs)
    for i in range(6):  # sample i is a function of (seed, i) alone
        a, u = darcy_sample(np.random.default_rng(np.random.SeedSequence([11, i])), s=16)
        assert np.array_equal(a, one.inputs[i]) and np.array_equal(u, one.outputs[i])
    assert not np.array_equal(one.inputs[0], one.inputs[1])


@pytest.mark.parametrize("kind,params", [
    ("darcy", dict(s=8)), ("burgers", dict(n=32)), ("antiderivative", dict(m=20)),
    ("diffusion_reaction", dict(nx=11, nt=11, m=10))])
def test_dataset_round_trip(tmp_path, kind, params):
    path = tmp_path / f"{kind}.npz"
    data = generate(kind, 2, seed=3, processes=1, path=path, progress=False, **params)
    back = load_dataset(path, kind=kind)
    assert back.kind == kind and back.seed == 3 and back.params == data.params
    assert np.array_equal(back.inputs, data.inputs)
    assert np.array_equal(back.outputs, data.outputs)
    assert back.grids.keys() == data.grids.keys()
    assert all(np.array_equal(back.grids[g], data.grids[g]) for g in data.grids)
    with pytest.raises(TidalArgumentError, match="holds"):
        load_dataset(path, kind="darcy" if kind != "darcy" else "burgers")


def test_data_errors_are_typed(tmp_path):
    with pytest.raises(TidalArgumentError, match="unknown data-set kind"):
        generate("navier_stokes", 2)
    with pytest.raises(TidalArgumentError, match="n_samples"):
        generate("darcy", -1)
    with pytest.raises(TidalArgumentError, match="no parameter"):
        generate("darcy", 1, resolution=16)
    with pytest.raises(TidalArgumentError, match="processes"):
        generate("darcy", 1, processes=0, s=8)
    with pytest.raises(TidalArgumentError):
        generate("burgers", 1, n=32, nu=0.0)
    np.savez(tmp_path / "other.npz", inputs=np.zeros(3))
    with pytest.raises(TidalArgumentError, match="not a tidal surrogate data set"):
        load_dataset(tmp_path / "other.npz")
    with pytest.raises(TidalError):
        save_dataset(tmp_path / "x.npz", {"inputs": 1})
