"""One training step of tidal's FNO and DeepONet against PyTorch on the same device (issue 14,
target 6: a GPU; at most 1.0x PyTorch's step time is the target).

The models, with the same float32 parameters on both sides:

* FNO 2-D, width 32, 4 Fourier layers, 12 x 12 modes (fewer on grids under 24 x 24),
  projection 128, on a ``--grid`` x ``--grid`` grid, batches of 20 fields, relative-L2 loss
  (PyTorch: the paper's FNO2d of ``surrogates_fno.TorchFNO``);
* DeepONet of DeepXDE's antiderivative example: 100 sensors, branch and trunk of one hidden
  layer of 40 ReLU neurons, p = 40, batches of 100 functions x 100 points, mean-squared error.

For each it prints the agreement of loss and parameter gradient between tidal and PyTorch on one
batch (tidal's gradient against PyTorch autograd's, mapped to tidal's parameter order), then the
mean time of a training step (loss, gradient, Adam update; ``--repeats`` steps after two, the
device synchronised before and after) and the ratio tidal / PyTorch. tidal runs with
``td.init(arch=..., default_fp=td.f32)``; the data are random (timings and gradients do not depend
on them).

Exits with status 2 and a message, printing no timings, when tidal cannot run on the requested
backend (no NVIDIA driver, or Taichi fell back to another one). Without PyTorch it prints tidal's
numbers alone. ``--arch cpu`` runs the same comparison on the CPU (a check of the script).

Run: ``python benchmarks/surrogates_gpu.py [--arch cuda] [--grid 64] [--repeats 20]``.
"""

import argparse
import os
import sys
import time

import numpy as np
import taichi as ti

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tidal as td  # noqa: E402
from tidal.dsl import runtime  # noqa: E402
from tidal.solvers import Trainer  # noqa: E402
from tidal.surrogates import FNO, DeepONet, Supervised  # noqa: E402

try:
    import torch
except ImportError:  # tidal's numbers alone
    torch = None

BATCH_FIELDS, FUNCTIONS, POINTS = 20, 100, 100


def tidal_step_time(data, net, repeats: int) -> float:
    """Mean seconds per step of ``Trainer.adam`` on ``data`` over ``repeats`` steps, after two
    (its host copies of the parameters included, as in training)."""
    trainer = Trainer(data, net.get_flat(), progress=False, keep_best=False, log_every=10 ** 9)
    trainer.adam(2, lr=1e-4)
    ti.sync()
    start = time.perf_counter()
    trainer.adam(repeats, lr=1e-4)
    ti.sync()
    return (time.perf_counter() - start) / repeats


def torch_step_time(model, loss_of, repeats: int, device) -> float:
    """Mean seconds per Adam step of ``model`` on ``loss_of()`` over ``repeats`` steps, after
    two."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        loss_of().backward()
        opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    step()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()
    return (time.perf_counter() - start) / repeats


def print_step(t_tidal: float, t_torch: float | None = None) -> None:
    if t_torch is None:
        print(f"  step: tidal {t_tidal * 1e3:.2f} ms (PyTorch not installed)")
    else:
        print(f"  step: tidal {t_tidal * 1e3:.2f} ms, PyTorch {t_torch * 1e3:.2f} ms; ratio "
              f"{t_tidal / t_torch:.2f}")


def agreement(what: str, loss_t: float, grad_t, loss_p: float, grad_p) -> None:
    scale = np.max(np.abs(grad_p))
    print(f"  {what}: loss tidal {loss_t:.7g} PyTorch {loss_p:.7g} (rel. diff "
          f"{abs(loss_t - loss_p) / abs(loss_p):.1e}); gradient max diff / max "
          f"{np.max(np.abs(grad_t - grad_p)) / scale:.1e}")


# -- FNO -------------------------------------------------------------------------------------------


def fno_gradient(model, net: FNO) -> np.ndarray:
    """PyTorch's parameter gradients of ``surrogates_fno.TorchFNO`` in tidal's flat order."""
    L, (m1, m2) = net.layers, net.modes
    w = torch.cat([model.w1.grad, model.w2.grad], dim=3)  # (L, in, out, 2 m1, m2)
    R = w.permute(0, 3, 4, 2, 1).reshape(L, 2 * m1 * m2, net.width, net.width)
    parts = [model.P.grad, model.pb.grad, torch.stack([R.real, R.imag], dim=-1), model.W.grad,
             model.Wb.grad, model.Q1.grad, model.q1b.grad, model.Q2.grad, model.q2b.grad]
    return np.concatenate([p.detach().cpu().double().numpy().ravel() for p in parts])


def fno(args, device) -> None:
    from surrogates_fno import TorchFNO, relative_l2

    s = args.grid
    modes = min(12, s // 2)  # (8 at 16 x 16, as in surrogates_fno.py)
    net = FNO(2, modes, width=32, layers=4, dtype=td.f32)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10 * BATCH_FIELDS, s, s))
    u = np.sin(a) + 0.1 * a
    print(f"FNO 2-D, {s} x {s}, width 32, 4 layers, {modes} x {modes} modes, batches of "
          f"{BATCH_FIELDS}")
    flat = net.get_flat()
    one = Supervised(net, a[:BATCH_FIELDS], outputs=u[:BATCH_FIELDS], loss="relative_l2")
    loss_t, grad_t = one.value_and_grad(flat)
    data = Supervised(net, a, outputs=u, loss="relative_l2", batch_size=BATCH_FIELDS)
    t_tidal = tidal_step_time(data, net, args.repeats)
    if torch is None:
        return print_step(t_tidal)
    model = TorchFNO(net, flat).to(device)
    at = torch.tensor(a, dtype=torch.float32, device=device)
    ut = torch.tensor(u, dtype=torch.float32, device=device)
    loss = relative_l2(model(at[:BATCH_FIELDS]), ut[:BATCH_FIELDS])
    loss.backward()
    agreement("one batch", loss_t, grad_t, loss.item(), fno_gradient(model, net))
    order = rng.permutation(len(a))
    k = [0]

    def batch_loss():
        rows = order[(k[0] * BATCH_FIELDS) % len(a):][:BATCH_FIELDS]
        k[0] += 1
        return relative_l2(model(at[rows]), ut[rows])

    print_step(t_tidal, torch_step_time(model, batch_loss, args.repeats, device))


# -- DeepONet --------------------------------------------------------------------------------------


def deeponet_layers(net: DeepONet, flat) -> list:
    """tidal's DeepONet parameters (one hidden layer each) as PyTorch tensors: branch W0, b0,
    Wout, bout, trunk W0, b0, Wout, bout, b0."""
    shapes = []
    for sub, n_in in ((net.branch, net.m), (net.trunk, net.trunk_dim)):
        shapes += [(sub.width, n_in), (sub.width,), (net.p, sub.width), (net.p,)]
    shapes.append((1,))
    out, at = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(np.asarray(flat[at:at + size]).reshape(shape))
        at += size
    assert at == len(flat)
    return out


class TorchDeepONet(torch.nn.Module if torch is not None else object):
    """``sum_k b_k(v) relu(t(y))_k + b0`` with tidal's parameters (ReLU, one hidden layer)."""

    def __init__(self, net: DeepONet, flat):
        super().__init__()
        self.params = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(x, dtype=torch.float32))
             for x in deeponet_layers(net, flat)])

    def forward(self, v, y):
        W0, b0, W1, b1, T0, c0, T1, c1, bias = self.params
        branch = torch.relu(v @ W0.T + b0) @ W1.T + b1
        trunk = torch.relu(torch.relu(y @ T0.T + c0) @ T1.T + c1)
        return branch @ trunk.T + bias


