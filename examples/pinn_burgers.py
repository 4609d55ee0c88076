"""Burgers' equation by a PINN, as in Raissi, Perdikaris & Karniadakis (2019).

u_t + u u_x - (0.01/pi) u_xx = 0 on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x), u(-1, t) = u(1, t) = 0;
network 2 -> 8 x 20 tanh -> 1, 100 initial/boundary points, 10,000 Latin-hypercube collocation
points, L-BFGS. Writes DIR/prediction.npz (x: 256, t: 100, u: 256 x 100), figures and a
checkpoint, and prints the relative L2 error against the exact (Cole-Hopf) solution.

Training is in float64 by default: in float32, SciPy's stopping test (relative loss reduction at
most machine epsilon) fires as soon as one iteration leaves the float32 loss unchanged, long before
the network has converged. ``--resume`` continues from DIR/checkpoint.npz (same seed, same points;
L-BFGS starts a fresh curvature memory), so a long run can be split over several sessions.

Measured on a 2-core CPU (2026-11-22, three seeds sharing it): about 10,000-11,400 L-BFGS
iterations each (a float32 run, then ``--resume`` in float64 for 125 minutes), 3.2 hours of
training per seed; relative L2 errors 1.12e-3, 4.65e-4 and 1.95e-4 for seeds 0, 1 and 2
(median 4.65e-4; the paper reports 6.7e-4).

Run: python examples/pinn_burgers.py --seed 0 --out runs/burgers0
"""

import argparse
import math
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    InitialCondition,
    Interval,
    Problem,
    TimeDomain,
    Trainer,
    relative_l2_error,
)
from tidal.solvers.exact import burgers_grid
from tidal.solvers.plots import plot_comparison, plot_loss_history

NU = 0.01 / math.pi


@td.func
def burgers(u: td.f64, u_t: td.f64, u_x: td.f64, u_xx: td.f64) -> td.f64:
    return u_t + u * u_x - NU * u_xx


@td.func
def burgers_f32(u: td.f32, u_t: td.f32, u_x: td.f32, u_xx: td.f32) -> td.f32:
    return u_t + u * u_x - NU * u_xx


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/burgers"))
    parser.add_argument("--iterations", type=int, default=50_000, help="most L-BFGS iterations")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop training after this long")
    parser.add_argument("--collocation", type=int, default=10_000)
    parser.add_argument("--precision", choices=["f32", "f64"], default="f64")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: all cores)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Problem:
    """The published problem: 8 x 20 tanh network, 50 initial and 50 boundary points."""
    real = td.f64 if args.precision == "f64" else td.f32
    domain = Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0)
    net = MLP(2, width=20, depth=8, activation="tanh", seed=args.seed, lo=[-1, 0], hi=[1, 1],
              dtype=real)
    return Problem(domain, burgers if real == td.f64 else burgers_f32, [
        InitialCondition(domain, lambda p: -np.sin(np.pi * p[:, 0]), n=50),
        DirichletBC(domain, 0.0, n=50),
    ], net, n_collocation=args.collocation, method="lhs", seed=args.seed)


def run(args: argparse.Namespace) -> dict:
    """Build, train (resuming from the checkpoint with ``--resume``), write and print the
    prediction's error against the exact solution."""
    args.out.mkdir(parents=True, exist_ok=True)
    problem = build(args)
    start = time.perf_counter()
    checkpoint = args.out / "checkpoint.npz"
    limit = None if args.minutes is None else 60 * args.minutes
    if args.resume:
        trainer = Trainer.from_checkpoint(problem, checkpoint, time_limit=limit,
                                          checkpoint_every=100)
    else:
        trainer = Trainer(problem, problem.get_flat(), checkpoint=checkpoint, time_limit=limit,
                          checkpoint_every=100)
    trainer.lbfgs(max_iter=max(args.iterations - trainer.step, 0))
    wall = time.perf_counter() - start

    x, t, exact = burgers_grid(nx=256, nt=100)
    u = problem.predict_grid(x, t)
    np.savez(args.out / "prediction.npz", x=x, t=t, u=u)
    plot_comparison(x, t, u, exact, args.out / "solution.png")
    plot_loss_history(trainer.history, args.out / "loss.png")
    error = relative_l2_error(u, exact)
    print(f"training: {trainer.step} L-BFGS iterations, {wall:.0f} s this run "
          f"({trainer.history.time[-1]:.0f} s in all), stopped: "
          f"{trainer.stopped_reason}, final loss {trainer.history.loss[-1]:.3e}")
    print(f"relative_l2_error: {error:.3e}")
    return {"error": error, "wall": wall, "steps": trainer.step}


def main(argv: list[str] | None = None) -> dict:
    """Run the example on the CPU in the precision asked for."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64 if args.precision == "f64" else td.f32,
            **({} if args.threads is None else {"cpu_max_num_threads": args.threads}))
    return run(args)


if __name__ == "__main__":
    main()
