"""Time per evaluation in the surrogate-in-the-loop problem: tidal's Burgers simulator, tidal's
FNO, and the same FNO in PyTorch, in one run.

The problem is ``examples/surrogate_inverse_burgers.py``'s: one evaluation is the data misfit
of 32 observed values of ``u(x, 1)`` and its gradient in the 256 values of ``u0``:

* simulator: :class:`tidal.physics.Burgers1D` (``nu = 0.1``, ``dt = 5e-5``, 20,000 steps; the
  rollout and its adjoint, one whole-rollout kernel each);
* tidal FNO: :class:`tidal.surrogates.OperatorModel` around the example's FNO (1-D, 4 Fourier
  layers of width 64, 16 modes, projection 128), one forward pass and its adjoint kernels;
* PyTorch FNO: the same network with the same parameters written with ``torch.fft.rfft``, one
  forward pass and ``backward`` to the input field (a reference for what a mature tensor library
  does with one field: how far the per-evaluation cost of an FNO is from the simulator's, whoever
  runs it).

The networks are freshly initialised (the time of an evaluation does not depend on training);
the two FNOs' outputs and input gradients are checked against each other first. Everything is
float64 (``--dtype float32``: the FNOs in float32, as in the example). Printed: the median time
per evaluation of each over ``--repeat`` rounds (each round times one simulator evaluation
after an untimed one and ten of each FNO after five untimed ones, in turn, all after 30 warm
ones, so that the machine's slow and fast minutes fall on all three; see
``interleaved_medians``) and the ratios simulator / FNO (the issue's
target for the surrogate: at least 100x).

Usage: ``python benchmarks/surrogate_loop.py [--repeat 20] [--threads 2] [--dtype float32]
[--width 64] [--modes 16] [--projection 128]``.
"""

import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch

import tidal as td
from tidal.physics import Burgers1D
from tidal.surrogates import FNO, OperatorModel

NU, N, DT, OBSERVED = 0.1, 256, 5e-5, 32
WIDTH, MODES, LAYERS = 64, 16, 4


