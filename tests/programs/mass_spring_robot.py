"""A four-mass spring robot driven by a two-layer controller network, with time-of-impact
ground contact: it falls onto the ground while its springs are actuated.

Idioms: an untyped ``@ti.func`` summing positions in a ``ti.static`` loop into
``ti.Vector([0.0] * 2)``; network layers as kernels looping over neurons (the hidden layer with
``ti.static``, the output layer with a dynamic loop); ``ti.atomic_add`` of spring impulses into
``v_inc[t + 1, a]``; time-of-impact contact (``toi = -(old_x[1] - ground) / old_v[1]``, then
``old_x + toi * old_v + (dt - toi) * new_v``).
"""


import math

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n_objects = 4
springs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
n_springs = len(springs)
n_sin = 2
n_inputs = n_sin + 4 * n_objects
n_hidden = 4
steps = 14
dt = 0.004
ground = 0.1
gravity = -4.8
damping = 2.0
spring_omega = 10.0
head = 0


def build(kernel, Tape):
    real = ti.f64
    r = rng("mass_spring_robot")
    x = ti.Vector.field(2, real, shape=(steps + 1, n_objects), needs_grad=True)
    v = ti.Vector.field(2, real, shape=(steps + 1, n_objects), needs_grad=True)
    v_inc = ti.Vector.field(2, real, shape=(steps + 2, n_objects), needs_grad=True)
    center = ti.Vector.field(2, real, shape=steps + 1, needs_grad=True)
    anchor_a = ti.field(ti.i32, shape=n_springs)
    anchor_b = ti.field(ti.i32, shape=n_springs)
    rest_length = ti.field(real, shape=n_springs)
    stiffness = ti.field(real, shape=n_springs, needs_grad=True)
    weights1 = ti.field(real, shape=(n_hidden, n_inputs), needs_grad=True)
    bias1 = ti.field(real, shape=n_hidden, needs_grad=True)
    weights2 = ti.field(real, shape=(n_springs, n_hidden), needs_grad=True)
    bias2 = ti.field(real, shape=n_springs, needs_grad=True)
    hidden = ti.field(real, shape=(steps + 1, n_hidden), needs_grad=True)
    act = ti.field(real, shape=(steps + 1, n_springs), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)

    start = [[0.3, 0.12], [0.4, 0.12], [0.4, 0.22], [0.3, 0.22]]
    for k, (a, b) in enumerate(springs):
        anchor_a[k] = a
        anchor_b[k] = b
        dx = start[a][0] - start[b][0]
        dy = start[a][1] - start[b][1]
        rest_length[k] = math.sqrt(dx * dx + dy * dy)
    stiffness.from_numpy(r.uniform(80.0, 120.0, n_springs))
    weights1.from_numpy(r.normal(0.0, 0.6, (n_hidden, n_inputs)))
    bias1.from_numpy(r.normal(0.0, 0.2, n_hidden))
    weights2.from_numpy(r.normal(0.0, 0.6, (n_springs, n_hidden)))
    bias2.from_numpy(r.normal(0.0, 0.2, n_springs))

    @ti.func
    def mean_position(t):
        c = ti.Vector([0.0] * 2)
        for j in ti.static(range(n_objects)):
            c += x[t, j]
        return c / n_objects

    @kernel
    def compute_center(t: ti.i32):
        for _ in range(1):
            center[t] = mean_position(t)

    @kernel
    def nn1(t: ti.i32):
        for i in range(n_hidden):
            s = 0.0
            for j in ti.static(range(n_sin)):
                s += weights1[i, j] * ti.sin(spring_omega * t * dt + 2 * math.pi / n_sin * j)
            for j in ti.static(range(n_objects)):
                offset = x[t, j] - center[t]
                s += weights1[i, n_sin + 4 * j] * offset[0] * 5.0
                s += weights1[i, n_sin + 4 * j + 1] * offset[1] * 5.0
                s += weights1[i, n_sin + 4 * j + 2] * v[t, j][0] * 0.5
                s += weights1[i, n_sin + 4 * j + 3] * v[t, j][1] * 0.5
            s += bias1[i]
            hidden[t, i] = ti.tanh(s)

    @kernel
    def nn2(t: ti.i32):
        for i in range(n_springs):
            s = 0.0
            for j in range(n_hidden):
                s += weights2[i, j] * hidden[t, j]
            s += bias2[i]
            act[t, i] = ti.tanh(s)

    @kernel
    def apply_spring_force(t: ti.i32):
        for i in range(n_springs):
            a = anchor_a[i]
            b = anchor_b[i]
            dist = x[t, a] - x[t, b]
            length = dist.norm() + 1e-4
            target = rest_length[i] * (1.0 + 0.2 * act[t, i])
            impulse = dt * (length - target) * stiffness[i] / length * dist
            ti.atomic_add(v_inc[t + 1, a], -impulse)
            ti.atomic_add(v_inc[t + 1, b], impulse)

    @kernel
    def advance_toi(t: ti.i32):
        for i in range(n_objects):
            s = ti.exp(-dt * damping)
            old_v = s * v[t - 1, i] + dt * gravity * ti.Vector([0.0, 1.0]) + v_inc[t, i]
            old_x = x[t - 1, i]
            new_x = old_x + dt * old_v
            toi = 0.0
            new_v = old_v
            if new_x[1] < ground and old_v[1] < -1e-4:
                toi = -(old_x[1] - ground) / old_v[1]
                new_v = ti.Vector([0.0, 0.0])
            new_x = old_x + toi * old_v + (dt - toi) * new_v
            v[t, i] = new_v
            x[t, i] = new_x

    @kernel
    def compute_loss(t: ti.i32):
        loss[None] = -x[t, head][0] + (x[t, 2][1] - 0.25) ** 2

    def reset():
        xs = x.to_numpy() * 0.0
        vs = v.to_numpy() * 0.0
        for j in range(n_objects):
            xs[0, j] = start[j]
            vs[0, j] = [0.4, -1.6]
        x.from_numpy(xs)
        v.from_numpy(vs)
        v_inc.fill(0.0)

    def run():
        for t in range(1, steps + 1):
            compute_center(t - 1)
            nn1(t - 1)
            nn2(t - 1)
            apply_spring_force(t - 1)
            advance_toi(t)
        compute_loss(steps)

    return Program(params=[weights1, bias1, weights2, bias2, stiffness], loss=loss, run=run,
                   outputs=[x, v, act, hidden], reset=reset)
