"""Recover the diffusivity of a 2-D heat equation from eight sensors.

Heat spreads over a 32 x 32 grid for 200 explicit steps from a Gaussian blob; eight sensors
record the temperature at every step (noise-free). ``td.fit`` recovers the diffusivity from a
guess 50 % off with L-BFGS-B (tape gradients, within bounds) and with Newton-CG (exact
Hessian-vector products, on a log scale), and prints iterations, evaluations and the final error.

Run: python examples/fit_heat_diffusivity.py
"""

import numpy as np

import tidal as td
from tidal.physics import Heat2D

td.init(arch="cpu", default_fp=td.f64)

N, STEPS = 32, 200
xs = np.linspace(0.0, 1.0, N)
u0 = np.exp(-((xs[:, None] - 0.4) ** 2 + (xs[None, :] - 0.55) ** 2) / 0.02)
sensors = np.array([[8, 8], [8, 24], [24, 8], [24, 24], [16, 16], [12, 20], [20, 12], [5, 16]])
alpha_true = 0.21

readings = Heat2D(u0, STEPS, dt_over_h2=1.0, sensors=sensors, alpha=alpha_true).readings()
print(f"grid {N}x{N}, {STEPS} steps, {len(sensors)} sensors, true diffusivity {alpha_true}")

for method in ("L-BFGS-B", "Newton-CG"):
    heat = Heat2D(u0, STEPS, dt_over_h2=1.0, sensors=sensors, alpha=0.1)
    limits = {"bounds": {"alpha": (0.01, 0.25)}} if method == "L-BFGS-B" else {"log_scale": True}
    r = td.fit(heat, readings, ["alpha"], method=method, progress=False, **limits)
    alpha = float(r.values["alpha"])
    print(f"{method:<10} iterations {r.iterations:3d}  evaluations {r.evaluations:3d}  "
          f"diffusivity {alpha:.12f}  relative error {abs(alpha - alpha_true) / alpha_true:.1e}"
          f"  ({r.time:.1f} s)")
