"""A controller network written as kernels looping over neurons (dynamic loops over the
inputs of each neuron, tanh activations), steering a point mass for a few steps."""

import taichi as ti

from . import Program, rng

TAICHI_WRONG = None

n_in = 4
n_hidden = 8
n_out = 2
steps = 5
dt = 0.1


def build(kernel, Tape):
    real = ti.f64
    r = rng("mlp_controller")
    w1 = ti.field(real, shape=(n_hidden, n_in), needs_grad=True)
    b1 = ti.field(real, shape=n_hidden, needs_grad=True)
    w2 = ti.field(real, shape=(n_out, n_hidden), needs_grad=True)
    b2 = ti.field(real, shape=n_out, needs_grad=True)
    pos = ti.Vector.field(2, real, shape=steps + 1, needs_grad=True)
    vel = ti.Vector.field(2, real, shape=steps + 1, needs_grad=True)
    inputs = ti.field(real, shape=(steps, n_in), needs_grad=True)
    hidden = ti.field(real, shape=(steps, n_hidden), needs_grad=True)
    u = ti.field(real, shape=(steps, n_out), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    w1.from_numpy(r.normal(0.0, 0.7, (n_hidden, n_in)))
    b1.from_numpy(r.normal(0.0, 0.2, n_hidden))
    w2.from_numpy(r.normal(0.0, 0.7, (n_out, n_hidden)))
    b2.from_numpy(r.normal(0.0, 0.2, n_out))

    @kernel
    def sense(t: ti.i32):
        for _ in range(1):
            for k in ti.static(range(2)):
                inputs[t, k] = pos[t][k]
                inputs[t, k + 2] = vel[t][k]

    @kernel
    def layer1(t: ti.i32):
        for i in range(n_hidden):
            s = b1[i]
            for j in range(n_in):
                s += w1[i, j] * inputs[t, j]
            hidden[t, i] = ti.tanh(s)

    @kernel
    def layer2(t: ti.i32):
        for i in range(n_out):
            s = b2[i]
            for j in range(n_hidden):
                s += w2[i, j] * hidden[t, j]
            u[t, i] = ti.tanh(s)

    @kernel
    def advance(t: ti.i32):
        for _ in range(1):
            vel[t + 1] = vel[t] + dt * ti.Vector([u[t, 0], u[t, 1]])
            pos[t + 1] = pos[t] + dt * vel[t + 1]

    @kernel
    def compute_loss():
        loss[None] = (pos[steps][0] - 1.0) ** 2 + (pos[steps][1] + 0.5) ** 2

    def reset():
        pos.fill(0.0)
        vel.fill(0.0)
        pos[0] = [0.2, -0.1]
        vel[0] = [0.0, 0.3]

    def run():
        for t in range(steps):
            sense(t)
            layer1(t)
            layer2(t)
            advance(t)
        compute_loss()

    return Program(params=[w1, b1, w2, b2], loss=loss, run=run, outputs=[pos, vel, hidden, u],
                   reset=reset)
