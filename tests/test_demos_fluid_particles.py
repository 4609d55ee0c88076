"""The fluid and Lennard-Jones demos, headless (the generic frames test in test_demos.py runs
them too): a scripted drag pushes the fluid and its dye along the drag, the panel's force slider
and the view key act; the temperature slider heats the gas, the thermostat holds the set
temperature, the total momentum stays zero. And what the demos added to the simulators: Smoke2D's
force, dissipation and damping against a NumPy transcription and central differences; the
periodic box's forces against minus the finite-difference gradient of its potential energy,
its cell list against every pair, its momentum and energy.

Already tested elsewhere and not repeated: the free-space Lennard-Jones forces against their
closed form (test_physics_md.py::test_forces_equal_the_closed_form) and against minus the
potential's gradient (test_physics_particles.py::test_forces_are_minus_the_potential_gradient).
"""

import numpy as np
import pytest

import tidal as td
from tidal import demos
from tidal.demos.app import Layout, run
from tidal.demos.window import Event

from .reference import assert_close, check_named_derivatives

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True, scope="module")
def _f32():
    td.init(arch="cpu", default_fp=td.f32)


@pytest.fixture
def f64():
    td.init(arch="cpu", default_fp=td.f64)
    yield
    td.init(arch="cpu", default_fp=td.f32)


def panel_press(demo, label, fraction):
    """Press and release on the slider ``label`` at ``fraction`` of its track (frame 0)."""
    widgets = demo.controls()
    layout = Layout(demo.view, widgets)
    w = next(w for w in widgets if getattr(w, "label", "") == label)
    at = layout.window_position("panel", w.point(fraction))
    return [(0, Event("press", "LMB", at)), (0, Event("release", "LMB", at))]


# -- fluid ---------------------------------------------------------------------------------------
DRAG = [(0.3, 0.5), (0.4, 0.5), (0.5, 0.5), (0.6, 0.5)]  # rightwards along y = 0.5


def fluid_run(script_of=None, frames=5, still=True):
    demo = demos.demo("fluid", n=32, substeps=2, still=still)
    run(demo, headless=True, frames=frames, quiet=True,
        script=script_of(demo) if script_of else ())
    return demo, demo.state()


def drag(demo, points=DRAG):
    layout = Layout(demo.view, demo.controls())
    at = [layout.window_position("view", p) for p in points]
    return [(0, Event("press", "LMB", at[0]))] + \
        [(k, Event("motion", "", p)) for k, p in enumerate(at[1:], 1)]


def band(field, n, x=(0.3, 0.6), y=(0.42, 0.58)):
    """``field[i, j]`` over the cells whose centres lie in the rectangle ``x`` by ``y``."""
    c = (np.arange(n) + 0.5) / n
    return field[np.ix_((c >= x[0]) & (c <= x[1]), (c >= y[0]) & (c <= y[1]))]


def test_a_drag_pushes_the_fluid_and_lays_dye_along_it():
    free_demo, free = fluid_run()
    _, dragged = fluid_run(drag)
    n = free_demo.n
    du = dragged["velocity"] - free["velocity"]
    # the drag moves 0.1 a frame: 3.2 cells over a frame's 2 time units, 1.6 cells per unit
    # time; the splat gives the fluid under the cursor about that, the projection spreads it
    # into a jet and its return flow, and the band is wider than the splat: a fifth is plenty
    along, across = band(du[..., 0], n).mean(), band(du[..., 1], n).mean()
    assert along > 0.2 * 1.6 and abs(across) < 0.05 * along
    dye = dragged["density"] - free["density"]
    assert dye.sum() > 1.0 and dye.min() > -1e-6  # dye is only added
    c = (np.arange(n) + 0.5) / n
    total = dye.sum()
    centre = (np.sum(dye.sum(1) * c) / total, np.sum(dye.sum(0) * c) / total)
    # laid along the path (x from 0.3 to 0.6, y = 0.5) and carried downstream of its middle
    mid = np.mean([p[0] for p in DRAG])
    assert mid < centre[0] < 0.7 and abs(centre[1] - 0.5) < 0.02
    # the shear of a rightward jet: anticlockwise above the path, clockwise below
    vort = lambda s: np.gradient(s["velocity"][..., 1], axis=0) - \
        np.gradient(s["velocity"][..., 0], axis=1)  # noqa: E731
    dw = vort(dragged) - vort(free)
    assert band(dw, n, y=(0.55, 0.7)).mean() > 0 > band(dw, n, y=(0.3, 0.45)).mean()


def test_the_force_slider_at_zero_lays_dye_without_pushing():
    _, free = fluid_run()
    demo, still = fluid_run(lambda d: panel_press(d, "force", 0.0) + drag(d))
    assert demo.strength == 0.0
    du = still["velocity"] - free["velocity"]
    assert np.abs(du).max() < 1e-4 * max(np.abs(free["velocity"]).max(), 1.0)
    assert (still["density"] - free["density"]).sum() > 1.0


