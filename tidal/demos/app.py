"""The demo loop: input, one frame of the simulation, drawing, showing or writing the frame.

A demo is a :class:`Demo`: it builds its simulator, solver or surrogate from the library, lists
its sliders and buttons, advances one displayed frame at a time from the current
:class:`Inputs`, and draws its view. :func:`run` does everything else the same way for every
demo: the window or the headless fallback (:mod:`tidal.demos.window`), the panel with the
widgets and the status line (fps and the demo's own figures, such as a loss), PNG frames,
a video, and the timings a benchmark wants (:class:`RunResult`).

Guarantees: a demo sees the cursor in its own view's unit square (``None`` when the cursor is
on the panel), presses and drags on the panel go to the widgets and never to the demo, and the
frames written are exactly the frames shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tidal.demos.canvas import GOLD, TEXT, Canvas, hex_color
from tidal.demos.window import Event, Headless, open_window
from tidal.dsl.errors import TidalArgumentError

PANEL_ROW = 30  # pixels per row of widgets
STATUS_ROW = 24  # pixels of the status line
PANEL_EVERY = 10  # frames between redraws of an unchanged panel (for its fps figure)
PANEL_COLOR = hex_color(0x0B2230)


@dataclass
class Inputs:
    """What a demo may react to in one frame.

    Attributes:
        cursor: the cursor in the view's unit square (``y`` up), or None when it is not over
            the view.
        held: mouse buttons and keys held down (``"LMB"``, ``"RMB"``, ``"a"``, ...).
        keys: keys pressed during this frame, in order (Escape excepted: it ends the run).
        clicks: mouse presses on the view during this frame, ``(button, (x, y))`` in order
            (a press and release within one frame is still a click).
        frame: the frame's number, from 0.
    """

    cursor: tuple[float, float] | None = None
    held: frozenset = frozenset()
    keys: list = field(default_factory=list)
    clicks: list = field(default_factory=list)
    frame: int = 0


class Demo:
    """Base of the gallery's demos; a subclass sets the class attributes and overrides
    :meth:`frame` and :meth:`draw` (and, where it has them, :meth:`controls`, :meth:`key`,
    :meth:`status`).

    Attributes:
        name: the gallery name (``python -m tidal.demos NAME``).
        title: the window title.
        summary: one line for the gallery list.
        help: the keys and mouse actions, shown on the panel.
        view: the view's size in pixels (square).
        order: the place in the gallery list (then by name).
    """

    order = 100
    name = ""
    title = ""
    summary = ""
    help = ""
    view = 512

    def controls(self) -> list:
        """The panel's sliders and buttons (:mod:`tidal.demos.widgets`)."""
        return []

    def frame(self, inputs: Inputs) -> None:
        """Advance by one displayed frame."""
        raise NotImplementedError

    def draw(self, canvas: Canvas) -> None:
        """Draw the current state on the view's canvas."""
        raise NotImplementedError

    def key(self, key: str) -> None:
        """React to a key pressed (default: nothing)."""

    def status(self) -> str:
        """Figures for the status line after the fps (default: none)."""
        return ""


@dataclass
class RunResult:
    """What a run did: ``frames`` shown, ``first_frame_s`` (seconds from ``started`` to the
    first frame shown), ``frame_s`` (mean seconds per frame after the first), ``written``
    (PNG paths), ``message`` (why a window was not opened, if it was asked for)."""

    frames: int
    first_frame_s: float
    frame_s: float
    written: list
    message: str

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_s if self.frame_s > 0 else float("inf")


class Layout:
    """The window: the view on top, the panel (widget rows, then the status line) below.
    Placing ``widgets`` sets their rectangles (in the panel's unit square).

    Example:
        >>> layout = Layout(512, [])
        >>> layout.split(layout.window_position("view", (0.25, 0.5)))
        ('view', (0.25, 0.5))
    """

    def __init__(self, view: int, widgets: list):
        self.view = view
        self.rows = (len(widgets) + 1) // 2
        self.panel = self.rows * PANEL_ROW + STATUS_ROW + 18
        self.height = view + self.panel
        for k, w in enumerate(widgets):
            row, col = divmod(k, 2)
            top = 1.0 - row * PANEL_ROW / self.panel
            bottom = top - PANEL_ROW / self.panel
            w.rect = ((0.5 * col, bottom), (0.5 * col + 0.5, top))

    def window_position(self, part: str, pos) -> tuple[float, float]:
        """A position in the view's or the panel's unit square as a window position (what
        scripted :class:`~tidal.demos.window.Event` values carry)."""
        y = self.panel + pos[1] * self.view if part == "view" else pos[1] * self.panel
        return (float(pos[0]), y / self.height)

    def split(self, pos) -> tuple[str, tuple[float, float]]:
        """Which part a window position is on, and the position in that part's unit square."""
        y = pos[1] * self.height
        if y >= self.panel:
            return "view", (pos[0], (y - self.panel) / self.view)
        return "panel", (pos[0], y / self.panel)


def _writer(record: Path, fps: int):
    import imageio.v2 as imageio

    suffix = record.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise TidalArgumentError(f"--record writes .gif or .mp4, got {record.name}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise TidalArgumentError(
                "recording MP4 needs ffmpeg: pip install imageio-ffmpeg (a wheel with its own "
                "ffmpeg), or record a .gif") from None
        return imageio.get_writer(record, fps=fps, macro_block_size=1)
    return imageio.get_writer(record, mode="I", duration=1000.0 / fps, loop=0)


