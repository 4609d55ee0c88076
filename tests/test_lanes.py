"""SIMD lanes on the CPU (tidal.dsl.lanes): loops that accumulate into shared elements run 8
iterations per vector. Values are checked against NumPy closed forms in f64 (rtol 1e-12) for
trip counts that are and are not multiples of the lane count, so the masked last group of every
chunk is exercised; the tests also check that the generated kernels really run in lanes, or
really do not where the body cannot."""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArchError

from .reference import assert_close

LANE_INDICES = "ti.Vector([0, 1, 2, 3, 4, 5, 6, 7], dt=ti.i32)"
COUNTS = ([0], [1], [7], [8], [9], [37], [1000], [5, 0, 17, 1000])


@td.func
def layer(h: td.vec(3), x: td.f64) -> td.vec(3):
    out = h
    for j in range(3):
        out[j] = ti.tanh(h[j] * x + 0.25 * j)
    return out


def _forward_numpy(w, y):
    """The reference of ``net_loss`` below: per point, two layers of three tanh units."""
    h = np.stack([w[0] * y, w[1] * y, w[0] * w[1] * y])
    for _ in range(2):
        h = np.tanh(h * y + 0.25 * np.arange(3)[:, None])
    return h.sum(axis=0)


@pytest.fixture(scope="module")
def net():
    n = 1000
    w = ti.field(ti.f64, shape=2, needs_grad=True)
    y = ti.field(ti.f64, shape=n)
    pred = ti.field(ti.f64, shape=n)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    w.from_numpy(np.array([0.7, -1.3]))
    y.from_numpy(np.random.default_rng(3).uniform(-1, 1, n))

    @td.kernel
    def net_loss(count: ti.i32):
        for k in range(count):
            h = ti.Vector([w[0] * y[k], w[1] * y[k], w[0] * w[1] * y[k]])
            for _ in range(2):
                h = layer(h, y[k])
            s = h[0] + h[1] + h[2]
            pred[k] = s
            loss[None] += s * s

    return net_loss, w, y, pred, loss


def test_loss_gradient_and_stores_match_numpy_for_every_trip_count(net):
    net_loss, w, y, pred, loss = net
    ws, ys = w.to_numpy(), y.to_numpy()
    eps = 1e-6
    for counts in COUNTS:
        pred.fill(0.0)
        loss[None] = 0.0
        with td.Tape(loss):
            for c in counts:
                net_loss(c)
        total = sum(np.sum(_forward_numpy(ws, ys[:c]) ** 2) for c in counts)
        assert_close(loss[None], total, rtol=1e-12, what=f"loss for {counts}")
        top = max(counts)
        assert_close(pred.to_numpy()[:top], _forward_numpy(ws, ys[:top]), rtol=1e-12,
                     what=f"stored predictions for {counts}")
        assert np.all(pred.to_numpy()[top:] == 0.0), "a masked lane stored past the end"
        dw = []
        for d in range(2):  # central differences of the NumPy reference, in f64
            up, down = ws.copy(), ws.copy()
            up[d] += eps
            down[d] -= eps
            dw.append(sum(np.sum(_forward_numpy(up, ys[:c]) ** 2)
                          - np.sum(_forward_numpy(down, ys[:c]) ** 2) for c in counts)
                      / (2 * eps))
        assert_close(w.grad.to_numpy(), np.array(dw), rtol=1e-6,
                     what=f"dw for {counts}")


def test_accumulating_kernels_run_in_lanes(net):
    src = td.source(net[0], 1000, mode="adjoint")
    assert LANE_INDICES in src and ".sum()" in src  # lanes, and lane sums into partials
    assert LANE_INDICES in td.source(net[0], 1000)


def test_a_branch_that_differs_between_lanes_keeps_the_loop_scalar():
    n = 61
    w = ti.field(ti.f64, shape=2, needs_grad=True)
    y = ti.field(ti.f64, shape=n)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    w.from_numpy(np.array([0.4, 1.7]))
    ys = np.random.default_rng(4).uniform(-1, 1, n)
    y.from_numpy(ys)

    @td.kernel
    def hinge():
        for k in range(n):
            v = w[0] * y[k] + w[1]
            if y[k] > 0:
                loss[None] += v * v
            else:
                loss[None] += ti.sin(v)

    loss[None] = 0.0
    with td.Tape(loss):
        hinge()
    v = 0.4 * ys + 1.7
    pos = ys > 0
    assert_close(loss[None], np.sum(v[pos] ** 2) + np.sum(np.sin(v[~pos])), rtol=1e-12,
                 what="loss")
    dv = np.where(pos, 2 * v, np.cos(v))
    assert_close(w.grad.to_numpy(), [np.sum(dv * ys), np.sum(dv)], rtol=1e-12, what="dw")
    assert LANE_INDICES not in td.source(hinge, mode="adjoint")


