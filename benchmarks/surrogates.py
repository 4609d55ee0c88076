"""Physics-informed DeepONet, tidal against DeepXDE (PyTorch backend) on DeepXDE's
diffusion-reaction set-up, in one process run.

The set-up is DeepXDE's ``examples/operator/diff_rec_aligned_pideeponet.py``: residual
``u_t - D u_xx + k u^2 - f(x)`` with ``D = k = 0.01`` on ``[0, 1] x [0, 1]``, ``u = 0`` on
``x = 0, 1`` and at ``t = 0``; 200 domain, 40 boundary and 20 initial points (DeepXDE's
``TimePDE`` sampling, Hammersley), the residual at all 260 and each condition at its own (three
loss terms, each the mean over the batch's functions of the mean square over its points,
summed); sources from an RBF field of length scale 0.2, 1,000 training functions, branch input
at 50 sensors, 50 functions per step; branch ``[50, 128, 128, 128]`` and trunk
``[2, 128, 128, 128]``, tanh (also on the trunk's outputs), Glorot normal; Adam at ``5e-4``.

What is the same in both libraries:

* the points: DeepXDE samples them, tidal gets the same arrays;
* the functions: tidal's generator (``diffusion_reaction_sources``, the functions of
  ``generate("diffusion_reaction", 1000, seed=0)``) at the sensors and at the points, written
  into DeepXDE's data object in place of its own draw;
* the batches: DeepXDE's batch sampler is replaced by tidal's batch order, aligned so that
  step k of both uses the same batch (see :class:`Batches`);
* the network and its starting parameters: DeepXDE's initial weights (Glorot normal, zero
  biases) are copied into tidal's flat vector; the initial losses printed for both agree to
  rounding, which checks that both minimise the same loss;
* the precision (``--precision``, float32 by default as in DeepXDE) and the iterations.

Printed: the first and last training loss of each (the last ones, both at the final
parameters, are on different batches: DeepXDE's on the batch of its last step, tidal's on the
next one), the relative
L2 error of each against tidal's finite-difference reference
(``generate("diffusion_reaction", --test, seed=1)``, 100 x 100 grid) on the same test functions
(mean over functions), the training step time of each (mean over the steps after the first
ten, so compilation is not counted; tidal's compile time is printed apart), and the ratios.
Targets (issue 14): tidal's error no worse than DeepXDE's; tidal's step time at most 0.5x.

Run (about iterations x (tidal step + DeepXDE step), plus ~20 s of compilation)::

    python benchmarks/surrogates.py --iterations 20000      # DeepXDE's example
    python benchmarks/surrogates.py --iterations 2000       # a quicker comparison
"""

import argparse
import contextlib
import datetime
import io
import os
import platform
import sys
import time

import numpy as np

import tidal as td
from tidal.solvers import Trainer
from tidal.surrogates import (
    DeepONet,
    PhysicsInformed,
    PointCondition,
    diffusion_reaction_residual,
    diffusion_reaction_sources,
    generate,
)

WIDTH, DEPTH, P, SENSORS = 128, 2, 128, 50


def import_deepxde(precision: str):
    """deepxde (PyTorch backend) and torch, their start-up chatter silenced."""
    os.environ["DDE_BACKEND"] = "pytorch"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import deepxde as dde
        import torch
        dde.config.set_default_float("float32" if precision == "f32" else "float64")
    return dde, torch


def deepxde_setup(dde, args):
    """DeepXDE's data, network and its points, with tidal's functions written in."""

    def pde(x, y, v):
        y_t = dde.grad.jacobian(y, x, j=1)
        y_xx = dde.grad.hessian(y, x, j=0)
        return y_t - 0.01 * y_xx + 0.01 * y ** 2 - v

    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1),
                                      dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geom, lambda _: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geom, lambda _: 0, lambda _, on_initial: on_initial)
    problem = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=200, num_boundary=40,
                               num_initial=20, num_test=20)
    func_space = dde.data.GRF(length_scale=0.2)
    sensors = np.linspace(0, 1, num=SENSORS)[:, None]
    data = dde.data.PDEOperatorCartesianProd(problem, func_space, sensors, args.functions,
                                             function_variables=[0], num_test=2,
                                             batch_size=args.batch)
    net = dde.nn.DeepONetCartesianProd([SENSORS] + [WIDTH] * DEPTH + [P],
                                       [2] + [WIDTH] * DEPTH + [P], "tanh", "Glorot normal")
    return data, net, problem


def flat_of(net) -> np.ndarray:
    """DeepXDE's network parameters in tidal's DeepONet order: branch (W0, b0, hidden W, b,
    Wout, bout), trunk (the same), b0."""
    parts = []
    for sub in (net.branch, net.trunk):
        layers = [(lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy())
                  for lin in sub.linears]
        hidden = layers[1:-1]
        parts += [layers[0][0].ravel(), layers[0][1]]
        if hidden:
            parts += [np.stack([w for w, _ in hidden]).ravel(),
                      np.stack([b for _, b in hidden]).ravel()]
        parts += [layers[-1][0].ravel(), layers[-1][1]]
    parts.append(np.array([float(net.b[0].detach())]))
    return np.concatenate(parts)


class Batches:
    """DeepXDE's batch sampler replaced by tidal's order of batches, aligned step for step.

    ``Model.train`` draws one batch for its initial loss and then one before every step, so
    its first step would use the second batch; tidal's Trainer takes its first step with the
    gradient of the first. The first two draws therefore both get batch 0, the next batch 1,
    and so on: step k of both libraries uses batch k - 1.
    """

    def __init__(self, order):
        self.order, self.k = order, -1

    def get_next(self, batch_size):
        rows = self.order(max(self.k, 0))
        self.k += 1
        return rows


