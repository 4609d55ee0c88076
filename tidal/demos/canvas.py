"""The one place demos draw: an RGB image in NumPy with the few shapes a simulation view needs.

Coordinates are those of the unit square with ``y`` up (``(0, 0)`` bottom left, ``(1, 1)`` top
right), whatever the canvas's size in pixels; sizes are in pixels. Nothing here depends on a
window system or on Taichi's GUI (which the maintained Taichi fork dropped): a window backend
(:mod:`tidal.demos.window`) only shows the finished image, and the same image is what headless
runs write as PNG frames.

Guarantees: every method clips to the canvas (points outside are dropped, never wrapped) and
accepts NumPy arrays of any float dtype; the image is ``float32`` ``(height, width, 3)`` in
``[0, 1]``, row 0 at the top.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Color = tuple[float, float, float]


def hex_color(value: int) -> Color:
    """``0xRRGGBB`` as an RGB triple in ``[0, 1]``.

    Example:
        >>> hex_color(0xFF8000)
        (1.0, 0.5019607843137255, 0.0)
    """
    return ((value >> 16 & 255) / 255, (value >> 8 & 255) / 255, (value & 255) / 255)


BACKGROUND = hex_color(0x112F41)
TEXT = hex_color(0xEEEEF0)
ACCENT = hex_color(0xED553B)
TEAL = hex_color(0x068587)
GOLD = hex_color(0xF2B134)


class Canvas:
    """An RGB image with drawing methods in unit-square coordinates.

    Args:
        width, height: size in pixels.
        background: the colour :meth:`clear` paints.

    Example:
        >>> import numpy as np
        >>> c = Canvas(64, 48)
        >>> c.clear()
        >>> c.circles(np.array([[0.5, 0.5]]), radius=3, color=(1.0, 0.0, 0.0))
        >>> c.image.shape, c.image[24, 32].tolist()
        ((48, 64, 3), [1.0, 0.0, 0.0])
    """

    def __init__(self, width: int, height: int, background: Color = BACKGROUND):
        self.width, self.height = int(width), int(height)
        self.background = background
        self.image = np.zeros((self.height, self.width, 3), dtype=np.float32)
        self.clear()

    # -- coordinates ---------------------------------------------------------------------------
    def pixels(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Column and row indices of unit-square ``points`` ``(n, 2)`` (not clipped)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        cols = np.floor(p[:, 0] * self.width).astype(np.int64)
        rows = np.floor((1.0 - p[:, 1]) * self.height).astype(np.int64)
        return cols, rows

    def _put(self, cols, rows, colors) -> None:
        inside = (cols >= 0) & (cols < self.width) & (rows >= 0) & (rows < self.height)
        colors = np.asarray(colors, dtype=np.float32)
        if colors.ndim == 2:
            colors = colors[inside]
        self.image[rows[inside], cols[inside]] = colors

    # -- shapes --------------------------------------------------------------------------------
    def clear(self, color: Color | None = None) -> None:
        """Fill the canvas with ``color`` (default: the background)."""
        if color is not None:
            self.image[:] = np.asarray(color, np.float32)
            return
        if getattr(self, "_blank", None) is None:  # a copy is cheaper than a broadcast fill
            self._blank = np.empty_like(self.image)
            self._blank[:] = np.asarray(self.background, np.float32)
        np.copyto(self.image, self._blank)

    def circles(self, centres, radius: float = 1.5, color=TEAL) -> None:
        """Filled discs of ``radius`` pixels at ``centres`` ``(n, 2)``; ``color`` one RGB triple
        or one per centre ``(n, 3)``."""
        cols, rows = self.pixels(centres)
        offsets = np.asarray(_disc(float(radius)), dtype=np.int64)  # (k, 2)
        cols = (cols[:, None] + offsets[None, :, 0]).ravel()
        rows = (rows[:, None] + offsets[None, :, 1]).ravel()
        colors = np.asarray(color, dtype=np.float32)
        if colors.ndim == 2:
            colors = np.repeat(colors, len(offsets), axis=0)
        self._put(cols, rows, colors)

    def lines(self, starts, ends, color=TEXT, width: float = 1.0) -> None:
        """Segments from ``starts`` to ``ends`` (each ``(n, 2)``), ``width`` pixels wide."""
        a = np.asarray(starts, dtype=np.float64).reshape(-1, 2)
        b = np.asarray(ends, dtype=np.float64).reshape(-1, 2)
        if len(a) == 0:
            return
        scale = np.array([self.width, self.height], dtype=np.float64)
        length = np.linalg.norm((b - a) * scale, axis=1)
        samples = np.ceil(length).astype(np.int64) + 1
        segment = np.repeat(np.arange(len(a)), samples)
        first = np.cumsum(samples) - samples
        t = (np.arange(segment.size) - first[segment]) / np.maximum(samples[segment] - 1, 1)
        points = a[segment] + t[:, None] * (b - a)[segment]
        colors = np.asarray(color, dtype=np.float32)
        if colors.ndim == 2:
            colors = colors[segment]
        self.circles(points, radius=max(width / 2.0, 0.5), color=colors)

    def polyline(self, points, color=TEXT, width: float = 1.0) -> None:
        """A connected line through ``points`` ``(n, 2)``."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(p) >= 2:
            self.lines(p[:-1], p[1:], color, width)

    def rect(self, lo, hi, color: Color, filled: bool = True) -> None:
        """The axis-aligned rectangle between corners ``lo`` and ``hi`` (unit square)."""
        (c0,), (r1,) = self.pixels([lo])
        (c1,), (r0,) = self.pixels([hi])
        c0, c1 = max(min(c0, c1), 0), min(max(c0, c1), self.width)
        r0, r1 = max(min(r0, r1), 0), min(max(r0, r1), self.height)
        if c0 >= c1 or r0 >= r1:
            return
        paint = np.asarray(color, np.float32)
        if filled:
            self.image[r0:r1, c0:c1] = paint
            return
        self.image[r0, c0:c1] = paint
        self.image[r1 - 1, c0:c1] = paint
        self.image[r0:r1, c0] = paint
        self.image[r0:r1, c1 - 1] = paint

    def field(self, values, lo=(0.0, 0.0), hi=(1.0, 1.0), cmap: str = "magma",
              limits: tuple[float, float] | None = None) -> None:
        """A scalar field ``values[i, j]`` (``i`` along x, ``j`` along y) as a colour image in
        the rectangle ``lo``-``hi``, nearest-neighbour scaled; ``limits`` default to its range."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"a field is 2-D (nx, ny), got shape {v.shape}")
        lo_v, hi_v = (np.nanmin(v), np.nanmax(v)) if limits is None else limits
        span = hi_v - lo_v if hi_v > lo_v else 1.0
        index = np.clip(((v - lo_v) / span * 255.0), 0, 255)
        index = np.nan_to_num(index).astype(np.int64)
        (c0,), (r1,) = self.pixels([lo])
        (c1,), (r0,) = self.pixels([hi])
        c0, c1, r0, r1 = max(c0, 0), min(c1, self.width), max(r0, 0), min(r1, self.height)
        if c0 >= c1 or r0 >= r1:
            return
        xi = ((np.arange(c0, c1) - c0 + 0.5) * v.shape[0] / (c1 - c0)).astype(np.int64)
        yi = ((r1 - 1 - np.arange(r0, r1) + 0.5) * v.shape[1] / (r1 - r0)).astype(np.int64)
        self.image[r0:r1, c0:c1] = _colormap(cmap)[index[np.ix_(xi, yi)].T]

    def text(self, string: str, at, color: Color = TEXT, size: int = 13) -> None:
        """``string`` with its top-left corner at ``at`` (unit square), ``size`` pixels high."""
        glyphs = _rendered(string, int(size))
        if glyphs.size == 0:
            return
        (c,), (r,) = self.pixels([at])
        h, w = glyphs.shape
        r0, c0 = max(r, 0), max(c, 0)
        r1, c1 = min(r + h, self.height), min(c + w, self.width)
        if r0 >= r1 or c0 >= c1:
            return
        alpha = glyphs[r0 - r:r1 - r, c0 - c:c1 - c, None]
        region = self.image[r0:r1, c0:c1]
        region[:] = region * (1.0 - alpha) + alpha * np.asarray(color, np.float32)

    def text_width(self, string: str, size: int = 13) -> float:
        """The width of :meth:`text`'s ``string`` as a fraction of the canvas width."""
        return _rendered(string, int(size)).shape[1] / self.width

    def to_uint8(self) -> np.ndarray:
        """The image as ``uint8`` ``(height, width, 3)`` (what PNG and video writers take)."""
        return (np.clip(self.image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@lru_cache(maxsize=16)
def _disc(radius: float) -> tuple:
    r = int(np.ceil(radius))
    return tuple((dc, dr) for dc in range(-r, r + 1) for dr in range(-r, r + 1)
                 if dc * dc + dr * dr <= max(radius * radius, 0.25))


@lru_cache(maxsize=8)
def _colormap(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)


@lru_cache(maxsize=8)
def _font(size: int):
    from matplotlib import font_manager, ft2font

    font = ft2font.FT2Font(font_manager.findfont("DejaVu Sans Mono"))
    font.set_size(size * 0.75, 96)
    return font


@lru_cache(maxsize=256)
def _rendered(string: str, size: int) -> np.ndarray:
    """``string`` rendered in DejaVu Sans Mono (matplotlib's own font) as alpha in [0, 1]."""
    font = _font(size)
    font.set_text(string)
    font.draw_glyphs_to_bitmap()
    return np.asarray(font.get_image(), dtype=np.float32) / 255.0


__all__ = ["ACCENT", "BACKGROUND", "GOLD", "TEAL", "TEXT", "Canvas", "hex_color"]
