"""Loss-weight schedules in Trainer.adam: the weights each step's loss is evaluated at, the Adam
iterates against a NumPy Adam that sets the same weights by hand, the best parameters kept when
the weights change, and the errors for bad schedules."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import Linear, Problem, StepDecay, Trainer

from .test_problem_changes import _problem


def _numpy_adam(problem: Problem, steps: int, lr: float, weight_at) -> np.ndarray:
    """Adam (Kingma & Ba, bias-corrected) in NumPy, setting the problem's weights by hand."""
    x = problem.get_flat().astype(np.float64)
    m, v = np.zeros_like(x), np.zeros_like(x)
    problem.set_weights(weight_at(0))
    _, g = problem.value_and_grad(x)
    for k in range(1, steps + 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - lr * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
        problem.set_weights(weight_at(k))
        _, g = problem.value_and_grad(x)
    return x


def test_adam_with_a_weight_ramp_matches_numpy_adam_with_weights_set_by_hand(cpu64):
    steps, lr = 12, 5e-3
    ramp = Linear(end=7.0, steps=8)

    def weight_at(k):
        return {"pde": 1.0 + 6.0 * min(k, 8) / 8, "dirichlet": 2.0}

    problem = _problem(bc_weight=2.0)
    trainer = Trainer(problem, problem.get_flat(), progress=False, log_every=1, keep_best=False)
    history = trainer.adam(steps, lr=lr, weights={"pde": ramp})
    reference = _numpy_adam(_problem(bc_weight=2.0), steps, lr, weight_at)
    np.testing.assert_allclose(trainer.params, reference, rtol=1e-11, atol=1e-13)
    # each logged loss is the sum of its terms at that step's weights
    for k in range(len(history.step)):
        w = weight_at(k)
        assert history.scalars["weight_pde"][k] == pytest.approx(w["pde"], rel=1e-14)
        expected = w["pde"] * history.scalars["loss_pde"][k] + \
            2.0 * history.scalars["loss_dirichlet"][k]
        assert history.loss[k] == pytest.approx(expected, rel=1e-10)
    # the problem keeps the final weights for what follows (e.g. L-BFGS)
    np.testing.assert_allclose(problem.term_weights, [7.0, 2.0])


def test_keep_best_compares_only_losses_at_the_final_weights(cpu64):
    problem = _problem(bc_weight=2.0)
    trainer = Trainer(problem, problem.get_flat(), progress=False, log_every=1)
    # the weight halves at update 6: losses before it are larger by construction
    trainer.adam(10, lr=1e-2, weights={"pde": StepDecay(every=6, factor=0.5)})
    assert trainer.best_step >= 6
    losses = np.array(trainer.history.loss)
    at_final = [k for k, s in enumerate(trainer.history.step) if s >= 6]
    assert trainer.best_value == pytest.approx(losses[at_final].min(), rel=1e-14)
    assert problem.value(trainer.params) == pytest.approx(trainer.best_value, rel=1e-12)


def test_weight_schedules_refuse_unknown_labels_bad_schedules_and_plain_objectives(cpu64):
    problem = _problem(bc_weight=2.0)
    trainer = Trainer(problem, problem.get_flat(), progress=False)
    with pytest.raises(td.TidalError,
                       match="'initial', which the objective does not have; its terms are pde, "
                             "dirichlet"):
        trainer.adam(2, weights={"initial": Linear(end=1.0)})
    with pytest.raises(td.TidalError, match="must be a tidal.solvers.schedules.Schedule"):
        trainer.adam(2, weights={"pde": 3.0})
    with pytest.raises(td.TidalError, match="gave -1.0 at update"):
        trainer.adam(2, weights={"pde": _Negative()})

    class Quadratic:
        size = 2

        def value_and_grad(self, x):
            return float(x @ x), 2 * x

        def value(self, x):
            return float(x @ x)

    with pytest.raises(td.TidalError, match="need an objective with loss terms"):
        Trainer(Quadratic(), np.ones(2), progress=False).adam(2, weights={"pde": Linear(1.0)})
    with pytest.raises(td.TidalError, match="finite number >= 0"):
        Linear(end=-1.0)


class _Negative(Linear):
    """A schedule that goes below zero (a user's mistake)."""

    def __init__(self):
        super().__init__(end=0.0)

    def __call__(self, lr, k, total):
        return -1.0
