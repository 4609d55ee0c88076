"""tidal.physics.Particles (pair potentials over particles in fields): forces against the
potentials' closed-form derivatives, trajectories against the unrolled pair_system (an
independent implementation of the same velocity Verlet), energy conservation, the cutoff, both
runs alike, derivatives of every named parameter against central differences, recovery of
Lennard-Jones parameters from a trajectory, and bad input."""

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.dsl.errors import TidalArgumentError
from tidal.physics import Particles, pair_system

from .reference import assert_close, check_named_derivatives, run_example

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _lattice(side, spacing=1.12, jitter=0.05, seed=0, dim=2):
    rng = np.random.default_rng(seed)
    grid = np.argwhere(np.ones((side,) * dim)).astype(float) * spacing
    return grid + rng.uniform(-jitter, jitter, grid.shape)


def lj_force_numpy(x, epsilon, sigma):
    """Pair forces from ``phi'(r) = 4 eps (-12 s^12 / r^13 + 6 s^6 / r^7)``, by hand."""
    delta = x[:, None] - x[None]
    r = np.linalg.norm(delta, axis=-1) + np.eye(len(x))
    dphi = 4 * epsilon * (-12 * sigma ** 12 / r ** 13 + 6 * sigma ** 6 / r ** 7)
    np.fill_diagonal(dphi, 0.0)
    return np.sum((-dphi / r)[..., None] * delta, axis=1)


def test_forces_equal_the_closed_form():
    x = _lattice(3)
    gas = Particles("lennard_jones", x, steps=1, epsilon=1.3, sigma=0.9, mass=2.0)
    gas.simulate()
    assert_close(gas.a.to_numpy()[0], lj_force_numpy(x, 1.3, 0.9) / 2.0, rtol=1e-12,
                 what="accelerations")


@pytest.mark.parametrize("potential, params", [
    ("lennard_jones", dict(epsilon=1.0, sigma=1.0)),
    pytest.param("morse", dict(depth=1.0, width=2.0, r0=1.1), marks=pytest.mark.slow),
    pytest.param("gravity", dict(G=0.5, softening=0.1), marks=pytest.mark.slow)])
def test_trajectories_equal_the_unrolled_pair_system(potential, params):
    x = np.array([[0.0, 0.0, 0.0], [1.1, 0.05, 0.0], [0.1, 1.15, 0.0], [0.05, 0.0, 1.2]])
    v = 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    gas = Particles(potential, x, steps=50, dt=0.005, velocities=v, mass=1.5, **params)
    small = pair_system(potential, x, velocities=v, mass=1.5, dt=0.005, steps=50, **params)
    expect = small.simulate()[0][:, :x.size].reshape(51, *x.shape)
    assert_close(gas.simulate(), expect, rtol=1e-11, what=potential)
    assert_close(gas.simulate(whole=False), gas.simulate(), rtol=1e-12, what="both runs")


def test_velocity_verlet_conserves_energy():
    x = _lattice(4)
    v = 0.3 * np.random.default_rng(2).standard_normal(x.shape)
    gas = Particles("lennard_jones", x, steps=2000, dt=0.002, velocities=v, epsilon=1.0,
                    sigma=1.0)
    gas.simulate()
    energy = gas.energy()
    drift = np.max(np.abs(energy - energy[0])) / np.abs(energy[0])
    assert drift < 1e-3, drift
    assert np.ptp(energy) > 0  # (not a frozen system)


def test_a_cutoff_drops_far_pairs_and_changes_nothing_beyond_every_distance():
    x = np.array([[0.0, 0.0], [1.1, 0.0], [5.0, 0.0]])
    near = Particles("lennard_jones", x, steps=1, epsilon=1.0, sigma=1.0, cutoff=2.5)
    near.simulate()
    a = near.a.to_numpy()[0]
    assert_close(a[:2], lj_force_numpy(x[:2], 1.0, 1.0), rtol=1e-12, what="near pair")
    assert np.all(a[2] == 0.0)
    wide = Particles("lennard_jones", x, steps=20, epsilon=1.0, sigma=1.0, cutoff=100.0)
    free = Particles("lennard_jones", x, steps=20, epsilon=1.0, sigma=1.0)
    assert_close(wide.simulate(), free.simulate(), rtol=1e-13, what="cutoff beyond all")


def test_derivatives_of_every_parameter_equal_central_differences():
    x = _lattice(3)
    gas = Particles("lennard_jones", x, steps=40, dt=0.005, epsilon=1.0, sigma=1.0,
                    velocities=0.2 * np.random.default_rng(3).standard_normal(x.shape))
    truth = gas.simulate()
    gas.observe(truth + 0.01 * np.random.default_rng(4).standard_normal(truth.shape))
    gas.set("epsilon", 1.2)
    rng = np.random.default_rng(5)
    names = ["epsilon", "sigma", "mass", "x0", "v0"]
    dirs = [rng.standard_normal(np.shape(gas.get(n))) for n in names]
    check_named_derivatives(gas, names, dirs, h=1e-6)


