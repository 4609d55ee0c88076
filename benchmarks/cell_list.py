"""Particles with a cell list against the loop over every pair: loss + gradient time.

Lennard-Jones particles on a jittered square lattice (spacing 1.12), cutoff 2.5, 100 steps,
float64 on the CPU. For each size, the same model twice, ``Particles(..., cutoff=2.5)`` (every
pair, whole-rollout kernel) and ``Particles(..., cutoff=2.5, cell_list=True)`` (neighbouring
cells only, one step per launch, parallel over particles): the loss and its gradient with
respect to epsilon, sigma and the initial positions (median of ``--repeats`` warm calls), the
ratio, and how far the two gradients differ (they compute the same forces).

Run: ``python benchmarks/cell_list.py`` (about a minute on a 2-core machine).
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tidal as td  # noqa: E402
from tidal.physics import Particles  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="*", default=[8, 20, 32],
                        help="particles per lattice side")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    td.init(arch="cpu", default_fp=td.f64)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"f64 cpu, {args.steps} steps, cutoff 2.5, median of {args.repeats}")
    print(f"{'particles':>10} {'every pair':>12} {'cell list':>12} {'ratio':>7} "
          f"{'gradients differ':>17}")
    names = ["epsilon", "sigma", "x0"]
    for side in args.sides:
        rng = np.random.default_rng(side)
        x0 = 1.12 * np.argwhere(np.ones((side, side))).astype(float)
        x0 += rng.uniform(-0.05, 0.05, x0.shape)
        v0 = 0.3 * rng.standard_normal(x0.shape)
        kw = dict(steps=args.steps, dt=0.002, velocities=v0, epsilon=1.0, sigma=1.0,
                  cutoff=2.5)
        models = [Particles("lennard_jones", x0, cell_list=c, **kw) for c in (False, True)]
        data = models[0].simulate()
        results, times = [], []
        for m in models:
            m.observe(data)
            m.set("epsilon", 1.1)
            results.append(m.loss_grad(names))
            times.append(timed(lambda m=m: m.loss_grad(names), args.repeats))
        differ = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))
                     for a, b in zip(results[0][1], results[1][1]))
        print(f"{len(x0):>10} {times[0] * 1e3:>10.1f}ms {times[1] * 1e3:>10.1f}ms "
              f"{times[1] / times[0]:>6.2f}x {differ:>17.1e}")


if __name__ == "__main__":
    main()
