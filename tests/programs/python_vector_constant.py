"""A kernel closing over a Python-scope ``ti.Vector`` constant (``gravity = ti.Vector([...])``
defined next to the fields), used directly and passed to a helper."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 3
steps = 4
dt = 0.1


def build(kernel, Tape):
    real = ti.f64
    x = ti.Vector.field(2, real, shape=(steps + 1, n), needs_grad=True)
    v0 = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    v0.from_numpy(np.array([[1.0, 0.5], [0.2, 2.0], [-0.5, 1.0]]))
    gravity = ti.Vector([0.0, -9.8])

    @ti.func
    def drift(p, t, g):
        return p + dt * v0[t] + 0.5 * dt * dt * g

    @kernel
    def advance(t: ti.i32):
        for i in range(n):
            x[t + 1, i] = drift(x[t, i], i, gravity) + t * dt * dt * gravity

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += x[steps, i].norm_sqr()

    def reset():
        x.fill(0.0)

    def run():
        for t in range(steps):
            advance(t)
        compute_loss()

    return Program(params=[v0], loss=loss, run=run, outputs=[x], reset=reset)
