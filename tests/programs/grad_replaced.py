"""Checkpointed substeps as in DiffTaichi's MPM: a substep over a reused grid is decorated
with ``ti.ad.grad_replaced``; its ``ti.ad.grad_for`` function clears the grid (values and
gradients, in a plain ``@ti.kernel``), recomputes the grid, and calls the kernels' ``.grad``
in reverse order."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n_particles = 4
n_cells = 5
steps = 3
dt = 0.1


def build(kernel, Tape):
    real = ti.f64
    r = rng("grad_replaced")
    x = ti.field(real, shape=(steps + 1, n_particles), needs_grad=True)
    m = ti.field(real, shape=n_particles, needs_grad=True)
    grid_m = ti.field(real, shape=n_cells, needs_grad=True)
    grid_v = ti.field(real, shape=n_cells, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    m.from_numpy(r.uniform(0.5, 1.5, n_particles))
    x0 = r.uniform(0.2, 0.8, n_particles)

    @ti.kernel
    def clear_grid():
        for i in grid_m:
            grid_m[i] = 0.0
            grid_m.grad[i] = 0.0
            grid_v.grad[i] = 0.0

    @kernel
    def scatter(t: ti.i32):
        for p in range(n_particles):
            cell = ti.cast(x[t, p] * n_cells, ti.i32)
            grid_m[cell] += m[p] * (1.0 + x[t, p])

    @kernel
    def grid_update():
        for i in range(n_cells):
            grid_v[i] = 1.0 / (1.0 + grid_m[i] * grid_m[i])

    @kernel
    def gather(t: ti.i32):
        for p in range(n_particles):
            cell = ti.cast(x[t, p] * n_cells, ti.i32)
            x[t + 1, p] = x[t, p] + dt * grid_v[cell]

    @kernel
    def compute_loss():
        for p in range(n_particles):
            loss[None] += x[steps, p] ** 2

    @ti.ad.grad_replaced
    def substep(t):
        clear_grid()
        scatter(t)
        grid_update()
        gather(t)

    @ti.ad.grad_for(substep)
    def substep_grad(t):
        clear_grid()
        scatter(t)
        grid_update()
        gather.grad(t)
        grid_update.grad()
        scatter.grad(t)

    def reset():
        xs = x.to_numpy() * 0.0
        xs[0] = x0
        x.from_numpy(xs)

    def run():
        for t in range(steps):
            substep(t)
        compute_loss()

    # substep_grad recomputes the grid of each step: after the tape it holds step 0's
    return Program(params=[m], loss=loss, run=run, outputs=[x, grid_v], reset=reset,
                   rewritten_by_backward=(1,))