def gelu(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


class TorchFNO1d(torch.nn.Module):
    """The FNO paper's FNO1d with tidal's parameters ``net.split()`` (float64)."""

    def __init__(self, net: FNO, dtype=torch.float64):
        super().__init__()
        P, pb, R, W, Wb, Q1, q1b, Q2, q2b = [torch.tensor(x, dtype=dtype) for x in net.split()]
        self.P, self.pb, self.W, self.Wb = P, pb, W, Wb
        self.R = torch.complex(R[..., 0], R[..., 1]).permute(0, 3, 2, 1)  # (L, in, out, k)
        self.Q1, self.q1b, self.Q2, self.q2b = Q1, q1b, Q2, q2b
        self.modes, self.layers = net.modes[0], net.layers

    def forward(self, a):                                   # a: (B, S)
        B, s = a.shape
        grid = torch.linspace(0, 1, s, dtype=a.dtype).reshape(1, s, 1).expand(B, s, 1)
        x = (torch.cat([a[..., None], grid], dim=-1) @ self.P.T + self.pb).permute(0, 2, 1)
        for layer in range(self.layers):
            xf = torch.fft.rfft(x)
            out = torch.zeros(B, x.shape[1], s // 2 + 1, dtype=xf.dtype)
            out[:, :, :self.modes] = torch.einsum("bix,iox->box", xf[:, :, :self.modes],
                                                  self.R[layer])
            x = torch.fft.irfft(out, n=s) + torch.einsum("oc,bcx->box", self.W[layer], x) \
                + self.Wb[layer][:, None]
            if layer < self.layers - 1:
                x = gelu(x)
        x = x.permute(0, 2, 1)
        return (gelu(x @ self.Q1.T + self.q1b) @ self.Q2 + self.q2b)[..., 0]  # one channel


def interleaved_medians(contenders: dict, rounds: int, calls: dict, warm: int = 30,
                        settle: int = 5) -> dict:
    """The median seconds per call of each contender (``{name: function}``), timed in
    ``rounds`` rounds that take each in turn (``calls[name]`` calls a round), so that the
    machine's slow and fast minutes (its speed moves by up to 2x here) fall on all of them
    alike; after ``warm`` untimed calls of each (tidal times the parallel and serial forms of
    the FNO's passes over their first two dozen replays), and in each round after ``settle``
    untimed calls (one for a contender timed once a round): in a fit one evaluation follows
    another, while on this machine the first calls after any other work are slower, whatever
    that work was (tidal's FNO: 1.2-1.3 ms the first, 0.5 ms within about five, after a
    simulation, 60 ms of sleep or 60 ms of a Python loop alike; 2026-12-07)."""
    for f in contenders.values():
        for _ in range(warm):
            f()
    times: dict = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, f in contenders.items():
            for _ in range(settle if calls[name] > 1 else 1):  # (untimed)
                f()
            start = time.perf_counter()
            for _ in range(calls[name]):
                f()
            times[name].append((time.perf_counter() - start) / calls[name])
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--width", type=int, default=WIDTH,
                        help="the FNOs' width (the example's: 64; 32 for a narrower surrogate)")
    parser.add_argument("--modes", type=int, default=MODES, help="the FNOs' kept modes")
    parser.add_argument("--projection", type=int, default=128,
                        help="the FNOs' projection width (the example's: 128)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="the FNOs' (the simulator is float64; the example's FNO float32)")
    args = parser.parse_args(argv)
    single = args.dtype == "float32"
    td.init(arch="cpu", default_fp=td.f64, cpu_max_num_threads=args.threads)
    torch.set_num_threads(args.threads)
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"{platform.platform()}, cpu_count {os.cpu_count()}, threads {args.threads}, "
          f"FNOs of width {args.width} in {args.dtype}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    rng = np.random.default_rng(0)
    x = np.arange(N) / N
    u0 = np.sin(2 * np.pi * x) + 0.3 * np.cos(6 * np.pi * x)
    where = np.linspace(0, N, OBSERVED, endpoint=False).astype(int)
    values = 0.01 * rng.normal(size=OBSERVED)

    sim = Burgers1D(NU, u0, dt=DT, steps=int(round(1.0 / DT)))
    sim_data = np.full(sim.observation_shape, np.nan)
    sim_data[-1, where] = values
    sim.observe(sim_data)

    net = FNO(1, args.modes, width=args.width, layers=LAYERS, projection=args.projection,
              dtype=td.f32 if single else td.f64)
    surrogate = OperatorModel(net, u0, name="u0")
    net_data = np.full(N, np.nan)
    net_data[where] = values
    surrogate.observe(net_data)

    torch_dtype = torch.float32 if single else torch.float64
    model = TorchFNO1d(net, torch_dtype)
    a = torch.tensor(u0[None, :], dtype=torch_dtype, requires_grad=True)
    target = torch.tensor(values, dtype=torch_dtype)

    def torch_loss_grad():
        a.grad = None
        loss = torch.sum((model(a)[0, where] - target) ** 2)
        loss.backward()
        return float(loss.detach()), a.grad[0].numpy().astype(np.float64)

    loss_td, (grad_td,) = surrogate.loss_grad(["u0"])
    loss_pt, grad_pt = torch_loss_grad()
    agree = max(abs(loss_td - loss_pt) / abs(loss_pt),
                float(np.max(np.abs(grad_td - grad_pt)) / np.max(np.abs(grad_pt))))
    print(f"tidal FNO vs PyTorch FNO: loss and input gradient agree to {agree:.1e} (relative)")
    if agree > (1e-4 if single else 1e-8):
        raise SystemExit("the two FNOs disagree: the timing would compare different networks")

    seconds = interleaved_medians(
        {"simulator": lambda: sim.loss_grad(["u0"]),
         "tidal FNO": lambda: surrogate.loss_grad(["u0"]), "PyTorch FNO": torch_loss_grad},
        args.repeat, {"simulator": 1, "tidal FNO": 10, "PyTorch FNO": 10})
    for name, s in seconds.items():
        print(f"{name:12s} {1e3 * s:8.2f} ms per evaluation (value and gradient)")
    for name in ("tidal FNO", "PyTorch FNO"):
        print(f"simulator / {name}: {seconds['simulator'] / seconds[name]:.1f}x (target >= 100x)")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return seconds


if __name__ == "__main__":
    main()
