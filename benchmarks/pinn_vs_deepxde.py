"""tidal against DeepXDE (PyTorch backend): the same PINN trained for the same wall-clock time.

For each problem, the same physics-informed network is trained twice, one library after the other
in one process: with DeepXDE (PyTorch backend, float64) and with tidal (float64 on the CPU). The
benchmark prints, per problem and library, the relative L2 error against the exact solution on a
fixed test grid (per output for Kovasznay), the iterations done (Adam steps + L-BFGS iterations),
the loss evaluations, the wall time, and the ratio tidal error / DeepXDE error (target: at most
0.5, i.e. tidal at least twice as accurate in the same time).

Problems (float64 everywhere; one loss term per residual and per condition, each the mean square
of its errors, summed with weight 1, in both libraries):

* ``burgers``: u_t + u u_x - (0.01/pi) u_xx = 0 on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x),
  u(+-1, t) = 0 (Raissi et al. 2019); network 2 -> 8 x 20 tanh -> 1; 10,000 Latin-hypercube
  collocation points; 100 initial/boundary points (50 at t = 0, 50 on x = +-1) in one term.
  Test grid: 256 x 100 (``tidal.solvers.exact.burgers_grid``, Cole-Hopf).
* ``diffusion_reaction``: u_t = u_xx + exp(-t) (3 sin(2x)/2 + 8 sin(3x)/3 + 15 sin(4x)/4
  + 63 sin(8x)/8) on [-pi, pi] x [0, 1], exact u = exp(-t) (sin x + sin(2x)/2 + sin(3x)/3
  + sin(4x)/4 + sin(8x)/8) (the residual and exact solution of
  ``examples/pinn_diffusion_reaction.py``), with u = exact on x = +-pi (80 points) and at t = 0
  (160 points), two terms; network 2 -> 3 x 30 tanh -> 1; 320 collocation points (the count of
  DeepXDE's example ``examples/pinn_forward/diffusion_reaction.py``, which imposes the
  conditions exactly by an output transform instead and uses 6 x 30; the boundary/initial
  counts are those of DeepXDE's Burgers example). Test grid: 256 x 101.
* ``kovasznay``: steady Navier-Stokes at Re = 20 on [-0.5, 1] x [-0.5, 1.5], outputs u, v, p,
  residuals x-momentum, y-momentum and continuity; exact u and v at 400 boundary points, exact
  p at those of them on the outflow side x = 1 (about 115; DeepXDE's example); network
  2 -> 4 x 50 tanh -> 3; 2,601 collocation points. Test grid: 101 x 101.

What is the same in both libraries:

* the points: sampled once per problem (``--seed``) with tidal's geometry samplers and given to
  both (tidal: ``Problem(collocation=...)`` and ``Observations``; DeepXDE: ``anchors=`` with
  ``num_domain=0`` and ``PointSetBC``), so both minimise the very same loss function;
* the network and its starting parameters: tidal's ``MLP`` (Glorot-normal, zero biases, inputs
  mapped from the domain's bounding box to [-1, 1]) is copied into DeepXDE's ``FNN`` (its
  layers' weights, and the input map as a feature transform); the initial losses printed for
  both libraries agree to rounding, which checks that the two problems are the same;
* the optimiser schedule: Adam (learning rate ``--lr``, betas (0.9, 0.999), eps 1e-8) until
  ``--adam-fraction`` of the budget has passed since the start, then L-BFGS (history 100,
  DeepXDE's default; gradient tolerance 1e-8; no relative-decrease test: ftol 0) until the
  budget is spent. L-BFGS is tidal's SciPy L-BFGS-B and DeepXDE's ``torch.optim.LBFGS`` with
  strong-Wolfe line search (each library's own);
* the budget, ``--minutes`` per problem per library, counted from the start of building the
  model to the end of training: for tidal the Problem (kernel generation), the Trainer and the
  first kernel compilation (Taichi's offline cache is off, so every run compiles from scratch;
  the time to the first optimiser step is printed); for DeepXDE the data object, the network,
  ``model.compile`` and training. Not counted: importing the libraries, ``td.init``, a warm-up
  of each library on a throwaway problem before the first (torch's first autograd graph takes
  about a second, Taichi's first compilation too), sampling the points, the exact solution and
  evaluating the errors afterwards;
* the CPU threads (``--threads``, default all cores): ``td.init(cpu_max_num_threads=...)`` and
  ``torch.set_num_threads``.

How the budget is enforced: both libraries check the clock after every optimiser step (Adam
step or L-BFGS iteration) through their own callback mechanism (tidal: a Trainer callback;
DeepXDE: a ``dde.callbacks.Callback`` setting ``model.stop_training``), and stop at the first
check past the deadline. Exception: DeepXDE's PyTorch L-BFGS calls callbacks only between calls
of ``torch.optim.LBFGS.step``, each of which runs up to ``LBFGS_options["iter_per_step"]``
iterations (1000 by default, fixed when DeepXDE is imported; ``set_LBFGS_options`` does not
change it). The benchmark's callback therefore sets the iterations of the next call
(``max_iter`` of the torch optimiser, and ``max_eval`` = 1.25 x that + 26 so that one
iteration's line search never exhausts a call, which DeepXDE would take for convergence): about
2% of the L-BFGS time at the speed measured so far (10 to 1000 iterations), fewer near the
deadline, so that the last call ends within an iteration or two of it. The torch optimiser keeps
its curvature pairs across calls; each call costs one extra loss evaluation and DeepXDE's
``_test`` (two loss evaluations without gradient): a few per cent more work. The printed wall
time is the time actually used (it may exceed the budget by the last step, or for tidal by its
compile time when the budget is tiny).

Timings need an otherwise idle machine: the load average is printed before and after each
problem, with a warning when other work was running.

Differences left on purpose: tidal's Trainer ends each optimiser call at the parameters with the
lowest loss it saw (``keep_best``, its default), DeepXDE at the last ones; the line searches
differ (SciPy's More-Thuente ``dcsrch`` with up to 50 trials; torch's strong-Wolfe, limited
by the evaluations left in the call); DeepXDE evaluates the PDE residual at the condition
points too and discards it (its normal behaviour).

Run (about 6 x ``--minutes`` minutes, plus tidal's compile time)::

    pip install deepxde          # PyTorch must be installed (CPU build is enough)
    python benchmarks/pinn_vs_deepxde.py --minutes 8
    python benchmarks/pinn_vs_deepxde.py --problems kovasznay --minutes 15 --adam-fraction 0.5
    python benchmarks/pinn_vs_deepxde.py --small --minutes 0.2     # smoke test, tiny problems

torch and deepxde are imported by this script only (DDE_BACKEND=pytorch is set before), never by
the tidal package.
"""

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import io
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import tidal as td
from tidal.solvers import (
    MLP,
    Interval,
    Observations,
    Problem,
    Rectangle,
    TimeDomain,
    Trainer,
)
from tidal.solvers.exact import burgers_grid, kovasznay_exact

