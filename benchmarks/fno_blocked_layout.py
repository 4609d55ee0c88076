"""A probe for the FNO's next speed-up: one dense layer (the pointwise part of a Fourier layer:
``act(W v + b + spec)``) on activations laid out in blocks of 16 points (an ndarray of
16-wide float32 vectors), against tidal's kernel (``FNO.kernels["linear_act"]``, SIMD lanes
over points on the ``(fields, points, channels)`` layout), forward and adjoint.

tidal's lane kernels read and write every ndarray element through a per-lane index: a 16-lane
load is a gather and a store 16 scalar stores (Taichi's ndarray addresses are 32-bit products
with runtime shapes, so LLVM cannot prove a lane group's addresses consecutive). An element of
an ndarray of ``ti.types.vector(16, ti.f32)`` is loaded and stored whole (one ``<16 x float>``
in the optimised IR). The probe's kernels are plain Taichi, written by hand (forward and
adjoint), in Taichi's vector mode as tidal's lane kernels are; it checks them against tidal's
(values, and the gradients of the input, the spectral part and the weights) and prints the
time of each, alternated, with the ratio. It measures what a blocked layout could gain; the FNO
does not use it yet (its kernels would have to address the blocks, and tidal's lanes to read
them).

Usage: ``python benchmarks/fno_blocked_layout.py [--threads 1] [--grid 32] [--repeat 3]``.
"""

import argparse
import time

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import loader
from tidal.dsl.mathlib import _tidal_tanh_f32

LANES, WIDTH, FIELDS, PARTS = 16, 32, 20, 8
K = 0.7978845608028654  # sqrt(2 / pi), GELU's tanh form as tidal's FNO uses it
V = ti.types.vector(LANES, ti.f32)
nd = ti.types.ndarray(dtype=V, ndim=3)


