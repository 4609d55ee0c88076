"""A trained neural operator as a model :func:`tidal.fit` can fit through.

:class:`OperatorModel` wraps an :class:`~tidal.surrogates.FNO` so that its input field is a
named parameter and its output field the observed quantity: ``td.fit(OperatorModel(fno,
u0), data, params=["input"])`` recovers an input from sparse observations of the output, the
same call that fits a simulator's initial state through the simulator (``td.fit(Burgers1D(...),
data, params=["u0"])``). That is the "surrogate in the loop": one evaluation is one forward and
one adjoint pass of the network instead of a whole simulation and its adjoint.

Guarantees: the loss is ``sum w (G(input) - data)^2`` over observed values (NaN in ``data``
marks a value that was not observed), in the network's physical units (through its
normalisers, :meth:`~tidal.surrogates.FNO.set_normalisers`), and its gradient is exact for the
network (one forward pass and the generated adjoint kernels, no finite differences); bad names
and shapes raise :class:`tidal.TidalArgumentError`. Hessian-vector products are not provided
(``loss_grad_hvp`` is None): :func:`tidal.fit` fits it with ``"L-BFGS-B"`` or ``"adam"`` and
reports no uncertainty.
"""

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import fno as _fno


class OperatorModel:
    """A trained FNO with its input field as the one parameter, for :func:`tidal.fit`.

    Args:
        network: the trained :class:`~tidal.surrogates.FNO`.
        initial: the starting input field (one field, without the batch axis).
        name: the parameter's name (default ``"input"``).

    Attributes:
        names: ``(name,)``.
        observation_shape: the shape of one output field (what ``data`` must have).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import FNO, OperatorModel
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
        >>> model = OperatorModel(net, np.zeros(16), name="u0")
        >>> data = np.full(16, np.nan)
        >>> data[::4] = 0.1
        >>> model.observe(data)
        4
        >>> loss, (grad,) = model.loss_grad(["u0"])
        >>> grad.shape
        (16,)
    """

    def __init__(self, network, initial, name: str = "input"):
        if not isinstance(network, _fno.FNO):
            raise TidalArgumentError(f"network must be a tidal.surrogates.FNO, got "
                                     f"{type(network).__name__}")
        if not isinstance(name, str) or not name:
            raise TidalArgumentError(f"name must be a non-empty string, got {name!r}")
        self.network = network
        self.names = (name,)
        self._input = self._checked(initial)
        self.observation_shape = np.shape(self._predict(self._input))
        self._data = np.full(self.observation_shape, np.nan)
        self._weights = np.zeros(self.observation_shape)

    # -- the members td.fit uses -----------------------------------------------------------------
    def get(self, name: str) -> np.ndarray:
        """The current input field (a copy)."""
        self._check_name(name)
        return self._input.copy()

    def set(self, name: str, value) -> None:
        """Set the input field (same shape as the initial one, finite)."""
        self._check_name(name)
        self._input = self._checked(value)

    def observe(self, data, weights=None) -> int:
        """Bind observations of the output field (NaN: not observed); returns how many."""
        data = np.asarray(data, dtype=np.float64)
        if data.shape != self.observation_shape:
            raise TidalArgumentError(f"data must have the output's shape "
                                     f"{self.observation_shape} (NaN where nothing was "
                                     f"observed), got {data.shape}")
        observed = np.isfinite(data)
        w = np.ones(data.shape) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != data.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise TidalArgumentError(f"weights must be finite, non-negative and of shape "
                                     f"{data.shape}")
        self._data = np.where(observed, data, 0.0)
        self._weights = np.where(observed, w, 0.0)
        return int(observed.sum())

    def loss_grad(self, names) -> tuple[float, list]:
        """``L = sum w (G(input) - data)^2`` and ``[dL/dinput]`` (one forward and one adjoint
        pass of the network)."""
        for n in names:
            self._check_name(n)
        inputs = self.network.check_inputs(self._input[None], self.names[0])
        kept = {}

        def cotangent(outputs):
            residual = outputs[0] - self._data
            kept["loss"] = float(np.sum(self._weights * residual * residual))
            return (2.0 * self._weights * residual)[None]

        _, grad = self.network.predict_and_vjp(inputs, cotangent)
        grad = grad.reshape(self._input.shape)
        return kept["loss"], [grad for _ in names]

    #: gradients only: td.fit uses first-order methods and skips the uncertainty
    loss_grad_hvp = None

    def predict(self) -> np.ndarray:
        """The output field at the current input."""
        return self._predict(self._input)

    # -- helpers ---------------------------------------------------------------------------------
    def _predict(self, field: np.ndarray) -> np.ndarray:
        return np.asarray(self.network.predict(field[None])[0], dtype=np.float64)

    def _checked(self, value) -> np.ndarray:
        arr = np.array(value, dtype=np.float64)
        if hasattr(self, "_input") and arr.shape != self._input.shape:
            raise TidalArgumentError(f"{self.names[0]} must have shape {self._input.shape}, got "
                                     f"{arr.shape}")
        if arr.ndim == 0 or not np.all(np.isfinite(arr)):
            raise TidalArgumentError(f"{self.names[0]} must be a finite field, got shape "
                                     f"{arr.shape}")
        return arr

    def _check_name(self, name: str) -> None:
        if name not in self.names:
            raise TidalArgumentError(f"this model's parameter is {self.names[0]!r}, not "
                                     f"{name!r}")
