"""DeepONet on the antiderivative operator G: v -> u, u(x) = int_0^x v (Lu et al. 2021).

v from an RBF Gaussian random field (length scale 0.2) at m = 100 sensors, u at the same 100
points, 1,000 test functions (tidal.surrogates.generate, seed 1); branch [100, 40, 40] and trunk
[1, 40, 40] with ReLU (Glorot normal), Adam, 10,000 iterations. Two set-ups:

* ``--setup tidal`` (the default): 1,000 training functions (generate, seed 0), Adam on
  mini-batches of 150 functions (a new batch per iteration, every function once per epoch) at
  2e-3, divided by 4 for the last 2,000 iterations; an iteration costs what one full-batch
  iteration on 150 functions costs.
* ``--setup deepxde``: DeepXDE's antiderivative_aligned example, 150 training functions, full
  batch, Adam at 1e-3 throughout (for comparison).

Prints the test mean-squared error and the time, and writes DIR/deeponet.png (prediction against
reference for four test functions, and the training curve) and DIR/deeponet.npz (the
parameters).

Acceptance target (issue 14, item 3): test MSE at most 1e-5 after 10,000 iterations.
Measured figures are in docs/surrogates.md.

Run: python examples/deeponet_antiderivative.py --out runs/deeponet
"""

import argparse
import time
from pathlib import Path

import tidal as td
from tidal.solvers import CosineDecay, ExponentialDecay, StepDecay, Trainer
from tidal.surrogates import DeepONet, Supervised, generate

#: (training functions, batch size (None: full batch), learning rate, schedule) of each set-up
SETUPS = {"tidal": (1000, 150, 2e-3, "step"), "deepxde": (150, None, 1e-3, "none")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the network")
    parser.add_argument("--out", type=Path, default=Path("runs/deeponet"))
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--lr", type=float, default=None, help="(default: the set-up's)")
    parser.add_argument("--schedule", choices=["none", "step", "exponential", "cosine"],
                        default=None, help="step: lr / 4 for the last fifth (default: the "
                                           "set-up's)")
    parser.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    parser.add_argument("--setup", choices=["tidal", "deepxde"], default="tidal",
                        help="tidal: 1,000 functions, batches of 150; deepxde: 150, full batch")
    parser.add_argument("--batch", type=int, default=None, help="functions per Adam step "
                                                                "(default: the set-up's)")
    parser.add_argument("--train", type=int, default=None, help="training functions "
                                                                "(default: the set-up's)")
    parser.add_argument("--test", type=int, default=1000, help="test functions")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--width", type=int, default=40)
    parser.add_argument("--precision", choices=["f32", "f64"], default="f64")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    train, batch, lr, schedule = SETUPS[args.setup]
    args.train = train if args.train is None else args.train
    args.batch = batch if args.batch is None else args.batch
    args.lr = lr if args.lr is None else args.lr
    args.schedule = schedule if args.schedule is None else args.schedule
    return args


def build(args: argparse.Namespace) -> tuple[DeepONet, Supervised, Supervised]:
    """The network, the training objective and the test objective."""
    real = td.f64 if args.precision == "f64" else td.f32
    params = dict(m=args.sensors, length_scale=0.2)
    train = generate("antiderivative", args.train, seed=0, progress=False, **params)
    test = generate("antiderivative", args.test, seed=1, progress=False, **params)
    x = train.grids["x"]
    net = DeepONet(args.sensors, 1, width=args.width, depth=1, p=args.width,
                   activation=args.activation, seed=args.seed, dtype=real)
    objective = Supervised(net, train.inputs, x, train.outputs, batch_size=args.batch,
                           seed=args.seed)
    return net, objective, Supervised(net, test.inputs, x, test.outputs)


def _schedule(args: argparse.Namespace):
    if args.schedule == "step":
        return StepDecay(every=max(4 * args.iterations // 5, 1), factor=0.25)
    if args.schedule == "exponential":
        return ExponentialDecay(0.5, every=max(args.iterations // 5, 1))
    if args.schedule == "cosine":
        return CosineDecay()
    return None


def run(args: argparse.Namespace) -> dict:
    """Build, train with Adam, print the test error and time, write the figure."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    net, objective, test = build(args)
    built = time.perf_counter() - start
    trainer = Trainer(objective, net.get_flat(), progress=args.progress,
                      log_every=args.log_every, validation=test.mse)
    trainer.adam(args.iterations, lr=args.lr, schedule=_schedule(args))
    wall = time.perf_counter() - start
    h = trainer.history
    final = h.scalars["validation"][-1]  # test MSE at the last iterate
    kept = test.mse(trainer.params)
    net.set_flat(trainer.params)
    net.save(args.out / "deeponet.npz")
    train_mse = objective.mse(trainer.params)
    print(f"set-up {args.setup}: {args.train} training functions, batch "
          f"{args.batch or 'all'}, {args.activation}, lr {args.lr:g} (schedule "
          f"{args.schedule}), seed {args.seed}")
    print(f"DeepONet antiderivative: {trainer.step} Adam iterations, {wall:.1f} s "
          f"(data and compile {built:.1f} s; training {h.time[-1]:.1f} s, "
          f"{1e3 * h.time[-1] / max(trainer.step, 1):.2f} ms/iteration)")
    print(f"train MSE {train_mse:.3e}; test MSE {final:.3e} at step {h.step[-1]}, "
          f"{kept:.3e} at the kept step {trainer.best_step}")
    if not args.no_figure:
        figure(net, test, h, args.out / "deeponet.png")
    return {"test_mse": kept, "test_mse_last": final, "train_mse": train_mse, "wall": wall,
            "steps": trainer.step, "history": h}


def figure(net: DeepONet, test: Supervised, history, path: Path) -> Path:
    """Prediction against reference for four test functions, and the training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, v, u = test.points[:, 0], test.inputs[:4], test.outputs[:4]
    pred = net.predict(v, x)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for k in range(4):
        axes[0].plot(x, u[k], color=f"C{k}", lw=2, alpha=0.5)
        axes[0].plot(x, pred[k], "--", color=f"C{k}")
        axes[1].plot(x, pred[k] - u[k], color=f"C{k}")
    axes[0].set_title("u = G(v): reference (solid), DeepONet (dashed)")
    axes[1].set_title("error")
    axes[2].semilogy(history.step, history.loss, label="train MSE")
    axes[2].semilogy(history.step, history.scalars["validation"], label="test MSE")
    axes[2].set_xlabel("Adam iteration")
    axes[2].legend()
    for ax in axes[:2]:
        ax.set_xlabel("x")
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
