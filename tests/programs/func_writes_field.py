"""A helper that writes a field, called as a statement: ``add_impulse(i, d)`` does
``imp[i] += d`` for both balls of every close pair (as collision code does).
"""

import numpy as np
import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 6
radius = 0.3


def build(kernel, Tape):
    real = ti.f64
    r = rng("func_writes_field")
    x = ti.field(real, shape=n, needs_grad=True)
    imp = ti.field(real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(np.array([0.25 * i + 0.05 * r.uniform() for i in range(n)]))

    @ti.func
    def add_impulse(i, d):
        imp[i] += d

    @kernel
    def collide():
        for i in range(n):
            for j in range(i + 1, n):
                gap = x[j] - x[i]
                if gap < radius:
                    push = (radius - gap) ** 2
                    add_impulse(i, -push)
                    add_impulse(j, push)

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += (x[i] + imp[i]) ** 2 * (i + 1)

    def reset():
        imp.fill(0.0)

    def run():
        collide()
        compute_loss()

    return Program(params=[x], loss=loss, run=run, outputs=[imp], reset=reset)
