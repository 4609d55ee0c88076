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
extra argument, where Taichi runs every loop on the launching thread); :func:`serial_plan`
makes a plan of it beside a plan of the kernel. Which form runs is chosen for a whole replayed
sequence of launches, by timing it both ways (:mod:`tidal.dsl.replay`): timed one at a time,
kernels of a few hundred microseconds were faster serially and yet the sequences and loops made
of them slower. ``TIDAL_SERIAL_LAUNCHES=always`` in the environment makes every plan launch
the serial form (the whole test suite passes so), ``never`` keeps sequences from trying it.

**Bound contexts.** Taichi's argument setters cost 0.4-1.5 us each (a 5-D ndarray sets each
extent through a lookup), and a launch context cannot be launched twice as Taichi fills it (see
:func:`bound`). For a launch made again and again with the same arguments (a replayed
sequence), :func:`bound` fills a context once with the ndarrays' host memory on the CPU, and
:func:`launch_bound` launches it.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
from taichi._lib import core as ti_lib
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
_CPU_ARCHES = (ti_lib.x64, ti_lib.arm64)  # where an ndarray's memory is the host's
_MAX_PLANS = 8  # instances of one kernel launched directly (the others: Taichi's path)
_NOTING: list[list] = []  # the launch lists of the sequences being noted (tidal.dsl.replay)
#: a kernel whose generated source is longer has no serial plan (not compiled twice); the
#: FNO's one-field passes have kernels of up to about 400 lines (the adjoint of the quarter
#: form of its last-axis DFT into the mixing's array: 402), whose parallel launches take 90 us
#: where the serial ones take 15
SERIAL_MAX_LINES = 500


class Plan:
    """What a direct launch of one compiled instance needs: the kernel's compiled-instances
    dict when planned (``kernels``), the C++ kernel and its compiled data, the argument
    setters, the index of the serial form's extra argument (``gate``, -1 in the parallel form)
    and the kernel's serial form (``form``, None when it has none)."""

    __slots__ = ("kernels", "t_kernel", "compiled", "setters", "gate", "form")

    def __init__(self, kernels, t_kernel, compiled, setters, form, gate: int = -1):
        self.kernels, self.t_kernel, self.compiled = kernels, t_kernel, compiled
        self.setters, self.form, self.gate = setters, form, gate


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
            live = [p for p in plans or ()
                    if current(p, kernel) and p.t_kernel is not plan.t_kernel]
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
        if (current(plan, kernel) and len(args) == len(plan.setters)
                and all(s[0](a) for a, s in zip(args, plan.setters))):
            return plan
    return None


def current(plan: Plan, kernel) -> bool:
    """Whether ``plan`` (of ``kernel``) still launches the kernel's compiled code."""
    return plan.kernels is kernel.compiled_kernels and bool(plan.kernels)


def launch_planned(plan: Plan, args) -> None:
    """Launch with a plan from :func:`plan_for` (or :func:`serial_plan`) whose kernel's
    compiled instances are still the plan's, with the very arguments it was found for."""
    ctx = plan.t_kernel.make_launch_context()
    for i, (_, put) in enumerate(plan.setters):
        put(ctx, (i,), args[i])
    if plan.gate >= 0:
        ctx.set_arg_int((plan.gate,), 1)
    try:
        ti_impl.get_runtime().prog.launch_kernel(plan.compiled, ctx)
    except Exception as e:  # as Taichi's own launch reports C++ errors
        raise handle_exception_from_cpp(e) from None


def bound(plan: Plan, args):
    """A launch context filled once with ``args`` for launching ``plan`` again and again
    (:func:`launch_bound`), or None where that is not possible (a backend other than the CPU).

    Taichi's argument setters cost 0.4-1.5 us each on this project's machine (a 5-D ndarray
    sets each extent through a lookup), several microseconds a launch, and a context cannot
    simply be launched twice: the first launch turns its ndarrays' device allocations into
    host pointers in place and the second would read the allocations as data. On the CPU an
    ndarray's memory is host memory that never moves, so the context is given its host
    pointers, as Taichi gives a NumPy array's; such a context launches unchanged every time.
    The caller keeps ``args`` alive for as long as it uses the context."""
    if ti_impl.current_cfg().arch not in _CPU_ARCHES:
        return None
    prog = ti_impl.get_runtime().prog
    ctx = plan.t_kernel.make_launch_context()
    for i, ((_, put), value) in enumerate(zip(plan.setters, args)):
        if isinstance(value, Ndarray):
            arr = value.arr
            grad = 0 if value.grad is None else prog.get_ndarray_data_ptr_as_int(value.grad.arr)
            ctx.set_arg_external_array_with_shape(
                (i,), prog.get_ndarray_data_ptr_as_int(arr),
                arr.nelement() * arr.element_size(), list(arr.shape), grad)
        else:
            put(ctx, (i,), value)
    if plan.gate >= 0:
        ctx.set_arg_int((plan.gate,), 1)
    return ctx


def launch_bound(plan: Plan, ctx) -> None:
    """Launch ``plan`` with a context from :func:`bound` (the plan still its kernel's)."""
    try:
        ti_impl.get_runtime().prog.launch_kernel(plan.compiled, ctx)
    except Exception as e:  # as Taichi's own launch reports C++ errors
        raise handle_exception_from_cpp(e) from None


def serial_mode() -> str:
    """``TIDAL_SERIAL_LAUNCHES``: ``auto`` (sequences time both forms; the default),
    ``always`` or ``never``."""
    mode = os.environ.get("TIDAL_SERIAL_LAUNCHES", "auto").strip().lower() or "auto"
    return mode if mode in ("always", "never") else "auto"


def serial_plan(plan: Plan, args) -> Plan | None:
    """A plan launching the serial form of ``plan``'s kernel (compiled for ``args`` now; its
    ``kernels`` are the parallel plan's, so it is current exactly when that plan is), or None
    when the kernel has none or it cannot be planned."""
    if plan.form is None:
        return None
    try:
        with plan.form.compiling():
            serial = _plan(plan.form.kernel(), (*args, 1), serial_forms=False)
    except Exception:  # noqa: BLE001 - any failure leaves the parallel form, which compiled
        return None
    if not isinstance(serial, Plan):
        return None
    return Plan(plan.kernels, serial.t_kernel, serial.compiled, plan.setters, None, len(args))


def _plan(kernel, args, serial_forms: bool = True):
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
    form = kernel.__dict__.get("_tidal_serial_form") if serial_forms else None
    if form is not None and form.lines > SERIAL_MAX_LINES:
        form = None
    plan = Plan(kernel.compiled_kernels, t_kernel, compiled, tuple(setters), form)
    if form is not None and serial_mode() == "always":
        serial = serial_plan(plan, args)
        if serial is not None:
            plan.t_kernel, plan.compiled, plan.gate = serial.t_kernel, serial.compiled, \
                serial.gate
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
