"""``ti.static`` loops: unrolled over a stencil given as Python lists of offsets and weights,
and nested static loops over vector components."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 8
offsets = [-1, 0, 1]
weights = [0.25, 0.5, 0.25]


def build(kernel, Tape):
    real = ti.f64
    r = rng("static_loops")
    u = ti.field(real, shape=n, needs_grad=True)
    y = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    u.from_numpy(r.normal(0.0, 1.0, n))

    @kernel
    def stencil():
        for i in range(n):
            s = ti.Vector([0.0, 0.0])
            for k in ti.static(range(3)):
                j = (i + offsets[k] + n) % n
                for c in ti.static(range(2)):
                    s[c] += weights[k] * u[j] ** (c + 1)
            y[i] = s

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += y[i][0] * y[i][1]

    def run():
        stencil()
        compute_loss()

    return Program(params=[u], loss=loss, run=run, outputs=[y])