def mean_step(times: list) -> float:
    """Mean seconds per step after the first ten."""
    t = np.asarray(times)
    skip = min(10, len(t) - 2)
    return float((t[-1] - t[skip]) / (len(t) - 1 - skip))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--functions", type=int, default=1000, help="training functions")
    parser.add_argument("--batch", type=int, default=50, help="functions per step")
    parser.add_argument("--test", type=int, default=100, help="test functions")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--precision", choices=["f32", "f64"], default="f32")
    parser.add_argument("--seed", type=int, default=0, help="DeepXDE's sampling and "
                                                            "initialisation")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--only", choices=["both", "tidal", "deepxde"], default="both")
    args = parser.parse_args(argv)
    real = td.f32 if args.precision == "f32" else td.f64
    dde, torch = import_deepxde(args.precision)
    torch.set_num_threads(args.threads)
    td.init(arch="cpu", default_fp=real, cpu_max_num_threads=args.threads)
    dde.config.set_random_seed(args.seed)
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"{platform.platform()}, cpu_count {os.cpu_count()}, threads {args.threads}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"set-up: {args.functions} functions, batch {args.batch}, {args.iterations} Adam "
          f"iterations at lr {args.lr:g}, {args.precision}; test functions {args.test}")
    sys.stdout.flush()

    data, dnet, problem = deepxde_setup(dde, args)
    store = np.float32 if args.precision == "f32" else np.float64
    nb, ni = problem.num_bcs
    trunk_x = problem.train_x                # condition points, then the residual points
    residual_pts = problem.train_x_all
    bc_pts, ic_pts = problem.train_x_bc[:nb], problem.train_x_bc[nb:nb + ni]
    sensors, forcing = diffusion_reaction_sources(args.functions, seed=0, at=trunk_x[:, 0])
    data.train_x = (sensors.astype(store), trunk_x.astype(store))
    data.train_aux_vars = forcing.astype(store)
    test = generate("diffusion_reaction", args.test, seed=1, progress=False)
    grid = np.stack(np.meshgrid(test.grids["x"], test.grids["t"]), axis=-1).reshape(-1, 2)
    solutions = test.outputs.reshape(args.test, -1)          # (t, x) rows, x fastest
    flat0 = flat_of(dnet)
    print(f"points: {len(residual_pts)} residual, {nb} boundary, {ni} initial; parameters "
          f"{len(flat0)}")

    # tidal ------------------------------------------------------------------------------------
    net = DeepONet(SENSORS, 2, width=WIDTH, depth=DEPTH, p=P, activation="tanh", dtype=real)
    net.set_flat(flat0)
    objective = PhysicsInformed(
        net, diffusion_reaction_residual(0.01, 0.01, real), sensors, residual_pts,
        forcing[:, len(trunk_x) - len(residual_pts):],
        [PointCondition(bc_pts, 0.0, "bc"), PointCondition(ic_pts, 0.0, "ic")],
        batch_size=args.batch, seed=args.seed)
    results = {}
    if args.only in ("both", "tidal"):
        stamps = []
        trainer = Trainer(objective, flat0, progress=False, keep_best=False,
                          log_every=max(args.iterations // 10, 1),
                          callbacks=[lambda s, loss, p: stamps.append(time.perf_counter())])
        start = time.perf_counter()
        trainer.adam(args.iterations, lr=args.lr)
        wall = time.perf_counter() - start
        net.set_flat(trainer.params)
        err = float(np.mean(np.linalg.norm(net.predict(test.inputs, grid) - solutions, axis=1)
                            / np.linalg.norm(solutions, axis=1)))
        first = stamps[0] - start if stamps else wall
        results["tidal"] = dict(error=err, step=mean_step(stamps), wall=wall, first=first,
                                loss0=trainer.history.loss[0], loss=trainer.history.loss[-1])
        print(f"tidal:   loss {trainer.history.loss[0]:.6e} -> {trainer.history.loss[-1]:.3e}; "
              f"relative L2 {err:.5f}; step {1e3 * results['tidal']['step']:.1f} ms; wall "
              f"{wall:.1f} s (first step incl. compile {first:.1f} s)")
        sys.stdout.flush()

    # DeepXDE ----------------------------------------------------------------------------------
    if args.only in ("both", "deepxde"):
        objective.set_batch_size(args.batch)  # the same batch order from the start
        data.train_sampler = Batches(objective.batch)
        stamps = []

        class Clock(dde.callbacks.Callback):
            def on_epoch_end(self):
                stamps.append(time.perf_counter())

        model = dde.Model(data, dnet)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            model.compile("adam", lr=args.lr)
            history, _ = model.train(iterations=args.iterations, callbacks=[Clock()],
                                     display_every=args.iterations)
        wall = time.perf_counter() - start
        pred = model.predict((test.inputs.astype(store), grid.astype(store)))
        err = float(np.mean(np.linalg.norm(pred - solutions, axis=1)
                            / np.linalg.norm(solutions, axis=1)))
        loss0, loss = (float(np.sum(history.loss_train[i])) for i in (0, -1))
        results["deepxde"] = dict(error=err, step=mean_step(stamps), wall=wall, loss0=loss0,
                                  loss=loss)
        print(f"DeepXDE: loss {loss0:.6e} -> {loss:.3e}; relative L2 {err:.5f}; step "
              f"{1e3 * results['deepxde']['step']:.1f} ms; wall {wall:.1f} s")
    if len(results) == 2:
        a, b = results["tidal"], results["deepxde"]
        print(f"ratios tidal/DeepXDE: error {a['error'] / b['error']:.4f} (target <= 1), step "
              f"time {a['step'] / b['step']:.3f} (target <= 0.5); initial losses agree to "
              f"{abs(a['loss0'] - b['loss0']) / abs(b['loss0']):.1e}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
