"""The Burgers PINN of examples/pinn_burgers.py trained data-parallel on MPI ranks.

Each rank holds its share of the 10,000 collocation points (and of the initial and boundary
points); one allreduce per evaluation sums the loss and gradient, so Adam and L-BFGS take the
same steps on every rank as one process would on all the points. Rank 0 alone prints, writes
the checkpoint, the prediction and the figures.

Run on one process, or on several with the same command behind mpiexec (or srun):

    python examples/distributed_burgers.py --out runs/burgers_mpi
    mpiexec -n 2 python examples/distributed_burgers.py --out runs/burgers_mpi

Measured on this project's 2-core CPU (2026-12-05, one thread per rank, defaults: 500 Adam steps
then 1,000 L-BFGS iterations, compiling included): two ranks 41.9 s, relative L2 error 6.8e-3;
one rank 81.2 s, 8.5e-3 (L-BFGS's paths part with the summation order; docs/distributed.md).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from pinn_burgers import build

import tidal as td
from tidal import distributed
from tidal.solvers import Trainer, relative_l2_error
from tidal.solvers.exact import burgers_grid
from tidal.solvers.plots import plot_comparison, plot_loss_history


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/burgers_mpi"))
    parser.add_argument("--adam", type=int, default=500, help="Adam steps")
    parser.add_argument("--lbfgs", type=int, default=1000, help="most L-BFGS iterations")
    parser.add_argument("--collocation", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per rank (default: the node's cores / ranks on it)")
    parser.add_argument("--precision", choices=["f32", "f64"], default="f64")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    comm = distributed.world()
    distributed.init("cpu", threads=args.threads,
                     default_fp=td.f64 if args.precision == "f64" else td.f32)
    problem = build(args)  # the same problem on every rank (same seed, same points) ...
    objective = distributed.DataParallel(problem)  # ... of which each rank keeps its share
    if comm.primary:
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"{comm.size} rank(s); rank 0 holds {len(problem.collocation_points)} of "
              f"{args.collocation} collocation points")
    trainer = Trainer(objective, problem.get_flat(), checkpoint=args.out / "checkpoint.npz",
                      checkpoint_every=500)
    start = time.perf_counter()
    trainer.adam(args.adam, lr=1e-3)
    trainer.lbfgs(args.lbfgs)
    wall = time.perf_counter() - start
    x, t, exact = burgers_grid(nx=256, nt=100)
    u = problem.predict_grid(x, t)  # every rank holds the whole network
    error = relative_l2_error(u, exact)
    if comm.primary:
        np.savez(args.out / "prediction.npz", x=x, t=t, u=u)
        plot_comparison(x, t, u, exact, args.out / "solution.png")
        plot_loss_history(trainer.history, args.out / "loss.png")
        print(f"training: {trainer.step} steps in {wall:.1f} s on {comm.size} rank(s) "
              f"(compiling included); {objective.evaluations} evaluations, each one allreduce "
              f"of {objective.bytes_per_evaluation:,} bytes per rank")
        print(f"relative_l2_error: {error:.3e}")
    return {"error": error, "wall": wall, "steps": trainer.step, "ranks": comm.size}


if __name__ == "__main__":
    main()
