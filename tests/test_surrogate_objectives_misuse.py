"""Mistakes a user makes with the surrogates' objectives (Supervised, PhysicsInformed) and the
Trainer around them, found by a fresh user's trial: each ends in a TidalArgumentError that says
what to do, never in a crash or a silently wrong number."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import FNO, DeepONet, PhysicsInformed, Supervised


def laplacian():
    @td.func
    def lap(u_xx: td.f64, f: td.f64) -> td.f64:
        return u_xx - f

    return lap


def pi_objective(n=6):
    net = DeepONet(3, 1, width=5, p=3, dtype=td.f64, activation="tanh", seed=1)
    rng = np.random.default_rng(0)
    inputs, points = rng.normal(size=(n, 3)), rng.uniform(size=(4, 1))
    forcing = rng.normal(size=(n, 4))
    return net, PhysicsInformed(net, laplacian(), inputs, points, variables=("x",),
                                forcing=forcing)


def test_residual_rows_out_of_range_are_refused_not_read(cpu64):
    # before: [0, 100] returned garbage for row 1, a row of 10**6 killed the process
    net, pi = pi_objective()
    for rows in ([0, 100], [20, 25, 1000000], [-7]):
        with pytest.raises(td.TidalArgumentError, match="outside the 6 functions"):
            pi.residual(net.get_flat(), rows)
    for rows in ([1.5], [], [[0, 1]], "ab", [True]):
        with pytest.raises(td.TidalArgumentError, match="rows must be a non-empty 1-D"):
            pi.residual(net.get_flat(), rows)
    with pytest.raises(td.TidalArgumentError, match="outside"):
        pi.value(net.get_flat(), rows=[6])


def test_negative_rows_count_from_the_end_as_in_numpy(cpu64):
    net, pi = pi_objective()
    whole = pi.residual(net.get_flat())
    np.testing.assert_array_equal(pi.residual(None, [-1, 0]), whole[[5, 0]])
    assert pi.value(net.get_flat(), rows=[-1]) == pytest.approx(
        pi.value(net.get_flat(), rows=[5]), rel=1e-15)


def test_batch_size_is_checked_the_same_everywhere(cpu64):
    net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
    s = Supervised(net, np.ones((5, 4)), [0.0, 1.0], np.ones((5, 2)), batch_size=2)
    for bad in (0, -2, 2.5, "a", True):
        with pytest.raises(td.TidalArgumentError, match="batch_size must be a positive int"):
            s.set_batch_size(bad)
    assert s.batch_size == 2  # unchanged by the refused calls
    s.set_batch_size(50)
    assert (s.batch_size, s.batches_per_epoch) == (5, 1)
    _, pi = pi_objective()
    with pytest.raises(td.TidalArgumentError, match="batch_size must be a positive int"):
        pi.set_batch_size(0)


def test_normalisers_changed_after_supervised_are_refused(cpu64):
    # before: training reached a loss of 3e-7 and predict was 99.5 % wrong, silently
    rng = np.random.default_rng(0)
    a, u = rng.normal(size=(4, 8)), 50.0 * rng.normal(size=(4, 8))
    net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
    train = Supervised(net, a, outputs=u, batch_size=2)
    net.set_normalisers(output_scale=u.std())
    with pytest.raises(td.TidalArgumentError, match="normalisers changed after this "
                                                    "Supervised was made"):
        train.value_and_grad(net.get_flat())
    with pytest.raises(td.TidalArgumentError, match="make the Supervised again"):
        train.mse(net.get_flat())
    # made again, it trains on outputs / scale: the loss is the scaled one
    again = Supervised(net, a, outputs=u, loss="mse")
    scaled = net.predict(a) / u.std()
    assert again.value(net.get_flat()) == pytest.approx(
        np.mean((scaled - u / u.std()) ** 2), rel=1e-10)


def test_lbfgs_refuses_an_objective_that_draws_mini_batches(cpu64):
    # before: "converged" after one iteration at a higher loss (0.156 -> 0.193)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20, 4))
    x = np.linspace(0.0, 1.0, 5)
    out = v[:, :1] * x + v[:, 1:2]
    net = DeepONet(4, 1, width=8, p=4, dtype=td.f64, activation="tanh", seed=0)
    s = Supervised(net, v, x, out, batch_size=10)
    t = Trainer(s, net.get_flat(), progress=False)
    with pytest.raises(td.TidalArgumentError, match="L-BFGS needs the same loss") as info:
        t.lbfgs(max_iter=20)
    assert "set_batch_size(None)" in info.value.hint
    s.set_batch_size(None)
    start = s.value(t.params)
    t.lbfgs(max_iter=20)
    assert s.value(t.params) < 0.5 * start


def test_physics_informed_names_forcing_name_for_an_unknown_parameter(cpu64):
    @td.func
    def pde(u_xx: td.f64, source: td.f64) -> td.f64:
        return u_xx - source

    net = DeepONet(3, 1, width=4, p=2, dtype=td.f64, activation="tanh")
    with pytest.raises(td.TidalArgumentError, match="input function's value `f`") as info:
        PhysicsInformed(net, pde, np.ones((2, 3)), np.ones((3, 1)), variables=("x",),
                        forcing=np.ones((2, 3)))
    assert "forcing_name='source'" in info.value.hint
    assert "Unknown(" not in info.value.hint
