"""The stacked DeepONet (p branch networks of one output each): predictions equal a NumPy
evaluation from the flat parameters, func/predict/predict_pointwise agree, the Supervised and
physics-informed gradients equal float64 central differences, save/load round-trips, and an
unstacked checkpoint is refused."""

import numpy as np
import pytest

import tidal as td
from tidal.surrogates import DeepONet, PhysicsInformed, Supervised, diffusion_reaction_residual

from .test_deeponet import numpy_mlp

M, WIDTH, P = 5, 6, 3


def numpy_stacked(net, v, y, act):
    """sum_k branch_k(v) act(trunk(y))_k + b0 from get_flat()'s layout: the p branch MLPs of
    one output, the trunk, b0."""
    flat = net.get_flat()
    used = 0
    b = np.empty((len(v), net.p))
    for k in range(net.p):
        out, n = numpy_mlp(flat[used:], net.m, WIDTH, 2, 1, act, v)
        b[:, k] = out[:, 0]
        used += n
    t, n = numpy_mlp(flat[used:], net.trunk_dim, WIDTH + 1, 1, net.p, act, y)
    assert used + n + 1 == net.size
    return b @ act(t).T + flat[-1]


def stacked(seed=0, activation="tanh"):
    net = DeepONet(M, 2, width=(WIDTH, WIDTH + 1), depth=(2, 1), p=P, activation=activation,
                   seed=seed, dtype=td.f64, form="stacked")
    rng = np.random.default_rng(seed)
    net.set_flat(rng.normal(scale=0.5, size=net.size))
    return net, rng


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_stacked_output_equals_numpy(cpu64, activation):
    net, rng = stacked(activation=activation)
    act = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}[activation]
    v, y = rng.normal(size=(4, M)), rng.uniform(-1, 1, size=(7, 2))
    expected = numpy_stacked(net, v, y, act)
    np.testing.assert_allclose(net.predict(v, y), expected, rtol=0, atol=1e-12)
    rows, cols = np.repeat(np.arange(4), 7), np.tile(np.arange(7), 4)
    np.testing.assert_allclose(net.predict_pointwise(v[rows], y[cols]),
                               expected.reshape(-1), rtol=0, atol=1e-12)
    # the flat vector is branch 0, ..., branch p-1, trunk, b0; each branch its own MLP
    flat = net.get_flat()
    sizes = [b.size for b in net.branch.nets]
    assert len(sizes) == P and net.size == sum(sizes) + net.trunk.size + 1
    np.testing.assert_array_equal(flat[:sizes[0]], net.branch.nets[0].get_flat())
    np.testing.assert_array_equal(flat[sum(sizes):-1], net.trunk.get_flat())
    for k, branch in enumerate(net.branch.nets):
        np.testing.assert_allclose(net.features(v, y)[0][:, k], branch.predict(v), atol=1e-13)


def test_stacked_initialisation_differs_per_branch(cpu64):
    net = DeepONet(M, 1, width=4, p=3, dtype=td.f64, form="stacked", seed=2)
    firsts = [b.get_flat()[:4] for b in net.branch.nets]
    assert not np.allclose(firsts[0], firsts[1]) and not np.allclose(firsts[1], firsts[2])
    again = DeepONet(M, 1, width=4, p=3, dtype=td.f64, form="stacked", seed=2)
    np.testing.assert_array_equal(net.get_flat(), again.get_flat())


@pytest.mark.parametrize("loss", ["mse", "relative_l2"])
def test_stacked_supervised_gradient_equals_central_differences(cpu64, loss):
    net, rng = stacked(seed=1)
    v, y = rng.normal(size=(3, M)), rng.uniform(-1, 1, size=(6, 2))
    out = rng.normal(size=(3, 6))
    data = Supervised(net, v, y, out, loss=loss)
    flat = net.get_flat()
    value, grad = data.value_and_grad(flat)
    pred = numpy_stacked(net, v, y, np.tanh)
    if loss == "mse":
        assert value == pytest.approx(np.mean((pred - out) ** 2), rel=1e-12)
    h = 1e-6
    fd = np.empty(net.size)
    for i in range(net.size):
        e = np.zeros(net.size)
        e[i] = h
        fd[i] = (data.value(flat + e) - data.value(flat - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_stacked_physics_informed_gradient(cpu64):
    net, rng = stacked(seed=3)
    v, pts, f = rng.normal(size=(2, M)), rng.uniform(0.1, 0.9, size=(5, 2)), rng.normal(
        size=(2, 5))
    obj = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts, f)
    flat = net.get_flat()
    h = 1e-4

    def u(dx=0.0, dt=0.0):
        return net.predict(v, pts + np.array([dx, dt]))
    u0 = u()
    res = ((u(0, h) - u(0, -h)) / (2 * h) - 0.01 * (u(h) - 2 * u0 + u(-h)) / h ** 2
           + 0.01 * u0 ** 2 - f)
    np.testing.assert_allclose(obj.residual(), res, rtol=1e-6, atol=1e-7)
    value, grad = obj.value_and_grad(flat)
    assert value == pytest.approx(np.mean(obj.residual() ** 2), rel=1e-12)
    d = rng.normal(size=net.size)
    fd = (obj.value(flat + 1e-6 * d) - obj.value(flat - 1e-6 * d)) / 2e-6
    assert abs(grad @ d - fd) <= 1e-6 * abs(fd) + 1e-9


def test_stacked_save_load_and_architecture_check(cpu64, tmp_path):
    net, rng = stacked(seed=4)
    path = tmp_path / "stacked.npz"
    net.save(path)
    other = DeepONet(M, 2, width=(WIDTH, WIDTH + 1), depth=(2, 1), p=P, activation="tanh",
                     seed=9, dtype=td.f64, form="stacked")
    other.load(path)
    np.testing.assert_array_equal(other.get_flat(), net.get_flat())
    v, y = rng.normal(size=(2, M)), rng.uniform(-1, 1, size=(3, 2))
    np.testing.assert_array_equal(other.predict(v, y), net.predict(v, y))
    unstacked = DeepONet(M, 2, width=(WIDTH, WIDTH + 1), depth=(2, 1), p=P, activation="tanh",
                         dtype=td.f64)
    flat_path = tmp_path / "unstacked.npz"
    unstacked.save(flat_path)
    with pytest.raises(td.TidalArgumentError, match="stacked"):
        other.load(flat_path)
    with pytest.raises(td.TidalArgumentError, match="unstacked"):
        unstacked.load(path)


def test_stacked_bad_arguments(cpu64):
    with pytest.raises(td.TidalArgumentError, match="p >= 2"):
        DeepONet(M, 1, p=1, form="stacked")
    with pytest.raises(td.TidalArgumentError, match="form"):
        DeepONet(M, 1, form="stacked_twice")
