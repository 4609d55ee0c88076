"""The 2-D heat equation with one diffusivity, observed by point sensors: a composition of
:class:`~tidal.physics.diffusion.Diffusion2D`.

``u_t = alpha (u_xx + u_yy)`` on an ``n x n`` grid with unit cells (``dt`` is ``dt / h^2``);
boundary cells keep their initial values. It is ``Diffusion2D`` with the diffusivity field held
at one value, the named parameter ``"alpha"``, whose gradient is the sum of the field's (and
whose Hessian-vector products come from the field's along a uniform direction); observations
may be given as sensor readings, ``(steps + 1, sensors)``.
"""

import numpy as np

from tidal.dsl.errors import TidalArgumentError
from tidal.physics.diffusion import Diffusion2D


class Heat2D(Diffusion2D):
    """``u_t = alpha (u_xx + u_yy)``, observed at sensor cells.

    Args:
        u0: (n, n) initial temperature (its boundary cells stay fixed).
        steps: number of explicit time steps.
        dt_over_h2: ``dt / h^2`` (stable for ``alpha * dt / h^2 <= 1/4``; beyond that a run
            warns).
        sensors: (s, 2) grid indices of the cells observed (default: every cell).
        alpha: the diffusivity.
        checkpoint_every: as for :class:`~tidal.physics.diffusion.Diffusion2D`.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.physics import Heat2D
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> heat = Heat2D(np.ones((5, 5)), steps=4, dt_over_h2=0.5, sensors=[[2, 2]],
        ...               alpha=0.3)
        >>> heat.readings().shape
        (5, 1)
    """

    def __init__(self, u0, steps: int, dt_over_h2: float, sensors=None, alpha: float = 1.0,
                 checkpoint_every: int | None = None):
        u0 = np.asarray(u0, dtype=np.float64)
        super().__init__(np.full(np.shape(u0), float(alpha)), u0, dt=dt_over_h2, steps=steps,
                         h=1.0, checkpoint_every=checkpoint_every)
        if sensors is None:
            sensors = np.argwhere(np.ones((self.n, self.n), dtype=bool))
        sensors = np.asarray(sensors)
        if sensors.ndim != 2 or sensors.shape[1] != 2 or not np.issubdtype(sensors.dtype,
                                                                              np.integer) \
                or sensors.min() < 0 or sensors.max() >= self.n:
            raise TidalArgumentError(f"sensors must be an (s, 2) array of cell indices in "
                                     f"0..{self.n - 1}, got {sensors!r}")
        self.sensors = sensors

    # -- "alpha" in place of the field ---------------------------------------------------------
    @property
    def names(self) -> tuple:
        return ("alpha", "source", "u0")

    def get(self, name: str) -> np.ndarray:
        if name == "alpha":
            return np.array(super().get("kappa")[0, 0])
        self._check_name(name)
        return super().get(name)

    def set(self, name: str, value) -> None:
        if name == "alpha":
            value = np.asarray(value, dtype=np.float64)
            if value.size != 1:
                raise TidalArgumentError(f"alpha is a scalar, got shape {value.shape}")
            super().set("kappa", float(value.reshape(-1)[0]))
            return
        self._check_name(name)
        super().set(name, value)

    def _check_name(self, name: str) -> None:
        if name not in self.names:
            raise TidalArgumentError(f"unknown parameter {name!r}",
                                     hint=f"this model has {', '.join(self.names)}")

    def _inner(self, names) -> list:
        for n in names:
            self._check_name(n)
        return ["kappa" if n == "alpha" else n for n in names]

    def _outer(self, names, values) -> list:
        return [np.array(np.sum(v)) if n == "alpha" else v for n, v in zip(names, values)]

    def loss_grad(self, names) -> tuple[float, list]:
        value, grads = super().loss_grad(self._inner(names))
        return value, self._outer(names, grads)

    def loss_grad_hvp(self, names, vectors) -> tuple[float, list, list]:
        full = [np.full((self.n, self.n), float(np.reshape(v, -1)[0])) if n == "alpha" else v
                for n, v in zip(names, vectors)]
        value, grads, hvps = super().loss_grad_hvp(self._inner(names), full)
        return value, self._outer(names, grads), self._outer(names, hvps)

    # -- sensors -------------------------------------------------------------------------------
    layout = "steps + 1, sensors (readings) or steps + 1, n, n (NaN: not observed)"

    def _as_observations(self, data: np.ndarray) -> np.ndarray:
        if data.shape != (self.steps + 1, len(self.sensors)):
            return data
        fields = np.full(self.observation_shape, np.nan)
        fields[:, self.sensors[:, 0], self.sensors[:, 1]] = data
        return fields

    def readings(self) -> np.ndarray:
        """Simulated sensor readings, ``(steps + 1, sensors)``."""
        return self.simulate()[:, self.sensors[:, 0], self.sensors[:, 1]]
