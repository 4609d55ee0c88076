"""Checks of the reference solutions in ``tidal.solvers.exact`` against independent references.

Each reference is checked by something that does not reuse its own formula: the PDE residual by
finite differences, the initial and boundary conditions, an independent numerical solution
(Fourier pseudo-spectral for Burgers) and a value from the literature (Basdevant et al. 1986).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from tidal.solvers.exact import (
    burgers_exact,
    burgers_grid,
    heat_1d_exact,
    helmholtz_2d_exact,
    helmholtz_2d_source,
    poisson_2d_square_exact,
    wave_1d_exact,
)

NU = 0.01 / np.pi


def d1(f, h: float):
    """Fourth-order central first difference of ``f`` (a function of the offset)."""
    return (8.0 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12.0 * h)


def d2(f, h: float):
    """Fourth-order central second difference of ``f`` (a function of the offset)."""
    return (16.0 * (f(h) + f(-h)) - (f(2 * h) + f(-2 * h)) - 30.0 * f(0.0)) / (12.0 * h * h)


def burgers_spectral(n: int, times: list[float], dt: float) -> tuple[np.ndarray, list]:
    """Independent solution of Burgers' equation: Fourier pseudo-spectral in space on the
    2-periodic domain [-1, 1) (the sine initial condition is periodic and odd, so u(+-1) = 0
    holds by symmetry), 2/3-rule de-aliasing, and classical RK4 in time with an integrating
    factor for the viscous term (so the step is limited by advection only).
    """
    x = -1.0 + 2.0 * np.arange(n) / n
    k = np.pi * np.fft.rfftfreq(n, d=1.0 / n)  # wavenumbers for period 2
    keep = k < (2.0 / 3.0) * k.max()
    v = np.fft.rfft(-np.sin(np.pi * x))

    def rhs(v: np.ndarray) -> np.ndarray:  # -(u^2 / 2)_x in Fourier space
        u = np.fft.irfft(v, n=n)
        return -0.5j * k * np.fft.rfft(u * u) * keep

    out, now = [], 0.0
    for target in times:
        steps = max(1, int(round((target - now) / dt)))
        h = (target - now) / steps
        e = np.exp(-NU * k**2 * h / 2)
        e2 = e * e
        for _ in range(steps):
            a = h * rhs(v)
            b = h * rhs(e * (v + a / 2))
            c = h * rhs(e * v + b / 2)
            d = h * rhs(e2 * v + e * c)
            v = e2 * v + (e2 * a + 2 * e * (b + c) + d) / 6
        now = target
        out.append(np.fft.irfft(v, n=n))
    return x, out


# --------------------------------------------------------------------------------------------
# Burgers
# --------------------------------------------------------------------------------------------


def test_burgers_initial_condition():
    x = np.linspace(-1.0, 1.0, 401)
    np.testing.assert_array_equal(burgers_exact(x, 0.0), -np.sin(np.pi * x))
    # Just after t = 0 the quadrature branch must agree (u changes by about t * |u_t| <= 2e-6).
    np.testing.assert_allclose(burgers_exact(x, 1e-6), -np.sin(np.pi * x), rtol=0, atol=1e-5)


def test_burgers_boundary_values():
    t = np.linspace(0.0, 1.0, 101)
    for end in (-1.0, 1.0):
        np.testing.assert_allclose(burgers_exact(end, t), 0.0, rtol=0, atol=1e-12)


def test_burgers_antisymmetry():
    x = np.linspace(0.0, 1.0, 201)[:, None]
    t = np.array([0.05, 0.3, 0.4775, 0.7, 0.99])[None, :]
    np.testing.assert_allclose(burgers_exact(-x, t), -burgers_exact(x, t), rtol=0, atol=1e-13)


def test_burgers_broadcasting_and_dtype():
    u = burgers_exact(np.linspace(-1, 1, 7)[:, None], np.linspace(0, 1, 3))
    assert u.shape == (7, 3) and u.dtype == np.float64
    assert burgers_exact(0.3, 0.2).shape == ()
    assert burgers_exact([0.1, 0.2], [[0.1], [0.2], [0.0]]).shape == (3, 2)


def test_burgers_pde_residual_away_from_shock():
    # u_t + u u_x - nu u_xx by fourth-order central differences of the exact formula, at
    # interior points away from the shock at x = 0.
    xs = np.concatenate([-np.linspace(0.2, 0.95, 16), np.linspace(0.2, 0.95, 16)])
    x, t = np.meshgrid(xs, np.linspace(0.1, 0.4, 7), indexing="ij")
    u = burgers_exact(x, t)
    u_t = d1(lambda h: burgers_exact(x, t + h), 1e-3)
    u_x = d1(lambda h: burgers_exact(x + h, t), 1e-3)
    u_xx = d2(lambda h: burgers_exact(x + h, t), 1e-3)
    residual = u_t + u * u_x - NU * u_xx
    scale = np.abs(u_t) + np.abs(u * u_x) + np.abs(NU * u_xx)
    assert np.max(np.abs(residual) / scale) < 1e-7


def test_burgers_quadrature_converged():
    # 200 vs 400 nodes (400 is past numpy's hermgauss limit, so this also exercises the
    # scipy.special.roots_hermite path). Measured: <= 5e-15 everywhere on [-1, 1] x (0, 1],
    # shock included; 100 nodes is as good.
    x, t = np.meshgrid(np.linspace(-1, 1, 401), np.linspace(0.01, 0.99, 50), indexing="ij")
    u200, u400 = burgers_exact(x, t, nodes=200), burgers_exact(x, t, nodes=400)
    far = np.abs(x) > 0.1
    assert np.max(np.abs(u200 - u400)[far]) < 1e-12
    assert np.max(np.abs(u200 - u400)[~far]) < 1e-12  # near the shock
    np.testing.assert_allclose(burgers_exact(x, t, nodes=100), u400, rtol=0, atol=1e-12)


def test_burgers_matches_pseudo_spectral_solution():
    # 2048 Fourier modes, dt = 2e-4: measured agreement about 1e-8 at t = 0.5 (the steepest
    # front) and 1e-9 at t = 0.99, shock included; about 1 s.
    times = [0.25, 0.5, 0.99]
    x, us = burgers_spectral(2048, times, dt=2e-4)
    for t, u in zip(times, us):
        np.testing.assert_allclose(u, burgers_exact(x, t), rtol=0, atol=1e-6)


def test_burgers_steepest_gradient_basdevant():
    # Basdevant et al. (1986), Comput. Fluids 14, 23-41: for nu = 0.01/pi the largest slope
    # max_t |u_x(0, t)| is 152.00516, reached at t = 1.6037/pi ~ 0.5105. (At t = 3/(2 pi) ~
    # 0.4775 the slope is only -150.0287.) u_x(0, t) by a fourth-order difference, h = 1e-5
    # (truncation about 1e-9 here).
    def slope(t: float) -> float:
        return float(d1(lambda h: burgers_exact(h, t), 1e-5))

    assert abs(slope(1.6037 / np.pi) + 152.00516) < 1e-5
    best = minimize_scalar(slope, bounds=(0.45, 0.55), method="bounded", options={"xatol": 1e-8})
    assert abs(best.fun + 152.00516) < 1e-5  # measured -152.0051616
    assert abs(best.x * np.pi - 1.6037) < 1e-4  # measured 1.603689
    assert abs(slope(1.5 / np.pi) + 150.0287) < 1e-4


def test_burgers_grid():
    x, t, u = burgers_grid()
    assert x.shape == (256,) and t.shape == (100,) and u.shape == (256, 100)
    np.testing.assert_array_equal(x, np.linspace(-1, 1, 256))
    np.testing.assert_allclose(t, np.arange(100) * 0.01, rtol=0, atol=1e-15)
    assert t[0] == 0.0 and abs(t[-1] - 0.99) < 1e-15
    np.testing.assert_array_equal(u[:, 0], -np.sin(np.pi * x))
    for j in (1, 37, 99):
        np.testing.assert_allclose(u[:, j], burgers_exact(x, t[j]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(u[[0, -1], 1:], 0.0, atol=1e-12)
    xs, ts, us = burgers_grid(nx=11, nt=4, nodes=150)
    assert us.shape == (11, 4)
    np.testing.assert_allclose(us, burgers_exact(xs[:, None], ts[None, :]), atol=1e-13)


@pytest.mark.parametrize("nodes", [0, 10, 99])
def test_burgers_too_few_nodes(nodes):
    with pytest.raises(ValueError, match="inaccurate"):
        burgers_exact(0.5, 0.5, nodes=nodes)


def test_burgers_bad_arguments():
    with pytest.raises(ValueError):
        burgers_exact(0.5, -0.1)
    with pytest.raises(ValueError):
        burgers_exact(0.5, 0.1, nu=0.0)


def test_burgers_small_viscosity_no_overflow():
    # exp(1 / (2 pi nu)) overflows float64 for nu < 1/(2 pi 709); the log-sum-exp form doesn't.
    # Smaller viscosities need more nodes: at nu = 1e-4, t = 0.2, 200 nodes are off by 2e-2,
    # while 400 agree with 600 to 1e-15.
    x = np.array([-0.5, -0.2, 0.5, 0.8])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        u = burgers_exact(x, 0.2, nu=1e-4, nodes=400)
    np.testing.assert_allclose(u, burgers_exact(x, 0.2, nu=1e-4, nodes=600), atol=1e-12)
    # Before the inviscid shock time 1/pi the solution is within O(nu) of the inviscid one,
    # given implicitly by the characteristics: u = -sin(pi (x - u t)). Measured: 3e-4.
    np.testing.assert_allclose(u, -np.sin(np.pi * (x - u * 0.2)), rtol=0, atol=1e-3)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_heat_1d():
    alpha, length, n = 0.4, 2.0, 3
    x, t = np.meshgrid(np.linspace(0.05, 1.95, 39), np.linspace(0.0, 0.5, 11), indexing="ij")

    def u(x, t):
        return heat_1d_exact(x, t, alpha=alpha, length=length, n=n)

    u_t = d1(lambda h: u(x, t + h), 1e-3)
    u_xx = d2(lambda h: u(x + h, t), 1e-3)
    np.testing.assert_allclose(u_t, alpha * u_xx, rtol=0, atol=1e-8)
    ts = np.linspace(0, 1, 11)
    np.testing.assert_allclose(u(0.0, ts), 0.0, atol=1e-14)
    np.testing.assert_allclose(u(length, ts), 0.0, atol=1e-14)
    xs = np.linspace(0, length, 21)
    np.testing.assert_allclose(u(xs, 0.0), np.sin(n * np.pi * xs / length), atol=1e-15)
    # Defaults: alpha = 0.4, L = 1, n = 1.
    np.testing.assert_allclose(heat_1d_exact(0.5, 1.0), np.exp(-0.4 * np.pi**2), rtol=1e-14)


def test_wave_1d():
    c, n = 1.5, 2
    x, t = np.meshgrid(np.linspace(0.05, 0.95, 19), np.linspace(0.0, 1.0, 11), indexing="ij")

    def u(x, t):
        return wave_1d_exact(x, t, c=c, n=n)

    u_tt = d2(lambda h: u(x, t + h), 1e-3)
    u_xx = d2(lambda h: u(x + h, t), 1e-3)
    np.testing.assert_allclose(u_tt, c**2 * u_xx, rtol=0, atol=1e-6)
    ts = np.linspace(0, 2, 21)
    np.testing.assert_allclose(u(0.0, ts), 0.0, atol=1e-14)
    np.testing.assert_allclose(u(1.0, ts), 0.0, atol=1e-14)
    xs = np.linspace(0, 1, 21)
    np.testing.assert_allclose(u(xs, 0.0), np.sin(n * np.pi * xs), atol=1e-15)
    np.testing.assert_allclose(d1(lambda h: u(xs, h), 1e-3), 0.0, atol=1e-12)  # at rest
    # Defaults c = 1, n = 1: period 2.
    np.testing.assert_allclose(wave_1d_exact(xs, 2.0), wave_1d_exact(xs, 0.0), atol=1e-14)


def test_poisson_2d_square():
    x, y = np.meshgrid(np.linspace(0.05, 0.95, 19), np.linspace(0.05, 0.95, 19), indexing="ij")
    lap = d2(lambda h: poisson_2d_square_exact(x + h, y), 1e-3) + d2(
        lambda h: poisson_2d_square_exact(x, y + h), 1e-3
    )
    f = 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y)
    np.testing.assert_allclose(-lap, f, rtol=0, atol=1e-8)
    s = np.linspace(0, 1, 21)
    for side in (0.0, 1.0):
        np.testing.assert_allclose(poisson_2d_square_exact(side, s), 0.0, atol=1e-14)
        np.testing.assert_allclose(poisson_2d_square_exact(s, side), 0.0, atol=1e-14)


@pytest.mark.parametrize("k0", [4 * np.pi, np.pi, 3 * np.pi])
def test_helmholtz_2d(k0):
    x, y = np.meshgrid(np.linspace(0.02, 0.98, 25), np.linspace(0.02, 0.98, 25), indexing="ij")

    def u(x, y):
        return helmholtz_2d_exact(x, y, k0=k0)

    lap = d2(lambda h: u(x + h, y), 1e-3) + d2(lambda h: u(x, y + h), 1e-3)
    f = -(k0**2) * np.sin(k0 * x) * np.sin(k0 * y)
    np.testing.assert_allclose(lap + k0**2 * u(x, y), f, rtol=0, atol=1e-6 * k0**2)
    np.testing.assert_allclose(helmholtz_2d_source(x, y, k0=k0), f, rtol=1e-14, atol=1e-12)
    s = np.linspace(0, 1, 21)
    for side in (0.0, 1.0):
        np.testing.assert_allclose(u(side, s), 0.0, atol=1e-13)
        np.testing.assert_allclose(u(s, side), 0.0, atol=1e-13)
    # The default is the DeepXDE benchmark's k0 = 4 pi.
    np.testing.assert_allclose(helmholtz_2d_exact(x, y), helmholtz_2d_exact(x, y, 4 * np.pi))
