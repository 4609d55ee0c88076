"""PINN solvers on the tidal engine: geometry and sampling, networks as tidal functions,
conditions and problems, exact reference solutions."""

from tidal.solvers.conditions import (
    DirichletBC,
    InitialCondition,
    NeumannBC,
    Observations,
    OperatorCondition,
    PeriodicBC,
    RobinBC,
)
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
from tidal.solvers.plots import relative_l2_error
from tidal.solvers.problem import Problem, Unknown
from tidal.solvers.training import History, Objective, Trainer

__all__ = ["MLP", "Ball", "Box", "Difference", "DirichletBC", "Disk", "Geometry", "History",
           "Hypercube", "InitialCondition", "Intersection", "Interval", "NeumannBC", "Objective",
           "Observations", "OperatorCondition", "PeriodicBC", "Polygon", "Problem", "Rectangle",
           "RobinBC", "SpaceTime", "TimeDomain", "Trainer", "Union", "Unknown",
           "relative_l2_error"]
