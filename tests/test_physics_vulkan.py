"""The simulators on the GPU code path (SPIR-V through software Vulkan) in f32: the loss and its
gradient agree with the same model on the CPU in f64 (2e-3 * (1 + |reference|), as in
test_vulkan.py). Skipped where no Vulkan device exists."""

import numpy as np
import pytest

import tidal as td
from tidal.dsl import runtime
from tidal.physics import (
    MPM2D,
    AdvectionDiffusion1D,
    Burgers1D,
    Diffusion2D,
    MassSpring,
    Particles,
    RigidBoxes2D,
    Smoke2D,
    Wave1D,
    lattice,
    pair_system,
    pendulum,
)
from tidal.physics.mpm import block

from .reference import assert_close

pytestmark = [pytest.mark.vulkan, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _pendulum():
    return pendulum(length=1.3, damping=0.2, y0=[(1.0, 0.0), (0.4, 1.5)], dt=0.02,
                    steps=100), ["length", "damping", "y0"]


def _mass_spring():
    pts, springs, anchored = lattice(3)
    rng = np.random.default_rng(0)
    start = pts + rng.uniform(-0.02, 0.02, pts.shape)
    start[anchored] = pts[anchored]
    rest = np.linalg.norm(pts[springs[:, 1]] - pts[springs[:, 0]], axis=1)
    return MassSpring(start, springs, rng.uniform(50, 150, len(springs)), steps=100, dt=2e-3,
                      damping=0.3, anchored=anchored, rest=rest, floor=-0.02), \
        ["stiffness", "damping"]


def _particles():
    cluster = np.array([[0.0, 0.0], [1.15, 0.05], [0.5, 1.0]])
    return pair_system("lennard_jones", cluster, epsilon=1.1, sigma=1.0, dt=0.005,
                       steps=100), ["epsilon", "sigma"]


def _diffusion():
    n = 12
    x = np.linspace(0.0, 1.0, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    kappa = 0.05 * (1.0 + 0.5 * X * Y)
    return Diffusion2D(kappa, np.sin(np.pi * X) * np.sin(np.pi * Y), dt=0.002, steps=40,
                       source=X), ["kappa", "source"]


def _wave():
    x = np.linspace(0.0, 1.0, 24)
    return Wave1D(0.8, np.sin(np.pi * x), dt=0.02, steps=60), ["c", "u0"]


def _burgers():
    x = np.arange(24) / 24
    return Burgers1D(0.05, 0.5 + np.sin(2 * np.pi * x), dt=0.005, steps=40), ["viscosity", "u0"]


def _mpm():
    pos = block((0.4, 0.22), (0.09, 0.09), 0.03)
    return MPM2D(pos, steps=20, E=150.0, grid=16, dt=1e-3,
                 velocities=np.tile([0.3, -2.0], (len(pos), 1))), ["E"]


def _rigid():
    return RigidBoxes2D([[0.2, 0.1]], [[0.0, 0.2]], steps=40, dt=5e-3, restitution=0.5,
                        velocities=[[0.5, -2.0]], angles=[0.2], spins=[1.0]), \
        ["mass", "restitution", "v0"]


def _advection():
    x = np.arange(24) / 24
    return AdvectionDiffusion1D(0.8, 0.01, np.sin(2 * np.pi * x), dt=0.01, steps=40), \
        ["velocity", "diffusivity", "u0"]


def _gas():
    x = 1.12 * np.argwhere(np.ones((3, 3))).astype(float)
    x += np.random.default_rng(4).uniform(-0.05, 0.05, x.shape)
    return Particles("lennard_jones", x, steps=60, dt=0.005, epsilon=1.0, sigma=1.0,
                     velocities=0.3 * np.random.default_rng(5).standard_normal(x.shape)), \
        ["epsilon", "sigma", "v0"]


def _gas_cells():
    x = 1.12 * np.argwhere(np.ones((4, 4))).astype(float)
    x += np.random.default_rng(6).uniform(-0.05, 0.05, x.shape)
    return Particles("lennard_jones", x, steps=40, dt=0.005, epsilon=1.0, sigma=1.0,
                     cutoff=1.7, cell_list=True,
                     velocities=0.3 * np.random.default_rng(7).standard_normal(x.shape)), \
        ["epsilon", "sigma", "x0"]


def _smoke():
    d0 = np.zeros((8, 8))
    d0[2:4, 3:5] = 1.0
    return Smoke2D(d0, steps=10, dt=0.5, buoyancy=1.0), ["d0", "buoyancy"]


MODELS = {"pendulum": _pendulum, "mass_spring": _mass_spring, "particles": _particles,
          "diffusion": _diffusion, "wave": _wave, "burgers": _burgers,
          "smoke": _smoke, "gas": _gas}
# (15-30 s each to compile on software Vulkan: checked in the slow run)
SLOW = {"advection": _advection, "mpm": _mpm, "rigid": _rigid, "gas_cells": _gas_cells}


@pytest.mark.parametrize("name", list(MODELS) + [pytest.param(n, marks=pytest.mark.slow)
                                                 for n in SLOW])
def test_f32_gradients_on_vulkan_agree_with_f64_on_the_cpu(name):
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device")
    results = {}
    data = None
    for arch, fp in (("cpu", td.f64), ("vulkan", td.f32)):
        td.init(arch=arch, default_fp=fp)
        sim, names = {**MODELS, **SLOW}[name]()
        if data is None:
            clean = sim.simulate()
            data = clean + 0.01 * np.random.default_rng(1).normal(size=clean.shape)
        sim.observe(data)
        loss, grads = sim.loss_grad(names)
        results[arch] = (loss, np.concatenate([np.ravel(g) for g in grads]))
    td.init(arch="cpu", default_fp=td.f64)
    (l64, g64), (l32, g32) = results["cpu"], results["vulkan"]
    assert np.all(np.isfinite(g32))
    assert_close(l32, l64, rtol=2e-3, what=f"{name} loss")
    scale = np.max(np.abs(g64))  # gradients compared relative to their largest component
    assert_close(g32 / scale, g64 / scale, rtol=2e-3, what=f"{name} gradient")