def deeponet(args, device) -> None:
    net = DeepONet(100, 1, width=40, depth=1, p=40, activation="relu", dtype=td.f32)
    rng = np.random.default_rng(1)
    v = rng.normal(size=(10 * FUNCTIONS, 100))
    x = (np.arange(POINTS) + 0.5) / POINTS  # none at 0: ReLU'(0) is a convention
    out = np.cumsum(v, axis=1)[:, (x * 100).astype(int)] / 100.0
    print(f"DeepONet, 100 sensors, 40 x 1 ReLU branch and trunk, p = 40, batches of "
          f"{FUNCTIONS} functions x {POINTS} points")
    flat = net.get_flat()
    loss_t, grad_t = Supervised(net, v[:FUNCTIONS], x, out[:FUNCTIONS]).value_and_grad(flat)
    data = Supervised(net, v, x, out, batch_size=FUNCTIONS)
    t_tidal = tidal_step_time(data, net, args.repeats)
    if torch is None:
        return print_step(t_tidal)
    model = TorchDeepONet(net, flat).to(device)
    vt = torch.tensor(v, dtype=torch.float32, device=device)
    yt = torch.tensor(x[:, None], dtype=torch.float32, device=device)
    ot = torch.tensor(out, dtype=torch.float32, device=device)
    loss = torch.mean((model(vt[:FUNCTIONS], yt) - ot[:FUNCTIONS]) ** 2)
    loss.backward()
    grad_p = np.concatenate([p.grad.detach().cpu().double().numpy().ravel()
                             for p in model.params])
    agreement("one batch", loss_t, grad_t, loss.item(), grad_p)
    k = [0]

    def batch_loss():
        lo = (k[0] * FUNCTIONS) % len(v)
        k[0] += 1
        return torch.mean((model(vt[lo:lo + FUNCTIONS], yt) - ot[lo:lo + FUNCTIONS]) ** 2)

    print_step(t_tidal, torch_step_time(model, batch_loss, args.repeats, device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="cuda", choices=["cuda", "cpu", "vulkan"])
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    try:
        td.init(arch=args.arch, default_fp=td.f32)
    except td.TidalError as e:
        print(f"tidal cannot run on {args.arch} here: {e}")
        sys.exit(2)
    if runtime.config().arch != args.arch:
        print(f"tidal cannot run on {args.arch} here (Taichi chose {runtime.config().arch})")
        sys.exit(2)
    device = None
    if torch is not None:
        device = torch.device("cuda" if args.arch == "cuda" else "cpu")
        if device.type == "cuda" and not torch.cuda.is_available():
            print("PyTorch has no CUDA here: tidal's numbers alone")
            globals()["torch"] = None
        else:
            torch.backends.cuda.matmul.allow_tf32 = False  # full float32, as tidal
            torch.backends.cudnn.allow_tf32 = False
    peer = "PyTorch " + torch.__version__ if torch is not None else "no PyTorch"
    print(f"tidal on {args.arch}, {peer}; float32; {args.repeats} timed steps each")
    fno(args, device)
    deeponet(args, device)


if __name__ == "__main__":
    main()
