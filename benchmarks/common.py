"""Helpers shared by the benchmark scripts: relative differences and median timings."""

import time
from collections.abc import Callable

import numpy as np


def rel(x, y) -> float:
    """Max-norm relative difference of ``x`` from the reference ``y``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(y))), 1e-300))


def median_ms(fn: Callable, *args, repeats: int = 5) -> float:
    """Median wall time of ``fn(*args)`` over ``repeats`` calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))
