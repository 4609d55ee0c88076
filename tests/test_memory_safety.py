"""Memory safety: nothing tidal runs touches memory it does not own.

* Taichi objects that outlive the runtime they were made in (``td.init`` run again, as notebooks
  and test suites do) must not touch the new runtime.
* A conditional expression reads only the side its condition picks, and its adjoint writes only
  there: Taichi evaluates both sides, and the adjoint of an out-of-bounds read adds 0.0 outside
  the field, which on the CPU (denormals flushed to zero) zeroes any pointer it lands on.

Taichi 1.7.4 alone fails the first check: an ndarray of an earlier runtime, collected after
``ti.init``, deletes whichever new ndarray took its address, and the next launch on that one
reads freed memory (a wrong value, an index error from garbage, or a segfault; this was the
rare crash of long test workers). Each check runs in a fresh interpreter, since the failure it
guards against can kill the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import gc, resource
    import numpy as np
    import taichi as ti
    import tidal as td

    kept, wrong = [], 0
    for round_ in range(ROUNDS):
        td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
        fresh = [ti.ndarray(ti.f64, shape=64) for _ in range(4)]
        for k, a in enumerate(fresh):
            a.fill(float(k))
        kept.clear()  # the earlier runtime's ndarrays are collected now, after td.init
        gc.collect()
        others = [ti.ndarray(ti.f64, shape=64) for _ in range(4)]  # may take freed addresses
        for o in others:
            o.fill(-1.0)
        wrong += sum(not np.all(a.to_numpy() == k) for k, a in enumerate(fresh))
        kept.extend(fresh)
    print("WRONG", wrong)

    # within one runtime an ndarray's memory is still freed when it is collected
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(40):
        a = ti.ndarray(ti.f64, shape=5_000_000)  # 40 MB, zero-filled (touched)
        a.fill(1.0)
        del a
        gc.collect()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print("GROWN_MB", round(grown_mb))
""")


# each round is a fresh runtime (about half a second): CI runs 40 of them, `-m slow` 150
@pytest.mark.parametrize("rounds", [40, pytest.param(150, marks=pytest.mark.slow)])
def test_ndarrays_of_an_earlier_runtime_leave_the_new_one_alone(tmp_path, rounds):
    path = tmp_path / "lifetimes.py"  # Taichi reads kernel source from files
    path.write_text(SCRIPT.replace("ROUNDS", str(rounds)))
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(line.split() for line in r.stdout.splitlines()
                 if line.startswith(("WRONG", "GROWN_MB")))
    assert lines["WRONG"] == "0", r.stdout
    # 40 arrays of 40 MB one after the other: a leak would grow by 1.6 GB
    assert int(lines["GROWN_MB"]) < 400, r.stdout


GUARDED = textwrap.dedent("""
    import numpy as np
    import taichi as ti
    import tidal as td

    td.init(arch="cpu", default_fp=td.f64, debug=True)  # Taichi checks every index
    n = 8
    x = ti.field(ti.f64, shape=n, needs_grad=True)
    y = ti.field(ti.f64, shape=n, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    xs = np.linspace(0.1, 0.8, n)
    x.from_numpy(xs)

    @td.func
    def get(i: ti.i32) -> ti.f64:
        return x[i] if 0 <= i < n else 0.0

    @td.kernel
    def smooth():
        for i in range(n):
            y[i] = get(i - 1) + 2.0 * x[i] + (x[i + 1] if i + 1 < n else 0.0)

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += y[i] ** 2

    with td.Tape(loss):
        smooth()
        total()
    padded = np.concatenate([[0.0], xs, [0.0]])
    ys = padded[:-2] + 2.0 * xs + padded[2:]
    # d loss / d x_k = 2 (y_{k-1} + 2 y_k + y_{k+1}) with y outside the range 0
    py = np.concatenate([[0.0], ys, [0.0]])
    grad = 2.0 * (py[:-2] + 2.0 * py[1:-1] + py[2:])
    print("LOSS", abs(loss[None] - np.sum(ys ** 2)))
    print("GRAD", np.max(np.abs(x.grad.to_numpy() - grad)))
    print("IF", " if " in td.source(smooth, mode="adjoint"))
""")


def test_a_conditional_expression_reads_and_writes_only_the_side_it_picks(tmp_path):
    path = tmp_path / "guarded.py"
    path.write_text(GUARDED)
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600)
    # in debug mode Taichi raises on any index outside a field, forward or adjoint
    assert r.returncode == 0, r.stderr[-3000:]
    out = dict(line.split() for line in r.stdout.splitlines()
               if line.startswith(("LOSS", "GRAD", "IF")))
    assert float(out["LOSS"]) < 1e-12 and float(out["GRAD"]) < 1e-12, r.stdout
    assert out["IF"] == "True", r.stdout
