"""Parameters as one flat vector: the layer the optimisers of :mod:`tidal.solvers` (network
weights) and :func:`tidal.fit` (a simulator's named parameters) share.

* :class:`FlatLayout`: arrays of given shapes seen as one float64 vector, each row-major, one
  after the other: ``join`` and ``split`` are inverse to each other.
* :class:`FieldVector`: Taichi fields seen that way, their values and their gradients read and
  written by one kernel launch each (not one copy per field).
* the models' ``.npz`` checkpoint files: :func:`save_path`, :func:`checkpoint_file` and
  :func:`read_npz` (a TidalArgumentError for a missing path, a folder, a file that is not a
  readable ``.npz``).

Example:
    >>> import numpy as np
    >>> from tidal.autodiff.parameters import FlatLayout
    >>> layout = FlatLayout([(2, 2), (), (3,)])
    >>> layout.size, layout.offsets
    (8, [0, 4, 5])
    >>> [p.shape for p in layout.split(np.arange(8.0))]
    [(2, 2), (), (3,)]
    >>> layout.join(layout.split(np.arange(8.0))).tolist() == list(range(8))
    True
"""

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import taichi as ti

from tidal.dsl import direct, runtime
from tidal.dsl.errors import TidalArgumentError


class FlatLayout:
    """Arrays of the given shapes as one flat float64 vector."""

    def __init__(self, shapes):
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)

    def split(self, flat) -> list:
        """The arrays (copies) a flat vector holds."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} values, got {flat.size}")
        return [flat[o:o + k].reshape(s).copy()
                for o, k, s in zip(self.offsets, self.sizes, self.shapes)]

    def join(self, parts) -> np.ndarray:
        """One flat vector of the arrays ``parts`` (in order, each of its shape)."""
        if len(parts) != len(self.shapes):
            raise TidalArgumentError(f"expected {len(self.shapes)} arrays, got {len(parts)}")
        out = np.empty(self.size)
        for p, o, k, s in zip(parts, self.offsets, self.sizes, self.shapes):
            p = np.asarray(p, dtype=np.float64)
            if p.shape != s:
                raise TidalArgumentError(f"an array has shape {p.shape}, its slot {s}")
            out[o:o + k] = p.reshape(-1)
        return out


class FieldVector(FlatLayout):
    """Scalar Taichi fields as one flat float64 vector: values and gradients read, values
    written and gradients cleared by one kernel launch each."""

    def __init__(self, fields: list):
        super().__init__([f.shape for f in fields])
        # td.init (ti.init) run again frees the fields, and a kernel touching them then reads
        # and writes freed memory: the runtime notes their generation (a number, not Taichi's
        # program object: a reference to that kept a replaced program alive, and its late
        # destruction crashed the next one), and code compiled with them later is refused
        runtime.note_fields(fields)
        self._probe = fields[:1]  # (one field tells the generation of all)
        # (field, offset, leading axes, trailing axes, the trailing axes' size, whether in rows)
        layout = [(f, o, *_rows(s), math.prod(_rows(s)[1]), bool(_rows(s)[1]))
                  for f, o, s in zip(fields, self.offsets, self.shapes)]

        # a large field as rows: the loop Taichi runs in parallel visits the leading axes, an
        # inner loop the trailing ones (in one 5-D loop every element paid for its whole index:
        # 4.4 against 1.8 ms for 2.4 million values); positions in the flat vector are row-major

        @ti.func
        def flat_position(shape: ti.template(), index):
            k = 0
            for d in ti.static(range(len(shape))):
                k = k * shape[d] + index[d]
            return k

        @ti.func
        def move(mode: ti.template(), f: ti.template(), flat: ti.template(), k, index):
            if ti.static(mode == "write"):
                f[index] = ti.cast(flat[k], f.dtype)
            elif ti.static(mode == "read"):
                flat[k] = ti.cast(f[index], ti.f64)
            elif ti.static(mode == "read grads"):
                flat[k] = ti.cast(f.grad[index], ti.f64)
            else:  # "clear grads"
                f.grad[index] = 0

        def transfer(mode: str):
            # one kernel per mode, with no template parameter, so that it is launched past
            # Taichi's per-call Python work (tidal.dsl.direct: about 0.3 ms a launch, four
            # launches a training step)
            @ti.kernel
            def kernel(flat: ti.types.ndarray(dtype=ti.f64, ndim=1)):
                for f, offset, lead, trail, size, in_rows in ti.static(layout):
                    if ti.static(in_rows):
                        for row in ti.grouped(ti.ndrange(*lead)):
                            base = flat_position(lead, row) * size + offset
                            for col in ti.grouped(ti.ndrange(*trail)):
                                index = ti.Vector.zero(ti.i32,
                                                       ti.static(len(lead) + len(trail)))
                                for d in ti.static(range(len(lead))):
                                    index[d] = row[d]
                                for d in ti.static(range(len(trail))):
                                    index[ti.static(len(lead)) + d] = col[d]
                                move(mode, f, flat, flat_position(trail, col) + base, index)
                    else:
                        for index in ti.grouped(f):
                            move(mode, f, flat, flat_position(lead, index) + offset, index)

            return lambda flat: direct.launch(kernel, flat)

        kernels = {mode: transfer(mode) for mode in ("write", "read", "read grads",
                                                       "clear grads")}

        def read(out, grads):
            self.check_current()
            kernels["read grads" if grads else "read"](out)

        def clear_grads():
            self.check_current()
            kernels["clear grads"](self._empty)

        self._empty = np.zeros(1)  # (the flat argument of a launch that only clears)
        self._write, self._read, self.clear_grads = kernels["write"], read, clear_grads

    def check_current(self) -> None:
        """Raise a :class:`~tidal.TidalError` if the fields belong to a Taichi program that
        ``td.init`` (or ``ti.init``) has since replaced (their memory is gone)."""
        if self._probe and runtime.stale_field(self._probe[0]):
            raise runtime.freed("this model's parameters were made")

    def write(self, flat) -> None:
        """Set every field from one flat vector."""
        self.check_current()
        flat = np.ascontiguousarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} values, got {flat.size}")
        self._write(flat)

    def read(self, grads: bool = False) -> np.ndarray:
        """The fields' values (or, with ``grads``, their gradients) as one flat vector."""
        out = np.empty(self.size, dtype=np.float64)
        self._read(out, grads)
        return out


