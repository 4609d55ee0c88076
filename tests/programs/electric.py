"""A charged particle steered along a moving goal by a network that sets the strengths of fixed
charges around it.

As in DiffTaichi's electric example, the network of step ``t`` reads ``x[t]`` and ``v[t]``
before ``advance(t)`` overwrites them (so it sees what the previous run left there; ``reset``
fills them with a known stale state, so every run computes the same function).

Idioms: network layers as kernels (``ti.static`` loop over the inputs, a dynamic loop over the
hidden neurons); ``ti.Vector(positions[i])`` from a Python list inside ``ti.static`` loops;
``ti.atomic_add(loss[None], ...)`` at the top level of a kernel; ``for _ in range(1)``.
"""

import math

import numpy as np
import taichi as ti

from . import Program, rng

# nn1(t) reads x[t] and v[t], which advance(t) overwrites later in the same step: ti.ad.Tape
# runs nn1's adjoint with the overwritten values.
TAICHI_WRONG = "nn1(t) reads x[t], v[t], which advance(t) overwrites afterwards"

n_charges = 4
n_hidden = 6
n_inputs = 6
steps = 10
dt = 0.03
damping = 0.2
K = 1e-3
pad = 0.1
positions = [[pad, pad], [pad, 1 - pad], [1 - pad, 1 - pad], [1 - pad, pad]]


def build(kernel, Tape):
    real = ti.f64
    r = rng("electric")
    x = ti.Vector.field(2, real, shape=steps + 1, needs_grad=True)
    v = ti.Vector.field(2, real, shape=steps + 1, needs_grad=True)
    goal = ti.Vector.field(2, real, shape=steps + 1)
    hidden = ti.field(real, shape=(n_hidden, steps + 1), needs_grad=True)
    strength = ti.field(real, shape=(n_charges, steps + 1), needs_grad=True)
    weight1 = ti.field(real, shape=(n_inputs, n_hidden), needs_grad=True)
    bias1 = ti.field(real, shape=n_hidden, needs_grad=True)
    weight2 = ti.field(real, shape=(n_hidden, n_charges), needs_grad=True)
    bias2 = ti.field(real, shape=n_charges, needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    weight1.from_numpy(r.normal(0.0, 1.0, (n_inputs, n_hidden)))
    bias1.from_numpy(r.normal(0.0, 0.3, n_hidden))
    weight2.from_numpy(r.normal(0.0, 1.0, (n_hidden, n_charges)))
    bias2.from_numpy(r.normal(0.0, 0.3, n_charges))
    goal.from_numpy(np.array([[0.3 + 0.02 * t, 0.6 - 0.01 * t] for t in range(steps + 1)]))
    stale_x = r.uniform(0.3, 0.7, (steps + 1, 2))
    stale_v = r.normal(0.0, 0.3, (steps + 1, 2))
    stale_x[0] = [0.35, 0.45]
    stale_v[0] = [0.1, 0.0]

    @kernel
    def nn1(t: ti.i32):
        for i in range(n_hidden):
            s = 0.0
            s += (x[t][0] - 0.5) * weight1[0, i]
            s += (x[t][1] - 0.5) * weight1[1, i]
            s += v[t][0] * weight1[2, i]
            s += v[t][1] * weight1[3, i]
            s += (goal[t][0] - 0.5) * weight1[4, i]
            s += (goal[t][1] - 0.5) * weight1[5, i]
            s += bias1[i]
            hidden[i, t] = ti.tanh(s)

    @kernel
    def nn2(t: ti.i32):
        for i in range(n_charges):
            s = 0.0
            for j in range(n_hidden):
                s += hidden[j, t] * weight2[j, i]
            s += bias2[i]
            strength[i, t] = ti.tanh(s)

    @kernel
    def advance(t: ti.i32):
        for _ in range(1):
            force = ti.Vector([0.0, 0.0])
            for i in ti.static(range(n_charges)):
                d = x[t - 1] - ti.Vector(positions[i])
                len_d = ti.max(d.norm(), 1e-1)
                force += K * strength[i, t] / (len_d * len_d * len_d) * d
            v[t] = v[t - 1] * math.exp(-dt * damping) + dt * force * 100.0
            x[t] = x[t - 1] + dt * v[t]

    @kernel
    def compute_loss(t: ti.i32):
        ti.atomic_add(loss[None], dt * (x[t] - goal[t]).norm_sqr())

    def reset():
        x.from_numpy(stale_x)
        v.from_numpy(stale_v)

    def run():
        for t in range(1, steps + 1):
            nn1(t)
            nn2(t)
            advance(t)
            compute_loss(t)

    return Program(params=[weight1, bias1, weight2, bias2], loss=loss, run=run,
                   outputs=[x, v, hidden, strength], reset=reset)
