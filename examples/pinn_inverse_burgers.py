"""Inverse Burgers problem: recover both coefficients of the PDE from samples of its solution.

From 2,000 noise-free samples of the exact Burgers solution (Cole-Hopf, ``burgers_exact``) at
random points of [-1, 1] x [0, 1], find lambda1 and lambda2 in

    u_t + lambda1 u u_x - lambda2 u_xx = 0     (true values 1 and 0.01 / pi),

training a network 2 -> 8 x 20 tanh -> 1 together with the two unknowns, both started at 0, by
L-BFGS on the data misfit plus the residual at the same points (Raissi, Perdikaris & Karniadakis
2019, section 4.1.1, who report errors of 0.078 % and 0.44 %). Prints the recovered values and
their percent errors, and writes DIR/loss.png (the loss and the unknowns during training) and
DIR/solution.png (network against exact solution).

The full run costs about 0.15 s per L-BFGS evaluation on two CPU cores (float64), so tens of
thousands of iterations take hours there; ``--minutes`` bounds the training time, and
``--width``, ``--depth``, ``--points`` and ``--iterations`` shrink the problem. Measured with
``--minutes 150`` (28,753 iterations, two shared CPU cores): lambda1 0.999184 (error 0.082 %),
lambda2 0.003171 (error 0.39 %). lambda2 had not settled: its error was 0.04 % at 11,000
iterations, 2.2 % near 19,000, and it was still drifting down through the true value at the end.
``--nu`` sets the viscosity of the data (the true lambda2) for smoother, easier instances.

Run: python examples/pinn_inverse_burgers.py --minutes 150 --out runs/inverse_burgers
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import (
    MLP,
    Interval,
    Observations,
    Problem,
    TimeDomain,
    Trainer,
    Unknown,
    relative_l2_error,
)
from tidal.solvers.exact import burgers_exact
from tidal.solvers.plots import plot_comparison, plot_loss_history

NU = 0.01 / math.pi


@td.func
def burgers(u: td.f64, u_t: td.f64, u_x: td.f64, u_xx: td.f64, lambda1: td.f64,
            lambda2: td.f64) -> td.f64:
    return u_t + lambda1 * u * u_x - lambda2 * u_xx


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults: the paper's set-up)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/inverse_burgers"))
    parser.add_argument("--points", type=int, default=2000, help="number of data points")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=50_000, help="most L-BFGS iterations")
    parser.add_argument("--minutes", type=float, default=None, help="stop training after this long")
    parser.add_argument("--nu", type=float, default=NU,
                        help="viscosity of the data, the true lambda2 (a larger one gives a "
                             "smoother solution and an easier problem)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Problem:
    """The inverse problem: data and residual at the same random points, two unknowns at 0."""
    rng = np.random.default_rng(args.seed)
    points = np.stack([rng.uniform(-1.0, 1.0, args.points), rng.uniform(0.0, 1.0, args.points)],
                      axis=1)
    data = burgers_exact(points[:, 0], points[:, 1], nu=args.nu)
    domain = Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0)
    net = MLP(2, width=args.width, depth=args.depth, seed=args.seed, lo=[-1, 0], hi=[1, 1],
              dtype=td.f64)
    return Problem(domain, burgers, [Observations(points, data)], net, collocation=points,
                   unknowns=[Unknown("lambda1", 0.0), Unknown("lambda2", 0.0)])


def run(args: argparse.Namespace) -> dict:
    """Build, train and evaluate; print and return the recovered coefficients and errors."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problem = build(args)
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress,
                      time_limit=None if args.minutes is None else 60 * args.minutes)
    trainer.lbfgs(max_iter=args.iterations)
    wall = time.perf_counter() - start

    x, t = np.linspace(-1.0, 1.0, 256), np.arange(100) / 100.0
    exact = burgers_exact(x[:, None], t[None, :], nu=args.nu)
    u = problem.predict_grid(x, t)
    plot_comparison(x, t, u, exact, args.out / "solution.png")
    plot_loss_history(trainer.history, args.out / "loss.png", title="inverse Burgers loss")
    found = problem.unknown_values()
    result = {"wall": wall, "steps": trainer.step, "stopped": trainer.stopped_reason,
              "loss": trainer.history.loss[-1], "relative_l2_error": relative_l2_error(u, exact)}
    print(f"training: {trainer.step} L-BFGS iterations, {wall:.0f} s (compile included), "
          f"stopped: {trainer.stopped_reason}, final loss {result['loss']:.3e}")
    for name, true in (("lambda1", 1.0), ("lambda2", args.nu)):
        error = 100.0 * abs(found[name] - true) / true
        result[name], result[f"{name}_error"] = found[name], error
        print(f"{name}: {found[name]:.6f} (error {error:.3f} %)  [true {true:.6f}]")
    print(f"relative_l2_error (u): {result['relative_l2_error']:.3e}")
    return result


def main(argv: list[str] | None = None) -> dict:
    """Run the example in float64 on the CPU."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64)
    return run(args)


if __name__ == "__main__":
    main()
