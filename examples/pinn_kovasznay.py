"""Kovasznay flow by a PINN: a system of three equations for three outputs, against the exact
solution.

The steady incompressible Navier-Stokes equations at Re = 20 on [-0.5, 1] x [-0.5, 1.5],

    u u_x + v u_y + p_x - (u_xx + u_yy) / Re = 0
    u v_x + v v_y + p_y - (v_xx + v_yy) / Re = 0
    u_x + v_y = 0,

with the exact velocity on the whole boundary and the exact pressure on the outflow side
x = 1 (the set-up of DeepXDE's example). One network 2 -> depth x width tanh -> 3 gives u, v
and p; the three residuals are three loss terms evaluated by one kernel, with one Taylor pass
of the network per collocation point for all of them. Defaults: 4 x 50 network, 1,500 Latin
hypercube collocation points, 400 boundary points for each of u and v and 100 on the outflow
side for p, boundary terms weighted 10 (the residuals 1); 3,000 Adam steps with the learning
rate decaying exponentially from 1e-3 to 1e-4, then up to 9,000 L-BFGS iterations; the trainer
keeps the best parameters it saw. Prints the relative L2 error of each output on a
101 x 101 grid and writes DIR/solution_{u,v,p}.png and DIR/loss.png.

Measured with the defaults (2 shared CPU cores, float64): errors u 1.4e-4, v 7.2e-4,
p 4.1e-4 in 12,000 steps, 365-540 s including compilation (seed 1: 1.3e-4, 5.8e-4, 3.8e-4).
Boundary weight 1 with 2,601 collocation points (the earlier defaults) needed 14,000 steps
(1,100 s) for v below 1e-3; with 3,000 L-BFGS iterations it stopped at u 9.9e-4, v 4.6e-3,
p 2.4e-3. A residual-based refinement halfway through L-BFGS (500 of 5,000 random points)
made v worse (9.9e-4): L-BFGS restarts without its curvature pairs.

Run: python examples/pinn_kovasznay.py --out runs/kovasznay
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import MLP, DirichletBC, ExponentialDecay, Problem, Rectangle, Trainer
from tidal.solvers.exact import kovasznay_exact
from tidal.solvers.plots import plot_comparison, plot_loss_history, relative_l2_error

RE = 20.0
LO, HI = (-0.5, -0.5), (1.0, 1.5)


@td.func
def momentum_x(u: td.f64, v: td.f64, u_x: td.f64, u_y: td.f64, p_x: td.f64, u_xx: td.f64,
               u_yy: td.f64) -> td.f64:
    return u * u_x + v * u_y + p_x - (u_xx + u_yy) / RE


@td.func
def momentum_y(u: td.f64, v: td.f64, v_x: td.f64, v_y: td.f64, p_y: td.f64, v_xx: td.f64,
               v_yy: td.f64) -> td.f64:
    return u * v_x + v * v_y + p_y - (v_xx + v_yy) / RE


@td.func
def continuity(u_x: td.f64, v_y: td.f64) -> td.f64:
    return u_x + v_y


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/kovasznay"))
    parser.add_argument("--collocation", type=int, default=1500)
    parser.add_argument("--boundary", type=int, default=400, help="points per condition")
    parser.add_argument("--boundary-weight", type=float, default=10.0,
                        help="weight of each boundary condition's term (the residuals' is 1)")
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--adam", type=int, default=3000, help="Adam steps")
    parser.add_argument("--iterations", type=int, default=9000, help="most L-BFGS iterations")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def exact(component: int):
    """The exact ``u``, ``v`` or ``p`` as a NumPy function of ``(n, 2)`` points."""
    return lambda p: kovasznay_exact(p[:, 0], p[:, 1], RE)[:, component]


def build(args: argparse.Namespace) -> Problem:
    """The Kovasznay problem: three residuals, velocity on the boundary, outflow pressure."""
    domain = Rectangle(LO, HI)
    net = MLP(2, width=args.width, depth=args.depth, seed=args.seed, lo=LO, hi=HI,
              dtype=td.f64, out_dim=3)
    conditions = [
        DirichletBC(domain, exact(0), n=args.boundary, output="u", weight=args.boundary_weight),
        DirichletBC(domain, exact(1), n=args.boundary, output="v", weight=args.boundary_weight),
        DirichletBC(domain, exact(2), n=args.boundary // 4, output="p",
                    where=lambda p: np.isclose(p[:, 0], HI[0]), weight=args.boundary_weight),
    ]
    return Problem(domain, [momentum_x, momentum_y, continuity], conditions, net,
                   outputs=("u", "v", "p"), n_collocation=args.collocation, method="lhs",
                   seed=args.seed)


def run(args: argparse.Namespace) -> dict:
    """Build, train, compare with the exact solution; print and return the errors."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problem = build(args)
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress)
    trainer.adam(args.adam, lr=1e-3, schedule=ExponentialDecay(0.1, every=max(args.adam, 1)))
    trainer.lbfgs(max_iter=args.iterations)
    wall = time.perf_counter() - start
    x = np.linspace(LO[0], HI[0], 101)
    y = np.linspace(LO[1], HI[1], 101)
    predicted = problem.predict_grid(x, y)
    reference = kovasznay_exact(x[:, None], y[None, :], RE)
    errors = {}
    for k, name in enumerate(problem.outputs):
        errors[name] = relative_l2_error(predicted[..., k], reference[..., k])
        plot_comparison(x, y, predicted[..., k], reference[..., k],
                        args.out / f"solution_{name}.png", ylabel="y")
    plot_loss_history(trainer.history, args.out / "loss.png", title="Kovasznay flow, Re 20")
    print(f"training: {trainer.step} steps (Adam then L-BFGS), {wall:.0f} s (compile "
          f"included), stopped: {trainer.stopped_reason}, kept step {trainer.best_step}, "
          f"loss {trainer.best_value:.3e}")
    for name, error in errors.items():
        print(f"relative_l2_error {name}: {error:.3e}")
    return {"errors": errors, "wall": wall, "steps": trainer.step}


def main(argv: list[str] | None = None) -> dict:
    """Run the example in float64 on the CPU."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64)
    return run(args)


if __name__ == "__main__":
    main()
