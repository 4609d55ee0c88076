"""PINN building blocks on the tidal engine: the MLP as a tidal function and the Burgers loss
with its parameter gradient, against an independent float64 reference (analytic forward-mode
derivatives of the network in NumPy, ``benchmarks/pinn_peers.numpy_loss``), central finite
differences and, when installed, PyTorch in float32."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import tidal as td
from tidal.solvers import MLP
from tidal.solvers.burgers import burgers_problem

from .reference import assert_close

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import pinn_peers  # noqa: E402


def burgers(points, fp=td.f64):
    net = MLP(2, width=20, depth=8, dtype=fp)
    loss = burgers_problem(net, np.stack([points["x_f"], points["t_f"]], 1),
                       np.stack([points["x_b"], points["t_b"]], 1), points["u_b"])
    return net, loss


@pytest.fixture(scope="module")
def problem():
    params = pinn_peers.init_params(seed=3)
    points = pinn_peers.burgers_points(n_f=300, n_b=40, seed=1)
    return params, points, pinn_peers.flat_from_layers(params)


def test_mlp_parameters_round_trip_and_checkpoints(tmp_path):
    net = MLP(3, width=5, depth=3, activation="sin", seed=4, dtype=td.f64)
    assert net.size == 5 * 3 + 5 + 2 * (25 + 5) + 5 + 1
    flat = net.get_flat()
    net.set_flat(flat * 2)
    assert_close(net.get_flat(), flat * 2, rtol=0, what="set_flat/get_flat")
    net.save(tmp_path / "net.npz")
    other = MLP(3, width=5, depth=3, activation="sin", seed=9, dtype=td.f64)
    other.load(tmp_path / "net.npz")
    assert np.array_equal(other.get_flat(), flat * 2)
    pts = np.random.default_rng(0).uniform(-1, 1, (7, 3))
    assert np.array_equal(other.predict(pts), net.predict(pts))
    with pytest.raises(td.TidalError, match="holds a network"):
        MLP(3, width=6, depth=3, activation="sin", dtype=td.f64).load(tmp_path / "net.npz")


def test_mlp_input_scaling_and_bad_arguments():
    net = MLP(1, width=3, depth=1, lo=[2.0], hi=[4.0], dtype=td.f64)
    w0, b0 = net.W0.to_numpy()[:, 0], net.b0.to_numpy()
    wout, bout = net.Wout.to_numpy(), float(net.bout.to_numpy())
    x = np.array([[2.0], [3.5]])
    expected = np.tanh(np.outer(x[:, 0] - 3.0, w0) + b0) @ wout + bout
    assert_close(net.predict(x), expected, rtol=1e-14, what="scaled input")
    with pytest.raises(td.TidalError, match="unknown activation"):
        MLP(2, activation="relu6")
    with pytest.raises(td.TidalError, match="lo < hi"):
        MLP(2, lo=[0, 0], hi=[1, 0])
    with pytest.raises(td.TidalError, match="expected 22 parameters"):
        MLP(1, width=3, depth=2, dtype=td.f64).set_flat(np.zeros(3))
    with pytest.raises(td.TidalError, match="shape"):
        net.predict(np.zeros((4, 2)))


def test_burgers_loss_and_gradient_match_float64_references(problem):
    params, points, flat = problem
    net, loss = burgers(points)
    value, grad = loss.value_and_grad(flat)
    ref = pinn_peers.numpy_loss([(np.float64(w), np.float64(b)) for w, b in params], points)
    assert_close(value, ref, rtol=1e-12, what="loss vs analytic NumPy reference")
    h = 1e-6
    for j in np.random.default_rng(0).choice(net.size, 8, replace=False):
        e = np.zeros(net.size)
        e[j] = h
        fd = (loss.value(flat + e) - loss.value(flat - e)) / (2 * h)
        assert_close(grad[j], fd, rtol=1e-6, what=f"d loss / d param[{j}]")


def test_burgers_loss_and_gradient_match_pytorch_in_float32(problem):
    pytest.importorskip("torch")
    params, points, flat = problem
    td.init(arch="cpu", default_fp=td.f32)
    try:
        net, loss = burgers(points, td.f32)
        value, grad = loss.value_and_grad(flat)
        ref_value, ref_grads = pinn_peers.torch_step(params, points)()
        assert_close(value, ref_value, rtol=1e-6, what="float32 loss vs PyTorch")
        ref = pinn_peers.flat_from_layers(ref_grads)
        scale = np.max(np.abs(ref))
        assert np.max(np.abs(grad - ref)) <= 1e-5 * scale, "float32 gradient vs PyTorch"
    finally:
        td.init(arch="cpu", default_fp=td.f64)


def test_burgers_loss_refuses_bad_points():
    net = MLP(2, width=3, depth=1, dtype=td.f64)
    with pytest.raises(td.TidalError, match=r"shape \(n, 2\)"):
        burgers_problem(net, np.zeros((5, 3)), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(td.TidalError, match="2 observation points but values of shape"):
        burgers_problem(net, np.zeros((5, 2)), np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(td.TidalError, match="NaN"):
        burgers_problem(net, np.full((5, 2), np.nan), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(td.TidalError, match="3 inputs but the domain has 2"):
        burgers_problem(MLP(3, width=3, depth=1), np.zeros((5, 2)), np.zeros((1, 2)),
                        np.zeros(1))


def test_fourier_feature_network_against_numpy_and_fd(tmp_path):
    net = MLP(2, width=5, depth=2, seed=3, dtype=td.f64, fourier_features=4, fourier_scale=2.0,
              lo=[-1, 0], hi=[1, 1])
    z = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    s = (z - np.array([0.0, 0.5])) / np.array([1.0, 0.5])
    phase = 2 * np.pi * s @ net.B.to_numpy().T
    h = np.tanh(np.concatenate([np.sin(phase), np.cos(phase)], 1) @ net.W0.to_numpy().T
                + net.b0.to_numpy())
    h = np.tanh(h @ net.W.to_numpy()[0].T + net.b.to_numpy()[0])
    assert_close(net.predict(z), h @ net.Wout.to_numpy() + net.bout.to_numpy(), rtol=1e-13,
                 what="Fourier-feature network")
    loss = burgers_problem(net, z, z[:2], np.zeros(2))
    flat = net.get_flat()
    _, grad = loss.value_and_grad(flat)
    d = np.random.default_rng(1).normal(size=flat.size)
    fd = (loss.value(flat + 1e-6 * d) - loss.value(flat - 1e-6 * d)) / 2e-6
    assert_close(grad @ d, fd, rtol=1e-6, what="gradient vs FD")
    net.save(tmp_path / "ff.npz")
    other = MLP(2, width=5, depth=2, seed=9, dtype=td.f64, fourier_features=4, lo=[-1, 0],
                hi=[1, 1])
    other.load(tmp_path / "ff.npz")
    assert np.array_equal(other.predict(z), net.predict(z))
    with pytest.raises(td.TidalError, match="fourier_features must be"):
        MLP(2, fourier_features=-1)


def test_burgers_example_writes_the_prediction_grid(tmp_path):
    """The acceptance run's output format, on a tiny run (3 L-BFGS iterations, 200 points),
    and ``--resume`` continuing it to 5 iterations from its checkpoint."""
    import subprocess

    from tidal.solvers import Trainer

    example = os.path.join(os.path.dirname(__file__), "..", "examples", "pinn_burgers.py")

    def run(*extra):
        out = subprocess.run([sys.executable, example, "--seed", "1", "--out", str(tmp_path),
                              "--collocation", "200", *extra],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    run("--iterations", "3")
    params3, history3 = Trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    out = run("--iterations", "5", "--resume")
    assert "training: 5 L-BFGS iterations" in out.stdout
    _, history5 = Trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    assert list(history5.step[:len(history3)]) == list(history3.step)
    assert history5.step[-1] == 5 and history5.loss[-1] <= history3.loss[-1]
    with np.load(tmp_path / "prediction.npz") as data:
        assert data["x"].shape == (256,) and data["t"].shape == (100,)
        assert data["u"].shape == (256, 100)
        assert np.allclose(data["x"], np.linspace(-1, 1, 256))
        assert np.allclose(data["t"], np.arange(100) / 100)
        u = data["u"]
    from tidal.solvers.exact import burgers_grid

    _, _, exact = burgers_grid()
    line = [s for s in out.stdout.splitlines() if s.startswith("relative_l2_error: ")]
    assert len(line) == 1
    printed = float(line[0].split(": ")[1])
    assert printed == pytest.approx(np.linalg.norm(u - exact) / np.linalg.norm(exact), rel=1e-3)
    assert (tmp_path / "checkpoint.npz").exists() and (tmp_path / "solution.png").exists()
