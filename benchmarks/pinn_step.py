"""One training step of the Burgers PINN (loss + gradient w.r.t. all 3,021 parameters, float32):
tidal, PyTorch and JAX on the same parameters and points, in one run.

The problem (network 2 -> 8 x 20 tanh -> 1, 10,000 Latin-hypercube collocation points, 100
initial/boundary points, nu = 0.01/pi) and the peers are defined in :mod:`pinn_peers`. tidal's
step is :func:`tidal.solvers.burgers.burgers_problem`: ``u_x, u_xx`` by Taylor mode, ``u_t`` by
forward mode, parameter gradients from the tape's generated adjoint kernels. Prints the median
per-step time of each, the ratio of tidal to the faster peer, agreement of losses and gradients,
and cold first-call times (tidal with Taichi's offline cache off).

Run: ``python benchmarks/pinn_step.py [--repeats 10]``.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pinn_peers as peers  # noqa: E402

import tidal as td  # noqa: E402
from tidal.solvers import MLP  # noqa: E402
from tidal.solvers.burgers import burgers_problem  # noqa: E402


def tidal_step(params, points):
    net = MLP(2, width=20, depth=8, dtype=td.f32)
    loss = burgers_problem(net, np.stack([points["x_f"], points["t_f"]], 1),
                       np.stack([points["x_b"], points["t_b"]], 1), points["u_b"])
    flat = peers.flat_from_layers(params)
    return lambda: loss.value_and_grad(flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    td.init(arch="cpu", default_fp=td.f32, offline_cache=False)
    params = peers.init_params(seed=0)
    points = peers.burgers_points(n_f=10_000, n_b=100, seed=0)
    print(f"Burgers PINN step: {peers.n_params(params)} parameters, 10,000 + 100 points, "
          f"float32, {os.cpu_count()} cores, median of {args.repeats}")
    builders = {"tidal": tidal_step}
    for name, builder in (("PyTorch", peers.torch_step), ("JAX", peers.jax_step)):
        try:
            __import__({"PyTorch": "torch", "JAX": "jax"}[name])
            builders[name] = builder
        except ImportError:
            print(f"  ({name} not installed: skipped)")
    times, results = {}, {}
    for name, builder in builders.items():
        cold, times[name], results[name] = peers.time_step(builder, params, points,
                                                           args.repeats)
        print(f"  {name:<8s} {times[name]:8.1f} ms per step   (cold first call "
              f"{cold / 1e3:6.2f} s)")
    ref_loss, ref_grad = results["tidal"]
    for name in builders:
        if name == "tidal":
            continue
        loss, grads = results[name]
        g = peers.flat_from_layers(grads)
        print(f"  {name} vs tidal: loss rel {abs(loss - ref_loss) / abs(loss):.1e}, gradient "
              f"max-norm rel {np.max(np.abs(g - ref_grad)) / np.max(np.abs(g)):.1e}")
    peers_done = [n for n in times if n != "tidal"]
    if peers_done:
        best = min(peers_done, key=times.get)
        print(f"ratio tidal / fastest peer ({best}): {times['tidal'] / times[best]:.1f}x")


if __name__ == "__main__":
    main()
