"""Billiards: a cue ball strikes a small rack; the loss is where the last ball ends up.

Idioms: an untyped helper ``collide_pair`` that writes ``x_inc[t + 1, i] += ...`` and
``impulse[t + 1, i] += ...``, called as a statement from loops whose bounds depend on the outer
index (``range(i)``, ``range(i + 1, n)``); ``dist.normalized(1e-6)``; time of impact
``(dist_norm - 2 * radius) / ti.min(-1e-3, projected_v)``; a plain ``@ti.kernel`` clearing the
increments before each run.
"""

import taichi as ti

from . import Program

TAICHI_WRONG = None

n_balls = 4
steps = 40
dt = 0.003
radius = 0.03
elasticity = 0.8
goal = [0.75, 0.52]
target_ball = n_balls - 1


def build(kernel, Tape):
    real = ti.f64
    x = ti.Vector.field(2, real, shape=(steps + 1, n_balls), needs_grad=True)
    v = ti.Vector.field(2, real, shape=(steps + 1, n_balls), needs_grad=True)
    x_inc = ti.Vector.field(2, real, shape=(steps + 1, n_balls), needs_grad=True)
    impulse = ti.Vector.field(2, real, shape=(steps + 1, n_balls), needs_grad=True)
    init_x = ti.Vector.field(2, real, shape=(), needs_grad=True)
    init_v = ti.Vector.field(2, real, shape=(), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    init_x[None] = [0.3, 0.5]
    init_v[None] = [2.5, 0.15]

    @ti.func
    def collide_pair(t, i, j):
        imp = ti.Vector([0.0, 0.0])
        x_inc_contrib = ti.Vector([0.0, 0.0])
        if i != j:
            dist = (x[t, i] + dt * v[t, i]) - (x[t, j] + dt * v[t, j])
            dist_norm = dist.norm()
            rela_v = v[t, i] - v[t, j]
            if dist_norm < 2 * radius:
                direction = dist.normalized(1e-6)
                projected_v = direction.dot(rela_v)
                if projected_v < 0:
                    imp = -(1 + elasticity) * 0.5 * projected_v * direction
                    toi = (dist_norm - 2 * radius) / ti.min(-1e-3, projected_v)
                    x_inc_contrib = ti.min(toi - dt, 0.0) * imp
        x_inc[t + 1, i] += x_inc_contrib
        impulse[t + 1, i] += imp

    @kernel
    def collide(t: ti.i32):
        for i in range(n_balls):
            for j in range(i):
                collide_pair(t, i, j)
        for i in range(n_balls):
            for j in range(i + 1, n_balls):
                collide_pair(t, i, j)

    @kernel
    def advance(t: ti.i32):
        for i in range(n_balls):
            v[t, i] = v[t - 1, i] + impulse[t, i]
            x[t, i] = x[t - 1, i] + dt * v[t, i] + x_inc[t, i]

    @kernel
    def initialize():
        x[0, 0] = init_x[None]
        v[0, 0] = init_v[None]

    @kernel
    def compute_loss(t: ti.i32):
        loss[None] = (x[t, target_ball][0] - goal[0]) ** 2 + (x[t, target_ball][1] - goal[1]) ** 2

    @ti.kernel
    def clear():
        for t, i in ti.ndrange(steps + 1, n_balls):
            impulse[t, i] = ti.Vector([0.0, 0.0])
            x_inc[t, i] = ti.Vector([0.0, 0.0])

    def reset():
        clear()
        x.fill(0.0)
        v.fill(0.0)
        x[0, 1] = [0.4, 0.52]
        x[0, 2] = [0.455, 0.49]
        x[0, 3] = [0.455, 0.555]

    def run():
        initialize()
        for t in range(1, steps + 1):
            collide(t - 1)
            advance(t)
        compute_loss(steps)

    return Program(params=[init_x, init_v], loss=loss, run=run, outputs=[x, v], reset=reset)
