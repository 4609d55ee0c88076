"""Peak memory of a 10,000-step rollout's gradient with and without checkpointing.

For each simulator case, two child processes compute the same loss and gradient
(``model.loss_grad``) over a 10,000-step rollout in float64 on the CPU: one storing every state
(``checkpoint_every=None``), one storing a window of ``k`` steps and a checkpoint every ``k``
steps. Each child reports the growth of its resident memory from just before the model is built
(after Taichi's start and the observations are made, which both runs share) to the peak
(``ru_maxrss``), and the gradient's wall time (the second call, warm). The parent prints both,
their ratio (target: at least 10x less memory with checkpointing) and how far the two losses and
gradients differ (they must agree to rounding).

Run: ``python benchmarks/checkpoint_memory.py`` (about a minute on a 2-core machine).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

STEPS = 10_000


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def _diffusion(k):
    from tidal.physics import Diffusion2D

    n = 32
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, n)
    u0 = np.exp(-30.0 * ((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2))
    kappa = 0.01 * (1.0 + 0.5 * rng.random((n, n)))
    data = np.full((STEPS + 1, n, n), np.nan)  # sensors: 16 cells read every 100 steps
    data[::100, 4::8, 4::8] = 0.1
    before = _rss_mb()
    model = Diffusion2D(kappa, u0, dt=0.015, steps=STEPS, checkpoint_every=k)
    model.observe(data)
    return before, model, ["kappa", "u0"]


def _cloth(k):
    from tidal.physics import MassSpring, cloth

    positions, springs, pinned = cloth(12, spacing=0.05)
    observed = np.full((STEPS + 1, len(positions), 3), np.nan)  # all masses every 100 steps
    observed[::100] = positions
    before = _rss_mb()
    model = MassSpring(positions, springs, 800.0, steps=STEPS, dt=1e-3, damping=0.5,
                       anchored=pinned, checkpoint_every=k)
    model.observe(observed)
    return before, model, ["stiffness", "damping"]


CASES = {"diffusion 32x32": (_diffusion, 100), "cloth 12x12 (3-D)": (_cloth, 100)}


def child(case: str, k, out: str) -> None:
    import tidal as td

    td.init(arch="cpu", default_fp=td.f64)
    before, model, names = CASES[case][0](k)
    model.loss_grad(names)  # compiles
    start = time.perf_counter()
    value, grads = model.loss_grad(names)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    np.savez(out, value=value, grad=np.concatenate([np.ravel(g) for g in grads]))
    print(json.dumps({"mb": peak - before, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("CASE", "K", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, k, out = args.child
        child(case, None if k == "none" else int(k), out)
        return
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; {STEPS} steps, float64, CPU")
    print(f"{'case':22s} {'k':>5s} {'stored MB':>10s} {'ckpt MB':>8s} {'ratio':>7s} "
          f"{'stored s':>9s} {'ckpt s':>7s} {'grad rel diff':>14s}")
    with tempfile.TemporaryDirectory() as tmp:
        for case, (_, k) in CASES.items():
            runs = []
            for mode in ("none", str(k)):
                out = os.path.join(tmp, f"{len(runs)}.npz")
                proc = subprocess.run([sys.executable, __file__, "--child", case, mode, out],
                                      capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(f"{case} ({mode}) failed:\n{proc.stderr}")
                runs.append((json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)))
            (full, a), (ckpt, b) = runs
            diff = float(np.max(np.abs(a["grad"] - b["grad"])) / np.max(np.abs(a["grad"])))
            print(f"{case:22s} {k:5d} {full['mb']:10.1f} {ckpt['mb']:8.1f} "
                  f"{full['mb'] / ckpt['mb']:6.1f}x {full['seconds']:9.2f} "
                  f"{ckpt['seconds']:7.2f} {diff:14.1e}")


if __name__ == "__main__":
    main()
