"""Taichi programs under ti.ad.Tape and under td.Tape: warm and cold forward + backward time.

Every program of ``tests/programs`` (DiffTaichi-kind simulations written for tidal's tests, each
a ``build(kernel, Tape)`` that differs between the two only by that rename) is run in its own
fresh process per framework, f64 on the CPU, Taichi's offline cache off:

* cold: the first ``reset(); with Tape(loss): run()`` (lowering, code generation, compilation
  of the forward and the adjoint kernels, and the run);
* warm: the median of the next ``--repeats`` such runs.

It prints one table with both frameworks side by side and the ratios tidal / Taichi (targets:
warm at most 1.2, cold at most 1.5). Run: ``python benchmarks/taichi_programs.py`` (about 5 to
10 minutes on a 2-core machine); ``--only NAME ...`` restricts the programs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(name: str, which: str, repeats: int) -> dict:
    """Cold and warm tape times of one program in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    import taichi as ti

    import tidal as td

    td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
    from tests import programs

    module = __import__(f"tests.programs.{name}", fromlist=["build"])
    kernel, tape = (ti.kernel, ti.ad.Tape) if which == "taichi" else (td.kernel, td.Tape)
    prog = module.build(kernel, tape)
    del programs

    def once() -> float:
        prog.reset()
        t0 = time.perf_counter()
        with tape(prog.loss):
            prog.run()
        ti.sync()
        return time.perf_counter() - t0

    cold = once()
    warm = statistics.median(once() for _ in range(repeats))
    return {"cold": cold, "warm": warm, "loss": float(prog.loss.to_numpy())}


def run_child(name: str, which: str, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", name, which, str(repeats)],
                         capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, TI_LOG_LEVEL="error"))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="program names (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, which, repeats = args.child
        print("RESULT " + json.dumps(measure(name, which, int(repeats))))
        return
    sys.path.insert(0, str(ROOT))
    from tests.programs import PROGRAMS

    names = args.only or PROGRAMS
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; f64 CPU, offline cache "
          f"off, warm = median of {args.repeats}")
    head = (f"{'program':24} {'Taichi warm':>12} {'tidal warm':>11} {'ratio':>6} "
            f"{'Taichi cold':>12} {'tidal cold':>11} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    warm_ok = cold_ok = done = 0
    warm_ratios, cold_ratios = [], []
    for name in names:
        ref = run_child(name, "taichi", args.repeats)
        got = run_child(name, "tidal", args.repeats)
        if "error" in ref or "error" in got:
            print(f"{name:24} error: {ref.get('error') or got.get('error')}")
            continue
        rw, rc = got["warm"] / ref["warm"], got["cold"] / ref["cold"]
        warm_ratios.append(rw)
        cold_ratios.append(rc)
        done += 1
        warm_ok += rw <= 1.2
        cold_ok += rc <= 1.5
        print(f"{name:24} {ref['warm'] * 1e3:9.2f} ms {got['warm'] * 1e3:8.2f} ms {rw:5.2f}x "
              f"{ref['cold']:10.2f} s {got['cold']:9.2f} s {rc:5.2f}x", flush=True)
    if done:
        print("-" * len(head))
        print(f"warm ratio <= 1.2: {warm_ok} of {done} (median {statistics.median(warm_ratios):.2f}x,"
              f" max {max(warm_ratios):.2f}x); cold ratio <= 1.5: {cold_ok} of {done} (median "
              f"{statistics.median(cold_ratios):.2f}x, max {max(cold_ratios):.2f}x)")


if __name__ == "__main__":
    main()
