"""The demo gallery: interactive simulations on tidal's own simulators, solvers and surrogates.

``python -m tidal.demos`` lists the demos, ``python -m tidal.demos NAME`` opens one in a window
(or runs it headless where no display exists, with a message); ``--headless --frames N --out
DIR`` writes PNG frames, ``--record FILE`` a GIF or MP4. From Python: :func:`demo` builds one by
name and :func:`tidal.demos.app.run` runs it.

Layers: :mod:`~tidal.demos.canvas` draws (NumPy only), :mod:`~tidal.demos.window` shows frames
and reads input (Taichi's GUI is used there and nowhere else), :mod:`~tidal.demos.widgets` are
the panel's sliders and buttons, :mod:`~tidal.demos.app` is the loop; each demo is one module
that drives the library (no simulation code of its own).
"""

from __future__ import annotations

import importlib

from tidal.dsl.errors import TidalArgumentError

#: name -> (module, class); modules are imported only when their demo is built
GALLERY = {
    "mpm": ("tidal.demos.mpm", "MPMSandbox"),
}


def names() -> list[str]:
    """The gallery's demo names."""
    return list(GALLERY)


def demo_class(name: str):
    """The class of demo ``name``."""
    if name not in GALLERY:
        raise TidalArgumentError(f"no demo named {name!r}", hint=f"the demos are "
                                 f"{', '.join(GALLERY)}; python -m tidal.demos lists them")
    module, cls = GALLERY[name]
    return getattr(importlib.import_module(module), cls)


def demo(name: str, **options):
    """Build demo ``name`` (its options as keyword arguments).

    Example:
        >>> from tidal import demos
        >>> "mpm" in demos.names()
        True
    """
    return demo_class(name)(**options)


__all__ = ["GALLERY", "demo", "demo_class", "names"]
