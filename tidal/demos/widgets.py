"""Sliders and buttons drawn on the demo's panel, the same in a window, a notebook and a
headless run with scripted clicks.

A widget owns a rectangle of the panel (set by the runner's layout), draws itself on a
:class:`~tidal.demos.canvas.Canvas` and reacts to presses and drags inside its rectangle by
calling its ``on_change`` with the new value. Values can also be set from code
(:meth:`Slider.set`), which is how tests and notebook sliders move them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tidal.demos.canvas import ACCENT, TEAL, TEXT, Canvas


class Slider:
    """A number between ``lo`` and ``hi``, chosen by pressing or dragging along a track.

    Args:
        label: the name shown with the value.
        lo, hi: the range.
        value: the starting value.
        on_change: called with the new value after every change.
        log: a logarithmic track (for moduli, stiffnesses, learning rates).
        fmt: the value's format.

    Example:
        >>> seen = []
        >>> s = Slider("E", 10.0, 1000.0, 20.0, seen.append, log=True)
        >>> s.rect = ((0.0, 0.0), (1.0, 0.1))  # the track runs from x = 0.55 to 0.96
        >>> s.press((0.755, 0.05)); round(s.value, 6), len(seen)  # half way: 10 ** 2
        (100.0, 1)
    """

    def __init__(self, label: str, lo: float, hi: float, value: float,
                 on_change: Callable[[float], None], log: bool = False, fmt: str = ".3g"):
        if not lo < hi or (log and lo <= 0):
            raise ValueError(f"slider {label!r}: need lo < hi (and lo > 0 on a log track), got "
                             f"{lo}, {hi}")
        self.label, self.lo, self.hi, self.log, self.fmt = label, float(lo), float(hi), log, fmt
        self.on_change = on_change
        self.value = min(max(float(value), self.lo), self.hi)
        self.rect = ((0.0, 0.0), (1.0, 1.0))

    def _fraction(self) -> float:
        if self.log:
            return math.log(self.value / self.lo) / math.log(self.hi / self.lo)
        return (self.value - self.lo) / (self.hi - self.lo)

    def _track(self) -> tuple[float, float, float]:
        (x0, y0), (x1, y1) = self.rect
        return x0 + 0.55 * (x1 - x0), x1 - 0.04 * (x1 - x0), 0.5 * (y0 + y1)

    def point(self, fraction: float) -> tuple[float, float]:
        """Where on the panel (its unit square) a press puts the knob at ``fraction`` of the
        track (0: ``lo``, 1: ``hi``): what a scripted click uses."""
        a, b, y = self._track()
        return (a + fraction * (b - a), y)

    def set(self, value: float) -> None:
        """Move to ``value`` (clipped to the range) and call ``on_change``."""
        self.value = min(max(float(value), self.lo), self.hi)
        self.on_change(self.value)

    def contains(self, pos) -> bool:
        (x0, y0), (x1, y1) = self.rect
        return x0 <= pos[0] <= x1 and y0 <= pos[1] <= y1

    def press(self, pos) -> None:
        a, b, _ = self._track()
        f = min(max((pos[0] - a) / (b - a), 0.0), 1.0)
        if self.log:
            self.set(self.lo * (self.hi / self.lo) ** f)
        else:
            self.set(self.lo + f * (self.hi - self.lo))

    drag = press

    def draw(self, canvas: Canvas) -> None:
        (x0, y0), (x1, y1) = self.rect
        a, b, y = self._track()
        canvas.text(f"{self.label} = {self.value:{self.fmt}}", (x0 + 0.01, y + 0.35 * (y1 - y0)),
                    TEXT, 12)
        canvas.lines([(a, y)], [(b, y)], TEXT, 1.0)
        canvas.circles([(a + self._fraction() * (b - a), y)], 4.0, TEAL)


class Button:
    """A labelled button; a press calls ``on_press``. ``label`` may be a callable, so a button
    can show the current choice (``"material: fluid"``).

    Example:
        >>> hits = []
        >>> b = Button("reset", lambda: hits.append(1))
        >>> b.rect = ((0.0, 0.0), (0.2, 0.1))
        >>> b.press((0.1, 0.05)); hits
        [1]
    """

    def __init__(self, label, on_press: Callable[[], None]):
        self.label, self.on_press = label, on_press
        self.rect = ((0.0, 0.0), (1.0, 1.0))

    def text(self) -> str:
        return self.label() if callable(self.label) else str(self.label)

    def contains(self, pos) -> bool:
        (x0, y0), (x1, y1) = self.rect
        return x0 <= pos[0] <= x1 and y0 <= pos[1] <= y1

    def press(self, pos) -> None:
        self.on_press()

    def drag(self, pos) -> None:
        pass

    def draw(self, canvas: Canvas) -> None:
        (x0, y0), (x1, y1) = self.rect
        canvas.rect((x0 + 0.005, y0 + 0.1 * (y1 - y0)), (x1 - 0.005, y1 - 0.1 * (y1 - y0)),
                    ACCENT, filled=False)
        canvas.text(self.text(), (x0 + 0.015, y0 + 0.8 * (y1 - y0)), TEXT, 12)


__all__ = ["Button", "Slider"]
