"""The cloth and mass-spring builder demos, headless with scripted input: a click adds a mass at
the cursor that then falls as gravity and drag predict, a pinned mass stays put, a hanging
spring stretches by g / k (so stiffer springs sag less), the cloth drapes over the ball without
entering it, the damping slider slows its fall as linear drag predicts (from the flat sheet
again after reset), stiffer cloth sags less, and turning the camera changes the picture but not
the simulation."""

import imageio.v3 as iio
import numpy as np
import pytest

import tidal as td
from tidal import demos
from tidal.demos.app import Layout, run
from tidal.demos.widgets import Button, Slider
from tidal.demos.window import Event

G = 9.8


@pytest.fixture(autouse=True, scope="module")
def _f32():
    td.init(arch="cpu", default_fp=td.f32)


def click(demo, pos, frame, button="LMB"):
    """A press at ``frame`` and the release one frame later, at ``pos`` in the view."""
    at = Layout(demo.view, demo.controls()).window_position("view", pos)
    return [(frame, Event("press", button, at)), (frame + 1, Event("release", button, at))]


def panel_press(demo, label, frame, fraction=0.5):
    """A press and release on the panel: on a slider's track at ``fraction`` of its length, or
    on the button whose text contains ``label``."""
    widgets = demo.controls()  # run() builds the same widgets in the same places
    layout = Layout(demo.view, widgets)
    for w in widgets:
        (x0, y0), (x1, y1) = w.rect
        if isinstance(w, Slider) and w.label == label:
            at = layout.window_position("panel", w.point(fraction))
            break
        if isinstance(w, Button) and label in w.text():
            at = layout.window_position("panel", (0.5 * (x0 + x1), 0.5 * (y0 + y1)))
            break
    else:
        raise AssertionError(f"no widget {label!r}")
    return [(frame, Event("press", "LMB", at)), (frame, Event("release", "LMB", at))]


def falling(steps, dt, damping, v0=0.0):
    """Height change and velocity after ``steps`` of symplectic Euler under gravity and linear
    drag (the model's update, written out independently)."""
    y, v = 0.0, v0
    for _ in range(steps):
        v = v + dt * (-G - damping * v)
        y += dt * v
    return y, v


# -- the mass-spring builder ----------------------------------------------------------------------
def test_a_click_adds_a_mass_at_the_cursor_that_then_falls_under_gravity_and_drag():
    demo = demos.demo("springs", start=[])
    target = (0.7, 0.6)
    script = [(0, Event("press", "space"))] + click(demo, target, 0)
    run(demo, headless=True, frames=3, script=script, quiet=True)
    state = demo.state()
    assert demo.paused and len(state["positions"]) == 1 and state["pairs"] == []
    np.testing.assert_allclose(state["positions"][0], target, atol=1e-6)

    frames = 10  # resume: a lone mass falls freely
    run(demo, headless=True, frames=frames, script=[(0, Event("press", "space"))], quiet=True)
    dy, vy = falling(frames * demo.sim.window, demo.sim.dt, float(demo.sim.get("damping")))
    x, v = demo.state()["positions"][0], demo.state()["velocities"][0]
    np.testing.assert_allclose(x, [target[0], target[1] + dy], atol=2e-5)
    np.testing.assert_allclose(v, [0.0, vy], rtol=1e-4, atol=1e-5)

    # a second click near the first mass joins them with a spring of the distance between them
    near = (x[0] + 0.1, x[1])
    script = [(0, Event("press", "space"))] + click(demo, near, 0)
    run(demo, headless=True, frames=2, script=script, quiet=True)
    state = demo.state()
    assert state["pairs"] == [(0, 1)]
    assert demo.rests[0] == pytest.approx(0.1, abs=1e-6)


