"""Cold start of a derivative: the second x-derivative of the benchmark MLP over 100,000 points.

Measures, in a fresh process with Taichi's offline cache off, the wall time of the first call of
``td.vectorize(td.derivative(mlp, 0, order=2))(xs, ys)`` (source transformation, code generation,
Taichi compilation and the run), then the time of a second call and whether it generated or
compiled anything (it must not: derivatives and kernels are memoised). The same for nested
reverse mode, ``td.grad(td.grad(mlp))``, for comparison.

Usage: python benchmarks/cold_start.py [--points N]
"""

import argparse
import time

import numpy as np
from mlp_model import load_tidal_weights, make_points, make_weights, mlp

import tidal as td
from tidal.dsl import loader


def measure(label: str, make, xs, ys) -> float:
    t0 = time.perf_counter()
    run = td.vectorize(make())
    out = run(xs, ys)
    cold = time.perf_counter() - t0
    loads = next(loader._counter)
    t1 = time.perf_counter()
    again = td.vectorize(make())(xs, ys)
    warm = time.perf_counter() - t1
    recompiled = next(loader._counter) != loads + 1
    assert np.array_equal(out, again)
    print(f"{label:<34} cold (transform + compile + run) {cold:6.2f} s   second call "
          f"{warm * 1e3:7.1f} ms   regenerated or recompiled: {'yes' if recompiled else 'no'}")
    return cold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    args = ap.parse_args()
    load_tidal_weights(make_weights())
    xs, ys = make_points(args.points)
    print(f"tanh MLP 2 -> 3x32 -> 1, f64, {args.points:,} points, offline cache off")
    cold = measure("td.derivative(mlp, 0, order=2)", lambda: td.derivative(mlp, 0, order=2),
                   xs, ys)
    measure("td.grad(td.grad(mlp, 0), 0)", lambda: td.grad(td.grad(mlp, 0), 0), xs, ys)
    print(f"requirement 'cold second derivative within 2 s': {'PASS' if cold <= 2.0 else 'FAIL'}")


if __name__ == "__main__":
    main()
