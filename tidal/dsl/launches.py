"""Kernel launches, and the hook through which a recorder (a tape, a tangent run) sees them.

The language layer owns this hook; the layers above fill it (as Warp's launch ends with "if a
tape is active, record this launch"). A *recorder* is any object with two methods:

* ``launch(spec, args)``: a tidal kernel specialisation is launched with ``args``; the recorder
  runs it (or its tangent kernel) and returns what the launch returns;
* ``taichi_launch(kernel, args)``: a plain Taichi kernel (``@ti.kernel``, or one of Taichi's own
  kernels behind ``field.fill`` and ``from_numpy``) is launched while the recorder is active.

While a recorder is active every launch of a Taichi kernel from user code reaches it: Taichi's
``Kernel.__call__`` is wrapped once (:func:`install`) so that a plain ``@ti.kernel`` launched
inside ``td.Tape`` is recorded like a ``@td.kernel``. Python-scope element stores
(``x[None] = 0.0``) reach a recorder's ``python_store(field, key, write)``, which runs
``write()`` itself. Kernels tidal generates itself, and
launches made inside :func:`quiet` (tidal's own snapshots and restores), run untouched.
Functions decorated with ``ti.ad.grad_replaced`` announce themselves through Taichi's own tape
slot; a recorder with a ``grad_replaced(func, args)`` method receives them.

Guarantees: with no recorder active, launches behave exactly as Taichi's; the hook never
swallows a launch: each one is run once, by Taichi or by the recorder.
"""

from __future__ import annotations

import contextlib

from taichi.lang import impl as ti_impl
from taichi.lang import kernel_impl
from taichi.lang.exception import TaichiCompilationError
from taichi.lang.field import ScalarField
from taichi.lang.matrix import MatrixField

from tidal.dsl import direct, loader
from tidal.dsl.errors import TidalCompileError

_RECORDERS: list = []
_QUIET = [0]
_TAICHI_CALL = kernel_impl.Kernel.__call__
_SETITEM = {cls: cls.__setitem__ for cls in (ScalarField, MatrixField)}


def run_compiled(kernel, args):
    """Launch a compiled kernel, reporting compile errors in generated code at the user's line.

    Kernels tidal generated are never recorded, so a plain one (a ``ti.kernel`` object) is
    launched past the hook and Taichi's decorator wrapper: straight into the compiled code when
    :func:`tidal.dsl.direct.call` can, otherwise into ``Kernel.__call__``."""
    if isinstance(kernel, loader.KernelParts):
        for part in kernel.parts:
            run_compiled(part, args)
        return None
    primal = getattr(kernel, "_primal", None)
    try:
        if primal is not None:
            return direct.call(primal, args)
        return kernel(*args)
    except TaichiCompilationError as e:
        mapped = loader.user_error_from_taichi(e)
        if mapped is not None:
            raise mapped from None
        raise
    except RuntimeError as e:
        if _LLVM_REJECTED in str(e) and ti_impl.current_cfg().fast_math:
            # LLVM 15 (Taichi 1.7.4) emits invalid IR for some large kernels with fast math on
            # some CPUs (seen on an AMD EPYC with AVX-512: a vectorised reduction placed before
            # the product it sums, "Instruction does not dominate all uses!", for a sixth-order
            # nested derivative); the kernel compiles, and runs correctly, without fast math
            with _without_fast_math():
                return run_compiled(kernel, args)
        if "spirv" not in str(e):
            raise
        raise TidalCompileError(
            f"Taichi's SPIR-V code generator (the {ti_impl.current_cfg().arch.name} backend) "
            f"failed on the code generated for this kernel: {str(e).strip()}",
            loader.kernel_location(primal if primal is not None else kernel),
            hint="run it on the CPU or CUDA, or write its parallel loops as separate kernels; "
                 "please report it with the kernel") from None


#: Taichi's message when the code LLVM produced for a kernel fails its own check.
_LLVM_REJECTED = "ckd->check() == CompiledKernelData::Err::kNoError"


@contextlib.contextmanager
def _without_fast_math():
    """Taichi's ``fast_math`` off around a launch (a kernel is compiled at its first launch with
    the live settings; the compiled kernel keeps them)."""
    cfg = ti_impl.current_cfg()
    before, cfg.fast_math = cfg.fast_math, False
    try:
        yield
    finally:
        cfg.fast_math = before


def current():
    """The innermost active recorder, or None."""
    return _RECORDERS[-1] if _RECORDERS else None


