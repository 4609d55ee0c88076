"""Cost of the order-k derivative of a tanh MLP, as a multiple of the primal, for k = 0..8.

What is measured
    f(x, y) = a tanh MLP, 2 inputs -> 3 hidden layers of 32 neurons -> 1 output, float64, with the
    same seeded Glorot-scaled weights in every implementation. For each order k the k-th
    derivative d^k f / dx^k is evaluated at N points (default 100,000) by

    - tidal, Taylor mode: ``td.vectorize(td.taylor(mlp, order=k, argnums=0))`` (one Taylor pass
      giving f, f', ..., f^(k); the last one is used);
    - tidal, nested reverse mode: ``td.grad`` applied k times (argnums=0);
    - JAX, nested reverse mode: ``jax.grad`` applied k times, then ``jax.vmap`` and ``jax.jit``;
    - JAX, Taylor mode: ``jax.experimental.jet`` with input series (1, 0, ..., 0), jitted and
      vmapped.

    Order 0 is the primal (``td.vectorize(mlp)``, ``jit(vmap(mlp))``). Every time is also given
    relative to the primal of its own framework ("x primal").

How it is timed
    The first call of each function is its *cold* time: tidal's source transformation and
    Taichi's compilation (Taichi's offline cache is off, so this is honest in every run), or JAX's
    tracing and XLA compilation, plus one evaluation. Nested ``td.grad`` of order k reuses the
    (in-process) transformed IR of order k-1, as a user asking for successive orders would.
    The *warm* time is the median of up to ``--repeat`` further calls; repetitions stop early once
    a method has spent ``WARM_BUDGET_S`` seconds on them (at least one is always made).

    Nested reverse mode grows roughly geometrically with k, so each nested method has a guard: once
    one order's cold time exceeds ``--guard`` seconds (default 60), or the cold time extrapolated
    from the last two orders would exceed ``GUARD_PREDICT_FACTOR`` times that, higher orders of that
    method are reported as "skipped".

Correctness
    All methods evaluate the same points; for every k the table gives the largest normwise relative
    difference, max|d - d_ref| / max|d_ref|, of each other method from tidal's Taylor result.

Growth check
    At the end the requirement "the cost of td.taylor relative to the primal grows no faster than
    about k^2" is checked: cost(k) / cost(1) is printed next to k^2, with the exponent p of
    least-squares fits cost(k) / primal ~ c * k^p over k = 1..K and over the upper half of the
    orders (fixed costs hide the growth at small k). It passes when both exponents are at most 2
    and cost(k) / cost(1) never exceeds k^2.

JAX is optional: without it (or with ``--no-jax``) only tidal is measured. Usage::

    python benchmarks/derivative_order.py [--points N] [--max-order K] [--repeat R]
                                          [--guard SECONDS] [--no-jax]
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import taichi as ti

import tidal as td

WARM_BUDGET_S = 20.0  # stop repeating a warm measurement after this much time
GUARD_PREDICT_FACTOR = 3.0  # skip when the extrapolated cold time exceeds this times --guard
PRIMAL_REPEAT_FACTOR = 3  # the primal is cheap and every ratio depends on it
CHECK_TOLERANCE = 1e-8

from mlp_model import H, load_tidal_weights, make_points, make_weights, mlp  # noqa: E402

# -- the methods -------------------------------------------------------------------------------
# A builder takes the order k and returns a function (xs, ys) -> NumPy array of d^k f / dx^k.

def tidal_taylor(k: int):
    if k == 0:
        return td.vectorize(mlp)
    run = td.vectorize(td.taylor(mlp, order=k, argnums=0))
    return lambda xs, ys: run(xs, ys)[-1]


def tidal_nested_grad(k: int):
    fn = mlp
    for _ in range(k):
        fn = td.grad(fn, argnums=0)  # memoised: order k reuses order k-1
    return td.vectorize(fn)


def jax_methods(w: dict[str, np.ndarray]):
    """The JAX builders (nested grad, jet), or None when JAX is not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental import jet

    p = {name: jnp.asarray(v) for name, v in w.items()}

    def f(x, y):
        h = jnp.tanh(p["W0"][:, 0] * x + p["W0"][:, 1] * y + p["b0"])
        for l in range(2):
            h = jnp.tanh(p["W1"][l] @ h + p["b1"][l])
        return p["W2"] @ h + p["b2"]

    def compiled(fn):
        run = jax.jit(jax.vmap(fn))
        return lambda xs, ys: np.asarray(run(xs, ys).block_until_ready())

    def nested_grad(k):
        fn = f
        for _ in range(k):
            fn = jax.grad(fn, argnums=0)
        return compiled(fn)

    def taylor(k):
        if k == 0:
            return compiled(f)

        def dk(x, y):
            series = [jnp.ones_like(x)] + [jnp.zeros_like(x)] * (k - 1)
            _, out = jet.jet(lambda t: f(t, y), (x,), (series,))
            # jet's series are derivatives (x(t) = sum x_i t^i / i!), not normalised coefficients
            return out[-1]

        return compiled(dk)

    return {"jax nested grad": nested_grad, "jax jet": taylor}, jax.__version__, jnp.asarray


