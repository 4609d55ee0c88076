"""A Python-scope store inside the tape: the forward pass resets an accumulator with
``centroid[None] = [0, 0]`` from Python before the kernel that accumulates into it (as
DiffTaichi's forward functions do for ``x_avg`` and the initial positions)."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 4


def build(kernel, Tape):
    real = ti.f64
    x = ti.Vector.field(2, real, shape=n, needs_grad=True)
    centroid = ti.Vector.field(2, real, shape=(), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(np.array([[0.5, 1.0], [1.5, -0.5], [-1.0, 2.0], [0.25, 0.75]]))

    @kernel
    def accumulate():
        for i in range(n):
            centroid[None] += x[i] * x[i][1] / n

    @kernel
    def compute_loss():
        loss[None] = centroid[None].norm_sqr()

    def run():
        centroid[None] = [0, 0]
        accumulate()
        compute_loss()

    return Program(params=[x], loss=loss, run=run, outputs=[centroid])
