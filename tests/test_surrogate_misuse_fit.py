"""Misuse of the surrogate-in-the-loop model and of the data generators, from a user trial: each
mistake raises a TidalArgumentError naming what is wrong (and a hint), or behaves as documented.

OperatorModel: inf in the data, data with nothing observed, a loss before any observation, the
initial field's shape; td.fit's printed result without standard errors. Random fields: tau = 0
without sigma (a zero or infinite field), eigenvalues that underflow; seeds that are not ints.
"""

import math
import warnings

import numpy as np
import pytest

import tidal as td
from tidal.physics.fit import FitResult
from tidal.surrogates import (
    FNO,
    OperatorModel,
    antiderivative_sample,
    burgers_sample,
    darcy_sample,
    diffusion_reaction_sample,
    generate,
    grf_1d,
    grf_2d,
    grf_rbf,
    load_dataset,
    sample_rng,
    save_dataset,
)


@pytest.fixture(scope="module")
def net():
    td.init(arch="cpu", default_fp=td.f64)
    return FNO(1, modes=3, width=4, layers=1, projection=5, seed=1, dtype=td.f64)


def _model(net):
    x = np.arange(16) / 16
    return OperatorModel(net, 0.3 * np.sin(2 * np.pi * x), name="u0")


def _sparse(value=0.2):
    data = np.full(16, np.nan)
    data[::4] = value
    return data


# -- OperatorModel: the data ---------------------------------------------------------------------
def test_inf_in_data_is_refused_naming_the_count_and_first_index(net):
    model = _model(net)
    assert model.observe(_sparse()) == 4
    before, _ = model.loss_grad(["u0"])
    data = _sparse(0.7)
    data[5], data[9] = np.inf, -np.inf
    with pytest.raises(td.TidalArgumentError,
                       match=r"data contains 2 infinite values \(the first at data\[5\]\)") as e:
        model.observe(data)
    assert "NaN" in e.value.hint
    # the refused data did not replace the observations bound before
    assert model.loss_grad(["u0"])[0] == before
    one = _sparse()
    one[3] = np.inf
    with pytest.raises(td.TidalArgumentError, match=r"1 infinite value \(the first at data\[3\]"):
        td.fit(model, one, params=["u0"], progress=False)


def test_data_with_nothing_observed_is_refused(net):
    model = _model(net)
    with pytest.raises(td.TidalArgumentError, match="no observations") as e:
        model.observe(np.full(16, np.nan))
    assert "NaN" in e.value.hint
    with pytest.raises(td.TidalArgumentError, match="no observations"):
        model.observe(_sparse(), weights=np.zeros(16))
    # td.fit no longer "converges" with loss 0 after 0 iterations
    with pytest.raises(td.TidalArgumentError, match="no observations"):
        td.fit(model, np.full(16, np.nan), params=["u0"], progress=False)


def test_loss_before_observe_asks_for_observations(net):
    model = _model(net)
    with pytest.raises(td.TidalArgumentError, match="no data has been observed yet") as e:
        model.loss_grad(["u0"])
    assert "observe(" in e.value.hint
    model.observe(_sparse())
    loss, (grad,) = model.loss_grad(["u0"])
    pred = model.predict()
    assert loss == pytest.approx(np.sum((pred[::4] - 0.2) ** 2), rel=1e-13)
    assert grad.shape == (16,)


