"""ODE problems on a bare TimeDomain: the variable is t, InitialCondition and
OperatorCondition(initial=True) constrain t = t0. A damped oscillator against its closed form."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import (
    MLP,
    InitialCondition,
    OperatorCondition,
    Problem,
    TimeDomain,
    Trainer,
)


@td.func
def oscillator(u: td.f64, u_t: td.f64, u_tt: td.f64) -> td.f64:
    return u_tt + 0.4 * u_t + 4.0 * u


@td.func
def velocity(u_t: td.f64) -> td.f64:
    return u_t


def exact(t: np.ndarray) -> np.ndarray:
    """u'' + 0.4 u' + 4 u = 0, u(0) = 1, u'(0) = 0: u = e^{-0.2 t} (cos wt + 0.2/w sin wt)."""
    w = np.sqrt(4.0 - 0.04)
    return np.exp(-0.2 * t) * (np.cos(w * t) + 0.2 / w * np.sin(w * t))


def test_a_damped_oscillator_on_a_time_domain(cpu64):
    time = TimeDomain(0.0, 3.0)
    assert time.sample_initial(3).tolist() == [[0.0]] * 3
    net = MLP(1, width=16, depth=2, seed=0, lo=[0.0], hi=[3.0], dtype=td.f64)
    problem = Problem(time, oscillator,
                      [InitialCondition(time, 1.0, n=1),
                       OperatorCondition(velocity, region=time, initial=True, n=1)],
                      net, n_collocation=128, method="grid")
    assert problem.variables == ("t",)
    assert problem.labels == ["pde", "initial", "operator"]
    trainer = Trainer(problem, problem.get_flat(), progress=False)
    trainer.fit(adam_steps=500, lbfgs_iter=1500, lr=1e-2)
    t = np.linspace(0.0, 3.0, 301)
    error = np.linalg.norm(problem.predict(t[:, None]) - exact(t)) / np.linalg.norm(exact(t))
    assert error < 1e-3, error


def test_a_time_domain_names_its_variable_t_in_errors(cpu64):
    @td.func
    def wrong(u_x: td.f64) -> td.f64:
        return u_x

    with pytest.raises(td.TidalError, match="the variables are t"):
        Problem(TimeDomain(0.0, 1.0), wrong, [], MLP(1, width=4, depth=1, dtype=td.f64),
                n_collocation=8)
