"""Linear maps between fields applied by Python code, differentiated as one step.

Some steps of a program are linear maps whose value comes from an iterative method: a pressure
projection by conjugate gradients, an implicit diffusion solve. Recording the iterations on a
tape would differentiate the method instead of the map (and store every iterate). A
:class:`LinearMap` is recorded as the map itself:

* under :class:`~tidal.autodiff.tape.Tape` its adjoint applies the transpose to the cotangents
  of what it wrote (implicit differentiation: for a solve, another solve);
* in tangent runs (:func:`~tidal.autodiff.runs.jvp_run`, :func:`~tidal.autodiff.runs.hvp`) the
  tangents go through the same map; a map is its own second derivative (zero), so
  Hessian-vector products through it are exact.

Guarantee: derivatives through the map are those of the exact linear map; they are as accurate
as ``apply`` and ``transpose`` compute it (the solver's tolerance), and nothing the method did
in between is stored.
"""

from __future__ import annotations

from tidal.dsl import launches
from tidal.dsl.errors import TidalError


class LinearMap:
    """A linear map ``dsts = L(srcs)`` between fields, applied by Python code, with its
    transpose.

    Args:
        apply: ``apply(srcs, dsts, *args)`` overwrites (the part ``args`` select of) the fields
            ``dsts`` with ``L`` applied to ``srcs``. It is also called with the fields'
            tangent storage, so it must take any fields of those shapes (``ti.template()``).
        transpose: ``transpose(dsts_bar, srcs_bar, *args)`` adds ``L^T dsts_bar`` to
            ``srcs_bar`` and then zeroes the part of ``dsts_bar`` that ``apply`` overwrote
            (the old values influenced nothing after it).
        slice_arg: which of ``args`` is the index along the first axis of every field that
            the map reads and writes (the time step), or None where it reads and writes the
            whole fields.
        name: shown in errors.

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = ti.field(ti.f64, shape=3, needs_grad=True)
        >>> y = ti.field(ti.f64, shape=3, needs_grad=True)
        >>> loss = ti.field(ti.f64, shape=(), needs_grad=True)
        >>> def twice(srcs, dsts):
        ...     dsts[0].from_numpy(2.0 * srcs[0].to_numpy())
        >>> def twice_t(dsts_bar, srcs_bar):
        ...     srcs_bar[0].from_numpy(srcs_bar[0].to_numpy() + 2.0 * dsts_bar[0].to_numpy())
        ...     dsts_bar[0].fill(0.0)
        >>> double = td.LinearMap(twice, twice_t)
        >>> @td.kernel
        ... def total():
        ...     for i in y:
        ...         loss[None] += y[i] ** 2
        >>> x.from_numpy(np.array([1.0, 2.0, 3.0]))
        >>> with td.Tape(loss):
        ...     double([x], [y])
        ...     total()
        >>> x.grad.to_numpy().tolist()
        [8.0, 16.0, 24.0]
    """

    def __init__(self, apply, transpose, slice_arg: int | None = None,
                 name: str | None = None):
        self.apply, self.transpose, self.slice_arg = apply, transpose, slice_arg
        self.name = name or getattr(apply, "__name__", "linear map")

    def __call__(self, srcs, dsts, *args) -> None:
        srcs, dsts = list(srcs), list(dsts)
        r = launches.current()
        if r is None:
            self.run(srcs, dsts, args)
            return
        handler = getattr(r, "linear", None)
        if handler is None:
            raise TidalError(f"{self.name} (a td.LinearMap) cannot run inside "
                             f"{type(r).__name__}",
                             hint="call it inside td.Tape, td.jvp_run or td.hvp, or outside them")
        handler(self, srcs, dsts, args)

    def run(self, srcs, dsts, args) -> None:
        """Apply the map, unseen by any recorder."""
        with launches.quiet():
            self.apply(srcs, dsts, *args)

    def run_transpose(self, dsts_bar, srcs_bar, args) -> None:
        """Apply the transpose to cotangents, unseen by any recorder."""
        with launches.quiet():
            self.transpose(dsts_bar, srcs_bar, *args)

    def pattern(self, obj, args) -> tuple:
        """The part of ``obj`` the map touches, as the tape's read patterns spell it."""
        dims = len(getattr(obj, "shape", ()))
        if self.slice_arg is None or dims == 0:
            return (None,) * dims
        return (("c", int(args[self.slice_arg])),) + (None,) * (dims - 1)