def outer(recorder):
    """The recorder that encloses ``recorder`` (a tape recording a tangent run), or None."""
    i = _RECORDERS.index(recorder)
    return _RECORDERS[i - 1] if i > 0 else None


def recording() -> bool:
    """Whether a recorder is active (kernels must then be lowerable by tidal)."""
    return bool(_RECORDERS)


def push(recorder) -> None:
    """Make ``recorder`` the innermost active recorder."""
    install()
    if not _RECORDERS:
        _TaichiTapeSlot.enter()
    _RECORDERS.append(recorder)


def pop(recorder) -> None:
    """Deactivate ``recorder`` (pushed earlier with :func:`push`)."""
    _RECORDERS.remove(recorder)
    if not _RECORDERS:
        _TaichiTapeSlot.leave()


def launch(spec, args):
    """Launch a tidal kernel specialisation, letting the active recorder take part (not inside
    a ``ti.ad.grad_replaced`` function, whose kernels its ``grad_for`` function handles)."""
    r = current()
    if r is not None and not ti_impl.get_runtime().grad_replaced:
        return r.launch(spec, args)
    return run_compiled(spec.forward(), spec.call_args(args))


@contextlib.contextmanager
def quiet():
    """Taichi kernels launched inside run untouched (tidal's own snapshots and restores)."""
    _QUIET[0] += 1
    try:
        yield
    finally:
        _QUIET[0] -= 1


def generated_by_tidal(kernel) -> bool:
    """Whether a Taichi kernel was compiled from source tidal generated."""
    code = getattr(kernel.func, "__code__", None)
    return code is not None and code.co_filename.startswith("<tidal:")


def taichi_internal(kernel) -> bool:
    """Whether a Taichi kernel is one of Taichi's own (``fill``, ``from_numpy``, ...)."""
    return getattr(kernel.func, "__module__", "").startswith("taichi.")


def _call(self, *args, **kwargs):
    """``Kernel.__call__`` with the hook: user kernels launched while a recorder is active go to
    the recorder."""
    r = current()
    if (r is None or _QUIET[0] or self.autodiff_mode != kernel_impl.AutodiffMode.NONE
            or ti_impl.get_runtime().grad_replaced or generated_by_tidal(self)):
        return _TAICHI_CALL(self, *args, **kwargs)
    if kwargs:
        args = kernel_impl._process_args(self, args, kwargs)
    return r.taichi_launch(self, tuple(args))


def run_taichi(kernel, args):
    """Run a Taichi kernel as Taichi would, bypassing the hook."""
    direct.bypassed()
    with quiet():
        return _TAICHI_CALL(kernel, *args)


def _setitem_for(cls):
    original = _SETITEM[cls]

    def setitem(self, key, value):
        r = current()
        handler = getattr(r, "python_store", None)
        if handler is None or _QUIET[0]:
            return original(self, key, value)
        handler(self, key, lambda: original(self, key, value))

    setitem._tidal_hook = True
    return setitem


def install() -> None:
    """Wrap Taichi's ``Kernel.__call__`` and fields' ``__setitem__`` with the hook (once)."""
    if kernel_impl.Kernel.__call__ is not _call:
        kernel_impl.Kernel.__call__ = _call
    for cls in _SETITEM:
        if not getattr(cls.__setitem__, "_tidal_hook", False):
            cls.__setitem__ = _setitem_for(cls)


class _TaichiTapeSlot:
    """Stands in Taichi's own tape slot while tidal records, so that functions decorated with
    ``ti.ad.grad_replaced`` (which insert themselves there) reach the recorder."""

    saved = None
    grad_checker = None  # read by Taichi's Python-scope field stores
    ignores_kernels = True  # read by tidal.dsl.direct: kernels reach recorders through the hook

    @classmethod
    def enter(cls) -> None:
        rt = ti_impl.get_runtime()
        cls.saved = rt.target_tape
        rt.target_tape = cls()

    @classmethod
    def leave(cls) -> None:
        ti_impl.get_runtime().target_tape = cls.saved
        cls.saved = None

    def insert(self, func, args) -> None:
        if isinstance(func, kernel_impl.Kernel):
            return  # kernels reach recorders through the wrapped Kernel.__call__
        r = current()
        handler = getattr(r, "grad_replaced", None)
        if handler is None:
            from tidal.dsl.errors import TidalError

            raise TidalError(f"{getattr(func, '__name__', func)} (ti.ad.grad_replaced) cannot "
                             "run here", hint="call it inside td.Tape, or outside tidal's "
                             "derivative runs")
        handler(func, args)
