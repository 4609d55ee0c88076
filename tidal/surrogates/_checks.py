"""Argument checks shared by the data generators: each returns the value in its canonical type
or raises :class:`tidal.dsl.errors.TidalArgumentError` naming the argument and what to pass."""

from __future__ import annotations

import math

import numpy as np

from tidal.dsl.errors import TidalArgumentError


def integer(name: str, value, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise TidalArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def positive(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a finite float, > 0 (or >= 0 with ``allow_zero``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        bound = ">= 0" if allow_zero else "> 0"
        raise TidalArgumentError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def finite_array(name: str, value, shape: tuple | None = None, ndim: int | None = None):
    """``value`` as a float64 array of the given shape or rank, with no NaN or inf."""
    arr = np.asarray(value, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise TidalArgumentError(f"{name} must have shape {shape}, got {arr.shape}")
    if ndim is not None and arr.ndim != ndim:
        raise TidalArgumentError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise TidalArgumentError(f"{name} contains NaN or inf")
    return arr


def choice(name: str, value, options: tuple[str, ...]) -> str:
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise TidalArgumentError(f"{name} must be one of {', '.join(map(repr, options))}, got "
                                 f"{value!r}")
    return value
