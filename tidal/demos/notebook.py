"""Demos in a Jupyter notebook: frames shown inline, the panel's sliders as ipywidgets.

In a notebook there is no window and no event loop of ours: :func:`play` runs a number of
frames and shows each in one output area that it updates in place (the image is the same view
and panel a window shows), and :func:`sliders` returns ipywidgets controls bound to the demo's
sliders and buttons, so that moving one changes the demo for the next :func:`play`::

    import tidal as td
    from tidal import demos
    from tidal.demos import notebook

    td.init(arch="cpu", default_fp=td.f32)
    mpm = demos.demo("mpm")
    notebook.sliders(mpm)          # ipywidgets, if installed
    notebook.play(mpm, frames=100)

IPython is needed for :func:`play` (it comes with Jupyter); ipywidgets only for :func:`sliders`.
Neither is a dependency of tidal: each function says what to install when it is missing.
"""

from __future__ import annotations

import io

from tidal.demos.app import Demo, RunResult, run
from tidal.demos.widgets import Button, Slider
from tidal.dsl.errors import TidalArgumentError


def png_bytes(image) -> bytes:
    """An RGB image in [0, 1] (``(h, w, 3)``) as PNG bytes.

    Example:
        >>> import numpy as np
        >>> png_bytes(np.zeros((4, 4, 3)))[:4]
        b'\\x89PNG'
    """
    import imageio.v3 as iio
    import numpy as np

    pixels = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    iio.imwrite(buffer, pixels, extension=".png")
    return buffer.getvalue()


class _InlineWindow:
    """A headless window whose frames go to one IPython display area."""

    is_window = False

    def __init__(self, display_handle, every: int):
        self.handle, self.every, self.shown = display_handle, max(int(every), 1), 0
        self.cursor, self.open = (0.5, 0.5), True

    def events(self, frame: int) -> list:
        return []

    def show(self, image) -> None:
        if self.shown % self.every == 0:
            from IPython.display import Image

            self.handle.update(Image(data=png_bytes(image), format="png"))
        self.shown += 1

    def close(self) -> None:
        self.open = False


def play(demo: Demo, frames: int = 100, every: int = 1) -> RunResult:
    """Run ``frames`` frames of ``demo`` and show them inline, one output area updated in place
    (``every``: show every n-th frame, for slow connections).

    Returns:
        The run's :class:`~tidal.demos.app.RunResult`.
    """
    try:
        from IPython.display import display
    except ImportError:
        raise TidalArgumentError("notebook.play needs IPython (pip install jupyter); outside "
                                 "a notebook run the demo with tidal.demos.app.run") from None
    handle = display(display_id=True)
    return run(demo, frames=frames, quiet=True, window=_InlineWindow(handle, every))


def sliders(demo: Demo):
    """ipywidgets bound to ``demo``'s panel: a slider per :class:`~tidal.demos.widgets.Slider`
    (logarithmic where it is), a button per :class:`~tidal.demos.widgets.Button`; changes take
    effect from the next frame :func:`play` runs. Returns a ``VBox`` to display."""
    try:
        import ipywidgets
    except ImportError:
        raise TidalArgumentError("notebook.sliders needs ipywidgets (pip install ipywidgets)"
                                 ) from None
    items = []
    for w in demo.controls():
        if isinstance(w, Slider):
            kind = ipywidgets.FloatLogSlider if w.log else ipywidgets.FloatSlider
            if w.log:
                import math

                box = kind(value=w.value, base=10, min=math.log10(w.lo), max=math.log10(w.hi),
                           description=w.label)
            else:
                box = kind(value=w.value, min=w.lo, max=w.hi, description=w.label)
            box.observe(lambda change, w=w: w.set(change["new"]), names="value")
            items.append(box)
        elif isinstance(w, Button):
            button = ipywidgets.Button(description=w.text())

            def pressed(_, w=w, button=button):
                w.press((0.0, 0.0))
                button.description = w.text()

            button.on_click(pressed)
            items.append(button)
    return ipywidgets.VBox(items)


__all__ = ["play", "png_bytes", "sliders"]