def test_lennard_jones_parameters_are_recovered_from_a_trajectory():
    x = _lattice(3, jitter=0.1)
    v = 0.3 * np.random.default_rng(6).standard_normal(x.shape)
    truth = Particles("lennard_jones", x, steps=200, dt=0.005, velocities=v, epsilon=1.0,
                      sigma=1.0).simulate()
    for method in ("L-BFGS-B", "Newton-CG"):
        gas = Particles("lennard_jones", x, steps=200, dt=0.005, velocities=v, epsilon=1.15,
                        sigma=1.05)
        result = td.fit(gas, truth, ["epsilon", "sigma"], method=method, tol=1e-14,
                        max_iter=30, progress=False)
        for name in ("epsilon", "sigma"):
            assert_close(result.values[name], 1.0, rtol=1e-8, what=f"{name} ({method})")


@pytest.mark.parametrize("kw, words", [
    (dict(potential="yukawa"), "unknown potential"),
    (dict(sigma=None), "missing sigma"),
    (dict(positions=[[0.0, 0.0], [0.0, 0.0]]), "same position"),
    (dict(positions=[[0.0, 0.0]]), "at least two"),
    (dict(mass=-1.0), "mass must be positive"),
    (dict(cutoff=0.0), "cutoff"),
    (dict(dt=0.0), "dt")])
def test_bad_input_is_refused(kw, words):
    args = dict(potential="lennard_jones", positions=[[0.0, 0.0], [1.2, 0.0]], steps=4,
                epsilon=1.0, sigma=1.0)
    args.update(kw)
    if args.get("sigma", 0) is None:
        del args["sigma"]
    with pytest.raises(TidalArgumentError, match=words):
        Particles(**args)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_gas_example_fits_and_saves_its_figure(tmp_path):
    r = run_example("physics_gas", tmp_path, "--small")
    assert (tmp_path / "physics_gas.png").exists()
    assert "standard errors away" in r.stdout


# (three dimensions, the costliest to compile and run, behind the slow marker)
@pytest.mark.parametrize("dim, side", [(2, 5), pytest.param(3, 3, marks=pytest.mark.slow), (1, 7)])
def test_a_cell_list_gives_the_forces_trajectory_and_gradients_of_every_pair(dim, side):
    """The cell list visits only neighbouring cells: against the loop over every pair with the
    same cutoff, equal trajectories and equal gradients (their reference is checked against
    central differences above). The particles move out of the grid's starting box (a fast
    one is sent away), which its clamped edge cells must absorb."""
    x = _lattice(side, dim=dim, seed=7)
    v = 0.5 * np.random.default_rng(8).standard_normal(x.shape)
    v[0] = -40.0  # leaves the grid (two cells of margin) within the run
    kw = dict(steps=40, dt=0.005, velocities=v, epsilon=1.0, sigma=1.0, cutoff=1.7)
    every = Particles("lennard_jones", x, **kw)
    cells = Particles("lennard_jones", x, cell_list=True, **kw)
    path = every.simulate()
    assert np.any(np.abs(path[-1, 0] - x[0]) > 2 * 1.7 * 2)  # it did leave the grid
    assert_close(cells.simulate(), path, rtol=1e-13, what="trajectory")
    assert_close(cells.simulate(whole=False), path, rtol=1e-13, what="per-step trajectory")
    every.set("epsilon", 1.1)
    cells.set("epsilon", 1.1)
    every.observe(path)
    cells.observe(path)
    names = ["epsilon", "sigma", "x0"]
    value, grads = every.loss_grad(names)
    value_c, grads_c = cells.loss_grad(names)
    assert_close(value_c, value, rtol=1e-13, what="loss")
    for name, g, gc in zip(names, grads, grads_c):
        assert_close(gc, g, rtol=1e-10, what=f"d/d{name}")


def test_a_cell_list_needs_a_cutoff():
    with pytest.raises(TidalArgumentError, match="needs a cutoff"):
        Particles("lennard_jones", [[0.0, 0.0], [1.2, 0.0]], steps=4, epsilon=1.0, sigma=1.0,
                  cell_list=True)


# (CI time: the cell list and checkpointed windows are each checked in CI, apart)
@pytest.mark.slow
def test_a_cell_list_run_in_checkpointed_windows_equals_the_stored_run():
    x = _lattice(4, seed=9)
    v = 0.3 * np.random.default_rng(10).standard_normal(x.shape)
    kw = dict(steps=24, dt=0.005, velocities=v, epsilon=1.0, sigma=1.0, cutoff=1.7,
              cell_list=True)
    stored = Particles("lennard_jones", x, **kw)
    windows = Particles("lennard_jones", x, checkpoint_every=6, **kw)
    data = stored.simulate()
    assert_close(windows.simulate(), data, rtol=1e-13, what="trajectory")
    names = ["epsilon", "sigma", "v0"]
    for sim in (stored, windows):
        sim.set("sigma", 1.05)
        sim.observe(data)
    value, grads = stored.loss_grad(names)
    value_w, grads_w = windows.loss_grad(names)
    assert_close(value_w, value, rtol=1e-12, what="loss")
    for name, g, gw in zip(names, grads, grads_w):
        assert_close(gw, g, rtol=1e-10, what=f"d/d{name}")
