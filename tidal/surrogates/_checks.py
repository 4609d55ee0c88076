"""Argument checks shared by the data generators and the surrogate networks: each returns the
value in its canonical type or raises :class:`tidal.dsl.errors.TidalArgumentError` naming the
argument and what to pass. Also the surrogate networks' checkpoints (:func:`read_checkpoint`,
:func:`check_architecture`; the file handling they share with the PINN networks is in
:mod:`tidal.autodiff.parameters`)."""

from __future__ import annotations

import math

import numpy as np
import taichi as ti

from tidal.autodiff import parameters
from tidal.dsl.errors import TidalArgumentError

#: The type of Taichi's (and tidal's) scalar types, ``td.f32``, ``td.i32``, ...
_DataType = type(ti.f32)


def integer(name: str, value, minimum: int, hint: str | None = None) -> int:
    """``value`` as an int of at least ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise TidalArgumentError(f"{name} must be an int >= {minimum}, got {value!r}", hint=hint)
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


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``nouns``, default ``noun + "s"``) unless one.

    Example:
        >>> plural(1, "channel"), plural(0, "point"), plural(2, "match", "matches")
        ('1 channel', '0 points', '2 matches')
    """
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def seed(value, name: str = "seed") -> int:
    """``value`` as a seed for :func:`numpy.random.default_rng`: an int >= 0 (bools refused)."""
    return integer(name, value, 0, hint="pass a non-negative int, e.g. seed=0")


def real_type(value):
    """``value`` (None: ``td.f32``) if it is ``td.f32`` or ``td.f64``, the float types a
    network's parameters can have."""
    if value is None:
        return ti.f32
    if isinstance(value, _DataType) and value in (ti.f32, ti.f64):
        return value
    shown = f"td.{value}" if isinstance(value, _DataType) else repr(value)
    raise TidalArgumentError(f"dtype must be td.f32 or td.f64, got {shown}",
                             hint="pass tidal's float type (dtype=td.f64), not a NumPy dtype or "
                                  "a string; integer types cannot hold trainable parameters")


def real_array(name: str, value, complex_hint: str | None = None) -> np.ndarray:
    """``value`` as a float64 array (``value`` itself if it is one), or a TidalArgumentError if
    it does not hold real numbers (strings, objects that are not numbers, ragged nested lists,
    complex values)."""
    try:
        arr = np.asarray(value)
    except ValueError as e:  # a ragged nested list
        raise TidalArgumentError(f"{name} is not a rectangular array of numbers ({e})",
                                 hint="every row must have the same length") from None
    if arr.dtype.kind == "c" or (arr.dtype.kind == "O" and any(
            isinstance(v, complex) for v in arr.reshape(-1))):
        raise TidalArgumentError(f"{name} must be real numbers, got complex values (a network "
                                 "of real numbers would drop the imaginary part)",
                                 hint=complex_hint or "pass np.real(...) if the imaginary part "
                                                      "is zero")
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    what = f"the string {value!r}" if isinstance(value, str) else \
        f"an array of dtype {arr.dtype}"
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            what = f"an object array that is not all numbers ({e})"
    raise TidalArgumentError(f"{name} must be real numbers (a float array), got {what}",
                             hint="convert the data to numbers first, e.g. "
                                  "np.asarray(values, dtype=float)")


# -- checkpoints ---------------------------------------------------------------------------------
#: The fields of each network's saved architecture (its ``arch`` array), in their order, and
#: the value of each field that a file may leave out (trailing, as ``name=value``).
ARCH_FIELDS = {
    "FNO": ("dim", "modes", "width", "layers", "in_channels", "projection", "activation",
            "out_channels"),
    "DeepONet": ("branch_sensors", "trunk_dim", "branch_width", "branch_depth", "trunk_width",
                 "trunk_depth", "p", "activation", "form"),
}
_ARCH_DEFAULTS = {"FNO": {"out_channels": "1"}}
_QUOTED = ("activation", "form")


def _shown(name: str, value: str) -> str:
    """An architecture field's value as :func:`describe` shows it (names quoted)."""
    return repr(value) if name in _QUOTED else value