# -- timing ------------------------------------------------------------------------------------

@dataclass
class Measurement:
    cold: float
    warm: float
    result: np.ndarray


@dataclass
class Method:
    name: str
    framework: str  # methods of one framework share its primal (order 0)
    build: Callable[[int], Callable]  # order k -> function (xs, ys) -> k-th derivative
    guarded: bool  # nested methods: skip high orders when compiling gets too slow
    convert: Callable | None = None  # converts the NumPy inputs (to JAX arrays) before timing
    results: dict = field(default_factory=dict)  # order -> Measurement or a "skipped" note


def measure(fn, xs, ys, repeat: int) -> Measurement:
    t0 = time.perf_counter()
    result = np.asarray(fn(xs, ys))
    cold = time.perf_counter() - t0
    times = []
    while len(times) < max(repeat, 1):
        t0 = time.perf_counter()
        fn(xs, ys)
        times.append(time.perf_counter() - t0)
        if sum(times) > WARM_BUDGET_S:
            break
    return Measurement(cold, statistics.median(times), result.copy())


def guard_note(method: Method, k: int, guard: float) -> str | None:
    """Why order k of a nested method is skipped, or None to run it."""
    if not method.guarded:
        return None
    prev = [method.results.get(j) for j in (k - 2, k - 1)]
    if any(isinstance(m, str) for m in prev):
        return "skipped"
    last = prev[1]
    if last is None or k - 1 < 1:
        return None
    if last.cold > guard:
        return f"skipped (cold > {guard:.0f} s)"
    before = prev[0]
    if before is not None and k - 2 >= 1 and last.cold > before.cold:
        predicted = last.cold * last.cold / before.cold
        if predicted > GUARD_PREDICT_FACTOR * guard:
            return f"skipped (pred. cold {predicted:.0f} s)"
    return None


def run_method(method: Method, k: int, points, args) -> None:
    note = guard_note(method, k, args.guard)
    if note is not None:
        method.results[k] = note
        print(f"  {method.name:18s} k={k}: {note}", file=sys.stderr, flush=True)
        return
    xs, ys = points if method.convert is None else map(method.convert, points)
    # the primal is the denominator of every ratio: give it more repetitions
    repeat = PRIMAL_REPEAT_FACTOR * args.repeat if k == 0 else args.repeat
    m = measure(method.build(k), xs, ys, repeat)
    method.results[k] = m
    print(f"  {method.name:18s} k={k}: cold {m.cold:8.2f} s, warm {1e3 * m.warm:10.1f} ms",
          file=sys.stderr, flush=True)


def shared_primal(methods: list[Method], method: Method) -> Measurement | None:
    """The primal already measured for ``method``'s framework (one primal per framework)."""
    for m in methods:
        if m is not method and m.framework == method.framework and 0 in m.results:
            return m.results[0]
    return None


# -- reporting ---------------------------------------------------------------------------------

def rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref)) / max(np.max(np.abs(ref)), 1e-300))


def cell(method: Method, k: int) -> str:
    m = method.results.get(k)
    if m is None:
        return f"{'-':>27s}"
    if isinstance(m, str):
        return f"{m:>27s}"
    primal = method.results[0].warm
    return f"{1e3 * m.warm:9.1f} {m.warm / primal:7.2f}x {m.cold:8.2f}"


def max_discrepancy(methods: list[Method], k: int) -> tuple[float, str] | None:
    """The largest difference from the reference (first) method at order k, and whose."""
    ref = methods[0].results[k]
    diffs = [(rel_diff(r.result, ref.result), m.name) for m in methods[1:]
             if isinstance(r := m.results.get(k), Measurement) and r is not ref]
    return max(diffs) if diffs else None


def print_table(methods: list[Method], orders: range) -> bool:
    """Print the table; return whether every result agrees with tidal Taylor."""
    names = "".join(f" | {m.name:^27s}" for m in methods)
    units = "".join(f" | {'warm ms':>9s} {'x primal':>8s} {'cold s':>8s}" for m in methods)
    print(f"{'k':>2s}{names} | max rel. diff vs tidal taylor")
    print(f"{'':>2s}{units} |")
    print("-" * (len(units) + 32))
    ok = True
    for k in orders:
        row = "".join(f" | {cell(m, k)}" for m in methods)
        worst = max_discrepancy(methods, k)
        if worst is None:
            print(f"{k:>2d}{row} | - (nothing to compare)")
            continue
        ok &= worst[0] <= CHECK_TOLERANCE
        print(f"{k:>2d}{row} | {worst[0]:.1e} ({worst[1]})")
    return ok


