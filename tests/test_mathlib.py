"""tidal's own math functions (tidal/dsl/mathlib.py) against float64 references."""

import math

import numpy as np
import pytest

import tidal as td


@pytest.fixture
def tanh32():
    """``td.tanh`` as a float32 tidal function (tidal on the CPU in f32 for one test)."""
    td.init(arch="cpu", default_fp=td.f32)

    @td.func
    def f(x: td.f32) -> td.f32:
        return td.tanh(x)

    yield f
    td.init(arch="cpu", default_fp=td.f64)


def test_float32_tanh_is_within_6_ulps_of_float64_tanh(tanh32):
    x = np.concatenate([np.linspace(-12.0, 12.0, 400_001), np.geomspace(1e-30, 1.0, 20_001),
                        -np.geomspace(1e-30, 1.0, 20_001), [0.0]]).astype(np.float32)
    got = np.asarray(td.vectorize(tanh32)(x), dtype=np.float64)
    ref = np.tanh(x.astype(np.float64))
    ulp = np.maximum(np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64),
                     np.finfo(np.float32).smallest_subnormal)
    assert np.max(np.abs(got - ref) / ulp) <= 6.0
    assert np.all(np.abs(got) <= 1.0) and np.all(np.sign(got) == np.sign(ref))


def test_float32_tanh_derivatives_match_float64_closed_forms(tanh32):
    x = np.linspace(-4.0, 4.0, 81).astype(np.float32)
    d1 = np.asarray(td.vectorize(td.grad(tanh32))(x), dtype=np.float64)
    t = np.tanh(x.astype(np.float64))
    # d/dx tanh = 1 - tanh^2 from the float32 value: an error of e in tanh moves it by 2 e
    np.testing.assert_allclose(d1, 1.0 - t * t, rtol=1e-6, atol=2 * 6 * 6e-8)
    assert np.asarray(td.vectorize(td.grad(tanh32))(np.float32(30.0))) == 0.0


def test_float32_tanh_keeps_nan_and_saturates_at_infinity(tanh32):
    x = np.array([np.nan, np.inf, -np.inf, 0.5] * 8, dtype=np.float32)  # enough for SIMD lanes
    for n in (1, len(x)):
        got = np.asarray(td.vectorize(tanh32)(x[:n]), dtype=np.float64)
        ref = np.tanh(x[:n].astype(np.float64))
        np.testing.assert_allclose(got, ref, rtol=1e-6)  # NaN where NaN, +-1 at +-inf


@pytest.fixture
def tanh64(cpu64):
    @td.func
    def f(x: td.f64) -> td.f64:
        return td.tanh(x)

    return f


