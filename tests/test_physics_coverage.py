"""Uncertainty from td.fit on noisy data: over 20 replicates of noise, the truth lies within
two reported standard errors in about 95 % of the fits (at least 16 of 20 for every parameter,
the bound the pendulum test in test_physics_ode.py uses). Each problem prints its coverage."""

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.physics import AdvectionDiffusion1D, Burgers1D, Wave1D, pair_system

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
REPLICATES = 20


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _sensors(field, cells):
    out = np.full_like(field, np.nan)
    out[:, cells] = field[:, cells]
    return out


def _wave():
    n, steps = 33, 80
    x = np.linspace(0.0, 1.0, n)
    u0 = np.sin(np.pi * x) + 0.3 * np.sin(2 * np.pi * x)
    dt = 0.8 / (n - 1) / 1.2
    clean = _sensors(Wave1D(1.0, u0, dt=dt, steps=steps).simulate(), [5, 12, 20, 27])
    return Wave1D(1.1, u0, dt=dt, steps=steps), clean, {"c": 1.0}, 0.02


def _advection():
    n, steps = 32, 100
    xp = np.arange(n) / n
    u0 = np.exp(-((xp - 0.5) / 0.1) ** 2)
    truth = {"velocity": 0.8, "diffusivity": 0.005}
    dt = 0.8 / n / (1.0 + 2 * 0.006 * n)
    clean = _sensors(AdvectionDiffusion1D(**truth, u0=u0, dt=dt, steps=steps).simulate(),
                     [3, 10, 17, 24])
    return AdvectionDiffusion1D(0.9, 0.0055, u0, dt=dt, steps=steps), clean, truth, 0.01


def _burgers():
    n, steps = 32, 100
    xp = np.arange(n) / n
    u0 = 0.3 + np.sin(2 * np.pi * xp)
    dt = 0.4 / n ** 2 / 0.025
    clean = _sensors(Burgers1D(0.02, u0, dt=dt, steps=steps).simulate(), [4, 11, 19, 26])
    return Burgers1D(0.022, u0, dt=dt, steps=steps), clean, {"viscosity": 0.02}, 0.01


def _lennard_jones():
    cluster = np.array([[0.0, 0.0], [1.15, 0.05], [0.5, 1.0], [-0.6, 0.9]])
    truth = {"epsilon": 1.3, "sigma": 0.95}
    clean = pair_system("lennard_jones", cluster, **truth, dt=0.005, steps=150).simulate()
    return pair_system("lennard_jones", cluster, epsilon=1.2, sigma=0.97, dt=0.005,
                       steps=150), clean, truth, 0.01


@pytest.mark.parametrize("problem", [_wave, _advection, _burgers, _lennard_jones],
                         ids=["wave", "advection_diffusion", "burgers", "lennard_jones"])
def test_the_truth_lies_within_two_standard_errors_about_95_percent_of_the_time(problem):
    sim, clean, truth, noise = problem()
    start = {n: sim.get(n) for n in truth}
    rng = np.random.default_rng(7)
    inside = dict.fromkeys(truth, 0)
    for _ in range(REPLICATES):
        noisy = clean + noise * rng.normal(size=clean.shape)
        for n, v in start.items():
            sim.set(n, v)
        r = td.fit(sim, noisy, list(truth), method="Newton-CG", log_scale=True, max_iter=50,
                   progress=False)
        for n, v in truth.items():
            inside[n] += bool(abs(float(r.values[n]) - v) <= 2 * float(r.stderr[n]))
    print(f"\n{problem.__name__[1:]}: truth within two standard errors in "
          + ", ".join(f"{n} {k}/{REPLICATES}" for n, k in inside.items()))
    assert all(k >= 16 for k in inside.values()), inside
