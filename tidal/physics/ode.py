"""ODE systems ``dy/dt = rhs(y, p, t)`` with named parameters, simulated and fitted in tidal.

One step is written once (the right-hand side as a ``td.func``, the integrator from
:mod:`tidal.physics.integrators`); from it the rollout generator makes both kernels:

* ``advance(t)``: one step of every experiment (for interactive use, one frame at a time);
* ``rollout()``: the whole time loop inside one kernel (for fitting: one launch forward and one
  adjoint launch backward, instead of two launches per step).

Both store the state at every step (``Y[e, t]``), so the rollout overwrites nothing and its
adjoint reads stored states; they give identical trajectories. Several experiments (initial
conditions) run side by side and are fitted jointly. Parameters are the right-hand side's named
parameters and ``"y0"``, the initial states.
"""

import warnings

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import field_io, runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics import integrators
from tidal.physics.simulator import SPURIOUS_GROWTH, Simulator


def _state_jacobian(fn, args) -> np.ndarray:
    """``d fn / d args[0]`` at ``args``: one batched forward-mode evaluation, a tangent per
    state component (exact; far less code to compile than ``td.jacobian``'s unrolled
    directions on large states)."""
    d = len(args[0])
    tangents = [np.eye(d)] + [np.zeros_like(np.asarray(a, dtype=np.float64)) for a in args[1:]]
    _, columns = td.jvp(fn)(*args, *tangents)
    return np.asarray(columns, dtype=np.float64).reshape(d, d).T


