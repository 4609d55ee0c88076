"""tidal.physics.MPM2D: MLS-MPM against an independent NumPy transcription of the scheme,
conservation of momentum in free flight, both runs alike, derivatives of E and the initial
state against central differences, recovery of Young's modulus, and bad input."""

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.physics import MPM2D
from tidal.physics.mpm import block

from .reference import assert_close, check_named_derivatives, run_example

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def numpy_mpm(x0, v0, steps, E, nu, grid, dt, gravity, density, wall):
    """The same MLS-MPM step in NumPy, particle by particle (independent of tidal)."""
    dx, inv_dx = 1.0 / grid, float(grid)
    vol = (0.5 * dx) ** 2
    mass = density * vol
    mu, la = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    x, v = x0.copy(), v0.copy()
    C = np.zeros((len(x), 2, 2))
    F = np.tile(np.eye(2), (len(x), 1, 1))
    out = [x.copy()]
    for _ in range(steps):
        gp, gm = np.zeros((grid, grid, 2)), np.zeros((grid, grid))
        for p in range(len(x)):
            base = (x[p] * inv_dx - 0.5).astype(int)
            fx = x[p] * inv_dx - base
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            F[p] = (np.eye(2) + dt * C[p]) @ F[p]
            a, b = F[p][0, 0] + F[p][1, 1], F[p][1, 0] - F[p][0, 1]
            c, s = a / np.hypot(a, b), b / np.hypot(a, b)
            R = np.array([[c, -s], [s, c]])
            J = np.linalg.det(F[p])
            tau = 2 * mu * (F[p] - R) @ F[p].T + np.eye(2) * la * (J - 1) * J
            affine = -(dt * vol * 4 * inv_dx ** 2) * tau + mass * C[p]
            for i in range(3):
                for j in range(3):
                    dpos = (np.array([i, j]) - fx) * dx
                    weight = w[i][0] * w[j][1]
                    gp[base[0] + i, base[1] + j] += weight * (mass * v[p] + affine @ dpos)
                    gm[base[0] + i, base[1] + j] += weight * mass
        has = gm > 0
        gv = np.zeros_like(gp)
        gv[has] = gp[has] / gm[has][:, None]
        gv[has, 1] -= dt * gravity
        gv[:wall, :, 0] = 0.0
        gv[grid - wall:, :, 0] = 0.0
        gv[:, :wall, 1] = 0.0
        gv[:, grid - wall:, 1] = 0.0
        for p in range(len(x)):
            base = (x[p] * inv_dx - 0.5).astype(int)
            fx = x[p] * inv_dx - base
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            nv, nC = np.zeros(2), np.zeros((2, 2))
            for i in range(3):
                for j in range(3):
                    dpos = np.array([i, j]) - fx
                    g = gv[base[0] + i, base[1] + j]
                    weight = w[i][0] * w[j][1]
                    nv += weight * g
                    nC += 4 * inv_dx * weight * np.outer(g, dpos)
            v[p], C[p] = nv, nC
            x[p] = x[p] + dt * nv
        out.append(x.copy())
    return np.array(out)


def _falling(steps=60, E=150.0, grid=16, dt=1e-3):
    pos = block((0.4, 0.22), (0.12, 0.12), 0.03)
    vel = np.tile([0.3, -2.0], (len(pos), 1))
    return MPM2D(pos, steps=steps, E=E, grid=grid, dt=dt, velocities=vel), pos, vel


def test_a_block_hitting_the_floor_equals_the_numpy_scheme():
    sim, pos, vel = _falling()
    traj = sim.simulate()
    ref = numpy_mpm(pos, vel, 60, 150.0, 0.2, 16, 1e-3, 9.8, 1.0, 3)
    assert traj[:, :, 1].min() < pos[:, 1].min() - 0.05  # it moved and was squeezed
    assert_close(traj, ref, rtol=1e-12, what="particle positions")
    assert_close(sim.simulate(whole=False), traj, rtol=1e-12, what="per-step run")


def test_momentum_is_conserved_in_free_flight():
    """No gravity, far from the walls: APIC transfers conserve linear momentum while the
    spinning body deforms."""
    pos = block((0.45, 0.45), (0.1, 0.1), 0.025)
    spin = np.column_stack([-(pos[:, 1] - 0.5), pos[:, 0] - 0.5]) * 3.0 + [0.2, 0.1]
    sim = MPM2D(pos, steps=40, E=50.0, grid=24, dt=1e-3, gravity=0.0, velocities=spin)
    sim.simulate()
    v = sim.v.to_numpy()
    momentum = v.sum(axis=1)  # equal particle masses
    assert_close(momentum, np.broadcast_to(momentum[0], momentum.shape), rtol=1e-12,
                 what="total momentum")


def test_derivatives_of_E_and_the_initial_state_equal_central_differences():
    sim, pos, vel = _falling(steps=40)
    rng = np.random.default_rng(0)
    sim.observe(sim.simulate() + 0.002 * rng.normal(size=sim.observation_shape))
    dirs = [np.array(1.0), 0.01 * rng.normal(size=pos.shape), rng.normal(size=pos.shape)]
    check_named_derivatives(sim, ["E", "x0", "v0"], dirs, h=1e-5)


# (Newton-CG, whose Hessian-vector products compile kernels of their own, behind the slow marker)
@pytest.mark.parametrize("method", ["L-BFGS-B", pytest.param("Newton-CG", marks=pytest.mark.slow)])
def test_youngs_modulus_is_recovered_from_the_bounce(method):
    sim, _, _ = _falling(steps=80, E=150.0)
    observed = sim.simulate()
    sim.set("E", 110.0)
    r = td.fit(sim, observed, ["E"], method=method, log_scale=True, max_iter=30,
               progress=False)
    assert abs(float(r.values["E"]) / 150.0 - 1.0) < 1e-8, (method, r.values, r.message)


def test_bad_input_is_refused():
    pos = block((0.4, 0.4), (0.1, 0.1), 0.025)
    with pytest.raises(td.TidalError, match="inside the walls"):
        MPM2D(pos - 0.4, steps=5, grid=16)
    with pytest.raises(td.TidalError, match="Poisson"):
        MPM2D(pos, steps=5, nu=0.5, grid=16)
    sim = MPM2D(pos, steps=5, grid=16)
    with pytest.raises(td.TidalError, match="positive"):
        sim.set("E", -1.0)
    with pytest.raises(td.TidalError, match="unknown parameter"):
        sim.set("mu", 1.0)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_mpm_example_fits_and_saves_its_figure(tmp_path):
    r = run_example("physics_mpm", tmp_path, "--small")
    assert (tmp_path / "physics_mpm.png").exists()
    assert "E =" in r.stdout
