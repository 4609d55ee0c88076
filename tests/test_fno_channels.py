"""FNOs with several output channels (``out_channels``): each channel equals a single-output FNO
with the same parameters and that channel's projection column; the H1 loss sums the channels'
norms (against explicit central-difference matrices) and its gradient equals central
differences; per-channel and pointwise output scales, save/load, OperatorModel and training work
with the channel axis; bad shapes are refused. (Outputs, input and parameter gradients against
the NumPy FFT reference and central differences: tests/test_fno.py, cases ``*-out*``.)"""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import FNO, OperatorModel, Supervised

from .test_h1_loss import central_matrix


@pytest.fixture(scope="module", autouse=True)
def _f64():
    td.init(arch="cpu", default_fp=td.f64)


def _net(dim=2, cout=3, seed=0, cin=1):
    modes = 3 if dim == 1 else (2, 3)
    net = FNO(dim, modes, width=4, layers=2, in_channels=cin, projection=5, seed=seed,
              dtype=td.f64, out_channels=cout)
    rng = np.random.default_rng(seed)
    net.set_flat(net.get_flat() + rng.normal(scale=0.2, size=net.size))
    return net, rng


def _single(net, channel):
    """A one-output FNO with ``net``'s parameters and projection column ``channel``."""
    one = FNO(net.dim, net.modes, width=net.width, layers=net.layers,
              in_channels=net.in_channels, projection=net.projection, dtype=td.f64)
    parts = net.split()
    parts[7] = parts[7][:, channel:channel + 1]
    parts[8] = parts[8][channel:channel + 1]
    one.set_flat(np.concatenate([p.ravel() for p in parts]))
    return one


@pytest.mark.parametrize("dim, grid", [(1, (12,)), (2, (6, 8))])
def test_each_channel_is_the_single_output_network(dim, grid):
    net, rng = _net(dim, cout=3, cin=2)
    a = rng.normal(size=(4, *grid, 2))
    out = net.predict(a, batch_size=3)
    assert out.shape == (4, *grid, 3)
    for o in range(3):
        np.testing.assert_allclose(out[..., o], _single(net, o).predict(a), rtol=0, atol=1e-13)
    # the input gradient of a cotangent on one channel is that network's
    cot = np.zeros(out.shape)
    cot[..., 1] = rng.normal(size=(4, *grid))
    np.testing.assert_allclose(net.vjp_input(a, cot), _single(net, 1).vjp_input(a, cot[..., 1]),
                               rtol=1e-12, atol=1e-14)


def _h1_squared(e):
    """sum e^2 + sum (D_1 e)^2 + sum (D_2 e)^2 per field of (n, S1, S2, channels)."""
    d1 = np.einsum("ij,njkc->nikc", central_matrix(e.shape[1]), e)
    d2 = np.einsum("kj,nijc->nikc", central_matrix(e.shape[2]), e)
    return np.sum(e ** 2 + d1 ** 2 + d2 ** 2, axis=(1, 2, 3))


@pytest.mark.parametrize("loss", ["h1", "relative_h1", "mse"])
def test_losses_over_channels_value_and_gradient(loss):
    # three channels: a difference across a channel axis of two would vanish identically
    net, rng = _net(2, cout=3, seed=1)
    grid = (6, 8)
    a = rng.normal(size=(3, *grid))
    x = np.stack(np.meshgrid(*[np.arange(s) / s for s in grid], indexing="ij")).sum(axis=0)
    targets = np.stack([np.sin(2 * np.pi * x), np.cos(2 * np.pi * x), np.sin(4 * np.pi * x)],
                       axis=-1)[None] * rng.uniform(0.5, 2.0, size=(3, 1, 1, 3))
    data = Supervised(net, a, outputs=targets, loss=loss)
    flat = net.get_flat()
    e = net.predict(a) - targets
    expected = {"h1": np.sum(_h1_squared(e)) / (3 * 48 * 3),
                "relative_h1": np.mean(np.sqrt(_h1_squared(e) / _h1_squared(targets))),
                "mse": np.mean(e ** 2)}[loss]
    value, grad = data.value_and_grad(flat)
    assert value == pytest.approx(expected, rel=1e-12)
    assert data.value(flat) == pytest.approx(expected, rel=1e-12)
    h = 1e-5
    for _ in range(3):
        d = rng.normal(size=net.size)
        fd = (data.value(flat + h * d) - data.value(flat - h * d)) / (2 * h)
        assert abs(grad @ d - fd) <= 1e-6 * abs(fd) + 1e-10
    net.set_flat(flat)