# fields of fewer values are copied by one loop over their elements (the row-wise loops take
# about 0.3 s longer to compile per network and gain nothing on a small field)
ROWS_FROM = 1 << 16


def _rows(shape: tuple) -> tuple[tuple, tuple]:
    """``shape`` split into leading and trailing axes: the trailing ones the fewest last axes
    holding at least 32 values, but never the first axis (none for a field of at most one axis
    or fewer than :data:`ROWS_FROM` values)."""
    k = len(shape) - 1
    if k < 1 or math.prod(shape) < ROWS_FROM:
        return shape, ()
    while k > 1 and math.prod(shape[k:]) < 32:
        k -= 1
    return shape[:k], shape[k:]


class FlatParameters:
    """The flat-vector interface of a model whose parameters are one :class:`FieldVector`
    ``self._flat`` of ``self.size`` values (the surrogates' networks): read, checked write,
    gradients and their clearing, one launch each."""

    _flat: FieldVector
    size: int

    def get_flat(self) -> np.ndarray:
        """All parameters as one float64 vector."""
        return self._flat.read(grads=False)

    def set_flat(self, flat) -> None:
        """Set every parameter from one vector of length :attr:`size` (finite values)."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} parameters, got {flat.size}")
        if not np.all(np.isfinite(flat)):
            raise TidalArgumentError("parameters must be finite (got NaN or inf)")
        self._flat.write(flat)

    def grad_flat(self) -> np.ndarray:
        """The parameters' gradients (``.grad``) in the order of :meth:`get_flat`."""
        return self._flat.read(grads=True)

    def clear_grads(self) -> None:
        """Zero the parameters' gradients (one launch)."""
        self._flat.clear_grads()


def save_path(path):
    """``path`` for :func:`numpy.savez`, once the folder it names exists (created if not)."""
    if isinstance(path, (str, os.PathLike)):
        folder = Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TidalArgumentError(f"cannot save to {os.fspath(path)}: cannot create the "
                                     f"folder {folder} ({e.strerror})",
                                     hint="save into a folder that exists or can be made") \
                from None
    return path


def checkpoint_file(path) -> Path:
    """The file that ``save(path)`` wrote: ``path``, or ``path + ".npz"`` (which
    :func:`numpy.savez` writes for a path without that suffix)."""
    text = os.fspath(path)
    candidates = [Path(text)] + ([] if text.endswith(".npz") else [Path(text + ".npz")])
    for file in candidates:
        if file.is_file():
            return file
    if Path(text).is_dir():
        found = sorted(p.name for p in Path(text).glob("*.npz"))
        there = (f" (it holds {', '.join(found[:5])}{', ...' if len(found) > 5 else ''})"
                 if found else "")
        raise TidalArgumentError(f"checkpoint {text} is a folder, not a file{there}",
                                 hint="pass the .npz file that save() wrote")
    tried = f" (nor {candidates[1]})" if len(candidates) > 1 else ""
    raise TidalArgumentError(f"checkpoint {text} not found{tried}",
                             hint="pass the path given to save() (check the folder and the "
                                  "name)")


def read_npz(path, writer: str, keys: tuple[str, ...] | None = None
             ) -> tuple[str, list[str], dict]:
    """The ``.npz`` file that ``writer(path)`` wrote (e.g. ``"FNO.save"``; see
    :func:`checkpoint_file`): its name as shown in messages, the names of the arrays it holds,
    and those of them among ``keys`` (None: all); a TidalArgumentError for a file that is not a
    readable ``.npz``."""
    file = checkpoint_file(path) if isinstance(path, (str, os.PathLike)) else path
    where = os.fspath(file) if isinstance(file, Path) else repr(path)
    hint = f"pass a file written by {writer}"
    if isinstance(file, Path) and not zipfile.is_zipfile(file):
        raise TidalArgumentError(f"{where} is not a checkpoint: not a .npz (zip) file", hint=hint)
    try:
        with np.load(file, allow_pickle=False) as data:
            names = list(data.files)
            out = {k: np.array(data[k]) for k in (names if keys is None else keys)
                   if k in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise TidalArgumentError(f"{where} is not a readable checkpoint ({e})",
                                 hint=hint) from None
    return where, names, out
