"""``td.fit``: fit named parameters of a simulation to observations, with uncertainties.

A model that can be fitted (an :class:`~tidal.physics.ode.ODE`, or any object with the same
five members) provides:

* ``names``: the names of everything that can be fitted;
* ``get(name)`` / ``set(name, value)``: current values (NumPy arrays);
* ``observe(data, weights)``: binds observations, returns how many values were observed;
* ``loss_grad(names)``: the weighted sum of squared residuals ``L = sum w r^2`` and its
  gradient with respect to each name (one forward and one adjoint run);
* ``loss_grad_hvp(names, vectors)``: the same and the Hessian of ``L`` applied to ``vectors``;
  None for a model that gives gradients only (a trained operator network,
  :class:`tidal.surrogates.OperatorModel`): it is fitted by the first-order methods, without
  the uncertainty.

What :func:`fit` guarantees: the model is left at the best parameters found; a trial step at
which the simulation returns a non-finite loss or gradient is a failed step (the optimiser is
sent back), never a reason to stop; the uncertainty comes from the exact Hessian of ``L`` at the
optimum (Hessian-vector products, one per fitted value), so the covariance is
``2 s^2 H^-1`` with ``s^2 = L / (observations - fitted values)`` (or ``noise^2`` when the noise
level is given), the Gauss-Newton covariance for least squares when the residuals are small.
"""

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from tidal.autodiff import parameters
from tidal.distributed import comm as _comm
from tidal.dsl.errors import TidalArgumentError

METHODS = ("L-BFGS-B", "Newton-CG", "trust-krylov", "adam")


@dataclass
class FitResult:
    """What :func:`fit` found.

    Attributes:
        values: fitted value of each name.
        stderr: standard error of each value (NaN where the Hessian is singular).
        covariance: covariance of all fitted values, in the order of ``names`` (flattened).
        correlation: the covariance scaled to unit diagonal.
        names: the fitted names.
        loss: weighted sum of squared residuals at the optimum.
        history: the loss after each iteration.
        iterations, evaluations, hvp_evaluations: counts (forward + adjoint runs; Hessian-vector
            products, including those of the uncertainty).
        failed_steps: trial steps at which the simulation gave a non-finite loss.
        time: seconds.
        success, message: as the optimiser reported them.
        method: the optimiser.
    """

    values: dict
    stderr: dict
    covariance: np.ndarray
    correlation: np.ndarray
    names: tuple
    loss: float
    history: list = field(default_factory=list)
    iterations: int = 0
    evaluations: int = 0
    hvp_evaluations: int = 0
    failed_steps: int = 0
    time: float = 0.0
    success: bool = False
    message: str = ""
    method: str = ""

    def __str__(self) -> str:
        lines = [f"td.fit ({self.method}): {self.message}; loss {self.loss:.6g} after "
                 f"{self.iterations} iterations, {self.evaluations} evaluations, "
                 f"{self.time:.2f} s"]
        # no standard error at all (not computed, e.g. a model without Hessian-vector
        # products): the values alone; else NaN marks a value the data do not determine
        errors = any(np.any(np.isfinite(self.stderr[n])) for n in self.names)
        if not errors and self.names:
            lines[0] += "; no standard errors"
        for n in self.names:
            v, s = np.ravel(self.values[n]), np.ravel(self.stderr[n])
            cells = ", ".join(f"{a:.10g} +- {b:.2g}" if errors else f"{a:.10g}"
                              for a, b in zip(v, s))
            lines.append(f"  {n} = {cells}")
        return "\n".join(lines)


class _Layout(parameters.FlatLayout):
    """The fitted names as one flat vector of optimisation variables (log of the value where
    ``log_scale`` asks for it)."""

    def __init__(self, model, names, log_names):
        super().__init__([np.shape(model.get(n)) for n in names])
        self.names = tuple(names)
        self.log = np.concatenate([np.full(k, n in log_names) for n, k in
                                   zip(names, self.sizes)]) if names else np.zeros(0, bool)

    def values(self, x) -> np.ndarray:
        """Model values (flat) of optimisation variables ``x``."""
        return np.where(self.log, np.exp(np.where(self.log, x, 0.0)), x)

    def variables(self, values) -> np.ndarray:
        return np.where(self.log, np.log(np.where(self.log, values, 1.0)), values)


# by default the covariance (one Hessian-vector product per value) is computed up to this size
UNCERTAINTY_LIMIT = 200


