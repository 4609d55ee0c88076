"""The demo gallery, headless: every demo draws frames that are not blank and change; scripted
input (mouse, keys, panel clicks) moves the simulation the way it should; a missing display
falls back to headless with a message; live simulation continues exactly where it stopped."""

import subprocess
import sys

import numpy as np
import pytest

import tidal as td
from tidal import demos
from tidal.demos.app import Layout, run
from tidal.demos.widgets import Button
from tidal.demos.window import Event


@pytest.fixture(autouse=True, scope="module")
def _f32():
    td.init(arch="cpu", default_fp=td.f32)


def frames_of(name, tmp_path, count=3, script=(), **options):
    demo = demos.demo(name, **options)
    result = run(demo, headless=True, frames=count, out=tmp_path, script=script, quiet=True)
    import imageio.v3 as iio

    return demo, result, [iio.imread(p) for p in result.written]


@pytest.mark.parametrize("name", demos.names())
def test_every_demo_draws_three_frames_that_are_not_blank_and_change(name, tmp_path):
    demo, result, images = frames_of(name, tmp_path)
    assert result.frames == 3 and len(images) == 3
    view = [im[:demo.view] for im in images]  # the view, above the panel
    for im in view:
        corner = im[0, 0]
        drawn = np.mean(np.any(im != corner, axis=-1))
        assert 0.005 < drawn and im.std() > 5.0, "a blank view"
    assert np.abs(view[2].astype(int) - view[0].astype(int)).sum() > 0, "frames do not change"
    assert result.first_frame_s < 60.0


def view_events(demo, kind, key, pos, frames):
    layout = Layout(demo.view, demo.controls())
    at = layout.window_position("view", pos)
    return [(f, Event(kind, key, at)) for f in frames]


def mpm_state(tmp_path, script_of=None, frames=3):
    demo = demos.demo("mpm", particles=2048, grid=64, substeps=20)
    script = script_of(demo) if script_of else ()
    run(demo, headless=True, frames=frames, script=script, quiet=True)
    return demo, demo.state()


def test_mpm_mouse_pulls_the_material_towards_the_cursor_and_pushes_it_away(tmp_path):
    _, free = mpm_state(tmp_path)
    target = np.array([0.85, 0.85])
    _, pulled = mpm_state(tmp_path, lambda d: view_events(d, "press", "LMB", target, [0]))
    _, pushed = mpm_state(tmp_path, lambda d: view_events(d, "press", "RMB", target, [0]))
    towards = target - free["mean_position"]
    assert (pulled["mean_velocity"] - free["mean_velocity"]) @ towards > 0
    assert (pushed["mean_velocity"] - free["mean_velocity"]) @ towards < 0


def test_mpm_arrow_keys_turn_gravity(tmp_path):
    _, down = mpm_state(tmp_path)
    _, up = mpm_state(tmp_path, lambda d: [(0, Event("press", "up"))])
    _, left = mpm_state(tmp_path, lambda d: [(0, Event("press", "left"))])
    assert down["mean_velocity"][1] < -0.1 and up["mean_velocity"][1] > 0.1
    assert left["mean_velocity"][0] < -0.1 < down["mean_velocity"][0]


def test_mpm_panel_slider_and_button_act_on_the_simulator(tmp_path):
    demo = demos.demo("mpm", particles=2048, grid=64, substeps=20)
    widgets = demo.controls()  # run() builds the same widgets in the same places
    layout = Layout(demo.view, widgets)
    gravity = next(w for w in widgets if getattr(w, "label", "") == "gravity")
    left_end = layout.window_position("panel", gravity.point(0.0))
    button = next(w for w in widgets if isinstance(w, Button) and "material" in w.text())
    (x0, y0), (x1, y1) = button.rect
    on_button = layout.window_position("panel", (0.5 * (x0 + x1), 0.5 * (y0 + y1)))
    script = [(0, Event("press", "LMB", left_end)), (0, Event("release", "LMB", left_end)),
              (1, Event("press", "LMB", on_button)), (1, Event("release", "LMB", on_button))]
    before = demo.material
    run(demo, headless=True, frames=3, script=script, quiet=True)
    assert demo.g == 0.0  # the track's left end
    assert demo.material != before
    assert np.all(demo.sim.material.to_numpy() == demo.materials.index(demo.material))
    # no gravity from frame 0: the material is at rest (the blocks start still)
    assert abs(demo.state()["mean_velocity"][1]) < 1e-3


