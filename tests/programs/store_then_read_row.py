"""A state vector updated in place of the next time row: ``s[t + 1, i + 2] = ...`` (velocity
half) and then ``s[t + 1, i] = s[t, i] + dt * s[t + 1, i + 2]`` (position half), the
semi-implicit Euler step written over one field."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

steps = 4
dt = 0.1


def build(kernel, Tape):
    real = ti.f64
    s = ti.field(real, shape=(steps + 1, 4), needs_grad=True)
    u = ti.field(real, shape=(steps, 2), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    u.from_numpy(np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.6], [0.2, 0.2]]))

    @kernel
    def advance(t: ti.i32):
        for i in range(2):
            s[t + 1, i + 2] = s[t, i + 2] + dt * ti.sin(u[t, i])
            s[t + 1, i] = s[t, i] + dt * s[t + 1, i + 2]

    @kernel
    def compute_loss():
        loss[None] = (s[steps, 0] - 1.0) ** 2 + s[steps, 1] ** 2

    def reset():
        s.fill(0.0)
        s[0, 0] = 0.2
        s[0, 3] = 0.3

    def run():
        for t in range(steps):
            advance(t)
        compute_loss()

    return Program(params=[u], loss=loss, run=run, outputs=[s], reset=reset)
