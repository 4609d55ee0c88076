"""The periodic reaction-diffusion solver (tidal.physics.ReactionDiffusion1D), the reference of
the Allen-Cahn and Gray-Scott PINN examples, checked independently of itself: Fourier modes of
pure diffusion against their closed-form decay (spectral and finite-difference symbols), a
travelling Nagumo front and stationary Allen-Cahn kinks against their closed forms, fourth
order in time, the finite-difference scheme against an independent explicit stencil code and
second order in space, and the two examples' reference set-ups converged far below the PINNs'
tolerances (the figures measured are in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tidal as td
from tidal.physics import ReactionDiffusion1D, allen_cahn, brusselator, gray_scott
from tidal.physics.reaction_diffusion import phi_functions


def _relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_phi_functions_match_their_closed_forms():
    """The series (|z| < 1) and the closed forms (elsewhere) against the closed forms, where
    those keep their digits, and against the first Taylor terms near 0."""
    z = np.array([-50.0, -3.0, -1.0, -0.999, -0.3, 0.2, 0.999, 2.0])
    p1, p2, p3 = phi_functions(z)
    e = np.exp(z)
    np.testing.assert_allclose(p1, (e - 1) / z, rtol=1e-12)
    np.testing.assert_allclose(p2, (e - 1 - z) / z ** 2, rtol=1e-11)
    np.testing.assert_allclose(p3, (e - 1 - z - z ** 2 / 2) / z ** 3, rtol=1e-10)
    small = np.array([0.0, 1e-6, -1e-6])
    for j, p in zip((1, 2, 3), phi_functions(small)):
        taylor = 1 / math.factorial(j) + small / math.factorial(j + 1)
        np.testing.assert_allclose(p, taylor, rtol=1e-12)


@pytest.mark.parametrize("scheme", ["spectral", "fd"])
def test_pure_diffusion_decays_every_mode_by_its_symbol(scheme):
    """Without a reaction ETDRK4 is exact: mode k decays by exp(D lambda_k t), with lambda_k =
    -k^2 (spectral) or -(4 / h^2) sin^2(k h / 2) (three-point finite differences)."""
    n, d, length = 64, 0.05, 2.0
    model = ReactionDiffusion1D(d, None, n=n, x_range=(-1.0, 1.0), scheme=scheme)
    modes = (1, 5, 17)
    u0 = sum(np.cos(2 * np.pi * m * model.x / length + m) for m in modes)
    times = np.array([0.0, 0.3, 1.0])
    u = model.solve(u0, times, dt=0.25)
    h = length / n
    expected = 0.0
    for m in modes:
        k = 2 * np.pi * m / length
        lam = -k ** 2 if scheme == "spectral" else -(4 / h ** 2) * math.sin(k * h / 2) ** 2
        expected = expected + np.exp(d * lam * times)[:, None] * np.cos(k * model.x + m)[None]
    np.testing.assert_allclose(u, expected, atol=1e-13)


def _nagumo(x, t, d, rate, a):
    """Two fronts of ``u_t = d u_xx + rate u (1 - u)(u - a)``, each ``1 / (1 + exp(-beta (s -
    c t)))`` with ``beta = sqrt(rate / (2 d))`` and ``c = -rate (1/2 - a) / beta``, one rising at
    x = -0.5 and its mirror image falling at x = 0.5 (the state 1 between them invades the state
    0: for a < 1/2 both fronts move outwards)."""
    beta = math.sqrt(rate / (2 * d))
    c = -rate * (0.5 - a) / beta
    rising = 1 / (1 + np.exp(-beta * (x + 0.5 - c * t)))
    falling = 1 / (1 + np.exp(-beta * (-x + 0.5 - c * t)))
    return rising + falling - 1.0


def _nagumo_model(n, scheme="spectral"):
    d, rate, a = 1e-3, 2.0, 0.25
    model = ReactionDiffusion1D(d, lambda u: rate * u * (1 - u) * (u - a), n=n,
                                x_range=(-2.0, 2.0), scheme=scheme)
    return model, (d, rate, a)


def test_a_travelling_nagumo_front_moves_at_its_closed_form_speed():
    model, p = _nagumo_model(512)
    times = np.array([0.0, 0.5, 1.0])
    u = model.solve(_nagumo(model.x, 0.0, *p), times, dt=1e-2)
    exact = _nagumo(model.x[None, :], times[:, None], *p)
    assert np.abs(u - exact).max() < 1e-10  # measured 3.0e-12 (the fronts are e^-60 apart)
    assert np.abs(exact[-1] - exact[0]).max() > 0.1  # the fronts moved


def test_etdrk4_is_fourth_order_in_time():
    """The Nagumo fronts with large steps: the error falls about 16x per halving of dt."""
    model, p = _nagumo_model(256)
    exact = _nagumo(model.x, 1.0, *p)
    errors = [np.abs(model.solve(_nagumo(model.x, 0.0, *p), [1.0], dt=dt)[0] - exact).max()
              for dt in (0.2, 0.1, 0.05)]
    rates = [math.log2(errors[k] / errors[k + 1]) for k in range(2)]
    assert all(3.5 < r < 4.6 for r in rates), (errors, rates)  # measured 4.10, 3.97


def test_allen_cahn_kinks_are_stationary():
    """tanh(sqrt(rate / (2 eps2)) (x - x0)) is a steady state of u_t = eps2 u_xx + rate (u -
    u^3); a pair of kinks 1 apart on [-1, 1) (interaction e^-158) stays put under the standard
    set-up's eps2 = 1e-4, rate = 5 (kinks 0.006 wide)."""
    model = allen_cahn(1e-4, 5.0, n=2048)
    a = math.sqrt(5.0 / (2e-4))
    kinks = np.tanh(a * (model.x + 0.5)) - np.tanh(a * (model.x - 0.5)) - 1.0
    u = model.solve(kinks, [1.0], dt=1e-3)[0]
    assert np.abs(u - kinks).max() < 1e-12  # measured 2.4e-15


