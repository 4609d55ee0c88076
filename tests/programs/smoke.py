"""Smoke on a periodic grid: semi-Lagrangian advection of the velocity and of a density, a
Jacobi pressure solve and a projection; the loss matches the final density to a target, and the
parameter is the initial velocity field ``v[0]``.

Idioms: one advection kernel taking ``field: ti.template()``, ``field_out: ti.template()`` and an
integer ``t_offset: ti.template()``, storing into the template field inside nested loops (and
called with the same field as input and output: ``advect(smoke, smoke, 0, t)``); untyped integer
helpers with branches (``imod``, ``inc_index``, ``dec_index``); two component stores
``v[t, y, x][0] = ...; v[t, y, x][1] = ...``.
"""

import taichi as ti

from . import Param, Program, rng

TAICHI_WRONG = None

n_grid = 8
steps = 4
iters = 3
p_dims = iters + 1
dx = 1.0 / n_grid


def build(kernel, Tape):
    real = ti.f64
    r = rng("smoke")
    v = ti.Vector.field(2, real, shape=(steps, n_grid, n_grid), needs_grad=True)
    v_updated = ti.Vector.field(2, real, shape=(steps, n_grid, n_grid), needs_grad=True)
    smoke = ti.field(real, shape=(steps, n_grid, n_grid), needs_grad=True)
    div = ti.field(real, shape=(steps, n_grid, n_grid), needs_grad=True)
    p = ti.field(real, shape=(steps * p_dims, n_grid, n_grid), needs_grad=True)
    target = ti.field(real, shape=(n_grid, n_grid))
    loss = ti.field(real, shape=(), needs_grad=True)
    v0 = r.uniform(-0.9, 0.9, (n_grid, n_grid, 2))
    smoke0 = r.uniform(0.0, 1.0, (n_grid, n_grid))
    target.from_numpy(r.uniform(0.0, 1.0, (n_grid, n_grid)))

    @ti.func
    def imod(n, divisor):
        ret = n % divisor
        if ret < 0:
            ret += divisor
        return ret

    @ti.func
    def dec_index(index):
        new_index = index - 1
        if new_index < 0:
            new_index = n_grid - 1
        return new_index

    @ti.func
    def inc_index(index):
        new_index = index + 1
        if new_index >= n_grid:
            new_index = 0
        return new_index

    @kernel
    def compute_div(t: ti.i32):
        for y in range(n_grid):
            for x in range(n_grid):
                div[t, y, x] = -0.5 * dx * (v_updated[t, inc_index(y), x][0]
                                            - v_updated[t, dec_index(y), x][0]
                                            + v_updated[t, y, inc_index(x)][1]
                                            - v_updated[t, y, dec_index(x)][1])

    @kernel
    def compute_p(t: ti.i32, k: ti.i32):
        for y in range(n_grid):
            for x in range(n_grid):
                a = t * p_dims + k
                p[a + 1, y, x] = (div[t, y, x] + p[a, dec_index(y), x] + p[a, inc_index(y), x]
                                  + p[a, y, dec_index(x)] + p[a, y, inc_index(x)]) / 4.0

    @kernel
    def update_v(t: ti.i32):
        for y in range(n_grid):
            for x in range(n_grid):
                a = t * p_dims + iters
                v[t, y, x][0] = v_updated[t, y, x][0] - 0.5 * (
                    p[a, inc_index(y), x] - p[a, dec_index(y), x]) / dx
                v[t, y, x][1] = v_updated[t, y, x][1] - 0.5 * (
                    p[a, y, inc_index(x)] - p[a, y, dec_index(x)]) / dx

    @kernel
    def advect(field: ti.template(), field_out: ti.template(), t_offset: ti.template(),
               t: ti.i32):
        for y in range(n_grid):
            for x in range(n_grid):
                center_x = y - v[t + t_offset, y, x][0]
                center_y = x - v[t + t_offset, y, x][1]
                left_ix = ti.cast(ti.floor(center_x), ti.i32)
                top_ix = ti.cast(ti.floor(center_y), ti.i32)
                rw = center_x - left_ix
                bw = center_y - top_ix
                left_ix = imod(left_ix, n_grid)
                right_ix = inc_index(left_ix)
                top_ix = imod(top_ix, n_grid)
                bot_ix = inc_index(top_ix)
                field_out[t, y, x] = (1 - rw) * (
                    (1 - bw) * field[t - 1, left_ix, top_ix] + bw * field[t - 1, left_ix, bot_ix]
                ) + rw * ((1 - bw) * field[t - 1, right_ix, top_ix]
                          + bw * field[t - 1, right_ix, bot_ix])

    @kernel
    def compute_loss():
        for i in range(n_grid):
            for j in range(n_grid):
                loss[None] += (target[i, j] - smoke[steps - 1, i, j]) ** 2 * (1 / n_grid ** 2)

    vs = v.to_numpy()
    vs[0] = v0
    v.from_numpy(vs)

    def reset():
        for f in (v_updated, smoke, div, p):
            f.fill(0.0)
        vs = v.to_numpy()
        vs[1:] = 0.0
        v.from_numpy(vs)
        ss = smoke.to_numpy()
        ss[0] = smoke0
        smoke.from_numpy(ss)

    def run():
        for t in range(1, steps):
            advect(v, v_updated, -1, t)
            compute_div(t)
            for k in range(iters):
                compute_p(t, k)
            update_v(t)
            advect(smoke, smoke, 0, t)
        compute_loss()

    return Program(params=[Param(v, 0)], loss=loss, run=run, outputs=[v, smoke, p], reset=reset)
