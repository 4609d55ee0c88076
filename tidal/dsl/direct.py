"""Launching kernels tidal generated without Taichi's per-call Python work.

Taichi's ``Kernel.__call__`` re-derives, at every launch, what never changes for a kernel whose
arguments are all scalars: the instance key of its arguments, the compiled kernel, the runtime's
materialisation, the argument setters. On this project's 2-core machine that is about 55 us of
Python per launch, while launching the compiled code takes about 20 us; for small simulations,
whose tapes are a handful of launches, it is most of the time. :func:`call` does that work once
per kernel and runtime and then launches the compiled code directly.

Guarantees: the direct path is taken only when Taichi's own path would launch the very same
compiled kernel with the same argument values, namely when

* every parameter is a scalar (no templates, ndarrays, matrices or argument packs) and the
  kernel returns nothing and prints nothing, so its one compiled instance serves every call;
* the kernel was launched once through Taichi in this runtime (which compiled it), and
  no field has been declared since (otherwise Taichi must first place the new fields);
* no ``ti.ad.Tape`` or ``ti.ad.FwdMode`` of Taichi's is active (Taichi's call records the
  launch there).
  Holding no reference to the runtime, a plan cannot keep a finished runtime alive.

Anything else, and every first launch, goes through Taichi's own ``Kernel.__call__``. Errors
raised by the launch are translated as Taichi translates them.
"""

from __future__ import annotations

import numpy as np
from taichi.lang import impl as ti_impl
from taichi.lang import kernel_impl
from taichi.lang.exception import handle_exception_from_cpp
from taichi.types import primitive_types
from taichi.types.utils import is_signed

_TAICHI_CALL = kernel_impl.Kernel.__call__
_INELIGIBLE = "ineligible"
# the Python values Taichi's call accepts for scalar parameters (others: Taichi's error)
_REAL = (float, int, np.floating, np.integer)
_INTEGER = (int, np.integer)


def call(kernel, args):
    """Launch the Taichi kernel object ``kernel`` (a ``Kernel``, not the decorated function)
    with positional ``args``; directly when that is known to be the same as Taichi's call."""
    plan = kernel.__dict__.get("_tidal_direct")
    if (plan is not None and plan is not _INELIGIBLE and plan[0] is kernel.compiled_kernels
            and plan[0] and ti_impl._root_fb.empty and len(args) == len(plan[3])
            and _no_taichi_recorder()):
        if all(isinstance(a, s[2]) for a, s in zip(args, plan[3])):
            return _launch(plan, args)
    result = _TAICHI_CALL(kernel, *args)
    if plan is not _INELIGIBLE:
        kernel._tidal_direct = _plan(kernel)
    return result


def _no_taichi_recorder() -> bool:
    """Whether no ``ti.ad.Tape`` or ``ti.ad.FwdMode`` would see the launch (Taichi's call
    inserts kernels into them; tidal's own stand-in for the tape slot ignores kernels)."""
    rt = ti_impl.get_runtime()
    tape = rt.target_tape
    return rt.fwd_mode_manager is None and (tape is None or getattr(tape, "ignores_kernels",
                                                                     False))


def _launch(plan, args) -> None:
    _, t_kernel, compiled, setters = plan
    ctx = t_kernel.make_launch_context()
    for i, (setter, convert, _) in enumerate(setters):
        getattr(ctx, setter)((i,), convert(args[i]))
    try:
        ti_impl.get_runtime().prog.launch_kernel(compiled, ctx)
    except Exception as e:  # as Taichi's own launch reports C++ errors
        raise handle_exception_from_cpp(e) from None


def _plan(kernel):
    """``(compiled-kernels dict, C++ kernel, compiled data, argument setters)`` for a kernel
    that can be launched directly in the current runtime, None when it cannot yet (try again
    next call), or ``_INELIGIBLE`` when it never can.

    Taichi gives a kernel a new ``compiled_kernels`` dict when the runtime is reset (and empties
    it when compiled functions are cleared), so the plan holds for as long as that dict is the
    kernel's and not empty."""
    if (kernel.return_type or getattr(kernel, "has_print", True)
            or kernel.autodiff_mode != kernel_impl.AutodiffMode.NONE):
        return _INELIGIBLE
    setters = []
    for arg in kernel.arguments:
        needed = arg.annotation
        if id(needed) in primitive_types.real_type_ids:
            setters.append(("set_arg_float", float, _REAL))
        elif id(needed) in primitive_types.integer_type_ids:
            setters.append(("set_arg_int" if is_signed(needed) else "set_arg_uint", int, _INTEGER))
        else:
            return _INELIGIBLE
    if len(kernel.compiled_kernels) != 1:
        return None
    t_kernel = next(iter(kernel.compiled_kernels.values()))
    prog = ti_impl.get_runtime().prog
    compiled = prog.compile_kernel(prog.config(), prog.get_device_caps(), t_kernel)
    return (kernel.compiled_kernels, t_kernel, compiled, tuple(setters))


__all__ = ["call"]
