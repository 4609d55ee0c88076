"""2-D linear elasticity by a PINN: two displacement outputs, two equilibrium equations with
mixed derivatives, and traction conditions on stresses made of both outputs' derivatives.

Plane strain on the unit square with Lame constants lambda = 1, mu = 0.5. The stresses of the
displacement (ux, uy) are

    sxx = (lambda + 2 mu) ux_x + lambda uy_y
    syy = lambda ux_x + (lambda + 2 mu) uy_y
    sxy = mu (ux_y + uy_x),

and equilibrium div(sigma) + f = 0 reads, in second derivatives of the displacement,

    (lambda + 2 mu) ux_xx + mu ux_yy + (lambda + mu) uy_xy = -fx
    mu uy_xx + (lambda + 2 mu) uy_yy + (lambda + mu) ux_xy = -fy.

The body force f is manufactured from ux = cos(2 pi x) sin(pi y), uy = sin(pi x) Q y^4 / 4 with
Q = 4 (the plate of Haghighat et al. 2021, derived here):

    fx = (lambda + 2 mu) 4 pi^2 ux + mu pi^2 ux - (lambda + mu) pi Q y^3 cos(pi x)
    fy = mu pi^2 uy - (lambda + 2 mu) 3 Q y^2 sin(pi x)
         + (lambda + mu) 2 pi^2 sin(2 pi x) cos(pi y),

given to the problem as the residuals' right-hand sides (``forcing=``, NumPy, evaluated once per
collocation point). The body force reaches about 80 where the displacements and tractions are of
order 1 to 8, so each residual's term has weight 0.01 (``--pde-weight``; at the test's small
size, weight 1 gives errors 5.5e-2 and 9.2e-2, weight 0.01 1.0e-2 and 1.9e-2).

Boundary conditions, all satisfied by the manufactured solution: on x = 0 and x = 1 a roller,
uy = 0 (Dirichlet) and no normal stress sxx = 0 (an OperatorCondition on a tidal function of
ux_x and uy_y); on y = 0 clamped, ux = uy = 0; on y = 1 ux = 0 and the normal
traction syy = (lambda + 2 mu) Q sin(pi x) (an OperatorCondition).

One network 2 -> depth x width tanh -> 2 gives both displacements (``--separate``: one network
per output). One shared network is the default: both equations couple ux and uy through the
mixed derivatives, so shared hidden features serve both, and one network's Taylor pass gives
every derivative of both outputs at about the cost of one output (two networks double the
work per point and the compiled code for the same number of parameters per output). Adam with
an exponentially decaying learning rate, then L-BFGS; the trainer keeps the best parameters it
saw. Prints the relative L2 error of ux and uy on a 101 x 101 grid and writes
DIR/solution_{ux,uy}.png and DIR/loss.png. Measured with the defaults (2,000 Adam steps, then
6,000 L-BFGS iterations, all done): relative L2 error ux 6.5e-4, uy 1.1e-3 in 337 s on two CPU
cores shared with other work (Taichi's offline cache held the kernels; a cold first call
compiles for about 25 s more).

Run: python examples/pinn_elasticity.py --out runs/elasticity
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    ExponentialDecay,
    OperatorCondition,
    Problem,
    Rectangle,
    Separate,
    Trainer,
)
from tidal.solvers.plots import plot_comparison, plot_loss_history, relative_l2_error

LAMBDA, MU, Q = 1.0, 0.5, 4.0
LO, HI = (0.0, 0.0), (1.0, 1.0)
PI = np.pi


@td.func
def equilibrium_x(ux_xx: td.f64, ux_yy: td.f64, uy_xy: td.f64) -> td.f64:
    return (LAMBDA + 2.0 * MU) * ux_xx + MU * ux_yy + (LAMBDA + MU) * uy_xy


@td.func
def equilibrium_y(uy_xx: td.f64, uy_yy: td.f64, ux_xy: td.f64) -> td.f64:
    return MU * uy_xx + (LAMBDA + 2.0 * MU) * uy_yy + (LAMBDA + MU) * ux_xy


@td.func
def stress_xx(ux_x: td.f64, uy_y: td.f64) -> td.f64:
    return (LAMBDA + 2.0 * MU) * ux_x + LAMBDA * uy_y


@td.func
def stress_yy(ux_x: td.f64, uy_y: td.f64) -> td.f64:
    return LAMBDA * ux_x + (LAMBDA + 2.0 * MU) * uy_y


def displacement(p: np.ndarray) -> np.ndarray:
    """The manufactured ``(ux, uy)`` at ``(n, 2)`` points, ``(n, 2)``."""
    x, y = p[:, 0], p[:, 1]
    return np.stack([np.cos(2 * PI * x) * np.sin(PI * y), np.sin(PI * x) * Q * y ** 4 / 4], 1)


def stress(p: np.ndarray) -> np.ndarray:
    """The stresses ``(sxx, syy, sxy)`` of the manufactured displacement, ``(n, 3)``."""
    x, y = p[:, 0], p[:, 1]
    ux_x = -2 * PI * np.sin(2 * PI * x) * np.sin(PI * y)
    ux_y = PI * np.cos(2 * PI * x) * np.cos(PI * y)
    uy_x = PI * np.cos(PI * x) * Q * y ** 4 / 4
    uy_y = np.sin(PI * x) * Q * y ** 3
    return np.stack([(LAMBDA + 2 * MU) * ux_x + LAMBDA * uy_y,
                     LAMBDA * ux_x + (LAMBDA + 2 * MU) * uy_y, MU * (ux_y + uy_x)], 1)


def body_force(p: np.ndarray) -> np.ndarray:
    """The body force ``(fx, fy)`` for which the manufactured displacement is in equilibrium,
    ``(n, 2)``."""
    x, y = p[:, 0], p[:, 1]
    ux, uy = displacement(p).T
    fx = ((LAMBDA + 2 * MU) * 4 * PI ** 2 + MU * PI ** 2) * ux \
        - (LAMBDA + MU) * PI * Q * y ** 3 * np.cos(PI * x)
    fy = MU * PI ** 2 * uy - (LAMBDA + 2 * MU) * 3 * Q * y ** 2 * np.sin(PI * x) \
        + (LAMBDA + MU) * 2 * PI ** 2 * np.sin(2 * PI * x) * np.cos(PI * y)
    return np.stack([fx, fy], 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/elasticity"))
    parser.add_argument("--collocation", type=int, default=1000)
    parser.add_argument("--boundary", type=int, default=100, help="points per condition")
    parser.add_argument("--width", type=int, default=30)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--separate", action="store_true", help="one network per output")
    parser.add_argument("--pde-weight", type=float, default=0.01,
                        help="weight of each equilibrium residual's term")
    parser.add_argument("--adam", type=int, default=2000, help="Adam steps")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's first learning rate")
    parser.add_argument("--iterations", type=int, default=6000, help="most L-BFGS iterations")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def on(axis: int, *values: float):
    """A ``where`` predicate: boundary points whose coordinate ``axis`` is one of ``values``."""
    return lambda p: np.isin(np.round(p[:, axis], 12), values)


def build(args: argparse.Namespace) -> Problem:
    """The plate: two equilibrium residuals, displacement and traction conditions."""
    domain = Rectangle(LO, HI)
    if args.separate:
        net = Separate([MLP(2, width=args.width, depth=args.depth, seed=args.seed + k, lo=LO,
                            hi=HI, dtype=td.f64) for k in range(2)])
    else:
        net = MLP(2, width=args.width, depth=args.depth, seed=args.seed, lo=LO, hi=HI,
                  dtype=td.f64, out_dim=2)
    n = args.boundary
    conditions = [
        DirichletBC(domain, lambda p: displacement(p)[:, 0], n=n, where=on(1, 0.0, 1.0),
                    output="ux"),
        DirichletBC(domain, lambda p: displacement(p)[:, 1], n=n, where=on(0, 0.0, 1.0),
                    output="uy"),
        DirichletBC(domain, lambda p: displacement(p)[:, 1], n=n // 2, where=on(1, 0.0),
                    output="uy"),
        OperatorCondition(stress_xx, region=domain, n=n, where=on(0, 0.0, 1.0),
                          value=lambda p: stress(p)[:, 0]),
        OperatorCondition(stress_yy, region=domain, n=n // 2, where=on(1, 1.0),
                          value=lambda p: stress(p)[:, 1]),
    ]
    return Problem(domain, [equilibrium_x, equilibrium_y], conditions, net,
                   outputs=("ux", "uy"), n_collocation=args.collocation, method="lhs",
                   seed=args.seed, pde_weight=args.pde_weight,
                   forcing=[lambda p: -body_force(p)[:, 0], lambda p: -body_force(p)[:, 1]])


def run(args: argparse.Namespace) -> dict:
    """Build, train, compare with the manufactured solution; print and return the errors."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problem = build(args)
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress)
    if args.adam:
        trainer.adam(args.adam, lr=args.lr, schedule=ExponentialDecay(0.1, every=args.adam))
    trainer.lbfgs(max_iter=args.iterations)
    wall = time.perf_counter() - start
    x = np.linspace(LO[0], HI[0], 101)
    y = np.linspace(LO[1], HI[1], 101)
    predicted = problem.predict_grid(x, y)
    gx, gy = np.meshgrid(x, y, indexing="ij")
    reference = displacement(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(101, 101, 2)
    errors = {}
    for k, name in enumerate(problem.outputs):
        errors[name] = relative_l2_error(predicted[..., k], reference[..., k])
        plot_comparison(x, y, predicted[..., k], reference[..., k],
                        args.out / f"solution_{name}.png", ylabel="y")
    plot_loss_history(trainer.history, args.out / "loss.png", title="linear elasticity")
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
