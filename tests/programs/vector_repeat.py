"""``ti.Vector([0.0] * n)``: a zero vector built from a repeated Python list, accumulated in a
``ti.static`` loop."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 4
dim = 3


def build(kernel, Tape):
    real = ti.f64
    r = rng("vector_repeat")
    x = ti.Vector.field(dim, real, shape=n, needs_grad=True)
    c = ti.Vector.field(dim, real, shape=(), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(r.normal(0.0, 1.0, (n, dim)))

    @kernel
    def centroid():
        for _ in range(1):
            s = ti.Vector([0.0] * dim)
            for i in ti.static(range(n)):
                s += x[i] * x[i][0]
            c[None] = s / n

    @kernel
    def compute_loss():
        loss[None] = c[None].norm_sqr() + c[None][2]

    def run():
        centroid()
        compute_loss()

    return Program(params=[x], loss=loss, run=run, outputs=[c])
