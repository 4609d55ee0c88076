"""Time-of-impact contact: a falling particle that would cross the ground within a step is
moved to the ground at the time of impact and continues with the new velocity:
``if old_v[1] < -1e-4: toi = -old_x[1] / old_v[1]; new_v = ti.Vector([...])`` and then
``old_x + toi * old_v + (dt - toi) * new_v``.
"""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 3
steps = 8
dt = 0.05
gravity = -9.8
restitution = 0.6


def build(kernel, Tape):
    real = ti.f64
    x = ti.Vector.field(2, real, shape=(steps + 1, n), needs_grad=True)
    v = ti.Vector.field(2, real, shape=(steps + 1, n), needs_grad=True)
    init_v = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    init_v.from_numpy(np.array([[0.5, -1.0], [0.2, -2.0], [-0.3, -0.5]]))
    x0 = [[0.1, 0.3], [0.4, 0.25], [0.7, 0.4]]

    @kernel
    def launch():
        for i in range(n):
            v[0, i] = init_v[i]

    @kernel
    def advance(t: ti.i32):
        for i in range(n):
            old_v = v[t - 1, i] + dt * gravity * ti.Vector([0.0, 1.0])
            old_x = x[t - 1, i]
            new_x = old_x + dt * old_v
            new_v = old_v
            toi = dt
            if new_x[1] < 0:
                if old_v[1] < -1e-4:
                    toi = -old_x[1] / old_v[1]
                    new_v = ti.Vector([old_v[0], -restitution * old_v[1]])
            v[t, i] = new_v
            x[t, i] = old_x + toi * old_v + (dt - toi) * new_v

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += x[steps, i][0] * x[steps, i][1] + x[steps, i][1] ** 2

    def reset():
        xs = x.to_numpy() * 0.0
        xs[0] = x0
        x.from_numpy(xs)

    def run():
        launch()
        for t in range(1, steps + 1):
            advance(t)
        compute_loss()

    return Program(params=[init_v], loss=loss, run=run, outputs=[x, v], reset=reset)