def test_vector_fields_keep_the_kernel_scalar_and_the_mode_is_restored():
    n = 45
    acc = ti.Vector.field(2, ti.f64, shape=())
    y = ti.field(ti.f64, shape=n)
    ys = np.linspace(-1, 1, n)
    y.from_numpy(ys)

    @td.kernel
    def moments():
        for k in range(n):
            acc[None] += ti.Vector([y[k], y[k] * y[k]])

    acc[None] = [0.0, 0.0]
    moments()
    assert_close(acc.to_numpy(), [ys.sum(), (ys * ys).sum()], rtol=1e-12, what="moments")
    assert LANE_INDICES not in td.source(moments)
    assert ti.lang.impl.current_cfg().real_matrix_scalarize


def test_simd_lanes_must_be_a_non_negative_integer():
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(TidalArchError, match="simd_lanes"):
            td.init(arch="cpu", default_fp=td.f64, simd_lanes=bad)


def test_vector_code_taichi_miscompiles_in_vector_mode_keeps_the_kernel_scalar():
    """Unary minus, abs and math functions on vectors abort Taichi's vector mode: a kernel using
    them is not vectorised (and so runs, with the right values)."""
    n = 23
    w = ti.field(ti.f64, shape=2, needs_grad=True)
    y = ti.field(ti.f64, shape=n)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    ws, ys = np.array([0.3, -0.9]), np.linspace(-1, 1, n)
    w.from_numpy(ws)
    y.from_numpy(ys)

    @td.kernel
    def reflected():
        for k in range(n):
            d = ti.sin(-ti.Vector([w[0], w[1]]))
            loss[None] += (d[0] * y[k] + d[1]) ** 2

    loss[None] = 0.0
    with td.Tape(loss):
        reflected()
    d = np.sin(-ws)
    r = d[0] * ys + d[1]
    assert_close(loss[None], np.sum(r * r), rtol=1e-12, what="loss")
    dd = np.array([np.sum(2 * r * ys), np.sum(2 * r)])
    assert_close(w.grad.to_numpy(), -np.cos(-ws) * dd, rtol=1e-12, what="dw")
    assert LANE_INDICES not in td.source(reflected)
    assert LANE_INDICES not in td.source(reflected, mode="adjoint")


