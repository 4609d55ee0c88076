"""Launching kernels tidal generated without Taichi's per-call Python work.

Taichi's ``Kernel.__call__`` re-derives, at every launch, what never changes for a kernel whose
arguments are all scalars (or NumPy arrays of one type): the instance key of its arguments, the
compiled kernel, the runtime's materialisation, the argument setters. On this project's 2-core
machine that is about 55 us of Python per launch (more with ndarray arguments), while launching
the compiled code takes about 20 us; for small simulations, whose tapes are a handful of
launches, it is most of the time.
:func:`call` does that work once per kernel and runtime and then launches the compiled code
directly.

Guarantees: the direct path is taken only when Taichi's own path would launch the very same
compiled kernel with the same argument values, namely when

* every parameter is a scalar or an ndarray of a fixed scalar type and number of dimensions
  (no templates, matrices or argument packs), the kernel returns nothing and prints nothing,
  and the arguments passed now are of the kinds one of its compiled instances was made for
  (a plan is kept for each of up to 8 instances: a kernel called both with ndarrays that
  have gradient storage and with ones that do not has two): scalars, C-contiguous NumPy
  arrays of the annotated type and dimensions, and Taichi ndarrays of scalars or vectors with
  the element type, dimensions and presence of gradient storage of those the instance was
  compiled for (Taichi keys its instances by exactly these; a Fortran-ordered array, a Taichi
  ndarray of another kind or any other array goes through Taichi, which copies, compiles anew
  or refuses);
* the kernel was launched once through Taichi in this runtime (which compiled it), and
  no field has been declared since (otherwise Taichi must first place the new fields);
* no ``ti.ad.Tape`` or ``ti.ad.FwdMode`` of Taichi's is active (Taichi's call records the
  launch there).
  Holding no reference to the runtime, a plan cannot keep a finished runtime alive.

Anything else, and every first launch, goes through Taichi's own ``Kernel.__call__``. Errors
raised by the launch are translated as Taichi translates them.

**Serial forms.** On the CPU Taichi hands each top-level loop of a kernel to its thread pool:
waking the workers and waiting for them costs 20-100 us a loop on this project's 2-core
machine whatever the loop's size, more than many small kernels' work (a one-field FNO
evaluation is some fifty such launches). A kernel tidal generated with a top-level loop also
has a serial form (:class:`tidal.dsl.loader.SerialForm`: the same body under an ``if`` on an
extra argument, where Taichi runs every loop on the launching thread). A plan of such a kernel
is timed over a few launches in each form, alternating, once it has been launched
:data:`TRIAL_WARMUP` times, and keeps the serial form where it is clearly faster
(:class:`_Trial`); kernels whose parallel launches take over :data:`SERIAL_CEILING_S`, or whose
source is over :data:`SERIAL_MAX_LINES` lines (its compile would cost more than it could save),
stay parallel. Both forms run the same statements in an order the parallel form may also take,
so the choice changes no result beyond the order of atomic additions.
``TIDAL_SERIAL_LAUNCHES=always`` (or ``never``) in the environment takes the serial (or
parallel) form without timing (the whole test suite passes with ``always``).
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
from taichi.lang import impl as ti_impl
from taichi.lang import kernel_impl
from taichi.lang._ndarray import Ndarray, ScalarNdarray
from taichi.lang.exception import handle_exception_from_cpp
from taichi.lang.matrix import VectorNdarray, VectorType
from taichi.lang.util import to_numpy_type
from taichi.types import ndarray_type, primitive_types
from taichi.types.utils import is_signed

_TAICHI_CALL = kernel_impl.Kernel.__call__
_INELIGIBLE = "ineligible"
# the Python values Taichi's call accepts for scalar parameters (others: Taichi's error)
_REAL = (float, int, np.floating, np.integer)
_INTEGER = (int, np.integer)
_INT32_LIMIT = np.iinfo(np.int32).max  # (Taichi warns about larger arrays; its path only)
_MAX_PLANS = 8  # instances of one kernel launched directly (the others: Taichi's path)
_NOTING: list[list] = []  # the launch lists of the sequences being noted (tidal.dsl.replay)
#: direct launches of a plan before its two forms are timed (the first touch of its memory)
TRIAL_WARMUP = 20
#: timed parallel launches before the serial form is compiled
TRIAL_PRELIMINARY = 3
#: timed launches of the serial form (and as many more of the parallel one, in turn)
TRIAL_ROUNDS = 5
#: the serial form is kept when its median launch takes under this fraction of the parallel one's
SERIAL_MARGIN = 0.7
#: a kernel whose parallel launches take longer stays parallel: launches of a few hundred
#: microseconds were faster alone in the serial form, and yet an FNO training step made of them
#: was slower (by about 10 %, benchmarks/surrogates_fno.py at 16 x 16; not pinned down, perhaps
#: the data they leave in the launching thread's cache, which the pool's threads then read)
SERIAL_CEILING_S = 2e-4
#: a kernel whose generated source is longer stays parallel (not compiled twice)
SERIAL_MAX_LINES = 400


class Plan:
    """What a direct launch of one compiled instance needs: the kernel's compiled-instances
    dict when planned (``kernels``), the C++ kernel and its compiled data in the form chosen,
    the argument setters, and the serial form's trial while it runs (see the module)."""

    __slots__ = ("kernels", "t_kernel", "compiled", "setters", "gate", "parallel", "form",
                 "trial")

    def __init__(self, kernels, t_kernel, compiled, setters, form):
        self.kernels, self.t_kernel, self.compiled, self.setters = kernels, t_kernel, compiled, \
            setters
        self.gate = -1  # the serial form's extra argument (its index), -1 in the parallel form
        self.parallel = (t_kernel, compiled)
        self.form = form
        self.trial = None


