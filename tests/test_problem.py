"""PINN problems: residuals written with derivative names, conditions and the objective, against
central finite differences of the network's predictions in float64 and closed forms (the Burgers
problem against the analytic float64 loss is in test_pinn.py)."""

import math

import numpy as np
import pytest

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    Hypercube,
    InitialCondition,
    Interval,
    NeumannBC,
    Observations,
    OperatorCondition,
    PeriodicBC,
    Problem,
    Rectangle,
    RobinBC,
    TimeDomain,
    Unknown,
)

from .reference import assert_close

NU = 0.01 / math.pi


@td.func
def burgers(u: td.f64, u_t: td.f64, u_x: td.f64, u_xx: td.f64) -> td.f64:
    return u_t + u * u_x - NU * u_xx


def fd_derivative(f, z, counts, h=1e-3):
    """A partial derivative of ``f`` (points -> values) by nested central differences (f64)."""
    if not any(counts):
        return f(z)
    a = next(i for i, c in enumerate(counts) if c)
    rest = list(counts)
    rest[a] -= 1
    e = np.zeros(z.shape[1])
    e[a] = h
    return (fd_derivative(f, z + e, rest, h) - fd_derivative(f, z - e, rest, h)) / (2 * h)


@pytest.mark.parametrize("names", [("u_x", "u_y"), ("u_xx", "u_yy", "u_xy"), ("u_xxx",),
                                   ("u_yx", "u"), ("x", "u_xyx")])
def test_derivative_names_give_the_network_derivatives(names):
    net = MLP(2, width=6, depth=2, seed=2, dtype=td.f64)
    if names == ("x", "u_xyx"):
        with pytest.raises(td.TidalArgumentError, match="mixed derivatives"):
            _first_arg_problem(net, names)
        return
    p = _first_arg_problem(net, names)
    z = np.random.default_rng(1).uniform(-0.8, 0.8, (5, 2))
    got = p.residual(z)
    name = names[0]
    counts = [name.count("x") - (name == "x"), name.count("y")] if name.startswith("u_") \
        else [0, 0]
    ref = fd_derivative(net.predict, z, counts, h=1e-3 if sum(counts) < 3 else 1e-2)
    assert_close(got, ref, rtol=1e-5 if sum(counts) < 3 else 1e-3, what=f"{name} vs FD")


def _first_arg_problem(net, names):
    """A problem whose residual returns its first argument (all arguments requested)."""
    args = ", ".join(f"{n}: td.f64" for n in names)
    src = f"def first({args}) -> td.f64:\n    return {names[0]}\n"
    ns = {"td": td}
    import linecache
    filename = f"<test_problem:{'_'.join(names)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), ns)  # noqa: S102 - a residual with the given names
    fn = td.func(ns["first"])
    return Problem(Rectangle((-1, -1), (1, 1)), fn, [], net, n_collocation=4)


def test_conditions_are_the_mean_squares_of_their_errors():
    net = MLP(2, width=5, depth=2, seed=5, dtype=td.f64)
    box = Rectangle((0, 0), (2, 1))

    @td.func
    def laplace(u_xx: td.f64, u_yy: td.f64) -> td.f64:
        return u_xx + u_yy

    g = lambda q: q[:, 0] * q[:, 1]  # noqa: E731
    conds = [DirichletBC(box, g, n=7, where=lambda q: np.isclose(q[:, 0], 0.0)),
             NeumannBC(box, 0.5, n=6), RobinBC(box, alpha=2.0, value=g, n=5),
             PeriodicBC(box, axis=1, n=4),
             OperatorCondition(laplace, points=np.array([[0.5, 0.5], [1.0, 0.2]]), value=1.0)]
    p = Problem(box, laplace, conds, net, n_collocation=9, seed=3)
    out = p.describe(p.get_flat())
    u = net.predict

    def grad_u(q):
        return np.stack([fd_derivative(u, q, [1, 0], 1e-5), fd_derivative(u, q, [0, 1], 1e-5)], 1)

    pts = [t.arrays[0].to_numpy() for t in p.terms]
    assert np.allclose(pts[1][:, 0], 0.0)
    dn = lambda q: np.sum(grad_u(q) * box.boundary_normal(q), 1)  # noqa: E731
    expected = {
        "loss_dirichlet": np.mean((u(pts[1]) - g(pts[1])) ** 2),
        "loss_neumann": np.mean((dn(pts[2]) - 0.5) ** 2),
        "loss_robin": np.mean((dn(pts[3]) + 2.0 * u(pts[3]) - g(pts[3])) ** 2),
        "loss_periodic": np.mean((u(pts[4]) - u(p.terms[4].arrays[1].to_numpy())) ** 2),
    }
    q = np.array([[0.5, 0.5], [1.0, 0.2]])
    lap = fd_derivative(u, q, [2, 0], 1e-3) + fd_derivative(u, q, [0, 2], 1e-3)
    expected["loss_operator"] = np.mean((lap - 1.0) ** 2)
    for key, ref in expected.items():
        assert_close(out[key], ref, rtol=1e-6, what=key)
    assert np.allclose(p.terms[4].arrays[1].to_numpy()[:, 1], 1.0)


def test_inverse_problem_gradient_in_the_unknowns_and_hard_constraints():
    net = MLP(2, width=5, depth=2, seed=1, dtype=td.f64)
    domain = Interval(-1, 1) * TimeDomain(0, 1)

    @td.func
    def inverse(u: td.f64, u_t: td.f64, u_x: td.f64, u_xx: td.f64, lam1: td.f64,
                lam2: td.f64) -> td.f64:
        return u_t + lam1 * u * u_x - lam2 * u_xx

    @td.func
    def vanish_at_ends(z: td.vec2, n: td.f64) -> td.f64:
        return (1.0 - z[0] * z[0]) * n

    data = np.random.default_rng(2).uniform(-1, 1, (6, 2))
    p = Problem(domain, inverse, [Observations(data, np.sin(data[:, 0]))], net,
                n_collocation=20, unknowns=[Unknown("lam1", 0.5), Unknown("lam2", 0.1)],
                output_transform=vanish_at_ends)
    flat = p.get_flat()
    assert p.size == net.size + 2 and flat[-2:].tolist() == [0.5, 0.1]
    assert p.describe(flat)["lam1"] == 0.5
    ends = np.array([[-1.0, 0.3], [1.0, 0.7]])
    assert np.allclose(p.predict(ends), 0.0, atol=1e-14)
    inner = np.array([[0.3, 0.2]])
    assert_close(p.predict(inner), (1 - 0.09) * net.predict(inner), rtol=1e-14, what="transform")
    loss, grad = p.value_and_grad(flat)
    for k in (-2, -1):
        e = np.zeros(flat.size)
        e[k] = 1e-6
        fd = (p.value(flat + e) - p.value(flat - e)) / 2e-6
        assert_close(grad[k], fd, rtol=1e-6, what=f"gradient in unknown {k}")


def test_refinement_adds_the_largest_residuals():
    net = MLP(2, width=5, depth=2, seed=1, dtype=td.f64)
    domain = Interval(-1, 1) * TimeDomain(0, 1)
    p = Problem(domain, burgers, [], net, n_collocation=10)
    added = p.refine(n_candidates=50, n_add=5, seed=4)
    candidates = domain.sample_interior(50, method="random", seed=4)
    r = np.abs(p.residual(candidates))
    assert np.abs(p.residual(added)).min() >= np.sort(r)[-5] - 1e-15
    assert len(p.collocation_points) == 15
    loss_after = p.value(p.get_flat())
    assert np.isfinite(loss_after)


def test_bad_input_is_reported_clearly():
    net = MLP(2, width=4, depth=1, dtype=td.f64)
    domain = Interval(-1, 1) * TimeDomain(0, 1)

    @td.func
    def wrong(u_y: td.f64) -> td.f64:
        return u_y

    with pytest.raises(td.TidalArgumentError, match=r"`u_y`.*variables are x, t") as e:
        Problem(domain, wrong, [], net)
    assert "test_problem.py" in str(e.value)
    with pytest.raises(td.TidalArgumentError, match="3 observation points but values of shape"):
        Observations(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(td.TidalArgumentError, match="empty boundary"):
        Problem(domain, burgers, [DirichletBC(domain, 0.0, n=5,
                                              where=lambda q: q[:, 0] > 5)], net)
    with pytest.raises(td.TidalArgumentError, match="takes 2 inputs but the domain has 1"):
        Problem(Interval(0, 1), burgers, [], net)
    with pytest.raises(td.TidalArgumentError, match="must be a tidal function"):
        Problem(domain, lambda u: u, [], net)
    with pytest.raises(td.TidalArgumentError, match="one value per point"):
        Problem(domain, burgers, [InitialCondition(domain, lambda q: q, n=3)], net)
    with pytest.raises(td.TidalArgumentError, match="observation points have 3 coordinates"):
        Problem(domain, burgers, [Observations(np.zeros((2, 3)), np.zeros(2))], net)


def test_operator_condition_on_the_initial_slice():
    @td.func
    def velocity(u_t: td.f64) -> td.f64:
        return u_t

    domain = Interval(-1, 1) * TimeDomain(0.5, 2)
    batch = OperatorCondition(velocity, region=domain, initial=True, n=20,
                              where=lambda q: q[:, 0] > 0).batch(dim=2, seed=1)
    assert batch.points.shape == (20, 2)
    assert np.all(batch.points[:, 1] == 0.5) and np.all(batch.points[:, 0] > 0)
    assert len(np.unique(batch.points[:, 0])) == 20
    with pytest.raises(td.TidalArgumentError, match="needs a SpaceTime region"):
        OperatorCondition(velocity, region=Rectangle((0, 0), (1, 1)), initial=True).batch(2, 0)
    with pytest.raises(td.TidalArgumentError, match="pass region=domain"):
        OperatorCondition(velocity, points=np.zeros((2, 2)), initial=True)


def test_numpy_forcing_is_the_right_hand_side_of_loss_residual_and_refinement():
    @td.func
    def second(u_xx: td.f64) -> td.f64:
        return u_xx

    net = MLP(1, width=6, depth=2, seed=4, dtype=td.f64)
    line = Interval(0, 2)
    p = Problem(line, second, [DirichletBC(line, 0.0, n=2)], net, n_collocation=50,
                forcing=lambda q: -np.sin(3.0 * q[:, 0]))

    def residual(q):  # u_xx - f by finite differences
        return fd_derivative(net.predict, q, [2], 1e-3) + np.sin(3.0 * q[:, 0])

    out = p.describe(p.get_flat())
    assert_close(out["loss_pde"], np.mean(residual(p.collocation_points) ** 2), rtol=1e-6,
                 what="loss_pde")
    q = np.linspace(0.1, 1.9, 7)[:, None]
    assert_close(p.residual(q), residual(q), rtol=1e-6, what="residual")
    candidates = line.sample_interior(40, method="random", seed=1)
    top = candidates[np.argsort(-np.abs(residual(candidates)))[:5]]
    assert np.array_equal(p.refine(40, 5, seed=1), top)
    with pytest.raises(td.TidalArgumentError, match="forcing returned shape"):
        Problem(line, second, [], net, n_collocation=5, forcing=lambda q: np.ones((len(q), 2)))


def test_objective_is_deterministic():
    net = MLP(2, width=6, depth=3, seed=1, dtype=td.f64)
    domain = Interval(-1, 1) * TimeDomain(0, 1)
    p = Problem(domain, burgers, [DirichletBC(domain, 0.0, n=40)], net, n_collocation=2000)
    flat = p.get_flat()
    (v1, g1), (v2, g2) = p.value_and_grad(flat), p.value_and_grad(flat)
    assert v1 == v2 and np.array_equal(g1, g2)


def test_a_five_dimensional_box_needs_variable_names_and_says_so():
    """x, y, z, w name at most four coordinates: a fifth refuses with a hint to pass
    ``variables=``, and with names the problem's loss and gradient are computed."""

    @td.func
    def poisson(u_aa: td.f64, u_bb: td.f64, u_cc: td.f64, u_dd: td.f64, u_ee: td.f64) -> td.f64:
        return u_aa + u_bb + u_cc + u_dd + u_ee + 1.0

    box = Hypercube([0.0] * 5, [1.0] * 5)
    net = MLP(5, width=4, depth=1, dtype=td.f64)
    conditions = [DirichletBC(box, 0.0, n=8)]
    with pytest.raises(td.TidalArgumentError, match="no default variable names") as e:
        Problem(box, poisson, conditions, net, n_collocation=8)
    assert "variables='abcde'" in str(e.value)
    problem = Problem(box, poisson, conditions, net, n_collocation=8, variables="abcde")
    flat = problem.get_flat()
    value, grad = problem.value_and_grad(flat)
    direction = np.random.default_rng(0).standard_normal(flat.shape)
    h = 1e-6
    slope = (problem.value_and_grad(flat + h * direction)[0]
             - problem.value_and_grad(flat - h * direction)[0]) / (2 * h)
    assert value > 0
    assert_close(float(grad @ direction), slope, rtol=1e-6, what="directional derivative")
