"""A scalar accumulator cleared by a plain ``@ti.kernel`` at every step, inside the tape.

Each step clears ``acc``, adds ``w * x[t]`` into it and advances ``x[t + 1] = x[t] + acc``, so
``x[t] = (1 + w) ** t``. With w = 0.1, x[0] = 1 and five steps, the loss x[5] = 1.1 ** 5 and
d loss / d w = 5 * 1.1 ** 4 = 7.3205.
"""

import taichi as ti

from . import Program

TAICHI_WRONG = None

steps = 5

EXPECTED = {
    "loss": 1.1 ** 5,
    "outputs": [[1.1 ** t for t in range(steps + 1)]],
    "grads": [5 * 1.1 ** 4],
}


def build(kernel, Tape):
    real = ti.f64
    w = ti.field(real, shape=(), needs_grad=True)
    acc = ti.field(real, shape=(), needs_grad=True)
    x = ti.field(real, shape=steps + 1, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    w[None] = 0.1

    @ti.kernel
    def clear_acc():
        acc[None] = 0.0

    @kernel
    def step(t: ti.i32):
        acc[None] += w[None] * x[t]
        x[t + 1] = x[t] + acc[None]

    @kernel
    def compute_loss():
        loss[None] = x[steps]

    def reset():
        x.fill(0.0)
        x[0] = 1.0

    def run():
        for t in range(steps):
            clear_acc()
            step(t)
        compute_loss()

    return Program(params=[w], loss=loss, run=run, outputs=[x], reset=reset)