def test_finite_differences_match_an_independent_stencil_code():
    """Gray-Scott by the solver's "fd" scheme against explicit RK4 on the three-point stencil
    (np.roll), with a step far below its stability limit."""
    n, du, dv, feed, kill = 64, 0.01, 0.005, 0.04, 0.06
    model = gray_scott(du, dv, feed, kill, n=n, scheme="fd")
    g = np.exp(-(model.x / 0.2) ** 2)
    state = np.stack([1 - 0.5 * g, 0.5 * g])
    h = model.h

    def rhs(s):
        lap = (np.roll(s, 1, axis=1) - 2 * s + np.roll(s, -1, axis=1)) / h ** 2
        uvv = s[0] * s[1] ** 2
        return np.stack([du * lap[0] - uvv + feed * (1 - s[0]),
                         dv * lap[1] + uvv - (feed + kill) * s[1]])

    s, dt = state.copy(), 0.01
    for _ in range(200):  # to t = 2
        k1 = rhs(s)
        k2 = rhs(s + dt / 2 * k1)
        k3 = rhs(s + dt / 2 * k2)
        k4 = rhs(s + dt * k3)
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    got = model.solve(state, [2.0], dt=0.02)[0]
    assert np.abs(got - s).max() < 1e-10  # measured 8.8e-12 (the spectral scheme: 9e-4 off)


