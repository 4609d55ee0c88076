"""A trained neural operator as a model :func:`tidal.fit` can fit through.

:class:`OperatorModel` wraps an :class:`~tidal.surrogates.FNO` so that its input field is a
named parameter and its output field the observed quantity: ``td.fit(OperatorModel(fno,
u0), data, params=["input"])`` recovers an input from sparse observations of the output, the
same call that fits a simulator's initial state through the simulator (``td.fit(Burgers1D(...),
data, params=["u0"])``). That is the "surrogate in the loop": one evaluation is one forward and
one adjoint pass of the network instead of a whole simulation and its adjoint. Where only
some points of the output are observed, the network's projection runs at those points only
(:meth:`~tidal.surrogates.FNO.predict_and_vjp` with ``points``).

Guarantees: the loss is ``sum w (G(input) - data)^2`` over observed values (NaN in ``data``
marks a value that was not observed), in the network's physical units (through its
normalisers, :meth:`~tidal.surrogates.FNO.set_normalisers`), and its gradient is exact for the
network (one forward pass and the generated adjoint kernels, no finite differences); bad names
and shapes, inf in the data, data with nothing observed and a loss asked for before any
:meth:`~OperatorModel.observe` raise :class:`tidal.TidalArgumentError`. Hessian-vector products
are not provided (``loss_grad_hvp`` is None): :func:`tidal.fit` fits it with ``"L-BFGS-B"`` or
``"adam"`` and reports no uncertainty.
"""

import math

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks
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
        self._data = np.zeros(self.observation_shape)
        self._weights = np.zeros(self.observation_shape)
        self._points: tuple[int, ...] | None = None  # where some value has a weight
        self._at_points = (self._data, self._weights)  # (their data and weights there)
        self._observed = False

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
        """Bind observations of the output field (NaN: not observed); returns how many.

        Raises:
            TidalArgumentError: ``data`` not of :attr:`observation_shape`, holding inf, or with
                no observed value (every value NaN or of weight 0); bad ``weights``.
        """
        data = _float_array("data", data)
        if data.shape != self.observation_shape:
            raise TidalArgumentError(f"data must have the output's shape "
                                     f"{self.observation_shape}, got {data.shape}",
                                     hint="give one output field, NaN where nothing was "
                                          "observed")
        infinite = np.isinf(data)
        if np.any(infinite):
            count = int(infinite.sum())
            raise TidalArgumentError(
                f"data contains {_checks.plural(count, 'infinite value')} (the first at "
                f"{_index('data', infinite)})",
                hint="NaN marks a value that was not observed; inf is not a valid observation")
        observed = np.isfinite(data)
        w = np.ones(data.shape) if weights is None else _float_array("weights", weights)
        if w.shape != data.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise TidalArgumentError(f"weights must be finite, non-negative and of shape "
                                     f"{data.shape}, got shape {w.shape}",
                                     hint="give one weight per output value (or none)")
        if not np.any(observed & (w > 0)):
            raise TidalArgumentError("data has no observations: every value is NaN or has "
                                     "weight 0",
                                     hint="give at least one observed (finite) value with a "
                                          "positive weight; NaN marks values not observed")
        self._data = np.where(observed, data, 0.0)
        self._weights = np.where(observed, w, 0.0)
        # the network's outputs are needed only at the points with a weighted observation
        grid = self._input.shape[:self.network.dim]
        weighted = (self._weights > 0).reshape(math.prod(grid), -1).any(axis=1)
        self._points = self.network.check_points(np.flatnonzero(weighted), grid)
        self._at_points = (self._data, self._weights)
        if self._points is not None:
            shape = self.network.output_shape((len(self._points),))
            self._at_points = tuple(a.reshape(len(weighted), -1)[list(self._points)].reshape(shape)
                                    for a in self._at_points)
        self._observed = True
        return int(observed.sum())

    def loss_grad(self, names) -> tuple[float, list]:
        """``L = sum w (G(input) - data)^2`` and ``[dL/dinput]`` (one forward and one adjoint
        pass of the network)."""
        for n in names:
            self._check_name(n)
        if not self._observed:
            raise TidalArgumentError("no data has been observed yet: the loss compares the "
                                     "output with observations",
                                     hint="call model.observe(data) first (td.fit does it "
                                          "with its data)")
        data, weights = self._at_points
        kept = {}

        def cotangent(outputs):
            residual = outputs[0] - data
            kept["loss"] = float(np.sum(weights * residual * residual))
            return (2.0 * weights * residual)[None]

        # (the input field was checked when it was set)
        _, grad = self.network.predict_and_vjp(self._input[None], cotangent, self._points)
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
        """``value`` as one finite float64 input field of the network (of the initial field's
        shape once there is one), or a TidalArgumentError naming the shapes."""
        name = self.names[0]
        arr = _float_array(name, value).copy()
        if hasattr(self, "_input"):
            if arr.shape != self._input.shape:
                raise TidalArgumentError(f"{name} must have shape {self._input.shape}, got "
                                         f"{arr.shape}",
                                         hint="give a field of the initial field's shape")
        else:
            net = self.network
            dim, channels = net.dim, net.in_channels
            grid = "S" if dim == 1 else "S1, S2"
            ok = arr.ndim == dim + 1 and arr.shape[-1] == channels
            if channels == 1:  # the channel axis may be left out
                ok, want = ok or arr.ndim == dim, f"({grid},)" if dim == 1 else f"({grid})"
            else:
                want = f"({grid}, {channels})"
            if not ok:
                raise TidalArgumentError(
                    f"{name} must be a single field of shape {want} for this {dim}-D FNO "
                    f"with {_checks.plural(channels, 'input channel')}, got {arr.shape}",
                    hint=f"give a single field of shape {want}, without a batch axis")
            net.check_grid(arr.shape[:dim], name)
        bad = ~np.isfinite(arr)
        if np.any(bad):
            raise TidalArgumentError(f"{name} must be finite: it holds "
                                     f"{_checks.plural(int(bad.sum()), 'NaN or inf value')} (the "
                                     f"first at {_index(name, bad)})",
                                     hint="give a finite field")
        return arr

    def _check_name(self, name: str) -> None:
        if name not in self.names:
            raise TidalArgumentError(f"this model's parameter is {self.names[0]!r}, not "
                                     f"{name!r}")


def _float_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array, or a TidalArgumentError naming ``name``."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TidalArgumentError(f"{name} must be an array of numbers, got "
                                 f"{type(value).__name__}",
                                 hint="give a NumPy array (or nested lists) of floats") from None


def _index(name: str, mask: np.ndarray) -> str:
    """``name[i, j]`` of the first True of ``mask`` (C order)."""
    first = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return f"{name}[{', '.join(str(int(i)) for i in first)}]"