def run(demo: Demo, *, headless: bool = False, frames: int | None = None,
        out: str | Path | None = None, record: str | Path | None = None,
        script=(), started: float | None = None, quiet: bool = False,
        record_fps: int = 30, window=None) -> RunResult:
    """Run ``demo`` until its window closes or ``frames`` have been shown.

    Args:
        demo: the demo.
        headless: no window (also chosen, with a message, when none can open).
        frames: stop after this many frames (a headless run needs it).
        out: a directory for PNG frames (``frame_00000.png``, ...).
        record: a ``.gif`` or ``.mp4`` file for a video of the frames.
        script: ``(frame, Event)`` input for headless runs (tests, recordings).
        started: the time (``time.perf_counter()``) from which ``first_frame_s`` counts
            (default: this call).
        quiet: no message on stdout.
        record_fps: the video's frame rate.
        window: where frames go instead of a window of :func:`~tidal.demos.window.open_window`
            (e.g. a notebook's output, :mod:`tidal.demos.notebook`).

    Returns:
        The :class:`RunResult`.

    Example:
        >>> from tidal.demos.app import Demo, run
        >>> class Dot(Demo):
        ...     x = 0.2
        ...     def frame(self, inputs): self.x += 0.1
        ...     def draw(self, canvas): canvas.circles([(self.x, 0.5)], 3)
        >>> run(Dot(), headless=True, frames=3).frames
        3
    """
    started = time.perf_counter() if started is None else started
    widgets = demo.controls()
    layout = Layout(demo.view, widgets)
    message = ""
    if window is None:
        window, message = open_window(demo.title or demo.name, demo.view, layout.height,
                                      headless, script)
    if message and not quiet:
        print(f"tidal.demos: {message}")
    if not window.is_window and frames is None:
        if out is None and record is None:
            raise TidalArgumentError("a headless run needs --frames N (and --out DIR or "
                                     "--record FILE to keep what it draws)")
        frames = 300
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    writer = _writer(Path(record), record_fps) if record is not None else None
    view, panel = Canvas(demo.view, demo.view), Canvas(demo.view, layout.panel, PANEL_COLOR)
    held: set = set()
    grabbed = None  # the widget a press on the panel went to (it gets the drag)
    written, stamps, fps, drawn_look = [], [], 0.0, None
    try:
        k = 0
        while window.open and (frames is None or k < frames):
            keys, clicks = [], []
            for e in window.events(k):
                grabbed = _route(e, layout, widgets, held, keys, clicks, grabbed)
                if e.kind == "press" and e.key == "escape":
                    window.close()
            part, pos = layout.split(window.cursor)
            inputs = Inputs(pos if part == "view" else None, frozenset(held), keys, clicks, k)
            if grabbed is not None and "LMB" in held and part == "panel":
                grabbed.drag(pos)
            for key in keys:
                demo.key(key)
            demo.frame(inputs)
            view.clear()
            demo.draw(view)
            look = _panel_look(widgets, demo)
            if look != drawn_look or k % PANEL_EVERY == 0:  # text costs: redraw on change
                _draw_panel(panel, widgets, demo, fps)
                drawn_look = look
            # the whole image only where it goes somewhere (a headless run without output
            # draws the view and the panel, and shows them to no one)
            wanted = window.is_window or out is not None or writer is not None \
                or not isinstance(window, Headless)
            image = np.concatenate([view.image, panel.image], axis=0) if wanted else None
            if image is not None:
                window.show(image)
            stamps.append(time.perf_counter())
            if len(stamps) >= 2:
                recent = stamps[-11:]
                fps = (len(recent) - 1) / (recent[-1] - recent[0])
            if out is not None or writer is not None:
                pixels = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
                if out is not None:
                    import imageio.v3 as iio

                    path = out / f"frame_{k:05d}.png"
                    iio.imwrite(path, pixels)
                    written.append(path)
                if writer is not None:
                    writer.append_data(pixels)
            k += 1
    finally:
        if writer is not None:
            writer.close()
    first = stamps[0] - started if stamps else float("nan")
    per = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return RunResult(len(stamps), first, per, written, message)


def _route(e: Event, layout: Layout, widgets: list, held: set, keys: list, clicks: list,
           grabbed):
    """Send one event to the widgets (panel presses) or into the demo's inputs."""
    part, pos = layout.split(e.pos)
    if e.kind == "press":
        held.add(e.key)
        if e.key in ("LMB", "RMB", "MMB"):
            if part == "panel":
                for w in widgets:
                    if w.contains(pos):
                        w.press(pos)
                        return w
                return None
            clicks.append((e.key, pos))
            return None
        if e.key != "escape":
            keys.append(e.key)
        return grabbed
    if e.kind == "release":
        held.discard(e.key)
        return None if e.key == "LMB" else grabbed
    if e.kind == "motion" and grabbed is not None and "LMB" in held and part == "panel":
        grabbed.drag(pos)
    return grabbed


def _panel_look(widgets: list, demo: Demo) -> tuple:
    """What the panel shows besides the fps: widget values and labels, the demo's status."""
    return tuple(getattr(w, "value", None) if hasattr(w, "value") else w.text()
                 for w in widgets) + (demo.status(),)


def _draw_panel(panel: Canvas, widgets: list, demo: Demo, fps: float) -> None:
    panel.clear()
    for w in widgets:
        w.draw(panel)
    status = f"fps {fps:5.1f}"
    extra = demo.status()
    if extra:
        status += f" | {extra}"
    line = (STATUS_ROW + 14) / panel.height
    panel.text(status, (0.01, line), GOLD, 13)
    if demo.help:
        panel.text(demo.help, (0.01, line - STATUS_ROW / panel.height * 0.75), TEXT, 11)


__all__ = ["Demo", "Inputs", "Layout", "RunResult", "run"]
