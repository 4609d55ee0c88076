"""Two 2-D boxes joined by an actuated spring fall onto the ground: corner collisions with
impulse-based contact and friction, time of impact, and the impulses applied by a helper that
writes the increment fields.

Idioms: untyped ``@ti.func`` helpers returning a matrix and a tuple (``to_world``); a helper that
writes fields (``x_inc[t + 1, i] += ...``) called as a statement; corners in a ``ti.static``
loop with integer vectors; 2-D ``cross``; nested ``if`` blocks dividing by
``ti.min(corner_v[1], -1e-3)``.
"""

import math

import numpy as np
import taichi as ti

from . import Program

TAICHI_WRONG = None

n_objects = 2
steps = 16
dt = 0.004
ground = 0.1
gravity = -9.8
friction = 0.8
elasticity = 0.2
damping = 1.0
goal = [0.6, 0.2]


def build(kernel, Tape):
    real = ti.f64

    def vec(shape):
        return ti.Vector.field(2, real, shape=shape, needs_grad=True)

    def scalar(shape):
        return ti.field(real, shape=shape, needs_grad=True)

    x, v, x_inc, v_inc = (vec((steps + 2, n_objects)) for _ in range(4))
    rotation, omega, rotation_inc, omega_inc = (scalar((steps + 2, n_objects)) for _ in range(4))
    halfsize = vec(n_objects)
    inverse_mass = scalar(n_objects)
    inverse_inertia = scalar(n_objects)
    init_v = vec(n_objects)
    init_omega = scalar(n_objects)
    stiffness = scalar(())
    phase = scalar(())
    spring_offset = ti.Vector.field(2, real, shape=2)
    loss = scalar(())

    halfsize.from_numpy(np.array([[0.05, 0.03], [0.04, 0.035]]))
    init_v.from_numpy(np.array([[0.6, -1.0], [0.3, -1.2]]))
    init_omega.from_numpy(np.array([0.5, -0.8]))
    stiffness[None] = 60.0
    phase[None] = 0.3
    spring_offset.from_numpy(np.array([[0.05, 0.0], [-0.05, 0.0]]))

    @ti.func
    def rotation_matrix(r):
        return ti.Matrix([[ti.cos(r), -ti.sin(r)], [ti.sin(r), ti.cos(r)]])

    @ti.func
    def to_world(t, i, rela_x):
        rot = rotation_matrix(rotation[t, i])
        rela_pos = rot @ rela_x
        rela_v = omega[t, i] * ti.Vector([-rela_pos[1], rela_pos[0]])
        return x[t, i] + rela_pos, v[t, i] + rela_v, rela_pos

    @ti.func
    def apply_impulse(t, i, impulse, location, toi_input):
        delta_v = impulse * inverse_mass[i]
        delta_omega = (location - x[t, i]).cross(impulse) * inverse_inertia[i]
        toi = ti.min(ti.max(0.0, toi_input), dt)
        x_inc[t + 1, i] += toi * (-delta_v)
        rotation_inc[t + 1, i] += toi * (-delta_omega)
        v_inc[t + 1, i] += delta_v
        omega_inc[t + 1, i] += delta_omega

    @kernel
    def initialize():
        for i in range(n_objects):
            inverse_mass[i] = 1.0 / (4 * halfsize[i][0] * halfsize[i][1])
            inverse_inertia[i] = 1.0 / (4 / 3 * halfsize[i][0] * halfsize[i][1] * (
                halfsize[i][0] * halfsize[i][0] + halfsize[i][1] * halfsize[i][1]))
            v[0, i] = init_v[i]
            omega[0, i] = init_omega[i]

    @kernel
    def collide(t: ti.i32):
        for i in range(n_objects):
            hs = halfsize[i]
            for k in ti.static(range(4)):
                offset_scale = ti.Vector([k % 2 * 2 - 1, k // 2 % 2 * 2 - 1])
                corner_x, corner_v, rela_pos = to_world(t, i, offset_scale * hs)
                corner_v = corner_v + dt * gravity * ti.Vector([0.0, 1.0])
                normal = ti.Vector([0.0, 1.0])
                tao = ti.Vector([1.0, 0.0])
                rn = rela_pos.cross(normal)
                rt = rela_pos.cross(tao)
                impulse_contribution = inverse_mass[i] + rn ** 2 * inverse_inertia[i]
                timpulse_contribution = inverse_mass[i] + rt ** 2 * inverse_inertia[i]
                rela_v_ground = normal.dot(corner_v)
                impulse = 0.0
                timpulse = 0.0
                new_corner_x = corner_x + dt * corner_v
                toi = 0.0
                if rela_v_ground < 0 and new_corner_x[1] < ground:
                    impulse = -(1 + elasticity) * rela_v_ground / impulse_contribution
                    if impulse > 0:
                        timpulse = -corner_v.dot(tao) / timpulse_contribution
                        timpulse = ti.min(friction * impulse, ti.max(-friction * impulse,
                                                                     timpulse))
                        if corner_x[1] > ground:
                            toi = -(corner_x[1] - ground) / ti.min(corner_v[1], -1e-3)
                apply_impulse(t, i, impulse * normal + timpulse * tao, new_corner_x, toi)

    @kernel
    def apply_spring_force(t: ti.i32):
        for _ in range(1):
            pos_a, vel_a, rela_a = to_world(t, 0, spring_offset[0])
            pos_b, vel_b, rela_b = to_world(t, 1, spring_offset[1])
            dist = pos_a - pos_b
            length = dist.norm() + 1e-4
            target = 0.12 * (1.0 + 0.3 * ti.sin(40.0 * t * dt + phase[None]))
            impulse = dt * (length - target) * stiffness[None] / length * dist
            apply_impulse(t, 0, -impulse, pos_a, 0.0)
            apply_impulse(t, 1, impulse, pos_b, 0.0)

    @kernel
    def advance(t: ti.i32):
        for i in range(n_objects):
            s = math.exp(-dt * damping)
            v[t, i] = s * v[t - 1, i] + v_inc[t, i] + dt * gravity * ti.Vector([0.0, 1.0])
            x[t, i] = x[t - 1, i] + dt * v[t, i] + x_inc[t, i]
            omega[t, i] = s * omega[t - 1, i] + omega_inc[t, i]
            rotation[t, i] = rotation[t - 1, i] + dt * omega[t, i] + rotation_inc[t, i]

    @kernel
    def compute_loss(t: ti.i32):
        loss[None] = (x[t, 0] - ti.Vector(goal)).norm_sqr() + 0.1 * rotation[t, 1] ** 2

    def reset():
        for f in (x, v, x_inc, v_inc, rotation, omega, rotation_inc, omega_inc):
            f.fill(0.0)
        x[0, 0] = [0.3, 0.16]
        x[0, 1] = [0.42, 0.18]
        rotation[0, 0] = 0.2
        rotation[0, 1] = -0.1

    def run():
        initialize()
        for t in range(1, steps + 1):
            collide(t - 1)
            apply_spring_force(t - 1)
            advance(t)
        compute_loss(steps)

    return Program(params=[init_v, init_omega, halfsize, stiffness, phase], loss=loss, run=run,
                   outputs=[x, v, rotation, omega], reset=reset)
