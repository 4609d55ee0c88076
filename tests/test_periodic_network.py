"""Periodic(net, periods): the wrapped network equals the inner network of the cos/sin features
(computed in NumPy), is periodic with its derivatives, and refuses bad axes and periods."""

import math

import numpy as np
import pytest

import tidal as td
from tidal.solvers import MLP, Periodic, Separate


def test_periodic_is_the_inner_network_of_the_features_and_periodic_in_every_derivative(cpu64):
    inner = MLP(5, width=8, depth=2, seed=3, out_dim=2, dtype=td.f64)
    net = Periodic(inner, periods={0: 2.0, 2: 0.5})
    assert (net.in_dim, net.out_dim, net.size) == (3, 2, inner.size)
    z = np.random.default_rng(0).uniform(-1, 1, size=(20, 3))
    features = np.stack([np.cos(math.pi * z[:, 0]), np.sin(math.pi * z[:, 0]), z[:, 1],
                         np.cos(4 * math.pi * z[:, 2]), np.sin(4 * math.pi * z[:, 2])], axis=1)
    np.testing.assert_allclose(net.predict(z), inner.predict(features), rtol=1e-13, atol=1e-14)
    shifted = z + np.array([2.0, 0.0, -0.5])
    np.testing.assert_allclose(net.predict(shifted), net.predict(z), atol=1e-12)
    # first and second derivatives along the periodic axis agree one period apart, and the
    # first one is the chain rule through the features (cos' = -sin) of the inner gradient
    jets = td.vectorize(_x_derivatives(net))
    np.testing.assert_allclose(jets(shifted), jets(z), atol=1e-10)
    h = 1e-5
    step = np.array([h, 0.0, 0.0])
    fd = (net.predict(z + step) - net.predict(z - step)) / (2 * h)
    np.testing.assert_allclose(np.asarray(jets(z))[:, :2], fd, rtol=1e-6, atol=1e-8)


def _x_derivatives(net):
    """``(u_x, v_x, u_xx, v_xx)`` of a two-output network of three inputs, by Taylor mode."""
    d2 = td.taylor(net.func, order=2, argnums=0)

    @td.func
    def jet(z: td.vec3) -> td.vec4:
        j = d2(z, td.vec3(1.0, 0.0, 0.0))
        return td.vec4(j[1][0], j[1][1], j[2][0], j[2][1])

    return jet


def test_periodic_wraps_separate_networks(cpu64):
    pair = Separate([MLP(3, width=4, depth=1, seed=s, dtype=td.f64) for s in (0, 1)])
    net = Periodic(pair, periods={0: 1.0})
    z = np.array([[0.25, 0.1], [1.25, 0.1]])
    out = net.predict(z)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out[0], out[1], atol=1e-12)
    net.set_flat(net.get_flat() * 0.5)
    np.testing.assert_allclose(pair.get_flat(), net.get_flat())


def test_periodic_refuses_bad_axes_and_periods(cpu64):
    inner = MLP(3, width=4, depth=1, dtype=td.f64)
    with pytest.raises(td.TidalError, match="axis 2 is not an input"):
        Periodic(inner, periods={2: 1.0})
    with pytest.raises(td.TidalError, match="positive number"):
        Periodic(inner, periods={0: -1.0})
    with pytest.raises(td.TidalError, match="non-empty dict"):
        Periodic(inner, periods={})
