"""Supervised(fno, ..., loss="h1" | "relative_h1"): the value equals a NumPy computation of
the definition (explicit periodic central-difference matrices), the parameter gradient equals
float64 central differences (1-D and 2-D), Adam trains with it, a DeepONet refuses it."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import FNO, DeepONet, Supervised
from tidal.surrogates.supervised import h1_squared_norms, periodic_gradient


@pytest.fixture(scope="module", autouse=True)
def _f64():
    td.init(arch="cpu", default_fp=td.f64)


def central_matrix(s):
    """The periodic central difference on ``s`` points of spacing ``1 / s``, as a matrix."""
    d = np.zeros((s, s))
    for i in range(s):
        d[i, (i + 1) % s] += s / 2.0
        d[i, (i - 1) % s] -= s / 2.0
    return d


def h1_squared(fields):
    """sum e^2 + sum_a (D_a e)^2 per field, with D_a as Kronecker products of matrices."""
    n, grid = fields.shape[0], fields.shape[1:]
    flat = fields.reshape(n, -1)
    eyes = [np.eye(s) for s in grid]
    out = np.sum(flat ** 2, axis=1)
    for a, s in enumerate(grid):
        factors = eyes.copy()
        factors[a] = central_matrix(s)
        op = factors[0]
        for f in factors[1:]:
            op = np.kron(op, f)
        out = out + np.sum((flat @ op.T) ** 2, axis=1)
    return out


CASES = {
    "1d": dict(dim=1, modes=3, grid=(12,)),
    "2d": dict(dim=2, modes=(2, 3), grid=(6, 8)),
}


def _setup(case, seed=0):
    c = CASES[case]
    net = FNO(c["dim"], c["modes"], width=4, layers=1, projection=5, seed=seed, dtype=td.f64)
    rng = np.random.default_rng(seed + 10)
    net.set_flat(net.get_flat() + rng.normal(scale=0.3, size=net.size))
    a = rng.normal(size=(3, *c["grid"]))
    x = np.stack(np.meshgrid(*[np.arange(s) / s for s in c["grid"]], indexing="ij"))
    targets = np.sin(2 * np.pi * x.sum(axis=0))[None] * rng.normal(size=(3,) + (1,) * c["dim"])
    return net, a, targets


def test_periodic_gradient_is_the_central_difference_matrix():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 5, 7))
    dx, dy = periodic_gradient(f)
    np.testing.assert_allclose(dx, np.einsum("ij,njk->nik", central_matrix(5), f), atol=1e-12)
    np.testing.assert_allclose(dy, np.einsum("kj,nij->nik", central_matrix(7), f), atol=1e-12)
    np.testing.assert_allclose(h1_squared_norms(f), h1_squared(f), rtol=1e-13)


@pytest.mark.parametrize("case", list(CASES))
def test_h1_values_equal_numpy(case):
    net, a, targets = _setup(case)
    flat = net.get_flat()
    e = net.predict(a) - targets
    n_points = int(np.prod(CASES[case]["grid"]))
    h1 = Supervised(net, a, outputs=targets, loss="h1")
    assert h1.value(flat) == pytest.approx(np.sum(h1_squared(e)) / (3 * n_points), rel=1e-12)
    rel = Supervised(net, a, outputs=targets, loss="relative_h1")
    expected = np.mean(np.sqrt(h1_squared(e)) / np.sqrt(h1_squared(targets)))
    assert rel.value(flat) == pytest.approx(expected, rel=1e-12)
    assert rel.value_and_grad(flat)[0] == pytest.approx(expected, rel=1e-12)
    # the gradient term is there: the H1 loss exceeds the MSE
    assert h1.value(flat) > Supervised(net, a, outputs=targets).value(flat) * 1.5
    # the L2 diagnostics still mean L2
    assert h1.mse(flat) == pytest.approx(np.mean(e ** 2), rel=1e-12)


# (CI: one loss per case, the other pairs behind the slow marker)
@pytest.mark.parametrize("case,loss", [
    pytest.param(case, loss, marks=() if (i + j) % 2 == 0 else pytest.mark.slow,
                 id=f"{case}-{loss}")
    for j, loss in enumerate(("h1", "relative_h1")) for i, case in enumerate(CASES)])
def test_h1_gradient_equals_central_differences(case, loss):
    net, a, targets = _setup(case, seed=1)
    data = Supervised(net, a, outputs=targets, loss=loss)
    flat = net.get_flat()
    value, grad = data.value_and_grad(flat)
    assert value == pytest.approx(data.value(flat), rel=1e-12)
    rng = np.random.default_rng(5)
    h = 1e-5
    for _ in range(3):
        d = rng.normal(size=net.size)
        fd = (data.value(flat + h * d) - data.value(flat - h * d)) / (2 * h)
        assert abs(grad @ d - fd) <= 1e-6 * abs(fd) + 1e-10
    # mini-batches: the gradient of one batch is the gradient of that batch's loss
    batched = Supervised(net, a, outputs=targets, loss=loss, batch_size=2, seed=4)
    rows = batched.batch(0)
    value, grad = batched.value_and_grad(flat)
    sub = Supervised(net, a[rows], outputs=targets[rows], loss=loss)
    v2, g2 = sub.value_and_grad(flat)
    assert value == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(grad, g2, rtol=1e-10, atol=1e-13)


def test_adam_trains_with_the_h1_loss():
    net, a, targets = _setup("1d", seed=2)
    data = Supervised(net, a, outputs=targets, loss="relative_h1")
    start = data.value(net.get_flat())
    trainer = Trainer(data, net.get_flat(), progress=False, keep_best=False)
    trainer.adam(40, lr=1e-2)
    assert np.isfinite(trainer.history.loss).all()
    assert data.value(trainer.params) < 0.7 * start


def test_deeponet_refuses_h1():
    net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
    with pytest.raises(td.TidalArgumentError, match="scattered"):
        Supervised(net, np.zeros((2, 4)), np.linspace(0, 1, 5), np.ones((2, 5)), loss="h1")
    with pytest.raises(td.TidalArgumentError, match="relative_h1"):
        Supervised(FNO(1, 2, width=3, layers=1, projection=4, dtype=td.f64), np.ones((2, 8)),
                   outputs=np.zeros((2, 8)), loss="relative_h1")
