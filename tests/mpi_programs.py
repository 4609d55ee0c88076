"""Programs that tests/test_distributed.py runs with one process (plain python) and with
several (mpiexec), then compares. Each writes what it computed to ``OUT/<name>_rank<r>.npz``.

    python tests/mpi_programs.py NAME OUT
    mpiexec -n 2 python tests/mpi_programs.py NAME OUT
"""

import sys
from pathlib import Path

import numpy as np

import tidal as td
from tidal import distributed
from tidal.solvers import (
    MLP,
    DirichletBC,
    Observations,
    PeriodicBC,
    Problem,
    Rectangle,
    Trainer,
    Unknown,
)


@td.func
def heat(u: td.f64, u_t: td.f64, u_xx: td.f64, x: td.f64, t: td.f64, kappa: td.f64) -> td.f64:
    """u_t = kappa u_xx + a source; kappa is an unknown, fitted from observations."""
    return u_t - kappa * u_xx - td.sin(x) * td.exp(-t) * (kappa - 1.0)


@td.func
def pendulum(y: td.vec(2), p: td.vec(2), t: float) -> td.vec(2):
    return td.vec(2)([y[1], -9.81 / p[0] * td.sin(y[0]) - p[1] * y[1]])


def heat_problem(seed: int = 0) -> Problem:
    """An inverse heat problem on [0, 2 pi] x [0, 1] with every kind of term kernel: the
    residual (an unknown), Dirichlet (linear kernel), periodic (pair kernel), observations."""
    domain = Rectangle((0.0, 0.0), (2 * np.pi, 1.0))
    rng = np.random.default_rng(5)
    points = np.column_stack([rng.uniform(0, 2 * np.pi, 37), rng.uniform(0, 1, 37)])
    values = np.sin(points[:, 0]) * np.exp(-points[:, 1])
    conditions = [
        DirichletBC(domain, lambda p: np.sin(p[:, 0]), n=41,
                    where=lambda p: np.isclose(p[:, 1], 0.0)),
        PeriodicBC(domain, axis=0, n=23),
        Observations(points, values),
    ]
    net = MLP(2, width=12, depth=2, dtype=td.f64, seed=seed)
    return Problem(domain, heat, conditions, net, n_collocation=301, seed=3,
                   variables=("x", "t"), unknowns=[Unknown("kappa", 0.5)])


def pinn(out: Path, comm: distributed.Communicator) -> dict:
    """Loss and gradient, 100 Adam steps, 50 L-BFGS iterations, then refinement and
    resampling with Adam after each; checkpoints and progress from rank 0 only."""
    problem = heat_problem()
    params0 = problem.get_flat()
    objective = distributed.DataParallel(problem, comm)
    loss0, grad0 = objective.value_and_grad(params0)
    scalars0 = objective.describe(params0)
    sys.stderr = open(out / f"pinn_stderr_rank{comm.rank}.txt", "w")  # noqa: SIM115
    trainer = Trainer(objective, params0, progress=True, log_every=10,
                      checkpoint=out / f"pinn_checkpoint_rank{comm.rank}.npz")
    trainer.adam(100, lr=3e-3)
    adam = trainer.params
    trainer.lbfgs(50)
    lbfgs = trainer.params
    added = problem.refine(400, 40)
    trainer.adam(10, lr=1e-3)
    refined = trainer.params
    problem.resample()
    trainer.adam(10, lr=1e-3)
    resampled = trainer.params
    sys.stderr.close()
    sys.stderr = sys.__stderr__
    # stops decided on one rank stop both at the same step: a callback on rank 1 only, and a
    # time limit whose clock differs between ranks
    stopper = Trainer(objective, resampled, progress=False,
                      callbacks=[lambda step, loss, p: comm.rank == 1 and step == 7])
    stopper.adam(50, lr=1e-3)
    timed = Trainer(objective, resampled, progress=False, time_limit=0.3 + 0.2 * comm.rank)
    timed.adam(100_000, lr=1e-3)
    # one file for every rank: written by rank 0, read by all right after
    shared = out / "pinn_shared_checkpoint.npz"
    Trainer(objective, resampled, progress=False, checkpoint=shared).adam(3, lr=1e-3)
    resumed = Trainer.from_checkpoint(objective, shared, progress=False)
    return {"loss0": loss0, "grad0": grad0, "pde0": scalars0["loss_pde"],
            "kappa0": scalars0["kappa"], "adam": adam, "lbfgs": lbfgs, "refined": refined,
            "added": added, "resampled": resampled,
            "losses": np.array(trainer.history.loss), "steps": np.array(trainer.history.step),
            "local_points": len(problem.collocation_points),
            "callback_stop": (stopper.step, stopper.stopped_reason),
            "time_stop": (timed.step, timed.stopped_reason),
            "resumed": resumed.params, "resumed_step": resumed.step,
            "bytes": objective.bytes_per_evaluation}


