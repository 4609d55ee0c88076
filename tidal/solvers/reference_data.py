"""Published reference data for checking solvers.

Lid-driven cavity (``GHIA_RE100``): the centreline velocities of Ghia, Ghia and Shin's
multigrid solution of the steady incompressible Navier-Stokes equations in the unit square,
lid ``u = 1`` at ``y = 1``, no slip elsewhere, on a 129 x 129 grid:

    U. Ghia, K. N. Ghia and C. T. Shin, "High-Re solutions for incompressible flow using the
    Navier-Stokes equations and a multigrid method", Journal of Computational Physics 48 (1982)
    387-411, Table I (u along the vertical centreline x = 0.5) and Table II (v along the
    horizontal centreline y = 0.5), the Re = 100 columns.

The 17 points of each table are grid points (``k / 128`` rounded to four decimals), listed from
the wall at 1 to the wall at 0 as in the paper; velocities are in units of the lid speed.

Example:
    >>> from tidal.solvers.reference_data import GHIA_RE100
    >>> len(GHIA_RE100.y), float(GHIA_RE100.u.min())
    (17, -0.2109)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CavityCentrelines:
    """Velocity profiles of a lid-driven cavity along its two centrelines.

    Attributes:
        reynolds: the Reynolds number (lid speed x side / viscosity).
        y: positions along the vertical centreline ``x = 0.5``.
        u: the horizontal velocity ``u(0.5, y)`` there.
        x: positions along the horizontal centreline ``y = 0.5``.
        v: the vertical velocity ``v(x, 0.5)`` there.
        source: the citation.
    """

    reynolds: float
    y: np.ndarray
    u: np.ndarray
    x: np.ndarray
    v: np.ndarray
    source: str


def _frozen(values: list[float]) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.setflags(write=False)
    return a


GHIA_RE100 = CavityCentrelines(
    reynolds=100.0,
    # Table I: u on x = 0.5
    y=_frozen([1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000,
               0.4531, 0.2813, 0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0000]),
    u=_frozen([1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641,
               -0.20581, -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717,
               0.00000]),
    # Table II: v on y = 0.5
    x=_frozen([1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000,
               0.2344, 0.2266, 0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0000]),
    v=_frozen([0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533,
               0.05454, 0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233,
               0.00000]),
    source="U. Ghia, K. N. Ghia, C. T. Shin, J. Comput. Phys. 48 (1982) 387-411, Tables I and "
           "II, Re = 100",
)
