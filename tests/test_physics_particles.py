"""Particles with forces from pair potentials (tidal.physics.particles): forces against the
potentials' derivatives in closed form, energy conservation of velocity Verlet at second order,
a two-body circular orbit against Kepler's period, and recovery of the Lennard-Jones epsilon and
sigma from a trajectory (fitting through ``-td.grad`` of the potential). Gradient and
Hessian-vector checks against finite differences are in test_physics_ode.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tidal as td
from tidal.physics import pair_energy, pair_system

from .reference import assert_close, run_example

CLUSTER = np.array([[0.0, 0.0], [1.15, 0.05], [0.5, 1.0], [-0.6, 0.9]])


def _lj_forces(x, epsilon, sigma):
    """Lennard-Jones forces in closed form: F_i = sum_j 24 eps (2 (s/r)^12 - (s/r)^6) d / r^2."""
    f = np.zeros_like(x)
    for i in range(len(x)):
        for j in range(len(x)):
            if i != j:
                d = x[i] - x[j]
                r2 = d @ d
                s6 = (sigma * sigma / r2) ** 3
                f[i] += 24.0 * epsilon * (2.0 * s6 * s6 - s6) * d / r2
    return f


def test_forces_are_minus_the_potential_gradient():
    sim = pair_system("lennard_jones", CLUSTER, epsilon=0.7, sigma=1.1, mass=2.0)
    y0, p = sim.get("y0")[0], np.array([0.7, 1.1, 2.0])
    dydt = np.asarray(sim._rhs(y0, p, 0.0))
    n = len(CLUSTER) * 2
    assert_close(dydt[:n], y0[n:], rtol=1e-15, what="positions' rate is the velocity")
    assert_close(dydt[n:], _lj_forces(CLUSTER, 0.7, 1.1).ravel() / 2.0, rtol=1e-12,
                 what="acceleration")


def test_morse_force_matches_its_closed_form():
    x = np.array([[0.0, 0.0, 0.0], [0.9, 0.3, -0.2]])
    sim = pair_system("morse", x, depth=2.0, width=1.5, r0=1.0)
    dydt = np.asarray(sim._rhs(sim.get("y0")[0], np.array([2.0, 1.5, 1.0, 1.0]), 0.0))
    d = x[0] - x[1]
    r = np.linalg.norm(d)
    e = math.exp(-1.5 * (r - 1.0))
    dphi = 2.0 * 2.0 * (1.0 - e) * 1.5 * e
    assert_close(dydt[6:9], -dphi * d / r, rtol=1e-12)
    assert_close(dydt[9:12], dphi * d / r, rtol=1e-12)


def test_velocity_verlet_conserves_energy_at_second_order():
    """The energy error of velocity Verlet is O(dt^2): halving dt divides it by about 4."""
    errors = []
    for dt, steps in ((0.004, 500), (0.002, 1000)):
        sim = pair_system("lennard_jones", CLUSTER, epsilon=1.0, sigma=1.0, dt=dt, steps=steps)
        energy = pair_energy("lennard_jones", sim.simulate()[0], 4, 2, epsilon=1.0, sigma=1.0)
        errors.append(np.max(np.abs(energy - energy[0])))
    assert errors[0] < 1e-3
    assert 3.5 < errors[0] / errors[1] < 4.5, errors


def test_two_bodies_return_after_one_kepler_period():
    """Equal unit masses a apart, each at speed sqrt(G / (2 a)) about their centre: a circular
    orbit of period 2 pi sqrt(a^3 / (2 G))."""
    G, a = 1.0, 1.0
    v = math.sqrt(G / (2 * a))
    period = 2 * math.pi * math.sqrt(a ** 3 / (2 * G))
    steps = 2000
    sim = pair_system("gravity", [[-a / 2, 0.0], [a / 2, 0.0]], [[0.0, -v], [0.0, v]],
                      G=G, softening=0.0, dt=period / steps, steps=steps, integrator="rk4")
    y = sim.simulate()[0]
    assert_close(y[-1], y[0], rtol=1e-9, what="state after one period")
    separation = np.linalg.norm(y[:, 0:2] - y[:, 2:4], axis=1)
    assert_close(separation, np.full(steps + 1, a), rtol=1e-9, what="separation")


def test_per_step_and_whole_rollout_kernels_agree():
    sim = pair_system("lennard_jones", CLUSTER, epsilon=1.0, sigma=1.0, steps=100)
    assert_close(sim.simulate(whole=False), sim.simulate(whole=True), rtol=1e-12)


# (CI: one method per potential, the other behind the slow marker)
@pytest.mark.parametrize("method", ["L-BFGS-B", pytest.param("Newton-CG", marks=pytest.mark.slow)])
def test_lennard_jones_epsilon_and_sigma_are_recovered(method):
    """From a noise-free trajectory of a 4-particle cluster, starting 15 % and 5 % off. (From
    sigma 16 % too large, L-BFGS-B's first step lands where the forces vanish and stays there,
    while Newton-CG still recovers both: see docs/physics.md.)"""
    observed = pair_system("lennard_jones", CLUSTER, epsilon=1.3, sigma=0.95, dt=0.005,
                           steps=200).simulate()
    sim = pair_system("lennard_jones", CLUSTER, epsilon=1.1, sigma=1.0, dt=0.005, steps=200)
    result = td.fit(sim, observed, ["epsilon", "sigma"], method=method, progress=False,
                    max_iter=30)
    assert result.iterations <= 30
    assert abs(result.values["epsilon"] - 1.3) < 1.3e-8, result.values
    assert abs(result.values["sigma"] - 0.95) < 0.95e-8, result.values


@pytest.mark.parametrize("method", ["Newton-CG", pytest.param("L-BFGS-B", marks=pytest.mark.slow)])
def test_morse_depth_width_and_range_are_recovered(method):
    """Measured 2026-12-04 from 10-17 % off: Newton-CG 4.7e-14 in 8 iterations, L-BFGS-B
    1.1e-10 in 17."""
    truth = dict(depth=1.2, width=1.5, r0=1.1)
    observed = pair_system("morse", CLUSTER, **truth, dt=0.005, steps=300).simulate()
    sim = pair_system("morse", CLUSTER, depth=1.0, width=1.3, r0=1.05, dt=0.005, steps=300)
    result = td.fit(sim, observed, list(truth), method=method, log_scale=True, max_iter=30,
                    progress=False)
    for n, v in truth.items():
        assert abs(result.values[n] - v) < 1e-8 * v, (n, result.values[n])


def test_bad_input_is_refused_clearly():
    with pytest.raises(td.TidalError, match="unknown potential"):
        pair_system("coulomb", CLUSTER, q=1.0)
    with pytest.raises(td.TidalError, match="missing sigma"):
        pair_system("lennard_jones", CLUSTER, epsilon=1.0)
    with pytest.raises(td.TidalError, match="unknown eps"):
        pair_system("lennard_jones", CLUSTER, epsilon=1.0, sigma=1.0, eps=2.0)
    with pytest.raises(td.TidalError, match="same position"):
        pair_system("lennard_jones", [[0.0, 0.0], [0.0, 0.0]], epsilon=1.0, sigma=1.0)
    with pytest.raises(td.TidalError, match="velocities must have"):
        pair_system("lennard_jones", CLUSTER, np.zeros((3, 2)), epsilon=1.0, sigma=1.0)
    with pytest.raises(td.TidalError, match="positions must have shape"):
        pair_system("lennard_jones", [0.0, 1.0], epsilon=1.0, sigma=1.0)


# (CI time: the model and its fit are checked in-process above; the script in the slow run)
@pytest.mark.slow
def test_the_particles_example_fits_and_saves_its_figure(tmp_path):
    r = run_example("physics_particles", tmp_path, "--small")
    assert (tmp_path / "physics_particles.png").stat().st_size > 10_000
    assert "epsilon = 1.29" in r.stdout or "epsilon = 1.30" in r.stdout, r.stdout
