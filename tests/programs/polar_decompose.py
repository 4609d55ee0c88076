"""``ti.polar_decompose`` of 2x2 matrices: a corotated energy of deformation gradients."""

import numpy as np
import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 5


def build(kernel, Tape):
    real = ti.f64
    r = rng("polar_decompose")
    F = ti.Matrix.field(2, 2, real, shape=n, needs_grad=True)
    R = ti.Matrix.field(2, 2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    F.from_numpy(np.eye(2)[None] + r.normal(0.0, 0.3, (n, 2, 2)))

    @kernel
    def energy():
        for i in range(n):
            r, s = ti.polar_decompose(F[i])
            R[i] = r
            d = F[i] - r
            loss[None] += (d * d).sum() + 0.1 * s[0, 1] * s[1, 1] + r[1, 0]

    def run():
        energy()

    return Program(params=[F], loss=loss, run=run, outputs=[R])
