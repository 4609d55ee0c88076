"""FNO on Darcy flow: tidal against the same network in plain PyTorch, in one run.

For each grid (16 x 16 and 32 x 32 by default) the script generates (or loads from the data
directory) 1,000 training and 100 test pairs with tidal's own Darcy generator, normalises the
coefficient pointwise and scales the solution by one constant (the relative L2 loss does not
see that scale), and trains:

* tidal: :class:`tidal.surrogates.FNO` (float32) through :class:`tidal.surrogates.Supervised`
  (relative L2, batches of 20) and :class:`tidal.solvers.Trainer` (Adam);
* PyTorch: the paper's architecture written here with ``torch.fft.rfft2``/``irfft2``, the
  parameters copied from tidal's initial flat vector, the same batch order (the permutation
  Supervised draws from ``(seed, epoch)``), the same loss, ``torch.optim.Adam`` with the same
  step decay (halve every 100 epochs), the same number of epochs.

It prints, per problem, the test relative L2 of both, the training time per epoch of both (kernel
compilation and first-call costs excluded: tidal first runs :data:`WARM_STEPS` training steps
from the same start, which compile every kernel (and would time the serial forms of passes
of small launches), PyTorch one step on a copy of its model, Adam's included) and the
ratios tidal / PyTorch, overall and epoch by epoch. The two sides train in turn, one epoch each
(PyTorch's inside a Trainer callback at the end of each of tidal's epochs, outside tidal's
time): this machine's speed changes by up to 2x for minutes at a time, and alternating puts
such a change on both sides. (The callback is called at every step and is given a copy of the
parameters, about 1 ms per step at 2.4 million parameters, counted in tidal's time.) Both sides
use the same number of CPU threads (Taichi's ``cpu_max_num_threads`` and
``torch.set_num_threads``).

Usage: ``python benchmarks/surrogates_fno.py [--epochs 5] [--sizes 16 32] [--data DIR]``.
"""

import argparse
import copy
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

import tidal as td
from tidal.solvers import StepDecay, Trainer
from tidal.surrogates import FNO, Supervised, generate, load_dataset

N_TRAIN, N_TEST, BATCH, WIDTH, LAYERS = 1000, 100, 20, 32, 4
WARM_STEPS = 40  # tidal's untimed steps before the first epoch (see the module)
MODES = {16: 8, 32: 12}


def darcy(s: int, data_dir: Path):
    """Train and test inputs (pointwise normalised) and outputs (scaled), float64."""
    path = data_dir / f"darcy_s{s}_n{N_TRAIN + N_TEST}_seed0.npz"
    if path.exists():
        data = load_dataset(path, kind="darcy")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        data = generate("darcy", N_TRAIN + N_TEST, seed=0, s=s, path=path)
    a, u = data.inputs, data.outputs
    mean, std = a[:N_TRAIN].mean(axis=0), a[:N_TRAIN].std(axis=0) + 1e-5
    a = (a - mean) / std
    u = u / u[:N_TRAIN].std()
    return a[:N_TRAIN], u[:N_TRAIN], a[N_TRAIN:], u[N_TRAIN:]


# -- PyTorch -------------------------------------------------------------------------------------


