"""Measure an elastic block's Young's modulus from how it bounces, with MLS-MPM.

Run: python examples/physics_mpm.py [--small]
A block of elastic material (MLS-MPM, fixed corotated model) is thrown at the floor and its
particles are tracked with noise. ``td.fit`` recovers Young's modulus from a guess 30 % off with
Newton-CG (exact Hessian-vector products through the whole simulation), prints it with its
standard error, and saves ``physics_mpm.png``: the block at several times (observed and
fitted), the loss history and the fitted modulus with two standard errors.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import MPM2D  # noqa: E402
from tidal.physics.mpm import block  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
small = "--small" in sys.argv
STEPS, GRID, NOISE, E_TRUE = (60, 16, 1e-3, 150.0) if small else (150, 24, 1e-3, 150.0)
positions = block((0.4, 0.22), (0.12, 0.12), 0.03 if small else 0.02)
throw = np.tile([0.3, -2.0], (len(positions), 1))


def model(E):
    return MPM2D(positions, steps=STEPS, E=E, grid=GRID, dt=1e-3, velocities=throw)


clean = model(E_TRUE).simulate()
noisy = clean + NOISE * np.random.default_rng(0).normal(size=clean.shape)
sim = model(0.7 * E_TRUE)
result = td.fit(sim, noisy, ["E"], method="Newton-CG", log_scale=True, noise=NOISE,
                progress=False)
E, se = float(result.values["E"]), float(result.stderr["E"])
print(result)
print(f"E = {E:.3f} +- {se:.3f} (truth {E_TRUE}); {len(positions)} particles, {STEPS} steps")

fitted = model(E).simulate()
fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
for k, t in enumerate(np.linspace(0, STEPS, 4).astype(int)):
    axes[0].plot(noisy[t, :, 0], noisy[t, :, 1], ".", color=f"C{k}", ms=3, alpha=0.5)
    axes[0].plot(fitted[t, :, 0], fitted[t, :, 1], "x", color=f"C{k}", ms=3,
                 label=f"step {t}")
axes[0].axhline(3 / GRID, color="k", lw=0.8)
axes[0].set(title="observed (dots) and fitted (crosses)", xlabel="x", ylabel="y",
            aspect="equal")
axes[0].legend(fontsize=7)
axes[1].semilogy(result.history)
axes[1].set(xlabel="iteration", ylabel="loss", title="loss history (Newton-CG)")
axes[2].errorbar([0], [E], yerr=[2 * se], fmt="o", capsize=8, label="fitted +- 2 s.e.")
axes[2].axhline(E_TRUE, color="k", lw=0.8, label="truth")
axes[2].set_xticks([0], ["E"])
axes[2].set(title="Young's modulus")
axes[2].legend()
fig.tight_layout()
fig.savefig("physics_mpm.png", dpi=120)
print("saved physics_mpm.png")
