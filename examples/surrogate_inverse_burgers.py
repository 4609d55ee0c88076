"""Surrogate in the loop: recover a Burgers initial condition from sparse, noisy observations of
the solution at t = 1, by gradient-based fitting through a trained FNO and through tidal's
differentiable Burgers simulator, with the same call (``td.fit``) and the same data.

    python examples/surrogate_inverse_burgers.py    # trains the FNO the first time (cached)
    python examples/surrogate_inverse_burgers.py --model runs/fno_burgers.npz  # or fno_burgers.py's

Set-up: ``u_t + (u^2/2)_x = 0.1 u_xx`` on the unit periodic interval, 256 points; the truth is
a fresh draw of the FNO paper's random initial condition (``burgers_sample``, not in the
training set) and its solution at ``t = 1`` by the spectral reference solver; ``--observed``
equally spaced values of it (32 by default) with Gaussian noise of ``--noise`` (1 %) times their
RMS are the data. Both fits start from ``u0 = 0`` and run L-BFGS-B for ``--iterations``:

* through the simulator: :class:`tidal.physics.Burgers1D` (explicit, conservative central
  differences, ``dt = 5e-5``: 20,000 steps), gradients by its adjoint (one whole-rollout
  kernel and its generated adjoint);
* through the surrogate: :class:`tidal.surrogates.OperatorModel` around the FNO, gradients by
  the network's adjoint kernels.

Prints both answers' errors against the true initial condition, their difference, how well each
answer reproduces the data when run through the simulator, and the time per evaluation (value
and gradient, kernels compiled and warm: medians over seven rounds that time both in turn, see
:func:`seconds_per_evaluation`) of each, with the ratio, and the time per evaluation of the
whole fits run again with warm kernels (the optimiser's own work included). Writes
``inverse.png`` (the initial conditions, the solutions at ``t = 1`` with the data, the loss
histories).

The problem is ill-posed (viscosity damps mode ``k`` by ``exp(-0.1 (2 pi k)^2)`` by ``t = 1``,
so modes above 2-3 leave no trace in the data); both fits recover the large scales and leave the
rest near their start, which is why the answers are compared with each other as well as with
the truth.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal.physics import Burgers1D
from tidal.surrogates import FNO, OperatorModel, burgers_sample

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fno_common as common  # noqa: E402

NU, N, DT = 0.1, 256, 5e-5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None,
                   help="an FNO saved by examples/fno_burgers.py with the same --train, "
                        "--width and --modes (default: trained here the first time)")
    p.add_argument("--train", type=int, default=1000, help="FNO training samples")
    p.add_argument("--test", type=int, default=200, help="FNO test samples")
    p.add_argument("--epochs", type=int, default=100, help="FNO training epochs")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--modes", type=int, default=16)
    p.add_argument("--observed", type=int, default=32, help="observed values at t = 1")
    p.add_argument("--noise", type=float, default=0.01, help="noise / RMS of the data")
    p.add_argument("--iterations", type=int, default=100, help="L-BFGS-B iterations")
    p.add_argument("--fit-modes", type=int, default=6,
                   help="Fourier modes of the fitted u0 (0: fit all 256 values)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=common.DEFAULT_DATA,
                   help="cache of generated data")
    p.add_argument("--out", type=Path, default=Path("runs/surrogate_inverse"))
    p.add_argument("--progress", action="store_true")
    return p.parse_args(argv)


def trained_fno(args, d) -> FNO:
    """The FNO of examples/fno_burgers.py (same architecture, data, output scale and training,
    via examples/_fno_common.py; the scale is the model's output normaliser, so it predicts
    u(x, 1) itself): loaded from ``--model``, or trained once per set-up and kept in
    ``--out``."""
    net = FNO(1, args.modes, width=args.width, layers=4, seed=args.seed, dtype=td.f32)
    a, u = d.inputs[:args.train], d.outputs[:args.train]
    at, ut = d.inputs[args.train:], d.outputs[args.train:]
    tag = f"train{args.train}_epochs{args.epochs}_width{args.width}_modes{args.modes}"
    path = args.model or args.out / f"fno_{tag}.npz"
    if path.exists():
        net.load(path)
        if net.output_scale is None:  # a model saved before FNOs kept their normalisers
            net.set_normalisers(output_scale=float(u.std()))
    else:
        net.set_normalisers(output_scale=float(u.std()))
        result = common.train(net, a, u, at, ut, args.epochs, 1e-3,
                              min(20, args.train), args.seed, progress=args.progress)
        print(f"FNO trained: {args.epochs} epochs on {args.train} samples in "
              f"{result['wall']:.0f} s")
        net.save(path)
    test = common.relative_l2(net.predict(at), ut)
    print(f"FNO test relative L2 on {args.test} samples: {test:.4f}")
    return net


class LowModes:
    """A model whose field parameter ``name`` is written as ``basis @ c``, for td.fit to fit
    the coefficients ``c`` (named ``"c"``), with the Gaussian prior of the training data: the
    loss gains ``sum(penalty * c^2)`` (``penalty = noise^2 / prior variance`` of each
    coefficient), so the minimum is the most probable initial condition given the data (MAP).

    Both fits use the same modes and prior. Without them the problem has no unique answer and
    the two fits part ways: fitting all 256 values, the FNO's fit drives its loss to 1e-16 with
    a field its training never showed (its simulated solution misses the data by 50 %); with the
    modes but no prior, it grows modes that leave no trace at t = 1 (u0 error 1.7)."""

    loss_grad_hvp = None  # gradients only (td.fit: L-BFGS-B, no uncertainty)

    def __init__(self, model, name: str, basis: np.ndarray, penalty: np.ndarray):
        self.model, self.inner, self.basis, self.penalty = model, name, basis, penalty
        self.names = ("c",)
        # the coefficients of the model's field as it is now (a least-squares fit once; then
        # those set, so that an evaluation costs no least-squares solve)
        self.c = np.linalg.lstsq(basis, model.get(name), rcond=None)[0]

    def get(self, name):
        return self.c.copy()

    def set(self, name, c):
        self.c = np.array(c, dtype=np.float64)
        self.model.set(self.inner, self.basis @ self.c)

    def observe(self, data, weights=None):
        return self.model.observe(data, weights)

    def loss_grad(self, names):
        loss, (g,) = self.model.loss_grad([self.inner])
        c = self.c
        return loss + float(self.penalty @ (c * c)), [self.basis.T @ g + 2 * self.penalty * c]


def fourier_basis(n: int, modes: int) -> np.ndarray:
    """``(n, 2 modes)``: ``cos, sin`` of ``2 pi k x`` for k = 1..modes. No constant: the
    random initial conditions have mean zero (the generator leaves the constant mode out), so
    the FNO never saw another mean, and Burgers keeps the mean for ever (a fitted offset of a
    few percent moves u(x, 1), itself about 1 % of u(x, 0), by more than its size)."""
    x = np.arange(n) / n
    columns = []
    for k in range(1, modes + 1):
        columns += [np.cos(2 * np.pi * k * x), np.sin(2 * np.pi * k * x)]
    return np.stack(columns, axis=1)


def seconds_per_evaluation(models: dict, name: str, rounds: int = 7, warm: int = 30,
                           settle: int = 5) -> dict:
    """Median wall time of one value-and-gradient evaluation of each model (``{label: model}``),
    after ``warm`` evaluations (the kernels compiled, and the network's passes launched in the
    faster of their parallel and serial forms: tidal times both over a pass's first two dozen
    replays). The models are timed in turn over ``rounds`` rounds (each the time of a
    simulation, so about ten FNO evaluations a round), so that this machine's slow and fast
    minutes fall on both alike; in each round a model first makes ``settle`` untimed
    evaluations. A fit's evaluations follow one another, while on this machine the first
    evaluations after any other work are slower, whatever that work was: the FNO's first
    after a simulation, after 60 ms of sleep or after 60 ms of a Python loop took 1.2-1.3 ms
    and the next ones settled to 0.5 ms within about five (2026-12-07)."""
    calls = {}  # evaluations timed per round: about 50 ms of each model (1-10)
    for label, model in models.items():
        for _ in range(warm):
            started = time.perf_counter()
            model.loss_grad([name])
        calls[label] = max(1, min(10, int(0.05 / (time.perf_counter() - started))))
    times: dict = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            for _ in range(settle if calls[label] > 1 else 1):  # (untimed)
                model.loss_grad([name])
            started = time.perf_counter()
            for _ in range(calls[label]):
                model.loss_grad([name])
            seconds = (time.perf_counter() - started) / calls[label]
            times[label].append(seconds)
    return {label: float(np.median(t)) for label, t in times.items()}


def relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run(args) -> dict:
    td.init(arch="cpu", default_fp=td.f64)
    args.out.mkdir(parents=True, exist_ok=True)
    d = common.cached("burgers", args.train + args.test, args.data, n=N, nu=NU)
    net = trained_fno(args, d)
    u0_true, u1_true = burgers_sample(np.random.default_rng(10_000 + args.seed), n=N, nu=NU)
    rng = np.random.default_rng(args.seed)
    where = np.linspace(0, N, args.observed, endpoint=False).astype(int)
    rms = float(np.sqrt(np.mean(u1_true[where] ** 2)))
    observed = u1_true[where] + args.noise * rms * rng.normal(size=len(where))

    steps = int(round(1.0 / DT))
    sim = Burgers1D(NU, np.zeros(N), dt=DT, steps=steps)
    sim_data = np.full(sim.observation_shape, np.nan)
    sim_data[-1, where] = observed
    basis = fourier_basis(N, args.fit_modes) if args.fit_modes else None
    if basis is not None:
        # the prior: each coefficient's variance over the training initial conditions
        coefficients = np.linalg.lstsq(basis, d.inputs[:args.train].T, rcond=None)[0]
        penalty = (args.noise * rms) ** 2 / coefficients.var(axis=1)

    def fitted(model):
        return LowModes(model, "u0", basis, penalty) if basis is not None else model

    name = "c" if basis is not None else "u0"
    sim.set("u0", np.zeros(N))
    through_solver = td.fit(fitted(sim), sim_data, params=[name], max_iter=args.iterations,
                            progress=args.progress)

    # the network predicts u(x, 1) in physical units (its output scale is part of the model),
    # so both fits minimise the same sum of squares of the same data
    surrogate = OperatorModel(net, np.zeros(N), name="u0")
    net_data = np.full(N, np.nan)
    net_data[where] = observed
    through_surrogate = td.fit(fitted(surrogate), net_data, params=[name],
                               max_iter=args.iterations, progress=args.progress)

    solver_u0 = sim.get("u0")
    surrogate_u0 = surrogate.get("u0")
    # the surrogate's answer run through the simulator: does it explain the data?
    sim.set("u0", surrogate_u0)
    surrogate_u1 = sim.simulate()[-1]
    sim.set("u0", solver_u0)
    solver_u1 = sim.simulate()[-1]
    seconds = seconds_per_evaluation({"solver": sim, "surrogate": surrogate}, "u0")
    per_solver, per_surrogate = seconds["solver"], seconds["surrogate"]
    # the whole fits again from the same start, kernels warm: seconds per evaluation with the
    # optimiser's own work and the first evaluations after the other model's included
    whole = {}
    for label, model, data in (("solver", sim, sim_data), ("surrogate", surrogate, net_data)):
        answer = model.get("u0")
        model.set("u0", np.zeros(N))
        started = time.perf_counter()
        again = td.fit(fitted(model), data, params=[name], max_iter=args.iterations,
                       progress=False)
        whole[label] = (time.perf_counter() - started) / again.evaluations
        model.set("u0", answer)
    out = {
        "solver_error": relative(solver_u0, u0_true),
        "surrogate_error": relative(surrogate_u0, u0_true),
        "difference": relative(surrogate_u0, solver_u0),
        "solver_misfit": relative(solver_u1[where], observed),
        "surrogate_misfit": relative(surrogate_u1[where], observed),
        "solver_seconds": per_solver,
        "surrogate_seconds": per_surrogate,
        "speedup": per_solver / per_surrogate,
        "whole_fit_seconds": whole,
        "whole_fit_speedup": whole["solver"] / whole["surrogate"],
        "solver_fit": through_solver, "surrogate_fit": through_surrogate,
    }
    print(f"observations: {args.observed} values of u(x, 1), noise {args.noise:.0%} of their "
          f"RMS; fitted: " + (f"u0 in {2 * args.fit_modes} Fourier coefficients"
                              if basis is not None else "all 256 values of u0"))
    print(f"through the simulator: u0 error {out['solver_error']:.3e} (relative L2), data "
          f"misfit {out['solver_misfit']:.3e}, {through_solver.evaluations} evaluations, "
          f"{per_solver * 1e3:.1f} ms each")
    print(f"through the FNO:       u0 error {out['surrogate_error']:.3e}, data misfit (its "
          f"answer run through the simulator) {out['surrogate_misfit']:.3e}, "
          f"{through_surrogate.evaluations} evaluations, {per_surrogate * 1e3:.2f} ms each")
    print(f"difference between the two answers: {out['difference']:.3e} (relative L2)")
    print(f"time per evaluation: simulator / FNO = {out['speedup']:.1f}x")
    print(f"whole fits run again (optimiser included): {whole['solver'] * 1e3:.1f} ms and "
          f"{whole['surrogate'] * 1e3:.2f} ms per evaluation, simulator / FNO = "
          f"{out['whole_fit_speedup']:.1f}x")
    _figure(args.out / "inverse.png", u0_true, u1_true, where, observed, solver_u0,
            surrogate_u0, solver_u1, surrogate_u1, through_solver, through_surrogate)
    return out


def _figure(path, u0_true, u1_true, where, observed, solver_u0, surrogate_u0, solver_u1,
            surrogate_u1, fit_solver, fit_surrogate):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(N) / N
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(x, u0_true, "k", label="truth")
    ax[0].plot(x, solver_u0, "C0", label="through the simulator")
    ax[0].plot(x, surrogate_u0, "C1--", label="through the FNO")
    ax[0].set(title="initial condition u(x, 0)", xlabel="x")
    ax[0].legend()
    ax[1].plot(x, u1_true, "k", label="truth")
    ax[1].plot(x[where], observed, "ko", ms=4, mfc="none", label="data")
    ax[1].plot(x, solver_u1, "C0", label="simulator's answer")
    ax[1].plot(x, surrogate_u1, "C1--", label="FNO's answer, simulated")
    ax[1].set(title="u(x, 1)", xlabel="x")
    ax[1].legend()
    ax[2].semilogy(fit_solver.history, "C0", label="through the simulator")
    ax[2].semilogy(fit_surrogate.history, "C1", label="through the FNO")
    ax[2].set(title="loss", xlabel="L-BFGS-B iteration")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    run(parse_args())
