"""What every simulator of :mod:`tidal.physics` shares: running its two kernels and binding
observations for :func:`tidal.fit`.

A subclass makes ``advance(t)`` (one step) and ``rollout()`` (every step in one launch) from
its one step, keeps its states in the field ``states`` and its observations in ``data`` and
``weights`` (each of ``observation_shape``), and loads its parameters into the fields in
``_load()``. :meth:`Simulator.simulate` and :meth:`Simulator.observe` guarantee the same
behaviour for every model: the same trajectory from either kernel, and NaN in the data marking
values that were not observed (weight 0).
"""

import numpy as np

from tidal.dsl.errors import TidalArgumentError


class Simulator:
    """Base of the simulators: :meth:`simulate` and :meth:`observe` from the subclass's
    kernels and fields."""

    steps: int
    #: words naming the axes of ``observation_shape`` in error messages
    layout = ""

    def _before_run(self) -> None:
        """Checks made before a run (step-size warnings); none by default."""

    def _load(self) -> None:
        raise NotImplementedError

    @property
    def observation_shape(self) -> tuple:
        raise NotImplementedError

    def _as_observations(self, data: np.ndarray) -> np.ndarray:
        """``data`` in ``observation_shape`` where a shorter form is accepted (unchanged by
        default)."""
        return data

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
