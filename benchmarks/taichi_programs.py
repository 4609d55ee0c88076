"""Taichi programs under ti.ad.Tape and under td.Tape: warm and cold forward + backward time.

Every program of ``tests/programs`` (DiffTaichi-kind simulations written for tidal's tests, each
a ``build(kernel, Tape)`` that differs between the two only by that rename) runs f64 on the CPU
(``--arch cuda``: on CUDA), Taichi's offline cache off:

* cold: the first ``reset(); with Tape(loss): run()`` in a fresh process (lowering, code
  generation, compilation of the forward and the adjoint kernels, and the run);
* warm: the median of the next ``--repeats`` such runs (21 by default; more, up to 2 s of runs,
  for short programs, whose times are otherwise dominated by noise).

Each framework runs in ``--rounds`` fresh processes (3 by default), alternating between the
two, and the fastest round of each is reported, so that drifts in the machine's speed touch
both alike. (Both in one process would not be fair: each tape clears the gradients of every
field in the runtime, the other framework's too.)

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


def _setup():
    sys.path.insert(0, str(ROOT))
    import taichi as ti

    import tidal as td

    td.init(arch=os.environ.get("TIDAL_BENCH_ARCH", "cpu"), default_fp=td.f64,
            offline_cache=False)
    return ti, td


def _tape_run(ti, prog, tape):
    """One ``reset(); with Tape(loss): run()``, timed (the reset is not timed)."""
    prog.reset()
    t0 = time.perf_counter()
    with tape(prog.loss):
        prog.run()
    ti.sync()
    return time.perf_counter() - t0


def measure(name: str, which: str, repeats: int) -> dict:
    """The first tape run of a program in this fresh process with one framework (cold), and
    the median of the next ``repeats`` runs (warm; more, up to 2 s of runs, for short
    programs)."""
    ti, td = _setup()
    module = __import__(f"tests.programs.{name}", fromlist=["build"])
    kernel, tape = (ti.kernel, ti.ad.Tape) if which == "taichi" else (td.kernel, td.Tape)
    prog = module.build(kernel, tape)
    cold = _tape_run(ti, prog, tape)
    times = [_tape_run(ti, prog, tape) for _ in range(repeats)]
    while sum(times) < 2.0 and len(times) < 1000:
        times.append(_tape_run(ti, prog, tape))
    return {"cold": cold, "warm": statistics.median(times), "loss": float(prog.loss.to_numpy())}


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)],
                         capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, TI_LOG_LEVEL="error"))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="program names (default: all)")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arch", default="cpu", choices=("cpu", "cuda"),
                        help="backend of both frameworks (default: cpu)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["TIDAL_BENCH_ARCH"] = args.arch  # read by the child processes' _setup
    if args.child:
        name, which, repeats = args.child
        print("RESULT " + json.dumps(measure(name, which, int(repeats))))
        return
    sys.path.insert(0, str(ROOT))
    from tests.programs import PROGRAMS

    names = args.only or PROGRAMS
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; f64 {args.arch}, "
          f"offline cache off, warm = median of {args.repeats}")
    head = (f"{'program':24} {'Taichi warm':>12} {'tidal warm':>11} {'ratio':>6} "
            f"{'Taichi cold':>12} {'tidal cold':>11} {'ratio':>6}  Taichi's gradient")
    print(head)
    print("-" * len(head))
    warm_ok = cold_ok = done = 0
    warm_ratios, cold_ratios = [], []
    for name in names:
        runs = {"taichi": [], "tidal": []}
        for _ in range(args.rounds):
            for which in runs:
                runs[which].append(run_child(name, which, args.repeats))
        failed = [r["error"] for rs in runs.values() for r in rs if "error" in r]
        if failed:
            print(f"{name:24} error: {failed[0]}")
            continue
        # the fastest round of each (the one least disturbed by the machine's other work)
        ref, got = ({k: min(r[k] for r in runs[w]) for k in ("cold", "warm")} for w in runs)
        rw, rc = got["warm"] / ref["warm"], got["cold"] / ref["cold"]
        wrong = getattr(__import__(f"tests.programs.{name}", fromlist=["TAICHI_WRONG"]),
                        "TAICHI_WRONG", None)
        # where Taichi's gradient is wrong, tidal's extra time is what the right one costs
        # (saving values that later launches overwrite); the targets apply where it is right
        if not wrong:
            warm_ratios.append(rw)
            cold_ratios.append(rc)
            done += 1
            warm_ok += rw <= 1.2
            cold_ok += rc <= 1.5
        print(f"{name:24} {ref['warm'] * 1e3:9.2f} ms {got['warm'] * 1e3:8.2f} ms {rw:5.2f}x "
              f"{ref['cold']:10.2f} s {got['cold']:9.2f} s {rc:5.2f}x  "
              f"{'wrong' if wrong else 'right'}", flush=True)
    if done:
        print("-" * len(head))
        print(f"where Taichi's gradient is right: warm ratio <= 1.2: {warm_ok} of {done} (median "
              f"{statistics.median(warm_ratios):.2f}x, max {max(warm_ratios):.2f}x); cold ratio "
              f"<= 1.5: {cold_ok} of {done} (median {statistics.median(cold_ratios):.2f}x, max "
              f"{max(cold_ratios):.2f}x)")


if __name__ == "__main__":
    main()