def hanging(k_script, frames=150):
    """A mass hung by one spring from a mass pinned with a right click, after it settles."""
    demo = demos.demo("springs", start=[])
    demo.set_damping(5.0)
    top, below = (0.5, 0.8), (0.5, 0.7)
    script = [(0, Event("press", "space"))] + click(demo, top, 0) + click(demo, below, 2) \
        + click(demo, top, 4, "RMB") + k_script(demo) + [(6, Event("press", "space"))]
    run(demo, headless=True, frames=frames, script=script, quiet=True)
    return demo, demo.state()


def test_a_pinned_mass_stays_and_a_hanging_spring_stretches_by_g_over_k():
    soft_demo, soft = hanging(lambda d: panel_press(d, "stiffness", 1, fraction=0.0))
    stiff_demo, stiff = hanging(lambda d: [])
    assert soft_demo.k == pytest.approx(100.0) and stiff_demo.k == pytest.approx(2000.0)
    for state in (soft, stiff):
        assert state["fixed"] == [0] and state["pairs"] == [(0, 1)]
        np.testing.assert_allclose(state["positions"][0], (0.5, 0.8), atol=1e-6)
        np.testing.assert_allclose(state["velocities"][0], 0.0, atol=0.0)
    sag = {k: 0.1 - (s["positions"][0, 1] - s["positions"][1, 1])
           for k, s in ((100.0, soft), (2000.0, stiff))}
    # at rest the spring holds the unit mass: k * extension = g
    for k, s in sag.items():
        assert -s == pytest.approx(G / k, rel=0.03)
    assert -sag[100.0] > 10 * -sag[2000.0]


def test_the_builder_refuses_masses_beyond_its_capacity_and_c_clears_the_scene():
    demo = demos.demo("springs", capacity=3, start=[(0.2, 0.5), (0.3, 0.5)])
    script = [(0, Event("press", "space"))] + click(demo, (0.6, 0.6), 0) \
        + click(demo, (0.8, 0.6), 2)
    run(demo, headless=True, frames=4, script=script, quiet=True)
    assert demo.count == 3 and "full" in demo.status()
    np.testing.assert_allclose(demo.state()["positions"][2], (0.6, 0.6), atol=1e-6)
    run(demo, headless=True, frames=2, script=[(0, Event("press", "c"))], quiet=True)
    assert demo.count == 0 and demo.state()["pairs"] == []


# -- the cloth -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cloth_demo():
    td.init(arch="cpu", default_fp=td.f32)
    return demos.demo("cloth", size=20)


def test_the_cloth_drapes_over_the_ball_without_entering_it(cloth_demo):
    demo = cloth_demo
    run(demo, headless=True, frames=1, script=panel_press(demo, "reset", 0), quiet=True)
    run(demo, headless=True, frames=40, quiet=True)
    x = demo.state()["positions"]
    centre, radius = demo.ball
    distance = np.linalg.norm(x - centre, axis=1)
    assert distance.min() >= radius * (1.0 - 1e-5)  # nothing inside the ball
    assert distance.min() <= radius + 0.01  # but it lies on it
    # the sheet's middle rests on the ball's top (not below it)
    over = np.linalg.norm(x[:, [0, 2]] - centre[[0, 2]], axis=1) < 0.05
    assert over.any()
    top = centre[1] + np.sqrt(radius ** 2 - np.linalg.norm(
        x[over][:, [0, 2]] - centre[[0, 2]], axis=1) ** 2)
    assert np.all(x[over, 1] >= top - 1e-5) and np.all(x[over, 1] <= top + 0.02)
    assert x[:, 1].min() >= 0.0  # and the floor holds what hangs down


