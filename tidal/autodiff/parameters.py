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


# the exponent bits of a non-finite float (NaN or infinity)
_F32_EXPONENT = 0x7F800000
_F64_EXPONENT = 0x7FF0000000000000


@ti.func
def adam_element(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step, scale):
    """One parameter's Adam step: ``(new parameter, new m, new v)`` from the parameter ``p``,
    its gradient ``g`` and moments ``m``, ``v``.

    ``weight_decay``: L2 (added to the gradient, PyTorch's Adam); ``decoupled``: AdamW's decay
    (``p <- p - lr * decoupled * p`` before the Adam step, PyTorch's AdamW); one uses the
    other's 0. The bias corrections come folded into ``step = lr / (1 - beta1^t)`` and
    ``scale = 1 / (1 - beta2^t)``: one division per element, not three (the divisions and the
    square root bound the loop: 2.4 million parameters 9.0 -> 6.1-6.5 ms, two threads).
    """
    gi = g + weight_decay * p
    mi = beta1 * m + (1.0 - beta1) * gi
    vi = beta2 * v + (1.0 - beta2) * gi * gi
    return p * (1.0 - lr * decoupled) - step * mi / (ti.sqrt(vi * scale) + eps), mi, vi


class FieldVector(FlatLayout):
    """Scalar Taichi fields as one flat float64 vector: values and gradients read, values and
    gradients written and gradients cleared by one kernel launch each; and Adam's update of
    the values from their gradients in place (:meth:`adam`), with the check that every
    gradient is finite (:meth:`gradients_finite`).

    ``gradients_version`` counts the launches that replaced the gradients (cleared, written or
    consumed by :meth:`adam`): a gradient read after it is unchanged was not touched by them.
    ``values_version`` counts those that wrote the values (:meth:`write`, :meth:`adam`): a
    model that keeps copies of its parameters (an FNO's weights in SIMD blocks) copies them
    again only when it has moved. (Writing the fields by any other means bypasses it: the
    fields are the model's, not part of its interface.)
    """

    def __init__(self, fields: list):
        super().__init__([f.shape for f in fields])
        # td.init (ti.init) run again frees the fields, and a kernel touching them then reads
        # and writes freed memory: the runtime notes their generation (a number, not Taichi's
        # program object: a reference to that kept a replaced program alive, and its late
        # destruction crashed the next one), and code compiled with them later is refused
        runtime.note_fields(fields)
        self._probe = fields[:1]  # (one field tells the generation of all)
        self.gradients_version = 0
        self.values_version = 0
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
        def each(visit: ti.template(), arrays: ti.template(), counts: ti.template()):
            # visit(field, flat position, index, arrays) for every element of every field;
            # with `counts`, visit returns 0 or 1 and arrays[0][0] gets the total (summed per
            # row first: an add to memory per element bars SIMD, 0.6 against 0.2 ms a million)
            for f, offset, lead, trail, size, in_rows in ti.static(layout):
                if ti.static(in_rows):
                    for row in ti.grouped(ti.ndrange(*lead)):
                        base = flat_position(lead, row) * size + offset
                        n = 0
                        for col in ti.grouped(ti.ndrange(*trail)):
                            index = ti.Vector.zero(ti.i32, ti.static(len(lead) + len(trail)))
                            for d in ti.static(range(len(lead))):
                                index[d] = row[d]
                            for d in ti.static(range(len(trail))):
                                index[ti.static(len(lead)) + d] = col[d]
                            if ti.static(counts):
                                n += visit(f, flat_position(trail, col) + base, index, arrays)
                            else:
                                visit(f, flat_position(trail, col) + base, index, arrays)
                        if ti.static(counts):
                            if n > 0:
                                arrays[0][0] += n
                else:
                    for index in ti.grouped(f):
                        if ti.static(counts):
                            if visit(f, flat_position(lead, index) + offset, index, arrays):
                                arrays[0][0] += 1
                        else:
                            visit(f, flat_position(lead, index) + offset, index, arrays)

        def mover(mode: str):
            @ti.func
            def move(f: ti.template(), k, index, arrays: ti.template()):
                flat = ti.static(arrays[0])
                if ti.static(mode == "write"):
                    f[index] = ti.cast(flat[k], f.dtype)
                elif ti.static(mode == "write grads"):
                    f.grad[index] = ti.cast(flat[k], f.dtype)
                elif ti.static(mode == "read"):
                    flat[k] = ti.cast(f[index], ti.f64)
                elif ti.static(mode == "read grads"):
                    flat[k] = ti.cast(f.grad[index], ti.f64)
                else:  # "clear grads"
                    f.grad[index] = 0

            return move

        # one kernel per mode, with no template parameter, so that it is launched past Taichi's
        # per-call Python work (tidal.dsl.direct: about 0.3 ms a launch)
        def transfer(mode: str):
            move = mover(mode)

            @ti.kernel
            def kernel(flat: ti.types.ndarray(dtype=ti.f64, ndim=1)):
                each(move, (flat,), False)

            return lambda flat: direct.launch(kernel, flat)

        @ti.func
        def adam_visit(f: ti.template(), k, index, arrays: ti.template()):
            p, m, v, out, h = ti.static(arrays)
            new, m[k], v[k] = adam_element(p[k], ti.cast(f.grad[index], ti.f64), m[k], v[k],
                                           h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            out[k] = new
            f[index] = ti.cast(new, f.dtype)
            f.grad[index] = 0

        @ti.kernel
        def adam_kernel(p: ti.types.ndarray(dtype=ti.f64, ndim=1),
                        m: ti.types.ndarray(dtype=ti.f64, ndim=1),
                        v: ti.types.ndarray(dtype=ti.f64, ndim=1),
                        out: ti.types.ndarray(dtype=ti.f64, ndim=1),
                        h: ti.types.ndarray(dtype=ti.f64, ndim=1)):
            each(adam_visit, (p, m, v, out, h), False)

        @ti.func
        def count_visit(f: ti.template(), k, index, arrays: ti.template()):
            # 1 for a non-finite gradient: all exponent bits set (a comparison would not do:
            # fast math may assume no NaN or infinity)
            bad = 0
            if ti.static(f.dtype == ti.f64):
                exponent = ti.u64(_F64_EXPONENT)
                bad = ti.cast(ti.bit_cast(f.grad[index], ti.u64) & exponent == exponent, ti.i32)
            else:
                exponent = ti.u32(_F32_EXPONENT)
                bad = ti.cast(ti.bit_cast(ti.cast(f.grad[index], ti.f32), ti.u32) & exponent
                              == exponent, ti.i32)
            return bad

        @ti.kernel
        def count_kernel(count: ti.types.ndarray(dtype=ti.i32, ndim=1)):
            each(count_visit, (count,), True)

        self._kernels = {mode: transfer(mode) for mode in ("write", "write grads", "read",
                                                             "read grads", "clear grads")}
        self._adam_kernel, self._count_kernel = adam_kernel, count_kernel
        self._empty = np.zeros(1)  # (the flat argument of a launch that only clears)
        self._count = np.zeros(1, dtype=np.int32)

    def clear_grads(self) -> None:
        """Set every gradient to zero."""
        self.check_current()
        self._kernels["clear grads"](self._empty)
        self.gradients_version += 1

    def write_grads(self, flat) -> None:
        """Set every gradient from one flat vector."""
        self._kernels["write grads"](self._checked(flat))
        self.gradients_version += 1

    def gradients_finite(self) -> bool:
        """Whether every gradient is finite (no NaN, no infinity).

        Example:
            >>> import numpy as np, taichi as ti, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> vec = FieldVector([ti.field(ti.f32, shape=3, needs_grad=True)])
            >>> vec.write_grads([1.0, np.inf, 0.0]); vec.gradients_finite()
            False
            >>> vec.clear_grads(); vec.gradients_finite()
            True
        """
        self.check_current()
        self._count[0] = 0
        direct.launch(self._count_kernel, self._count)
        return int(self._count[0]) == 0

    def adam(self, p: np.ndarray, m: np.ndarray, v: np.ndarray, out: np.ndarray,
             hyper: np.ndarray) -> None:
        """One Adam step from the parameters ``p`` with the fields' gradients: the new
        parameters into ``out`` and into the fields, the moments ``m`` and ``v`` in place, the
        gradients cleared (all flat float64 vectors; ``hyper`` as :func:`adam_element` takes
        them after its first four arguments).

        Example:
            >>> import numpy as np, taichi as ti, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> vec = FieldVector([ti.field(ti.f64, shape=2, needs_grad=True)])
            >>> vec.write_grads([3.0, -0.5])
            >>> p, m, v, out = np.zeros(2), np.zeros(2), np.zeros(2), np.empty(2)
            >>> lr, b1, b2 = 0.1, 0.9, 0.999  # a first step moves each by lr against its sign
            >>> vec.adam(p, m, v, out, np.array([lr, b1, b2, 1e-12, 0.0, 0.0, lr / (1 - b1),
            ...                                  1 / (1 - b2)]))
            >>> np.round(out, 9).tolist(), vec.read().tolist() == out.tolist()
            ([-0.1, 0.1], True)
            >>> vec.read(grads=True).tolist()
            [0.0, 0.0]
        """
        self.check_current()
        direct.launch(self._adam_kernel, p, m, v, out, hyper)
        self.gradients_version += 1
        self.values_version += 1

    def check_current(self) -> None:
        """Raise a :class:`~tidal.TidalError` if the fields belong to a Taichi program that
        ``td.init`` (or ``ti.init``) has since replaced (their memory is gone)."""
        if self._probe and runtime.stale_field(self._probe[0]):
            raise runtime.freed("this model's parameters were made")

    def _checked(self, flat) -> np.ndarray:
        self.check_current()
        flat = np.ascontiguousarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} values, got {flat.size}")
        return flat

    def write(self, flat) -> None:
        """Set every field from one flat vector."""
        self._kernels["write"](self._checked(flat))
        self.values_version += 1

    def read(self, grads: bool = False) -> np.ndarray:
        """The fields' values (or, with ``grads``, their gradients) as one flat vector."""
        self.check_current()
        out = np.empty(self.size, dtype=np.float64)
        self._kernels["read grads" if grads else "read"](out)
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

    def parameter_fields(self) -> FieldVector:
        """The fields the parameters live in, as one :class:`FieldVector`."""
        return self._flat


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
