"""Physics-informed DeepONet: the residual equals finite differences of the DeepONet's
predictions, its jets equal td.taylor of DeepONet.func in y, the loss is the documented mean of
squares and its gradient equals central differences, the sources are the generator's, a short
training run lowers the loss, and bad input is refused with a TidalArgumentError."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import (
    DeepONet,
    PhysicsInformed,
    PointCondition,
    diffusion_reaction_points,
    diffusion_reaction_residual,
    diffusion_reaction_sources,
    generate,
)
from tidal.surrogates.physics_informed import trunk_features

M = 6


@td.func
def mixed(u: td.f64, u_x: td.f64, u_xt: td.f64, u_tt: td.f64, x: td.f64, t: td.f64,
          f: td.f64) -> td.f64:
    return u_xt + x * u_x - t * u_tt + u * f


def small(activation="tanh", depth=2, seed=0):
    net = DeepONet(M, 2, width=7, depth=depth, p=5, activation=activation, seed=seed,
                   dtype=td.f64)
    rng = np.random.default_rng(seed)
    net.set_flat(rng.normal(scale=0.5, size=net.size))  # biases and b0 nonzero too
    v = rng.normal(size=(3, M))
    pts = rng.uniform(0.1, 0.9, size=(8, 2))
    return net, v, pts, rng.normal(size=(3, 8))


def derivatives(net, v, pts, h=1e-4):
    """u, u_x, u_t, u_xx, u_tt, u_xt of predict by central differences."""
    def u(dx=0.0, dt=0.0):
        return net.predict(v, pts + np.array([dx, dt]))
    u0 = u()
    return dict(u=u0, u_x=(u(h) - u(-h)) / (2 * h), u_t=(u(0, h) - u(0, -h)) / (2 * h),
                u_xx=(u(h) - 2 * u0 + u(-h)) / h ** 2, u_tt=(u(0, h) - 2 * u0 + u(0, -h)) / h ** 2,
                u_xt=(u(h, h) - u(h, -h) - u(-h, h) + u(-h, -h)) / (4 * h ** 2))


def test_residual_equals_finite_differences_of_the_prediction(cpu64):
    net, v, pts, f = small()
    d = derivatives(net, v, pts)
    dr = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts, f)
    expected = d["u_t"] - 0.01 * d["u_xx"] + 0.01 * d["u"] ** 2 - f
    np.testing.assert_allclose(dr.residual(), expected, rtol=1e-6, atol=1e-8)
    # mixed derivative (by polarisation), a second time derivative, coordinates, rows
    other = PhysicsInformed(net, mixed, v, pts, f)
    x, t = pts[:, 0], pts[:, 1]
    expected = d["u_xt"] + x * d["u_x"] - t * d["u_tt"] + d["u"] * f
    np.testing.assert_allclose(other.residual(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(other.residual(rows=[2, 0]), expected[[2, 0]], rtol=1e-6,
                               atol=1e-7)


def test_jets_equal_taylor_of_the_deeponet_in_y(cpu64):
    """The cartesian evaluation (branch per function, Taylor pass of the trunk features per
    point) equals td.taylor of DeepONet.func along y at every pair."""
    net, v, pts, f = small()
    jet = td.taylor(net.func, order=(2, 1), argnums=1)
    rows, cols = np.repeat(np.arange(len(v)), len(pts)), np.tile(np.arange(len(pts)), len(v))
    ex = np.tile([1.0, 0.0], (len(rows), 1))
    et = np.tile([0.0, 1.0], (len(rows), 1))
    got = td.vectorize(jet)(v[rows], pts[cols], ex, et)
    u, u_x, u_xx, u_t = (np.asarray(g).reshape(len(v), len(pts)) for g in got)
    dr = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts, f)
    np.testing.assert_allclose(dr.residual(), u_t - 0.01 * u_xx + 0.01 * u * u - f,
                               rtol=1e-12, atol=1e-12)
    # the trunk features function is the DeepONet's trunk: the prediction from it
    feats = np.asarray(td.vectorize(trunk_features(net))(pts))
    b, t = net.features(v, pts)
    np.testing.assert_allclose(feats, t, rtol=1e-13, atol=1e-13)


def test_loss_is_the_mean_of_squares_and_its_gradient_equals_central_differences(cpu64):
    net, v, pts, f = small(depth=1, seed=3)
    bc = PointCondition(np.c_[[0.0, 1.0, 0.0], [0.2, 0.5, 0.7]], 0.0, "bc", weight=2.0)
    values = np.arange(6.0).reshape(3, 2) / 10
    ic = PointCondition(np.c_[[0.3, 0.6], [0.0, 0.0]], values, "ic")
    obj = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts, f, [bc, ic],
                          pde_weight=0.5)
    flat = net.get_flat()
    value, grad = obj.value_and_grad(flat)
    res = obj.residual()
    expected = (0.5 * np.mean(res ** 2) + 2.0 * np.mean(net.predict(v, bc.points) ** 2)
                + np.mean((net.predict(v, ic.points) - values) ** 2))
    assert value == pytest.approx(expected, rel=1e-12)
    assert obj.value(flat) == pytest.approx(value, rel=1e-13)
    assert obj.labels == ["pde", "bc", "ic"]
    assert set(obj.describe(flat)) == {"loss_pde", "loss_bc", "loss_ic"}
    h = 1e-6
    fd = np.empty(net.size)
    for i in range(net.size):
        e = np.zeros(net.size)
        e[i] = h
        fd[i] = (obj.value(flat + e) - obj.value(flat - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    # a batch's loss and gradient are those of an objective holding the batch alone
    batched = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts, f,
                              [bc, ic], pde_weight=0.5, batch_size=2, seed=4)
    rows = batched.batch(0)
    b_value, b_grad = batched.value_and_grad(flat)
    alone = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v[rows], pts,
                            f[rows], [bc, PointCondition(ic.points, values[rows], "ic")],
                            pde_weight=0.5)
    a_value, a_grad = alone.value_and_grad(flat)
    assert b_value == pytest.approx(a_value, rel=1e-12) and batched.version == 1
    np.testing.assert_allclose(b_grad, a_grad, rtol=1e-11, atol=1e-14)


def test_sources_are_the_generators_functions():
    pts, _, _ = diffusion_reaction_points(30, 6, 4, seed=1)
    sensors, values = diffusion_reaction_sources(3, seed=5, at=pts[:, 0], first=1)
    data = generate("diffusion_reaction", 4, seed=5, nx=11, nt=3, processes=1, progress=False)
    np.testing.assert_array_equal(sensors, data.inputs[1:])
    # at the sensors themselves the values are the sensor values
    _, at_sensors = diffusion_reaction_sources(2, seed=5, at=np.linspace(0, 1, 50))
    np.testing.assert_allclose(at_sensors, data.inputs[:2], rtol=0, atol=1e-14)
    assert values.shape == (3, 40)


def test_short_training_lowers_the_loss_and_the_error(cpu64):
    """DeepXDE's diffusion-reaction set-up at a small size: 40 functions, 60 + 10 + 10 points,
    300 Adam steps (batches of 10) take the loss from 1.38 to 0.19 (bound: 0.2x) and the mean
    relative L2 error against the finite-difference reference of 5 test functions from 1.83 to
    0.45 (bound 0.6)."""
    pts, bnd, ini = diffusion_reaction_points(60, 10, 10, seed=0)
    sensors, forcing = diffusion_reaction_sources(40, seed=0, at=pts[:, 0], m=20)
    net = DeepONet(20, 2, width=20, depth=2, p=20, activation="tanh", dtype=td.f64)
    obj = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), sensors, pts, forcing,
                          [PointCondition(bnd, 0.0, "bc"), PointCondition(ini, 0.0, "ic")],
                          batch_size=10)
    test = generate("diffusion_reaction", 5, seed=1, m=20, nx=21, nt=21, processes=1,
                    progress=False)
    grid = np.stack(np.meshgrid(test.grids["x"], test.grids["t"]), axis=-1).reshape(-1, 2)
    u = test.outputs.reshape(5, -1)

    def error(flat):
        net.set_flat(flat)
        return float(np.mean(np.linalg.norm(net.predict(test.inputs, grid) - u, axis=1)
                             / np.linalg.norm(u, axis=1)))

    flat0 = net.get_flat()
    before, error0 = obj.value(flat0), error(flat0)
    trainer = Trainer(obj, flat0, progress=False, log_every=50, validation=error)
    trainer.adam(300, lr=3e-3)
    after = obj.value(trainer.params)
    assert before > 1.0 and after < 0.2 * before, (before, after)
    assert error0 > 1.0 and trainer.best_value < 0.6, (error0, trainer.best_value)


def test_bad_input_is_refused(cpu64):
    net, v, pts, f = small()
    residual = diffusion_reaction_residual(0.01, 0.01)
    with pytest.raises(td.TidalError, match="forcing="):
        PhysicsInformed(net, residual, v, pts)
    with pytest.raises(td.TidalError, match=r"forcing must have shape \(n, N\) = \(3, 8\)"):
        PhysicsInformed(net, residual, v, pts, f.T)
    with pytest.raises(td.TidalError, match="name 1 trunk inputs"):
        PhysicsInformed(net, residual, v, pts, f, variables=("x",))
    with pytest.raises(td.TidalError, match=r"inputs must have shape \(n, 6\)"):
        PhysicsInformed(net, residual, v[:, :3], pts, f)
    with pytest.raises(td.TidalError, match="must be a tidal function"):
        PhysicsInformed(net, lambda u: u, v, pts, f)
    with pytest.raises(td.TidalError, match="values must be"):
        PhysicsInformed(net, residual, v, pts, f, [PointCondition(pts[:2], np.zeros(3))])
    with pytest.raises(td.TidalError, match="labels must differ"):
        PhysicsInformed(net, residual, v, pts, f, [PointCondition(pts[:2], 0.0, "pde")])
    with pytest.raises(td.TidalError, match="batch_size"):
        PhysicsInformed(net, residual, v, pts, f, batch_size=0)
    with pytest.raises(td.TidalError, match="u_y"):
        PhysicsInformed(net, bad_name, v, pts, f)


@td.func
def bad_name(u_y: td.f64) -> td.f64:
    return u_y
