"""Lid-driven cavity at Re = 100 by a PINN, against the centreline velocities of Ghia, Ghia and
Shin (1982).

The steady incompressible Navier-Stokes equations on the unit square,

    u u_x + v u_y + p_x - (u_xx + u_yy) / Re = 0
    u v_x + v v_y + p_y - (v_xx + v_yy) / Re = 0
    u_x + v_y = 0,

with the lid moving at y = 1 (u = lid(x), v = 0), no slip on the other three walls and the
pressure fixed at one point (p(0, 0) = 0, an observation of the output p). One network
2 -> depth x width tanh -> 3 gives u, v and p.

The known difficulty is the lid's corners: Ghia's lid is u = 1 up to the walls, so u jumps from
1 to 0 at (0, 1) and (1, 1), which a smooth network cannot represent. By default the lid is
smoothed to u = 1 - (2x - 1)^8 (1 over most of the lid, 0.5 at 4 % of the side from either
corner, 0 at the corners): a different problem from Ghia's, which the run says; the deviations
it prints include the difference (a finite-difference stream-function solution on a 65 x 65
grid, outside tidal, moves the centreline velocities by at most 0.006 under this smoothing).
``--lid uniform`` solves Ghia's problem as stated. The other remedies here: the lid and wall
conditions are loss terms weighted 10 (``--bc-weight``), the lid has as many points as the
three other walls together, and 400 more collocation points lie in the strip 0.9 <= y <= 1
below the lid, where the boundary layer is.

With the defaults (40 x 4 network, 2,400 collocation points, 1,000 Adam steps and 9,000 L-BFGS
iterations; 11 minutes on two shared CPU cores, compile included) the largest deviation from
Ghia's points is 0.0073 on u(0.5, y) and 0.0060 on v(x, 0.5), in units of the lid speed (the
RMS continuity residual 4.5e-3).

Measured at a smaller size (40 x 4 network, 1,800 points, 500-1,000 Adam steps and 2,500-4,000
L-BFGS iterations), largest deviation of the two profiles: this set-up 0.013; Ghia's uniform
lid 0.12 (the network's failure at the jumps spreads into the cavity); hard constraints
(u = lid(x) y^8 + B N_u, v = B N_v with B = 16 x (1 - x) y (1 - y), through
``output_transform``) 0.018 and 0.044 with seeds 0 and 1, and 0.070 with 2,500 points after
8,500 steps, their residual gathered at the corners, where B vanishes to second order;
residual-based refinement (``Problem.refine``) before L-BFGS 0.022.

Adam with an exponentially decaying learning rate, then L-BFGS; the trainer keeps the best
parameters it saw. Prints the largest absolute deviation of u(0.5, y) and v(x, 0.5) from Ghia's
17 points each (in units of the lid speed), the RMS continuity residual on a grid, and writes
DIR/centrelines.png, DIR/solution_{u,v,p}.png, DIR/streamlines.png and DIR/loss.png.

Run: python examples/pinn_cavity.py --out runs/cavity
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    ExponentialDecay,
    Observations,
    Problem,
    Rectangle,
    Trainer,
)
from tidal.solvers.plots import plot_loss_history, plot_solution
from tidal.solvers.reference_data import GHIA_RE100

RE = 100.0
LO, HI = (0.0, 0.0), (1.0, 1.0)
LID_POWER = 8  # the smoothed lid u = 1 - (2x - 1)^8


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


def lid_velocity(x: np.ndarray, lid: str) -> np.ndarray:
    """The lid's u at positions ``x`` (NumPy): 1, or the smoothed ``1 - (2x - 1)^8``."""
    x = np.asarray(x, dtype=np.float64)
    return np.ones_like(x) if lid == "uniform" else 1.0 - (2.0 * x - 1.0) ** LID_POWER


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/cavity"))
    parser.add_argument("--lid", choices=("smooth", "uniform"), default="smooth",
                        help="smooth: u = 1 - (2x - 1)^8; uniform: Ghia's u = 1")
    parser.add_argument("--collocation", type=int, default=2000)
    parser.add_argument("--near-lid", type=int, default=400,
                        help="extra collocation points in the strip 0.9 <= y <= 1")
    parser.add_argument("--boundary", type=int, default=300,
                        help="points on the lid (as many on the other walls for u, twice as "
                             "many on all four for v)")
    parser.add_argument("--bc-weight", type=float, default=10.0,
                        help="weight of the lid and wall conditions")
    parser.add_argument("--width", type=int, default=40)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--adam", type=int, default=1000, help="Adam steps")
    parser.add_argument("--iterations", type=int, default=9000, help="most L-BFGS iterations")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="stop training after this many seconds (default: none)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser.parse_args(argv)


