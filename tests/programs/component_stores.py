"""Two component stores into one vector element: ``v[i, j][0] = ...; v[i, j][1] = ...``."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 5


def build(kernel, Tape):
    real = ti.f64
    r = rng("component_stores")
    p = ti.field(real, shape=(n, n), needs_grad=True)
    v = ti.Vector.field(2, real, shape=(n, n), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    p.from_numpy(r.normal(0.0, 1.0, (n, n)))

    @kernel
    def gradient():
        for i in range(n):
            for j in range(n):
                v[i, j][0] = p[(i + 1) % n, j] - p[i, j]
                v[i, j][1] = p[i, (j + 1) % n] * p[i, j]

    @kernel
    def compute_loss():
        for i, j in ti.ndrange(n, n):
            loss[None] += v[i, j][0] ** 2 + v[i, j][1]

    def run():
        gradient()
        compute_loss()

    return Program(params=[p], loss=loss, run=run, outputs=[v])
