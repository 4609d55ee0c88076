"""One training step of the Burgers PINN on a CUDA GPU (loss + gradient w.r.t. all 3,021
parameters, float32): tidal, PyTorch and JAX on the same GPU, parameters and points, in one run.

The problem is the one of :mod:`pinn_step` (network 2 -> 8 x 20 tanh -> 1, 10,000 Latin-hypercube
collocation points, 100 initial/boundary points, nu = 0.01/pi); points and parameters come from
:mod:`pinn_peers`. tidal runs with ``td.init(arch="cuda", default_fp=td.f32)`` and Taichi's offline
cache off (so its first call is a true cold start). The peers are the math of
``pinn_peers.torch_step`` / ``pinn_peers.jax_step`` with their tensors on the GPU: PyTorch with
full-float32 matrix products (TF32 off, its default), JAX with ``jit(value_and_grad)`` at
``"highest"`` matrix-product precision (full float32), and JAX again at its default precision
(TF32 on recent GPUs) for reference.

Each step returns the loss and the gradient as host (NumPy) values, so every timed call ends with a
device-to-host copy and is synchronised. Prints the median (and minimum) per-step time of each,
the cold first-call time (build + compile + first step), the ratio of tidal to the fastest
full-float32 peer, the agreement of loss and gradient between tidal and each peer and with the
float64 NumPy reference loss, and, unless ``--no-f64``, tidal in float64 on CUDA against tidal in
float64 on the CPU.

Exits with status 2 and a message, printing no timings, when tidal cannot run on CUDA here (no
NVIDIA driver, or Taichi fell back to another backend).

Run: ``python benchmarks/pinn_step_gpu.py [--repeats 20] [--no-f64]``.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

# JAX would otherwise reserve 75% of the GPU's memory at import, next to Taichi and PyTorch.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pinn_peers as peers  # noqa: E402
import taichi as ti  # noqa: E402
from common import rel  # noqa: E402

import tidal as td  # noqa: E402
from tidal.solvers import MLP  # noqa: E402
from tidal.solvers.burgers import burgers_problem  # noqa: E402

N_F, N_B = 10_000, 100


# -- steps -------------------------------------------------------------------------------------

def tidal_step(dtype):
    """A builder of tidal's step in ``dtype`` on the backend of the last ``td.init``."""

    def build(params, points):
        net = MLP(2, width=20, depth=8, dtype=dtype)
        loss = burgers_problem(net, np.stack([points["x_f"], points["t_f"]], 1),
                               np.stack([points["x_b"], points["t_b"]], 1), points["u_b"])
        flat = peers.flat_from_layers(params)
        return lambda: loss.value_and_grad(flat)

    return build


def torch_cuda_step(params, points):
    """``pinn_peers.torch_step`` with every tensor on the GPU (float32, TF32 off)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    return peers.torch_step(params, points, device="cuda")


def jax_cuda_step(precision):
    """``pinn_peers.jax_step`` (arrays on JAX's default device, the GPU) at a matrix-product
    precision; the step is traced, compiled and called inside that precision's context."""

    def build(params, points):
        import jax

        with jax.default_matmul_precision(precision):
            inner = peers.jax_step(params, points)

        def step():
            with jax.default_matmul_precision(precision):
                return inner()

        return step

    return build


# -- timing ------------------------------------------------------------------------------------

def measure(build, params, points, repeats):
    """Cold first call (build + compile + first step) in s, and per-step times in ms."""
    start = time.perf_counter()
    step = build(params, points)
    result = step()
    cold = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(1e3 * (time.perf_counter() - start))
    return cold, float(np.median(times)), float(np.min(times)), result


def flat_grad(result):
    loss, grads = result
    return loss, (grads if isinstance(grads, np.ndarray) else peers.flat_from_layers(grads))


def device_name():
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    if shutil.which("nvidia-smi"):
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, check=False)
        return r.stdout.strip() or "unknown NVIDIA GPU"
    return "unknown GPU"