def print_growth(method: Method, orders: range) -> None:
    """Check that the Taylor cost relative to the primal grows no faster than about k^2."""
    ks = [k for k in orders if k >= 1 and isinstance(method.results.get(k), Measurement)]
    if len(ks) < 2:
        return
    primal = method.results[0].warm
    ratio = {k: method.results[k].warm / primal for k in ks}
    print(f"\nGrowth of {method.name} with the order (cost relative to primal):")
    print(f"{'k':>3s} {'cost/primal':>12s} {f'cost(k)/cost({ks[0]})':>16s} {'k^2':>5s}")
    for k in ks:
        print(f"{k:>3d} {ratio[k]:12.2f} {ratio[k] / ratio[ks[0]]:16.2f} {k * k:5d}")
    slope = power_law_exponent(ks, ratio)
    upper = ks[len(ks) // 2:] if len(ks) >= 4 else ks
    upper_slope = power_law_exponent(upper, ratio)
    worst = max(ratio[k] / ratio[ks[0]] / (k * k) for k in ks[1:])
    verdict = "PASS" if max(slope, upper_slope) <= 2.0 and worst <= 1.0 else "FAIL"
    print(f"power-law fit cost/primal ~ c k^p: p = {slope:.2f} over k = {ks[0]}..{ks[-1]}, "
          f"p = {upper_slope:.2f} over k = {upper[0]}..{upper[-1]} (the asymptotic trend)")
    print(f"max over k > {ks[0]} of (cost(k)/cost({ks[0]})) / k^2 = {worst:.2f}")
    print("requirement 'td.taylor cost relative to the primal grows no faster than about k^2': "
          f"{verdict}")


def power_law_exponent(ks: list[int], ratio: dict[int, float]) -> float:
    return float(np.polyfit(np.log(ks), np.log([ratio[k] for k in ks]), 1)[0])


def load_average() -> str:
    """The 1-minute load average: other work on the machine makes every time noisier."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_header(args, jax_version: str | None) -> None:
    print(f"Order-k derivative d^k f/dx^k of a tanh MLP 2 -> 3x{H} -> 1, float64, "
          f"{args.points:,} points")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load average at start {load_average()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"taichi {'.'.join(map(str, ti.__version__))}, tidal {td.__version__}, "
          f"jax {jax_version or 'not used'}")
    print(f"warm = median of up to {args.repeat} calls after the first (primal: "
          f"{PRIMAL_REPEAT_FACTOR * args.repeat}); cold = first call (transform + compile + run)")
    print("x primal = warm time / warm time of the primal of the same framework")
    print(f"nested methods are skipped above an order whose cold time exceeded {args.guard:.0f} s "
          f"(or was predicted to exceed {GUARD_PREDICT_FACTOR * args.guard:.0f} s)\n")


# -- main --------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=100_000, help="number of points (100000)")
    p.add_argument("--max-order", type=int, default=8, help="highest derivative order (8)")
    p.add_argument("--repeat", type=int, default=3, help="warm repetitions (3)")
    p.add_argument("--guard", type=float, default=60.0,
                   help="cold-time limit in seconds for nested methods (60)")
    p.add_argument("--no-jax", action="store_true", help="benchmark tidal only")
    args = p.parse_args(argv)
    if args.points < 1 or args.max_order < 0 or args.repeat < 1:
        p.error("--points and --repeat must be positive, --max-order non-negative")
    return args


def make_methods(weights, use_jax: bool):
    methods = [Method("tidal taylor", "tidal", tidal_taylor, guarded=False),
               Method("tidal nested grad", "tidal", tidal_nested_grad, guarded=True)]
    jax_version = None
    if use_jax:
        found = jax_methods(weights)
        if found is None:
            print("note: JAX is not installed (pip install 'jax[cpu]'); running tidal only\n")
        else:
            builders, jax_version, convert = found
            methods += [Method(name, "jax", build, guarded=name.endswith("nested grad"),
                               convert=convert) for name, build in builders.items()]
    return methods, jax_version


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    weights = make_weights()
    load_tidal_weights(weights)
    points = make_points(args.points)
    methods, jax_version = make_methods(weights, not args.no_jax)
    print_header(args, jax_version)
    orders = range(args.max_order + 1)
    for k in orders:
        for method in methods:
            primal = shared_primal(methods, method) if k == 0 else None
            if primal is not None:
                method.results[0] = primal
            else:
                run_method(method, k, points, args)
    ok = print_table(methods, orders)
    print_growth(methods[0], orders)
    print(f"\nall results agree within {CHECK_TOLERANCE:g}: {'yes' if ok else 'NO'}")
    print(f"total wall time: {time.perf_counter() - start:.0f} s; "
          f"load average at the end {load_average()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
