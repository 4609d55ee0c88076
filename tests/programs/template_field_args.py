"""``ti.template()`` field arguments: one smoothing kernel ``blur(src, dst)`` storing into
``dst[i, j]`` inside nested loops, launched on different field pairs.
"""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 6


def build(kernel, Tape):
    real = ti.f64
    r = rng("template_field_args")
    a = ti.field(real, shape=(n, n), needs_grad=True)
    b = ti.field(real, shape=(n, n), needs_grad=True)
    c = ti.field(real, shape=(n, n), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    a.from_numpy(r.normal(0.0, 1.0, (n, n)))

    @kernel
    def blur(src: ti.template(), dst: ti.template(), weight: ti.f64):
        for i in range(n):
            for j in range(n):
                s = src[i, j]
                if i > 0:
                    s += weight * src[i - 1, j]
                if j + 1 < n:
                    s += weight * ti.sin(src[i, j + 1])
                dst[i, j] = s

    @kernel
    def compute_loss(f: ti.template()):
        for i, j in ti.ndrange(n, n):
            loss[None] += f[i, j] ** 2

    def run():
        blur(a, b, 0.5)
        blur(b, c, 0.25)
        compute_loss(c)

    return Program(params=[a], loss=loss, run=run, outputs=[b, c])