def test_live_windows_continue_the_simulation_exactly():
    from tidal.physics import MPM2D
    from tidal.physics.mpm import block

    td.init(arch="cpu", default_fp=td.f64)
    try:
        x0 = block((0.4, 0.5), (0.1, 0.1), 0.025)
        whole = MPM2D(x0, steps=12, E=200.0, grid=16).simulate()[-1]
        live = MPM2D(x0, steps=4, E=200.0, grid=16)
        for _ in range(3):
            last = live.advance_live()[0]
        np.testing.assert_allclose(last, whole, rtol=0, atol=1e-13)
        live.restart_live()
        np.testing.assert_allclose(live.advance_live()[0],
                                   MPM2D(x0, steps=4, E=200.0, grid=16).simulate()[-1],
                                   rtol=0, atol=1e-13)
    finally:
        td.init(arch="cpu", default_fp=td.f32)


def test_without_a_display_a_window_falls_back_to_headless_with_a_message(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    demo = demos.demo("mpm", particles=512, grid=32, substeps=5)
    result = run(demo, frames=2, quiet=True)
    assert result.frames == 2
    assert "no display" in result.message and "headless" in result.message


def test_the_command_line_lists_the_demos_and_refuses_an_unknown_one():
    out = subprocess.run([sys.executable, "-m", "tidal.demos"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    for name in demos.names():
        assert name in out.stdout
    bad = subprocess.run([sys.executable, "-m", "tidal.demos", "nosuchdemo"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no demo named 'nosuchdemo'" in bad.stderr


def test_a_headless_run_without_frames_or_output_is_refused():
    with pytest.raises(td.TidalError, match="--frames"):
        run(demos.demo("mpm", particles=512, grid=32, substeps=5), headless=True, quiet=True)


def test_notebook_play_shows_every_frame_in_one_updated_output(monkeypatch):
    pytest.importorskip("IPython")
    import IPython.display

    from tidal.demos import notebook

    shown = []

    class Handle:
        def update(self, image):
            shown.append(image.data)

    monkeypatch.setattr(IPython.display, "display", lambda display_id=True: Handle())
    result = notebook.play(demos.demo("mpm", particles=512, grid=32, substeps=5), frames=4,
                           every=2)
    assert result.frames == 4 and len(shown) == 2
    assert all(png[:4] == b"\x89PNG" for png in shown) and shown[0] != shown[1]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_recording_holds_the_frames_shown(tmp_path, suffix):
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    path = tmp_path / f"mpm{suffix}"
    demo = demos.demo("mpm", particles=512, grid=32, substeps=5)
    result = run(demo, headless=True, frames=4, record=path, out=tmp_path / "png", quiet=True)
    video = iio.imread(path, index=None)
    assert video.shape[0] == 4 and result.frames == 4
    first_png = iio.imread(result.written[0])
    assert video.shape[1:3] == first_png.shape[:2]
    # GIF keeps up to 256 colours and MP4 is lossy: compare loosely, but frame for frame
    error = np.abs(video[0, ..., :3].astype(float) - first_png.astype(float)).mean()
    assert error < 12.0


def test_recording_to_another_format_is_refused(tmp_path):
    with pytest.raises(td.TidalError, match=".gif or .mp4"):
        run(demos.demo("mpm", particles=512, grid=32, substeps=5), headless=True, frames=1,
            record=tmp_path / "x.avi", quiet=True)


def test_notebook_sliders_drive_the_demos_widgets():
    ipywidgets = pytest.importorskip("ipywidgets")
    from tidal.demos import notebook

    demo = demos.demo("mpm", particles=512, grid=32, substeps=5)
    box = notebook.sliders(demo)
    by_name = {w.description: w for w in box.children}
    assert isinstance(by_name["E"], ipywidgets.FloatLogSlider)
    by_name["E"].value = 1234.0
    assert float(demo.sim.get("E")) == pytest.approx(1234.0)
    by_name["gravity"].value = 0.0
    assert demo.g == 0.0
    material = next(w for w in box.children if w.description.startswith("material"))
    before = demo.material
    material.click()
    assert demo.material != before and material.description == f"material: {demo.material}"


def test_a_demo_opens_a_real_window_on_a_virtual_display(tmp_path):
    import shutil

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "tidal.demos", "springs",
                          "--frames", "3", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "headless" not in out.stdout  # Taichi's window opened: no fallback message
    assert "springs: 3 frames" in out.stdout and len(list(tmp_path.glob("*.png"))) == 3


def test_an_unknown_demo_option_is_a_tidal_error_listing_the_options():
    with pytest.raises(td.TidalError, match="unexpected keyword argument 'partcles'") as err:
        demos.demo("mpm", partcles=10)
    assert "particles" in str(err.value)
