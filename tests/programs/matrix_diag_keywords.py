"""``ti.Matrix.diag(dim=..., val=...)`` by keyword (as DiffTaichi's MPM writes the identity
``ti.Matrix.diag(dim=2, val=1)``), with constant and runtime values."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 4


def build(kernel, Tape):
    real = ti.f64
    r = rng("matrix_diag_keywords")
    a = ti.field(real, shape=n, needs_grad=True)
    u = ti.Vector.field(2, real, shape=n, needs_grad=True)
    out = ti.Vector.field(2, real, shape=n, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    a.from_numpy(r.uniform(0.5, 1.5, n))
    u.from_numpy(r.normal(0.0, 1.0, (n, 2)))

    @kernel
    def apply():
        for i in range(n):
            J = a[i] * a[i]
            m = ti.Matrix.diag(dim=2, val=1) + a[i] * ti.Matrix.diag(dim=2, val=J - 1.0)
            out[i] = m @ u[i]

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += out[i].norm_sqr()

    def run():
        apply()
        compute_loss()

    return Program(params=[a, u], loss=loss, run=run, outputs=[out])
