"""Poisson's equation in 2-D by a PINN, on the unit square and on a square with a hole.

-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y), whose solution with the right boundary data is
u = sin(pi x) sin(pi y), solved twice:

(a) on the unit square with u = 0 on the sides, imposed exactly by the output transform
    u = x (1 - x) y (1 - y) N(x, y) (a hard constraint: no boundary term in the loss);
(b) on the square with a hole, [0, 1]^2 minus the disk of radius 0.25 centred at (0.5, 0.5)
    (a CSG difference), with Dirichlet data u = sin(pi x) sin(pi y) on all of its boundary
    (zero on the sides, non-zero on the circle), imposed by a boundary loss term of weight 10
    (with weight 1 the boundary is fitted slowly: over 10x the error after 500 iterations).

Networks 2 -> 3 x 20 tanh -> 1 in float64, L-BFGS. Prints the relative L2 error of each against
the exact solution on a 101 x 101 grid (for (b), at the grid points inside the domain) and writes
DIR/square.png, DIR/csg.png (prediction, exact, error; zero outside the domain) and the loss
histories. Measured with the defaults: relative L2 errors 3.2e-6 (square) and 1.3e-3 (with a
hole), 4 minutes in all on two shared CPU cores.

Run: python examples/pinn_poisson.py --out runs/poisson
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import MLP, DirichletBC, Disk, Problem, Rectangle, Trainer, relative_l2_error
from tidal.solvers.exact import poisson_2d_square_exact
from tidal.solvers.plots import plot_comparison, plot_loss_history

PI = math.pi
SOURCE = 2.0 * PI * PI


@td.func
def poisson(u_xx: td.f64, u_yy: td.f64, x: td.f64, y: td.f64) -> td.f64:
    return u_xx + u_yy + SOURCE * td.sin(PI * x) * td.sin(PI * y)


@td.func
def zero_on_the_sides(z: td.vec2, n: td.f64) -> td.f64:
    return z[0] * (1.0 - z[0]) * z[1] * (1.0 - z[1]) * n


def exact(points: np.ndarray) -> np.ndarray:
    """The exact solution at ``(n, 2)`` points (also the Dirichlet data of the CSG domain)."""
    return poisson_2d_square_exact(points[:, 0], points[:, 1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/poisson"))
    parser.add_argument("--iterations", type=int, default=1000, help="most L-BFGS iterations")
    parser.add_argument("--collocation", type=int, default=1000)
    parser.add_argument("--boundary", type=int, default=400,
                        help="boundary points of the CSG domain")
    parser.add_argument("--boundary-weight", type=float, default=10.0,
                        help="weight of the boundary term of the CSG domain")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--only", choices=["square", "csg"], default=None,
                        help="solve one of the two problems")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def _net(args: argparse.Namespace) -> MLP:
    return MLP(2, width=args.width, depth=args.depth, seed=args.seed, lo=[0, 0], hi=[1, 1],
               dtype=td.f64)


def build_square(args: argparse.Namespace) -> Problem:
    """(a): the unit square, zero Dirichlet data as a hard constraint."""
    square = Rectangle((0.0, 0.0), (1.0, 1.0))
    return Problem(square, poisson, [], _net(args), n_collocation=args.collocation,
                   method="lhs", seed=args.seed, output_transform=zero_on_the_sides)


def csg_domain() -> Rectangle:
    """The unit square minus the disk of radius 0.25 at its centre."""
    return Rectangle((0.0, 0.0), (1.0, 1.0)) - Disk((0.5, 0.5), 0.25)


def build_csg(args: argparse.Namespace) -> Problem:
    """(b): the square with a hole, Dirichlet data from the exact solution as a loss term."""
    domain = csg_domain()
    return Problem(domain, poisson, [DirichletBC(domain, exact, n=args.boundary,
                                                      weight=args.boundary_weight)], _net(args),
                   n_collocation=args.collocation, method="lhs", seed=args.seed)


def solve(name: str, problem: Problem, args: argparse.Namespace, start: float) -> dict:
    """Train ``problem``, compare with the exact solution on a grid, write the figures."""
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress)
    trainer.lbfgs(max_iter=args.iterations)
    wall = time.perf_counter() - start
    x = np.linspace(0.0, 1.0, 101)
    grid = np.stack([g.reshape(-1) for g in np.meshgrid(x, x, indexing="ij")], axis=1)
    inside = problem.domain.inside(grid).reshape(101, 101)
    u = problem.predict(grid).reshape(101, 101)
    ref = exact(grid).reshape(101, 101)
    error = relative_l2_error(u[inside], ref[inside])  # over the grid points inside the domain
    plot_comparison(x, x, u, ref, args.out / f"{name}.png", ylabel="y", mask=inside)
    plot_loss_history(trainer.history, args.out / f"{name}_loss.png", title=f"Poisson ({name})")
    print(f"{name}: {trainer.step} L-BFGS iterations, {wall:.0f} s (compile included), "
          f"stopped: {trainer.stopped_reason}, final loss {trainer.history.loss[-1]:.3e}")
    print(f"relative_l2_error ({name}): {error:.3e}")
    return {"error": error, "wall": wall, "steps": trainer.step,
            "loss": trainer.history.loss[-1]}


def run(args: argparse.Namespace) -> dict:
    """Solve the selected problems; return ``{name: {"error", "wall", "steps", "loss"}}``."""
    args.out.mkdir(parents=True, exist_ok=True)
    builders = {"square": build_square, "csg": build_csg}
    results = {}
    for name, build in builders.items():
        if args.only in (None, name):
            start = time.perf_counter()
            results[name] = solve(name, build(args), args, start)
    return results


def main(argv: list[str] | None = None) -> dict:
    """Run the example in float64 on the CPU."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64)
    return run(args)


if __name__ == "__main__":
    main()
