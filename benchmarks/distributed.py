"""Two MPI ranks against one: a compute-bound PINN training step and a 64-member simulation
ensemble, one CPU thread per rank, in one run; prints the speed-ups and what the communication
costs per step.

* PINN step: the Burgers PINN (2 -> 8 x 20 tanh -> 1, 3,021 parameters) on ``--points``
  Latin-hypercube collocation points plus 100 boundary points, float64; one step is a
  :class:`~tidal.distributed.DataParallel` evaluation (each rank its half of the points, one
  allreduce of the loss and gradient) and the Adam update, timed over ``--steps`` steps.
* Ensemble: ``--members`` pendulum simulations (tidal's ODE, RK4, 256 initial angles x 5,000
  steps each), different lengths and dampings, spread over the ranks by
  :func:`~tidal.distributed.ensemble`; each returns its final states.
* Communication: bytes each rank sends per evaluation, the time inside the allreduce per step
  (waiting for the other rank included), and the time of the bare allreduce after a barrier.
* For comparison: one process with two Taichi threads (what the same two cores give without
  MPI).

Run: ``python benchmarks/distributed.py [--points 20000] [--steps 30] [--members 64]`` (needs
``pip install mpi4py mpich``). It starts itself once with plain python and once with
``mpiexec -n 2``; run it on a quiet machine with at least two cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _worker(args) -> None:
    import tidal as td
    from tidal import distributed
    from tidal.physics import ODE
    from tidal.solvers import MLP, Trainer
    from tidal.solvers.burgers import burgers_problem

    comm = distributed.world()
    distributed.init("cpu", threads=args.threads, default_fp=td.f64)
    out: dict = {"ranks": comm.size}

    # -- PINN step -------------------------------------------------------------------------
    rng = np.random.default_rng(0)
    n = args.points
    x_f = np.column_stack([rng.uniform(-1, 1, n), rng.uniform(0, 1, n)])
    x_b = np.column_stack([np.r_[rng.uniform(-1, 1, 50), np.full(25, -1.0), np.full(25, 1.0)],
                           np.r_[np.zeros(50), rng.uniform(0, 1, 50)]])
    u_b = np.where(x_b[:, 1] == 0, -np.sin(np.pi * x_b[:, 0]), 0.0)
    problem = burgers_problem(MLP(2, width=20, depth=8, dtype=td.f64), x_f, x_b, u_b)
    objective = distributed.DataParallel(problem, comm)
    trainer = Trainer(objective, problem.get_flat(), progress=False, keep_best=False)
    trainer.adam(3, lr=1e-3)  # compile and warm up
    evaluations, communicating = objective.evaluations, objective.seconds_communicating
    comm.barrier()
    start = time.perf_counter()
    trainer.adam(args.steps, lr=1e-3)
    out["pinn_step_ms"] = 1e3 * (time.perf_counter() - start) / args.steps
    calls = objective.evaluations - evaluations
    out["allreduce_ms_per_step"] = 1e3 * (objective.seconds_communicating - communicating) / calls
    out["bytes_per_evaluation"] = objective.bytes_per_evaluation
    out["final_loss"] = float(trainer.history.loss[-1])
    buffer = np.zeros(problem.size + 4)
    comm.barrier()
    start = time.perf_counter()
    for _ in range(200):
        comm.sum(buffer)
    out["bare_allreduce_us"] = 1e6 * (time.perf_counter() - start) / 200

    # -- ensemble ----------------------------------------------------------------------------
    @td.func
    def pendulum(y: td.vec(2), p: td.vec(2), t: float) -> td.vec(2):
        return td.vec(2)([y[1], -9.81 / p[0] * td.sin(y[0]) - p[1] * y[1]])

    y0 = np.column_stack([np.linspace(0.1, 2.5, 256), np.zeros(256)])
    sim = ODE(pendulum, ["angle", "speed"], {"length": 1.0, "damping": 0.1}, y0=y0,
              dt=0.002, steps=5000)
    sim.simulate()  # compile
    members = [(0.5 + 0.05 * (i % 16), 0.02 * (i // 16)) for i in range(args.members)]

    def run(p):
        sim.set("length", p[0])
        sim.set("damping", p[1])
        return sim.simulate()[:, -1].copy()  # not a view: the trajectory is freed

    comm.barrier()
    start = time.perf_counter()
    finals = distributed.ensemble(run, members, comm=comm, progress=False)
    out["ensemble_s"] = time.perf_counter() - start
    out["ensemble_checksum"] = float(np.sum(np.stack(finals) ** 2))
    if comm.primary:
        Path(args.out).write_text(json.dumps(out))


def _launch(command: list[str], out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    done = subprocess.run(command, env=env, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    here = Path(__file__).resolve()
    mpiexec = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.exists() else "mpiexec"
    common = [str(here), "--worker", "--points", str(args.points), "--steps", str(args.steps),
              "--members", str(args.members)]
    with tempfile.TemporaryDirectory() as tmp:
        one_out, two_out = Path(tmp) / "one.json", Path(tmp) / "two.json"
        threads_out = Path(tmp) / "threads.json"
        one = _launch([sys.executable] + common + ["--out", str(one_out)], one_out)
        threads = _launch([sys.executable] + common + ["--threads", "2", "--out",
                                                        str(threads_out)], threads_out)
        two = _launch([mpiexec, "-n", "2", sys.executable] + common + ["--out", str(two_out)],
                      two_out)
    print(f"tidal.distributed, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"one thread per rank, float64")
    print(f"PINN step (Burgers, 3,021 parameters, {args.points:,} + 100 points, Adam), "
          f"mean over {args.steps} steps:")
    print(f"  1 rank  {one['pinn_step_ms']:8.2f} ms")
    speedup = one["pinn_step_ms"] / two["pinn_step_ms"]
    print(f"  2 ranks {two['pinn_step_ms']:8.2f} ms   speed-up {speedup:.2f}x   (final losses "
          f"{one['final_loss']:.6e} / {two['final_loss']:.6e})")
    print(f"  (for comparison, 1 rank with 2 threads: {threads['pinn_step_ms']:.2f} ms, "
          f"{one['pinn_step_ms'] / threads['pinn_step_ms']:.2f}x)")
    print(f"  communication per step: {two['bytes_per_evaluation']:,} bytes sent by each rank "
          f"(one allreduce); {two['allreduce_ms_per_step']:.3f} ms inside it, waiting for the "
          f"other rank included; a bare allreduce of that size takes "
          f"{two['bare_allreduce_us']:.1f} us")
    print(f"Ensemble of {args.members} pendulum simulations (256 angles x 5,000 RK4 steps):")
    print(f"  1 rank  {one['ensemble_s']:8.2f} s")
    print(f"  2 ranks {two['ensemble_s']:8.2f} s   speed-up "
          f"{one['ensemble_s'] / two['ensemble_s']:.2f}x   (results equal: "
          f"{one['ensemble_checksum'] == two['ensemble_checksum']})")
    print(f"  (for comparison, 1 rank with 2 threads: {threads['ensemble_s']:.2f} s, "
          f"{one['ensemble_s'] / threads['ensemble_s']:.2f}x)")


if __name__ == "__main__":
    main()
