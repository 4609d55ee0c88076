"""``v.normalized(eps)`` and ``ti.Vector.normalized(v, eps)``: unit directions between
points, with the epsilon argument."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 5


def build(kernel, Tape):
    real = ti.f64
    r = rng("normalized_eps")
    p = ti.Vector.field(2, real, shape=n, needs_grad=True)
    out = ti.Vector.field(2, real, shape=n, needs_grad=True)
    out2 = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    p.from_numpy(r.normal(0.0, 1.0, (n, 2)))

    @kernel
    def directions():
        for i in range(n):
            d = p[(i + 1) % n] - p[i]
            out[i] = d.normalized(1e-6)
            out2[i] = ti.Vector.normalized(d + p[i], 1e-6)

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i][0] * (i + 1) + out[i][1] ** 3 + out2[i][0] * out2[i][1]

    def run():
        directions()
        compute_loss()

    return Program(params=[p], loss=loss, run=run, outputs=[out, out2])