def test_output_scales_per_channel_and_pointwise():
    net, rng = _net(1, cout=2, seed=2)
    grid = (12,)
    raw = rng.normal(size=(3, *grid))
    bare = net.predict(raw)
    net.set_normalisers(output_scale=[2.0, 5.0])
    np.testing.assert_allclose(net.predict(raw), bare * [2.0, 5.0], rtol=1e-14)
    scale = rng.uniform(1.0, 3.0, size=(*grid, 2))
    net.set_normalisers(output_scale=scale)
    np.testing.assert_allclose(net.predict(raw), bare * scale, rtol=1e-14)
    cot = rng.normal(size=(3, *grid, 2))
    grad = net.vjp_input(raw, cot)
    h = 1e-5
    for _ in range(2):
        d = rng.normal(size=raw.shape)
        fd = (np.sum(cot * net.predict(raw + h * d)) - np.sum(cot * net.predict(raw - h * d))) \
            / (2 * h)
        assert abs(np.sum(grad * d) - fd) <= 1e-7 * abs(fd) + 1e-9
    # Supervised trains the network on outputs / scale
    data = Supervised(net, raw, outputs=bare * scale)
    assert data.value(net.get_flat()) == pytest.approx(0.0, abs=1e-25)
    for bad in (np.ones(grid), np.ones(3), np.ones((*grid, 3)), -1.0):
        with pytest.raises(td.TidalArgumentError, match="output_scale"):
            net.set_normalisers(output_scale=bad)


def test_save_and_load(tmp_path):
    net, rng = _net(2, cout=2, seed=3)
    net.set_normalisers(output_scale=[1.5, 0.5])
    net.save(tmp_path / "two.npz")
    other, _ = _net(2, cout=2, seed=4)
    other.load(tmp_path / "two.npz")
    a = rng.normal(size=(2, 6, 8))
    np.testing.assert_array_equal(other.predict(a), net.predict(a))
    with pytest.raises(td.TidalArgumentError, match="out_channels"):
        _net(2, cout=1, seed=4)[0].load(tmp_path / "two.npz")
    # a single-output model reads files written before out_channels existed (same arch list)
    one, _ = _net(2, cout=1, seed=5)
    old_arch = np.array([str(v) for v in (2, (2, 3), 4, 2, 1, 5, "gelu")], dtype=np.str_)
    np.savez(tmp_path / "old.npz", params=one.get_flat(), arch=old_arch)
    fresh, _ = _net(2, cout=1, seed=6)
    fresh.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(fresh.predict(a), one.predict(a))


def test_operator_model_observing_one_channel():
    net, rng = _net(1, cout=2, seed=7)
    grid = (12,)
    start = rng.normal(size=grid)
    model = OperatorModel(net, start, name="u0")
    assert model.observation_shape == (*grid, 2)
    data = np.full((*grid, 2), np.nan)
    data[::3, 1] = rng.normal(size=4)
    assert model.observe(data) == 4
    loss, (grad,) = model.loss_grad(["u0"])
    pred = net.predict(start[None])[0]
    assert loss == pytest.approx(np.sum((pred[::3, 1] - data[::3, 1]) ** 2), rel=1e-12)
    h = 1e-5
    d = rng.normal(size=grid)
    model.set("u0", start + h * d)
    up = model.loss_grad(["u0"])[0]
    model.set("u0", start - h * d)
    down = model.loss_grad(["u0"])[0]
    assert grad @ d == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-10)


def test_adam_learns_two_outputs():
    net = FNO(1, 4, width=8, layers=2, projection=16, seed=0, dtype=td.f64, out_channels=2)
    rng = np.random.default_rng(8)
    x = np.arange(16) / 16
    a = rng.normal(size=(16, 1)) * np.sin(2 * np.pi * x) + rng.normal(size=(16, 1)) \
        * np.cos(2 * np.pi * x)
    targets = np.stack([a, -0.5 * np.roll(a, 3, axis=1)], axis=-1)
    data = Supervised(net, a, outputs=targets, loss="relative_l2", batch_size=8)
    first = data.value(net.get_flat())
    trainer = Trainer(data, net.get_flat(), progress=False)
    trainer.adam(150, lr=5e-3)
    assert data.value(trainer.params) < 0.5 * first


def test_bad_shapes_and_arguments():
    net, _ = _net(1, cout=2)
    a = np.zeros((2, 12))
    with pytest.raises(td.TidalArgumentError, match=r"\(2, 12, 2\)"):
        Supervised(net, a, outputs=np.zeros((2, 12)))
    with pytest.raises(td.TidalArgumentError, match="cotangent"):
        net.vjp_input(a, np.zeros((2, 12, 3)))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(td.TidalArgumentError, match="out_channels"):
            FNO(1, 2, width=3, out_channels=bad)