def init_cuda(fp):
    """``td.init`` on CUDA; None if it worked, otherwise why not."""
    try:
        td.init(arch="cuda", default_fp=fp, offline_cache=False)
    except td.TidalError as err:
        return f"tidal could not start on CUDA: {err}".splitlines()[0]
    actual = ti.lang.impl.current_cfg().arch
    if actual != ti.cuda:
        return f"Taichi is running on {actual}, not CUDA"
    return None


def peer_builders():
    builders = {}
    try:
        import torch

        if torch.cuda.is_available():
            builders["PyTorch"] = torch_cuda_step
        else:
            print("  (PyTorch has no CUDA device: skipped)")
    except ImportError:
        print("  (PyTorch not installed: skipped)")
    try:
        import jax

        if jax.default_backend() == "gpu":
            builders["JAX"] = jax_cuda_step("highest")
            builders["JAX-TF32"] = jax_cuda_step("default")
        else:
            print(f"  (JAX runs on {jax.default_backend()}, not the GPU: skipped)")
    except ImportError:
        print("  (JAX not installed: skipped)")
    return builders


# -- main --------------------------------------------------------------------------------------

def float64_check(params, points, repeats):
    """tidal in float64 on CUDA against tidal in float64 on the CPU (and the NumPy loss)."""
    print("float64 check: tidal on CUDA vs tidal on the CPU, both default_fp=f64")
    why = init_cuda(td.f64)
    if why:
        print(f"  skipped: {why}")
        return
    cold, med, _, gpu = measure(tidal_step(td.f64), params, points, repeats)
    print(f"  tidal f64 CUDA {med:8.2f} ms per step   (cold first call {cold:6.2f} s)")
    td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
    start = time.perf_counter()
    cpu = tidal_step(td.f64)(params, points)()
    print(f"  tidal f64 CPU  one step incl. compile {time.perf_counter() - start:6.2f} s")
    ref = peers.numpy_loss(params, points)
    print(f"  loss CUDA {gpu[0]:.15e}  CPU {cpu[0]:.15e}  NumPy {ref:.15e}")
    print(f"  CUDA vs CPU: loss rel {rel(gpu[0], cpu[0]):.1e}, gradient max-norm rel "
          f"{rel(gpu[1], cpu[1]):.1e};  CUDA loss vs NumPy f64 rel {rel(gpu[0], ref):.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-f64", action="store_true", help="skip the float64 CUDA/CPU check")
    args = parser.parse_args()
    why = init_cuda(td.f32)
    if why:
        print(f"pinn_step_gpu: no CUDA here, nothing measured ({why}).", file=sys.stderr)
        return 2
    params = peers.init_params(seed=0)
    points = peers.burgers_points(n_f=N_F, n_b=N_B, seed=0)
    print(f"Burgers PINN step on {device_name()}: {peers.n_params(params)} parameters, "
          f"{N_F:,} + {N_B} points, float32, median of {args.repeats} (min in brackets)")
    builders = {"tidal": tidal_step(td.f32)}
    builders.update(peer_builders())
    times, results = {}, {}
    for name, build in builders.items():
        cold, times[name], fastest, results[name] = measure(build, params, points, args.repeats)
        print(f"  {name:<9s} {times[name]:8.2f} ms per step  ({fastest:7.2f})   cold first call "
              f"{cold:6.2f} s")
    ref_loss, ref_grad = flat_grad(results["tidal"])
    np_loss = peers.numpy_loss(params, points)
    print(f"  loss: tidal {ref_loss:.8e}, NumPy float64 reference {np_loss:.8e} "
          f"(rel {rel(ref_loss, np_loss):.1e})")
    for name in builders:
        if name == "tidal":
            continue
        loss, grad = flat_grad(results[name])
        print(f"  {name} vs tidal: loss rel {rel(loss, ref_loss):.1e}, gradient max-norm rel "
              f"{rel(grad, ref_grad):.1e}")
    full = [n for n in times if n in ("PyTorch", "JAX")]
    if full:
        best = min(full, key=times.get)
        print(f"ratio tidal / fastest float32 peer ({best}): {times['tidal'] / times[best]:.2f}x")
    if not args.no_f64:
        float64_check(params, points, max(3, args.repeats // 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