def test_the_view_key_shows_vorticity_then_speed():
    demo, _ = fluid_run(lambda d: [(0, Event("press", "v"))], frames=2)
    assert demo.view_name == "vorticity"
    values, (lo, hi) = demo.shown()
    assert_close(values, demo.vorticity(), rtol=0, what="vorticity")
    assert lo == -hi < 0
    demo.key("v")
    values, _ = demo.shown()
    assert_close(values, np.linalg.norm(demo.velocity, axis=-1), rtol=0, what="speed")


def numpy_step(d, u, source, force, k, q, dt, P):
    """One step of the scheme with the new terms, in NumPy (as test_physics_smoke's
    transcription, plus ``dt * force`` and the implicit decays)."""
    n = len(d)
    nd, nu = np.zeros_like(d), np.zeros_like(u)
    for i in range(n):
        for j in range(n):
            x = min(max(i - dt * u[i, j, 0], 0.0), n - 1.0)
            y = min(max(j - dt * u[i, j, 1], 0.0), n - 1.0)
            i0, j0 = min(max(int(np.floor(x)), 0), n - 2), min(max(int(np.floor(y)), 0), n - 2)
            fx, fy = x - i0, y - j0
            w = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
            at = ((i0, j0), (i0 + 1, j0), (i0, j0 + 1), (i0 + 1, j0 + 1))
            nd[i, j] = (sum(wk * d[a] for wk, a in zip(w, at)) + dt * source[i, j]) / (1 + dt * k)
            nu[i, j] = (sum(wk * u[a] for wk, a in zip(w, at)) + dt * force[i, j]) / (1 + dt * q)
    return nd, (P @ nu.reshape(-1)).reshape(n, n, 2)


def stirred_smoke(rng, n=8, steps=3):
    from tidal.physics import Smoke2D

    d0 = rng.random((n, n))
    v0 = 0.3 * rng.standard_normal((n, n, 2))
    force = rng.standard_normal((n, n, 2))
    source = rng.random((n, n))
    sim = Smoke2D(d0, steps=steps, dt=0.5, v0=v0, source=source, buoyancy=0.0, force=force,
                  dissipation=0.3, damping=0.2)
    return sim, (d0, v0, source, force)


def test_smoke_force_dissipation_and_damping_follow_the_numpy_scheme(f64):
    from tests.test_physics_smoke import dense_projection

    sim, (d, u, source, force) = stirred_smoke(np.random.default_rng(0))
    P = dense_projection(8)
    expect = [d]
    for _ in range(3):
        d, u = numpy_step(d, u, source, force, 0.3, 0.2, 0.5, P)
        expect.append(d)
    assert_close(sim.simulate(), np.array(expect), rtol=1e-10, what="densities")
    assert_close(sim.velocities()[-1], u, rtol=1e-10, what="last velocity")


def test_smoke_derivatives_of_the_new_parameters_equal_central_differences(f64):
    rng = np.random.default_rng(3)
    sim, _ = stirred_smoke(rng)
    truth = sim.simulate()
    sim.observe(truth + 0.05 * rng.standard_normal(truth.shape))
    sim.set("dissipation", 0.25)
    names = ["force", "dissipation", "damping"]
    dirs = [rng.standard_normal(np.shape(sim.get(n))) for n in names]
    check_named_derivatives(sim, names, dirs, h=1e-6)


# -- particles -----------------------------------------------------------------------------------
def gas_run(script_of=None, frames=12, **options):
    options = dict(dict(n=196, substeps=10), **options)
    demo = demos.demo("particles", **options)
    temperatures, momenta = [], []
    script = script_of(demo) if script_of else ()
    # one frame at a time, to watch every frame's measurements
    for k in range(frames):
        events = [(0, e) for f, e in script if f == k]
        run(demo, headless=True, frames=1, quiet=True, script=events)
        temperatures.append(demo.state()["temperature"])
        momenta.append(demo.state()["momentum"])
    return demo, np.array(temperatures), np.array(momenta)


def test_raising_the_temperature_slider_heats_the_gas():
    _, cold, _ = gas_run(temperature=0.3, frames=8)
    demo, hot, momenta = gas_run(lambda d: panel_press(d, "temperature", 0.6), temperature=0.3,
                                 frames=8)
    assert abs(demo.T0 - (0.05 + 0.6 * 2.45)) < 1e-9
    # climbing towards 1.52 (a tenth of the way a frame), then fluctuating there
    assert hot[-1] > 2.0 * cold[-1] and np.all(np.diff(hot[:6]) > 0)
    assert np.abs(momenta).max() < 1e-3  # the thermostat scales about the mean velocity