def collocation_points(args: argparse.Namespace, domain: Rectangle) -> np.ndarray:
    """Latin hypercube points of the square, and more in the strip below the lid."""
    points = domain.sample_interior(args.collocation, method="lhs", seed=args.seed)
    if args.near_lid > 0:
        strip = Rectangle((LO[0], 0.9), HI)
        extra = strip.sample_interior(args.near_lid, method="lhs", seed=args.seed + 1)
        points = np.concatenate([points, extra])
    return points


def build(args: argparse.Namespace) -> Problem:
    """The cavity problem: three residuals; the lid, the walls (weighted) and the pressure at
    (0, 0) as loss terms."""
    domain = Rectangle(LO, HI)
    net = MLP(2, width=args.width, depth=args.depth, seed=args.seed, lo=LO, hi=HI,
              dtype=td.f64, out_dim=3)

    def on_lid(p):
        return np.isclose(p[:, 1], HI[1])

    w, n = args.bc_weight, args.boundary
    conditions = [
        DirichletBC(domain, lambda p: lid_velocity(p[:, 0], args.lid), n=n, where=on_lid,
                    output="u", weight=w),
        DirichletBC(domain, 0.0, n=n, where=lambda p: ~on_lid(p), output="u", weight=w),
        DirichletBC(domain, 0.0, n=2 * n, output="v", weight=w),
        Observations(np.array([[0.0, 0.0]]), np.zeros(1), output="p"),
    ]
    return Problem(domain, [momentum_x, momentum_y, continuity], conditions, net,
                   outputs=("u", "v", "p"), collocation=collocation_points(args, domain),
                   seed=args.seed)


def centreline_deviations(problem: Problem) -> dict:
    """The network's u on x = 0.5 and v on y = 0.5 at Ghia's points, and the largest absolute
    deviation of each from the table."""
    g = GHIA_RE100
    u = problem.predict(np.stack([np.full_like(g.y, 0.5), g.y], axis=1), output="u")
    v = problem.predict(np.stack([g.x, np.full_like(g.x, 0.5)], axis=1), output="v")
    return {"u": u, "v": v, "max_dev_u": float(np.abs(u - g.u).max()),
            "max_dev_v": float(np.abs(v - g.v).max())}


