"""A fixed sequence of kernel launches, launched again without the Python that made it.

An FNO's forward pass is some forty launches of the same kernels with the same arrays at every
step, and so is its backward pass; the Python between them (choosing the specialisation, the
adjoint's active set, the argument checks, each layer of calls) costs 40-60 us a launch on this
project's 2-core machine, as much as a small kernel. A :class:`Sequence` runs its body once
while :mod:`tidal.dsl.direct` notes every launch it makes (the kernel, its compiled plan, the
argument objects), and from then on launches that list straight into the compiled code.

Contract (the caller's): the body launches the same kernels with the same argument objects,
in the same order, every time it is called, and has no effect but those launches (no NumPy
arrays it fills, no counters it moves, no branch on values read back). Within that contract a
replay launches exactly what the body would.

Guarantees (checked at every call): a replay happens only when every noted launch has a
direct plan that is still the kernel's current one (not after ``td.init``/``ti.reset``, which
replace a kernel's compiled instances), no field has been declared since, no ``td.Tape``,
tidal recorder, ``ti.ad.Tape`` or ``ti.ad.FwdMode`` is active, and the body made no launch that
bypassed :mod:`tidal.dsl.direct` (a Taichi kernel called on its own, such as ``field.fill``,
``to_numpy``); otherwise the body runs, and is noted again. A sequence called while another is
being noted runs its body, so that its launches are noted in the outer one.
"""

from __future__ import annotations

from collections.abc import Callable

from taichi.lang import impl as ti_impl
from taichi.lang import kernel_impl

from tidal.dsl import direct, launches


class Sequence:
    """Call ``body`` (no arguments) as a replayable sequence of launches (see the module).

    Example:
        >>> import numpy as np, taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> x = ti.ndarray(td.f64, shape=4)
        >>> @td.kernel
        ... def twice(a: ti.types.ndarray(dtype=td.f64, ndim=1)):
        ...     for i in a:
        ...         a[i] = 2 * a[i] + 1
        >>> step = Sequence(lambda: twice(x))
        >>> for _ in range(3):
        ...     step()
        >>> x.to_numpy().tolist(), step.replayed
        ([7.0, 7.0, 7.0, 7.0], 2)
    """

    def __init__(self, body: Callable[[], None]):
        self._body = body
        self._noted: tuple | None = None
        self.replayed = 0  # calls that replayed the noted launches (for tests and diagnostics)

    def __call__(self) -> None:
        if direct.noting():  # inside another sequence being noted: its list takes these
            self._body()
            return
        noted = self._noted
        if noted is not None and _replayable(noted):
            for _, plan, args in noted:
                direct.launch_planned(plan, args)
            self.replayed += 1
            return
        self._noted = _note(self._body)


def _replayable(noted: tuple) -> bool:
    if not (ti_impl._root_fb.empty and direct.no_taichi_recorder()
            and launches.current() is None and not ti_impl.get_runtime().grad_replaced):
        return False
    for kernel, plan, _ in noted:
        if not direct.current(plan, kernel):
            return False
    return True


def _note(body: Callable[[], None]) -> tuple | None:
    """Run ``body`` noting its launches: ``(kernel, plan, args)`` for each, or None when one of
    them cannot be replayed."""
    bypassed = [0]
    taichi_call = kernel_impl.Kernel.__call__

    def counted(kernel, *args, **kwargs):
        bypassed[0] += 1
        return taichi_call(kernel, *args, **kwargs)

    kernel_impl.Kernel.__call__ = counted
    try:
        with direct.noted() as launched:
            body()
    finally:
        kernel_impl.Kernel.__call__ = taichi_call
    if bypassed[0] or launches.current() is not None:
        return None
    noted = []
    for launch in launched:
        if launch is None:  # (direct.bypassed)
            return None
        kernel, args = launch
        plan = direct.plan_for(kernel, args)
        if plan is None:
            return None
        noted.append((kernel, plan, args))
    return tuple(noted)


__all__ = ["Sequence"]