PROBLEMS = ("burgers", "diffusion_reaction", "kovasznay")
NU = 0.01 / math.pi  # Burgers viscosity


def _example(name: str):
    """``examples/<name>.py`` as a module: the residuals tidal trains are the examples' own (one
    definition of each problem)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples",
                           f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_kovasznay = _example("pinn_kovasznay")
momentum_x, momentum_y, continuity = (_kovasznay.momentum_x, _kovasznay.momentum_y,
                                      _kovasznay.continuity)
_diffusion_reaction = _example("pinn_diffusion_reaction")
diffusion_reaction_residual = _diffusion_reaction.diffusion_reaction
diffusion_reaction_exact = _diffusion_reaction.exact  # of (n, 2) points (x, t)
RE = _kovasznay.RE  # Kovasznay Reynolds number
LBFGS_HISTORY = 100  # correction pairs kept by L-BFGS (DeepXDE's default), both libraries
LBFGS_GTOL = 1e-8  # stop when the largest gradient component is below this, both libraries
LBFGS_FTOL = 0.0  # no relative-decrease stop (DeepXDE's default), both libraries
MANY = 10**9  # "no iteration limit": the clock stops training
TARGET = 0.5  # wanted: tidal error / DeepXDE error <= TARGET
CHUNK_SHARE = 0.02  # DeepXDE L-BFGS: iterations per torch LBFGS.step call, as a time share


# -- residuals in tidal ------------------------------------------------------------------------

@td.func
def burgers_residual(u: td.f64, u_t: td.f64, u_x: td.f64, u_xx: td.f64) -> td.f64:
    return u_t + u * u_x - NU * u_xx


@td.func
def warm_up_residual(u_xx: td.f64) -> td.f64:
    return u_xx + 1.0


# -- residuals in DeepXDE (PyTorch) -----------------------------------------------------------

def deepxde_residual(name: str, dde, torch) -> Callable:
    """The residual of problem ``name`` as a DeepXDE ``pde(x, y)`` (inputs ordered x, t or
    x, y; outputs u or u, v, p)."""
    jacobian, hessian = dde.grad.jacobian, dde.grad.hessian
    if name == "burgers":
        def burgers(x, y):
            y_x = jacobian(y, x, i=0, j=0)
            y_t = jacobian(y, x, i=0, j=1)
            y_xx = hessian(y, x, i=0, j=0)
            return y_t + y * y_x - NU * y_xx
        return burgers
    if name == "diffusion_reaction":
        def diffusion_reaction(x, y):
            y_t = jacobian(y, x, i=0, j=1)
            y_xx = hessian(y, x, i=0, j=0)
            s = x[:, 0:1]
            source = (3 * torch.sin(2 * s) / 2 + 8 * torch.sin(3 * s) / 3
                      + 15 * torch.sin(4 * s) / 4 + 63 * torch.sin(8 * s) / 8)
            return y_t - y_xx - torch.exp(-x[:, 1:2]) * source
        return diffusion_reaction

    def kovasznay(x, y):
        u, v = y[:, 0:1], y[:, 1:2]
        u_x, u_y = jacobian(y, x, i=0, j=0), jacobian(y, x, i=0, j=1)
        v_x, v_y = jacobian(y, x, i=1, j=0), jacobian(y, x, i=1, j=1)
        p_x, p_y = jacobian(y, x, i=2, j=0), jacobian(y, x, i=2, j=1)
        u_xx, u_yy = hessian(y, x, component=0, i=0, j=0), hessian(y, x, component=0, i=1, j=1)
        v_xx, v_yy = hessian(y, x, component=1, i=0, j=0), hessian(y, x, component=1, i=1, j=1)
        return [u * u_x + v * u_y + p_x - (u_xx + u_yy) / RE,
                u * v_x + v * v_y + p_y - (v_xx + v_yy) / RE,
                u_x + v_y]
    return kovasznay


# -- the problems, library-neutral -------------------------------------------------------------

@dataclass
class Term:
    """A condition's loss term: mean of (output[component] - values)^2 over points."""

    label: str
    points: np.ndarray
    values: np.ndarray
    component: int = 0


