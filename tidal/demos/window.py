"""Where a demo's frames go and where its input comes from: a window on the screen, or nothing
(headless, with scripted input).

A window backend does three things: show a finished RGB image (:mod:`tidal.demos.canvas`),
report input events, and say whether it is still open. :func:`open_window` picks Taichi's
``ti.GUI`` when a display can be opened and falls back to :class:`Headless` with a message
saying why, so a demo started on a machine without a display runs (and writes its frames where
asked) instead of crashing. Taichi's GUI is touched nowhere else in tidal.

Events are plain :class:`Event` values with positions in the window's unit square (``y`` up),
so a demo and its tests never see a backend's own types.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Event:
    """One input event.

    Attributes:
        kind: ``"press"``, ``"release"`` or ``"motion"``.
        key: ``"LMB"``, ``"RMB"``, ``"MMB"``, a character (``"g"``), or a named key
            (``"space"``, ``"escape"``, ``"left"``, ``"right"``, ``"up"``, ``"down"``,
            ``"return"``); empty for motion.
        pos: the cursor in the window's unit square, ``(x, y)`` with ``y`` up.
    """

    kind: str
    key: str = ""
    pos: tuple[float, float] = (0.5, 0.5)


class Headless:
    """No window: frames are dropped (the runner writes them where asked); input comes from a
    script of ``(frame, Event)`` pairs, delivered at the start of that frame.

    Example:
        >>> w = Headless([(1, Event("press", "g"))])
        >>> w.events(0), w.events(1)
        ([], [Event(kind='press', key='g', pos=(0.5, 0.5))])
    """

    is_window = False

    def __init__(self, script=()):
        self.script = sorted(script, key=lambda item: item[0])
        self.cursor = (0.5, 0.5)
        self.open = True

    def events(self, frame: int) -> list[Event]:
        out = [e for f, e in self.script if f == frame]
        if out:
            self.cursor = out[-1].pos
        return out

    def show(self, image: np.ndarray) -> None:
        pass

    def close(self) -> None:
        self.open = False


_TAICHI_KEYS = {"Escape": "escape", " ": "space", "Return": "return", "Left": "left",
                "Right": "right", "Up": "up", "Down": "down", "Shift_L": "shift",
                "Shift_R": "shift", "Control_L": "ctrl", "Control_R": "ctrl"}


class TaichiWindow:
    """A window through Taichi's ``ti.GUI`` (needs a display)."""

    is_window = True

    def __init__(self, title: str, width: int, height: int):
        import taichi as ti

        self._ti = ti
        self._gui = ti.GUI(title, res=(width, height), background_color=0x112F41)
        self.cursor = (0.5, 0.5)

    @property
    def open(self) -> bool:
        return bool(self._gui.running)

    def events(self, frame: int) -> list[Event]:
        gui, out = self._gui, []
        self.cursor = tuple(float(c) for c in gui.get_cursor_pos())
        for e in gui.get_events():
            kind = {gui.PRESS: "press", gui.RELEASE: "release", gui.MOTION: "motion"}.get(e.type)
            if kind is None:
                continue
            key = "" if kind == "motion" else _TAICHI_KEYS.get(e.key, e.key)
            if key == gui.EXIT:
                gui.running = False
                continue
            out.append(Event(kind, key, tuple(float(c) for c in e.pos)))
        return out

    def show(self, image: np.ndarray) -> None:
        # ti.GUI indexes images (x, y) with y up; a canvas is (row, column) from the top
        self._gui.set_image(np.ascontiguousarray(image[::-1].transpose(1, 0, 2)))
        self._gui.show()

    def close(self) -> None:
        self._gui.close()


def display_available() -> tuple[bool, str]:
    """Whether a window can be opened here, and if not, why (for the fallback message)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY is not set)"
    return True, ""


def open_window(title: str, width: int, height: int, headless: bool = False, script=()):
    """A window, or :class:`Headless` when ``headless`` is asked for or no window can open.

    Returns:
        ``(window, message)``: ``message`` says why a window was asked for and not opened
        (empty otherwise).
    """
    if headless:
        return Headless(script), ""
    ok, why = display_available()
    if ok:
        try:
            return TaichiWindow(title, width, height), ""
        except Exception as e:  # noqa: BLE001 - any failure to open a window means headless
            why = f"the window could not open ({type(e).__name__}: {e})"
    return Headless(script), (f"{why}: running headless instead; pass --out DIR to keep the "
                              f"frames or --record FILE for a video")


__all__ = ["Event", "Headless", "TaichiWindow", "display_available", "open_window"]
