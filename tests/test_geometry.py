"""Geometry and sampling layer: checked against independent analytic references.

Every shape is described here a second time, analytically (membership predicate, distance to the
boundary, outward normal, area), and the samplers, membership tests and normals of
``tidal.solvers.geometry`` are compared with that description.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from tidal.solvers.geometry import (
    METHODS,
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

EPS = 1e-9  # tolerance of the reference predicates
STEP = 1e-6  # step along / against the normal (well above the geometry's 1e-8 tolerance)

# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def seg_dist(x: np.ndarray, p, q) -> np.ndarray:
    """Distance from 2-D points to the segment p-q."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    t = np.clip((x - p) @ d / (d @ d), 0.0, 1.0)
    return np.linalg.norm(x - p - t[:, None] * d, axis=1)


def segments_ref(segments):
    """Residual and normal functions for a boundary made of (p, q, outward normal) segments."""

    def dists(x):
        return np.stack([seg_dist(x, p, q) for p, q, _ in segments], axis=1)

    def residual(x):
        return dists(x).min(axis=1)

    def normal(x):
        nrm = np.array([n for _, _, n in segments], float)
        return nrm[np.argmin(dists(x), axis=1)]

    return residual, normal


def box_ref(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)

    def inside(x, eps=EPS):
        return np.all((x >= lo - eps) & (x <= hi + eps), axis=1)

    def faces(x):
        return np.concatenate([np.abs(x - lo), np.abs(x - hi)], axis=1)

    def residual(x):
        return faces(x).min(axis=1)

    def normal(x):
        d = lo.size
        k = np.argmin(faces(x), axis=1)
        out = np.zeros((len(x), d))
        out[np.arange(len(x)), k % d] = np.where(k < d, -1.0, 1.0)
        return out

    return inside, residual, normal


def ball_ref(c, r):
    c = np.asarray(c, float)

    def inside(x, eps=EPS):
        return np.linalg.norm(x - c, axis=1) <= r + eps

    def residual(x):
        return np.abs(np.linalg.norm(x - c, axis=1) - r)

    def normal(x):
        return (x - c) / r

    return inside, residual, normal


@dataclass
class Case:
    name: str
    make: Callable[[], Geometry]
    inside: Callable[..., np.ndarray]  # inside(x, eps=EPS), closed set
    residual: Callable[[np.ndarray], np.ndarray]  # distance to the boundary (for points inside)
    normal: Callable[[np.ndarray], np.ndarray]  # analytic outward normal at boundary points
    area: float  # analytic measure of the region
    bbox: tuple[tuple[float, ...], tuple[float, ...]]
    grid_boundary: bool = True


def _interval_case():
    inside, residual, normal = box_ref([-1.0], [2.0])
    return Case("interval", lambda: Interval(-1.0, 2.0), inside, residual, normal, 3.0,
                ((-1.0,), (2.0,)))


def _box_case(name, cls, lo, hi):
    inside, residual, normal = box_ref(lo, hi)
    return Case(name, lambda: cls(lo, hi), inside, residual, normal,
                float(np.prod(np.subtract(hi, lo))), (tuple(lo), tuple(hi)))


def _ball_case(name, cls, c, r, volume, grid_boundary=True):
    inside, residual, normal = ball_ref(c, r)
    lo = tuple(np.subtract(c, r))
    hi = tuple(np.add(c, r))
    return Case(name, lambda: cls(c, r), inside, residual, normal, volume, (lo, hi),
                grid_boundary)


# U-shaped polygon (given clockwise): [0,3]x[0,2] minus the notch (1,2)x(1,2].
U_CW = [(0, 0), (0, 2), (1, 2), (1, 1), (2, 1), (2, 2), (3, 2), (3, 0)]
U_SEGMENTS = [  # counter-clockwise edges with their outward normals
    ((0, 0), (3, 0), (0, -1)), ((3, 0), (3, 2), (1, 0)), ((3, 2), (2, 2), (0, 1)),
    ((2, 2), (2, 1), (-1, 0)), ((2, 1), (1, 1), (0, 1)), ((1, 1), (1, 2), (1, 0)),
    ((1, 2), (0, 2), (0, 1)), ((0, 2), (0, 0), (-1, 0)),
]


