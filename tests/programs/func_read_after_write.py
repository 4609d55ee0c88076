"""A typed helper ``get(i) -> ti.f64`` reading a field, called after and before the kernel
writes that field.

``update`` stores ``F[i] = a[i] + 1.0`` and then reads ``get(i)``: the read must see the new
value. ``swap_out`` reads ``b = get(i)``, stores ``F[i] = 5.0`` and then writes ``b``: it must be
the old value.
"""

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n = 4
a0 = np.array([0.5, -1.0, 2.0, 0.25])

# out = a + 1 (new value), out2 = a + 1 (old value before F = 5); loss = sum(out**2 + out2**3)
EXPECTED = {
    "loss": float(np.sum((a0 + 1.0) ** 2 + (a0 + 1.0) ** 3)),
    "outputs": [a0 + 1.0, a0 + 1.0, np.full(n, 5.0)],
    "grads": [2.0 * (a0 + 1.0) + 3.0 * (a0 + 1.0) ** 2],
}


def build(kernel, Tape):
    real = ti.f64
    a = ti.field(real, shape=n, needs_grad=True)
    F = ti.field(real, shape=n, needs_grad=True)
    out = ti.field(real, shape=n, needs_grad=True)
    out2 = ti.field(real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    a.from_numpy(a0)

    @ti.func
    def get(i) -> ti.f64:
        return F[i]

    @kernel
    def update():
        for i in range(n):
            F[i] = a[i] + 1.0
            out[i] = get(i)

    @kernel
    def swap_out():
        for i in range(n):
            b = get(i)
            F[i] = 5.0
            out2[i] = b

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i] ** 2 + out2[i] ** 3

    def reset():
        F.fill(0.0)

    def run():
        update()
        swap_out()
        compute_loss()

    return Program(params=[a], loss=loss, run=run, outputs=[out, out2, F], reset=reset)
