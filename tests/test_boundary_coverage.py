"""Random boundary samples cover every part of the boundary: two points on an interval's
boundary are one at each end for every seed (independent draws put both on one end half the
time, and a Dirichlet condition then silently constrains one end only), a rectangle's faces get
points in proportion to their length, and a CSG boundary's parts get their share."""

import numpy as np

from tidal.solvers import Disk, Interval, Rectangle, TimeDomain


def test_two_random_points_on_an_interval_boundary_are_its_two_ends_for_every_seed():
    line = Interval(-1.0, 1.0)
    for seed in range(100):
        points = line.sample_boundary(2, method="random", seed=seed).ravel()
        assert sorted(points.tolist()) == [-1.0, 1.0], seed


def test_random_boundary_points_give_each_face_its_share():
    box = Rectangle((0.0, 0.0), (2.0, 1.0))  # faces of length 1, 1, 2, 2: shares 1/6, 1/6, 1/3
    for seed in range(20):
        p = box.sample_boundary(60, method="random", seed=seed)
        counts = [np.sum(np.isclose(p[:, 0], 0.0)), np.sum(np.isclose(p[:, 0], 2.0)),
                  np.sum(np.isclose(p[:, 1], 0.0)), np.sum(np.isclose(p[:, 1], 1.0))]
        assert all(abs(c - e) <= 1 for c, e in zip(counts, (10, 10, 20, 20))), counts
        assert bool(box.on_boundary(p).all())


def test_space_time_and_csg_boundaries_are_covered():
    slab = Interval(0.0, 1.0) * TimeDomain(0.0, 1.0)
    for seed in range(20):
        x = slab.sample_boundary(4, method="random", seed=seed)[:, 0]
        assert np.sum(x == 0.0) == 2 and np.sum(x == 1.0) == 2
    holed = Rectangle((-1.0, -1.0), (1.0, 1.0)) - Disk((0.0, 0.0), 0.5)
    p = holed.sample_boundary(200, method="random", seed=3)
    on_circle = np.isclose(np.hypot(p[:, 0], p[:, 1]), 0.5)
    share = np.pi / (8.0 + np.pi)  # the circle's part of the total boundary length
    assert abs(on_circle.mean() - share) <= 0.02


def test_points_kept_on_part_of_a_boundary_cover_every_face_of_it():
    """A condition on two opposite sides keeps the first n candidates found there: both sides
    must get their share (stratified points in face order gave all n to the first side, and
    the elasticity example then had no condition on its top)."""
    from tidal.solvers import DirichletBC

    wide = Rectangle((0.0, 0.0), (3.0, 1.0))  # the sides y = 0 and y = 1 are 3/4 of the
    # boundary: n candidates find 0.75 n there, 4 n find 3 n, of which n are kept
    sides = DirichletBC(wide, 0.0, n=20, where=lambda p: np.isclose(p[:, 1] % 1.0, 0.0))
    for seed in range(5):
        y = sides.batch(dim=2, seed=seed).points[:, 1]
        assert 4 <= np.sum(y == 0.0) <= 16 and 4 <= np.sum(y == 1.0) <= 16