def u_inside(x, eps=EPS):
    in_box = np.all((x >= -eps) & (x <= np.array([3.0, 2.0]) + eps), axis=1)
    notch = (x[:, 0] > 1 + eps) & (x[:, 0] < 2 - eps) & (x[:, 1] > 1 + eps)
    return in_box & ~notch


TRI_SEGMENTS = [((0, 0), (2, 0), (0, -1)), ((2, 0), (0, 1), (1 / math.sqrt(5), 2 / math.sqrt(5))),
                ((0, 1), (0, 0), (-1, 0))]


def tri_inside(x, eps=EPS):
    return (x[:, 0] >= -eps) & (x[:, 1] >= -eps) & (x[:, 0] + 2 * x[:, 1] <= 2 + 2 * eps)


L_SEGMENTS = [
    ((-1, -1), (1, -1), (0, -1)), ((1, -1), (1, 0), (1, 0)), ((1, 0), (0, 0), (0, 1)),
    ((0, 0), (0, 1), (1, 0)), ((0, 1), (-1, 1), (0, 1)), ((-1, 1), (-1, -1), (-1, 0)),
]


def make_l_shape():
    return Rectangle((-1, -1), (1, 1)) - Rectangle((0, 0), (1, 1))


def l_inside(x, eps=EPS):
    in_square = np.all(np.abs(x) <= 1 + eps, axis=1)
    removed = (x[:, 0] > eps) & (x[:, 1] > eps)
    return in_square & ~removed


HOLE_R = 0.5


def make_holed():
    return Rectangle((-1, -1), (1, 1)) - Disk((0, 0), HOLE_R)


def holed_inside(x, eps=EPS):
    return np.all(np.abs(x) <= 1 + eps, axis=1) & (np.linalg.norm(x, axis=1) >= HOLE_R - eps)


def holed_residual(x):
    return np.minimum(np.abs(np.linalg.norm(x, axis=1) - HOLE_R), 1 - np.abs(x).max(axis=1))


def holed_normal(x):
    r = np.linalg.norm(x, axis=1)
    on_circle = np.abs(r - HOLE_R) < 1e-6
    square = box_ref((-1, -1), (1, 1))[2](x)
    return np.where(on_circle[:, None], -x / r[:, None], square)


LENS = 2 * math.acos(0.5) - 0.5 * math.sqrt(3.0)  # overlap of two unit disks at distance 1
C2 = np.array([1.0, 0.0])


def two_disks_inside(x, eps=EPS):
    return (np.linalg.norm(x, axis=1) <= 1 + eps) | (np.linalg.norm(x - C2, axis=1) <= 1 + eps)


def lens_inside(x, eps=EPS):
    return (np.linalg.norm(x, axis=1) <= 1 + eps) & (np.linalg.norm(x - C2, axis=1) <= 1 + eps)


def two_disks_residual(keep_outside_other: bool):
    def residual(x):
        ra, rb = np.linalg.norm(x, axis=1), np.linalg.norm(x - C2, axis=1)
        ok_a = rb >= 1 - 1e-12 if keep_outside_other else rb <= 1 + 1e-12
        ok_b = ra >= 1 - 1e-12 if keep_outside_other else ra <= 1 + 1e-12
        return np.minimum(np.where(ok_a, np.abs(ra - 1), np.inf),
                          np.where(ok_b, np.abs(rb - 1), np.inf))

    return residual


def two_disks_normal(x):
    on_a = np.abs(np.linalg.norm(x, axis=1) - 1) < 1e-6
    return np.where(on_a[:, None], x, x - C2)


