"""tidal's own math functions (tidal/dsl/mathlib.py) against float64 references."""

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
