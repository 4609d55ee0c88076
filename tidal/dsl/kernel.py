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