def test_finite_differences_converge_at_second_order_in_space():
    """The Gray-Scott example's set-up: the "fd" error against a fine spectral solution falls
    4x per halving of h (5.9e-4, 1.5e-4, 3.7e-5 on 64, 128, 256 points), and the example's
    reference (512 points, dt = 0.05) is within 1.2e-5 of twice the points and half the step,
    far below the PINN's errors."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "pinn_gray_scott.py"
    spec = importlib.util.spec_from_file_location("example_gray_scott", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    times = np.linspace(*example.T_RANGE, 5)
    fine = example.model(1024, "spectral").solve(example.initial, times, dt=0.05)
    errors = []
    for n in (64, 128, 256):
        u = example.model(n, "fd").solve(example.initial, times, dt=0.05)
        errors.append(_relative(u, fine[..., ::1024 // n]))
    rates = [math.log2(errors[k] / errors[k + 1]) for k in range(2)]
    assert all(1.8 < r < 2.2 for r in rates), (errors, rates)  # measured 2.004, 2.001
    x, t, reference = example.reference(np.linspace(*example.T_RANGE, 11))  # (x, t, species)
    finer = example.model(2 * example.GRID, "fd").solve(example.initial, t, dt=example.DT / 2)
    finer = finer[..., ::2].transpose(2, 0, 1)
    for k in range(2):  # measured 5.4e-6 (u), 1.2e-5 (v)
        assert _relative(reference[..., k], finer[..., k]) < 5e-5


def test_the_allen_cahn_reference_is_converged():
    """The example's reference (512 Fourier modes, dt = 1e-3) against 1024 modes and dt / 4:
    5.9e-6 relative L2 (8.2e-6 over the example's 101 times), a thousandth of the PINN's target
    1e-2; the second-order finite differences on 4096 points agree to 2.5e-6 (x^2 cos(pi x) has
    a kink at the periodic boundary, so the spectral convergence is algebraic at first)."""
    times = np.linspace(0.0, 1.0, 21)
    u0 = lambda x: x ** 2 * np.cos(np.pi * x)  # noqa: E731
    ref = allen_cahn(n=512).solve(u0, times, dt=1e-3)
    finer = allen_cahn(n=1024).solve(u0, times, dt=2.5e-4)[:, ::2]
    assert _relative(ref, finer) < 2e-5
    assert _relative(ref, allen_cahn(n=512).solve(u0, times, dt=5e-3)) < 1e-7  # measured 2.4e-9
    fd = allen_cahn(n=4096, scheme="fd").solve(u0, times, dt=1e-3)[:, ::8]
    assert _relative(fd, finer) < 2e-5
    # the well-known solution: by t = 1, u = -1 outside |x| < 0.5 and two plateaus at +1
    # inside, split by a dip to about 0 at x = 0 (where u starts at its unstable state 0)
    x, last = allen_cahn(n=512).x, ref[-1]
    assert np.flatnonzero(np.diff(np.sign(last))).tolist() == [128, 383]  # x = -0.5, 0.496
    assert np.abs(last[np.abs(x) > 0.6] + 1).max() < 5e-3  # measured 1.8e-3
    assert np.abs(last[np.abs(np.abs(x) - 0.3) < 0.05] - 1).max() < 0.02
    assert 0 < last[256] < 0.1  # x = 0: measured 0.03


def test_brusselator_keeps_its_steady_state_and_a_perturbation_stays_bounded():
    model = brusselator(0.01, 0.01, 1.0, 1.5, n=64)  # b < 1 + a^2: the steady state is stable
    x = model.x
    state = np.stack([1.0 + 0.1 * np.cos(np.pi * x), 1.5 + 0 * x])
    u = model.solve(state, [0.0, 20.0], dt=0.05)
    assert np.abs(u[-1, 0] - 1.0).max() < 0.1 * np.abs(u[0, 0] - 1.0).max()


def test_bad_input_is_refused_clearly():
    with pytest.raises(td.TidalArgumentError, match="diffusivity"):
        ReactionDiffusion1D(-1.0, None, n=16)
    with pytest.raises(td.TidalArgumentError, match="scheme"):
        ReactionDiffusion1D(1.0, None, n=16, scheme="chebyshev")
    with pytest.raises(td.TidalArgumentError, match="n must be"):
        ReactionDiffusion1D(1.0, None, n=2)
    model = gray_scott(0.01, 0.005, 0.04, 0.06, n=16)
    with pytest.raises(td.TidalArgumentError, match=r"u0 must have shape \(2, 16\)"):
        model.solve(np.zeros(16), [1.0], dt=0.1)
    with pytest.raises(td.TidalArgumentError, match="increasing"):
        model.solve(np.zeros((2, 16)), [1.0, 0.5], dt=0.1)
    with pytest.raises(td.TidalArgumentError, match="dt"):
        model.solve(np.zeros((2, 16)), [1.0], dt=0.0)
    bad = ReactionDiffusion1D((1.0, 1.0), lambda u, v: (u,), n=16)
    with pytest.raises(td.TidalArgumentError, match="reaction returned shape"):
        bad.solve(np.zeros((2, 16)), [1.0], dt=0.1)
    blowup = ReactionDiffusion1D(0.0, lambda u: u ** 3, n=16)
    with pytest.raises(td.TidalArgumentError, match="not finite"):
        blowup.solve(np.full(16, 10.0), [10.0], dt=0.5)
