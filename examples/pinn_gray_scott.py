"""Gray-Scott reaction-diffusion by a PINN: two coupled species, two outputs, against tidal's own
finite-difference solution.

The Gray-Scott model on the periodic interval [-1, 1] for t in [0, 20],

    u_t = Du u_xx - u v^2 + F (1 - u)
    v_t = Dv v_xx + u v^2 - (F + k) v,

with Du = 0.01, Dv = 0.005, F = 0.04, k = 0.06 and a pulse of the activator v in a sea of the
substrate u: u(x, 0) = 1 - g(x) / 2, v(x, 0) = g(x) / 2, g = exp(-(x / 0.2)^2). The pulse feeds
on the substrate: it first sags (t ~ 2), then grows to a peak of 0.71 near t = 13 while it
widens and digs a hole in u (down to 0.13 by t = 20), then slowly decays as it spreads.
Gray-Scott rather than the Brusselator: its trivial state (u, v) = (1, 0) makes v a localised
pulse, so the relative L2 error of v measures the pulse itself, where the Brusselator's states
sit on a large constant (a, b / a) that flatters relative errors.

One network of (x, t), an MLP 3 -> depth x width tanh -> 2, gives u and v; its inputs are
cos(pi x), sin(pi x) and t (``Periodic``), so both outputs and all their derivatives are periodic by
construction (a PeriodicBC loss term pairs values only, not u_x). The initial condition is a
hard constraint, u = u0(x) + (t / 20) n_u, v = v0(x) + (t / 20) n_v (an output transform), so
the loss is the two residuals alone, each its own term, evaluated by one kernel from one Taylor
pass. Adam, then L-BFGS; the trainer keeps the best parameters it saw.

The reference is tidal.physics.gray_scott: the three-point finite-difference Laplacian on 512
points, integrated in time by ETDRK4 (second order in space; against 1024 points and half the
step it differs by 1.2e-5 relative L2, tests/test_physics_reaction_diffusion.py). Prints the
relative L2 error of u and v on the 512 x 101 grid of the reference and writes
DIR/solution_u.png, DIR/solution_v.png and DIR/loss.png.

Measured with the defaults (network 3 -> 4 x 32 tanh -> 2, 3,000 points, float64) on two CPU
cores shared with other jobs (2026-12-05): relative L2 errors 3.3e-4 (u) and 6.8e-4 (v) after
6,000 steps (1,000 Adam, 5,000 L-BFGS), 242 s with the compile; the loss was still falling.

Run: python examples/pinn_gray_scott.py --out runs/gray_scott
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import taichi as ti

import tidal as td
from tidal.physics import gray_scott
from tidal.solvers import MLP, Interval, Periodic, Problem, TimeDomain, Trainer
from tidal.solvers.plots import plot_comparison, plot_loss_history, relative_l2_error

DU, DV, FEED, KILL = 0.01, 0.005, 0.04, 0.06
X_RANGE, T_RANGE = (-1.0, 1.0), (0.0, 20.0)
WIDTH0 = 0.2  # of the initial pulse
GRID, DT = 512, 0.05  # of the reference
PI = math.pi


@td.func
def substrate(u: td.f64, v: td.f64, u_t: td.f64, u_xx: td.f64) -> td.f64:
    return u_t - DU * u_xx + u * v * v - FEED * (1.0 - u)


@td.func
def activator(u: td.f64, v: td.f64, v_t: td.f64, v_xx: td.f64) -> td.f64:
    return v_t - DV * v_xx - u * v * v + (FEED + KILL) * v


@td.func
def from_initial(z: td.vec2, n: td.vec2) -> td.vec2:
    """The initial pulse plus ``t / T`` times the network: u(x, 0), v(x, 0) hold exactly."""
    g = ti.exp(-(z[0] / WIDTH0) ** 2)
    s = z[1] / T_RANGE[1]
    return td.vec2(1.0 - 0.5 * g + s * n[0], 0.5 * g + s * n[1])


def initial(x: np.ndarray) -> np.ndarray:
    """``(u0, v0)`` at ``x``, shape ``(2, n)``."""
    g = np.exp(-(np.asarray(x) / WIDTH0) ** 2)
    return np.stack([1.0 - 0.5 * g, 0.5 * g])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/gray_scott"))
    parser.add_argument("--collocation", type=int, default=3000)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--adam", type=int, default=1000, help="Adam steps")
    parser.add_argument("--iterations", type=int, default=5000, help="most L-BFGS iterations")
    parser.add_argument("--minutes", type=float, default=14.0,
                        help="stop training this long after the start (compile included)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def model(n: int = GRID, scheme: str = "fd"):
    """The reference solver on ``n`` points."""
    return gray_scott(DU, DV, FEED, KILL, n=n, x_range=X_RANGE, scheme=scheme)


def reference(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x, t`` and the reference ``(len(x), len(t), 2)`` (u and v) on the solver's grid."""
    solver = model()
    states = solver.solve(initial, t, dt=DT)  # (times, species, points)
    return solver.x, t, states.transpose(2, 0, 1)


def build(args: argparse.Namespace) -> Problem:
    """Two residuals for two outputs of one periodic network, the initial state built in."""
    domain = Interval(*X_RANGE) * TimeDomain(*T_RANGE)
    net = Periodic(MLP(3, width=args.width, depth=args.depth, seed=args.seed, out_dim=2,
                       dtype=td.f64, lo=[-1.0, -1.0, T_RANGE[0]], hi=[1.0, 1.0, T_RANGE[1]]),
                   periods={0: X_RANGE[1] - X_RANGE[0]})
    return Problem(domain, [substrate, activator], [], net, outputs=("u", "v"),
                   output_transform=from_initial, n_collocation=args.collocation,
                   method="lhs", seed=args.seed)


def run(args: argparse.Namespace) -> dict:
    """Build, train, compare with the finite-difference reference; print and return the
    errors."""
    args.out.mkdir(parents=True, exist_ok=True)
    x, t, exact = reference(np.linspace(*T_RANGE, 101))
    start = time.perf_counter()
    problem = build(args)
    limit = None if args.minutes is None else 60 * args.minutes
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress, time_limit=limit)
    trainer.adam(args.adam, lr=1e-3)
    if trainer.stopped_reason != "time limit":
        trainer.lbfgs(max_iter=args.iterations)
    wall = time.perf_counter() - start
    predicted = problem.predict_grid(x, t)
    errors = {}
    for k, name in enumerate(problem.outputs):
        errors[name] = relative_l2_error(predicted[..., k], exact[..., k])
        plot_comparison(x, t, predicted[..., k], exact[..., k], args.out / f"solution_{name}.png")
    plot_loss_history(trainer.history, args.out / "loss.png", title="Gray-Scott")
    print(f"training: {trainer.step} steps (Adam then L-BFGS), {wall:.0f} s (compile "
          f"included), stopped: {trainer.stopped_reason}, kept step {trainer.best_step}, "
          f"loss {trainer.best_value:.3e}")
    for name, error in errors.items():
        print(f"relative_l2_error {name}: {error:.3e}")
    return {"errors": errors, "wall": wall, "steps": trainer.step, "problem": problem}


def main(argv: list[str] | None = None) -> dict:
    """Run the example in float64 on the CPU."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64)
    return run(args)


if __name__ == "__main__":
    main()