def call(kernel, args):
    """Launch the Taichi kernel object ``kernel`` (a ``Kernel``, not the decorated function)
    with positional ``args``; directly when that is known to be the same as Taichi's call."""
    if _NOTING:
        _NOTING[-1].append((kernel, args))
    plans = kernel.__dict__.get("_tidal_direct")
    if (plans and plans is not _INELIGIBLE and ti_impl._root_fb.empty
            and no_taichi_recorder()):
        plan = _matching(plans, kernel, args)
        if plan is not None:
            return launch_planned(plan, args)
    result = _TAICHI_CALL(kernel, *args)
    if plans is not _INELIGIBLE:
        plan = _plan(kernel, args)
        if plan is _INELIGIBLE:
            kernel._tidal_direct = _INELIGIBLE
        elif plan is not None:  # in place of this instance's old plan, beside the others'
            live = [p for p in plans or () if p.kernels is kernel.compiled_kernels
                    and p.parallel[0] is not plan.parallel[0]]
            kernel._tidal_direct = tuple(live[-(_MAX_PLANS - 1):] + [plan])
    return result


def launch(kernel, *args):
    """Launch the ``@ti.kernel`` function ``kernel`` with ``args`` through :func:`call`."""
    return call(kernel._primal, args)


def no_taichi_recorder() -> bool:
    """Whether no ``ti.ad.Tape`` or ``ti.ad.FwdMode`` would see the launch (Taichi's call
    inserts kernels into them; tidal's own stand-in for the tape slot ignores kernels)."""
    rt = ti_impl.get_runtime()
    tape = rt.target_tape
    return rt.fwd_mode_manager is None and (tape is None or getattr(tape, "ignores_kernels",
                                                                     False))


@contextlib.contextmanager
def noted():
    """Note every launch made through :func:`call` inside, as ``(kernel, args)`` in the list
    yielded (for :class:`tidal.dsl.replay.Sequence`); :func:`bypassed` inside makes it None."""
    launched: list = []
    _NOTING.append(launched)
    try:
        yield launched
    finally:
        _NOTING.pop()


def noting() -> bool:
    """Whether launches are being noted (inside :func:`noted`)."""
    return bool(_NOTING)


def bypassed() -> None:
    """Tell the sequences being noted that a launch went past :func:`call` (they cannot be
    replayed)."""
    for launched in _NOTING:
        launched.append(None)


def plan_for(kernel, args):
    """The plan :func:`call` would launch ``kernel`` with ``args`` by now, or None."""
    plans = kernel.__dict__.get("_tidal_direct")
    if not plans or plans is _INELIGIBLE:
        return None
    return _matching(plans, kernel, args)


def _matching(plans, kernel, args):
    """The plan of ``plans`` (the kernel's, eligible) that accepts ``args`` now, or None."""
    for plan in plans:
        if (plan.kernels is kernel.compiled_kernels and plan.kernels
                and len(args) == len(plan.setters)
                and all(s[0](a) for a, s in zip(args, plan.setters))):
            return plan
    return None


def current(plan: Plan, kernel) -> bool:
    """Whether ``plan`` (of ``kernel``) still launches the kernel's compiled code."""
    return plan.kernels is kernel.compiled_kernels and bool(plan.kernels)


