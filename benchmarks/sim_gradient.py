"""Gradient of a mass-spring rollout loss with respect to every spring stiffness (float64).

One run compares, on the same problem (a lattice from :mod:`mass_spring_peers`, 1,000 steps):

* tidal, per-step kernels (``forces`` and ``moves``, two launches per step) under ``td.Tape``;
* tidal, the whole rollout as one kernel with a serial time loop under ``td.Tape``;
* ``ti.ad.Tape`` on the very same per-step kernels (``kernel.raw()``: Taichi's own kernels
  compiled from the same source, differentiated by Taichi);
* PyTorch (a Python loop over steps, ``backward()``) and JAX (``jit(value_and_grad)`` over
  ``lax.scan``), when installed.

Each time is the median of ``--repeats`` calls of reset + forward + backward + reading the
gradient, after a warm-up call. Losses and gradients are checked against each other. Cold
compile times of the adjoint kernels are measured in fresh processes with Taichi's offline
cache off: the first taped call minus a warm one, after the forward kernels were compiled.

Run: ``python benchmarks/sim_gradient.py [--nx 32 --ny 64 --steps 1000 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import taichi as ti

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mass_spring_peers as peers  # noqa: E402
from common import median_ms, rel  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import MassSpring  # noqa: E402


def build(problem: dict, stiffness: np.ndarray) -> MassSpring:
    """tidal's simulation of ``problem`` (same model, same target)."""
    sim = MassSpring(problem["positions"], problem["springs"], stiffness, problem["steps"],
                     dt=problem["dt"], damping=problem["damping"], gravity=problem["gravity"],
                     anchored=np.flatnonzero(problem["free"] == 0.0), rest=problem["rest"])
    sim.observe(problem["target"])
    return sim


def tidal_step(sim: MassSpring):
    return lambda k: sim.value_and_grad(k, whole=False)


def tidal_whole(sim: MassSpring):
    return lambda k: sim.value_and_grad(k, whole=True)


def taichi_step(sim: MassSpring):
    forces, moves, mismatch = sim.forces.raw(), sim.moves.raw(), sim.mismatch.raw()

    def value_and_grad(k):
        sim.set("stiffness", k)
        sim.reset()
        with ti.ad.Tape(loss=sim.loss):
            for t in range(sim.steps):
                forces(t)
                moves(t)
            mismatch()
        return float(sim.loss[None]), sim.k.grad.to_numpy()

    return value_and_grad


# -- cold compile (fresh processes) -------------------------------------------------------------
def compile_probe(method: str) -> dict:
    """In this (fresh) process: seconds to compile the adjoint kernels of ``method``."""
    td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
    problem, k = peers.lattice_problem(4, 4, steps=20)
    sim = build(problem, k)
    sim.set("stiffness", k)
    sim.reset()
    if method == "taichi-step":
        fn = taichi_step(sim)
        for t in range(sim.steps):  # compile the forward kernels first
            sim.forces.raw()(t)
            sim.moves.raw()(t)
        sim.mismatch.raw()()
    else:
        fn = tidal_step(sim) if method == "tidal-step" else tidal_whole(sim)
        sim.run(whole=method == "tidal-whole")
    start = time.perf_counter()
    fn(k)
    first = time.perf_counter() - start
    warm = median_ms(fn, k, repeats=3) / 1e3
    return {"compile_s": first - warm}


def cold_compile(method: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--compile-probe", method],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["compile_s"]


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=32)
    parser.add_argument("--ny", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_probe:
        print(json.dumps(compile_probe(args.compile_probe)))
        return

    td.init(arch="cpu", default_fp=td.f64)
    problem, k = peers.lattice_problem(args.nx, args.ny, steps=args.steps)
    n, m = len(problem["positions"]), len(problem["springs"])
    print(f"mass-spring rollout gradient: {args.nx}x{args.ny} lattice, {n} masses, {m} springs, "
          f"{args.steps} steps, float64, median of {args.repeats}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"taichi {'.'.join(map(str, ti.__version__))}")
    sim = build(problem, k)
    methods = {"tidal per-step kernels, td.Tape": tidal_step(sim),
               "tidal whole-rollout kernel, td.Tape": tidal_whole(sim),
               "ti.ad.Tape, same per-step kernels": taichi_step(sim)}
    try:
        methods["PyTorch (loop + backward)"] = peers.torch_value_and_grad(problem)
    except ImportError:
        print("  (PyTorch not installed: skipped)")
    try:
        methods["JAX (jit value_and_grad, lax.scan)"] = peers.jax_value_and_grad(problem)
    except ImportError:
        print("  (JAX not installed: skipped)")

    results, times = {}, {}
    for name, fn in methods.items():
        start = time.perf_counter()
        results[name] = fn(k)
        first = time.perf_counter() - start
        times[name] = median_ms(fn, k, repeats=args.repeats)
        print(f"  {name:<38s} {times[name]:9.1f} ms   (first call {1e3 * first:8.1f} ms)")

    ref_loss, ref_grad = results["tidal whole-rollout kernel, td.Tape"]
    print(f"agreement with tidal whole-rollout (loss {ref_loss:.10e}):")
    for name, (loss, grad) in results.items():
        print(f"  {name:<38s} loss rel {rel(loss, ref_loss):.1e}, grad rel "
              f"{rel(grad, ref_grad):.1e}")

    taichi = times["ti.ad.Tape, same per-step kernels"]
    print("ratios:")
    print(f"  tidal per-step / ti.ad.Tape per-step:   "
          f"{times['tidal per-step kernels, td.Tape'] / taichi:6.2f}x")
    for peer in ("JAX (jit value_and_grad, lax.scan)", "PyTorch (loop + backward)"):
        if peer in times:
            print(f"  tidal whole-rollout / {peer.split(' ')[0]:<18s} "
                  f"{times['tidal whole-rollout kernel, td.Tape'] / times[peer]:6.2f}x")
    print(f"  tidal whole-rollout / ti.ad.Tape:       "
          f"{times['tidal whole-rollout kernel, td.Tape'] / taichi:6.2f}x")

    print("cold compile of adjoint kernels (fresh process, offline cache off, 4x4 lattice):")
    cold = {method: cold_compile(method) for method in ("tidal-step", "taichi-step",
                                                        "tidal-whole")}
    print(f"  tidal per-step adjoints:    {cold['tidal-step']:6.2f} s")
    print(f"  Taichi per-step adjoints:   {cold['taichi-step']:6.2f} s")
    print(f"  tidal whole-rollout adjoint:{cold['tidal-whole']:6.2f} s")
    print(f"  ratio tidal / Taichi (per-step): {cold['tidal-step'] / cold['taichi-step']:.2f}x")


if __name__ == "__main__":
    main()