def fit(model, data, params=None, *, method: str = "L-BFGS-B", bounds: dict | None = None,
        log_scale=False, weights=None, noise: float | None = None, max_iter: int = 100,
        tol: float = 1e-14, learning_rate: float = 0.05, callback: Callable | None = None,
        progress: bool = True, uncertainty: bool | None = None) -> FitResult:
    """Fit parameters of ``model`` to observations ``data`` by minimising the weighted sum of
    squared residuals.

    Args:
        model: what to fit (an :class:`~tidal.physics.ode.ODE`; see the module docstring).
        data: observations in the model's layout (NaN where nothing was observed).
        params: names to fit (default: every parameter except the initial state), or a dict of
            names and starting values.
        method: ``"L-BFGS-B"`` (default; honours ``bounds``), ``"Newton-CG"`` or
            ``"trust-krylov"`` (Newton steps from exact Hessian-vector products), or
            ``"adam"``.
        bounds: ``{name: (low, high)}`` (None for no bound on one side).
        log_scale: True (every fitted name), or names, optimised as logarithms (for positive
            values spanning scales; keeps them positive).
        weights: per-observation weights (default 1).
        noise: standard deviation of the observation noise, if known (else estimated from the
            residuals).
        max_iter: iterations at most.
        tol: stop when an iteration reduces the loss by less than ``tol`` times the initial
            loss (L-BFGS-B, once the initial loss exceeds 1: ``tol`` times the larger of the
            loss and 1, SciPy's own test), or the gradient is below ``tol`` times the initial
            gradient.
        learning_rate: Adam's step size (in the optimisation variables).
        callback: ``callback(iteration, values, loss)`` after each iteration; return True to
            stop.
        progress: print one progress line (loss and values) on stderr (on rank 0 only when
            several MPI ranks run, e.g. fits in a ``tidal.distributed.ensemble``).
        uncertainty: compute the covariance (one Hessian-vector product per fitted value);
            None (default): when at most ``UNCERTAINTY_LIMIT`` values are fitted (fields of
            thousands of values would cost as many products; their standard errors are NaN).

    Returns:
        A :class:`FitResult`; the model is left at the fitted values.

    Raises:
        TidalArgumentError: unknown names or methods, bounds that exclude the start, a
            non-positive start on a log scale, observations of the wrong shape.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import pendulum
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> truth = pendulum(length=1.5, damping=0.2, steps=200)
        >>> observed = truth.simulate()
        >>> sim = pendulum(length=1.0, damping=0.1, steps=200)
        >>> result = td.fit(sim, observed, ["length", "damping"], progress=False)
        >>> [round(float(result.values[n]), 8) for n in ("length", "damping")]
        [1.5, 0.2]
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise TidalArgumentError(f"unknown method {method!r}", hint=f"choose one of {METHODS}")
    names = _names(model, params)
    if isinstance(params, dict):
        for n, v in params.items():
            model.set(n, v)
    log_names = set(names) if log_scale is True else set(log_scale or ())
    _check_known(model, log_names, "log_scale")
    bounds = dict(bounds or {})
    _check_known(model, bounds, "bounds")
    if bounds and method != "L-BFGS-B" and method != "adam":
        raise TidalArgumentError(f"{method} does not take bounds",
                                 hint='use method="L-BFGS-B", or log_scale=True to keep '
                                      'values positive')
    if noise is not None and not _positive_number(noise):
        raise TidalArgumentError(f"noise is the observations' standard deviation: a positive "
                                 f"number, got {noise!r}")
    has_hessian = callable(getattr(model, "loss_grad_hvp", None))
    if not has_hessian and method in ("Newton-CG", "trust-krylov"):
        raise TidalArgumentError(f"{method} needs Hessian-vector products, which "
                                 f"{type(model).__name__} does not give",
                                 hint='use method="L-BFGS-B" (the default) or "adam"')
    if not has_hessian and uncertainty:
        raise TidalArgumentError(f"the uncertainty needs Hessian-vector products, which "
                                 f"{type(model).__name__} does not give",
                                 hint="leave uncertainty unset (or False)")
    observed = model.observe(data, weights)
    layout = _Layout(model, names, log_names)
    start = np.concatenate([np.ravel(model.get(n)) for n in names])
    if np.any(layout.log & (start <= 0)):
        raise TidalArgumentError("a parameter on a log scale must start positive",
                                 hint="give a positive starting value in params={...}")
    box = _box(layout, bounds, start)
    # several MPI ranks fitting side by side (an ensemble): only rank 0 prints its line
    state = _State(model, layout, progress and _comm.world().primary, callback)
    x0 = layout.variables(start)
    if method == "adam":
        x, message, success = _adam(state, x0, box, max_iter, learning_rate, tol)
    else:
        x, message, success = _scipy(state, x0, box, method, max_iter, tol)
    # leave the model at the best point seen (an optimiser's last iterate can be worse)
    best = state.best_x if state.best_x is not None else x
    values = layout.values(best)
    for n, v in zip(names, layout.split(values)):
        model.set(n, v)
    state.finish()
    loss, _ = model.loss_grad(names)
    state.evaluations += 1
    covariance = np.full((len(values), len(values)), np.nan)
    if uncertainty is None:
        uncertainty = has_hessian and len(values) <= UNCERTAINTY_LIMIT
    if uncertainty and len(values):
        hessian = _hessian(model, layout, state)
        dof = observed - len(values)
        if noise is not None:
            scale = float(noise) ** 2
        elif dof > 0:
            scale = loss / dof
        else:
            scale = math.nan
            warnings.warn("td.fit: no more observations than fitted values: no noise estimate "
                          "for the uncertainty (pass noise=...)", RuntimeWarning, stacklevel=2)
        try:
            covariance = 2.0 * scale * np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            warnings.warn("td.fit: the Hessian at the optimum is singular: some parameters are "
                          "not determined by the data", RuntimeWarning, stacklevel=2)
    stderr_flat = np.sqrt(np.where(np.diag(covariance) >= 0, np.diag(covariance), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(stderr_flat, stderr_flat)
    return FitResult(
        values=dict(zip(names, layout.split(values))),
        stderr=dict(zip(names, layout.split(stderr_flat))),
        covariance=covariance, correlation=correlation, names=names, loss=float(loss),
        history=state.history, iterations=state.iterations, evaluations=state.evaluations,
        hvp_evaluations=state.hvps, failed_steps=state.failed, method=method,
        time=time.perf_counter() - started, success=bool(success), message=str(message))


def _names(model, params) -> tuple:
    if params is None:
        names = tuple(n for n in model.names if n != "y0")
    elif isinstance(params, str):
        names = (params,)
    else:
        names = tuple(params)
    if not names:
        raise TidalArgumentError("nothing to fit", hint=f"name some of {', '.join(model.names)}")
    if len(set(names)) != len(names):
        raise TidalArgumentError(f"a parameter is named twice in {names}")
    _check_known(model, names, "params")
    return names


def _positive_number(value) -> bool:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(x) and x > 0


def _check_known(model, names, what: str) -> None:
    unknown = [n for n in names if n not in model.names]
    if unknown:
        raise TidalArgumentError(f"{what}: unknown parameter {unknown[0]!r}",
                                 hint=f"this model has {', '.join(model.names)}")


def _box(layout: _Layout, bounds: dict, start: np.ndarray) -> list:
    """Per optimisation variable ``(low, high)``, transformed like the variable (a log-scale
    variable's bounds are logarithms; a non-positive lower bound is none)."""
    box = []
    flat_log = iter(layout.log)
    for n, values in zip(layout.names, layout.split(start)):
        lo, hi = bounds.get(n, (None, None))
        for v in np.ravel(values):
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise TidalArgumentError(f"the start of {n} ({v:g}) is outside its bounds "
                                         f"({lo}, {hi})", hint="give a start inside the "
                                         "bounds in params={...}")
            if next(flat_log):
                box.append((None if lo is None or lo <= 0 else math.log(lo),
                            None if hi is None else math.log(hi)))
            else:
                box.append((lo, hi))
    return box


class _State:
    """Evaluations, history, the best point and the progress line of one fit."""

    def __init__(self, model, layout, progress, callback):
        self.model, self.layout = model, layout
        self.progress, self.callback = progress, callback
        self.evaluations = self.hvps = self.iterations = self.failed = 0
        self.history: list = []
        self.best_x, self.best = None, math.inf
        self.last = (None, math.inf, None)
        self.stopped = False

    def set(self, x) -> None:
        for n, v in zip(self.layout.names, self.layout.split(self.layout.values(x))):
            self.model.set(n, v)

    def value_and_grad(self, x):
        """Loss and gradient in the optimisation variables; a non-finite loss gives a large
        value and a gradient pointing back to the best point (a failed trial step)."""
        x = np.asarray(x, dtype=np.float64)
        self.evaluations += 1
        try:
            self.set(x)
            loss, grads = self.model.loss_grad(self.layout.names)
            g = np.concatenate([np.ravel(a) for a in grads]) if grads else np.zeros(0)
        except TidalArgumentError:
            loss, g = math.inf, None
        if not math.isfinite(loss) or g is None or not np.all(np.isfinite(g)):
            self.failed += 1
            back = x - (self.best_x if self.best_x is not None else x)
            scale = 1e10 * (1.0 + abs(self.best if math.isfinite(self.best) else 0.0))
            return scale * (1.0 + float(back @ back)), scale * (back + 1e-3 * np.sign(back))
        g = g * np.where(self.layout.log, self.layout.values(x), 1.0)
        if loss < self.best:
            self.best, self.best_x = loss, x.copy()
        self.last = (x.copy(), loss, g)
        return loss, g

    def hessp(self, x, v):
        """Hessian of the loss in the optimisation variables applied to ``v``."""
        x = np.asarray(x, dtype=np.float64)
        self.set(x)
        theta = self.layout.values(x)
        scale = np.where(self.layout.log, theta, 1.0)
        loss, grads, hv = self.model.loss_grad_hvp(self.layout.names,
                                                   self.layout.split(scale * v))
        self.hvps += 1
        g = np.concatenate([np.ravel(a) for a in grads])
        h = np.concatenate([np.ravel(a) for a in hv])
        return scale * h + np.where(self.layout.log, g * theta * v, 0.0)

    def iteration(self, x) -> bool:
        self.iterations += 1
        loss = self.last[1] if self.last[0] is not None and np.array_equal(self.last[0], x) \
            else self.value_and_grad(x)[0]
        self.history.append(float(loss))
        values = dict(zip(self.layout.names, self.layout.split(self.layout.values(x))))
        if self.progress:
            shown = " ".join(f"{n}={_short(v)}" for n, v in values.items())
            print(f"\rtd.fit  it {self.iterations:4d}  loss {loss:.4e}  {shown}"[:160],
                  end="", file=sys.stderr, flush=True)
        if self.callback is not None and self.callback(self.iterations, values, loss):
            self.stopped = True
            return True
        return False

    def finish(self) -> None:
        if self.progress:
            print(file=sys.stderr, flush=True)


def _short(v) -> str:
    v = np.ravel(v)
    return f"{v[0]:.6g}" if v.size == 1 else f"[{v[0]:.4g}, ... ({v.size})]"


class _StopFit(Exception):
    pass


def _scipy(state: _State, x0, box, method: str, max_iter: int, tol: float):
    loss0, g0 = state.value_and_grad(x0)
    if not math.isfinite(loss0) or state.failed:
        raise TidalArgumentError("the simulation gives a non-finite loss at the starting "
                                 "values", hint="start from values at which it runs")
    unit = _unit(loss0)
    gnorm = float(np.max(np.abs(g0))) / unit if g0.size else 0.0

    def value_and_grad(x):
        loss, g = state.value_and_grad(x)
        return loss / unit, g / unit

    def hessp(x, v):
        return state.hessp(x, v) / unit

    def cb(*args):
        x = args[0] if not hasattr(args[0], "x") else args[0].x
        if state.iteration(x):
            raise _StopFit

    options: dict = {"maxiter": max_iter}
    kwargs: dict = {"jac": True, "callback": cb}
    if method == "L-BFGS-B":
        options.update(ftol=tol, gtol=tol * max(gnorm, 1e-300), maxcor=30, maxls=40)
        kwargs["bounds"] = box
    elif method == "Newton-CG":
        options.update(xtol=max(tol, 1e-11))  # scipy's xtol: mean relative change of x
        kwargs["hessp"] = hessp
    else:
        options.update(gtol=tol * max(gnorm, 1e-300))
        kwargs["hessp"] = hessp
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
            r = scipy.optimize.minimize(value_and_grad, x0, method=method,
                                        options=options, **kwargs)
    except _StopFit:
        return state.best_x, "stopped by the callback", True
    return r.x, r.message, r.success


def _unit(loss0: float) -> float:
    """What the optimisers divide the loss by: a starting loss below 1 is scaled to 1. SciPy's
    L-BFGS-B compares a reduction with ``max(|f|, 1)``, an absolute test for a loss below 1, so
    small data (a loss of 1e-20: observations of order 1e-10) ended the fit at its first step,
    at the starting values, and Adam's epsilon is absolute too; scaled, both act as for data of
    order 1."""
    return min(loss0, 1.0) if loss0 >= np.finfo(np.float64).tiny else 1.0


def _adam(state: _State, x0, box, max_iter: int, lr: float, tol: float):
    x = x0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    lo = np.array([-np.inf if b[0] is None else b[0] for b in box])
    hi = np.array([np.inf if b[1] is None else b[1] for b in box])
    loss0 = None
    for k in range(1, max_iter + 1):
        loss, g = state.value_and_grad(x)
        if loss0 is None:
            loss0 = loss
            unit = _unit(loss0)
        g = g / unit  # (Adam's epsilon is absolute: a tiny gradient would not move x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = lr * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-12)
        x = np.clip(x - step, lo, hi)
        if state.iteration(x):
            return x, "stopped by the callback", True
        if loss <= tol * loss0:
            return x, "loss reduced below tol times the initial loss", True
    return x, f"{max_iter} iterations", True


def _hessian(model, layout: _Layout, state: _State) -> np.ndarray:
    """The exact Hessian of the loss in the model's values, one column per fitted value."""
    n = sum(layout.sizes)
    h = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        _, _, hv = model.loss_grad_hvp(layout.names, layout.split(e))
        state.hvps += 1
        h[:, j] = np.concatenate([np.ravel(a) for a in hv])
    return 0.5 * (h + h.T)
