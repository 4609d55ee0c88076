"""FNO on the 1-D viscous Burgers equation u_t + (u^2/2)_x = nu u_xx, periodic on [0, 1): the
map from u(x, 0) to u(x, 1) (Li et al., ICLR 2021).

Data from tidal's own generator (tidal.surrogates.generate("burgers", n, n=256, nu=0.1), the
FNO script's random initial conditions, pseudo-spectral reference solver), cached in --data:
1,000 training and 200 test pairs on 256 points. As in the paper: an FNO of width 64 with 4
Fourier layers and 16 modes, Adam at 1e-3, batches of 20, relative L2 loss. The paper halves the
rate every 100 epochs of its 500; over 100 epochs that is a constant rate, at which the test
error jumps between 0.6 and 5 % from one epoch to the next, so the last epoch's error is a draw
from that noise. By default the rate is annealed to zero over the run instead (--schedule
cosine); --schedule step is the paper's. The inputs are not normalised; the network's outputs
are scaled by one constant (their training standard deviation; at nu = 0.1 u(x, 1) is about 1 %
of u(x, 0)), which the relative error does not see. The scale is the model's output normaliser
(FNO.set_normalisers), saved with it, so predict() returns u(x, 1) itself.

Prints the test relative L2 and writes DIR/fno_burgers.png (four test samples: initial
condition, reference and prediction at t = 1 on their own scale, their errors, and the training
curve) and DIR/fno_burgers.npz (the parameters and the output scale).

Acceptance target (issue 14): test relative L2 at most 3 % after 100 epochs (the paper reports
1.49 % after 500 epochs on its own data). Measured figures are in docs/surrogates.md.

Run: python examples/fno_burgers.py --out runs/fno
"""

import argparse
import sys
import time
from pathlib import Path

import tidal as td
from tidal.surrogates import FNO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fno_common as common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="grid points")
    parser.add_argument("--nu", type=float, default=0.1)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--modes", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--schedule", choices=["cosine", "step"], default="cosine",
                        help="cosine: the rate annealed to zero over the run (default); step: "
                        "halved every 100 epochs, the paper's (over 100 epochs a constant "
                        "rate, whose test error jumps between 0.6 and 5 %% from epoch to epoch)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network and batches")
    parser.add_argument("--precision", choices=["f32", "f64"], default="f32")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--progress", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Generate or load the data, train, print the test error, write the figure."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    d = common.cached("burgers", args.train + args.test, args.data, n=args.n, nu=args.nu)
    # u(x, 1) is about 1 % of u(x, 0) at nu = 0.1: the network's outputs are scaled by one
    # constant (the relative error does not see it), so that its targets start on the scale of
    # the untrained network's outputs; the scale is part of the model (saved with it), so
    # predict() returns u(x, 1) itself
    a, u = d.inputs[:args.train], d.outputs[:args.train]
    at, ut = d.inputs[args.train:], d.outputs[args.train:]
    real = td.f32 if args.precision == "f32" else td.f64
    net = FNO(1, args.modes, width=args.width, layers=args.layers, seed=args.seed, dtype=real)
    net.set_normalisers(output_scale=u.std())
    result = common.train(net, a, u, at, ut, args.epochs, args.lr, args.batch, args.seed,
                          progress=args.progress, schedule=args.schedule)
    net.save(args.out / "fno_burgers.npz")
    print(f"FNO Burgers n={args.n}, nu={args.nu} (modes {args.modes}, width {args.width}, "
          f"{args.layers} layers, {args.precision}): {args.epochs} epochs of {len(a)} samples, "
          f"{result['seconds_per_epoch']:.2f} s/epoch, {time.perf_counter() - start:.0f} s in "
          f"all")
    print(f"untrained test relative L2 {result['untrained_l2']:.4f}; "
          f"train {result['train_l2']:.4f}")
    print(f"test relative L2 {result['test_l2']:.4f}")
    if not args.no_figure:
        figure(net, d.grids["x"], at[:4], ut[:4], result, args.out / "fno_burgers.png")
    return result


def figure(net: FNO, x, a, u, result: dict, path: Path) -> Path:
    """Four test samples (initial condition; reference and prediction at t = 1, on their own
    scale: u(x, 1) is about 1 % of u(x, 0); errors), and the training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = net.predict(a)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    for k in range(len(a)):
        axes[0].plot(x, a[k], color=f"C{k}")
        axes[1].plot(x, u[k], color=f"C{k}", lw=3, alpha=0.4)
        axes[1].plot(x, pred[k], "--", color=f"C{k}")
        axes[2].plot(x, pred[k] - u[k], color=f"C{k}")
    axes[0].set_title("input u(x, 0)")
    axes[1].set_title("u(x, 1): reference (wide), FNO (dashed)")
    axes[2].set_title("error at t = 1")
    for ax in axes[:3]:
        ax.set_xlabel("x")
    common.curve_panel(axes[3], result)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    """Run the example on the CPU in the precision asked for."""
    args = parse_args(argv)
    td.init(arch="cpu", default_fp=td.f32 if args.precision == "f32" else td.f64)
    return run(args)


if __name__ == "__main__":
    main()