# -- OperatorModel: the input field --------------------------------------------------------------
def test_initial_field_errors_report_the_users_shape(net):
    with pytest.raises(td.TidalArgumentError,
                       match=r"input must be a single field of shape \(S,\) for this 1-D FNO "
                             r"with 1 input channel, got \(1, 16\)") as e:
        OperatorModel(net, np.zeros((1, 16)))
    assert "(1, 1, 16)" not in str(e.value)
    assert "batch axis" in e.value.hint
    two = FNO(2, modes=2, width=4, layers=1, projection=5, in_channels=2, dtype=td.f64)
    with pytest.raises(td.TidalArgumentError,
                       match=r"shape \(S1, S2, 2\) for this 2-D FNO with 2 input channels, "
                             r"got \(8, 8\)") as e:
        OperatorModel(two, np.zeros((8, 8)))
    assert "(1, 8, 8)" not in str(e.value)
    assert "one channel" not in str(e.value)
    assert OperatorModel(two, np.zeros((8, 8, 2))).observation_shape == (8, 8)
    # a grid too coarse for the kept modes is reported under the parameter's name
    with pytest.raises(td.TidalArgumentError, match=r"u0: a grid of 3 points has 2 real-DFT"):
        OperatorModel(net, np.zeros(3), name="u0")
    model = _model(net)
    bad = np.zeros(16)
    bad[[3, 7]] = np.nan
    with pytest.raises(td.TidalArgumentError,
                       match=r"u0 must be finite: it holds 2 NaN or inf values \(the first at "
                             r"u0\[3\]\)"):
        model.set("u0", bad)
    with pytest.raises(td.TidalArgumentError, match="data must be an array of numbers"):
        model.observe("abc")


# -- td.fit's printed result ---------------------------------------------------------------------
def test_fit_without_standard_errors_prints_the_values_alone(net):
    model = _model(net)
    result = td.fit(model, _sparse(), params=["u0"], max_iter=5, progress=False)
    text = str(result)
    assert np.all(np.isnan(result.stderr["u0"]))
    assert "+-" not in text and "nan" not in text
    assert "no standard errors" in text.splitlines()[0]
    values = ", ".join(f"{v:.10g}" for v in result.values["u0"])
    assert text.splitlines()[1] == f"  u0 = {values}"


def test_fit_result_with_standard_errors_still_prints_them():
    def result(stderr):
        return FitResult(values={"a": np.array([1.5, 2.0])}, stderr={"a": np.array(stderr)},
                         covariance=np.eye(2), correlation=np.eye(2), names=("a",), loss=0.0)
    assert str(result([0.25, 0.5])).splitlines()[1] == "  a = 1.5 +- 0.25, 2 +- 0.5"
    # NaN next to a computed one: that value is not determined by the data
    assert str(result([0.25, math.nan])).splitlines()[1] == "  a = 1.5 +- 0.25, 2 +- nan"
    assert "no standard errors" not in str(result([0.25, math.nan]))


# -- random fields: tau and alpha ----------------------------------------------------------------
def test_tau_zero_without_sigma_is_refused_everywhere():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (divide by zero) on the way
        for call in (lambda: generate("darcy", 3, s=8, tau=0, processes=1, progress=False),
                     lambda: darcy_sample(0, s=8, tau=0),
                     lambda: grf_2d(8, 0, tau=0.0),
                     lambda: burgers_sample(0, n=16, tau=0, sigma=None),
                     lambda: grf_1d(16, 0, tau=0, sigma=None)):
            with pytest.raises(td.TidalArgumentError,
                               match=r"tau=0 with sigma=None: .* identically zero") as e:
                call()
            assert "sigma" in e.value.hint and "tau > 0" in e.value.hint
        # alpha < d/2: the default amplitude is infinite (was a ZeroDivisionError)
        with pytest.raises(td.TidalArgumentError, match=r"is inf for alpha=0\.5, so the field "
                                                        r"would be infinite"):
            grf_2d(8, 0, alpha=0.5, tau=0)


def test_tau_zero_with_sigma_is_the_kl_sum_of_the_inverse_laplacian():
    s, alpha, sigma = 8, 2.0, 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        field = grf_2d(s, 3, alpha=alpha, tau=0, sigma=sigma)
        # alpha = d/2: the default amplitude tau^0 is 1
        assert np.array_equal(grf_1d(16, 4, alpha=0.5, tau=0, sigma=None),
                              grf_1d(16, 4, alpha=0.5, tau=0, sigma=1.0))
    k = np.arange(s)
    mu = np.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
    root = np.zeros((s, s))
    root[mu > 0] = sigma * mu[mu > 0] ** (-alpha / 2)
    x = np.linspace(0.0, 1.0, s)
    basis = np.cos(np.pi * np.outer(x, k)) * np.where(k > 0, np.sqrt(2.0), 1.0)
    xi = np.random.default_rng(3).standard_normal((s, s))
    np.testing.assert_allclose(field, basis @ (root * xi) @ basis.T, rtol=1e-12, atol=1e-15)
    assert np.abs(field).max() > 1e-3
    data = generate("darcy", 2, s=8, tau=0, sigma=1.0, processes=1, progress=False)
    assert set(np.unique(data.inputs)) == {3.0, 12.0}


