"""What every simulator of :mod:`tidal.physics` shares: its named parameters, running its two
kernels, binding observations, and the loss with its derivatives for :func:`tidal.fit`.

A subclass makes ``advance(t)`` (one step) and ``rollout()`` (every step in one launch) from
its one step, a ``mismatch()`` kernel adding the weighted squared residuals of ``states`` and
``data`` to ``loss``, and keeps its observations in ``data`` and ``weights`` (each of
``observation_shape``). Its named parameters are data: ``_values`` holds each one's current
value (NumPy) and ``_param_fields()`` says where a run finds it, a whole field or the first
time slice of a per-step state field (one parameter per field). From that the base class
guarantees the same behaviour for every model:

* ``get``/``set`` with shape and finiteness checks (a scalar fills an array parameter), a clear
  error naming the model's parameters for an unknown name;
* :meth:`simulate`: the same trajectory from either kernel;
* :meth:`observe`: NaN in the data marks values that were not observed (weight 0);
* :meth:`loss_grad` and :meth:`loss_grad_hvp`: the loss, its gradient (one forward and one
  adjoint run under ``td.Tape``) and Hessian-vector products (``td.hvp``) with respect to any
  of the names, read from the parameters' fields.

Models whose parameters do not live one per field (:class:`~tidal.physics.ode.ODE` packs them
in one vector) override those methods.
"""

import numpy as np

import tidal as td
from tidal.dsl.errors import TidalArgumentError


