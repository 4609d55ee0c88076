"""FNO input/output normalisers: predict(raw) equals scale * the bare network on normalised
inputs; Supervised trains on the normalised data; save/load keeps them; vjp_input and
OperatorModel's gradient equal float64 central differences through them."""

import numpy as np
import pytest

import tidal as td
from tidal.surrogates import FNO, OperatorModel, Supervised


@pytest.fixture(scope="module", autouse=True)
def _f64():
    td.init(arch="cpu", default_fp=td.f64)


def _net(dim=2, seed=0, channels=1):
    modes = 3 if dim == 1 else (2, 3)
    net = FNO(dim, modes, width=4, layers=1, in_channels=channels, projection=5, seed=seed,
              dtype=td.f64)
    rng = np.random.default_rng(seed)
    net.set_flat(net.get_flat() + rng.normal(scale=0.2, size=net.size))
    return net, rng


def _stats(rng, grid, channels=1):
    """Pointwise input statistics (std far from 1) and a pointwise output scale."""
    mean = rng.normal(size=(*grid, channels))
    std = rng.uniform(0.5, 3.0, size=(*grid, channels))
    scale = rng.uniform(2.0, 5.0, size=grid)
    return mean, std, scale


@pytest.mark.parametrize("dim, grid, channels", [(1, (12,), 2), (2, (6, 8), 1)])
def test_predict_is_scale_times_bare_network_on_normalised_inputs(dim, grid, channels):
    net, rng = _net(dim, channels=channels)
    raw = 4.0 + 3.0 * rng.normal(size=(3, *grid, channels))
    mean, std, scale = _stats(rng, grid, channels)
    bare = net.predict((raw - mean) / std)
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    np.testing.assert_allclose(net.predict(raw), scale * bare, rtol=1e-13, atol=1e-13)
    # a scalar scale, pointwise inputs given without the channel axis (one channel)
    if channels == 1:
        net.set_normalisers(input_mean=mean[..., 0], input_std=std[..., 0], output_scale=2.5)
        np.testing.assert_allclose(net.predict(raw[..., 0]), 2.5 * bare, rtol=1e-13)
    net.set_normalisers()  # cleared: the bare network again
    np.testing.assert_array_equal(net.predict((raw - mean) / std), bare)


def test_supervised_trains_on_normalised_data():
    net, rng = _net(2, seed=1)
    grid = (6, 8)
    raw, out = rng.normal(size=(4, *grid)), rng.normal(size=(4, *grid))
    mean, std, scale = _stats(rng, grid)
    flat = net.get_flat()
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    loss = Supervised(net, raw, outputs=out).value(flat)
    pred_n = net.predict(raw) / scale           # the network's own (normalised) outputs
    assert loss == pytest.approx(np.mean((pred_n - out / scale) ** 2), rel=1e-12)
    # the same objective as the bare network given normalised data
    net.set_normalisers()
    bare = Supervised(net, (raw - mean[..., 0]) / std[..., 0], outputs=out / scale)
    v1, g1 = bare.value_and_grad(flat)
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    v2, g2 = Supervised(net, raw, outputs=out).value_and_grad(flat)
    assert v2 == pytest.approx(v1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-14)


def test_save_and_load_keep_the_normalisers(tmp_path):
    net, rng = _net(1, seed=2)
    grid = (12,)
    mean, std, scale = _stats(rng, grid)
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    raw = rng.normal(size=(2, *grid))
    net.save(tmp_path / "n.npz")
    other, _ = _net(1, seed=5)
    other.load(tmp_path / "n.npz")
    np.testing.assert_array_equal(other.predict(raw), net.predict(raw))
    np.testing.assert_array_equal(other.output_scale, net.output_scale)
    # a checkpoint without normalisers clears them
    plain, _ = _net(1, seed=6)
    plain.save(tmp_path / "plain.npz")
    other.load(tmp_path / "plain.npz")
    assert other.input_mean is None and other.output_scale is None
    np.testing.assert_array_equal(other.predict(raw), plain.predict(raw))


@pytest.mark.parametrize("dim, grid", [(1, (12,)), (2, (6, 8))])
def test_vjp_input_equals_central_differences_through_the_normaliser(dim, grid):
    net, rng = _net(dim, seed=3)
    mean, std, scale = _stats(rng, grid)
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    raw = rng.normal(size=(2, *grid))
    cot = rng.normal(size=(2, *grid))
    grad = net.vjp_input(raw, cot)
    h = 1e-5
    for _ in range(3):
        d = rng.normal(size=raw.shape)
        fd = (np.sum(cot * net.predict(raw + h * d))
              - np.sum(cot * net.predict(raw - h * d))) / (2 * h)
        assert abs(np.sum(grad * d) - fd) <= 1e-7 * abs(fd) + 1e-9


def test_operator_model_gradient_through_the_normaliser():
    net, rng = _net(1, seed=4)
    grid = (12,)
    mean, std, scale = _stats(rng, grid)
    net.set_normalisers(input_mean=mean, input_std=std, output_scale=scale)
    start = rng.normal(size=grid)
    model = OperatorModel(net, start, name="u0")
    data = np.full(grid, np.nan)
    data[::2] = rng.normal(size=6)
    model.observe(data)
    loss, (grad,) = model.loss_grad(["u0"])
    pred = net.predict(start[None])[0]
    seen = np.isfinite(data)
    assert loss == pytest.approx(np.sum((pred[seen] - data[seen]) ** 2), rel=1e-12)
    np.testing.assert_allclose(model.predict(), pred, rtol=1e-13)
    h = 1e-5
    for k in range(2):
        d = np.random.default_rng(20 + k).normal(size=grid)
        model.set("u0", start + h * d)
        up = model.loss_grad(["u0"])[0]
        model.set("u0", start - h * d)
        down = model.loss_grad(["u0"])[0]
        model.set("u0", start)
        assert grad @ d == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-10)


def test_bad_normalisers_are_refused():
    net, _ = _net(1)
    with pytest.raises(td.TidalArgumentError, match="input_std"):
        net.set_normalisers(input_mean=0.0, input_std=np.zeros(12))
    with pytest.raises(td.TidalArgumentError, match="output_scale"):
        net.set_normalisers(output_scale=np.nan)
    net.set_normalisers(input_mean=np.zeros(12), input_std=np.ones(12))
    with pytest.raises(td.TidalArgumentError, match="grid"):
        net.predict(np.zeros((2, 16)))  # normalisers of a 12-point grid
