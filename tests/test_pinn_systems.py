"""Systems of PDEs: networks with several outputs (one shared MLP or one network per output),
several residuals in one problem, conditions on a chosen output. Values are checked against
NumPy: the network against its own forward pass written in NumPy, residuals against central
differences of the network's predictions, the loss against its terms recomputed from
predictions, the gradient against central differences of the loss."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    Observations,
    OperatorCondition,
    PeriodicBC,
    Problem,
    Rectangle,
    Separate,
)

RE = 20.0
DOMAIN = Rectangle((-0.5, -0.5), (1.0, 1.5))


@td.func
def momentum_x(u: td.f64, v: td.f64, u_x: td.f64, u_y: td.f64, p_x: td.f64, u_xx: td.f64,
               u_yy: td.f64) -> td.f64:
    return u * u_x + v * u_y + p_x - (u_xx + u_yy) / RE


@td.func
def momentum_y(u: td.f64, v: td.f64, v_x: td.f64, v_y: td.f64, p_y: td.f64, v_xx: td.f64,
               v_yy: td.f64) -> td.f64:
    return u * v_x + v * v_y + p_y - (v_xx + v_yy) / RE


@td.func
def continuity(u_x: td.f64, v_y: td.f64) -> td.f64:
    return u_x + v_y


@td.func
def swish(a: td.f64) -> td.f64:
    return a * td.sigmoid(a)


def _numpy_mlp(net, points, act):
    """The MLP's forward pass in NumPy, from its flat parameters (layout of MLP.set_flat)."""
    flat, w, d, o = net.get_flat(), net.width, net.in_dim, net.out_dim
    shapes = [(w, d), (w,), (net.depth - 1, w, w), (net.depth - 1, w), (o, w), (o,)]
    parts, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        parts.append(flat[at:at + n].reshape(s))
        at += n
    W0, b0, W, b, Wout, bout = parts
    z = points * net.scale + net.shift
    h = act(z @ W0.T + b0)
    for layer in range(net.depth - 1):
        h = act(h @ W[layer].T + b[layer])
    return h @ Wout.T + bout


def _problem(net, conditions=(), **kw):
    return Problem(DOMAIN, [momentum_x, momentum_y, continuity], list(conditions), net,
                   outputs=("u", "v", "p"), n_collocation=40, seed=3, **kw)


def _central(f, points, axis, order, h=1e-3):
    e = np.zeros(points.shape[1])
    e[axis] = h
    if order == 1:
        return (f(points + e) - f(points - e)) / (2 * h)
    return (f(points + e) - 2 * f(points) + f(points - e)) / h ** 2


def test_a_network_with_three_outputs_and_a_tidal_activation_equals_numpy(cpu64):
    net = MLP(2, width=7, depth=3, activation=swish, seed=4, lo=(-0.5, -0.5), hi=(1.0, 1.5),
              dtype=td.f64, out_dim=3)
    points = np.random.default_rng(0).uniform(-0.5, 1.0, (9, 2))
    expect = _numpy_mlp(net, points, lambda a: a / (1.0 + np.exp(-a)))
    np.testing.assert_allclose(net.predict(points), expect, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["shared", "separate"])
def test_navier_stokes_residuals_equal_central_differences_of_the_network(cpu64, kind):
    if kind == "shared":
        net = MLP(2, width=8, depth=2, seed=1, dtype=td.f64, out_dim=3)
    else:
        net = Separate([MLP(2, width=6, depth=2, seed=s, dtype=td.f64) for s in (1, 2, 3)])
    problem = _problem(net)
    points = np.random.default_rng(1).uniform((-0.5, -0.5), (1.0, 1.5), (7, 2))
    r = problem.residual(points)
    U = problem.predict
    u = U(points)
    ux, uy = _central(U, points, 0, 1), _central(U, points, 1, 1)
    uxx, uyy = _central(U, points, 0, 2), _central(U, points, 1, 2)
    expect = np.stack([
        u[:, 0] * ux[:, 0] + u[:, 1] * uy[:, 0] + ux[:, 2] - (uxx[:, 0] + uyy[:, 0]) / RE,
        u[:, 0] * ux[:, 1] + u[:, 1] * uy[:, 1] + uy[:, 2] - (uxx[:, 1] + uyy[:, 1]) / RE,
        ux[:, 0] + uy[:, 1]], 1)
    assert r.shape == (7, 3)
    np.testing.assert_allclose(r, expect, rtol=0, atol=1e-5 * np.abs(expect).max())
    np.testing.assert_allclose(problem.predict(points, output="v"), u[:, 1], rtol=0, atol=0)


