"""Trainer.adamw (decoupled weight decay) against NumPy's and PyTorch's AdamW, in float64."""

import os

import numpy as np
import pytest

import tidal as td
from tidal.solvers.schedules import ExponentialDecay
from tidal.solvers.training import Trainer


@pytest.fixture(scope="module", autouse=True)
def _f64():
    td.init(arch="cpu", default_fp=td.f64)


class Quadratic:
    """0.5 x^T A x - b^T x with a fixed SPD A."""

    def __init__(self, n=6, seed=3):
        rng = np.random.default_rng(seed)
        q = rng.normal(size=(n, n))
        self.a = q @ q.T / n + np.eye(n)
        self.b = rng.normal(size=n)
        self.size = n

    def value(self, x):
        return float(0.5 * x @ self.a @ x - self.b @ x)

    def value_and_grad(self, x):
        return self.value(x), self.a @ x - self.b


def numpy_adamw(grad, x0, steps, lrs, betas, eps, wd, l2=0.0):
    """PyTorch's AdamW as documented (decay, then the bias-corrected Adam step); ``l2`` is
    Adam's coupled decay instead (added to the gradient)."""
    b1, b2 = betas
    x = np.array(x0, dtype=np.float64)
    m, v = np.zeros_like(x), np.zeros_like(x)
    for t in range(1, steps + 1):
        lr = lrs[t - 1]
        g = grad(x) + l2 * x
        x = x * (1.0 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = lr / (1 - b1 ** t)
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
        x = x - step * m / denom
    return x


def _trainer(obj, x0):
    return Trainer(obj, x0, progress=False, keep_best=False, log_every=1)


def test_adamw_matches_numpy_formula():
    obj = Quadratic()
    x0 = np.linspace(-1.0, 2.0, obj.size)
    t = _trainer(obj, x0)
    t.adamw(steps=7, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3)
    ref = numpy_adamw(lambda x: obj.a @ x - obj.b, x0, 7, [0.05] * 7, (0.8, 0.95), 1e-6, 0.3)
    np.testing.assert_allclose(t.params, ref, rtol=0, atol=1e-12)
    # the decay is not Adam's L2: the two optimisers part after one step
    t2 = _trainer(obj, x0)
    t2.adam(steps=7, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3)
    l2 = numpy_adamw(lambda x: obj.a @ x - obj.b, x0, 7, [0.05] * 7, (0.8, 0.95), 1e-6, 0.0,
                     l2=0.3)
    np.testing.assert_allclose(t2.params, l2, rtol=0, atol=1e-12)
    assert np.max(np.abs(t.params - t2.params)) > 1e-3


def test_adamw_decay_uses_scheduled_rate():
    obj = Quadratic(seed=5)
    x0 = np.ones(obj.size)
    sched = ExponentialDecay(0.5, every=2)
    t = _trainer(obj, x0)
    t.adamw(steps=6, lr=0.1, weight_decay=0.2, schedule=sched)
    lrs = [float(sched(0.1, k, 6)) for k in range(6)]
    assert lrs[0] != lrs[-1]
    ref = numpy_adamw(lambda x: obj.a @ x - obj.b, x0, 6, lrs, (0.9, 0.999), 1e-8, 0.2)
    np.testing.assert_allclose(t.params, ref, rtol=0, atol=1e-12)


def test_adamw_zero_decay_is_adam():
    obj = Quadratic(seed=1)
    x0 = np.full(obj.size, 0.5)
    a, w = _trainer(obj, x0), _trainer(obj, x0)
    a.adam(steps=5, lr=0.03)
    w.adamw(steps=5, lr=0.03, weight_decay=0.0)
    np.testing.assert_array_equal(a.params, w.params)


def test_adamw_matches_torch():
    torch = pytest.importorskip("torch")
    obj = Quadratic(seed=7)
    x0 = np.linspace(0.3, -1.1, obj.size)
    t = _trainer(obj, x0)
    t.adamw(steps=9, lr=0.02, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.5)
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(obj.a, dtype=torch.float64)
    b = torch.tensor(obj.b, dtype=torch.float64)
    opt = torch.optim.AdamW([x], lr=0.02, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.5)
    for _ in range(9):
        opt.zero_grad()
        loss = 0.5 * x @ a @ x - b @ x
        loss.backward()
        opt.step()
    np.testing.assert_allclose(t.params, x.detach().numpy(), rtol=0, atol=1e-12)


def test_adamw_history_and_checkpoint(tmp_path):
    obj = Quadratic()
    path = os.path.join(tmp_path, "c.npz")
    t = Trainer(obj, np.ones(obj.size), progress=False, checkpoint=path, log_every=2)
    t.adam(steps=2, lr=0.01)
    t.adamw(steps=4, lr=0.01)
    t.lbfgs(max_iter=3)
    h = t.history
    assert h.step[:4] == [0, 2, 4, 6]
    assert h.optimiser[:2] == ["adam", "adam"]
    assert [o for s, o in zip(h.step, h.optimiser) if 2 < s <= 6] == ["adamw", "adamw"]
    assert h.optimiser[-1] == "lbfgs"
    params, loaded = Trainer.load_checkpoint(path)
    assert loaded.optimiser == h.optimiser and loaded.step == h.step
    np.testing.assert_array_equal(params, t.params)


def test_adamw_bad_decay():
    t = _trainer(Quadratic(), np.ones(6))
    with pytest.raises(td.TidalArgumentError, match="weight_decay"):
        t.adamw(steps=1, weight_decay=-1.0)
