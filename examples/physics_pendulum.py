"""Fit a pendulum's length and damping to a noisy trajectory, with standard errors.

Run: python examples/physics_pendulum.py [--small]
Simulates a damped pendulum (RK4, two experiments with different starts), adds noise, fits
``length`` and ``damping`` with L-BFGS-B and with trust-krylov (Newton steps in a trust region
from exact Hessian-vector products),
prints the fitted values with their standard errors next to the truth, and saves
``physics_pendulum.png`` (observations and fitted trajectories, loss history, fitted values with
error bars).
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import pendulum  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
steps = 100 if "--small" in sys.argv else 400
starts = [(1.2, 0.0), (0.3, 2.0)]
truth = {"length": 1.5, "damping": 0.25}

observed = pendulum(**truth, y0=starts, dt=0.02, steps=steps).simulate()
rng = np.random.default_rng(0)
noisy = observed + 0.05 * rng.normal(size=observed.shape)

results = {}
for method in ("L-BFGS-B", "trust-krylov"):
    sim = pendulum(length=1.0, damping=0.1, y0=starts, dt=0.02, steps=steps)
    results[method] = td.fit(sim, noisy, ["length", "damping"], method=method,
                             log_scale=True, progress=False)
    print(results[method])
print("truth: " + ", ".join(f"{k} = {v}" for k, v in truth.items()))

best = results["trust-krylov"]
fitted = pendulum(**{k: float(v) for k, v in best.values.items()}, y0=starts, dt=0.02,
                  steps=steps)
t = fitted.times()
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for e, color in zip(range(len(starts)), ("C0", "C1")):
    axes[0].plot(t, noisy[e, :, 0], ".", color=color, ms=3, alpha=0.5,
                 label=f"observed angle, start {e + 1}")
    axes[0].plot(t, fitted.simulate()[e, :, 0], "-", color=color, label=f"fitted, start {e + 1}")
axes[0].set(xlabel="t", ylabel="angle", title="trajectories")
axes[0].legend(fontsize=7)
for method, r in results.items():
    axes[1].semilogy(r.history, label=f"{method} ({r.iterations} it)")
axes[1].set(xlabel="iteration", ylabel="loss", title="loss history")
axes[1].legend()
names = list(truth)
x = np.arange(len(names))
axes[2].errorbar(x, [float(best.values[n]) / truth[n] for n in names],
                 yerr=[2 * float(best.stderr[n]) / truth[n] for n in names], fmt="o", capsize=6,
                 label="fitted +- 2 standard errors")
axes[2].axhline(1.0, color="k", lw=0.8, label="truth")
axes[2].set_xticks(x, names)
axes[2].set(title="fitted value / true value")
axes[2].legend()
fig.tight_layout()
fig.savefig("physics_pendulum.png", dpi=120)
print("saved physics_pendulum.png")