def test_the_loss_is_each_equation_and_condition_recomputed_from_predictions(cpu64):
    net = MLP(2, width=8, depth=2, seed=2, dtype=td.f64, out_dim=3)
    data = np.random.default_rng(2).uniform((-0.5, -0.5), (1.0, 1.5), (5, 2))
    conditions = [DirichletBC(DOMAIN, lambda p: p[:, 0], n=12, output="v", weight=2.0),
                  Observations(data, np.arange(5.0), output="p", weight=0.5),
                  PeriodicBC(DOMAIN, axis=1, n=6)]
    problem = _problem(net, conditions, pde_weight=[1.0, 3.0, 0.25])
    flat = problem.get_flat()
    parts = problem.describe(flat)
    assert list(parts) == ["loss_pde_momentum_x", "loss_pde_momentum_y", "loss_pde_continuity",
                           "loss_dirichlet_v", "loss_observations_p", "loss_periodic"]
    r = problem.residual(problem.collocation_points)
    np.testing.assert_allclose([parts[f"loss_pde_{n}"] for n in
                                ("momentum_x", "momentum_y", "continuity")],
                               np.mean(r ** 2, axis=0), rtol=1e-12)
    bc = problem.terms[1].arrays[0].to_numpy()
    assert parts["loss_dirichlet_v"] == pytest.approx(
        np.mean((problem.predict(bc, output="v") - bc[:, 0]) ** 2), rel=1e-12)
    assert parts["loss_observations_p"] == pytest.approx(
        np.mean((problem.predict(data, output="p") - np.arange(5.0)) ** 2), rel=1e-12)
    first, second = (a.to_numpy() for a in problem.terms[3].arrays)
    assert np.allclose(first[:, 1], -0.5) and np.allclose(second[:, 1], 1.5)
    jump = problem.predict(first) - problem.predict(second)
    assert parts["loss_periodic"] == pytest.approx(np.mean(np.sum(jump ** 2, 1)), rel=1e-12)
    weights = [1.0, 3.0, 0.25, 2.0, 0.5, 1.0]
    value, _ = problem.value_and_grad(flat)
    assert value == pytest.approx(sum(w * v for w, v in zip(weights, parts.values())),
                                  rel=1e-12)


def test_the_gradient_of_a_system_equals_central_differences(cpu64):
    net = MLP(2, width=6, depth=2, seed=5, dtype=td.f64, out_dim=3)
    problem = _problem(net, [DirichletBC(DOMAIN, 1.0, n=10, output="u")])
    flat = problem.get_flat()
    _, grad = problem.value_and_grad(flat)
    rng = np.random.default_rng(6)
    for _ in range(3):
        v = rng.normal(size=flat.size)
        h = 1e-6
        fd = (problem.value(flat + h * v) - problem.value(flat - h * v)) / (2 * h)
        assert grad @ v == pytest.approx(fd, rel=1e-6)


@td.func
def twist(v_xy: td.f64, u: td.f64) -> td.f64:
    return v_xy - u


