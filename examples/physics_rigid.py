"""Weigh two tumbling boxes and measure their bounce and friction from how they move.

Run: python examples/physics_rigid.py
Two boxes are shoved sideways by a known force, fall, and bounce and slide on the ground
(impulses with restitution and Coulomb friction, time of impact). From noisy poses ``td.fit``
recovers both masses, the restitution and the friction coefficient with Newton-CG, prints them
with standard errors and saves ``physics_rigid.png``: the boxes along their paths (observed and
fitted), the loss history, and the fitted values over the truth with two standard errors.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import RigidBoxes2D  # noqa: E402

td.init(arch="cpu", default_fp=td.f64)
STEPS = 300  # (--small is accepted and changes nothing: the run takes seconds)
NOISE = 2e-3
extents = np.array([[0.2, 0.1], [0.15, 0.15]])
push = np.zeros((STEPS, 2, 2))
push[:50, :, 0] = [2.0, -1.0]  # a known shove: it makes the masses observable
truth = {"mass": np.array([1.0, 2.0]), "restitution": 0.6, "friction": 0.2}


def model(mass, restitution, friction):
    return RigidBoxes2D(extents, [[0.0, 0.6], [1.0, 0.4]], steps=STEPS, mass=mass,
                        restitution=restitution, friction=friction, angles=[0.3, -0.2],
                        spins=[1.0, 0.0], velocities=[[1.5, 0.0], [-1.0, 1.0]], push=push)


observed = model(**truth).simulate()
noisy = observed + NOISE * np.random.default_rng(0).normal(size=observed.shape)
sim = model([1.2, 1.7], 0.5, 0.23)
result = td.fit(sim, noisy, list(truth), method="Newton-CG", log_scale=True, noise=NOISE,
                progress=False)
print(result)
print("truth: masses 1.0, 2.0; restitution 0.6; friction 0.2")

fitted = model(**{n: result.values[n] for n in truth}).simulate()
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
for b in range(2):
    axes[0].plot(noisy[:, b, 0], noisy[:, b, 1], ".", ms=2, color=f"C{b}", alpha=0.4)
    axes[0].plot(fitted[:, b, 0], fitted[:, b, 1], "-", color=f"C{b}", label=f"box {b + 1}")
    for t in range(0, STEPS + 1, STEPS // 6):
        x, y, a = fitted[t, b]
        c, s = np.cos(a), np.sin(a)
        hx, hy = extents[b]
        corners = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy], [hx, hy]])
        rotated = corners @ np.array([[c, s], [-s, c]]) + [x, y]
        axes[0].plot(rotated[:, 0], rotated[:, 1], color=f"C{b}", lw=0.6)
axes[0].axhline(0.0, color="k", lw=0.8)
axes[0].set(title="observed centres (dots), fitted boxes", xlabel="x", ylabel="y",
            aspect="equal")
axes[0].legend()
axes[1].semilogy(result.history)
axes[1].set(xlabel="iteration", ylabel="loss", title="loss history (Newton-CG)")
labels = ["mass 1", "mass 2", "restitution", "friction"]
values = np.concatenate([np.ravel(result.values[n]) for n in truth])
errors = np.concatenate([np.ravel(result.stderr[n]) for n in truth])
true = np.concatenate([np.ravel(v) for v in truth.values()])
axes[2].errorbar(range(4), values / true, yerr=2 * errors / true, fmt="o", capsize=6,
                 label="fitted +- 2 s.e.")
axes[2].axhline(1.0, color="k", lw=0.8, label="truth")
axes[2].set_xticks(range(4), labels)
axes[2].set(title="fitted / true")
axes[2].legend()
fig.tight_layout()
fig.savefig("physics_rigid.png", dpi=120)
print("saved physics_rigid.png")
