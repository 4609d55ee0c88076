"""tidal.autodiff.parameters.FieldVector: Taichi fields of any number of axes as one flat
float64 vector (row-major, one after the other), values written and read and gradients read and
cleared by one launch each; checked against NumPy's own reshaping, with a field declared beside
them left untouched (a wrong position would write past a field)."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH
from tidal.autodiff import parameters
from tidal.autodiff.parameters import FieldVector

# the last two hold more than parameters.ROWS_FROM values: copied row by row
SHAPES = [(), (7,), (3, 4), (4, 5, 6, 2), (2, 3, 4, 5, 2), (40, 1), (1, 1, 3), (3, 50),
          (2, 300, 60, 2), (4, 17_000)]


@pytest.mark.parametrize("dtype", [ti.f64, ti.f32])
def test_fields_of_every_shape_round_trip_through_the_flat_vector(dtype):
    td.init(arch=ARCH, default_fp=td.f64)
    before = ti.field(ti.f64, shape=5)
    fields = [ti.field(dtype, shape=s, needs_grad=True) for s in SHAPES]
    after = ti.field(ti.f64, shape=5)
    guard = np.arange(5.0) + 0.5
    before.from_numpy(guard)
    after.from_numpy(guard)
    vec = FieldVector(fields)
    assert [parameters._rows(s)[1] for s in SHAPES[-2:]] == [(60, 2), (17_000,)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=vec.size)
    if dtype == ti.f32:
        x = x.astype(np.float32).astype(np.float64)  # exactly representable
    vec.write(x)
    for f, part in zip(fields, vec.split(x)):
        np.testing.assert_array_equal(f.to_numpy(), part, err_msg=str(f.shape))
    np.testing.assert_array_equal(vec.read(), x)
    grads = [rng.normal(size=s).astype(f.to_numpy().dtype) for f, s in zip(fields, SHAPES)]
    for f, g in zip(fields, grads):
        f.grad.from_numpy(g)
    np.testing.assert_array_equal(vec.read(grads=True),
                                  np.concatenate([g.astype(np.float64).reshape(-1)
                                                  for g in grads]))
    vec.clear_grads()
    assert not np.any(vec.read(grads=True))
    np.testing.assert_array_equal(vec.read(), x)
    np.testing.assert_array_equal(before.to_numpy(), guard)
    np.testing.assert_array_equal(after.to_numpy(), guard)
