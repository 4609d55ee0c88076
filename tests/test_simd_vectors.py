"""td.kernel(simd_vectors=True): kernels over ndarrays of vectors compiled with their vectors as
SIMD vectors and the elements read and written whole. Values and gradients are checked against
NumPy (f64 closed forms of the same sums) and against the same kernel without the option; the
tests also check which kernels really compile so, that NumPy arguments are refused, and that
code Taichi's vector mode cannot compile falls back to the plain compilation with the same
results."""

import re

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArgumentError

from .reference import assert_close

L = 16
V32 = ti.types.vector(L, ti.f32)
V64 = ti.types.vector(8, ti.f64)


def _filter(simd: bool, vec, real):
    """``out[b, i] = gain[b, i] * sum_p taps[i, p] * (u[b, p] + u[b, (n - p) % n])`` over
    blocks of channels (a cosine-transform shape, the FNO's): each iteration ``(b, c)`` of
    the parallel loop reads and writes only elements ``[b, ..., c]``, so the adjoint adds into
    them without atomics."""
    nd3 = ti.types.ndarray(dtype=vec, ndim=3)
    taps_t = ti.types.ndarray(dtype=real, ndim=2)

    def body(u: nd3, taps: taps_t, out: nd3, gain: nd3):
        for b, c in ti.ndrange(u.shape[0], u.shape[2]):
            n = u.shape[1]
            for i in range(out.shape[1]):
                acc = ti.Vector.zero(real, vec.n)
                for p in range(taps.shape[1]):
                    acc += (u[b, p, c] + u[b, (n - p) % n, c]) * taps[i, p]
                out[b, i, c] = acc * gain[b, i, c]

    return td.kernel(body, simd_vectors=simd)