def pinn_shards(out: Path, comm: distributed.Communicator) -> dict:
    """The inverse heat problem in 4 shards, added in shard order: 100 Adam steps and 50
    L-BFGS iterations, then refinement and resampling, bit for bit on 1, 2 or 4 ranks."""
    problem = heat_problem()
    objective = distributed.DataParallel(problem, comm, shards=4)
    trainer = Trainer(objective, problem.get_flat(), progress=False)
    loss0, grad0 = objective.value_and_grad(problem.get_flat())
    trainer.adam(100, lr=3e-3)
    adam = trainer.params
    trainer.lbfgs(50)
    lbfgs = trainer.params
    problem.refine(400, 40)
    problem.resample()
    trainer.adam(10, lr=1e-3)
    return {"loss0": loss0, "grad0": grad0, "adam": adam, "lbfgs": lbfgs,
            "after": trainer.params, "losses": np.array(trainer.history.loss)}


def ensemble(out: Path, comm: distributed.Communicator) -> dict:
    """64 pendulum simulations (length, damping) over the ranks, each its whole trajectory."""
    from tidal.physics import ODE

    sim = ODE(pendulum, ["angle", "speed"], {"length": 1.0, "damping": 0.1},
              y0=[1.0, 0.0], dt=0.01, steps=400)
    grid = [(0.5 + 0.05 * i, 0.02 * j) for i in range(16) for j in range(4)]

    def run(p):
        sim.set("length", p[0])
        sim.set("damping", p[1])
        return sim.simulate()[0]

    trajectories = distributed.ensemble(run, grid, comm=comm, progress=False)
    # a fit on every rank: only rank 0 shows td.fit's progress line
    sys.stderr = open(out / f"ensemble_stderr_rank{comm.rank}.txt", "w")  # noqa: SIM115
    sim.set("length", 0.8)
    observed = sim.simulate()
    sim.set("length", 1.0)
    td.fit(sim, observed, ["length"], max_iter=5)
    sys.stderr.close()
    sys.stderr = sys.__stderr__
    return {"trajectories": np.stack(trajectories)}


def surrogate(out: Path, comm: distributed.Communicator) -> dict:
    """A DeepONet on 23 functions, relative L2 loss, mini-batches of 5 (the last of each epoch
    has 3): 30 Adam steps data-parallel, then 10 L-BFGS iterations on the full batch."""
    from tidal.surrogates import DeepONet, Supervised

    rng = np.random.default_rng(2)
    x = np.linspace(0.0, 1.0, 9)
    v = rng.normal(size=(23, 6))
    targets = np.cumsum(v[:, :1] * x + v[:, 1:2] * x ** 2, axis=1) + 1.0
    net = DeepONet(6, 1, width=10, p=4, dtype=td.f64, seed=1)
    data = Supervised(net, v, x, targets, loss="relative_l2", batch_size=5, seed=4)
    objective = distributed.DataParallel(data, comm)
    loss0, grad0 = objective.value_and_grad(net.get_flat())
    trainer = Trainer(objective, net.get_flat(), progress=False, log_every=1)
    trainer.adam(30, lr=1e-2)
    adam = trainer.params
    data.set_batch_size(None)
    trainer.lbfgs(10)
    return {"loss0": loss0, "grad0": grad0, "adam": adam, "lbfgs": trainer.params,
            "losses": np.array(trainer.history.loss)}


def fails(out: Path, comm: distributed.Communicator) -> dict:
    """Rank 1's objective raises at its fifth evaluation (rank 0's does not)."""
    problem = heat_problem()

    class Fragile:
        def __init__(self, inner):
            self.inner, self.size, self.calls = inner, inner.size, 0

        def shard(self, index, count):
            self.inner.shard(index, count)

        def value_and_grad(self, flat):
            self.calls += 1
            if comm.rank == 1 and self.calls == 5:
                raise ValueError("boom on the fifth evaluation")
            return self.inner.value_and_grad(flat)

        def value(self, flat):
            return self.inner.value(flat)

    objective = distributed.DataParallel(Fragile(problem), comm)
    Trainer(objective, problem.get_flat(), progress=False).adam(20)
    return {}


def escapes(out: Path, comm: distributed.Communicator) -> dict:
    """Rank 1 raises outside any collective while rank 0 waits in one: the job must end."""
    if comm.rank == 1:
        raise RuntimeError("an error outside tidal on rank 1")
    distributed.ensemble(lambda k: k, range(4), comm=comm, progress=False)
    return {}


def unpicklable(out: Path, comm: distributed.Communicator) -> dict:
    """An ensemble whose item 3 (on rank 1) returns a lambda, which cannot be sent."""
    distributed.ensemble(lambda k: (lambda: k) if k == 3 else k, range(6), comm=comm,
                         progress=False)
    return {}


def disagree(out: Path, comm: distributed.Communicator) -> dict:
    """Each rank initialises its network with its own seed: caught at the first evaluation."""
    problem = heat_problem(seed=comm.rank)
    objective = distributed.DataParallel(problem, comm)
    objective.value_and_grad(problem.get_flat())
    return {}


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    comm = distributed.world()
    distributed.init("cpu", threads=1, default_fp=td.f64)
    try:
        results = globals()[name](out, comm)
    except (distributed.RankFailed, distributed.RanksDisagree) as e:
        # what this rank raised, kept where the test can read it: the launcher forwards the
        # ranks' output asynchronously and, under load, may drop a rank's last lines once
        # another rank has exited with an error
        (out / f"{name}_error_rank{comm.rank}.txt").write_text(f"{type(e).__name__}: {e}")
        raise
    np.savez(out / f"{name}_rank{comm.rank}.npz", size=comm.size, **results)


if __name__ == "__main__":
    main()

