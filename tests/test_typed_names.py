"""Typed output and variable names: a problem built with them equals the one built with plain
strings, and an output passed where a variable goes (or the reverse) is refused."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import (
    MLP,
    DirichletBC,
    Problem,
    Rectangle,
    outputs,
    variables,
)


@td.func
def divergence(u_a: td.f64, v_b: td.f64) -> td.f64:
    return u_a + v_b


def _problem(out_names, var_names, bc_output):
    square = Rectangle((0.0, 0.0), (1.0, 1.0))
    net = MLP(2, width=6, depth=1, seed=0, dtype=td.f64, out_dim=2)
    return Problem(square, divergence, [DirichletBC(square, 1.0, n=8, output=bc_output)], net,
                   outputs=out_names, variables=var_names, n_collocation=16)


def test_typed_names_build_the_same_problem_as_strings(cpu64):
    u, v = outputs("u v")
    a, b = variables("a", "b")
    typed = _problem((u, v), (a, b), v)
    plain = _problem(("u", "v"), ("a", "b"), "v")
    flat = plain.get_flat()
    assert typed.labels == plain.labels == ["pde", "dirichlet_v"]
    assert typed.value_and_grad(flat)[0] == plain.value_and_grad(flat)[0]
    points = np.array([[0.2, 0.3], [0.7, 0.1]])
    np.testing.assert_array_equal(typed.predict(points, output=v),
                                  plain.predict(points, output="v"))


def test_an_output_is_not_a_variable_and_names_are_checked(cpu64):
    u, v = outputs("u v")
    a, b = variables("a b")
    with pytest.raises(td.TidalError, match="Variable\\('a'\\) is a variable, not an output"):
        _problem((a, v), ("a", "b"), "v")
    with pytest.raises(td.TidalError, match="Output\\('u'\\) is an output, not a variable"):
        _problem(("u", "v"), (u, b), "v")
    with pytest.raises(td.TidalError, match="output must be the name of a network output"):
        DirichletBC(Rectangle((0.0, 0.0), (1.0, 1.0)), 0.0, output=a)
    with pytest.raises(td.TidalError, match="single letters"):
        variables("xy")
    with pytest.raises(td.TidalError, match="two outputs have one name"):
        outputs("u u")
