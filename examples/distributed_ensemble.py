"""A parameter sweep as an MPI ensemble: 64 damped pendulums (lengths x dampings), each a tidal
ODE simulation of 64 initial angles, spread over the ranks; rank 0 draws the map of how much
energy each keeps.

    python examples/distributed_ensemble.py --out runs/sweep
    mpiexec -n 2 python examples/distributed_ensemble.py --out runs/sweep

The results are the same, bit for bit, whatever the number of ranks (each simulation runs whole
on one rank); only the time changes.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tidal as td
from tidal import distributed
from tidal.physics import ODE


@td.func
def pendulum(y: td.vec(2), p: td.vec(2), t: float) -> td.vec(2):
    return td.vec(2)([y[1], -9.81 / p[0] * td.sin(y[0]) - p[1] * y[1]])


def main(argv: list[str] | None = None) -> np.ndarray:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/sweep"))
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args(argv)
    comm = distributed.world()
    distributed.init("cpu", default_fp=td.f64)
    angles = np.linspace(0.1, 3.0, 64)
    sim = ODE(pendulum, ["angle", "speed"], {"length": 1.0, "damping": 0.0},
              y0=np.column_stack([angles, np.zeros(64)]), dt=0.002, steps=args.steps)
    lengths, dampings = np.linspace(0.25, 2.0, 8), np.linspace(0.0, 0.7, 8)
    members = [(length, damping) for damping in dampings for length in lengths]

    def energy_kept(member) -> np.ndarray:
        """The fraction of each pendulum's energy left at the end."""
        length, damping = member
        sim.set("length", length)
        sim.set("damping", damping)
        y = sim.simulate()  # (experiments, steps + 1, 2)

        def energy(s):
            return 0.5 * (length * s[:, 1]) ** 2 + 9.81 * length * (1 - np.cos(s[:, 0]))

        return energy(y[:, -1]) / energy(y[:, 0])

    start = time.perf_counter()
    kept = np.stack(distributed.ensemble(energy_kept, members, desc="pendulums"))
    wall = time.perf_counter() - start
    if comm.primary:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        mean = kept.mean(axis=1).reshape(len(dampings), len(lengths))
        fig, ax = plt.subplots(figsize=(5, 4))
        image = ax.imshow(np.log10(mean), origin="lower", aspect="auto", cmap="viridis",
                          extent=[lengths[0], lengths[-1], dampings[0], dampings[-1]])
        fig.colorbar(image, label="log10 of the energy kept (mean of 64 angles)")
        ax.set(xlabel="length (m)", ylabel="damping (1/s)",
               title=f"{len(members)} simulations on {comm.size} rank(s)")
        fig.tight_layout()
        fig.savefig(args.out / "energy_kept.png", dpi=100)
        print(f"{len(members)} simulations in {wall:.2f} s on {comm.size} rank(s); "
              f"undamped pendulums keep {mean[0].mean():.6f} of their energy, the most damped "
              f"{mean[-1].mean():.3e}; figure: {args.out / 'energy_kept.png'}")
    return kept


if __name__ == "__main__":
    main()