def gelu(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


class TorchFNO(torch.nn.Module):
    """The paper's FNO2d (fourier_2d.py) with tidal's parameters ``net.split(flat)``."""

    def __init__(self, net: FNO, flat):
        super().__init__()
        P, pb, R, W, Wb, Q1, q1b, Q2, q2b = [torch.tensor(x, dtype=torch.float32)
                                              for x in net.split(flat)]
        m1, m2 = net.modes
        self.m1, self.m2, self.layers = m1, m2, net.layers
        prm = torch.nn.Parameter
        self.P, self.pb = prm(P), prm(pb)
        # R[l, k1 * m2 + k2, o, c] -> weights (in, out, k1, k2), the first m1 rows of k1 the
        # low frequencies (weights1), the others the high ones (weights2)
        Rc = torch.complex(R[..., 0], R[..., 1]).reshape(net.layers, 2 * m1, m2, net.width,
                                                          net.width).permute(0, 4, 3, 1, 2)
        self.w1 = prm(Rc[:, :, :, :m1].contiguous())
        self.w2 = prm(Rc[:, :, :, m1:].contiguous())
        self.W, self.Wb = prm(W), prm(Wb)
        self.Q1, self.q1b, self.Q2, self.q2b = prm(Q1), prm(q1b), prm(Q2), prm(q2b)

    def forward(self, a):                                  # a: (B, S1, S2)
        B, s1, s2 = a.shape
        dev = a.device
        gx = torch.linspace(0, 1, s1, device=dev).reshape(1, s1, 1, 1).expand(B, s1, s2, 1)
        gy = torch.linspace(0, 1, s2, device=dev).reshape(1, 1, s2, 1).expand(B, s1, s2, 1)
        x = torch.cat([a[..., None], gx, gy], dim=-1) @ self.P.T + self.pb
        x = x.permute(0, 3, 1, 2)                           # (B, C, S1, S2)
        m1, m2 = self.m1, self.m2
        for layer in range(self.layers):
            xf = torch.fft.rfft2(x)
            out = torch.zeros(B, x.shape[1], s1, s2 // 2 + 1, dtype=torch.cfloat, device=dev)
            out[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, :m1, :m2],
                                               self.w1[layer])
            out[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, -m1:, :m2],
                                                self.w2[layer])
            x1 = torch.fft.irfft2(out, s=(s1, s2))
            x2 = torch.einsum("oc,bcxy->boxy", self.W[layer], x) + self.Wb[layer][:, None, None]
            x = x1 + x2
            if layer < self.layers - 1:
                x = gelu(x)
        x = x.permute(0, 2, 3, 1)
        return (gelu(x @ self.Q1.T + self.q1b) @ self.Q2 + self.q2b)[..., 0]  # one channel


def relative_l2(pred, y):
    B = pred.shape[0]
    return torch.mean(torch.linalg.norm((pred - y).reshape(B, -1), dim=1)
                      / torch.linalg.norm(y.reshape(B, -1), dim=1))