def test_casts_of_the_loop_index_run_in_lanes():
    w = ti.field(ti.f64, shape=2, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    w.from_numpy(np.array([0.6, -0.2]))

    @td.kernel
    def ramp(count: ti.i32):
        for k in range(count):
            r = w[0] * ti.cast(k, ti.f64) * 0.01 + w[1]
            loss[None] += r * r

    for count in (13, 100):
        loss[None] = 0.0
        with td.Tape(loss):
            ramp(count)
        t = np.arange(count) * 0.01
        r = 0.6 * t - 0.2
        assert_close(loss[None], np.sum(r * r), rtol=1e-12, what=f"loss, {count} points")
        assert_close(w.grad.to_numpy(), [np.sum(2 * r * t), np.sum(2 * r)], rtol=1e-12,
                     what=f"dw, {count} points")
    assert LANE_INDICES in td.source(ramp, 13, mode="adjoint")


# ----------------------------------------------------------- td.kernel(vectorise=True / False)
ND2 = ti.types.ndarray(dtype=ti.f64, ndim=2)
ND3 = ti.types.ndarray(dtype=ti.f64, ndim=3)

def _dense_kernel(vectorise, simd_lanes=None):
    """A dense tanh layer over points ``(b, x)`` of ndarrays, with a store and an exclusive add
    per point: no shared accumulation, so by default it does not run in lanes."""

    def dense(v: ND3, weights: ND2, out: ND3, total: ND2):
        for b, x in ti.ndrange(v.shape[0], v.shape[1]):
            for o in range(3):
                s = 0.0
                for c in range(2):
                    s += weights[o, c] * v[b, x, c]
                out[b, x, o] = ti.tanh(s)
                total[b, x] += s * s

    return td.kernel(dense, vectorise=vectorise, simd_lanes=simd_lanes)


@pytest.mark.parametrize("vectorise", [None, True, False])
@pytest.mark.parametrize("points", [1, 7, 9, 37])
def test_vectorise_option_gives_the_same_values_and_gradients(vectorise, points):
    forward, adjoint = _check_dense(_dense_kernel(vectorise), points)
    assert (LANE_INDICES in forward) == (vectorise is True)
    if vectorise is not None:  # (by default the adjoint's ndarray weights take atomic adds)
        assert (LANE_INDICES in adjoint) == vectorise


@pytest.mark.parametrize("simd_lanes", [2, 4, 16, 32])
@pytest.mark.parametrize("points", [1, 7, 17, 37])
def test_a_kernels_own_simd_lanes_give_the_same_values_and_gradients(simd_lanes, points):
    forward, adjoint = _check_dense(_dense_kernel(True, simd_lanes), points)
    iota = f"ti.Vector([{', '.join(map(str, range(simd_lanes)))}], dt=ti.i32)"
    assert iota in forward and iota in adjoint  # the derivative keeps the kernel's lanes


def test_simd_lanes_of_a_kernel_must_be_a_power_of_two_up_to_32():
    for bad in (0, 3, 64, 8.0, True, "16"):
        with pytest.raises(td.TidalArgumentError, match="simd_lanes"):
            td.kernel(simd_lanes=bad)


def _check_dense(k, points):
    """Runs ``k`` (a :func:`_dense_kernel`) and its adjoint on ``(3, points)`` points, checks
    the stores, adds and both gradients against NumPy (rtol 1e-12); returns the generated
    forward and adjoint sources."""
    rng = np.random.default_rng(points)
    shape = (3, points)
    v_np, w_np = rng.normal(size=(*shape, 2)), rng.normal(size=(3, 2))
    out_cot, total_cot = rng.normal(size=(*shape, 3)), rng.normal(size=shape)
    arrays = {}
    for name, value in (("v", v_np), ("w", w_np), ("out", np.zeros((*shape, 3))),
                        ("total", np.zeros(shape))):
        arrays[name] = ti.ndarray(ti.f64, value.shape, needs_grad=True)
        arrays[name].from_numpy(value)
    arrays["out"].grad.from_numpy(out_cot)
    arrays["total"].grad.from_numpy(total_cot)
    args = (arrays["v"], arrays["w"], arrays["out"], arrays["total"])
    k(*args)
    k.grad(*args)
    s = v_np @ w_np.T
    assert_close(arrays["out"].to_numpy(), np.tanh(s), rtol=1e-12, what="stores")
    assert_close(arrays["total"].to_numpy(), np.sum(s * s, axis=-1), rtol=1e-12, what="adds")
    s_bar = out_cot * (1.0 - np.tanh(s) ** 2) + 2.0 * s * total_cot[..., None]
    assert_close(arrays["v"].grad.to_numpy(), s_bar @ w_np, rtol=1e-12, what="dv")
    assert_close(arrays["w"].grad.to_numpy(), np.einsum("bxo,bxc->oc", s_bar, v_np),
                 rtol=1e-12, what="dweights")
    return k.source(*args), k.source(*args, mode="adjoint")


def test_vectorise_must_be_true_false_or_none():
    with pytest.raises(td.TidalArgumentError, match="vectorise"):
        td.kernel(vectorise="yes")


@pytest.mark.parametrize("vectorise", [None, True, False])
def test_vectorise_option_on_a_struct_for_and_a_shared_histogram_through_a_tape(vectorise):
    # a struct-for over a field (stores) and a histogram (adds into a small shared field, at
    # lane-dependent bins): the loss and its gradient against closed forms in f64
    n, bins = 300, 7
    x = ti.field(ti.f64, shape=n, needs_grad=True)
    y = ti.field(ti.f64, shape=n, needs_grad=True)
    hist = ti.field(ti.f64, shape=bins, needs_grad=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    xs = np.linspace(-1.0, 0.99, n)
    x.from_numpy(xs)

    @td.kernel(vectorise=vectorise)
    def curve():
        for i in x:
            y[i] = ti.sin(x[i]) * x[i]

    @td.kernel(vectorise=vectorise)
    def histogram():
        for i in range(n):
            hist[ti.cast((x[i] + 1.0) * 3.5, ti.i32)] += x[i] * x[i]

    @td.kernel(vectorise=vectorise)
    def total():
        for i in range(n):
            loss[None] += y[i] * y[i] + hist[i % bins]

    with td.Tape(loss):
        curve()
        histogram()
        total()
    ys = np.sin(xs) * xs
    which = ((xs + 1.0) * 3.5).astype(int)
    counts = np.bincount(np.arange(n) % bins, minlength=bins)  # times total() reads each bin
    hs = np.bincount(which, weights=xs * xs, minlength=bins)
    assert_close(loss[None], np.sum(ys * ys) + counts @ hs, rtol=1e-12, what="loss")
    grad = 2.0 * ys * (np.cos(xs) * xs + np.sin(xs)) + counts[which] * 2.0 * xs
    assert_close(x.grad.to_numpy(), grad, rtol=1e-12, what="dx")
    assert (LANE_INDICES in td.source(curve)) == (vectorise is True)
