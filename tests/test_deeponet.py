"""DeepONet and its supervised objective: the network equals a NumPy re-implementation from the
same flat parameters, the cartesian and pointwise forms agree, the loss gradient equals central
differences, mini-batches are deterministic and cover the data, short training lowers the test
error, and bad shapes are refused with a TidalArgumentError."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tidal as td
from tidal.solvers import ExponentialDecay, Trainer
from tidal.surrogates import DeepONet, Supervised, generate

M, WIDTH, P = 6, 7, 5


def numpy_mlp(flat, in_dim, width, depth, out_dim, act, x):
    """An MLP of the flat layout of tidal.solvers.MLP (inputs unscaled), rows of ``x``."""
    k = 0

    def take(*shape):
        nonlocal k
        n = int(np.prod(shape))
        out = flat[k:k + n].reshape(shape)
        k += n
        return out

    W0, b0 = take(width, in_dim), take(width)
    W, b = (take(depth - 1, width, width), take(depth - 1, width)) if depth > 1 else ((), ())
    Wout, bout = take(out_dim, width), take(out_dim)
    h = act(x @ W0.T + b0)
    for layer in range(depth - 1):
        h = act(h @ W[layer].T + b[layer])
    return h @ Wout.T + bout, k


def numpy_deeponet(net, v, y, act):
    flat = net.get_flat()
    b, used = numpy_mlp(flat, net.m, net.branch.width, net.branch.depth, net.p, act, v)
    t, used2 = numpy_mlp(flat[used:], net.trunk_dim, net.trunk.width, net.trunk.depth, net.p,
                         act, y)
    assert used + used2 + 1 == net.size
    return b @ act(t).T + flat[-1]


ACTS = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_output_equals_numpy_and_the_forms_agree(cpu64, activation):
    net = DeepONet(M, 2, width=WIDTH, depth=2, p=P, activation=activation, seed=3,
                   dtype=td.f64)
    rng = np.random.default_rng(0)
    net.set_flat(rng.normal(scale=0.5, size=net.size))  # b0 and biases nonzero too
    v, y = rng.normal(size=(4, M)), rng.uniform(-1, 1, size=(9, 2))
    cartesian = net.predict(v, y)
    np.testing.assert_allclose(cartesian, numpy_deeponet(net, v, y, ACTS[activation]),
                               rtol=1e-12, atol=1e-12)
    pairs_v, pairs_y = np.repeat(v, len(y), axis=0), np.tile(y, (len(v), 1))
    pointwise = net.predict_pointwise(pairs_v, pairs_y).reshape(len(v), len(y))
    np.testing.assert_allclose(pointwise, cartesian, rtol=1e-12, atol=1e-12)
    # the flat vector is the branch's, the trunk's and b0, in that order
    flat = net.get_flat()
    np.testing.assert_array_equal(flat[:net.branch.size], net.branch.get_flat())
    np.testing.assert_array_equal(flat[net.branch.size:-1], net.trunk.get_flat())


def test_func_sits_inside_other_tidal_code(cpu64):
    """``net.func`` is a tidal function of (sensor values, point): its y-derivative by td.grad
    equals central differences of predict."""
    net = DeepONet(M, 1, width=WIDTH, depth=1, p=P, activation="tanh", seed=1, dtype=td.f64)
    du = td.grad(net.func, argnums=1)
    v = np.random.default_rng(2).normal(size=(1, M))
    ys = np.linspace(0.1, 0.9, 5)
    got = np.asarray(td.vectorize(du)(np.repeat(v, len(ys), axis=0), ys[:, None]))
    h = 1e-6
    fd = (net.predict(v, ys + h) - net.predict(v, ys - h))[0] / (2 * h)
    np.testing.assert_allclose(got.reshape(-1), fd, rtol=1e-6, atol=1e-9)


def small_data(n, n_points=8, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, M))
    y = np.linspace(0, 1, n_points)
    return v, y, np.sin(v[:, :1] + y) * v[:, 1:2]


# (the relative L2 loss's gradient stays in CI through the stacked form's test)
@pytest.mark.parametrize("loss", ["mse", pytest.param("relative_l2", marks=pytest.mark.slow)])
def test_gradient_equals_central_differences(cpu64, loss):
    net = DeepONet(M, 1, width=WIDTH, depth=2, p=P, activation="tanh", seed=0, dtype=td.f64)
    v, y, u = small_data(5)
    objective = Supervised(net, v, y, u, loss=loss)
    flat = net.get_flat() + np.random.default_rng(1).normal(scale=0.1, size=net.size)
    value, grad = objective.value_and_grad(flat)
    assert value == pytest.approx(objective.value(flat), rel=1e-13)
    pred = net.predict(v, y)
    expected = np.mean((pred - u) ** 2) if loss == "mse" else np.mean(
        np.linalg.norm(pred - u, axis=1) / np.linalg.norm(u, axis=1))
    assert value == pytest.approx(expected, rel=1e-12)
    h = 1e-6
    fd = np.empty(net.size)
    for i in range(net.size):
        e = np.zeros(net.size)
        e[i] = h
        fd[i] = (objective.value(flat + e) - objective.value(flat - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_minibatches_are_deterministic_cover_the_data_and_change_the_version(cpu64):
    net = DeepONet(M, 1, width=WIDTH, depth=1, p=P, dtype=td.f64)
    v, y, u = small_data(10)
    a = Supervised(net, v, y, u, batch_size=4, seed=7)
    b = Supervised(net, v, y, u, batch_size=4, seed=7)
    assert a.batches_per_epoch == 3
    for epoch in range(3):
        ks = range(3 * epoch, 3 * epoch + 3)
        rows = [a.batch(k) for k in ks]
        assert [len(r) for r in rows] == [4, 4, 2]
        assert sorted(np.concatenate(rows).tolist()) == list(range(10))
        assert all(np.array_equal(r, b.batch(k)) for r, k in zip(rows, ks))
    assert not np.array_equal(a.batch(0), a.batch(3))  # a new permutation per epoch
    assert not np.array_equal(a.batch(0), Supervised(net, v, y, u, batch_size=4,
                                                     seed=8).batch(0))
    # each evaluation uses the next batch: its loss is that batch's MSE, its gradient (first
    # batch) that of an objective holding the batch alone
    flat = net.get_flat()
    pred = net.predict(v, y)
    versions = []
    for k in range(4):
        rows = a.batch(k)
        value, grad = a.value_and_grad(flat)
        assert value == pytest.approx(np.mean((pred[rows] - u[rows]) ** 2), rel=1e-12)
        if k == 0:
            ref_value, ref_grad = Supervised(net, v[rows], y, u[rows]).value_and_grad(flat)
            assert value == pytest.approx(ref_value, rel=1e-13)
            np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)
        versions.append(a.version)
    assert versions == [1, 2, 3, 4] and a.batches == 4
    full = Supervised(net, v, y, u)
    full.value_and_grad(flat)
    assert full.version == 0  # a full batch never changes


def test_short_training_lowers_the_test_error(cpu64):
    """Antiderivative with 10 sensors, 40 training functions, 300 Adam steps (mini-batches of
    10): the test MSE falls from 0.43 to 0.012 (bound 0.03)."""
    train = generate("antiderivative", 40, seed=0, m=10, n_fine=200, progress=False,
                     processes=1)
    test = generate("antiderivative", 40, seed=1, m=10, n_fine=200, progress=False,
                    processes=1)
    x = train.grids["x"]
    net = DeepONet(10, 1, width=20, depth=1, p=20, activation="tanh", seed=0, dtype=td.f64)
    objective = Supervised(net, train.inputs, x, train.outputs, batch_size=10, seed=0)
    test_objective = Supervised(net, test.inputs, x, test.outputs)
    before = test_objective.mse(net.get_flat())
    trainer = Trainer(objective, net.get_flat(), progress=False, log_every=50,
                      validation=test_objective.mse)
    trainer.adam(300, lr=3e-3, schedule=ExponentialDecay(0.5, every=150))
    after = test_objective.mse(trainer.params)
    assert after == pytest.approx(trainer.best_value, rel=1e-12)
    assert before > 0.1 and after < 0.03, (before, after)


def test_bad_shapes_and_arguments_are_refused(cpu64):
    net = DeepONet(M, 1, width=WIDTH, depth=1, p=P, dtype=td.f64)
    v, y, u = small_data(3)
    with pytest.raises(td.TidalError, match=r"inputs must have shape \(n, 6\)"):
        net.predict(np.zeros((3, M + 1)), y)
    with pytest.raises(td.TidalError, match=r"points must have shape \(N, 1\)"):
        net.predict(v, np.zeros((4, 2)))
    with pytest.raises(td.TidalError, match="outputs must have shape"):
        Supervised(net, v, y, u.T)
    with pytest.raises(td.TidalError, match="NaN"):
        Supervised(net, v, y, u * np.nan)
    with pytest.raises(td.TidalError, match="batch_size"):
        Supervised(net, v, y, u, batch_size=0)
    with pytest.raises(td.TidalError, match="loss must be one of"):
        Supervised(net, v, y, u, loss="l1")
    with pytest.raises(td.TidalError, match="pairs rows"):
        net.predict_pointwise(v, np.zeros((2, 1)))
    with pytest.raises(td.TidalError, match="unknown activation"):
        DeepONet(M, 1, activation="gelu")
    with pytest.raises(td.TidalError, match="branch_sensors"):
        DeepONet(0, 1)
    with pytest.raises(td.TidalError, match="form"):
        DeepONet(M, 1, form="stacked_twice")
    with pytest.raises(td.TidalError, match=f"expected {net.size} parameters"):
        net.set_flat(np.zeros(net.size + 1))


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "deeponet_antiderivative.py"


def example():
    """Import ``examples/deeponet_antiderivative.py`` as a module."""
    spec = importlib.util.spec_from_file_location("example_deeponet_antiderivative", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_setups_and_a_shrunk_run(cpu64, tmp_path):
    """The example's two set-ups (tidal's default: 1,000 functions in batches of 150, lr 2e-3
    then 5e-4; DeepXDE's: 150, full batch, 1e-3), and the tidal set-up shrunk (10 sensors, 100
    functions in batches of 15, 300 iterations at 3e-3 then 7.5e-4): test MSE measured 4.1e-3
    (bound 1e-2)."""
    mod = example()
    default, deepxde = mod.parse_args([]), mod.parse_args(["--setup", "deepxde"])
    assert (default.train, default.batch, default.lr, default.schedule) == (1000, 150, 2e-3,
                                                                            "step")
    assert (deepxde.train, deepxde.batch, deepxde.lr, deepxde.schedule) == (150, None, 1e-3,
                                                                            "none")
    out = mod.run(mod.parse_args(["--sensors", "10", "--train", "100", "--batch", "15",
                                  "--test", "50", "--width", "20", "--iterations", "300",
                                  "--lr", "3e-3", "--no-figure", "--out", str(tmp_path)]))
    assert out["steps"] == 300 and out["test_mse"] < 1e-2, out["test_mse"]
