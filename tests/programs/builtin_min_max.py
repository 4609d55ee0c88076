"""Python's builtin ``min`` and ``max`` inside Taichi scope (as DiffTaichi's billiards writes
``min(-1e-3, projected_v)`` and ``min(toi - dt, 0)``)."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 5
dt = 0.01


def build(kernel, Tape):
    real = ti.f64
    gap = ti.field(real, shape=n, needs_grad=True)
    pv = ti.field(real, shape=n, needs_grad=True)
    out = ti.field(real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    gap.from_numpy(np.array([-0.02, -0.001, 0.01, -0.03, -0.005]))
    pv.from_numpy(np.array([-0.5, -0.0005, -1.0, 0.2, -2.0]))

    @ti.func
    def time_of_impact(g, v):
        toi = g / min(-1e-3, v)
        return min(toi - dt, 0) + max(g, -0.01)

    @kernel
    def impacts():
        for i in range(n):
            out[i] = time_of_impact(gap[i], pv[i])

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i] * (i + 1) + out[i] ** 2

    def run():
        impacts()
        compute_loss()

    return Program(params=[gap, pv], loss=loss, run=run, outputs=[out])