def test_a_mixed_derivative_of_the_second_output(cpu64):
    net = MLP(2, width=6, depth=2, seed=7, dtype=td.f64, out_dim=2)
    problem = Problem(DOMAIN, twist, [], net, outputs=("u", "v"), n_collocation=10)
    points = np.random.default_rng(3).uniform((-0.5, -0.5), (1.0, 1.5), (5, 2))
    h = 1e-3
    v = lambda p: problem.predict(p, output="v")  # noqa: E731
    ex, ey = np.array([h, 0.0]), np.array([0.0, h])
    vxy = (v(points + ex + ey) - v(points + ex - ey) - v(points - ex + ey)
           + v(points - ex - ey)) / (4 * h * h)
    expect = vxy - problem.predict(points, output="u")
    np.testing.assert_allclose(problem.residual(points), expect, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------- bad input
@td.func
def wrong_output(w_x: td.f64) -> td.f64:
    return w_x


def test_a_residual_naming_an_output_that_does_not_exist(cpu64):
    net = MLP(2, width=4, depth=1, dtype=td.f64, out_dim=3)
    with pytest.raises(td.TidalError, match=r"wrong_output \(.*test_pinn_systems.py:\d+\).*`w_x`"
                                            r".*`u`, `v`, `p`"):
        Problem(DOMAIN, wrong_output, [], net, outputs=("u", "v", "p"), n_collocation=5)


def test_outputs_must_have_distinct_names_matching_the_network(cpu64):
    net = MLP(2, width=4, depth=1, dtype=td.f64, out_dim=3)
    with pytest.raises(td.TidalError, match="two outputs have one name"):
        _problem_with(net, ("u", "u", "p"))
    with pytest.raises(td.TidalError, match="network has 3 output"):
        _problem_with(net, ("u", "v"))
    with pytest.raises(td.TidalError, match="network has 3 output.*names 1"):
        Problem(DOMAIN, continuity, [], net, n_collocation=5)
    with pytest.raises(td.TidalError, match="underscores"):
        _problem_with(net, ("u", "v_1", "p"))
    with pytest.raises(td.TidalError, match="also a variable"):
        _problem_with(net, ("u", "x", "p"))
    with pytest.raises(td.TidalError, match="pde_weight has 2 entries for 3"):
        _problem(net, pde_weight=[1.0, 2.0])


def _problem_with(net, outputs):
    return Problem(DOMAIN, continuity, [], net, outputs=outputs, n_collocation=5)


def test_a_condition_on_an_unknown_output_names_the_users_line(cpu64):
    net = MLP(2, width=4, depth=1, dtype=td.f64, out_dim=3)
    bad = DirichletBC(DOMAIN, 0.0, n=4, output="w")  # the line the error must name
    line = bad.made_at.rsplit(":", 1)[1]
    with pytest.raises(td.TidalError, match=rf"DirichletBC made at .*test_pinn_systems.py:"
                                            rf"{line}.*output='w'.*outputs are u, v, p"):
        _problem(net, [bad])
    with pytest.raises(td.TidalError, match=r"say which one DirichletBC constrains"):
        _problem(net, [DirichletBC(DOMAIN, 0.0, n=4)])
    with pytest.raises(td.TidalError, match="net must be a tidal.solvers network"):
        Problem(DOMAIN, continuity, [], object(), n_collocation=5)


@td.func
def normal_stress(p: td.f64, u_x: td.f64) -> td.f64:
    return -p + 2.0 / RE * u_x


def test_an_operator_condition_of_several_outputs(cpu64):
    """A traction-like condition mixing the pressure and a velocity derivative, on x = 1."""
    net = MLP(2, width=6, depth=2, seed=8, dtype=td.f64, out_dim=3)
    points = np.column_stack([np.ones(6), np.linspace(-0.5, 1.5, 6)])
    outflow = OperatorCondition(normal_stress, points=points, value=lambda p: p[:, 1])
    problem = _problem(net, [outflow])
    parts = problem.describe(problem.get_flat())
    U = problem.predict
    expect = -U(points)[:, 2] + 2.0 / RE * _central(U, points, 0, 1)[:, 0] - points[:, 1]
    assert parts["loss_operator"] == pytest.approx(np.mean(expect ** 2), rel=1e-6)
