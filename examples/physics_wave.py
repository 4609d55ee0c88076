"""Fit the wave speed of a vibrating string to noisy readings of a few sensors, with standard
errors.

Run: python examples/physics_wave.py [--small] [--out DIR]
Simulates a string with fixed ends (``tidal.physics.Wave1D``: leapfrog, ``u_tt = c^2 u_xx``)
released from rest, reads the displacement at five sensors at every step and adds noise, fits
the wave speed ``c`` from a start 20 % off with L-BFGS-B and with Newton-CG (Newton steps from
exact Hessian-vector products through the rollout), prints the fitted values with their
standard errors next to the truth, and saves ``physics_wave.png`` (the field over space and
time with the sensors, observed and fitted sensor readings, loss history, fitted value with
error bars) in DIR (default: the current directory).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import Wave1D  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
small = "--small" in sys.argv
out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else Path(".")
out.mkdir(parents=True, exist_ok=True)

n = 33 if small else 65
h = 1.0 / (n - 1)
dt = 0.8 * h / 1.25  # stable (c dt / h <= 1) for every c up to 1.25
steps = round(1.5 / dt)  # three quarters of the fundamental period
x = np.linspace(0.0, 1.0, n)
u0 = np.sin(np.pi * x) + 0.4 * np.sin(2 * np.pi * x) + 0.2 * np.sin(3 * np.pi * x)
truth = {"c": 1.0}
sensors = np.round(np.array([0.15, 0.3, 0.5, 0.65, 0.85]) * (n - 1)).astype(int)

field = Wave1D(truth["c"], u0, dt=dt, steps=steps).simulate()
rng = np.random.default_rng(0)
noisy = np.full_like(field, np.nan)  # NaN: no sensor in that cell
noisy[:, sensors] = field[:, sensors] + 0.02 * rng.normal(size=(steps + 1, len(sensors)))

results = {}
for method in ("L-BFGS-B", "Newton-CG"):
    sim = Wave1D(1.2, u0, dt=dt, steps=steps)
    results[method] = td.fit(sim, noisy, ["c"], method=method, progress=False)
    print(results[method])
print("truth: " + ", ".join(f"{k} = {v}" for k, v in truth.items()))

best = results["Newton-CG"]
fitted = Wave1D(float(best.values["c"]), u0, dt=dt, steps=steps)
t = fitted.times()
fitted_field = fitted.simulate()
fig, axes = plt.subplots(1, 4, figsize=(18, 4))
image = axes[0].imshow(field.T, origin="lower", aspect="auto", cmap="RdBu_r",
                       extent=(t[0], t[-1], x[0], x[-1]))
for s in sensors:
    axes[0].axhline(x[s], color="k", lw=0.6, ls="--")
axes[0].set(xlabel="t", ylabel="x", title="displacement u(x, t); sensors dashed")
fig.colorbar(image, ax=axes[0])
for k, s in enumerate(sensors[:3]):
    color = f"C{k}"
    axes[1].plot(t, noisy[:, s], ".", color=color, ms=2, alpha=0.5,
                 label=f"observed, x = {x[s]:.2f}")
    axes[1].plot(t, fitted_field[:, s], "-", color=color, label="fitted")
axes[1].set(xlabel="t", ylabel="u", title="sensor readings")
axes[1].legend(fontsize=7)
for method, r in results.items():
    axes[2].semilogy(r.history, label=f"{method} ({r.iterations} it)")
axes[2].set(xlabel="iteration", ylabel="loss", title="loss history")
axes[2].legend()
for k, (method, r) in enumerate(results.items()):
    axes[3].errorbar([k], [float(r.values["c"])], yerr=[2 * float(r.stderr["c"])], fmt="o",
                     capsize=6, label=f"{method}: fitted +- 2 standard errors")
axes[3].axhline(truth["c"], color="k", lw=0.8, label="truth")
axes[3].set_xticks(range(len(results)), list(results))
axes[3].set(xlim=(-0.5, len(results) - 0.5), ylabel="c", title="fitted wave speed")
axes[3].ticklabel_format(axis="y", useOffset=False)
axes[3].legend(fontsize=7)
fig.tight_layout()
fig.savefig(out / "physics_wave.png", dpi=120)
print(f"saved {out / 'physics_wave.png'}")
