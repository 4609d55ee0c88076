"""Find where smoke started from one photograph of where it went.

Run: python examples/physics_smoke.py [--small]
Two puffs of buoyant smoke rise in a closed box (stable fluids on a 16 x 16 grid, 20 steps, a
pressure projection by conjugate gradients each step; ``--small``: 12 x 12). Only the final
density is observed. ``td.fit`` recovers the whole initial density (256 unknowns) with L-BFGS-B,
densities kept non-negative by bounds and a small smoothness prior; gradients go through the
projection by implicit differentiation (one more solve per step), never through the solver's
iterations. Then the buoyancy is recovered from the density at every step. The script saves
``physics_smoke.png``: the true and fitted initial densities, the observed and re-simulated
final images, and the loss history.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import Smoke2D  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
SMALL = "--small" in sys.argv
N, STEPS = (12, 12) if SMALL else (16, 20)
DT, BUOYANCY = 0.05 * N, 2.0 / N
x = (np.arange(N) + 0.5) / N
X, Y = np.meshgrid(x, x, indexing="ij")
d0 = np.exp(-((X - 0.35) ** 2 + (Y - 0.25) ** 2) / 0.01) \
    + 0.7 * np.exp(-((X - 0.65) ** 2 + (Y - 0.3) ** 2) / 0.006)

truth = Smoke2D(d0, steps=STEPS, dt=DT, buoyancy=BUOYANCY)
densities = truth.simulate()
photo = np.full_like(densities, np.nan)  # NaN: not observed
photo[-1] = densities[-1]

# 1. the initial density from the final image alone
sim = Smoke2D(np.zeros((N, N)), steps=STEPS, dt=DT, buoyancy=BUOYANCY, smoothing=1e-5)
result = td.fit(sim, photo, ["d0"], bounds={"d0": (0.0, None)}, max_iter=300, progress=False,
                uncertainty=False)  # (standard errors of a regularised image mean little)
fitted = result.values["d0"]
error = np.linalg.norm(fitted - d0) / np.linalg.norm(d0)
replay = sim.simulate()[-1]
print(result.__str__().splitlines()[0])
print(f"initial density ({N * N} cells) from the final image: relative error {error:.2%}")

# 2. the buoyancy from the density at every step
sim = Smoke2D(d0, steps=STEPS, dt=DT, buoyancy=0.5 * BUOYANCY)
lift = td.fit(sim, densities, ["buoyancy"], method="Newton-CG", tol=1e-14, progress=False)
b = float(lift.values["buoyancy"])
print(f"buoyancy {b:.10g} (true {BUOYANCY:.10g}): relative error "
      f"{abs(b - BUOYANCY) / BUOYANCY:.1e} after {lift.iterations} Newton-CG iterations")

fig, axes = plt.subplots(1, 5, figsize=(20, 4))
panels = ((d0, "true initial density"), (fitted, "fitted from the final image"),
          (densities[-1], f"observed after {STEPS} steps"), (replay, "re-simulated"))
for ax, (field, title) in zip(axes, panels):
    image = ax.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), vmin=0.0,
                      vmax=max(d0.max(), 1e-12))
    ax.set(title=title, xlabel="x", ylabel="y")
    fig.colorbar(image, ax=ax)
axes[4].semilogy(result.history)
axes[4].set(xlabel="iteration", ylabel="loss",
            title=f"L-BFGS-B ({result.iterations} it), error {error:.1%}")
fig.tight_layout()
fig.savefig("physics_smoke.png", dpi=120)
print("saved physics_smoke.png")
