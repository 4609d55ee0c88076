"""PINN solvers on the tidal engine: geometry and sampling, networks as tidal functions, exact
reference solutions."""

from tidal.solvers.geometry import (
    Ball,
    Box,
    Difference,
    Disk,
    Geometry,
    Hypercube,
    Intersection,
    Interval,
    Polygon,
    Rectangle,
    SpaceTime,
    TimeDomain,
    Union,
)
from tidal.solvers.network import MLP

__all__ = ["MLP", "Ball", "Box", "Difference", "Disk", "Geometry", "Hypercube", "Intersection",
           "Interval", "Polygon", "Rectangle", "SpaceTime", "TimeDomain", "Union"]
