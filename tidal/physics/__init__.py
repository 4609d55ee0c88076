"""Differentiable simulators written as tidal kernels."""

from tidal.physics.heat import Heat2D
from tidal.physics.mass_spring import MassSpring, lattice

__all__ = ["Heat2D", "MassSpring", "lattice"]
