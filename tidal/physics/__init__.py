"""Differentiable simulators written as tidal kernels, and fitting their parameters."""

from tidal.physics.diffusion import Diffusion2D
from tidal.physics.fit import FitResult, fit
from tidal.physics.grids import AdvectionDiffusion1D, Burgers1D, Wave1D
from tidal.physics.heat import Heat2D
from tidal.physics.mass_spring import MassSpring, cloth, lattice
from tidal.physics.md import Particles
from tidal.physics.mpm import MPM2D
from tidal.physics.ode import ODE
from tidal.physics.particles import pair_energy, pair_system
from tidal.physics.reaction_diffusion import (
    ReactionDiffusion1D,
    allen_cahn,
    brusselator,
    gray_scott,
)
from tidal.physics.rigid import RigidBoxes2D
from tidal.physics.smoke import Smoke2D
from tidal.physics.systems import lorenz, lotka_volterra, pendulum

__all__ = ["ODE", "AdvectionDiffusion1D", "Burgers1D", "Diffusion2D", "FitResult", "Heat2D",
           "MPM2D", "MassSpring", "Particles", "RigidBoxes2D", "Smoke2D", "Wave1D", "cloth",
           "fit", "lattice", "lorenz", "lotka_volterra", "pair_energy", "pair_system",
           "pendulum"]
__all__ += ["ReactionDiffusion1D", "allen_cahn", "brusselator", "gray_scott"]