def test_a_covariance_that_underflows_or_is_zero_is_refused():
    with pytest.raises(td.TidalArgumentError, match=r"zero on the modes kept for alpha=300.*"
                                                    r"identically zero"):
        grf_2d(8, 0, alpha=300)
    with pytest.raises(td.TidalArgumentError, match=r"the default amplitude .* is inf for "
                                                    r"alpha=400, tau=1e\+10 \(out of "
                                                    r"floating-point range\)"):
        grf_1d(16, 0, alpha=400, tau=1e10, sigma=None)
    # an explicit zero amplitude is the same all-zero field (all-12 Darcy coefficients)
    with pytest.raises(td.TidalArgumentError, match="sigma must be a finite number > 0, got 0"):
        darcy_sample(0, s=8, sigma=0)


# -- seeds ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", ["abc", -1, True, 1.5, None])
def test_samplers_require_an_int_seed(seed):
    for call in (lambda: darcy_sample(seed, s=8),
                 lambda: burgers_sample(seed, n=16),
                 lambda: antiderivative_sample(seed, m=10, n_fine=20),
                 lambda: diffusion_reaction_sample(seed, m=5, nx=5, nt=5, n_fine=20),
                 lambda: grf_rbf(8, seed)):
        with pytest.raises(td.TidalArgumentError,
                           match=r"rng must be a numpy.random.Generator or a seed \(an int "
                                 r">= 0\), got " + repr(seed).replace(".", r"\.")) as e:
            call()
        assert "default_rng(0)" in e.value.hint
    with pytest.raises(td.TidalArgumentError, match="seed must be an int >= 0"):
        sample_rng(seed, 0)


def test_samplers_accept_int_seeds_and_generators():
    a, u = darcy_sample(np.int64(5), s=8)
    a2, u2 = darcy_sample(np.random.default_rng(5), s=8)
    a3, _ = darcy_sample(np.random.SeedSequence(5), s=8)
    assert np.array_equal(a, a2) and np.array_equal(u, u2) and np.array_equal(a, a3)
    assert np.array_equal(burgers_sample(7, n=16)[0], grf_1d(16, 7))


def test_periodic_fields_need_a_grid_that_keeps_a_mode():
    # before: a 2-point periodic grid kept no mode (the Nyquist one is left out) and the
    # "random" field was identically zero
    with pytest.raises(td.TidalArgumentError, match="n must be an int >= 3"):
        grf_1d(2, 0)
    with pytest.raises(td.TidalArgumentError, match="s must be an int >= 3"):
        grf_2d(2, 0, boundary="periodic")
    assert np.abs(grf_1d(3, 0)).max() > 0
    assert np.abs(grf_2d(2, 0)).max() > 0  # Neumann: cosine modes, 2 points are enough


def test_data_set_paths_are_handled_as_checkpoints_are(tmp_path):
    # before: FileNotFoundError for the path save was given without .npz, IsADirectoryError for
    # a folder, FileNotFoundError for a folder that does not exist yet
    data = generate("antiderivative", 2, m=10, progress=False)
    path = tmp_path / "new" / "anti"
    save_dataset(path, data)
    back = load_dataset(path, kind="antiderivative")
    np.testing.assert_array_equal(back.inputs, data.inputs)
    np.testing.assert_array_equal(back.outputs, data.outputs)
    assert back.grids.keys() == data.grids.keys()
    with pytest.raises(td.TidalArgumentError, match="is a folder, not a file"):
        load_dataset(tmp_path / "new")
    with pytest.raises(td.TidalArgumentError, match="nope not found"):
        load_dataset(tmp_path / "nope")
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    with pytest.raises(td.TidalArgumentError, match="not a tidal surrogate data set"):
        load_dataset(tmp_path / "plain.npz")
