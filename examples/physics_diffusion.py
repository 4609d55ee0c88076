"""Map a spatially varying diffusivity from temperature sensors, with a smoothness prior.

Run: python examples/physics_diffusion.py [--small]
Heat spreads through a plate whose diffusivity varies in space (a 32 x 32 grid of unknown cell
values; ``--small``: 16 x 16). Sensors on every third cell record the temperature at every step
with noise. ``td.fit`` recovers the whole diffusivity field (1,024 unknowns) with L-BFGS-B and a
penalty ``smoothing * sum |grad kappa|^2``, and the script saves ``physics_diffusion.png``: the
true and fitted fields, their difference, and the loss history.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import Diffusion2D  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
N = 16 if "--small" in sys.argv else 32
STEPS, NOISE = 100, 1e-4
x = np.linspace(0.0, 1.0, N)
X, Y = np.meshgrid(x, x, indexing="ij")
kappa = 0.02 + 0.03 * np.exp(-((X - 0.6) ** 2 + (Y - 0.4) ** 2) / 0.05)
u0 = np.sin(np.pi * X) * np.sin(np.pi * Y) + 0.5 * np.sin(2 * np.pi * X) * np.sin(3 * np.pi * Y)
h = 1.0 / (N - 1)
dt = 0.2 * h * h / kappa.max()

clean = Diffusion2D(kappa, u0, dt=dt, steps=STEPS).simulate()
rng = np.random.default_rng(0)
observed = np.full_like(clean, np.nan)
sensors = (slice(1, -1, 3), slice(1, -1, 3))
observed[:, sensors[0], sensors[1]] = clean[:, sensors[0], sensors[1]]
observed += NOISE * rng.normal(size=observed.shape)  # NaN stays NaN: cells without a sensor
sim = Diffusion2D(np.full((N, N), 0.03), u0, dt=dt, steps=STEPS, smoothing=3e-2)
result = td.fit(sim, observed, ["kappa"], max_iter=300, progress=False)
fitted = result.values["kappa"]
inner = (slice(2, -2), slice(2, -2))
error = np.linalg.norm((fitted - kappa)[inner]) / np.linalg.norm(kappa[inner])
print(result.__str__().splitlines()[0])
print(f"{N * N} diffusivities from {np.count_nonzero(np.isfinite(observed[0]))} sensors: "
      f"relative error {error:.2%} away from the boundary")

fig, axes = plt.subplots(1, 4, figsize=(17, 4))
vmin, vmax = kappa.min(), kappa.max()
for ax, field, title in ((axes[0], kappa, "true diffusivity"),
                         (axes[1], fitted, "fitted diffusivity")):
    image = ax.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), vmin=vmin, vmax=vmax)
    ax.set(title=title, xlabel="x", ylabel="y")
    fig.colorbar(image, ax=ax)
sx, sy = np.meshgrid(x[sensors[0]], x[sensors[1]], indexing="ij")
axes[1].plot(sx.ravel(), sy.ravel(), "w.", ms=3, label="sensors")
axes[1].legend(loc="upper right", fontsize=7)
worst = np.max(np.abs(fitted - kappa))
image = axes[2].imshow((fitted - kappa).T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                       vmin=-worst, vmax=worst)
axes[2].set(title="fitted - true")
fig.colorbar(image, ax=axes[2])
axes[3].semilogy(result.history)
axes[3].set(xlabel="iteration", ylabel="loss", title=f"L-BFGS-B ({result.iterations} it)")
fig.tight_layout()
fig.savefig("physics_diffusion.png", dpi=120)
print("saved physics_diffusion.png")
