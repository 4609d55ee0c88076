"""Recover the stiffness of every spring of a mass-spring network from its observed motion.

A 5 x 5 lattice of masses joined by 52 springs of unknown stiffness, anchored along its top row,
is released from a perturbed shape and observed for 400 steps (noise-free). Starting 30% off,
the stiffnesses are fitted by scipy's L-BFGS-B on gradients from tidal's generated adjoint
kernels, then by Newton-CG on Hessian-vector products from tidal's adjoints of tangent kernels.
Prints iterations, function evaluations and the final relative error of both fits.

Run: python examples/fit_spring_stiffness.py
"""

import time

import numpy as np
from scipy.optimize import minimize

import tidal as td
from tidal.physics import MassSpring, lattice

td.init(arch="cpu", default_fp=td.f64)

NX = 5
SCALE = 100.0  # stiffnesses are fitted in units of SCALE


rest_positions, springs, anchored = lattice(NX)
rng = np.random.default_rng(1)
start = rest_positions + rng.uniform(-0.02, 0.02, rest_positions.shape)
start[anchored] = rest_positions[anchored]
rest = np.linalg.norm(rest_positions[springs[:, 1]] - rest_positions[springs[:, 0]], axis=1)
k_true = rng.uniform(50.0, 150.0, len(springs))

sim = MassSpring(start, springs, k_true, steps=400, dt=2e-3, damping=0.2, anchored=anchored,
                 rest=rest)
sim.set_target(sim.trajectory(k_true))
k_init = k_true * rng.uniform(0.7, 1.3, len(springs))
print(f"{len(springs)} springs, {sim.n} masses, {sim.steps} steps")


def loss_and_grad(u):
    value, g = sim.value_and_grad(u * SCALE)
    return value, g * SCALE


def hessp(u, p):
    _, _, hv = sim.hvp(u * SCALE, p * SCALE)
    return hv * SCALE


def report(name, res, seconds):
    k = res.x * SCALE
    err = np.max(np.abs(k - k_true) / k_true)
    print(f"{name:<10} iterations {res.nit:4d}  function evaluations {res.nfev:4d}  "
          f"max relative error {err:.2e}  loss {res.fun:.3e}  ({seconds:.1f} s)")
    return err


t0 = time.perf_counter()
lbfgs = minimize(loss_and_grad, k_init / SCALE, jac=True, method="L-BFGS-B",
                 options={"maxiter": 2000, "ftol": 0.0, "gtol": 1e-14, "maxcor": 30})
err_lbfgs = report("L-BFGS-B", lbfgs, time.perf_counter() - t0)

t0 = time.perf_counter()
newton = minimize(loss_and_grad, k_init / SCALE, jac=True, hessp=hessp, method="Newton-CG",
                  options={"maxiter": 200, "xtol": 1e-12})
err_newton = report("Newton-CG", newton, time.perf_counter() - t0)

print(f"relative error at most 1e-6: L-BFGS-B {'yes' if err_lbfgs <= 1e-6 else 'NO'}, "
      f"Newton-CG {'yes' if err_newton <= 1e-6 else 'NO'}")
