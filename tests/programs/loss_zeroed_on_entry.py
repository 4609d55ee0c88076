"""A loss accumulated with ``+=``, the tape run several times without zeroing it by hand:
``ti.ad.Tape`` zeroes the loss (and the gradients) on entry, so every run gives 14, not 14, 28,
42 (the harness runs each tape three times and requires the same loss and gradients)."""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

x0 = np.array([1.0, 2.0, 3.0])
EXPECTED = {"loss": 14.0, "grads": [2.0 * x0]}


def build(kernel, Tape):
    real = ti.f64
    x = ti.field(real, shape=3, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(x0)

    @kernel
    def compute_loss():
        for i in x:
            loss[None] += x[i] * x[i]

    def run():
        compute_loss()

    return Program(params=[x], loss=loss, run=run, outputs=[])
