"""Untyped ``@ti.func`` helpers: one returning a vector, one returning a tuple, one calling
another; a chain of masses pulled by springs.
"""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n = 5
steps = 6
dt = 0.05


def build(kernel, Tape):
    real = ti.f64
    r = rng("untyped_func_helpers")
    x = ti.Vector.field(2, real, shape=(steps + 1, n), needs_grad=True)
    v = ti.Vector.field(2, real, shape=(steps + 1, n), needs_grad=True)
    k = ti.field(real, shape=n - 1, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    k.from_numpy(r.uniform(1.0, 3.0, n - 1))
    x0 = [[0.3 * i, 0.1 * (i % 2)] for i in range(n)]

    @ti.func
    def spring_force(xa, xb, stiffness, rest):
        d = xa - xb
        length = d.norm()
        return -stiffness * (length - rest) / length * d

    @ti.func
    def split(d):
        return d[0], d[1]

    @ti.func
    def force_on(t, i):
        f = ti.Vector([0.0, -1.0])
        if i > 0:
            f += spring_force(x[t, i], x[t, i - 1], k[i - 1], 0.25)
        if i < n - 1:
            f += spring_force(x[t, i], x[t, i + 1], k[i], 0.25)
        return f

    @kernel
    def step(t: ti.i32):
        for i in range(n):
            fx, fy = split(force_on(t, i))
            v[t + 1, i] = v[t, i] + dt * ti.Vector([fx, fy])
            x[t + 1, i] = x[t, i] + dt * v[t + 1, i]

    @kernel
    def compute_loss():
        for i in range(n):
            loss[None] += x[steps, i][1] ** 2 + 0.5 * x[steps, i][0]

    def reset():
        xs = x.to_numpy() * 0.0
        xs[0] = x0
        x.from_numpy(xs)
        v.fill(0.0)

    def run():
        for t in range(steps):
            step(t)
        compute_loss()

    return Program(params=[k], loss=loss, run=run, outputs=[x, v], reset=reset)
