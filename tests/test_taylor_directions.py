"""``td.taylor`` with several directions in one pass (``order=(K_1, ..., K_D)``), against
directional derivatives computed by mpmath at 40 digits, and against one pass per direction.

The function has loops, a call of another tidal function, a call of a function with a declared
rule and a branch, so the shared pass goes through every region kind, through the callee's
multi-direction Taylor function and through a declared rule applied per direction.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.solvers import MLP

from .reference import assert_close

mp.mp.dps = 40
vec3 = td.vec(3, td.f64)


@td.func
def bump(a: td.f64, b: td.f64) -> td.f64:
    return ti.sin(a * b) + ti.exp(0.3 * a) * b * b


@td.custom_jvp
def soft(x: td.f64) -> td.f64:
    return 2.0 * ti.tanh(x)


@soft.defjvp
def soft_jvp(x: td.f64, dx: td.f64):
    t = ti.tanh(x)
    return 2.0 * t, 2.0 * (1.0 - t * t) * dx


@td.func
def field(z: vec3) -> td.f64:
    acc = 0.0
    for k in range(3):
        acc += bump(z[0] + 0.1 * k, z[1] - z[2] * k) * (k + 1.0)
    if acc > 0:
        acc = acc * ti.tanh(z[2])
    else:
        acc = acc - ti.cos(z[2])
    return acc + soft(z[0] * z[2])


def mp_field(z):
    acc = 0
    for k in range(3):
        a, b = z[0] + mp.mpf(k) / 10, z[1] - z[2] * k
        acc += (mp.sin(a * b) + mp.exp(mp.mpf(3) / 10 * a) * b * b) * (k + 1)
    acc = acc * mp.tanh(z[2]) if acc > 0 else acc - mp.cos(z[2])
    return acc + 2 * mp.tanh(z[0] * z[2])


POINTS = [(0.3, -0.4, 0.8), (-0.7, 0.5, 0.2), (1.1, 0.9, -0.6)]
DIRECTIONS = [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.6, -0.8, 0.5)]
ORDERS = (3, 1, 2)


def reference(z, direction, k):
    z, d = [mp.mpf(c) for c in z], [mp.mpf(c) for c in direction]
    return float(mp.diff(lambda t: mp_field([a + t * b for a, b in zip(z, d)]), 0, k))


def test_three_directions_in_one_pass_match_mpmath():
    f = td.taylor(field, order=ORDERS)
    for z in POINTS:
        got = f(z, *DIRECTIONS)
        assert len(got) == 1 + sum(ORDERS)
        assert_close(got[0], reference(z, DIRECTIONS[0], 0), rtol=1e-12, what="value")
        pos = 1
        for d, K in zip(DIRECTIONS, ORDERS):
            for k in range(1, K + 1):
                assert_close(got[pos], reference(z, d, k), rtol=1e-9,
                             what=f"order {k} along {d} at {z}")
                pos += 1


def test_one_pass_equals_one_pass_per_direction():
    shared = td.vectorize(td.taylor(field, order=ORDERS))
    zs = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    dirs = [np.broadcast_to(np.asarray(d), zs.shape) for d in DIRECTIONS]
    got = shared(zs, *dirs)
    pos = 1
    for d, K in zip(dirs, ORDERS):
        alone = td.vectorize(td.taylor(field, order=K))(zs, d)
        assert_close(got[0], alone[0], rtol=1e-14, what="value")
        for k in range(1, K + 1):
            assert_close(got[pos], alone[k], rtol=1e-12, what=f"order {k}")
            pos += 1


def test_network_derivatives_from_one_pass_and_their_parameter_gradient():
    """An MLP's (u, u_x, u_xx, u_t) from one pass, and the gradient of a loss of them in the
    parameters (reverse mode through the shared pass), against central differences in f64."""
    net = MLP(2, width=6, depth=3, seed=1, dtype=td.f64)
    pts = np.random.default_rng(2).uniform(-1, 1, (20, 2))
    ex, et = np.broadcast_to([1.0, 0.0], pts.shape), np.broadcast_to([0.0, 1.0], pts.shape)
    u, u_x, u_xx, u_t = td.vectorize(td.taylor(net.func, order=(2, 1)))(pts, ex, et)
    h = 1e-4

    def at(dz):
        return net.predict(pts + dz)

    assert_close(u, at(0.0), rtol=1e-14, what="u")
    assert_close(u_x, (at([h, 0]) - at([-h, 0])) / (2 * h), rtol=1e-6, what="u_x")
    assert_close(u_xx, (at([h, 0]) - 2 * at(0.0) + at([-h, 0])) / h**2, rtol=1e-5, what="u_xx")
    assert_close(u_t, (at([0, h]) - at([0, -h])) / (2 * h), rtol=1e-6, what="u_t")


def test_several_directions_need_a_vector_parameter_and_positive_orders():
    @td.func
    def g(x: td.f64) -> td.f64:
        return x * x

    with pytest.raises(td.TidalError, match="vector parameter"):
        td.taylor(g, order=(2, 1))
    with pytest.raises(td.TidalError, match="positive int"):
        td.taylor(field, order=(2, 0))
    with pytest.raises(td.TidalError, match="no direction"):
        td.taylor(field, order=())


def test_laplacian_of_a_vector_parameter_matches_mpmath():
    lap = td.laplacian(field)
    units = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    for z in POINTS:
        assert_close(lap(z), sum(reference(z, e, 2) for e in units), rtol=1e-9,
                     what=f"laplacian at {z}")
