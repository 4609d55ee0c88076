"""Branches that update a component of a vector local: ``w = v[i]; if w[0] > 0: w[1] = 3.0 *
w[1]``, then a second branch on the updated vector.
"""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 6
v0 = np.array([[0.5, 1.0], [-0.5, 2.0], [1.5, -1.0], [-2.0, -0.5], [0.25, 0.75], [-1.0, 3.0]])


def _expected():
    w = v0.copy()
    pos = w[:, 0] > 0
    w[pos, 1] *= 3.0
    neg = w[:, 1] < 0
    w[neg, 0] = w[neg, 0] * w[neg, 1]
    g = np.zeros_like(v0)
    # loss = sum(w0 + w1 ** 2)
    for i in range(n):
        s = 3.0 if pos[i] else 1.0
        w1 = s * v0[i, 1]
        if neg[i]:
            # w0 = v0 * w1: d/dv0 = w1, d/dv1 = v0 * s
            g[i] = [w1, v0[i, 0] * s + 2 * w1 * s]
        else:
            g[i] = [1.0, 2 * w1 * s]
    return w, g


_W, _G = _expected()
EXPECTED = {"loss": float(np.sum(_W[:, 0] + _W[:, 1] ** 2)), "outputs": [_W], "grads": [_G]}


def build(kernel, Tape):
    real = ti.f64
    v = ti.Vector.field(2, real, shape=n, needs_grad=True)
    out = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    v.from_numpy(v0)

    @kernel
    def transform():
        for i in range(n):
            w = v[i]
            if w[0] > 0:
                w[1] = 3.0 * w[1]
            if w[1] < 0:
                w[0] = w[0] * w[1]
            out[i] = w

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i][0] + out[i][1] ** 2

    def run():
        transform()
        compute_loss()

    return Program(params=[v], loss=loss, run=run, outputs=[out])
