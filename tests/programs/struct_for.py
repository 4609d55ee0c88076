"""Struct-for loops: ``for i in x:`` over a 1-D field and ``for i, j in g:`` over a 2-D one."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 5


def build(kernel, Tape):
    real = ti.f64
    r = rng("struct_for")
    x = ti.field(real, shape=n, needs_grad=True)
    g = ti.field(real, shape=(n, n), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(r.normal(0.0, 1.0, n))

    @kernel
    def outer():
        for i, j in g:
            g[i, j] = x[i] * ti.cos(x[j])

    @kernel
    def compute_loss():
        for i in x:
            loss[None] += x[i] * g[i, (i + 1) % n] + g[i, i] ** 2

    def run():
        outer()
        compute_loss()

    return Program(params=[x], loss=loss, run=run, outputs=[g])