def batch_order(epoch: int, seed: int = 0) -> np.ndarray:
    """Supervised's permutation of the training set for ``epoch``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))
    return rng.permutation(N_TRAIN)


class TorchRun:
    """The PyTorch side, one epoch at a time (the same batches, loss, Adam and decay)."""

    def __init__(self, net: FNO, flat, a, u, lr: float):
        self.model = TorchFNO(net, flat)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=100, gamma=0.5)
        self.a = torch.tensor(a, dtype=torch.float32)
        self.u = torch.tensor(u, dtype=torch.float32)
        self.epochs = 0
        # warm-up: a step of a copy with an optimiser of its own (this model and its Adam
        # start untouched)
        warm = copy.deepcopy(self.model)
        warm_opt = torch.optim.Adam(warm.parameters(), lr=lr)
        relative_l2(warm(self.a[:BATCH]), self.u[:BATCH]).backward()
        warm_opt.step()

    def epoch(self) -> float:
        """Train one epoch; its wall time in seconds."""
        start = time.perf_counter()
        order = torch.tensor(batch_order(self.epochs))
        for lo in range(0, N_TRAIN, BATCH):
            idx = order[lo:lo + BATCH]
            self.opt.zero_grad()
            relative_l2(self.model(self.a[idx]), self.u[idx]).backward()
            self.opt.step()
        self.sched.step()
        self.epochs += 1
        return time.perf_counter() - start

    def test_error(self, at, ut) -> float:
        with torch.no_grad():
            pred = self.model(torch.tensor(at, dtype=torch.float32)).numpy()
        return test_error(pred.astype(np.float64), ut)


def test_error(pred, ut) -> float:
    n = len(ut)
    return float(np.mean(np.linalg.norm((pred - ut).reshape(n, -1), axis=1)
                         / np.linalg.norm(ut.reshape(n, -1), axis=1)))


# -- tidal ---------------------------------------------------------------------------------------


def train_both(net: FNO, a, u, at, ut, epochs: int, lr: float):
    """Train tidal's FNO and the PyTorch one epoch by epoch in turn (a PyTorch epoch runs in a
    Trainer callback at each of tidal's epoch ends, outside tidal's time), so that a change of
    this machine's speed during the run falls on both. Returns both test errors, both lists of
    epoch times and tidal's compile time."""
    torch_run = TorchRun(net, net.get_flat(), a, u, lr)
    steps_per_epoch = math.ceil(N_TRAIN / BATCH)
    initial = net.get_flat()
    warm = Supervised(net, a[:BATCH], outputs=u[:BATCH], loss="relative_l2")
    start = time.perf_counter()
    # the first Adam step compiles every kernel of a step (the network's and the in-place
    # Adam's); a pass of small launches would by the last run in the faster of its two forms
    Trainer(warm, initial, progress=False, keep_best=False).adam(WARM_STEPS, lr=lr)
    compile_s = time.perf_counter() - start
    net.set_flat(initial)
    tidal_times, torch_times = [], []
    clock = [0.0]

    def epoch_end(step, loss, params):
        if step % steps_per_epoch == 0:
            tidal_times.append(time.perf_counter() - clock[0])
            torch_times.append(torch_run.epoch())
            clock[0] = time.perf_counter()

    data = Supervised(net, a, outputs=u, loss="relative_l2", batch_size=BATCH, seed=0)
    trainer = Trainer(data, initial, progress=False, keep_best=False,
                      log_every=steps_per_epoch, callbacks=[epoch_end])
    clock[0] = time.perf_counter()
    trainer.adam(epochs * steps_per_epoch, lr=lr,
                 schedule=StepDecay(every=100 * steps_per_epoch, factor=0.5))
    net.set_flat(trainer.params)
    return (test_error(net.predict(at), ut), torch_run.test_error(at, ut), tidal_times,
            torch_times, compile_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("TIDAL_DATA",
                                                    Path.home() / ".cache/tidal/data")))
    args = parser.parse_args()
    td.init(arch="cpu", default_fp=td.f32)
    import taichi as ti

    threads = ti.lang.impl.current_cfg().cpu_max_num_threads
    torch.set_num_threads(threads)
    print(f"threads: Taichi {threads}, PyTorch {torch.get_num_threads()}; float32; "
          f"{args.epochs} epochs of {N_TRAIN} samples in batches of {BATCH}; width {WIDTH}, "
          f"{LAYERS} layers, Adam lr {args.lr} halved every 100 epochs")
    rows = []
    for s in args.sizes:
        a, u, at, ut = darcy(s, args.data)
        net = FNO(2, MODES.get(s, 12), width=WIDTH, layers=LAYERS, seed=0, dtype=td.f32)
        err_t, err_p, times_t, times_p, compile_s = train_both(net, a, u, at, ut, args.epochs,
                                                               args.lr)
        epoch_t, epoch_p = float(np.mean(times_t)), float(np.mean(times_p))
        rows.append((s, err_t, err_p, epoch_t, epoch_p))
        ratios = " ".join(f"{t / p:.2f}" for t, p in zip(times_t, times_p))
        print(f"darcy {s}x{s} (modes {MODES.get(s, 12)}): test relative L2 tidal {err_t:.4f} "
              f"PyTorch {err_p:.4f} (ratio {err_t / err_p:.3f}); s/epoch tidal {epoch_t:.2f} "
              f"PyTorch {epoch_p:.2f} (ratio {epoch_t / epoch_p:.2f}; epoch by epoch "
              f"{ratios}); tidal compile and {WARM_STEPS} warm-up steps {compile_s:.1f} s",
              flush=True)
    print("\n| grid | rel. L2 tidal | rel. L2 PyTorch | ratio | s/epoch tidal | s/epoch PyTorch "
          "| ratio |\n|---|---|---|---|---|---|---|")
    for s, et, ep, tt, tp in rows:
        print(f"| {s}x{s} | {et:.4f} | {ep:.4f} | {et / ep:.3f} | {tt:.2f} | {tp:.2f} | "
              f"{tt / tp:.2f} |")


if __name__ == "__main__":
    main()
