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
from tidal.solvers.names import Output, Variable, outputs, variables
from tidal.solvers.network import MLP, Periodic, Separate
from tidal.solvers.plots import relative_l2_error
from tidal.solvers.problem import Problem, Unknown
from tidal.solvers.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Linear,
    Schedule,
    StepDecay,
)
from tidal.solvers.training import History, Objective, Trainer

__all__ = ["MLP", "Ball", "Box", "CosineDecay", "Difference", "DirichletBC", "Disk",
           "ExponentialDecay", "Geometry", "History", "Hypercube", "InitialCondition",
           "Intersection", "Interval", "InverseTimeDecay", "Linear", "NeumannBC", "Objective",
           "Observations", "OperatorCondition", "Output", "Periodic", "PeriodicBC", "Polygon",
           "Problem", "Rectangle", "RobinBC", "Schedule", "Separate", "SpaceTime", "StepDecay",
           "TimeDomain", "Trainer", "Union", "Unknown", "Variable", "outputs",
           "relative_l2_error", "variables"]