class ODE(Simulator):
    """An ODE system with named state components and parameters.

    Args:
        rhs: ``td.func`` ``rhs(y: td.vec(d), p: td.vec(k), t: float) -> td.vec(d)``; ``p``
            holds the parameters in the order of ``params``.
        state: names of the ``d`` state components.
        params: parameter names and values (``{"length": 1.0, ...}``), in ``p``'s order.
        y0: initial state, shape ``(d,)`` or ``(experiments, d)``.
        dt: time step.
        steps: number of steps (the trajectory has ``steps + 1`` states).
        integrator: ``"rk4"`` (default), ``"euler"``, ``"symplectic_euler"`` or ``"leapfrog"``.
        t0: initial time.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import ODE
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def decay(y: td.vec(1), p: td.vec(1), t: float) -> td.vec(1):
        ...     return -p[0] * y
        >>> sim = ODE(decay, ["u"], {"rate": 2.0}, y0=[1.0], dt=0.01, steps=100)
        >>> round(float(sim.simulate()[0, -1, 0]), 6), round(float(np.exp(-2.0)), 6)
        (0.135335, 0.135335)
    """

    def __init__(self, rhs, state, params: dict, y0, dt: float, steps: int,
                 integrator: str = "rk4", t0: float = 0.0):
        self.state = tuple(state)
        self.param_names = tuple(params)
        d, k = len(self.state), len(self.param_names)
        if d == 0 or k == 0:
            raise TidalArgumentError("an ODE needs at least one state component and one "
                                     "parameter")
        if "y0" in self.param_names:
            raise TidalArgumentError("`y0` names the initial states; rename the parameter")
        y0 = np.asarray(y0, dtype=np.float64)
        if not np.all(np.isfinite(y0)):
            raise TidalArgumentError(f"y0 must be finite, got {y0.tolist()}")
        bad = [n for n, v in params.items() if not np.all(np.isfinite(np.asarray(v, float)))]
        if bad:
            raise TidalArgumentError(f"parameter values must be finite: {', '.join(bad)}")
        if y0.ndim == 1:
            y0 = y0[None]
        if y0.ndim != 2 or y0.shape[1] != d:
            raise TidalArgumentError(f"y0 must have shape ({d},) or (experiments, {d}) for "
                                     f"the state {self.state}, got {np.shape(y0)}")
        self._plan(steps, None)  # every state is stored (an ODE's states are small)
        if not dt > 0:
            raise TidalArgumentError(f"dt must be positive, got {dt!r}")
        self.experiments, self.dt, self.t0 = len(y0), float(dt), float(t0)
        self.integrator = integrator
        step = integrators.make_step(rhs, d, k, integrator)
        self._rhs, self._step, self._checked = rhs, step, False
        real = runtime.config().default_fp.taichi
        shape = (self.experiments, steps + 1)
        self.Y = ti.Vector.field(d, real, shape=shape, needs_grad=True)
        self.P = ti.Vector.field(k, real, shape=(), needs_grad=True)
        self.data = ti.Vector.field(d, real, shape=shape)
        self.weights = ti.Vector.field(d, real, shape=shape)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self._y0 = y0.copy()
        self._p = np.array([float(params[n]) for n in self.param_names])
        self._kernels(step)

    # -- kernels, made from the one step --------------------------------------------------------
    def _kernels(self, step) -> None:
        Y, P, data, weights, loss = self.Y, self.P, self.data, self.weights, self.loss
        experiments, steps, dt, t0 = self.experiments, self.steps, self.dt, self.t0

        @td.kernel
        def advance(t: ti.i32):
            for e in range(experiments):
                Y[e, t + 1] = step(Y[e, t], P[None], t0 + t * dt, dt)

        @td.kernel
        def rollout():
            for e in range(experiments):
                for t in range(steps):
                    Y[e, t + 1] = step(Y[e, t], P[None], t0 + t * dt, dt)

        @td.kernel
        def mismatch():
            for e, t in ti.ndrange(experiments, steps + 1):
                r = Y[e, t] - data[e, t]
                loss[None] += (weights[e, t] * r * r).sum()

        self.advance, self.rollout, self.mismatch = advance, rollout, mismatch

    # -- parameters ----------------------------------------------------------------------------
    @property
    def names(self) -> tuple:
        """Names of everything that can be fitted: the parameters, then ``"y0"``."""
        return self.param_names + ("y0",)

    def get(self, name: str) -> np.ndarray:
        """Current value of a parameter (a 0-d array) or of ``"y0"`` (experiments, d)."""
        if name == "y0":
            return self._y0.copy()
        return np.array(self._p[self._index(name)])

    def set(self, name: str, value) -> None:
        """Set a parameter, or ``"y0"``."""
        value = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise TidalArgumentError(f"{name} must be finite, got {value}")
        if name == "y0":
            if value.shape != self._y0.shape:
                raise TidalArgumentError(f"y0 must have shape {self._y0.shape}, got "
                                         f"{value.shape}")
            self._y0 = value.copy()
        else:
            if value.shape not in ((), (1,)):
                raise TidalArgumentError(f"{name} is a scalar, got shape {value.shape}")
            self._p[self._index(name)] = float(value.reshape(-1)[0])

    def _index(self, name: str) -> int:
        if name not in self.param_names:
            raise TidalArgumentError(f"unknown parameter {name!r}",
                                     hint=f"this system has {', '.join(self.names)}")
        return self.param_names.index(name)

    # -- running -------------------------------------------------------------------------------
    def advance_live(self, whole: bool = False, windows: int = 1) -> list:
        """Not for ODE systems: their runs are whole trajectories of every experiment at once
        (use :meth:`simulate`, a few milliseconds for the systems of this module)."""
        raise TidalArgumentError("an ODE system has no live run: call simulate() (its states "
                                 "are the whole trajectory of every experiment)")

    def _load(self) -> None:
        """Write the parameters and initial states into the fields (before a run)."""
        field_io.from_numpy(self.P, self._p)
        states = np.zeros((self.experiments, self.steps + 1, len(self.state)))
        states[:, 0] = self._y0
        field_io.from_numpy(self.Y, states)

    def stability(self) -> tuple[float, float]:
        """How much one step and the exact flow amplify the fastest-growing mode, linearised
        at the first experiment's initial state with the current parameters: the spectral
        radius of the step's Jacobian (the amplification matrix, exact by forward-mode
        derivatives of the step) and ``exp(dt * max Re(eigenvalues of d rhs / dy))``."""
        y, p = self._y0[0], self._p
        amplification = _state_jacobian(self._step, (y, p, self.t0, self.dt))
        jacobian = _state_jacobian(self._rhs, (y, p, self.t0))
        step_radius = float(np.max(np.abs(np.linalg.eigvals(amplification))))
        flow_radius = float(np.exp(self.dt * np.max(np.linalg.eigvals(jacobian).real)))
        return step_radius, flow_radius

    def _check_step(self) -> None:
        """Warn (once) where the step size lies outside the integrator's stability limit
        (also the check :meth:`simulate` makes before a run)."""
        if self._checked:
            return
        self._checked = True
        step_radius, flow_radius = self.stability()
        ratio = step_radius / max(flow_radius, 1.0)
        spurious = float(np.exp(min(self.steps * np.log(ratio), 700.0))) if ratio > 0 else 0.0
        if not np.isfinite(spurious) or spurious > SPURIOUS_GROWTH:
            warnings.warn(
                f"dt = {self.dt:g} is outside the stability limit of {self.integrator!r} for "
                f"this system: linearised at y0, one step amplifies a mode by "
                f"{step_radius:.4g} where the exact flow grows by at most "
                f"{max(flow_radius, 1.0):.4g}, {spurious:.3g}x over the {self.steps} steps. "
                f"Use a smaller dt (more steps) or integrator='rk4'", TidalWarning,
                stacklevel=3)

    _before_run = _check_step

    @property
    def states(self):
        """The field of every state, ``Y[e, t]`` (what :meth:`simulate` returns)."""
        return self.Y

    def times(self) -> np.ndarray:
        return self.t0 + self.dt * np.arange(self.steps + 1)

    # -- what td.fit uses ----------------------------------------------------------------------
    @property
    def layout(self) -> str:
        return f"experiments, steps + 1, state {self.state}"

    @property
    def observation_shape(self) -> tuple:
        """``(experiments, steps + 1, d)``; one experiment's data may omit the first axis."""
        return (self.experiments, self.steps + 1, len(self.state))

    def _as_observations(self, data: np.ndarray) -> np.ndarray:
        return data[None] if self.experiments == 1 and data.shape == \
            self.observation_shape[1:] else data

    def _run(self):
        self.loss[None] = 0.0  # (seen by a tape around the run)
        self.rollout()
        self.mismatch()
        return self.loss

    def loss_grad(self, names) -> tuple[float, list]:
        """The weighted sum of squared residuals and its gradient for each of ``names``."""
        self._check_step()
        self._load()
        with td.Tape(self.loss):
            self._run()
        p_grad, y_grad = field_io.to_numpy(self.P.grad), field_io.to_numpy(self.Y.grad)
        return float(self.loss[None]), [self._grad_of(n, p_grad, y_grad) for n in names]

    def loss_grad_hvp(self, names, vectors) -> tuple[float, list, list]:
        """Loss, gradients, and the Hessian applied to ``vectors`` (one per name)."""
        self._check_step()
        self._load()
        vp = np.zeros(len(self.param_names))
        vy = np.zeros((self.experiments, self.steps + 1, len(self.state)))
        for n, v in zip(names, vectors):
            if n == "y0":
                vy[:, 0] = v
            else:
                vp[self._index(n)] = float(np.reshape(v, -1)[0])
        value, (gp, gy), (hp, hy) = td.hvp(self._run, [self.P, self.Y], [vp, vy])
        return (float(value), [self._grad_of(n, gp, gy) for n in names],
                [self._grad_of(n, hp, hy) for n in names])

    def _grad_of(self, name, gp, gy) -> np.ndarray:
        if name == "y0":
            return np.asarray(gy, dtype=np.float64)[:, 0].copy()
        return np.array(np.asarray(gp, dtype=np.float64).reshape(-1)[self._index(name)])