def test_the_damping_slider_slows_the_fall_as_linear_drag_predicts(cloth_demo):
    demo = cloth_demo
    velocity = {}
    for fraction, c in ((0.0, 0.0), (0.8, 8.0)):
        script = panel_press(demo, "reset", 0) + panel_press(demo, "damping", 0, fraction)
        run(demo, headless=True, frames=5, script=script, quiet=True)  # before it lands
        assert float(demo.sim.get("damping")) == pytest.approx(c, abs=1e-9)
        x, v = demo.state()["positions"], demo.state()["velocities"]
        dy, expected = falling(5 * demo.sim.window, demo.sim.dt, c)
        # reset: the flat sheet again, every mass falling alike
        start = demo.sim.get("x0")
        np.testing.assert_allclose(x, start + [0.0, dy, 0.0], atol=1e-4)
        np.testing.assert_allclose(v[:, 1], expected, rtol=1e-4)
        np.testing.assert_allclose(v[:, [0, 2]], 0.0, atol=1e-3)  # f32 rest lengths
        velocity[c] = expected
    assert abs(velocity[8.0]) < abs(velocity[0.0])
    demo.set_damping(1.0)


def test_stiffer_cloth_sags_less(cloth_demo):
    demo = cloth_demo
    runs = {}
    for fraction in (1.0, 0.0):
        script = panel_press(demo, "reset", 0) + panel_press(demo, "stiffness", 0, fraction)
        run(demo, headless=True, frames=40, script=script, quiet=True)
        runs[fraction] = (demo.state()["positions"], demo.stretch())
    (stiff, stiff_stretch), (soft, soft_stretch) = runs[1.0], runs[0.0]
    assert soft[:, 1].mean() < stiff[:, 1].mean() - 0.01
    assert soft_stretch.max() > 2 * stiff_stretch.max()


def test_turning_the_camera_changes_the_picture_but_not_the_simulation(cloth_demo, tmp_path):
    demo = cloth_demo
    seen = {}
    drag_from = Layout(demo.view, demo.controls()).window_position("view", (0.3, 0.5))
    drag_to = Layout(demo.view, demo.controls()).window_position("view", (0.6, 0.5))
    scripts = {"still": [], "keys": [(2, Event("press", "left"))],
               "drag": [(2, Event("press", "LMB", drag_from)), (3, Event("motion", "", drag_to))]}
    for name, script in scripts.items():
        yaw = demo.camera.yaw
        out = tmp_path / name
        result = run(demo, headless=True, frames=6, out=out, quiet=True,
                     script=panel_press(demo, "reset", 0) + script)
        seen[name] = (demo.state()["positions"], iio.imread(result.written[-1])[:demo.view],
                      demo.camera.yaw - yaw)
        demo.camera.yaw = yaw
    still = seen["still"]
    assert still[2] == 0.0
    for name in ("keys", "drag"):
        x, image, turned = seen[name]
        np.testing.assert_allclose(x, still[0], atol=1e-6)  # (f32 atomic sums' order)
        assert abs(turned) > 0.05
        assert np.abs(image.astype(int) - still[1].astype(int)).sum() > 1000


def test_the_stiffness_slider_stays_within_the_stable_step():
    from tidal.demos.cloth import STIFFNESS_RANGE

    demo = demos.demo("cloth")
    demo.set_stiffness(STIFFNESS_RANGE[1])
    assert demo.sim.stability() <= 1.0 + 1e-12


def test_changing_springs_and_anchors_in_place_equals_building_the_model_with_them():
    from tidal.physics import MassSpring, lattice

    x0, springs, anchored = lattice(4)
    x0 = x0 + np.random.default_rng(1).uniform(-0.02, 0.02, x0.shape)
    other = springs[::-1].copy()
    other[: len(other) // 2] = other[: len(other) // 2, ::-1]  # same springs, other order/ends
    rest = np.full(len(springs), 0.09)
    built = MassSpring(x0, other, 50.0, steps=30, anchored=[0, 15], rest=rest).simulate()
    changed = MassSpring(x0, springs, 50.0, steps=30, anchored=anchored)
    changed.set_springs(other, rest)
    changed.set_anchored([0, 15])
    np.testing.assert_allclose(changed.simulate(), built, atol=1e-6)
    with pytest.raises(td.TidalError, match="as many springs"):
        changed.set_springs(other[:-1])
    with pytest.raises(td.TidalError, match="anchored indices"):
        changed.set_anchored([16])
