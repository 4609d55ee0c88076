"""tidal.solvers.plots: valid PNG files of the requested size, no pyplot, shape errors."""

import sys

import matplotlib
import matplotlib.image
import numpy as np
import pytest

import tidal as td
from tidal.solvers import plots
from tidal.solvers.plots import plot_comparison, plot_loss_history, plot_solution, relative_l2_error
from tidal.solvers.training import History, Trainer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, width_in, height_in, dpi):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape == (round(height_in * dpi), round(width_in * dpi), 4)
    # something was drawn: not a blank canvas
    assert np.ptp(image[..., :3]) > 0.5


@pytest.fixture
def grid():
    x = np.linspace(-1.0, 1.0, 40)
    t = np.linspace(0.0, 1.0, 25)
    u = np.sin(np.pi * x)[:, None] * np.exp(-t)[None, :]
    return x, t, u


def history(with_scalars: bool) -> History:
    h = History()
    for s in range(0, 60, 5):
        opt = "adam" if s <= 30 else "lbfgs"
        scalars = {"pde": 2.0 ** -s, "nu": 0.01 + 1.0 / (1 + s)} if with_scalars else None
        h.append(s, 10.0 ** (-s / 10), 0.01 * s, opt, s + 1, scalars)
    return h


@pytest.mark.parametrize("with_scalars", [False, True])
def test_loss_history_png(tmp_path, with_scalars):
    out = plot_loss_history(history(with_scalars), tmp_path / "sub" / "loss.png",
                            figsize=(6.0, 3.0), dpi=50)
    assert out == tmp_path / "sub" / "loss.png"
    assert_png(out, 6.0, 3.0, 50)


def test_loss_history_from_a_trainer(tmp_path):
    class Q:
        size = 2

        def value_and_grad(self, x):
            return float(x @ x), 2.0 * x

        def value(self, x):
            return float(x @ x)

        def describe(self, x):
            return {"x0": float(x[0])}  # changes sign: linear scale panel

    td.init(arch="cpu", default_fp=td.f64)
    trainer = Trainer(Q(), np.array([1.0, -1.0]), progress=False,
                                          log_every=2)
    trainer.fit(adam_steps=10, lbfgs_iter=10, lr=0.3)
    assert_png(plot_loss_history(trainer.history, tmp_path / "t.png", dpi=40), 7.0, 4.0, 40)


def test_solution_png(tmp_path, grid):
    x, t, u = grid
    out = plot_solution(x, t, u, str(tmp_path / "u.png"), title="heat", figsize=(5.0, 4.0),
                        dpi=60)
    assert_png(out, 5.0, 4.0, 60)


def test_comparison_png(tmp_path, grid):
    x, t, u = grid
    out = plot_comparison(x, t, u + 0.01 * np.cos(x)[:, None], u, tmp_path / "cmp.png",
                          figsize=(9.0, 3.0), dpi=40)
    assert_png(out, 9.0, 3.0, 40)


def test_comparison_with_a_mask_ignores_points_outside(tmp_path, grid, monkeypatch):
    x, t, u = grid
    inside = np.add.outer(x, t) < 1.0
    pred = np.where(inside, u + 0.01, np.nan)  # e.g. a prediction undefined in a hole
    seen = []
    monkeypatch.setattr(plots, "relative_l2_error",
                        lambda a, b: seen.append((a, b)) or relative_l2_error(a, b))
    out = plot_comparison(x, t, pred, u, tmp_path / "cmp.png", mask=inside, dpi=30)
    assert out.exists()
    (a, b), = seen
    assert np.array_equal(a, pred[inside]) and np.array_equal(b, u[inside])
    with pytest.raises(td.TidalArgumentError, match="mask must be booleans"):
        plot_comparison(x, t, u, u, tmp_path / "bad.png", mask=inside[:, :-1])
    with pytest.raises(td.TidalArgumentError, match="at least one True"):
        plot_comparison(x, t, u, u, tmp_path / "bad.png", mask=np.zeros_like(inside))


def test_relative_l2():
    a = np.array([[3.0, 0.0], [0.0, 4.0]])
    assert relative_l2_error(a * 1.1, a) == pytest.approx(0.1, rel=1e-12)
    assert relative_l2_error(np.ones(4), np.zeros(4)) == pytest.approx(2.0)


def test_pyplot_untouched(tmp_path, grid):
    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_solution(*grid, tmp_path / "u.png", dpi=20)
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_bad_shapes_raise(tmp_path, grid):
    x, t, u = grid
    with pytest.raises(td.TidalArgumentError, match=r"u has shape \(25, 40\).*\(40, 25\)"):
        plot_solution(x, t, u.T, tmp_path / "a.png")
    with pytest.raises(td.TidalArgumentError, match=r"shapes \(40, 25\) and \(25,\)"):
        plot_solution(np.meshgrid(x, t, indexing="ij")[0], t, u, tmp_path / "b.png")
    with pytest.raises(td.TidalArgumentError, match=r"u_exact has shape \(40, 24\)"):
        plot_comparison(x, t, u, u[:, :-1], tmp_path / "c.png")
    with pytest.raises(td.TidalArgumentError, match=r"u_pred has shape \(1000,\)"):
        plot_comparison(x, t, u.ravel(), u, tmp_path / "d.png")
    with pytest.raises(td.TidalArgumentError, match="empty"):
        plot_loss_history(History(), tmp_path / "e.png")
    with pytest.raises(td.TidalArgumentError, match="must be a History"):
        plot_loss_history({"loss": [1.0]}, tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []
