"""What a new user's first scripts ran into (found by trying the docs as a fresh user): each is
now a clear error naming the user's function, or labels that say which condition is which."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    Interval,
    Observations,
    Problem,
    Rectangle,
    Unknown,
)


@td.func
def decay(u: td.f64, u_x: td.f64, x: td.f64) -> td.f64:
    return u_x + u - x


@td.func
def continuity(u_x: td.f64, v_y: td.f64) -> td.f64:
    return u_x + v_y


@td.func
def one_value_for_two_outputs(z: td.vec(2, td.f64), n: td.vec(2, td.f64)) -> td.f64:
    return z[0] * n[0]


@td.func
def scalar_point(z: td.f64, n: td.f64) -> td.f64:
    return z * n


@td.func
def needs_coefficient(u_xx: td.f64, lam: td.f64) -> td.f64:
    return u_xx - lam


def _net(inputs=1, outputs=1):
    return MLP(inputs, width=4, depth=1, seed=0, dtype=td.f64, out_dim=outputs)


def test_an_unknown_named_like_a_coordinate_is_refused(cpu64):
    line = Interval(0.0, 1.0)
    with pytest.raises(td.TidalError, match="unknown 'x' has the name of a variable"):
        Problem(line, decay, [], _net(), n_collocation=8, unknowns=[Unknown("x", 1.0)])


def test_an_output_transform_must_give_every_output(cpu64):
    square = Rectangle((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(td.TidalError, match=r"one_value_for_two_outputs \(.*test_problem_input"
                                            r"_checks.py:\d+\).*returns a scalar.*td.vec\(2"):
        Problem(square, continuity, [], _net(2, 2), outputs=("u", "v"), n_collocation=8,
                output_transform=one_value_for_two_outputs)
    with pytest.raises(td.TidalError, match=r"scalar_point .*parameter\(s\) \(a scalar, a "
                                            r"scalar\).*z: td.vec\(1, real\)"):
        Problem(Interval(0.0, 1.0), decay, [], _net(), n_collocation=8,
                output_transform=scalar_point)


def test_an_undeclared_coefficient_hints_at_unknowns(cpu64):
    with pytest.raises(td.TidalError, match=r"unknowns=\[Unknown\('lam', initial_guess\)\]"):
        Problem(Interval(0.0, 1.0), needs_coefficient, [], _net(), n_collocation=8)


def test_conditions_of_one_kind_get_numbered_labels_and_a_given_label_groups(cpu64):
    line = Interval(0.0, 1.0)
    data = Observations(np.array([[0.5]]), np.array([1.0]))
    more = Observations(np.array([[0.25]]), np.array([2.0]))
    left = DirichletBC(line, 0.0, n=1, where=lambda p: p[:, 0] == 0.0, label="ends")
    right = DirichletBC(line, 1.0, n=1, where=lambda p: p[:, 0] == 1.0, label="ends")
    problem = Problem(line, decay, [data, more, left, right], _net(), n_collocation=8)
    assert problem.labels == ["pde", "observations", "observations_2", "ends", "ends"]
    flat = problem.get_flat()
    parts = problem.describe(flat)
    u = problem.predict(np.array([[0.5], [0.25], [0.0], [1.0]]))
    assert parts["loss_observations"] == pytest.approx((u[0] - 1.0) ** 2, rel=1e-10)
    assert parts["loss_observations_2"] == pytest.approx((u[1] - 2.0) ** 2, rel=1e-10)
    # the two "ends" terms are reported together and weighted together
    assert parts["loss_ends"] == pytest.approx(u[2] ** 2 + (u[3] - 1.0) ** 2, rel=1e-10)
    problem.set_weights({"ends": 3.0, "observations_2": 0.0})
    np.testing.assert_allclose(problem.term_weights, [1.0, 1.0, 0.0, 3.0, 3.0])
    with pytest.raises(td.TidalError, match="label must be a name"):
        DirichletBC(line, 0.0, label="two words")
