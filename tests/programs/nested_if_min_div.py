"""Nested ``if`` blocks computing an impulse and a time of impact divided by
``ti.min(cv[1], -1e-3)``, as rigid-body corner contact does."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 6
dt = 0.01
ground = 0.0
friction = 0.5


def build(kernel, Tape):
    real = ti.f64
    cx = ti.Vector.field(2, real, shape=n, needs_grad=True)
    cv = ti.Vector.field(2, real, shape=n, needs_grad=True)
    out = ti.Vector.field(2, real, shape=n, needs_grad=True)
    toi_out = ti.field(real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    cx.from_numpy(np.array([[0.0, 0.005], [0.1, -0.002], [0.2, 0.02], [0.3, 0.003],
                            [0.4, 0.001], [0.5, 0.004]]))
    cv.from_numpy(np.array([[0.3, -1.0], [0.1, -0.5], [0.2, -0.3], [-0.4, 0.2], [0.8, -0.7],
                            [-0.2, -0.9]]))

    @kernel
    def contact():
        for i in range(n):
            new_x = cx[i] + dt * cv[i]
            impulse = 0.0
            timpulse = 0.0
            toi = 0.0
            if cv[i][1] < 0 and new_x[1] < ground:
                impulse = -1.5 * cv[i][1]
                if impulse > 0:
                    timpulse = ti.min(friction * impulse, ti.max(-friction * impulse,
                                                                 -cv[i][0]))
                    if cx[i][1] > ground:
                        toi = -(cx[i][1] - ground) / ti.min(cv[i][1], -1e-3)
            out[i] = ti.Vector([timpulse, impulse])
            toi_out[i] = toi

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i][0] * out[i][1] + out[i][1] ** 2 + 10.0 * toi_out[i]

    def run():
        contact()
        compute_loss()

    return Program(params=[cx, cv], loss=loss, run=run, outputs=[out, toi_out])