def launch_planned(plan: Plan, args) -> None:
    """Launch with a plan from :func:`plan_for` whose kernel's compiled instances are still
    the plan's, with the very arguments it was found for."""
    if plan.trial is not None:
        plan.trial.launch(plan, args)
        return
    _launch(plan, args)


def _launch(plan: Plan, args) -> None:
    ctx = plan.t_kernel.make_launch_context()
    for i, (_, put) in enumerate(plan.setters):
        put(ctx, (i,), args[i])
    if plan.gate >= 0:
        ctx.set_arg_int((plan.gate,), 1)
    try:
        ti_impl.get_runtime().prog.launch_kernel(plan.compiled, ctx)
    except Exception as e:  # as Taichi's own launch reports C++ errors
        raise handle_exception_from_cpp(e) from None


def _timed(plan: Plan, args) -> float:
    start = time.perf_counter()
    _launch(plan, args)  # (a CPU launch returns when the kernel has run)
    return time.perf_counter() - start


def serial_mode() -> str:
    """``TIDAL_SERIAL_LAUNCHES``: ``auto`` (time both forms; the default), ``always`` or
    ``never``."""
    mode = os.environ.get("TIDAL_SERIAL_LAUNCHES", "auto").strip().lower() or "auto"
    return mode if mode in ("always", "never") else "auto"


class _Trial:
    """The timing of a plan's two forms (see the module): after :data:`TRIAL_WARMUP` launches
    :data:`TRIAL_PRELIMINARY` timed parallel launches (their median over
    :data:`SERIAL_CEILING_S`: the trial ends there), the serial form compiled and launched once
    untimed, then launches alternating between the forms until the serial one has
    :data:`TRIAL_ROUNDS`; the serial form is kept when its median is below
    :data:`SERIAL_MARGIN` times the parallel one's (a lucky launch decides nothing)."""

    __slots__ = ("launches", "parallel", "serial", "serial_form")

    def __init__(self):
        self.launches = 0  # (until the serial form is compiled; then those since)
        self.parallel: list[float] = []
        self.serial: list[float] = []
        self.serial_form = None

    def launch(self, plan: Plan, args) -> None:
        self.launches += 1
        if self.serial_form is None and self.launches <= TRIAL_WARMUP:
            _launch(plan, args)
            return
        if self.serial_form is None:  # timing the parallel form alone
            self.parallel.append(_timed(plan, args))
            if len(self.parallel) < TRIAL_PRELIMINARY:
                return
            self.serial_form = (np.median(self.parallel) <= SERIAL_CEILING_S
                                and _serial_form(plan, args))
            if not self.serial_form:
                plan.trial = None
            self.launches = 0
            return
        serial = self.launches == 1 or len(self.serial) < len(self.parallel) - TRIAL_PRELIMINARY
        if serial:
            plan.t_kernel, plan.compiled, plan.gate = self.serial_form
        else:
            (plan.t_kernel, plan.compiled), plan.gate = plan.parallel, -1
        seconds = _timed(plan, args)
        if self.launches == 1:
            return  # (the serial form's first launch also loads its code: not timed)
        (self.serial if serial else self.parallel).append(seconds)
        if len(self.serial) == TRIAL_ROUNDS:
            if np.median(self.serial) >= SERIAL_MARGIN * np.median(self.parallel):
                (plan.t_kernel, plan.compiled), plan.gate = plan.parallel, -1
            plan.trial = None


def _serial_form(plan: Plan, args):
    """``(C++ kernel, compiled data, gate index)`` of ``plan``'s kernel's serial form, compiled
    for ``args`` now; None when it cannot be planned (the parallel form, which compiled,
    stays)."""
    try:
        with plan.form.compiling():
            serial = _plan(plan.form.kernel(), (*args, 1))
    except Exception:  # noqa: BLE001 - any failure leaves the parallel form
        return None
    if not isinstance(serial, Plan):
        return None
    return serial.t_kernel, serial.compiled, len(args)