@dataclass
class Case:
    """One problem: points, conditions, network size, test grid and exact solution there."""

    name: str
    domain: object  # the tidal geometry
    lo: tuple
    hi: tuple
    outputs: tuple
    width: int
    depth: int
    collocation: np.ndarray
    terms: list
    test_points: np.ndarray
    exact: np.ndarray  # (n_test, n_outputs)
    residuals: list = field(default_factory=list)  # tidal functions

    @property
    def describe(self) -> str:
        sizes = [len(self.domain.bbox[0])] + [self.width] * self.depth + [len(self.outputs)]
        counts = ", ".join(f"{t.label} {len(t.points)}" for t in self.terms)
        return (f"network {' -> '.join(map(str, sizes))} (tanh), {len(self.collocation)} "
                f"collocation points, {counts}; test grid {len(self.test_points)} points")


def grid_points(*axes) -> np.ndarray:
    """The ``ij`` grid spanned by 1-D axes as ``(n, len(axes))`` points."""
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1)


def make_case(name: str, small: bool, seed: int) -> Case:
    """Problem ``name`` (tiny networks and point sets with ``small``)."""
    if name == "burgers":
        domain = Interval(-1.0, 1.0) * TimeDomain(0.0, 1.0)
        n_f, n_b = (256, 20) if small else (10_000, 100)
        colloc = domain.sample_interior(n_f, method="lhs", seed=seed)
        initial = domain.sample_initial(n_b // 2, method="random", seed=seed + 1)
        sides = domain.sample_boundary(n_b - n_b // 2, method="random", seed=seed + 2)
        points = np.concatenate([initial, sides])
        values = np.concatenate([-np.sin(np.pi * initial[:, 0]), np.zeros(len(sides))])
        x, t, u = burgers_grid(nx=256, nt=100)
        return Case(name, domain, (-1.0, 0.0), (1.0, 1.0), ("u",), 8 if small else 20,
                    2 if small else 8, colloc, [Term("initial+boundary", points, values)],
                    grid_points(x, t), u.reshape(-1, 1), [burgers_residual])
    if name == "diffusion_reaction":
        domain = Interval(-np.pi, np.pi) * TimeDomain(0.0, 1.0)
        n_f, n_b, n_0 = (64, 16, 16) if small else (320, 80, 160)
        colloc = domain.sample_interior(n_f, method="lhs", seed=seed)
        sides = domain.sample_boundary(n_b, method="random", seed=seed + 1)
        initial = domain.sample_initial(n_0, method="random", seed=seed + 2)
        terms = [Term("boundary", sides, diffusion_reaction_exact(sides)),
                 Term("initial", initial, diffusion_reaction_exact(initial))]
        test = grid_points(np.linspace(-np.pi, np.pi, 256), np.linspace(0.0, 1.0, 101))
        return Case(name, domain, (-np.pi, 0.0), (np.pi, 1.0), ("u",), 8 if small else 30,
                    2 if small else 3, colloc, terms, test,
                    diffusion_reaction_exact(test)[:, None], [diffusion_reaction_residual])
    if name == "kovasznay":
        lo, hi = (-0.5, -0.5), (1.0, 1.5)
        domain = Rectangle(lo, hi)
        n_f, n_b = (100, 40) if small else (2601, 400)
        colloc = domain.sample_interior(n_f, method="lhs", seed=seed)
        boundary = domain.sample_boundary(n_b, method="random", seed=seed + 1)
        exact = kovasznay_exact(boundary[:, 0], boundary[:, 1], RE)
        outflow = np.isclose(boundary[:, 0], hi[0])
        terms = [Term("boundary u", boundary, exact[:, 0], 0),
                 Term("boundary v", boundary, exact[:, 1], 1),
                 Term("outflow p", boundary[outflow], exact[outflow, 2], 2)]
        test = grid_points(np.linspace(lo[0], hi[0], 101), np.linspace(lo[1], hi[1], 101))
        return Case(name, domain, lo, hi, ("u", "v", "p"), 10 if small else 50,
                    2 if small else 4, colloc, terms, test,
                    kovasznay_exact(test[:, 0], test[:, 1], RE),
                    [momentum_x, momentum_y, continuity])
    raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")


def tidal_network(case: Case, seed: int) -> MLP:
    return MLP(case.domain.dim, width=case.width, depth=case.depth, seed=seed, lo=case.lo,
               hi=case.hi, dtype=td.f64, out_dim=len(case.outputs))


def initial_layers(case: Case, seed: int) -> tuple[list, np.ndarray, np.ndarray]:
    """tidal's starting network as ``(W (out, in), b)`` layers plus its input map
    ``s = scale * z + shift`` (copied into DeepXDE's network)."""
    net = tidal_network(case, seed)
    layers = [(net.W0.to_numpy(), net.b0.to_numpy())]
    W, b = net.W.to_numpy(), net.b.to_numpy()
    layers += [(W[k], b[k]) for k in range(case.depth - 1)]
    n_out = len(case.outputs)
    layers.append((net.Wout.to_numpy().reshape(n_out, case.width),
                   net.bout.to_numpy().reshape(n_out)))
    layers = [(np.asarray(w, np.float64), np.asarray(c, np.float64)) for w, c in layers]
    return layers, np.asarray(net.scale, np.float64), np.asarray(net.shift, np.float64)


# -- results -----------------------------------------------------------------------------------

@dataclass
class Result:
    library: str
    errors: dict
    adam_steps: int
    lbfgs_iters: int
    evaluations: int
    wall: float
    first_step: float
    loss0: float
    loss: float
    stop: str
    note: str = ""


def errors_of(case: Case, predicted: np.ndarray) -> dict:
    predicted = np.asarray(predicted, np.float64).reshape(len(case.test_points), -1)
    return {name: float(np.linalg.norm(predicted[:, k] - case.exact[:, k])
                        / np.linalg.norm(case.exact[:, k]))
            for k, name in enumerate(case.outputs)}


# -- tidal -------------------------------------------------------------------------------------

def run_tidal(case: Case, args: argparse.Namespace) -> Result:
    budget = 60.0 * args.minutes
    start = time.perf_counter()
    adam_end, end = start + args.adam_fraction * budget, start + budget
    deadline = [adam_end]
    first: list[float] = []

    def out_of_time(step, loss, params) -> bool:
        now = time.perf_counter()
        if not first:
            first.append(now - start)
        return now >= deadline[0]

    net = tidal_network(case, args.seed)
    several = len(case.outputs) > 1
    conditions = [Observations(t.points, t.values,
                               output=case.outputs[t.component] if several else None)
                  for t in case.terms]
    problem = Problem(case.domain, case.residuals, conditions, net, collocation=case.collocation,
                      seed=args.seed, outputs=case.outputs if several else None)
    trainer = Trainer(problem, problem.get_flat(), progress=False, log_every=MANY,
                      callbacks=[out_of_time])
    stop, adam_steps = "", 0
    if args.adam_fraction > 0:
        trainer.adam(MANY, lr=args.lr)
        adam_steps = trainer.step
        stop = trainer.stopped_reason
    if args.adam_fraction < 1 and time.perf_counter() < end and stop in ("", "callback"):
        deadline[0] = end
        trainer.lbfgs(MANY, maxcor=LBFGS_HISTORY, ftol=LBFGS_FTOL, gtol=LBFGS_GTOL)
        stop = trainer.stopped_reason
    wall = time.perf_counter() - start
    loss = problem.value(problem.get_flat())  # the kept (best) parameters
    return Result("tidal", errors_of(case, problem.predict(case.test_points)), adam_steps,
                  trainer.step - adam_steps, trainer.history.evaluations[-1], wall,
                  first[0] if first else math.nan, trainer.history.loss[0], loss,
                  "time" if stop == "callback" else stop,
                  f"kept step {trainer.best_step}")


# -- DeepXDE -----------------------------------------------------------------------------------

def import_deepxde():
    """deepxde (PyTorch backend, float64) and torch, their start-up chatter silenced."""
    os.environ["DDE_BACKEND"] = "pytorch"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import deepxde as dde
        import torch
        dde.config.set_default_float("float64")
    return dde, torch


def run_deepxde(case: Case, args: argparse.Namespace) -> Result:
    dde, torch = import_deepxde()
    layers, scale, shift = initial_layers(case, args.seed)  # before the clock starts
    budget = 60.0 * args.minutes
    start = time.perf_counter()
    adam_end, end = start + args.adam_fraction * budget, start + budget

    class Deadline(dde.callbacks.Callback):
        """Stops training once the clock passes ``deadline``, checked after every Adam step and
        after every ``torch.optim.LBFGS.step`` call; in L-BFGS also sizes the next call (see
        :func:`lbfgs_chunk`)."""

        def __init__(self, deadline: float):
            super().__init__()
            self.deadline, self.first, self.fired = deadline, None, False
            self.lbfgs_start: float | None = None
            self.chunks: list[int] = []

        def on_epoch_end(self):
            now = time.perf_counter()
            if self.first is None:
                self.first = now
            if now >= self.deadline:
                self.fired = True
                self.model.stop_training = True
            elif self.lbfgs_start is not None:
                done = int(self.model.opt.state_dict()["state"][0]["n_iter"])
                self.resize(lbfgs_chunk(self.deadline - self.lbfgs_start, self.deadline - now,
                                        (now - self.lbfgs_start) / max(done, 1)))

        def resize(self, n: int):
            for group in self.model.opt.param_groups:
                group["max_iter"], group["max_eval"] = n, int(1.25 * n) + 26
            self.chunks.append(n)

    if case.name == "kovasznay":
        geometry = dde.geometry.Rectangle(list(case.lo), list(case.hi))
    else:
        geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(case.lo[0], case.hi[0]),
                                              dde.geometry.TimeDomain(case.lo[1], case.hi[1]))
    bcs = [dde.icbc.PointSetBC(t.points, t.values[:, None], component=t.component)
           for t in case.terms]
    with contextlib.redirect_stdout(io.StringIO()):  # a warning about the 16 test points
        data = dde.data.PDE(geometry, deepxde_residual(case.name, dde, torch), bcs,
                            num_domain=0, num_boundary=0, anchors=case.collocation, num_test=16)
    sizes = [case.domain.dim] + [case.width] * case.depth + [len(case.outputs)]
    net = dde.nn.FNN(sizes, "tanh", "Glorot normal")
    with torch.no_grad():
        for linear, (w, b) in zip(net.linears, layers, strict=True):
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
    scale_t, shift_t = torch.from_numpy(scale), torch.from_numpy(shift)
    net.apply_feature_transform(lambda z: z * scale_t + shift_t)
    model = dde.Model(data, net)
    stopper = Deadline(adam_end)
    adam_steps = lbfgs_iters = evaluations = 0
    note, stop = "", ""
    if args.adam_fraction > 0:
        model.compile("adam", lr=args.lr, verbose=0)
        model.train(iterations=MANY, display_every=MANY, callbacks=[stopper], verbose=0)
        adam_steps = evaluations = model.train_state.step
        stop = "time" if stopper.fired else "nan"
    per_step = ((time.perf_counter() - stopper.first) / (adam_steps - 1)
                if adam_steps > 1 else math.nan)  # Adam's speed after the first step
    now = time.perf_counter()
    if args.adam_fraction < 1 and now < end and stop != "nan":
        dde.optimizers.set_LBFGS_options(maxcor=LBFGS_HISTORY, ftol=LBFGS_FTOL, gtol=LBFGS_GTOL,
                                         maxiter=MANY)
        model.compile("L-BFGS", verbose=0)
        stopper.set_model(model)
        # per iteration about 1.25 evaluations, each about one Adam step
        stopper.resize(lbfgs_chunk(end - now, end - now, 1.25 * per_step))
        stopper.deadline, stopper.fired, stopper.lbfgs_start = end, False, time.perf_counter()
        model.train(callbacks=[stopper], verbose=0)
        state = model.opt.state_dict()["state"]
        if state:
            lbfgs_iters = int(state[0]["n_iter"])
            evaluations += int(state[0]["func_evals"])
        stop = "time" if stopper.fired else (
            "nan" if model.stop_training else "converged (DeepXDE's test)")
        chunks = stopper.chunks
        note = (f"{len(chunks)} L-BFGS calls of {min(chunks)}-{max(chunks)} iterations"
                if chunks else "")
    wall = time.perf_counter() - start
    ts = model.train_state
    loss = float(np.sum(model._outputs_losses(True, ts.X_train, ts.y_train,
                                              ts.train_aux_vars)[1]))
    loss0 = float(np.sum(model.losshistory.loss_train[0]))
    first = stopper.first - start if stopper.first is not None else math.nan
    return Result("deepxde", errors_of(case, model.predict(case.test_points)), adam_steps,
                  lbfgs_iters, evaluations, wall, first, loss0, loss, stop, note)


def lbfgs_chunk(lbfgs_time: float, left: float, per_iteration: float) -> int:
    """Iterations for DeepXDE's next ``torch.optim.LBFGS.step`` call: about 2% of the L-BFGS
    time (10 to 1000 iterations), fewer near the end so that the last call ends close to the
    deadline; at least 2 (DeepXDE takes a call that advanced one iteration for convergence)."""
    if not (math.isfinite(per_iteration) and per_iteration > 0):
        return 10
    n = min(max(CHUNK_SHARE * lbfgs_time / per_iteration, 10), 1000)
    return int(max(min(n, math.ceil(left / per_iteration)), 2))


def warm_up(torch) -> None:
    """One-off start-up costs of each process, outside every budget: torch's first autograd
    graph with a second derivative (about a second) and first optimiser steps; Taichi's first
    compilations and tidal's Adam kernel (on a throwaway one-dimensional problem)."""
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    x = torch.ones(4, 3, dtype=torch.float64, requires_grad=True)

    def closure():
        w.grad = None
        y = torch.tanh(x @ w)
        dy = torch.autograd.grad(y.sum(), x, create_graph=True)[0]
        loss = (dy ** 2).sum() + (w ** 2).sum()
        loss.backward()
        return loss

    for opt in (torch.optim.Adam([w], lr=1e-3), torch.optim.LBFGS([w], max_iter=2)):
        opt.step(closure)
    domain = Interval(0.0, 1.0)
    net = MLP(1, width=4, depth=1, dtype=td.f64)
    problem = Problem(domain, warm_up_residual, [Observations(np.zeros((2, 1)), np.zeros(2))],
                      net, n_collocation=8)
    trainer = Trainer(problem, problem.get_flat(), progress=False)
    trainer.adam(2)
    trainer.lbfgs(2)


# -- report ------------------------------------------------------------------------------------

def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_note(own: float) -> str:
    """The 1-, 5- and 15-minute load averages, with a warning when they exceed ``own`` (the
    threads this benchmark keeps busy) by more than half a core."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    load = os.getloadavg()
    text = f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    if load[0] > own + 0.5:
        text += (f" -- WARNING: other work is running on this machine ({os.cpu_count()} "
                 f"cores); the timings are not reliable")
    return text


def header(args: argparse.Namespace, torch) -> None:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {platform.platform()}, {cpu_model()}, cpu_count {os.cpu_count()} "
          f"(usable {affinity}); threads used {args.threads} (torch "
          f"{torch.get_num_threads()})")
    print(f"python {platform.python_version()}; tidal {version('tidal')}, taichi "
          f"{version('taichi')}, numpy {version('numpy')}, scipy {version('scipy')}; deepxde "
          f"{version('deepxde')}, torch {version('torch')}")
    print(f"budget {args.minutes:g} min per problem per library (Adam for the first "
          f"{args.adam_fraction:g}, lr {args.lr:g}, then L-BFGS); seed {args.seed}"
          f"{'; SMALL smoke-test sizes' if args.small else ''}")
    print(f"before: {load_note(0.0)}")
    sys.stdout.flush()


def show(result: Result) -> None:
    errors = "  ".join(f"{k} {v:.3e}" for k, v in result.errors.items())
    print(f"  {result.library:8s} rel. L2 error {errors} | iterations "
          f"{result.adam_steps + result.lbfgs_iters} ({result.adam_steps} Adam + "
          f"{result.lbfgs_iters} L-BFGS), {result.evaluations} loss+gradient evaluations | wall "
          f"{result.wall:.1f} s (first step at {result.first_step:.1f} s) | loss "
          f"{result.loss0:.6e} -> {result.loss:.3e} | stop: {result.stop}"
          f"{'; ' + result.note if result.note else ''}")
    sys.stdout.flush()


def ratios(ours: Result, theirs: Result) -> dict:
    return {k: ours.errors[k] / theirs.errors[k] if theirs.errors[k] > 0 else math.inf
            for k in ours.errors}


def parse_args(argv: list | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="wall-clock budget per problem per library (default 8)")
    parser.add_argument("--problems", default=",".join(PROBLEMS),
                        help=f"comma-separated subset of {','.join(PROBLEMS)}")
    parser.add_argument("--adam-fraction", type=float, default=0.25,
                        help="fraction of the budget for Adam, the rest for L-BFGS (0.25)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of points and network")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads for both libraries (default: all cores)")
    parser.add_argument("--small", action="store_true",
                        help="tiny networks and point sets (a smoke test)")
    args = parser.parse_args(argv)
    args.problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    unknown = [p for p in args.problems if p not in PROBLEMS]
    if unknown or not args.problems:
        parser.error(f"unknown problem(s) {unknown}; choose from {', '.join(PROBLEMS)}")
    if not 0.0 <= args.adam_fraction <= 1.0:
        parser.error("--adam-fraction must lie in [0, 1]")
    if not args.minutes > 0 or args.threads < 1:
        parser.error("--minutes must be positive and --threads at least 1")
    return args


def main(argv: list | None = None) -> dict:
    args = parse_args(argv)
    _, torch = import_deepxde()
    torch.set_num_threads(args.threads)
    with contextlib.redirect_stdout(io.StringIO()):
        td.init(arch="cpu", default_fp=td.f64, cpu_max_num_threads=args.threads,
                offline_cache=False)
    header(args, torch)
    warm_up(torch)
    summary = {}
    for name in args.problems:
        case = make_case(name, args.small, args.seed)
        print(f"\n{name}: {case.describe}")
        sys.stdout.flush()
        theirs = run_deepxde(case, args)
        show(theirs)
        ours = run_tidal(case, args)
        show(ours)
        if not math.isclose(ours.loss0, theirs.loss0, rel_tol=1e-9):
            print(f"  WARNING: the initial losses differ ({ours.loss0!r} vs {theirs.loss0!r}): "
                  f"the two problems are not the same")
        r = ratios(ours, theirs)
        worst = max(r.values())
        print(f"  ratio tidal/DeepXDE error: "
              f"{'  '.join(f'{k} {v:.3f}' for k, v in r.items())} -> "
              f"{'meets' if worst <= TARGET else 'MISSES'} the target <= {TARGET}")
        print(f"  after: {load_note(float(args.threads))}")
        summary[name] = {"deepxde": theirs, "tidal": ours, "ratios": r}
    print("\nsummary (tidal error / DeepXDE error, worst output; target <= "
          f"{TARGET}):")
    for name, s in summary.items():
        r = s["ratios"]
        print(f"  {name:20s} {max(r.values()):.3f}   iterations tidal "
              f"{s['tidal'].adam_steps + s['tidal'].lbfgs_iters} vs DeepXDE "
              f"{s['deepxde'].adam_steps + s['deepxde'].lbfgs_iters}")
    return summary


if __name__ == "__main__":
    main()