@ti.func
def gelu_and_slope(x):
    t = _tidal_tanh_f32(K * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * K * (
        1.0 + 3.0 * 0.044715 * x * x)


def kernels(W, Wb):
    w = WIDTH

    @ti.func
    def pre_activations(v: ti.template(), spec: ti.template(), bb, xg, layer, o4):
        """Four outputs' ``W v + b + spec`` (16 points each): each input vector read once."""
        s0 = ti.Vector.zero(ti.f32, LANES)
        s1 = ti.Vector.zero(ti.f32, LANES)
        s2 = ti.Vector.zero(ti.f32, LANES)
        s3 = ti.Vector.zero(ti.f32, LANES)
        for c in range(w):
            u = v[bb, xg, c]
            s0 += W[layer, o4, c] * u
            s1 += W[layer, o4 + 1, c] * u
            s2 += W[layer, o4 + 2, c] * u
            s3 += W[layer, o4 + 3, c] * u
        return (s0 + Wb[layer, o4] + spec[bb, xg, o4],
                s1 + Wb[layer, o4 + 1] + spec[bb, xg, o4 + 1],
                s2 + Wb[layer, o4 + 2] + spec[bb, xg, o4 + 2],
                s3 + Wb[layer, o4 + 3] + spec[bb, xg, o4 + 3])

    @ti.kernel
    def forward(v: nd, spec: nd, out: nd, layer: ti.i32):
        for bb, xg in ti.ndrange(v.shape[0], v.shape[1]):
            for og in range(w // 4):
                x = pre_activations(v, spec, bb, xg, layer, og * 4)
                for k in ti.static(range(4)):
                    out[bb, xg, og * 4 + k] = gelu_and_slope(x[k])[0]

    @ti.kernel
    def adjoint(v: nd, spec: nd, out_grad: nd, v_grad: nd, spec_grad: nd, w_parts: nd,
                layer: ti.i32):
        total = v.shape[0] * v.shape[1]
        for part in range(PARTS):  # each part its own weight-gradient partial sums
            for q in range(part * total // PARTS, (part + 1) * total // PARTS):
                bb, xg = q // v.shape[1], q % v.shape[1]
                g = ti.Matrix.zero(ti.f32, w, LANES)
                for og in range(w // 4):
                    x = pre_activations(v, spec, bb, xg, layer, og * 4)
                    for k in ti.static(range(4)):
                        o = og * 4 + k
                        gk = out_grad[bb, xg, o] * gelu_and_slope(x[k])[1]
                        spec_grad[bb, xg, o] = spec_grad[bb, xg, o] + gk
                        for lane in ti.static(range(LANES)):
                            g[o, lane] = gk[lane]
                for c in range(w):
                    u = v[bb, xg, c]
                    dv = ti.Vector.zero(ti.f32, LANES)
                    for o in range(w):
                        go = ti.Vector([g[o, lane] for lane in ti.static(range(LANES))])
                        dv += W[layer, o, c] * go
                        w_parts[part, o, c] = w_parts[part, o, c] + go * u
                    v_grad[bb, xg, c] = v_grad[bb, xg, c] + dv

    @ti.kernel
    def weight_gradient(w_parts: nd, layer: ti.i32):
        for o, c in ti.ndrange(w, w):
            s = ti.Vector.zero(ti.f32, LANES)
            for part in range(PARTS):
                s = s + w_parts[part, o, c]
            total = 0.0
            for lane in ti.static(range(LANES)):
                total += s[lane]
            W.grad[layer, o, c] = W.grad[layer, o, c] + total

    return forward, adjoint, weight_gradient


def median_ms(f, repeat: int = 10) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        ti.sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    td.init(arch="cpu", default_fp=td.f32, cpu_max_num_threads=args.threads)
    from tidal.surrogates import FNO

    net = FNO(2, 12 if args.grid >= 24 else 8, width=WIDTH, layers=4, dtype=td.f32)
    n, points = FIELDS, args.grid * args.grid
    b = net.batch(n, (args.grid, args.grid))
    rng = np.random.default_rng(0)
    v, spec, out_grad = (rng.normal(size=(n, points, WIDTH)).astype(np.float32)
                         for _ in range(3))
    W, Wb = net.fields[3], net.fields[4]
    dense = net.kernels["linear_act"]

    def blocked(x):
        arr = ti.ndarray(V, shape=(n, points // LANES, WIDTH))
        arr.from_numpy(np.ascontiguousarray(
            x.reshape(n, points // LANES, LANES, WIDTH).transpose(0, 1, 3, 2)))
        return arr

    def unblocked(arr):
        return arr.to_numpy().transpose(0, 1, 3, 2).reshape(n, points, WIDTH)

    b.v[0].from_numpy(v)
    b.spec[0].from_numpy(spec)
    b.v[1].grad.from_numpy(out_grad)
    dense(b.v[0], b.spec[0], b.v[1], 0)
    dense.grad(b.v[0], b.spec[0], b.v[1], 0)  # (zeroes the output's gradient)
    ref = (b.v[1].to_numpy(), b.v[0].grad.to_numpy(), b.spec[0].grad.to_numpy(),
           W.grad.to_numpy()[0])
    v16, spec16, grad16 = blocked(v), blocked(spec), blocked(out_grad)
    out16, v_grad16, spec_grad16 = (blocked(np.zeros_like(v)) for _ in range(3))
    parts = ti.ndarray(V, shape=(PARTS, WIDTH, WIDTH))
    forward, adjoint, weight_gradient = kernels(W, Wb)

    def blocked_forward():
        forward(v16, spec16, out16, 0)

    def blocked_adjoint():
        parts.fill(0)
        adjoint(v16, spec16, grad16, v_grad16, spec_grad16, parts, 0)
        weight_gradient(parts, 0)

    W.grad.fill(0)
    with loader._vector_mode():  # as tidal launches its lane kernels
        blocked_forward()
        blocked_adjoint()
    got = (unblocked(out16), unblocked(v_grad16), unblocked(spec_grad16), W.grad.to_numpy()[0])
    for name, g, r in zip(("output", "input gradient", "spectral gradient", "weight gradient"),
                          got, ref):
        err = float(np.abs(g - r).max() / np.abs(r).max())
        print(f"{name}: largest difference {err:.1e} of the largest value")
        assert err < 1e-5, name
    print(f"{args.grid} x {args.grid} grid, {n} fields, width {WIDTH}, float32, "
          f"{args.threads} thread(s); ms per launch, median of 10, alternated:")
    for _ in range(args.repeat):
        tf = median_ms(lambda: dense(b.v[0], b.spec[0], b.v[1], 0))
        ta = median_ms(lambda: dense.grad(b.v[0], b.spec[0], b.v[1], 0))
        with loader._vector_mode():
            bf = median_ms(blocked_forward)
            ba = median_ms(blocked_adjoint)
        print(f"forward: tidal {tf:.2f}, blocked {bf:.2f} ({tf / bf:.1f}x); "
              f"adjoint: tidal {ta:.2f}, blocked {ba:.2f} ({ta / ba:.1f}x)")


if __name__ == "__main__":
    main()
