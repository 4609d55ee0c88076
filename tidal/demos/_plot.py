"""Small plots on a :class:`~tidal.demos.canvas.Canvas` for the differentiable demos: a framed
panel with a title, data coordinates mapped into it (linear or logarithmic), curves, points and
tick labels. Private to the gallery (not a demo: the gallery skips modules starting with ``_``).

Guarantee: every mapping clips nothing itself (the canvas drops what falls outside it), and a
degenerate range (``lo == hi``) is widened so that nothing divides by zero.
"""

from __future__ import annotations

import math

import numpy as np

from tidal.demos.canvas import TEXT, Canvas, hex_color

FRAME = hex_color(0x5A7384)
DIM = hex_color(0x9FB3C2)


def _span(lo: float, hi: float, log: bool) -> tuple[float, float]:
    if log:
        lo, hi = math.log10(max(lo, 1e-300)), math.log10(max(hi, 1e-300))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


class Panel:
    """A rectangle ``lo``-``hi`` of the canvas (unit square) showing data in ``xlim`` x
    ``ylim`` (``xlog`` / ``ylog``: logarithmic axes).

    Example:
        >>> p = Panel((0.1, 0.1), (0.9, 0.5), (0.0, 2.0), (1e-3, 1e1), ylog=True)
        >>> np.round(p.map([1.0], [1e-1]), 3).tolist()
        [[0.5, 0.3]]
    """

    def __init__(self, lo, hi, xlim, ylim, xlog: bool = False, ylog: bool = False):
        self.lo, self.hi = lo, hi
        self.xlog, self.ylog = xlog, ylog
        self.xlim, self.ylim = _span(*xlim, xlog), _span(*ylim, ylog)

    def map(self, x, y) -> np.ndarray:
        """Data points as canvas points ``(n, 2)``."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if self.xlog:
            x = np.log10(np.maximum(x, 1e-300))
        if self.ylog:
            y = np.log10(np.maximum(y, 1e-300))
        fx = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        fy = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return np.stack([self.lo[0] + fx * (self.hi[0] - self.lo[0]),
                         self.lo[1] + fy * (self.hi[1] - self.lo[1])], axis=1)

    def frame(self, canvas: Canvas, title: str = "", xlabel: str = "", ylabel: str = "",
              ticks: bool = True) -> None:
        """The panel's border, its title above it, axis labels and the range at the corners."""
        canvas.rect(self.lo, self.hi, FRAME, filled=False)
        (x0, y0), (x1, y1) = self.lo, self.hi
        if title:
            canvas.text(title, (x0, y1 + 24 / canvas.height), TEXT, 13)
        if ticks:
            def label(v, log):
                return f"{10.0 ** v:.2g}" if log else f"{v:.3g}"
            lo_y, hi_y = label(self.ylim[0], self.ylog), label(self.ylim[1], self.ylog)
            canvas.text(hi_y, (x0 - canvas.text_width(hi_y, 10) - 3 / canvas.width,
                               y1 + 5 / canvas.height), DIM, 10)
            canvas.text(lo_y, (x0 - canvas.text_width(lo_y, 10) - 3 / canvas.width,
                               y0 + 5 / canvas.height), DIM, 10)
            lo_x, hi_x = label(self.xlim[0], self.xlog), label(self.xlim[1], self.xlog)
            canvas.text(lo_x, (x0, y0 - 2 / canvas.height), DIM, 10)
            canvas.text(hi_x, (x1 - canvas.text_width(hi_x, 10), y0 - 2 / canvas.height),
                        DIM, 10)
        if xlabel:
            w = canvas.text_width(xlabel, 11)
            canvas.text(xlabel, (0.5 * (x0 + x1) - 0.5 * w, y0 - 2 / canvas.height), DIM, 11)
        if ylabel:
            canvas.text(ylabel, (x0 + 4 / canvas.width, y1 - 3 / canvas.height), DIM, 11)

    def curve(self, canvas: Canvas, x, y, color, width: float = 1.5) -> None:
        """A connected curve (non-finite points are dropped)."""
        p = self.map(x, y)
        p = p[np.all(np.isfinite(p), axis=1)]
        canvas.polyline(p, color, width)

    def dashed(self, canvas: Canvas, x, y, color, width: float = 1.5, dash: int = 3) -> None:
        """A dashed curve: every other run of ``dash`` segments."""
        p = self.map(x, y)
        on = (np.arange(len(p) - 1) // dash) % 2 == 0
        canvas.lines(p[:-1][on], p[1:][on], color, width)

    def points(self, canvas: Canvas, x, y, color, radius: float = 1.5) -> None:
        canvas.circles(self.map(x, y), radius, color)


def legend(canvas: Canvas, at, entries, size: int = 11) -> None:
    """Coloured swatches and labels in a row starting at ``at`` (top left, unit square)."""
    x, y = at
    for label, color in entries:
        canvas.rect((x, y - 9 / canvas.height), (x + 14 / canvas.width, y - 5 / canvas.height),
                    color)
        canvas.text(label, (x + 18 / canvas.width, y), TEXT, size)
        x += canvas.text_width(label, size) + 32 / canvas.width
