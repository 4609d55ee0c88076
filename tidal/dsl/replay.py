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

On the CPU a replay may launch its kernels' serial forms (:mod:`tidal.dsl.direct`: each loop on
the launching thread, past Taichi's thread pool, whose dispatch costs 20-100 us a loop here).
After :data:`TRIAL_WARMUP` replays a sequence times :data:`TRIAL_PRELIMINARY` of them; when
they average under :data:`SERIAL_CEILING_S` a launch, it compiles the serial forms, times
:data:`TRIAL_ROUNDS` replays each way in turn (after one untimed serial replay, which also loads
their code), and keeps the serial forms when their median is under :data:`SERIAL_MARGIN` of the
parallel one. The choice is the whole sequence's because kernels timed one at a time misled:
launches of 150-700 us were faster serially alone, yet an FNO training step and the MPM demo's
steps made of them were 5-10 % slower. Both forms launch the same statements, so the choice
changes no value beyond the order of atomic additions.

On the CPU each noted launch is also given a launch context filled once
(:func:`tidal.dsl.direct.bound`; the sequence holds its arguments, whose host memory the
context points at), so that a replay does not pay Taichi's argument setting again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from taichi.lang import impl as ti_impl
from taichi.lang import kernel_impl

from tidal.dsl import direct, launches

#: replays before the serial forms are tried
TRIAL_WARMUP = 10
#: timed replays before the serial forms are compiled
TRIAL_PRELIMINARY = 3
#: timed replays in the serial forms (and as many more in the parallel ones, in turn)
TRIAL_ROUNDS = 5
#: a sequence whose parallel replays take longer, per launch, keeps the parallel forms
SERIAL_CEILING_S = 2e-4
#: the serial forms are kept when their median replay is under this fraction of the parallel
SERIAL_MARGIN = 0.8


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
        self._launched: tuple | None = None  # (plan, args, bound context) of the forms chosen
        self._trial: _Trial | None = None
        self.replayed = 0  # calls that replayed the noted launches (for tests and diagnostics)

    def __call__(self) -> None:
        if direct.noting():  # inside another sequence being noted: its list takes these
            self._body()
            return
        noted = self._noted
        if noted is not None and _replayable(noted):
            if self._trial is not None:
                self._trial.replay(self)
            else:
                _launch(self._launched)
            self.replayed += 1
            return
        self._noted = _note(self._body)
        self._launched = tuple(_bound(plan, args) for _, plan, args in self._noted or ())
        self._trial = _Trial() if self._noted and direct.serial_mode() == "auto" and any(
            plan.form is not None for _, plan, _ in self._noted) else None

    @property
    def serial(self) -> bool:
        """Whether the replays launch the kernels' serial forms (see the module)."""
        return any(plan.gate >= 0 for plan, _, _ in self._launched or ())


def _bound(plan: direct.Plan, args) -> tuple:
    return plan, args, direct.bound(plan, args)


def _launch(launched: tuple) -> None:
    for plan, args, ctx in launched:
        if ctx is None:
            direct.launch_planned(plan, args)
        else:
            direct.launch_bound(plan, ctx)


def _timed(launched: tuple) -> float:
    start = time.perf_counter()
    _launch(launched)  # (CPU launches return when their kernels have run)
    return time.perf_counter() - start


class _Trial:
    """The timing of a sequence's replays in the parallel and the serial forms (see the
    module)."""

    def __init__(self):
        self.replays = 0
        self.parallel: list[float] = []
        self.serial: list[float] = []
        self.serial_launches: tuple | None = None

    def replay(self, seq: Sequence) -> None:
        self.replays += 1
        parallel = seq._launched
        if self.serial_launches is None:
            if self.replays <= TRIAL_WARMUP:
                _launch(parallel)
                return
            self.parallel.append(_timed(parallel))
            if len(self.parallel) < TRIAL_PRELIMINARY:
                return
            if np.median(self.parallel) <= SERIAL_CEILING_S * len(parallel):
                self.serial_launches = _serial_launches(parallel)
            if not self.serial_launches:
                seq._trial = None
            self.replays = 0  # (now counts the replays since the serial forms were compiled)
            return
        serial = self.replays == 1 or len(self.serial) < len(self.parallel) - TRIAL_PRELIMINARY
        seconds = _timed(self.serial_launches if serial else parallel)
        if self.replays == 1:
            return  # (the serial forms' first launches also load their code: not timed)
        (self.serial if serial else self.parallel).append(seconds)
        if len(self.serial) == TRIAL_ROUNDS:
            if np.median(self.serial) < SERIAL_MARGIN * np.median(self.parallel):
                seq._launched = self.serial_launches
            seq._trial = None


def _serial_launches(launched: tuple) -> tuple | None:
    """``launched`` with each plan that has a serial form replaced by a plan of that form;
    None when none has."""
    out, any_serial = [], False
    for plan, args, ctx in launched:
        serial = direct.serial_plan(plan, args)
        any_serial |= serial is not None
        out.append((plan, args, ctx) if serial is None else _bound(serial, args))
    return tuple(out) if any_serial else None


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
