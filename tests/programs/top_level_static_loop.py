"""A ``ti.static`` loop at the top level of a kernel (unrolled serial statements, as Taichi
allows), copying the components of a vector state into a row of features."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

steps = 3


def build(kernel, Tape):
    real = ti.f64
    pos = ti.Vector.field(2, real, shape=steps, needs_grad=True)
    feat = ti.field(real, shape=(steps, 4), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    pos.from_numpy(np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]))

    @kernel
    def features(t: ti.i32):
        for k in ti.static(range(2)):
            feat[t, k] = pos[t][k]
            feat[t, k + 2] = ti.sin(pos[t][k])

    @kernel
    def compute_loss():
        for t, k in ti.ndrange(steps, 4):
            loss[None] += feat[t, k] ** 2 * (k + 1)

    def run():
        for t in range(steps):
            features(t)
        compute_loss()

    return Program(params=[pos], loss=loss, run=run, outputs=[feat])