class Simulator:
    """Base of the simulators: parameters, runs, observations and derivatives from the
    subclass's kernels and fields."""

    steps: int
    #: words naming the axes of ``observation_shape`` in error messages
    layout = ""
    _values: dict

    # -- what a subclass provides --------------------------------------------------------------
    def _param_fields(self) -> dict:
        """``{name: (field, first)}``: the field a run reads the parameter from; ``first``:
        the parameter is the field's first time slice (an initial state)."""
        raise NotImplementedError

    def _check(self, name: str, value: np.ndarray) -> None:
        """Model-specific checks of a new value (positivity, ...); none by default."""

    def _load_more(self) -> None:
        """Fields besides the parameters to prepare before a run (none by default)."""

    def _before_run(self) -> None:
        """Checks made before a run (step-size warnings); none by default."""

    def _extra_loss(self) -> None:
        """Kernels adding terms besides the mismatch to ``loss`` (none by default)."""

    @property
    def observation_shape(self) -> tuple:
        raise NotImplementedError

    def _as_observations(self, data: np.ndarray) -> np.ndarray:
        """``data`` in ``observation_shape`` where a shorter form is accepted (unchanged by
        default)."""
        return data

    # -- parameters ----------------------------------------------------------------------------
    @property
    def names(self) -> tuple:
        """Names of everything that can be fitted."""
        return tuple(self._values)

    def get(self, name: str) -> np.ndarray:
        """A copy of the parameter's current value."""
        self._known(name)
        return self._values[name].copy()

    def set(self, name: str, value) -> None:
        """Set a parameter (a scalar fills an array parameter)."""
        self._known(name)
        shape = self._values[name].shape
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0 and shape != ():
            value = np.full(shape, float(value))
        if shape == () and value.shape != ():
            if value.shape != (1,):
                raise TidalArgumentError(f"{name} is a scalar, got shape {value.shape}")
            value = value.reshape(())
        if value.shape != shape:
            raise TidalArgumentError(f"{name} must have shape {shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise TidalArgumentError(f"{name} must be finite")
        self._check(name, value)
        self._values[name] = value.copy()

    def _known(self, name: str) -> None:
        if name not in self._values:
            raise TidalArgumentError(f"unknown parameter {name!r}",
                                     hint=f"this model has {', '.join(self._values)}")

    # -- running -------------------------------------------------------------------------------
    def _load(self) -> None:
        """Write every parameter into its field (initial states into the first time slice,
        the later steps zeroed), then the model's other fields."""
        for name, (field, first) in self._param_fields().items():
            value = self._values[name]
            if first:
                full = np.zeros((field.shape[0],) + value.shape)
                full[0] = value
                field.from_numpy(full)
            else:
                field.from_numpy(value)
        self._load_more()

    def reset(self) -> None:
        """Load the current parameters and initial state into the fields (what every run does
        first; call it before launching ``advance`` or ``rollout`` yourself)."""
        self._before_run()
        self._load()

    def simulate(self, whole: bool = True) -> np.ndarray:
        """Every state of the run: one ``rollout`` launch, or ``whole=False``: one ``advance``
        launch per step (the same values)."""
        self.reset()
        if whole:
            self.rollout()
        else:
            for t in range(self.steps):
                self.advance(t)
        return self.states.to_numpy().astype(np.float64)

    def run(self, whole: bool = True):
        """The rollout (or one ``advance`` per step) and the loss, after :meth:`reset`;
        returns the loss field."""
        self.loss.fill(0.0)
        if whole:
            self.rollout()
        else:
            for t in range(self.steps):
                self.advance(t)
        self.mismatch()
        self._extra_loss()
        return self.loss

    # -- observations --------------------------------------------------------------------------
    def observe(self, data, weights=None) -> int:
        """Bind observations of ``observation_shape``, NaN where nothing was observed;
        ``weights`` broadcast to that shape (default 1). Returns the number of observed
        values."""
        shape = self.observation_shape
        data = self._as_observations(np.asarray(data, dtype=np.float64))
        if data.shape != shape:
            raise TidalArgumentError(f"observations must have shape {shape} ({self.layout}), "
                                     f"got {np.shape(data)}",
                                     hint="mark values that were not observed with NaN")
        w = np.ones(shape) if weights is None else np.broadcast_to(
            np.asarray(weights, dtype=np.float64), shape).copy()
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise TidalArgumentError("weights must be finite and non-negative")
        missing = ~np.isfinite(data)
        w[missing] = 0.0
        self.data.from_numpy(np.where(missing, 0.0, data))
        self.weights.from_numpy(w)
        return int(np.count_nonzero(w))

    # -- the loss and its derivatives ----------------------------------------------------------
    def _tangent_layout(self):
        """The parameters' names, fields and zero tangents, in declaration order."""
        slots = self._param_fields()
        names = list(slots)
        fields = [slots[n][0] for n in names]
        zeros = [np.zeros(((self.steps + 1,) if slots[n][1] else ()) + self._values[n].shape)
                 for n in names]
        return slots, names, fields, zeros

    def _parts(self, names, slots, order, arrays) -> list:
        """Each of ``names``' part of per-field arrays (the first slice of a state field)."""
        out = []
        for n in names:
            a = np.asarray(arrays[order.index(n)], dtype=np.float64)
            out.append((a[0] if slots[n][1] else a).reshape(self._values[n].shape).copy())
        return out

    def loss_grad(self, names, whole: bool = True) -> tuple[float, list]:
        """The weighted sum of squared residuals (plus any regularising terms) and its gradient
        for each of ``names``."""
        for n in names:
            self._known(n)
        self.reset()
        with td.Tape(self.loss):
            self.run(whole)
        slots, order, fields, _ = self._tangent_layout()
        return float(self.loss[None]), self._parts(names, slots, order,
                                                   [f.grad.to_numpy() for f in fields])

    def loss_grad_hvp(self, names, vectors, whole: bool = True) -> tuple[float, list, list]:
        """Loss, gradients, and the Hessian applied to ``vectors`` (one per name)."""
        for n in names:
            self._known(n)
        if len(vectors) != len(names):
            raise TidalArgumentError(f"{len(vectors)} vectors for {len(names)} names")
        self.reset()
        slots, order, fields, tangents = self._tangent_layout()
        for n, vec in zip(names, vectors):
            vec = np.asarray(vec, dtype=np.float64).reshape(self._values[n].shape)
            i = order.index(n)
            if slots[n][1]:
                tangents[i][0] = vec
            else:
                tangents[i] = vec
        value, grads, hvps = td.hvp(lambda: self.run(whole), fields, tangents)
        return (float(value), self._parts(names, slots, order, grads),
                self._parts(names, slots, order, hvps))