def plot_centrelines(problem: Problem, path: Path, lid: str) -> Path:
    """u(0.5, y) and v(x, 0.5) of the network as lines, Ghia's points as markers."""
    g = GHIA_RE100
    s = np.linspace(0.0, 1.0, 201)
    half = np.full_like(s, 0.5)
    u = problem.predict(np.stack([half, s], axis=1), output="u")
    v = problem.predict(np.stack([s, half], axis=1), output="v")
    fig = Figure(figsize=(10.0, 4.5))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(u, s, label=f"PINN ({lid} lid)")
    left.plot(g.u, g.y, "o", mfc="none", label="Ghia et al. 1982")
    left.set_xlabel("u(0.5, y)")
    left.set_ylabel("y")
    right.plot(s, v, label=f"PINN ({lid} lid)")
    right.plot(g.x, g.v, "o", mfc="none", label="Ghia et al. 1982")
    right.set_xlabel("x")
    right.set_ylabel("v(x, 0.5)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("lid-driven cavity, Re 100: centreline velocities")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_streamlines(x: np.ndarray, y: np.ndarray, uvp: np.ndarray, path: Path) -> Path:
    """Streamlines over the speed."""
    fig = Figure(figsize=(5.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    speed = np.hypot(uvp[..., 0], uvp[..., 1])
    mesh = ax.pcolormesh(x, y, speed.T, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="speed")
    ax.streamplot(x, y, uvp[..., 0].T, uvp[..., 1].T, color="w", density=1.2, linewidth=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_aspect("equal")
    ax.set_title("lid-driven cavity, Re 100")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def boundary_errors(problem: Problem, lid: str) -> tuple[float, float, float]:
    """The largest ``|u - lid(x)|`` or ``|v|`` on the lid and ``|(u, v)|`` on the other walls,
    away from the lid's corners (the 10 % of each side nearest them), and the largest error on
    the boundary near those corners, where the lid's velocity changes fastest (or jumps)."""
    s = np.linspace(0.0, 1.0, 401)
    lid_points = np.stack([s, np.ones_like(s)], 1)
    walls = np.concatenate([np.stack([s, np.zeros_like(s)], 1),
                            np.stack([np.zeros_like(s), s], 1), np.stack([np.ones_like(s), s], 1)])
    target = np.zeros((len(lid_points) + len(walls), 2))
    target[:len(s), 0] = lid_velocity(s, lid)
    points = np.concatenate([lid_points, walls])
    error = np.abs(problem.predict(points)[:, :2] - target).max(axis=1)
    corner = ((points[:, 0] < 0.1) | (points[:, 0] > 0.9)) & (points[:, 1] > 0.9)
    on_lid = np.arange(len(points)) < len(s)
    return (float(error[on_lid & ~corner].max()), float(error[~on_lid & ~corner].max()),
            float(error[corner].max()))


def train(problem: Problem, args: argparse.Namespace, callbacks=()) -> Trainer:
    """Adam with an exponentially decaying learning rate, then L-BFGS; the trainer ends at the
    best parameters it saw."""
    trainer = Trainer(problem, problem.get_flat(), progress=args.progress,
                      time_limit=args.time_limit, callbacks=callbacks)
    trainer.adam(args.adam, lr=1e-3, schedule=ExponentialDecay(0.1, every=max(args.adam, 1)))
    if trainer.stopped_reason != "time limit":
        trainer.lbfgs(max_iter=args.iterations)
    return trainer


def run(args: argparse.Namespace) -> dict:
    """Build, train, compare with Ghia et al.; print and return the deviations."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problem = build(args)
    trainer = train(problem, args)
    wall = time.perf_counter() - start
    dev = centreline_deviations(problem)

    x = np.linspace(LO[0], HI[0], 101)
    y = np.linspace(LO[1], HI[1], 101)
    uvp = problem.predict_grid(x, y)
    for k, name in enumerate(problem.outputs):
        plot_solution(x, y, uvp[..., k], args.out / f"solution_{name}.png", title=name,
                      ylabel="y")
    plot_streamlines(x, y, uvp, args.out / "streamlines.png")
    plot_centrelines(problem, args.out / "centrelines.png", args.lid)
    plot_loss_history(trainer.history, args.out / "loss.png", title="lid-driven cavity, Re 100")
    inner = np.stack([g.reshape(-1) for g in np.meshgrid(x[1:-1], y[1:-1], indexing="ij")], 1)
    continuity_rms = float(np.sqrt(np.mean(problem.residual(inner)[:, 2] ** 2)))
    lid_error, wall_speed, corner_error = boundary_errors(problem, args.lid)

    print(f"training: {trainer.step} steps (Adam then L-BFGS), {wall:.0f} s (compile "
          f"included), stopped: {trainer.stopped_reason}, kept step {trainer.best_step}, "
          f"loss {trainer.best_value:.3e}")
    if args.lid == "smooth":
        print(f"note: the lid is smoothed to u = 1 - (2x - 1)^{LID_POWER} (Ghia's lid is u = 1 "
              f"up to the corners); the deviations include that difference")
    print(f"boundary: largest |(u - lid(x), v)| on the lid {lid_error:.2e}, |(u, v)| on the "
          f"walls {wall_speed:.2e} (both 0.1 or more from the lid's corners), error within 0.1 "
          f"of the corners {corner_error:.2e}")
    print(f"continuity residual (RMS on a 99 x 99 grid): {continuity_rms:.2e}")
    print(f"max deviation from Ghia et al. (Re 100, 17 points): u(0.5, y) "
          f"{dev['max_dev_u']:.4f}, v(x, 0.5) {dev['max_dev_v']:.4f} (lid speed 1)")
    return {"max_dev_u": dev["max_dev_u"], "max_dev_v": dev["max_dev_v"], "u": dev["u"],
            "v": dev["v"], "continuity_rms": continuity_rms, "lid_error": lid_error,
            "wall_speed": wall_speed, "corner_error": corner_error, "wall": wall,
            "steps": trainer.step, "loss": trainer.best_value}


def main(argv: list[str] | None = None) -> dict:
    """Run the example in float64 on the CPU."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64)
    return run(args)


if __name__ == "__main__":
    main()
