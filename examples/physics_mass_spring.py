"""Recover every spring stiffness and the damping of a mass-spring lattice from its motion.

Run: python examples/physics_mass_spring.py [--small]
A lattice of masses anchored along its top row (5 x 5: 52 springs; ``--small``: 3 x 3, 14
springs) is kicked and observed for 300 steps with noise on the positions. Starting 20 % off,
the stiffnesses and the damping are fitted with Newton-CG (Newton steps from exact
Hessian-vector products through the rollout) and with L-BFGS-B; the script prints both fits,
the fitted values with standard errors next to the truth, and saves ``physics_mass_spring.png``
(the lattice and its observed and fitted paths, loss histories, fitted / true stiffnesses with
two standard errors).
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import MassSpring, lattice  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
NX = 3 if "--small" in sys.argv else 5
STEPS, DT, NOISE = 300, 2e-3, 1e-4

rest_positions, springs, anchored = lattice(NX)
rng = np.random.default_rng(1)
start = rest_positions + rng.uniform(-0.02, 0.02, rest_positions.shape)
start[anchored] = rest_positions[anchored]
kick = rng.normal(0.0, 0.3, start.shape)
rest = np.linalg.norm(rest_positions[springs[:, 1]] - rest_positions[springs[:, 0]], axis=1)
k_true, damping_true = rng.uniform(50.0, 150.0, len(springs)), 0.3


def model(stiffness, damping):
    return MassSpring(start, springs, stiffness, steps=STEPS, dt=DT, damping=damping,
                      anchored=anchored, rest=rest, velocities=kick)


observed = model(k_true, damping_true).simulate()
noisy = observed + NOISE * rng.normal(size=observed.shape)
k_start = k_true * rng.uniform(0.8, 1.2, len(springs))
print(f"{len(springs)} springs, {len(start)} masses, {STEPS} steps, position noise {NOISE}")

results = {}
for method in ("Newton-CG", "L-BFGS-B"):
    sim = model(k_start, 0.4)
    results[method] = td.fit(sim, noisy, ["stiffness", "damping"], method=method,
                             log_scale=True, max_iter=100, noise=NOISE, progress=False)
    r = results[method]
    rel = np.abs(r.values["stiffness"] / k_true - 1.0)
    within = np.mean(np.abs(r.values["stiffness"] - k_true) <= 2 * r.stderr["stiffness"])
    print(f"{method}: {r.iterations} iterations, {r.evaluations} evaluations, "
          f"{r.time:.1f} s; stiffness max relative error {rel.max():.2e}, truth within two "
          f"standard errors for {within:.0%} of the springs; damping "
          f"{float(r.values['damping']):.6f} +- {float(r.stderr['damping']):.1e} "
          f"(truth {damping_true})")

best = results["Newton-CG"]
fitted = model(best.values["stiffness"], float(best.values["damping"])).simulate()
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
for a, b in springs:
    axes[0].plot(start[[a, b], 0], start[[a, b], 1], color="0.8", lw=0.8)
for i in range(len(start)):
    axes[0].plot(noisy[:, i, 0], noisy[:, i, 1], ".", color="C0", ms=1, alpha=0.4)
    axes[0].plot(fitted[:, i, 0], fitted[:, i, 1], "-", color="C1", lw=0.8)
axes[0].plot([], [], ".", color="C0", label="observed (noisy)")
axes[0].plot([], [], "-", color="C1", label="fitted")
axes[0].set(title="lattice and mass paths", xlabel="x", ylabel="y", aspect="equal")
axes[0].legend(fontsize=8)
for method, r in results.items():
    axes[1].semilogy(r.history, label=f"{method} ({r.iterations} it)")
axes[1].set(xlabel="iteration", ylabel="loss", title="loss history")
axes[1].legend()
order = np.arange(len(springs))
axes[2].errorbar(order, best.values["stiffness"] / k_true,
                 yerr=2 * best.stderr["stiffness"] / k_true, fmt="o", ms=3, capsize=2,
                 label="fitted +- 2 standard errors")
axes[2].axhline(1.0, color="k", lw=0.8, label="truth")
axes[2].set(xlabel="spring", title="fitted stiffness / true stiffness")
axes[2].legend()
fig.tight_layout()
fig.savefig("physics_mass_spring.png", dpi=120)
print("saved physics_mass_spring.png")