def _arrays(real, vec, rng, n=3, points=10, outs=4, blocks=2):
    def nd(*shape):
        return ti.ndarray(vec, shape=shape, needs_grad=True)

    u, out, gain = nd(n, points, blocks), nd(n, outs, blocks), nd(n, outs, blocks)
    taps = ti.ndarray(real, shape=(outs, points // 2 + 1), needs_grad=True)
    k = vec.n
    data = {"u": rng.normal(size=(n, points, blocks, k)),
            "taps": rng.normal(size=(outs, points // 2 + 1)),
            "gain": rng.normal(size=(n, outs, blocks, k)),
            "out_grad": rng.normal(size=(n, outs, blocks, k))}
    store = np.float32 if vec.dtype == ti.f32 else np.float64
    u.from_numpy(data["u"].astype(store))
    taps.from_numpy(data["taps"].astype(store))
    gain.from_numpy(data["gain"].astype(store))
    return (u, taps, out, gain), data


def _reference(data):
    """Output and the gradients of ``sum(out * out_grad)`` in f64."""
    u, taps, gain, og = data["u"], data["taps"], data["gain"], data["out_grad"]
    n = u.shape[1]
    pair = u[:, :taps.shape[1]] + u[:, [(n - p) % n for p in range(taps.shape[1])]]
    s = np.einsum("ip,bpck->bick", taps, pair)
    out = s * gain
    g = og * gain  # cotangent of s
    gpair = np.einsum("ip,bick->bpck", taps, g)
    du = np.zeros_like(u)
    for p in range(taps.shape[1]):
        du[:, p] += gpair[:, p]
        du[:, (n - p) % n] += gpair[:, p]
    return {"out": out, "u": du, "taps": np.einsum("bick,bpck->ip", g, pair),
            "gain": og * s}


@pytest.mark.parametrize("real, vec, rtol", [(ti.f32, V32, 2e-5), (ti.f64, V64, 1e-12)])
def test_values_and_gradients_match_numpy_and_the_plain_kernel(real, vec, rtol):
    td.init(arch="cpu", default_fp=td.f64)
    results = {}
    for simd in (True, False):
        kernel = _filter(simd, vec, real)
        args, data = _arrays(real, vec, np.random.default_rng(0))
        kernel(*args)
        u, taps, out, gain = args
        out.grad.from_numpy(data["out_grad"].astype(out.to_numpy().dtype))
        for a in (u, taps, gain):
            a.grad.fill(0)
        kernel.grad(*args)
        results[simd] = {"out": out.to_numpy(), "u": u.grad.to_numpy(),
                         "taps": taps.grad.to_numpy(), "gain": gain.grad.to_numpy()}
        spec = kernel._last
        compiled = [spec.forward()] + [d.forward() for d in spec.derived.values()]
        # the launch wrapper of a kernel compiled in vector mode (tidal.dsl.loader.load_kernel)
        assert all(hasattr(c, "taichi_kernel") == simd for c in compiled), simd
    ref = _reference(data)
    for name, want in ref.items():
        assert_close(results[True][name], want, rtol=rtol, what=f"{name} (simd_vectors)")
        assert_close(results[True][name], results[False][name], rtol=rtol,
                     what=f"{name}, against the plain kernel")
    adjoint = _filter(True, vec, real)
    args, _ = _arrays(real, vec, np.random.default_rng(0))
    adjoint(*args)
    source = td.source(adjoint, *args, mode="adjoint")
    # the input's gradient accumulates with plain adds (each iteration owns its elements), and
    # vector elements are read whole, not one number at a time (``u[b, p, c][0]``)
    assert "u_grad[b, " in source and not re.search(r"u_grad\[[^]]*\] \+=", source)
    assert "][0]" not in source


def test_a_numpy_argument_is_refused():
    td.init(arch="cpu", default_fp=td.f64)
    kernel = _filter(True, V32, ti.f32)
    args, _ = _arrays(ti.f32, V32, np.random.default_rng(1))
    kernel(*args)
    u, taps, out, gain = args
    with pytest.raises(TidalArgumentError, match="simd_vectors=True.*Taichi ndarrays.*numpy"
                       ) as refused:
        kernel(u.to_numpy(), taps, out, gain)
    assert "test_simd_vectors.py" in str(refused.value)  # the kernel's definition
    # a scalar NumPy argument is fine (scalar elements are never read whole)
    kernel(u, taps.to_numpy(), out, gain)


def test_shared_vector_sums_and_odd_sizes_fall_back_to_the_plain_compilation():
    """An atomic add of vectors into an element every iteration shares (Taichi's vector mode
    aborts on it) and stores of 3-vectors (read element by element) keep the kernel as it
    would be without the option: no crash, the same values."""
    td.init(arch="cpu", default_fp=td.f64)
    nd1 = ti.types.ndarray(dtype=V32, ndim=1)
    v3 = ti.types.vector(3, ti.f32)

    @td.kernel(simd_vectors=True)
    def total(u: nd1, acc: nd1):
        for i in range(u.shape[0]):
            acc[0] += u[i] * 2.0

    @td.kernel(simd_vectors=True)
    def shift(u: ti.types.ndarray(dtype=v3, ndim=1), out: ti.types.ndarray(dtype=v3, ndim=1)):
        for i in range(u.shape[0]):
            out[i] = u[i] + 1.0

    rng = np.random.default_rng(2)
    xs = rng.normal(size=(37, L)).astype(np.float32)
    u, acc = ti.ndarray(V32, shape=37), ti.ndarray(V32, shape=1)
    u.from_numpy(xs)
    acc.fill(0)
    total(u, acc)
    assert_close(acc.to_numpy()[0], 2 * xs.astype(np.float64).sum(axis=0), rtol=1e-5,
                 what="shared vector sum")
    assert not hasattr(total._last.forward(), "taichi_kernel")
    ys = rng.normal(size=(5, 3)).astype(np.float32)
    a, b = ti.ndarray(v3, shape=5), ti.ndarray(v3, shape=5)
    a.from_numpy(ys)
    shift(a, b)
    assert_close(b.to_numpy(), ys + 1.0, rtol=1e-6, what="3-vectors")
    assert not hasattr(shift._last.forward(), "taichi_kernel")


def test_simd_vectors_must_be_a_bool():
    with pytest.raises(TidalArgumentError, match="simd_vectors"):
        td.kernel(simd_vectors=1)


def test_negated_vectors_compile_in_vector_mode():
    """Unary minus of a vector aborts Taichi's vector mode: tidal writes it as a product by -1
    (an adjoint of ``a - b`` negates), so such kernels and their adjoints stay in vector
    mode, with the same values."""
    td.init(arch="cpu", default_fp=td.f64)
    nd1 = ti.types.ndarray(dtype=V32, ndim=1)

    @td.kernel(simd_vectors=True)
    def flip(u: nd1, w: nd1, out: nd1):
        for i in range(u.shape[0]):
            out[i] = -u[i] - w[i] * u[i]

    rng = np.random.default_rng(3)
    us, ws, gs = (rng.normal(size=(9, L)).astype(np.float32) for _ in range(3))
    u, w, out = (ti.ndarray(V32, shape=9, needs_grad=True) for _ in range(3))
    u.from_numpy(us)
    w.from_numpy(ws)
    flip(u, w, out)
    assert_close(out.to_numpy(), -us - ws * us, rtol=1e-6, what="values")
    out.grad.from_numpy(gs)
    u.grad.fill(0)
    w.grad.fill(0)
    flip.grad(u, w, out)
    assert_close(u.grad.to_numpy(), -gs * (1 + ws), rtol=1e-5, what="du")
    assert_close(w.grad.to_numpy(), -gs * us, rtol=1e-5, what="dw")
    spec = flip._last
    assert hasattr(spec.forward(), "taichi_kernel")
    assert all(hasattr(d.forward(), "taichi_kernel") for d in spec.derived.values())


@pytest.mark.parametrize("real, vec, rtol", [(ti.f32, V32, 2e-6), (ti.f64, V64, 1e-13)])
def test_tanh_of_vectors_compiles_in_vector_mode(real, vec, rtol):
    """tanh of a whole vector (a dense layer's GELU on a block of channels) goes through
    tidal's arithmetic form as one SIMD computation: the kernel and its adjoint stay in vector
    mode (before, the per-element form made the kernel fall back to scalar code), values and
    gradients equal NumPy's tanh and its derivative, with inputs past tanh's clamp (|x| > 9),
    at zero, and a 2 x n matrix value."""
    td.init(arch="cpu", default_fp=td.f64)
    nd1 = ti.types.ndarray(dtype=vec, ndim=1)
    nd2 = ti.types.ndarray(dtype=vec, ndim=2)
    k = vec.n

    @td.kernel(simd_vectors=True)
    def gelu_blocks(u: nd1, out: nd1):
        for i in range(u.shape[0]):
            x = u[i]
            out[i] = 0.5 * x * (1.0 + ti.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))

    @td.kernel(simd_vectors=True)
    def tanh_pairs(u: nd2, out: nd2):
        for i in range(u.shape[0]):
            t = ti.tanh(ti.Matrix.rows([u[i, 0], u[i, 1]]))  # a 2 x k matrix value
            r0 = ti.Vector.zero(real, k)
            r1 = ti.Vector.zero(real, k)
            for j in ti.static(range(k)):
                r0[j] = t[0, j]
                r1[j] = t[1, j]
            out[i, 0] = r0
            out[i, 1] = r1

    store = np.float32 if real == ti.f32 else np.float64
    rng = np.random.default_rng(4)
    xs = rng.normal(scale=3.0, size=(6, k))
    xs[0, :4] = [0.0, 9.5, -12.0, 40.0]
    xs = xs.astype(store).astype(np.float64)
    gs = rng.normal(size=(6, k))

    def gelu(x):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))

    def dgelu(x):
        t = np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (
            1.0 + 3 * 0.044715 * x * x)

    for kernel, f, df, shape in ((gelu_blocks, gelu, dgelu, (6,)),
                                 (tanh_pairs, np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, (3, 2))):
        u, out = (ti.ndarray(vec, shape=shape, needs_grad=True) for _ in range(2))
        u.from_numpy(xs.reshape(*shape, k).astype(store))
        kernel(u, out)
        assert_close(out.to_numpy().reshape(6, k), f(xs), rtol=rtol, what=f"{kernel.name} values")
        out.grad.from_numpy(gs.reshape(*shape, k).astype(store))
        u.grad.fill(0)
        kernel.grad(u, out)
        assert_close(u.grad.to_numpy().reshape(6, k), gs * df(xs), rtol=10 * rtol,
                     what=f"{kernel.name} gradient")
        spec = kernel._last
        assert hasattr(spec.forward(), "taichi_kernel"), kernel.name
        assert all(hasattr(d.forward(), "taichi_kernel") for d in spec.derived.values())
