"""The 2-D wave equation by finite differences in time and space: the loss matches the field
after a few steps to a target, and the parameter is the initial displacement.

Idioms: an untyped helper returning a conditional expression with chained comparisons
(``p[t, i, j] if 0 <= i < n_grid and 0 <= j < n_grid else 0.0``), called five times from
another untyped helper; a two-level leapfrog reading ``p[t - 1]`` and ``p[t - 2]``.
"""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n_grid = 10
dx = 1.0 / n_grid
inv_dx2 = 1.0 / (dx * dx)
c = 1.0
alpha = 0.02
dt = 0.4 * dx / c
steps = 8


def build(kernel, Tape):
    real = ti.f64
    r = rng("wave")
    p = ti.field(real, shape=(steps + 1, n_grid, n_grid), needs_grad=True)
    initial = ti.field(real, shape=(n_grid, n_grid), needs_grad=True)
    target = ti.field(real, shape=(n_grid, n_grid))
    loss = ti.field(real, shape=(), needs_grad=True)
    initial.from_numpy(r.normal(0.0, 1.0, (n_grid, n_grid)))
    target.from_numpy(r.normal(0.0, 1.0, (n_grid, n_grid)))

    @ti.func
    def get_p(t, i, j):
        # the indices are clamped: Taichi evaluates both sides of a conditional expression, and
        # the adjoint of an out-of-bounds read adds 0.0 outside the field, which flushes the
        # denormal-looking pointers it may hit to zero (tidal reads only the chosen side)
        ic = ti.min(ti.max(i, 0), n_grid - 1)
        jc = ti.min(ti.max(j, 0), n_grid - 1)
        return p[t, ic, jc] if 0 <= i < n_grid and 0 <= j < n_grid else 0.0

    @ti.func
    def laplacian(t, i, j):
        return inv_dx2 * (-4 * get_p(t, i, j) + get_p(t, i, j - 1) + get_p(t, i, j + 1)
                          + get_p(t, i + 1, j) + get_p(t, i - 1, j))

    @kernel
    def initialize():
        for i in range(n_grid):
            for j in range(n_grid):
                p[0, i, j] = initial[i, j]
                p[1, i, j] = initial[i, j]

    @kernel
    def fdtd(t: ti.i32):
        for i in range(n_grid):
            for j in range(n_grid):
                laplacian_p = laplacian(t - 2, i, j)
                laplacian_q = laplacian(t - 1, i, j)
                p[t, i, j] = 2 * p[t - 1, i, j] + (c * c * dt * dt + c * alpha * dt) * \
                    laplacian_q - p[t - 2, i, j] - c * alpha * dt * laplacian_p

    @kernel
    def compute_loss(t: ti.i32):
        for i in range(n_grid):
            for j in range(n_grid):
                loss[None] += dx * dx * (target[i, j] - p[t, i, j]) ** 2

    def run():
        initialize()
        for t in range(2, steps + 1):
            fdtd(t)
        compute_loss(steps)

    return Program(params=[initial], loss=loss, run=run, outputs=[p])