def test_the_thermostat_holds_the_set_temperature():
    # rate 1: every frame starts at exactly T0; what a frame of 10 steps (0.05 time units)
    # changes comes from kinetic and potential energy trading places, a few per cent in a
    # liquid of 196 particles; the canonical spread of one frame's kinetic temperature is
    # T0 sqrt(2 / (2 (n - 1))) = 7 %, and 20 frames averaged hold the mean within 3 %
    demo, T, _ = gas_run(frames=30, temperature=0.8, rate=1.0)
    assert np.all(np.abs(T - 0.8) < 0.2 * 0.8)
    assert abs(T[10:].mean() - 0.8) < 0.03 * 0.8
    # the thermostat itself sets the temperature exactly at rate 1
    demo.sim.thermostat_live(0.8, 1.0)
    assert abs(demo.sim.temperature() - 0.8) < 1e-5


def test_without_the_thermostat_momentum_stays_zero_and_a_kick_doubles_the_temperature():
    # every pair's forces cancel (nearest images are opposite); the kick scales the velocities
    # about their mean; f32 rounding of 196 velocities of order 1 leaves ~1e-5
    demo, T, momenta = gas_run(lambda d: [(0, Event("press", "t")), (4, Event("press", "h"))],
                               frames=6, temperature=0.8)
    assert not demo.on
    assert np.abs(momenta).max() < 1e-3
    assert T[4] > 1.6 * T[3]  # doubled at the start of frame 4, less what one frame trades
    before = demo.sim.temperature()
    demo.key("h")
    assert abs(demo.sim.temperature() - 2.0 * before) < 1e-4 * before


# -- the periodic box (Particles' new option) ---------------------------------------------------
def box_gas(n_side=6, box=8.4, seed=0, **kw):
    from tidal.physics import Particles

    rng = np.random.default_rng(seed)
    x = (np.argwhere(np.ones((n_side, n_side))) + 0.5) * box / n_side
    x = np.mod(x + rng.uniform(-0.15, 0.15, x.shape) - 0.5, box)  # some across the edges
    v = rng.standard_normal(x.shape)
    v -= v.mean(axis=0)
    return Particles("lennard_jones", x, velocities=v, epsilon=1.0, sigma=1.0, cutoff=2.5,
                     box=box, **kw), x


@pytest.mark.parametrize("cell_list", [False, True])
def test_box_forces_are_minus_the_gradient_of_the_potential_energy(f64, cell_list):
    gas, x = box_gas(steps=1, cell_list=cell_list)
    gas.simulate()
    h, fd = 1e-5, np.zeros_like(x)
    for i in range(len(x)):
        for d in range(2):
            e = np.zeros_like(x)
            e[i, d] = h
            fd[i, d] = -(gas.potential_energy(x + e) - gas.potential_energy(x - e)) / (2 * h)
    # central differences of an energy of order 10: truncation ~h^2 phi''' ~ 1e-8
    assert np.abs(gas.a.to_numpy()[0] - fd).max() < 1e-6 * (1 + np.abs(fd).max())
    assert np.abs(fd).max() > 0.1  # not a vacuous check
    # the k-d tree's energy equals every pair's
    i, j = np.triu_indices(len(x), 1)
    assert_close(gas.potential_energy(x), gas._pair_energies(x[i] - x[j]).sum(), rtol=1e-12,
                 what="energy")


def test_box_runs_keep_particles_in_the_box_momentum_and_energy(f64):
    every, _ = box_gas(steps=200, dt=0.002)
    cells, _ = box_gas(steps=200, dt=0.002, cell_list=True)
    x = every.simulate()
    assert_close(cells.simulate(), x, rtol=1e-10, what="cell list against every pair")
    assert x.min() >= 0.0 and x.max() < 8.4
    v = every.v.to_numpy()
    assert np.abs(v.sum(axis=1)).max() < 1e-12
    E = every.energy()
    assert np.ptp(E) < 2e-3 * np.abs(E).max()


def test_a_box_is_refused_without_a_fitting_cutoff_or_with_particles_outside(f64):
    from tidal.physics import Particles

    x = np.array([[1.0, 1.0], [2.2, 1.0]])
    with pytest.raises(td.TidalError, match="half its side"):
        Particles("lennard_jones", x, steps=1, epsilon=1.0, sigma=1.0, box=4.0)
    with pytest.raises(td.TidalError, match="in the box"):
        Particles("lennard_jones", x, steps=1, epsilon=1.0, sigma=1.0, cutoff=0.9, box=2.0)
    with pytest.raises(td.TidalError, match="three cells"):
        Particles("lennard_jones", x, steps=1, epsilon=1.0, sigma=1.0, cutoff=1.5, box=4.0,
                  cell_list=True)
