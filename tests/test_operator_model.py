"""OperatorModel: a trained operator network as a model td.fit fits through. The loss and its
gradient are checked against the network's own predictions and central differences in float64;
td.fit through it is checked to reproduce observations made by the network itself."""

import numpy as np
import pytest

import tidal as td
from tidal.surrogates import FNO, OperatorModel


@pytest.fixture(scope="module")
def net():
    td.init(arch="cpu", default_fp=td.f64)
    return FNO(1, modes=4, width=6, layers=2, projection=8, seed=3, dtype=td.f64)


def _field(seed, n=16):
    x = np.arange(n) / n
    rng = np.random.default_rng(seed)
    return sum(rng.normal() / k * np.sin(2 * np.pi * k * x + rng.uniform(0, 6)) for k in (1, 2, 3))


def test_loss_and_gradient_equal_the_network_and_central_differences(net):
    model = OperatorModel(net, _field(0), name="u0")
    data = np.full(16, np.nan)
    data[::3] = np.linspace(-0.5, 0.5, 6)
    weights = np.linspace(1.0, 2.0, 16)
    assert model.observe(data, weights) == 6
    loss, (grad,) = model.loss_grad(["u0"])
    seen = np.isfinite(data)
    pred = net.predict(_field(0)[None])[0]
    assert loss == pytest.approx(np.sum(weights[seen] * (pred[seen] - data[seen]) ** 2),
                                 rel=1e-13)
    for k in range(3):
        d = np.random.default_rng(10 + k).normal(size=16)
        h = 1e-5

        def at(t, d=d):
            model.set("u0", _field(0) + t * d)
            return model.loss_grad(["u0"])[0]
        fd = (at(h) - at(-h)) / (2 * h)
        model.set("u0", _field(0))
        assert grad @ d == pytest.approx(fd, rel=1e-6, abs=1e-10)


def test_td_fit_through_the_network_reproduces_its_own_observations(net):
    truth = _field(1)
    data = np.full(16, np.nan)
    data[::2] = net.predict(truth[None])[0][::2]
    model = OperatorModel(net, np.zeros(16), name="u0")
    model.observe(data)
    start, _ = model.loss_grad(["u0"])
    result = td.fit(model, data, params=["u0"], max_iter=300, progress=False)
    assert result.loss < 1e-8 * start
    np.testing.assert_allclose(model.predict()[::2], data[::2], atol=1e-5)
    np.testing.assert_array_equal(result.values["u0"], model.get("u0"))
    assert np.all(np.isnan(result.stderr["u0"]))  # no Hessian: no uncertainty


def test_bad_input_is_refused(net):
    with pytest.raises(td.TidalArgumentError, match="FNO"):
        OperatorModel(object(), np.zeros(16))
    model = OperatorModel(net, np.zeros(16), name="u0")
    with pytest.raises(td.TidalArgumentError, match="shape"):
        model.observe(np.zeros(8))
    with pytest.raises(td.TidalArgumentError, match="'u0', not 'a'"):
        model.get("a")
    with pytest.raises(td.TidalArgumentError, match="shape"):
        model.set("u0", np.zeros(8))
    with pytest.raises(td.TidalArgumentError, match="finite"):
        model.set("u0", np.full(16, np.nan))
    data = np.zeros(16)
    for kw in ({"method": "Newton-CG"}, {"uncertainty": True}):
        with pytest.raises(td.TidalArgumentError, match="Hessian-vector products"):
            td.fit(model, data, params=["u0"], progress=False, **kw)


def test_the_input_gradient_holds_the_parameters_constant(net):
    """predict_and_vjp (what OperatorModel evaluates) computes no parameter gradient: the
    parameters' .grad stays as it was, and the input gradient is the full adjoint pass's."""
    a = np.stack([_field(4), _field(5)])
    cot = np.random.default_rng(6).normal(size=(2, 16))
    b = net.batch(2, (16,))
    b.load(a[..., None])
    b.forward()
    net.clear_grads()
    b.backward(output_cotangent=cot)
    full = b.input_gradient()
    assert np.any(net.grad_flat() != 0)
    net.clear_grads()
    _, grad = net.predict_and_vjp(a, lambda y: cot)
    np.testing.assert_array_equal(net.grad_flat(), 0.0)
    np.testing.assert_allclose(grad, full, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dim, grid, cout", [(1, (16,), 1), (2, (6, 8), 2)])
def test_outputs_at_chosen_points_equal_the_whole_fields_pass(dim, grid, cout):
    # predict_and_vjp(points=...) projects only at those points (what OperatorModel uses for
    # sparse observations): its outputs and input gradient must equal the whole field's pass
    # (another kernel) with the cotangent zero elsewhere, a pointwise output scale included
    # (the last layer runs at the chosen points only, its inverse DFT summing even and odd
    # modes apart: an even number of last-axis modes in 1-D, an odd one in 2-D)
    net = FNO(dim, 4 if dim == 1 else (2, 3), width=6, layers=2, projection=7, seed=5,
              dtype=td.f64, out_channels=cout)
    rng = np.random.default_rng(6)
    net.set_normalisers(output_scale=rng.uniform(0.5, 2.0, size=net.output_shape(grid)))
    a = rng.normal(size=(2, *grid))
    total = int(np.prod(grid))
    points = rng.choice(total, size=total // 3, replace=False)  # (any order)
    at = np.sort(points)
    cot = rng.normal(size=(2, total, cout))
    whole = np.zeros_like(cot)
    whole[:, at] = cot[:, at]
    try:
        y, g = net.predict_and_vjp(a, lambda y: whole.reshape(y.shape))
        for _ in range(3):  # the third call replays the noted passes
            ys, gs = net.predict_and_vjp(a, lambda y: cot[:, at].reshape(y.shape), points)
            np.testing.assert_allclose(ys.reshape(2, len(at), cout),
                                       y.reshape(2, total, cout)[:, at], rtol=1e-13)
            np.testing.assert_allclose(gs, g, rtol=1e-12, atol=1e-15)
            a = a + 0.1  # new inputs each time: a stale replay could not pass
            y, g = net.predict_and_vjp(a, lambda y: whole.reshape(y.shape))
    finally:
        net.set_normalisers()
    assert net.check_points(range(total), grid) is None  # every point: the whole pass
    for bad in ([], [0, 0], [total], [-1], [0.5], [[1, 2]], "x"):
        with pytest.raises(td.TidalArgumentError, match="points must be"):
            net.predict_and_vjp(a, lambda y: y, points=bad)
