"""tidal.physics.RigidBoxes2D: free flight against its discrete closed form, bouncing boxes
against an independent NumPy transcription, both runs alike, derivatives of every named
parameter against central differences, recovery of masses, restitution and friction, and bad
input."""

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.physics import RigidBoxes2D

from .reference import assert_close, check_named_derivatives

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CORNERS = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def numpy_boxes(ext, x0, v0, a0, w0, mass, e, mu, push, steps, dt, g=9.8, floor=0.0):
    """The same step in NumPy, body by body (independent of tidal)."""
    x, v, a, w = (np.array(q, dtype=float) for q in (x0, v0, a0, w0))
    out = [np.column_stack([x, a])]
    for t in range(steps):
        nx, na = x.copy(), a.copy()
        for b in range(len(x)):
            inertia = mass[b] * (ext[b][0] ** 2 + ext[b][1] ** 2) / 3.0
            ov, ow = v[b].copy(), w[b]
            nv = ov + dt * (push[t, b] / mass[b] + np.array([0.0, -g]))
            nw = ow
            toi, contact = dt, 0.0
            c, s = np.cos(a[b]), np.sin(a[b])
            for sx, sy in CORNERS:
                lx, ly = sx * ext[b][0], sy * ext[b][1]
                r = np.array([c * lx - s * ly, s * lx + c * ly])
                height = x[b][1] + r[1] - floor
                vy = nv[1] + nw * r[0]
                if height + dt * vy < 0 and vy < 0:
                    ovy = ov[1] + ow * r[0]
                    toi = min(toi, min(dt, max(0.0, -height / ovy)) if ovy < 0 else 0.0)
                    contact = 1.0
                    jn = -(1 + e) * vy / (1 / mass[b] + r[0] ** 2 / inertia)
                    vt = nv[0] - nw * r[1]
                    jt = np.clip(-vt / (1 / mass[b] + r[1] ** 2 / inertia), -mu * jn, mu * jn)
                    nv = nv + np.array([jt, jn]) / mass[b]
                    nw = nw + (r[0] * jn - r[1] * jt) / inertia
            toi *= contact
            nx[b] = x[b] + toi * ov + (dt - toi) * nv
            na[b] = a[b] + toi * ow + (dt - toi) * nw
            v[b], w[b] = nv, nw
        x, a = nx, na
        out.append(np.column_stack([x, a]))
    return np.array(out)


def _two_boxes(steps=300, mass=(1.0, 2.0), e=0.6, mu=0.2):
    ext = np.array([[0.2, 0.1], [0.15, 0.15]])
    push = np.zeros((steps, 2, 2))
    push[:50, :, 0] = [2.0, -1.0]  # a known shove: it makes the masses observable
    # thrown sideways fast enough to slide on impact, so that friction acts at its limit
    kw = dict(angles=[0.3, -0.2], spins=[1.0, 0.0], velocities=[[1.5, 0.0], [-1.0, 1.0]],
              push=push)
    sim = RigidBoxes2D(ext, [[0.0, 0.6], [1.0, 0.4]], steps=steps, mass=list(mass),
                       restitution=e, friction=mu, **kw)
    return sim, ext, push


def test_free_flight_follows_the_discrete_parabola():
    steps, dt = 100, 2e-3
    sim = RigidBoxes2D([[0.1, 0.1]], [[0.0, 5.0]], steps=steps, dt=dt, velocities=[[1.0, 2.0]],
                       angles=[0.2], spins=[3.0])
    k = np.arange(steps + 1)
    # symplectic Euler: v_k = v0 - k dt g, x_k = x0 + dt sum_{i=1..k} v_i
    y = 5.0 + k * dt * 2.0 - 9.8 * dt * dt * k * (k + 1) / 2
    expect = np.column_stack([k * dt * 1.0, y, 0.2 + 3.0 * k * dt])
    assert_close(sim.simulate()[:, 0], expect, rtol=1e-12, what="free flight")


def test_bouncing_boxes_equal_the_numpy_transcription_and_both_runs_agree():
    sim, ext, push = _two_boxes()
    traj = sim.simulate()
    assert traj[:, :, 1].min() < 0.2  # they reached the ground
    ref = numpy_boxes(ext, sim.get("x0"), sim.get("v0"), sim.get("angle0"),
                      sim.get("omega0"), sim.get("mass"), 0.6, 0.2, push, 300, 2e-3)
    assert_close(traj, ref, rtol=1e-12, what="poses")
    assert_close(sim.simulate(whole=False), traj, rtol=1e-12, what="per-step run")


def test_derivatives_of_every_named_parameter_equal_central_differences():
    sim, _, _ = _two_boxes(steps=200)
    rng = np.random.default_rng(0)
    sim.observe(sim.simulate() + 0.002 * rng.normal(size=sim.observation_shape))
    names = list(sim.names)
    dirs = [rng.normal(size=np.shape(sim.get(n))) for n in names]
    check_named_derivatives(sim, names, dirs, h=1e-6)


@pytest.mark.parametrize("method", ["Newton-CG",
                                    pytest.param("L-BFGS-B", marks=pytest.mark.slow)])
def test_masses_restitution_and_friction_are_recovered(method):
    sim, _, _ = _two_boxes()
    observed = sim.simulate()
    truth = {"mass": np.array([1.0, 2.0]), "restitution": 0.6, "friction": 0.2}
    sim.set("mass", [1.2, 1.7])
    sim.set("restitution", 0.5)
    sim.set("friction", 0.23)
    r = td.fit(sim, observed, list(truth), method=method, log_scale=True, max_iter=30,
               progress=False)
    err = max(float(np.max(np.abs(np.asarray(r.values[n]) / v - 1.0)))
              for n, v in truth.items())
    print(f"{method}: masses, restitution, friction to {err:.1e} in {r.iterations} "
          f"iterations, {r.evaluations} evaluations")
    assert err <= 1e-8


def test_bad_input_is_refused():
    with pytest.raises(td.TidalError, match="above the floor"):
        RigidBoxes2D([[0.2, 0.1]], [[0.0, 0.05]], steps=5)
    with pytest.raises(td.TidalError, match="half_extents"):
        RigidBoxes2D([[0.2, -0.1]], [[0.0, 1.0]], steps=5)
    with pytest.raises(td.TidalError, match="push"):
        RigidBoxes2D([[0.2, 0.1]], [[0.0, 1.0]], steps=5, push=np.zeros((4, 1, 2)))
    sim = RigidBoxes2D([[0.2, 0.1]], [[0.0, 1.0]], steps=5)
    with pytest.raises(td.TidalError, match="positive"):
        sim.set("mass", 0.0)
    with pytest.raises(td.TidalError, match="unknown parameter"):
        sim.set("inertia", 1.0)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_rigid_example_fits_and_saves_its_figure(tmp_path):
    from .reference import run_example

    r = run_example("physics_rigid", tmp_path)
    assert (tmp_path / "physics_rigid.png").exists()
    assert "restitution = 0.600" in r.stdout
