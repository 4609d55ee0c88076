"""tidal.physics.Smoke2D: the projection against a dense NumPy construction of the same
operator, whole runs against an independent NumPy transcription of the scheme, derivatives of
every named parameter against central differences, gradients through hundreds of steps, the
recovery of the buoyancy, the example, and bad input."""

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.dsl.errors import TidalArgumentError
from tidal.physics import Smoke2D

from .reference import assert_close, check_named_derivatives, run_example

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def dense_projection(n: int) -> np.ndarray:
    """``I - G (G^T G)^{-1} G^T`` as a matrix on velocities flattened as (i, j, component),
    ``G`` the central-difference gradient with zeros beyond the walls (built entry by entry,
    independent of tidal)."""
    G = np.zeros((n * n * 2, n * n))
    for i in range(n):
        for j in range(n):
            for c, (di, dj) in enumerate(((1, 0), (0, 1))):
                row = (i * n + j) * 2 + c
                for sign in (1, -1):
                    a, b = i + sign * di, j + sign * dj
                    if 0 <= a < n and 0 <= b < n:
                        G[row, a * n + b] += 0.5 * sign
    return np.eye(2 * n * n) - G @ np.linalg.solve(G.T @ G, G.T)


def numpy_smoke(d0, v0, source, buoyancy, dt, steps):
    """The same scheme in NumPy: bilinear backtrace of density and velocity, buoyancy, then the
    dense projection."""
    n = len(d0)
    P = dense_projection(n)
    d, u = d0.copy(), v0.copy()
    out = [d.copy()]
    for _ in range(steps):
        nd, nu = np.zeros_like(d), np.zeros_like(u)
        for i in range(n):
            for j in range(n):
                x = min(max(i - dt * u[i, j, 0], 0.0), n - 1.0)
                y = min(max(j - dt * u[i, j, 1], 0.0), n - 1.0)
                i0 = min(max(int(np.floor(x)), 0), n - 2)
                j0 = min(max(int(np.floor(y)), 0), n - 2)
                fx, fy = x - i0, y - j0
                w = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
                at = ((i0, j0), (i0 + 1, j0), (i0, j0 + 1), (i0 + 1, j0 + 1))
                nd[i, j] = sum(wk * d[a] for wk, a in zip(w, at)) + dt * source[i, j]
                nu[i, j] = sum(wk * u[a] for wk, a in zip(w, at)) + [0.0, dt * buoyancy * d[i, j]]
        d, u = nd, (P @ nu.reshape(-1)).reshape(n, n, 2)
        out.append(d.copy())
    return np.array(out), u


def _plume(n=8, steps=6, seed=0, **kw):
    rng = np.random.default_rng(seed)
    d0 = np.zeros((n, n))
    d0[2:4, 3:5] = 1.0
    d0 += 0.1 * rng.random((n, n))
    v0 = 0.3 * rng.standard_normal((n, n, 2))
    source = np.zeros((n, n))
    source[3, 1] = 0.5
    return Smoke2D(d0, steps=steps, dt=0.5, v0=v0, source=source, buoyancy=1.2, **kw), \
        (d0, v0, source)


def test_the_projection_is_the_dense_orthogonal_projection():
    n = 8
    smoke, _ = _plume(n)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((smoke.window + 1, n, n, 2))
    smoke.u_star.from_numpy(w)
    smoke.project([smoke.u_star], [smoke.u], 2)
    got = smoke.u.to_numpy()[2]
    P = dense_projection(n)
    assert_close(got.reshape(-1), P @ w[2].reshape(-1), rtol=1e-10, what="P w")
    assert np.abs(smoke.divergence(2)).max() < 1e-10 * np.abs(w[2]).max()
    # applied twice it changes nothing (a projection)
    smoke.u_star.from_numpy(smoke.u.to_numpy())
    smoke.project([smoke.u_star], [smoke.u], 2)
    assert_close(smoke.u.to_numpy()[2], got, rtol=1e-10, what="P P w")


def test_runs_equal_the_numpy_scheme_and_each_other():
    smoke, (d0, v0, source) = _plume()
    expect, last_u = numpy_smoke(d0, v0, source, 1.2, 0.5, 6)
    whole = smoke.simulate()
    assert_close(whole, expect, rtol=1e-10, what="densities")
    assert_close(smoke.velocities()[-1], last_u, rtol=1e-10, what="last velocity")
    assert_close(smoke.simulate(whole=False), whole, rtol=1e-12, what="step by step")


def test_derivatives_of_every_parameter_equal_central_differences():
    smoke, _ = _plume()
    truth = smoke.simulate()
    smoke.observe(truth + 0.05 * np.random.default_rng(1).standard_normal(truth.shape))
    smoke.set("buoyancy", 1.5)
    rng = np.random.default_rng(2)
    names = ["d0", "v0", "source", "buoyancy"]
    dirs = [rng.standard_normal(np.shape(smoke.get(n))) for n in names]
    check_named_derivatives(smoke, names, dirs, h=1e-6)


def test_gradients_stay_finite_and_right_over_three_hundred_steps():
    smoke, _ = _plume(n=12, steps=300, seed=4)
    truth = smoke.simulate()
    smoke.observe(truth + 0.02)
    smoke.set("buoyancy", 1.0)
    value, (g_b, g_d0) = smoke.loss_grad(["buoyancy", "d0"])
    assert np.isfinite(value) and np.isfinite(g_b) and np.all(np.isfinite(g_d0))
    h = 1e-6
    smoke.set("buoyancy", 1.0 + h)
    up, _ = smoke.loss_grad(["buoyancy"])
    smoke.set("buoyancy", 1.0 - h)
    down, _ = smoke.loss_grad(["buoyancy"])
    assert_close(g_b, (up - down) / (2 * h), rtol=1e-5, what="d loss / d buoyancy")


def test_the_buoyancy_is_recovered_from_the_densities():
    smoke, _ = _plume(n=8, steps=10)
    data = smoke.simulate()
    smoke.set("buoyancy", 0.5)
    for method in ("L-BFGS-B", "Newton-CG"):
        smoke.set("buoyancy", 0.5)
        result = td.fit(smoke, data, params=["buoyancy"], method=method, tol=1e-14,
                        max_iter=30, progress=False)
        assert_close(result.values["buoyancy"], 1.2, rtol=1e-8, what=method)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_smoke_example_fits_and_saves_its_figure(tmp_path):
    r = run_example("physics_smoke", tmp_path, "--small")
    assert (tmp_path / "physics_smoke.png").exists()
    assert "relative error" in r.stdout


@pytest.mark.parametrize("bad, words", [
    (dict(d0=np.zeros((7, 7))), "even"), (dict(d0=np.zeros((4, 6))), "even"),
    (dict(dt=-1.0), "dt"), (dict(v0=np.zeros((8, 8))), "v0"),
    (dict(buoyancy=np.nan), "finite")])
def test_bad_input_is_refused(bad, words):
    kw = dict(d0=np.zeros((8, 8)), steps=4)
    kw.update(bad)
    with pytest.raises(TidalArgumentError, match=words):
        Smoke2D(**kw)