CASES = [
    _interval_case(),
    _box_case("rectangle", Rectangle, (0.0, -1.0), (2.0, 0.5)),
    _box_case("box", Box, (0.0, 0.0, 0.0), (1.0, 2.0, 3.0)),
    _box_case("hypercube4", Hypercube, (0.0, 0.0, 0.0, -1.0), (1.0, 1.0, 2.0, 0.0)),
    _ball_case("disk", Disk, (0.5, -0.5), 1.5, math.pi * 1.5**2),
    _ball_case("ball3", Ball, (1.0, 0.0, -1.0), 0.7, 4 / 3 * math.pi * 0.7**3),
    _ball_case("ball5", Ball, (0.0,) * 5, 1.0, 8 * math.pi**2 / 15, grid_boundary=False),
    Case("polygon_u", lambda: Polygon(U_CW), u_inside, *segments_ref(U_SEGMENTS), 5.0,
         ((0.0, 0.0), (3.0, 2.0))),
    Case("triangle", lambda: Polygon([(0, 0), (2, 0), (0, 1)]), tri_inside,
         *segments_ref(TRI_SEGMENTS), 1.0, ((0.0, 0.0), (2.0, 1.0))),
    Case("l_shape", make_l_shape, l_inside, *segments_ref(L_SEGMENTS), 3.0,
         ((-1.0, -1.0), (1.0, 1.0))),
    Case("square_hole", make_holed, holed_inside, holed_residual, holed_normal,
         4.0 - math.pi * HOLE_R**2, ((-1.0, -1.0), (1.0, 1.0))),
    Case("two_disks", lambda: Disk((0, 0), 1) | Disk((1, 0), 1), two_disks_inside,
         two_disks_residual(True), two_disks_normal, 2 * math.pi - LENS, ((-1.0, -1.0),
                                                                          (2.0, 1.0))),
    Case("lens", lambda: Disk((0, 0), 1) & Disk((1, 0), 1), lens_inside,
         two_disks_residual(False), two_disks_normal, LENS, ((0.0, -1.0), (1.0, 1.0))),
]
CASE_IDS = [c.name for c in CASES]


# --------------------------------------------------------------------------------------------
# Counts, containment, boundary equations, normals, measures (every shape)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_sample_interior_counts_and_containment(case, method):
    geom = case.make()
    for n in (1, 37, 64):
        pts = geom.sample_interior(n, method=method, seed=3)
        assert pts.shape == (n, geom.dim) and pts.dtype == np.float64
        assert np.all(np.isfinite(pts))
        assert np.all(case.inside(pts)), "sample outside the reference region"
        assert np.all(geom.inside(pts))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_sample_boundary_satisfies_boundary_equation(case, method):
    geom = case.make()
    if method == "grid" and not case.grid_boundary:
        with pytest.raises(ValueError, match="'grid' boundary sampling"):
            geom.sample_boundary(10, method=method)
        return
    for n in (1, 50, 64):
        pts = geom.sample_boundary(n, method=method, seed=5)
        assert pts.shape == (n, geom.dim) and pts.dtype == np.float64
        assert np.all(case.inside(pts))
        assert np.max(case.residual(pts)) < 1e-9, "sample off the analytic boundary"
        assert np.all(geom.on_boundary(pts))


