"""A grid reused by every substep and cleared by a plain ``@ti.kernel`` launched inside the
tape: particles scatter into the grid (``+=``), a grid kernel turns it nonlinearly into a
velocity, particles gather it back.
"""

import taichi as ti

from . import Program, rng

# grid_update reads grid_m, which the next substep's clear and scatter overwrite: ti.ad.Tape
# runs grid_update's adjoint with the last substep's grid.
TAICHI_WRONG = "grid_update reads the reused grid, which later substeps overwrite"

n_particles = 4
n_cells = 5
steps = 3
dt = 0.1


def build(kernel, Tape):
    real = ti.f64
    r = rng("plain_kernel_clear")
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

    def reset():
        xs = x.to_numpy() * 0.0
        xs[0] = x0
        x.from_numpy(xs)

    def run():
        for t in range(steps):
            clear_grid()
            scatter(t)
            grid_update()
            gather(t)
        compute_loss()

    return Program(params=[m], loss=loss, run=run, outputs=[x, grid_v], reset=reset)
