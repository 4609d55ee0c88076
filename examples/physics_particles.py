"""Fit a Lennard-Jones potential's epsilon and sigma to a noisy cluster trajectory.

Run: python examples/physics_particles.py [--small]
Four particles in 2-D interact by the Lennard-Jones potential; the forces are minus
``td.grad`` of the potential, so the fit differentiates through a derivative. Simulates them
(velocity Verlet), adds noise to the positions, fits ``epsilon`` and ``sigma`` with Newton-CG
(exact Hessian-vector products), prints the fitted values with standard errors next to the
truth and the energy drift, and saves ``physics_particles.png`` (observed and fitted paths,
loss history, fitted values with error bars).
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import pair_energy, pair_system  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
steps = 100 if "--small" in sys.argv else 400
cluster = [[0.0, 0.0], [1.15, 0.05], [0.5, 1.0], [-0.6, 0.9]]
truth = {"epsilon": 1.3, "sigma": 0.95}

observed = pair_system("lennard_jones", cluster, **truth, dt=0.005, steps=steps).simulate()
energy = pair_energy("lennard_jones", observed[0], 4, 2, **truth)
print(f"energy drift over {steps} steps: {np.max(np.abs(energy - energy[0])):.2e} "
      f"(energy {energy[0]:.4f})")
rng = np.random.default_rng(0)
noisy = observed.copy()
noisy[..., :8] += 0.01 * rng.normal(size=noisy[..., :8].shape)  # positions measured
noisy[..., 8:] = np.nan  # velocities not observed

sim = pair_system("lennard_jones", cluster, epsilon=1.1, sigma=1.0, dt=0.005, steps=steps)
result = td.fit(sim, noisy, ["epsilon", "sigma"], method="Newton-CG", progress=False)
print(result)
print("truth: " + ", ".join(f"{k} = {v}" for k, v in truth.items()))

fitted = sim.simulate()[0]
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for i in range(4):
    axes[0].plot(noisy[0, :, 2 * i], noisy[0, :, 2 * i + 1], ".", ms=2, alpha=0.4,
                 color=f"C{i}")
    axes[0].plot(fitted[:, 2 * i], fitted[:, 2 * i + 1], "-", color=f"C{i}",
                 label=f"particle {i}")
axes[0].set(xlabel="x", ylabel="y", title="observed (dots) and fitted paths", aspect="equal")
axes[0].legend(fontsize=7)
axes[1].semilogy(result.history)
axes[1].set(xlabel="iteration", ylabel="loss", title=f"loss history ({result.iterations} it)")
names = list(truth)
x = np.arange(len(names))
axes[2].errorbar(x, [float(result.values[n]) / truth[n] for n in names],
                 yerr=[2 * float(result.stderr[n]) / truth[n] for n in names], fmt="o",
                 capsize=6, label="fitted +- 2 standard errors")
axes[2].axhline(1.0, color="k", lw=0.8, label="truth")
axes[2].set_xticks(x, names)
axes[2].set(title="fitted value / true value")
axes[2].legend()
fig.tight_layout()
fig.savefig("physics_particles.png", dpi=120)
print("saved physics_particles.png")