def _article(model: str) -> str:
    return "an" if model[0] in "AEFHILMNORSX" else "a"


def architecture(arch) -> tuple[str | None, dict[str, str]]:
    """The network (``"FNO"``, ``"DeepONet"`` or None if neither) that a saved ``arch`` (a list
    of strings) describes, and its fields by name.

    Example:
        >>> architecture(["1", "(3,)", "4", "1", "1", "5", "gelu"])[0]
        'FNO'
    """
    arch = [str(a) for a in arch]
    for model, names in ARCH_FIELDS.items():
        defaults = _ARCH_DEFAULTS.get(model, {})
        required = len(names) - len(defaults)
        if not required <= len(arch) <= len(names):
            continue
        extras = dict(a.partition("=")[::2] for a in arch[required:])  # name=value entries
        if not set(extras) <= set(defaults):
            continue
        fields = dict(zip(names, arch[:required]))
        fields.update({k: extras.get(k, defaults[k]) for k in names[required:]})
        if model == "DeepONet" and fields["form"] not in ("unstacked", "stacked"):
            continue
        return model, fields
    return None, {}


def describe(model: str, fields: dict[str, str]) -> str:
    """``Model(name=value, ...)`` of an architecture's fields.

    Example:
        >>> describe("DeepONet", architecture(["5", "1", "4", "1", "4", "1", "3", "relu",
        ...                                    "unstacked"])[1])[:44]
        'DeepONet(branch_sensors=5, trunk_dim=1, bran'
    """
    return f"{model}({', '.join(f'{k}={_shown(k, v)}' for k, v in fields.items())})"


def check_architecture(path, model: str, saved, mine) -> None:
    """Raise a TidalArgumentError, naming the saved network and the fields that differ, unless
    the architecture ``saved`` in the checkpoint ``path`` is ``mine`` (a ``model``'s)."""
    saved = [str(a) for a in saved]
    if saved == list(mine):
        return
    found, fields = architecture(saved)
    _, own = architecture(mine)
    if found is None:
        raise TidalArgumentError(f"checkpoint {path} holds an architecture tidal does not "
                                 f"know, {saved}, not {_article(model)} {model}",
                                 hint=f"load a file written by {model}.save")
    if found != model:
        raise TidalArgumentError(f"checkpoint {path} holds {_article(found)} "
                                 f"{describe(found, fields)}, not {_article(model)} {model}",
                                 hint=f"load it into {_article(found)} {found} of that "
                                      "architecture")
    differ = [f"{k} ({_shown(k, fields[k])} in the file, {_shown(k, own[k])} here)"
              for k in fields if fields[k] != own[k]] or [f"{saved} (this one: {list(mine)})"]
    raise TidalArgumentError(f"checkpoint {path} holds {_article(model)} "
                             f"{describe(model, fields)}, which differs from this one in "
                             f"{', '.join(differ)}",
                             hint=f"build the {model} with the checkpoint's architecture "
                                  "before loading it")


def read_checkpoint(path, model: str, arch, optional: tuple[str, ...] = ()) -> dict:
    """The arrays ``params`` and those of ``optional`` that the file holds, of a checkpoint
    written by ``model.save(path)`` for the architecture ``arch`` (``model._arch()``); a
    TidalArgumentError saying what the file holds if it is not one, or of another
    architecture."""
    where, names, out = parameters.read_npz(path, f"{model}.save", ("params", "arch", *optional))
    hint = f"pass a file written by {model}.save"
    if "arch" not in names or "params" not in names:
        held = f"it holds {', '.join(map(repr, names))}" if names else "it holds no arrays"
        if {"inputs", "outputs", "kind"} <= set(names):
            held += " (a surrogate data set: tidal.surrogates.load_dataset reads it)"
        raise TidalArgumentError(f"{where} is not {_article(model)} {model} checkpoint: no "
                                 f"'params' and 'arch' arrays; {held}", hint=hint)
    check_architecture(where, model, np.atleast_1d(out.pop("arch")).tolist(), arch)
    return out
