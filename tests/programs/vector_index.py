"""Vector indices: particles scatter into and gather from ``grid[base + offset]``, with
``base`` an integer vector from ``ti.cast`` and ``offset = ti.Vector([i, j])``."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n_particles = 5
n_grid = 6
inv_dx = float(n_grid)


def build(kernel, Tape):
    real = ti.f64
    r = rng("vector_index")
    x = ti.Vector.field(2, real, shape=n_particles, needs_grad=True)
    m = ti.field(real, shape=n_particles, needs_grad=True)
    grid = ti.field(real, shape=(n_grid, n_grid), needs_grad=True)
    out = ti.field(real, shape=n_particles, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    x.from_numpy(r.uniform(0.2, 0.7, (n_particles, 2)))
    m.from_numpy(r.uniform(0.5, 1.5, n_particles))

    @kernel
    def p2g():
        for p in range(n_particles):
            base = ti.cast(x[p] * inv_dx - 0.5, ti.i32)
            fx = x[p] * inv_dx - ti.cast(base, real)
            for i in ti.static(range(2)):
                for j in ti.static(range(2)):
                    offset = ti.Vector([i, j])
                    w = (1.0 - ti.abs(fx[0] - i)) * (1.0 - ti.abs(fx[1] - j))
                    grid[base + offset] += w * m[p]

    @kernel
    def g2p():
        for p in range(n_particles):
            base = ti.cast(x[p] * inv_dx - 0.5, ti.i32)
            s = 0.0
            for i in ti.static(range(2)):
                for j in ti.static(range(2)):
                    s += grid[base + ti.Vector([i, j])] ** 2
            out[p] = s

    @kernel
    def compute_loss():
        for p in range(n_particles):
            loss[None] += out[p] * (p + 1)

    def reset():
        grid.fill(0.0)

    def run():
        p2g()
        g2p()
        compute_loss()

    return Program(params=[m], loss=loss, run=run, outputs=[grid, out], reset=reset)
