"""``td.kernel``: top-level kernels over Taichi fields and ndarrays.

Kernels run forward through Taichi (they may call tidal functions and their derivatives);
errors Taichi raises while compiling code that tidal generated are reported at the user's line.
Reverse-mode kernels and tapes build on this in :mod:`tidal.autodiff` (kernel adjoints).
"""

from __future__ import annotations

import functools

import taichi as ti
from taichi.lang.exception import TaichiCompilationError

from tidal.dsl import loader, runtime


def _resolve_annotations(pyfunc) -> None:
    """Evaluate string annotations (``from __future__ import annotations``), which Taichi cannot
    read, in the function's own namespace."""
    ann = getattr(pyfunc, "__annotations__", {})
    if not any(isinstance(v, str) for v in ann.values()):
        return
    scope = dict(pyfunc.__globals__)
    if pyfunc.__closure__:
        for name, cell in zip(pyfunc.__code__.co_freevars, pyfunc.__closure__):
            try:
                scope[name] = cell.cell_contents
            except ValueError:
                pass
    for k, v in list(ann.items()):
        if isinstance(v, str):
            try:
                ann[k] = eval(v, scope)  # noqa: S307 - the user's own annotation expression
            except Exception as e:  # noqa: BLE001 - report which annotation failed
                from tidal.dsl.errors import TidalError

                raise TidalError(f"cannot evaluate the annotation of `{k}` in kernel "
                                 f"{pyfunc.__name__}: {v!r} ({e})") from None


def kernel(pyfunc):
    """Decorator: a Taichi kernel that may call tidal functions and derivatives.

    Example:
        >>> import numpy as np
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def sq(x: td.f64) -> td.f64:
        ...     return x * x
        >>> dsq = td.grad(sq)
        >>> @td.kernel
        ... def apply(a: ti.types.ndarray(), out: ti.types.ndarray()):
        ...     for i in range(a.shape[0]):
        ...         out[i] = dsq(a[i])
        >>> a = np.array([1.0, 2.0]); out = np.zeros(2)
        >>> apply(a, out); out.tolist()
        [2.0, 4.0]
    """
    runtime.config()
    _resolve_annotations(pyfunc)
    compiled = ti.kernel(pyfunc)

    @functools.wraps(pyfunc)
    def run(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except TaichiCompilationError as e:
            mapped = loader.user_error_from_taichi(e)
            if mapped is not None:
                raise mapped from None
            raise

    run.__tidal_kernel__ = compiled
    return run
