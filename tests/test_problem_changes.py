"""Changing a problem between optimiser steps (its weights, its points) is seen by a Trainer
that is already running: no evaluation made before the change is reused after it."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import MLP, DirichletBC, Interval, Problem, Trainer


@td.func
def poisson(u_xx: td.f64) -> td.f64:
    return u_xx + 1.0


def _problem(bc_weight: float = 1.0) -> Problem:
    """u'' + 1 = 0 on [0, 1], u = 0 at both ends (weighted ``bc_weight``), a small network."""
    domain = Interval(0.0, 1.0)
    net = MLP(1, width=8, depth=2, seed=0, dtype=td.f64)
    return Problem(domain, poisson, [DirichletBC(domain, 0.0, n=2, weight=bc_weight)], net,
                   n_collocation=32)


def test_set_weights_changes_the_loss_a_trainer_sees(cpu64):
    problem = _problem()
    trainer = Trainer(problem, problem.get_flat(), progress=False)
    trainer.adam(3, lr=1e-3)
    parts = problem.describe(trainer.params)
    assert problem.labels == ["pde", "dirichlet"]
    problem.set_weights({"pde": 0.25, "dirichlet": 4.0})
    expected = 0.25 * parts["loss_pde"] + 4.0 * parts["loss_dirichlet"]
    assert trainer._evaluate(trainer.params)[0] == pytest.approx(expected, rel=1e-12)
    loss, grad = problem.value_and_grad(trainer.params)
    assert loss == pytest.approx(expected, rel=1e-12)
    # the gradient is the weighted sum of the terms' gradients, from central differences
    eps, direction = 1e-6, np.random.default_rng(0).normal(size=problem.size)
    fd = (problem.value(trainer.params + eps * direction)
          - problem.value(trainer.params - eps * direction)) / (2 * eps)
    assert grad @ direction == pytest.approx(fd, rel=1e-6)


def test_refine_changes_the_loss_a_trainer_sees(cpu64):
    problem = _problem()
    trainer = Trainer(problem, problem.get_flat(), progress=False)
    trainer.adam(2, lr=1e-3)
    before = trainer._evaluate(trainer.params)[0]
    problem.refine(200, 50, seed=1)
    after, _, called = trainer._evaluate(trainer.params)
    assert called and after == pytest.approx(problem.value(trainer.params), rel=1e-12)
    assert after != before


def test_set_weights_refuses_unknown_labels_and_bad_weights(cpu64):
    problem = _problem()
    with pytest.raises(td.TidalError, match="no loss term 'initial'.*pde, dirichlet"):
        problem.set_weights({"initial": 1.0})
    for bad in (-1.0, float("nan"), "1"):
        with pytest.raises(td.TidalError, match="finite number >= 0"):
            problem.set_weights({"pde": bad})
