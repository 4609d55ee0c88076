"""Physics-informed DeepONet for the diffusion-reaction operator f -> u (no solutions in training).

DeepXDE's diff_rec_aligned_pideeponet set-up: ``u_t = D u_xx - k u^2 + f(x)`` on
``[0, 1] x [0, 1]`` with ``D = k = 0.01``, ``u = 0`` at ``t = 0`` and on ``x = 0, 1``; sources
``f`` from an RBF random field (length scale 0.2) at 50 sensors, 1,000 training functions (those
of ``generate("diffusion_reaction", 1000, seed=0)``, without their solutions), 50 per Adam
step; the residual at 260 points (200 inside, 40 on the sides, 20 at ``t = 0``) and each
condition at its own; branch ``[50, 128, 128, 128]``, trunk ``[2, 128, 128, 128]``, tanh,
Adam at 5e-4 (DeepXDE runs 20,000 iterations). The loss takes ``u_t`` and ``u_xx`` of the
network by Taylor mode in the trunk inputs.

Prints the mean relative L2 error against tidal's finite-difference reference on 100 test
functions (``generate("diffusion_reaction", 100, seed=1)``, 100 x 100 grid) and the time, and
writes DIR/pi_deeponet.png (prediction, reference and error for a test function; the training
curve) and DIR/pi_deeponet.npz (the parameters). Measured figures are in docs/surrogates.md.

Run: python examples/pi_deeponet_diffusion_reaction.py --out runs/pi_deeponet
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import (
    DeepONet,
    PhysicsInformed,
    PointCondition,
    diffusion_reaction_points,
    diffusion_reaction_residual,
    diffusion_reaction_sources,
    generate,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--functions", type=int, default=1000, help="training functions")
    parser.add_argument("--batch", type=int, default=50, help="functions per Adam step")
    parser.add_argument("--test", type=int, default=100, help="test functions")
    parser.add_argument("--width", type=int, default=128, help="neurons per layer and p")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers per network")
    parser.add_argument("--precision", choices=["f32", "f64"], default="f32")
    parser.add_argument("--seed", type=int, default=0, help="network, points and batches")
    parser.add_argument("--out", type=Path, default=Path("runs/pi_deeponet"))
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--progress", action="store_true")
    return parser.parse_args(argv)


def build(args: argparse.Namespace):
    """The network, the physics-informed objective and the test set."""
    real = td.f64 if args.precision == "f64" else td.f32
    points, boundary, initial = diffusion_reaction_points(200, 40, 20, seed=args.seed)
    sensors, forcing = diffusion_reaction_sources(args.functions, seed=0, at=points[:, 0])
    net = DeepONet(50, 2, width=args.width, depth=args.depth, p=args.width,
                   activation="tanh", seed=args.seed, dtype=real)
    objective = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01, real), sensors,
                                points, forcing, [PointCondition(boundary, 0.0, "bc"),
                                                  PointCondition(initial, 0.0, "ic")],
                                batch_size=args.batch, seed=args.seed)
    test = generate("diffusion_reaction", args.test, seed=1, progress=False)
    return net, objective, test


def grid_of(test) -> np.ndarray:
    """The test grid's points ``(x, t)`` in the order of ``outputs[i].ravel()`` (t rows)."""
    return np.stack(np.meshgrid(test.grids["x"], test.grids["t"]), axis=-1).reshape(-1, 2)


def run(args: argparse.Namespace) -> dict:
    """Build, train with Adam, print the test error and time, write the figure."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    net, objective, test = build(args)
    grid, solutions = grid_of(test), test.outputs.reshape(len(test), -1)

    def test_error(flat) -> float:
        net.set_flat(flat)
        pred = net.predict(test.inputs, grid)
        return float(np.mean(np.linalg.norm(pred - solutions, axis=1)
                             / np.linalg.norm(solutions, axis=1)))

    built = time.perf_counter() - start
    trainer = Trainer(objective, net.get_flat(), progress=args.progress,
                      log_every=args.log_every, validation=test_error)
    trainer.adam(args.iterations, lr=args.lr)
    wall = time.perf_counter() - start
    h = trainer.history
    error = test_error(trainer.params)
    net.set_flat(trainer.params)
    net.save(args.out / "pi_deeponet.npz")
    print(f"PI-DeepONet diffusion-reaction: {trainer.step} Adam iterations, {wall:.1f} s "
          f"(data {built:.1f} s; training incl. compile {h.time[-1]:.1f} s, "
          f"{1e3 * h.time[-1] / max(trainer.step, 1):.1f} ms/iteration)")
    print(f"test relative L2 (mean over {len(test)} functions) {error:.4f} at the kept step "
          f"{trainer.best_step}; last logged {h.scalars['validation'][-1]:.4f}")
    if not args.no_figure:
        figure(net, test, h, args.out / "pi_deeponet.png")
    return {"error": error, "wall": wall, "steps": trainer.step, "history": h}


def figure(net: DeepONet, test, history, path: Path) -> Path:
    """Prediction, reference and error for the first test function, and the training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    u = test.outputs[0]
    pred = net.predict(test.inputs[:1], grid_of(test))[0].reshape(u.shape)
    extent = (0.0, 1.0, 0.0, 1.0)
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for ax, field, title in ((axes[0], pred, "PI-DeepONet"), (axes[1], u, "reference (FD)"),
                             (axes[2], pred - u, "error")):
        im = ax.imshow(field, origin="lower", extent=extent, aspect="auto")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("t")
        fig.colorbar(im, ax=ax)
    axes[3].semilogy(history.step, history.loss, label="loss (batch)")
    axes[3].semilogy(history.step, history.scalars["validation"], label="test relative L2")
    axes[3].set_xlabel("Adam iteration")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    """Run the example on the CPU in the precision asked for."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f64 if args.precision == "f64" else td.f32)
    return run(args)


if __name__ == "__main__":
    main()
