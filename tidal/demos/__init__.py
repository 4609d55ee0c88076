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
import inspect
import pkgutil

from tidal.dsl.errors import TidalArgumentError

#: modules of the package that are the gallery's frame, not demos
FRAME = {"app", "canvas", "window", "widgets", "notebook", "__main__"}


def _discover() -> dict:
    """``{name: class}`` of every :class:`~tidal.demos.app.Demo` subclass with a name defined
    in a module of this package (a demo is added by adding its module), in gallery order
    (``order``, then name). Demo modules import the library lazily, so this is cheap."""
    from tidal.demos.app import Demo

    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in FRAME or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Demo) and cls.__module__ == module.__name__ and cls.name:
                found[cls.name] = cls
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


_GALLERY: dict | None = None


def gallery() -> dict:
    """``{name: demo class}``, in the order the gallery lists them."""
    global _GALLERY
    if _GALLERY is None:
        _GALLERY = _discover()
    return _GALLERY


def names() -> list[str]:
    """The gallery's demo names."""
    return list(gallery())


def demo_class(name: str):
    """The class of demo ``name``."""
    if name not in gallery():
        raise TidalArgumentError(f"no demo named {name!r}", hint=f"the demos are "
                                 f"{', '.join(gallery())}; python -m tidal.demos lists them")
    return gallery()[name]


def demo(name: str, **options):
    """Build demo ``name`` (its options as keyword arguments).

    Example:
        >>> from tidal import demos
        >>> "mpm" in demos.names()
        True
    """
    cls = demo_class(name)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as e:
        raise TidalArgumentError(f"demo {name!r}: {e}", hint=f"its options: "
                                 f"{inspect.signature(cls)}") from None
    return cls(**options)


__all__ = ["demo", "demo_class", "gallery", "names"]
