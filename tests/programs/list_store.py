"""List stores: ``g[i, j] = [0, 0]`` (integer literals into a float vector field) followed by
``+=``, and ``h[i] = [a[i], a[i] * a[i]]``."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 4


def build(kernel, Tape):
    real = ti.f64
    r = rng("list_store")
    a = ti.field(real, shape=n, needs_grad=True)
    g = ti.Vector.field(2, real, shape=(n, n), needs_grad=True)
    h = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    a.from_numpy(r.normal(0.0, 1.0, n))

    @kernel
    def fill():
        for i, j in ti.ndrange(n, n):
            g[i, j] = [0, 0]
            g[i, j] += ti.Vector([a[i], a[j] * a[i]])
        for i in range(n):
            h[i] = [a[i], a[i] * a[i]]

    @kernel
    def compute_loss():
        for i, j in ti.ndrange(n, n):
            loss[None] += g[i, j][1] * h[i][1] + g[i, j][0] * h[j][0]

    def run():
        fill()
        compute_loss()

    return Program(params=[a], loss=loss, run=run, outputs=[g, h])