def _ulps(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Errors in units of the last place, counted at least at 1e-290 (spacings of subnormals
    read as 0 once Taichi has set the CPU to flush them)."""
    return np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), 1e-290))


def test_float64_tanh_is_within_3_ulps_of_a_50_digit_reference(tanh64):
    import mpmath

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1.0, 1.0, 4000) * 10.0 ** rng.uniform(-9.0, 1.3, 4000),
                        [0.17328679513998632, 0.34657359027997264, 19.06, -19.1, 1e-300]])
    with mpmath.workdps(50):
        ref = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x])
    got, src = _in_lanes(td.tanh, x)
    assert "_tidal_tanh_f64(" in src
    assert np.max(_ulps(got, ref)) <= 3.0


def test_float64_tanh_on_lanes_and_on_scalars_agree_with_numpy_everywhere(tanh64):
    import taichi as ti

    from tidal.dsl.mathlib import _tidal_tanh_f64

    x = np.concatenate([np.linspace(-25.0, 25.0, 200_001), np.geomspace(1e-300, 1.0, 20_001),
                        -np.geomspace(1e-300, 1.0, 20_001), [0.0, np.inf, -np.inf, np.nan]])
    lanes = _in_lanes(td.tanh, x)[0]

    @ti.kernel
    def scalar(a: ti.types.ndarray(dtype=ti.f64, ndim=1), out: ti.types.ndarray(dtype=ti.f64,
                                                                               ndim=1)):
        for i in range(a.shape[0]):
            out[i] = _tidal_tanh_f64(a[i])

    scalars = np.zeros_like(x)
    scalar(x, scalars)
    ref = np.tanh(x)
    for got in (lanes, scalars):
        assert np.isnan(got[-1])
        np.testing.assert_array_equal(got[-4:-1], [0.0, 1.0, -1.0])
        assert np.max(_ulps(got[:-4], ref[:-4])) <= 4.0  # 3 from the exact value, 1 for numpy's
        assert np.all(np.abs(got[:-1]) <= 1.0)


_TOTAL = None
LANE_INDICES = "ti.Vector([0, 1, 2, 3, 4, 5, 6, 7], dt=ti.i32)"


def _in_lanes(math, x: np.ndarray) -> tuple[np.ndarray, str]:
    """``math`` (``td.tanh``, ``td.sin``, ...) of float64 ``x`` by a kernel that also sums the
    values into one element, the kind of loop tidal runs 8 iterations per SIMD vector, and the
    kernel's generated source."""
    import taichi as ti

    global _TOTAL
    _TOTAL = ti.field(ti.f64, shape=())

    @td.kernel
    def apply_and_sum(a: ti.types.ndarray(dtype=ti.f64, ndim=1),
                      out: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in range(a.shape[0]):
            e = math(a[i])
            out[i] = e
            _TOTAL[None] += e

    a, out = ti.ndarray(ti.f64, shape=len(x)), ti.ndarray(ti.f64, shape=len(x))
    a.from_numpy(x)
    apply_and_sum(a, out)
    src = td.source(apply_and_sum, a, out)
    assert LANE_INDICES in src  # it ran in lanes
    return out.to_numpy(), src


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_float64_sin_and_cos_on_lanes_and_scalars_against_a_50_digit_reference(cpu64, name):
    import mpmath
    import taichi as ti

    from tidal.dsl import mathlib

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-8e5, 8e5, 1500), rng.uniform(-30.0, 30.0, 1500),
                        rng.uniform(-1.0, 1.0, 500) * 10.0 ** rng.uniform(-15.0, 0.0, 500),
                        [math.pi / 4, 3 * math.pi / 4, -math.pi / 2, 2.0 ** 19 * math.pi / 2,
                         1e6, -3e7, 1e300]])  # the last three beyond the reduction: libm
    with mpmath.workdps(50):
        ref = np.array([float(getattr(mpmath, name)(mpmath.mpf(float(v)))) for v in x])
    lanes, src = _in_lanes(getattr(td, name), x)
    assert f"_tidal_{name}_f64(" in src
    form = getattr(mathlib, f"_tidal_{name}_f64")

    @ti.kernel
    def scalar(a: ti.types.ndarray(dtype=ti.f64, ndim=1), out: ti.types.ndarray(dtype=ti.f64,
                                                                               ndim=1)):
        for i in range(a.shape[0]):
            out[i] = form(a[i])

    scalars = np.zeros_like(x)
    scalar(x, scalars)
    for got in (lanes, scalars):
        # within 2 ulps, except next to a zero of the function, where the reduction's absolute
        # error (below 1e-26 per multiple of pi/2) dominates: cos(-pi/2) is 6.1e-17, 3e-27 off
        error = np.abs(got - ref)
        near_zero_bound = 1e-26 * (1 + np.abs(x))
        assert np.all((error <= 2.0 * np.spacing(np.abs(ref))) | (error <= near_zero_bound))
        assert np.median(_ulps(got, ref)) == 0.0
    special = np.array([0.0, np.inf, -np.inf, np.nan] * 3)
    got = _in_lanes(getattr(td, name), special)[0]
    assert np.all(np.isnan(got[special != 0.0])) and np.all(got[special == 0.0] == (name == "cos"))