@pytest.mark.parametrize("method", ["random", "lhs"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_normals_unit_outward_and_analytic(case, method):
    geom = case.make()
    pts = geom.sample_boundary(200, method=method, seed=11)
    normals = geom.boundary_normal(pts)
    assert normals.shape == pts.shape
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(normals, case.normal(pts), atol=1e-9)
    assert not np.any(case.inside(pts + STEP * normals)), "step along the normal stays inside"
    assert np.all(case.inside(pts - STEP * normals)), "step against the normal leaves"
    assert not np.any(geom.inside(pts + STEP * normals))
    assert np.all(geom.inside(pts - STEP * normals))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_area_by_monte_carlo_and_inside_agrees_with_reference(case):
    geom = case.make()
    lo, hi = (np.array(v, float) for v in case.bbox)
    np.testing.assert_allclose(geom.bbox[0], lo)
    np.testing.assert_allclose(geom.bbox[1], hi)
    n = 100_000
    x = lo + (hi - lo) * np.random.default_rng(7).random((n, lo.size))
    ins = geom.inside(x)
    np.testing.assert_array_equal(ins, case.inside(x, eps=0.0))
    vol = float(np.prod(hi - lo))
    p = case.area / vol
    sigma = vol * math.sqrt(p * (1 - p) / n)
    assert abs(ins.mean() * vol - case.area) < 4 * sigma + 1e-12


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_interior_samples_are_uniform_l_shape_centroid(method):
    pts = make_l_shape().sample_interior(4096, method=method, seed=2)
    # centroid of the square minus its upper-right quarter: (0 * 4 - 0.5 * 1) / 3 = -1/6
    np.testing.assert_allclose(pts.mean(axis=0), [-1 / 6, -1 / 6], atol=0.03)


def test_boundary_measures():
    assert Interval(0, 5).boundary_measure == 2.0
    assert Rectangle((0, 0), (2, 1)).boundary_measure == pytest.approx(6.0)
    assert Box((0, 0, 0), (1, 2, 3)).boundary_measure == pytest.approx(22.0)
    assert Disk((1, 1), 2.0).boundary_measure == pytest.approx(4 * math.pi)
    assert Ball((0, 0, 0), 2.0).boundary_measure == pytest.approx(16 * math.pi)
    assert Ball((0,) * 5, 1.0).boundary_measure == pytest.approx(8 * math.pi**2 / 3)
    assert Polygon(U_CW).boundary_measure == pytest.approx(12.0)
    st = Disk((0, 0), 1.0) * TimeDomain(0, 2)
    assert st.boundary_measure == pytest.approx(4 * math.pi)


# --------------------------------------------------------------------------------------------
# Sampling methods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("geom", [Interval(-2, 3), Rectangle((0, -1), (2, 0.5)),
                                  Box((0, 0, 0), (1, 2, 3)), Hypercube((0,) * 5, (1,) * 5)],
                         ids=["interval", "rectangle", "box", "hypercube5"])
@pytest.mark.parametrize("n", [7, 50])
def test_lhs_one_point_per_stratum(geom, n):
    pts = geom.sample_interior(n, method="lhs", seed=4)
    lo, hi = geom.bbox
    strata = np.floor((pts - lo) / (hi - lo) * n).astype(int)
    for k in range(geom.dim):
        np.testing.assert_array_equal(np.sort(strata[:, k]), np.arange(n))


def test_lhs_space_time_interior_is_stratified_in_every_coordinate():
    st = Rectangle((0, 0), (1, 2)) * TimeDomain(0, 5)
    n = 40
    pts = st.sample_interior(n, method="lhs", seed=1)
    strata = np.floor(pts / np.array([1.0, 2.0, 5.0]) * n).astype(int)
    for k in range(3):
        np.testing.assert_array_equal(np.sort(strata[:, k]), np.arange(n))


def test_sobol_power_of_two_is_a_net():
    # 64 scrambled Sobol' points in 2-D form a (0, 6, 2)-net: one point in each 8 x 8 cell.
    pts = Rectangle((0, 0), (1, 1)).sample_interior(64, method="sobol", seed=9)
    cells = np.floor(pts * 8).astype(int)
    assert len({tuple(c) for c in cells}) == 64