def _plan(kernel, args):
    """A :class:`Plan` for a kernel that can be launched directly in the current runtime,
    None when it cannot yet (try again next call), or ``_INELIGIBLE`` when it never can.
    ``args`` are those of the call that just went through Taichi: the plan is for the compiled
    instance made for their kinds.

    Taichi gives a kernel a new ``compiled_kernels`` dict when the runtime is reset (and empties
    it when compiled functions are cleared), so the plan holds for as long as that dict is the
    kernel's and not empty."""
    if (kernel.return_type or getattr(kernel, "has_print", True)
            or kernel.autodiff_mode != kernel_impl.AutodiffMode.NONE):
        return _INELIGIBLE
    setters = []
    for arg, value in zip(kernel.arguments, args):
        setter = _setter(arg.annotation, value)
        if setter is _INELIGIBLE:
            return _INELIGIBLE
        if not setter[0](value):  # compiled for another kind of array: Taichi's path only
            return None
        setters.append(setter)
    # the instance Taichi's call just launched (the key its own call derives from the args)
    t_kernel = kernel.compiled_kernels.get(kernel.ensure_compiled(*args))
    if t_kernel is None:
        return None
    prog = ti_impl.get_runtime().prog
    compiled = prog.compile_kernel(prog.config(), prog.get_device_caps(), t_kernel)
    form = kernel.__dict__.get("_tidal_serial_form")
    if form is not None and form.lines > SERIAL_MAX_LINES:
        form = None
    plan = Plan(kernel.compiled_kernels, t_kernel, compiled, tuple(setters), form)
    mode = serial_mode() if form is not None else "never"
    if mode == "always":
        serial = _serial_form(plan, args)
        if serial is not None:
            plan.t_kernel, plan.compiled, plan.gate = serial
    elif mode == "auto":
        plan.trial = _Trial()
    return plan


def _setter(needed, first):
    """``(accepts(value), put(ctx, indices, value))`` for a parameter annotated ``needed`` whose
    compiled instance was made for the value ``first``, or ``_INELIGIBLE``."""
    if id(needed) in primitive_types.real_type_ids:
        return (lambda v: isinstance(v, _REAL),
                lambda ctx, i, v: ctx.set_arg_float(i, float(v)))
    if id(needed) in primitive_types.integer_type_ids:
        if is_signed(needed):
            return (lambda v: isinstance(v, _INTEGER),
                    lambda ctx, i, v: ctx.set_arg_int(i, int(v)))
        return (lambda v: isinstance(v, _INTEGER),
                lambda ctx, i, v: ctx.set_arg_uint(i, int(v)))
    if isinstance(needed, ndarray_type.NdarrayType) and isinstance(first, Ndarray):
        return _taichi_ndarray_setter(needed, first)
    if (isinstance(needed, ndarray_type.NdarrayType) and needed.ndim is not None
            and needed.dtype is not None and id(needed.dtype) in primitive_types.type_ids):
        dtype, ndim = np.dtype(to_numpy_type(needed.dtype)), needed.ndim

        def accepts(v):
            return (type(v) is np.ndarray and v.dtype == dtype and v.ndim == ndim
                    and v.flags.c_contiguous and v.size < _INT32_LIMIT)

        # Taichi's own call does exactly this for such an array (its C++ launch moves host
        # memory to and from a GPU where there is one)
        return (accepts, lambda ctx, i, v: ctx.set_arg_external_array_with_shape(
            i, v.ctypes.data, v.nbytes, v.shape, 0))
    return _INELIGIBLE


def _taichi_ndarray_setter(needed, first):
    """The setter of a parameter annotated ``needed`` (an ndarray type of fixed dimensions and
    scalar or vector elements) for Taichi ndarrays like ``first``. Taichi compiles one
    instance per element type, number of dimensions and presence of gradient storage, so an
    ndarray is accepted only when all three are those of ``first``; it is then passed as
    Taichi's own call passes it (with its gradient's storage when it has one)."""
    element, kind = needed.dtype, type(first)
    if kind is ScalarNdarray and id(element) in primitive_types.type_ids:
        scalar, length = element, None
    elif (kind is VectorNdarray and isinstance(element, VectorType)
          and id(element.dtype) in primitive_types.type_ids):
        scalar, length = element.dtype, element.n
    else:
        return _INELIGIBLE
    ndim, with_grad = needed.ndim, first.grad is not None
    if ndim is None or first.dtype != scalar or getattr(first, "n", None) != length \
            or len(first.shape) != ndim:
        return _INELIGIBLE

    def accepts(v):
        return (type(v) is kind and v.dtype == scalar and getattr(v, "n", None) == length
                and len(v.shape) == ndim and (v.grad is not None) == with_grad)

    if with_grad:
        return accepts, lambda ctx, i, v: ctx.set_arg_ndarray_with_grad(i, v.arr, v.grad.arr)
    return accepts, lambda ctx, i, v: ctx.set_arg_ndarray(i, v.arr)


__all__ = ["call", "launch"]
