"""FNO on 2-D Darcy flow, -div(a grad u) = 1 with u = 0 on the boundary (Li et al., ICLR 2021).

The coefficient a is 12 or 3 (a thresholded Gaussian random field) on an s x s node grid, from
tidal's own generator (tidal.surrogates.generate("darcy", n, s=...), cached in --data). As in the
paper: 1,000 training and 100 test pairs, the coefficient normalised pointwise, an FNO of width
32 with 4 Fourier layers and 12 modes (8 at s = 16), Adam at 1e-3 halved every 100 epochs,
batches of 20, relative L2 loss. The network's output is scaled by one constant (the solution's
training standard deviation), which the relative error does not see. The pointwise mean and
standard deviation of the coefficient and the output scale are the model's normalisers
(FNO.set_normalisers), saved with it: predict() takes the raw coefficient and returns u.

Prints the test relative L2 and writes DIR/fno_darcy.png (input coefficient, reference,
prediction and error for one test sample, and the training curve) and DIR/fno_darcy.npz (the
parameters and the normalisers). Measured figures are in docs/surrogates.md.

Run: python examples/fno_darcy.py --s 16 --epochs 20 --out runs/fno
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
    parser.add_argument("--s", type=int, default=32, help="grid points per side")
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=None, help="default 12 (8 for s <= 16)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the network and batches")
    parser.add_argument("--precision", choices=["f32", "f64"], default="f32")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--progress", action="store_true")
    return parser.parse_args(argv)


def data(args: argparse.Namespace):
    """Training and test inputs and outputs (raw), and the normalisers of the training set: the
    coefficient's pointwise mean and standard deviation, and one output scale."""
    d = common.cached("darcy", args.train + args.test, args.data, s=args.s)
    a, u = d.inputs, d.outputs
    tr = slice(0, args.train)
    te = slice(args.train, args.train + args.test)
    normalisers = dict(input_mean=a[tr].mean(axis=0), input_std=a[tr].std(axis=0) + 1e-5,
                       output_scale=u[tr].std())
    return a[tr], u[tr], a[te], u[te], normalisers


def run(args: argparse.Namespace) -> dict:
    """Generate or load the data, train, print the test error, write the figure."""
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    a, u, at, ut, normalisers = data(args)
    modes = args.modes or (8 if args.s <= 16 else 12)
    real = td.f32 if args.precision == "f32" else td.f64
    net = FNO(2, modes, width=args.width, layers=args.layers, seed=args.seed, dtype=real)
    net.set_normalisers(**normalisers)  # saved with the model: predict() takes raw a
    result = common.train(net, a, u, at, ut, args.epochs, args.lr, args.batch, args.seed,
                          progress=args.progress)
    net.save(args.out / "fno_darcy.npz")
    print(f"FNO Darcy {args.s}x{args.s} (modes {modes}, width {args.width}, {args.layers} "
          f"layers, {args.precision}): {args.epochs} epochs of {len(a)} samples, "
          f"{result['seconds_per_epoch']:.2f} s/epoch, {time.perf_counter() - start:.0f} s in "
          f"all")
    print(f"untrained test relative L2 {result['untrained_l2']:.4f}; "
          f"train {result['train_l2']:.4f}")
    print(f"test relative L2 {result['test_l2']:.4f}")
    if not args.no_figure:
        figure(net, at[0], at[:1], ut[0], result, args.out / "fno_darcy.png")
    return result


def figure(net: FNO, coefficient, a, u, result: dict, path: Path) -> Path:
    """Input coefficient, reference, prediction, error of one test sample; training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = net.predict(a)[0]
    fig, axes = plt.subplots(1, 5, figsize=(22, 4))
    panels = [(coefficient, "coefficient a"), (u, "reference u"),
              (pred, "FNO prediction"), (pred - u, "error")]
    for ax, (img, title) in zip(axes, panels):
        im = ax.imshow(img, origin="lower", extent=(0, 1, 0, 1))
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    common.curve_panel(axes[4], result)
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