@pytest.mark.parametrize("sample", [
    lambda s: Rectangle((0, 0), (1, 1)).sample_interior(37, method="sobol", seed=s),
    lambda s: Disk((0, 0), 1).sample_interior(37, method="sobol", seed=s),
    lambda s: make_l_shape().sample_boundary(37, method="sobol", seed=s),
    lambda s: (make_holed() * TimeDomain(0, 1)).sample_boundary(37, method="sobol", seed=s),
    lambda s: Ball((0, 0, 0), 1).sample_boundary(37, method="sobol", seed=s),
], ids=["rect-interior", "disk-interior", "l-boundary", "spacetime-boundary", "ball-boundary"])
def test_sobol_deterministic_per_seed_and_warning_free(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the balance warning for n = 37 is suppressed
        a, b, c = sample(1), sample(1), sample(2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("method", ["random", "lhs"])
def test_random_and_lhs_deterministic_per_seed(method):
    geom = make_holed()
    a = geom.sample_interior(30, method=method, seed=8)
    np.testing.assert_array_equal(a, geom.sample_interior(30, method=method, seed=8))
    assert not np.allclose(a, geom.sample_interior(30, method=method, seed=9))
    b = geom.sample_boundary(30, method=method, seed=8)
    np.testing.assert_array_equal(b, geom.sample_boundary(30, method=method, seed=8))


def test_grid_perfect_square_is_the_cell_centred_grid():
    pts = Rectangle((0, 0), (1, 1)).sample_interior(100, method="grid")
    ref = (np.arange(10) + 0.5) / 10
    expected = {(round(x, 12), round(y, 12)) for x in ref for y in ref}
    assert {(round(x, 12), round(y, 12)) for x, y in pts} == expected


def test_grid_non_square_count_keeps_n_of_the_smallest_grid():
    pts = Rectangle((0, 0), (1, 1)).sample_interior(50, method="grid")
    assert pts.shape == (50, 2)
    assert len({tuple(p) for p in pts}) == 50
    np.testing.assert_allclose(pts * 8 - 0.5, np.round(pts * 8 - 0.5), atol=1e-12)  # 8 x 8 grid
    # a 2 x 1 rectangle gets the same spacing along both axes
    pts = Rectangle((0, 0), (2, 1)).sample_interior(200, method="grid")
    np.testing.assert_allclose(np.unique(np.round(pts[:, 0], 12)), (np.arange(20) + 0.5) / 10)
    np.testing.assert_allclose(np.unique(np.round(pts[:, 1], 12)), (np.arange(10) + 0.5) / 10)


def test_grid_interval_and_disk():
    np.testing.assert_allclose(Interval(0, 1).sample_interior(4, method="grid").ravel(),
                               [0.125, 0.375, 0.625, 0.875])
    disk = Disk((0, 0), 1)
    pts = disk.sample_interior(300, method="grid")
    assert len({tuple(p) for p in pts}) == 300
    xs = np.unique(np.round(pts[:, 0], 12))
    np.testing.assert_allclose(np.diff(xs), np.diff(xs)[0])  # one uniform lattice spacing
    bnd = disk.sample_boundary(12, method="grid")
    angles = np.sort(np.mod(np.arctan2(bnd[:, 1], bnd[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 12, atol=1e-12)


def test_grid_polygon_boundary_is_equally_spaced_in_arc_length():
    tri = Polygon([(0, 0), (3, 0), (0, 4)])  # perimeter 12
    pts = tri.sample_boundary(24, method="grid")
    steps = np.linalg.norm(np.diff(np.vstack([pts, pts[:1]]), axis=0), axis=1)
    straight = steps[np.abs(steps - 0.5) < 1e-9]
    assert len(straight) >= 24 - 3  # all steps but those around the 3 corners are 12 / 24


def test_boundary_sampling_proportional_to_edge_length():
    pts = Rectangle((0, 0), (2, 1)).sample_boundary(3000, method="lhs", seed=0)
    fractions = [np.mean(np.isclose(pts[:, 1], 0)), np.mean(np.isclose(pts[:, 0], 2)),
                 np.mean(np.isclose(pts[:, 1], 1)), np.mean(np.isclose(pts[:, 0], 0))]
    np.testing.assert_allclose(fractions, [2 / 6, 1 / 6, 2 / 6, 1 / 6], atol=0.01)
    pts = Polygon(U_CW).sample_boundary(2400, method="sobol", seed=0)
    res, _ = segments_ref(U_SEGMENTS)
    dists = np.stack([seg_dist(pts, p, q) for p, q, _ in U_SEGMENTS], axis=1)
    lengths = np.array([np.hypot(*np.subtract(q, p)) for p, q, _ in U_SEGMENTS])
    counts = np.bincount(np.argmin(dists, axis=1), minlength=8)
    np.testing.assert_allclose(counts / 2400, lengths / 12, atol=0.01)


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_square_with_hole_boundary_split(method):
    pts = make_holed().sample_boundary(4000, method=method, seed=1)
    on_circle = np.isclose(np.linalg.norm(pts, axis=1), HOLE_R)
    expected = 2 * math.pi * HOLE_R / (8 + 2 * math.pi * HOLE_R)
    assert abs(on_circle.mean() - expected) < (0.03 if method == "random" else 0.005)


# --------------------------------------------------------------------------------------------
# CSG
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_l_shape_boundary_on_the_six_edges_only(method):
    n = 800
    pts = make_l_shape().sample_boundary(n, method=method, seed=3)
    dists = np.stack([seg_dist(pts, p, q) for p, q, _ in L_SEGMENTS], axis=1)
    assert np.all(dists.min(axis=1) < 1e-12), "point off the six edges of the L-shape"
    x, y = pts.T
    assert not np.any((x > 1e-12) & (y > 1e-12)), "point on the removed square's interior"
    assert not np.any(np.isclose(x, 1) & (y > 1e-9)), "point on the removed square's right edge"
    assert not np.any(np.isclose(y, 1) & (x > 1e-9)), "point on the removed square's top edge"
    counts = np.bincount(np.argmin(dists, axis=1), minlength=6) / n
    lengths = np.array([2, 1, 1, 1, 1, 2]) / 8  # re-entrant edges are indices 2 and 3
    np.testing.assert_allclose(counts, lengths, atol=0.05 if method == "random" else 0.01)


def test_l_shape_membership_and_corner_normals():
    ell = make_l_shape()
    assert isinstance(ell, Difference)
    pts = np.array([[0.0, 0.5], [0.5, 0.0], [1.0, 0.5], [0.5, 1.0], [0.5, 0.5], [-0.5, 0.5]])
    assert ell.on_boundary(pts).tolist() == [True, True, False, False, False, False]
    assert ell.inside(pts).tolist() == [True, True, False, False, False, True]
    corners = np.array([[0.0, 0.0], [-1.0, -1.0]])  # re-entrant corner, corner of the square
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(ell.boundary_normal(corners), [[s, s], [-s, -s]], atol=1e-12)


def test_union_glued_face_is_interior_and_abutting_difference_keeps_it():
    left, right = Rectangle((0, 0), (1, 1)), Rectangle((1, 0), (2, 1))
    union = left | right
    assert isinstance(union, Union)
    assert not union.on_boundary(np.array([[1.0, 0.5]]))[0]
    pts = union.sample_boundary(600, method="random", seed=0)
    glued = np.isclose(pts[:, 0], 1) & (pts[:, 1] > 1e-9) & (pts[:, 1] < 1 - 1e-9)
    assert not glued.any()
    assert np.mean(np.isclose(pts[:, 1], 0)) == pytest.approx(2 / 6, abs=0.06)
    diff = left - right  # the removed part only touches: the shared edge stays a boundary
    pts = diff.sample_boundary(400, method="sobol", seed=0)
    assert np.mean(np.isclose(pts[:, 0], 1)) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(diff.boundary_normal(np.array([[1.0, 0.5]])), [[1.0, 0.0]])


def test_nested_csg_and_operators():
    square = Rectangle((-1, -1), (1, 1))
    geom = (square - Disk((0.5, 0.5), 0.25)) - Disk((-0.5, -0.5), 0.25)
    assert isinstance(square & Disk((0, 0), 1), Intersection)
    pts = geom.sample_boundary(500, method="lhs", seed=0)
    r1 = np.linalg.norm(pts - 0.5, axis=1)
    r2 = np.linalg.norm(pts + 0.5, axis=1)
    on_square = np.isclose(np.abs(pts).max(axis=1), 1)
    assert np.all(on_square | np.isclose(r1, 0.25) | np.isclose(r2, 0.25))
    normals = geom.boundary_normal(pts)
    hole1 = np.isclose(r1, 0.25)
    np.testing.assert_allclose(normals[hole1], -(pts[hole1] - 0.5) / 0.25, atol=1e-9)
    inner = geom.sample_interior(500, method="sobol", seed=0)
    assert np.all((r := np.linalg.norm(inner - 0.5, axis=1)) >= 0.25 - 1e-9) and r.size == 500


# --------------------------------------------------------------------------------------------
# Space-time
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_space_time_ordering_initial_slice_and_lateral_boundary(method):
    space, time = Interval(-1, 1), TimeDomain(5, 9)
    st = space * time
    assert isinstance(st, SpaceTime) and st.dim == 2
    np.testing.assert_allclose(st.bbox[0], [-1, 5])
    np.testing.assert_allclose(st.bbox[1], [1, 9])
    pts = st.sample_interior(64, method=method, seed=0)
    assert pts.shape == (64, 2)
    assert np.all((pts[:, 0] >= -1) & (pts[:, 0] <= 1))
    assert np.all((pts[:, 1] >= 5) & (pts[:, 1] <= 9))  # time is last
    assert np.ptp(pts[:, 1]) > 2  # and spread over the time interval
    init = st.sample_initial(20, method=method, seed=0)
    assert np.all(init[:, 1] == 5.0)
    np.testing.assert_array_equal(init[:, :1], space.sample_interior(20, method=method, seed=0))
    assert st.on_initial(init).all()
    bnd = st.sample_boundary(40, method=method, seed=0)
    assert np.all(np.isclose(np.abs(bnd[:, 0]), 1))
    assert np.all((bnd[:, 1] >= 5) & (bnd[:, 1] <= 9)) and np.all(bnd[:, 1] > 5)
    assert 0 < np.mean(bnd[:, 0] > 0) < 1  # both ends
    normals = st.boundary_normal(bnd)
    np.testing.assert_array_equal(normals[:, 1], 0.0)
    np.testing.assert_array_equal(normals[:, 0], np.sign(bnd[:, 0]))
    assert not st.on_boundary(np.array([[0.0, 5.0]]))[0]  # the initial slice is not lateral


def test_space_time_lhs_boundary_times_are_stratified():
    st = Disk((0, 0), 1) * TimeDomain(0, 1)
    n = 50
    pts = st.sample_boundary(n, method="lhs", seed=6)
    np.testing.assert_array_equal(np.sort(np.floor(pts[:, 2] * n).astype(int)), np.arange(n))
    angles = np.mod(np.arctan2(pts[:, 1], pts[:, 0]), 2 * np.pi)
    np.testing.assert_array_equal(np.sort(np.floor(angles / (2 * np.pi) * n).astype(int)),
                                  np.arange(n))


@pytest.mark.parametrize("method", METHODS)
def test_space_time_with_csg_space(method):
    st = make_holed() * TimeDomain(0, 2)
    inner = st.sample_interior(100, method=method, seed=1)
    assert np.all(holed_inside(inner[:, :2])) and np.all((inner[:, 2] >= 0) & (inner[:, 2] <= 2))
    bnd = st.sample_boundary(100, method=method, seed=1)
    assert np.max(holed_residual(bnd[:, :2])) < 1e-9
    normals = st.boundary_normal(bnd)
    np.testing.assert_allclose(normals[:, :2], holed_normal(bnd[:, :2]), atol=1e-9)
    np.testing.assert_array_equal(normals[:, 2], 0.0)
    init = st.sample_initial(30, method=method, seed=1)
    assert np.all(init[:, 2] == 0.0) and np.all(holed_inside(init[:, :2]))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, match", [
    (lambda: Rectangle((0, 0), (1, 0)), "lo < hi"),
    (lambda: Rectangle((1, 0), (0, 1)), "inverted"),
    (lambda: Hypercube((0, 0, 0), (1, 1)), "same number of coordinates"),
    (lambda: Interval(1, 1), "a < b"),
    (lambda: TimeDomain(1, 0), "t0 < t1"),
    (lambda: Disk((0, 0), 0), "radius must be positive"),
    (lambda: Ball((0, 0, 0), -1), "radius must be positive"),
    (lambda: Ball((0, 0), float("nan")), "finite"),
    (lambda: Rectangle((0, 0, 0), (1, 1, 1)), "2 coordinates"),
    (lambda: Box((0, 0), (1, 1)), "3 coordinates"),
    (lambda: Disk((0, 0, 0), 1), "2 coordinates"),
    (lambda: Polygon([(0, 0), (1, 0)]), "at least 3 vertices"),
    (lambda: Polygon([(0, 0), (1, 0), (1, 0), (0, 1)]), "repeated consecutive vertices"),
    (lambda: Polygon([(0, 0), (1, 0), (0, 1), (0, 0)]), "do not repeat the first vertex"),
    (lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "not simple"),
    (lambda: Polygon([(0, 0), (2, 0), (2, 2), (1, 0.0), (0, 2)]), "not simple"),
    (lambda: Polygon([(0, 0), (1, 1), (2, 2)]), "overlap"),  # collinear: turns back
    (lambda: Polygon([[0, 0, 0], [1, 0, 0], [0, 1, 0]]), r"shape \(m, 2\)"),
    (lambda: Disk((0, 0), 1) | Ball((0, 0, 0), 1), "2-D and a 3-D"),
    (lambda: (Disk((0, 0), 1) * TimeDomain(0, 1)) | Disk((0, 0), 1), "space-time"),
])
def test_invalid_geometries_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_space_time_type_errors():
    with pytest.raises(TypeError):
        Disk((0, 0), 1) * Interval(0, 1)
    with pytest.raises(TypeError):
        (Disk((0, 0), 1) * TimeDomain(0, 1)) * TimeDomain(0, 1)
    with pytest.raises(TypeError, match="TimeDomain"):
        SpaceTime(Disk((0, 0), 1), Interval(0, 1))


@pytest.mark.parametrize("points", [np.zeros(2), np.zeros((3, 3)), np.zeros((2, 2, 2)), "ab"])
def test_wrong_point_shapes_raise(points):
    disk = Disk((0, 0), 1)
    for fn in (disk.inside, disk.on_boundary, disk.boundary_normal):
        with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
            fn(points)


def test_boundary_normal_of_non_boundary_point_raises():
    with pytest.raises(ValueError, match="1 of 2 points are not"):
        Disk((0, 0), 1).boundary_normal(np.array([[1.0, 0.0], [0.2, 0.1]]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "positive integer"),
    (dict(n=-3), "positive integer"),
    (dict(n=2.5), "positive integer"),
    (dict(n=4, method="halton"), "'random', 'lhs', 'sobol', 'grid'"),
    (dict(n=4, seed=-1), "seed"),
])
def test_bad_sampling_arguments_raise(kwargs, match):
    geom = make_l_shape()
    for fn in (geom.sample_interior, geom.sample_boundary,
               (geom * TimeDomain(0, 1)).sample_initial):
        with pytest.raises(ValueError, match=match):
            fn(**kwargs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("geom", [
    Disk((0, 0), 1) & Disk((3, 0), 1),  # disjoint bounding boxes
    Disk((0, 0), 1) & Disk((1.9, 1.9), 1),  # overlapping bounding boxes, disjoint disks
], ids=["far", "diagonal"])
def test_empty_intersection_raises(geom, method):
    with pytest.raises(ValueError, match="appears empty"):
        geom.sample_interior(10, method=method)
    with pytest.raises(ValueError, match="appears empty"):
        geom.sample_boundary(10, method=method)


def test_difference_with_itself_has_empty_boundary():
    disk = Disk((0, 0), 1)
    with pytest.raises(ValueError, match="boundary of .* appears empty"):
        (disk - disk).sample_boundary(5)


def test_bad_geometry_input_raises_tidal_errors():
    """Geometry errors are tidal errors (and still ValueError / TypeError)."""
    import tidal as td
    from tidal.solvers.exact import burgers_exact

    with pytest.raises(td.TidalArgumentError, match="need a < b"):
        Interval(1.0, 0.0)
    with pytest.raises(td.TidalArgumentError, match="unknown sampling method"):
        Interval(0.0, 1.0).sample_interior(4, method="halton")
    with pytest.raises(td.TidalTypeError, match="space must be a Geometry"):
        SpaceTime("x", TimeDomain(0.0, 1.0))
    with pytest.raises(td.TidalArgumentError, match="nu must be positive"):
        burgers_exact(np.zeros(1), np.zeros(1), nu=-1.0)
