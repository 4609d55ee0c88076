"""PINN solvers on the tidal engine: networks as tidal functions, exact reference solutions."""

from tidal.solvers.network import MLP

__all__ = ["MLP"]
