"""MLS-MPM in 2-D: a block of neo-Hookean-like material thrown at the floor, with one grid
reused by every substep and cleared by a plain ``@ti.kernel`` between substeps (inside the tape).

Idioms: ``ti.polar_decompose``; ``ti.Matrix.diag(dim=2, val=1)`` and ``ti.Matrix.diag(2, la *
(J - 1) * J)`` with a runtime value; a Python list of vectors ``w = [...]`` indexed in
``ti.static`` loops; scatter to ``grid_v_in[base + offset]`` (vector index); list stores
``grid_v_in[i, j] = [0, 0]`` in the clearing kernel; integer stores to vector components
(``v_out[1] = 0``) under boundary conditions; a Python-scope store ``x_avg[None] = [0, 0]``
inside the tape.
"""

import taichi as ti

from . import Program

# The grid is overwritten by every substep: ti.ad.Tape runs grid_op's adjoint with the grid
# masses and momenta of the last substep, not the ones grid_op read.
TAICHI_WRONG = "grid_op reads the reused grid, which later substeps overwrite"

dim = 2
n_side = 4
n_particles = n_side * n_side
n_grid = 12
dx = 1.0 / n_grid
inv_dx = float(n_grid)
dt = 2e-3
p_mass = 1.0
p_vol = 1.0
steps = 6
bound = 3
gravity = 9.8
target = [0.4, 0.3]


def build(kernel, Tape):
    real = ti.f64
    x = ti.Vector.field(dim, real, shape=(steps + 1, n_particles), needs_grad=True)
    v = ti.Vector.field(dim, real, shape=(steps + 1, n_particles), needs_grad=True)
    C = ti.Matrix.field(dim, dim, real, shape=(steps + 1, n_particles), needs_grad=True)
    F = ti.Matrix.field(dim, dim, real, shape=(steps + 1, n_particles), needs_grad=True)
    grid_v_in = ti.Vector.field(dim, real, shape=(n_grid, n_grid), needs_grad=True)
    grid_m_in = ti.field(real, shape=(n_grid, n_grid), needs_grad=True)
    grid_v_out = ti.Vector.field(dim, real, shape=(n_grid, n_grid), needs_grad=True)
    init_v = ti.Vector.field(dim, real, shape=(), needs_grad=True)
    E = ti.field(real, shape=(), needs_grad=True)
    x_avg = ti.Vector.field(dim, real, shape=(), needs_grad=True)
    loss = ti.field(real, shape=(), needs_grad=True)
    init_v[None] = [0.7, -1.5]
    E[None] = 40.0

    @kernel
    def set_v():
        for i in range(n_particles):
            v[0, i] = init_v[None]

    @ti.kernel
    def clear_grid():
        for i, j in grid_m_in:
            grid_v_in[i, j] = [0, 0]
            grid_m_in[i, j] = 0

    @kernel
    def p2g(f: ti.i32):
        for p in range(n_particles):
            base = ti.cast(x[f, p] * inv_dx - 0.5, ti.i32)
            fx = x[f, p] * inv_dx - ti.cast(base, real)
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_F = (ti.Matrix.diag(dim=2, val=1) + dt * C[f, p]) @ F[f, p]
            F[f + 1, p] = new_F
            J = new_F.determinant()
            r, s = ti.polar_decompose(new_F)
            mu = E[None]
            la = E[None]
            cauchy = 2 * mu * (new_F - r) @ new_F.transpose() + \
                ti.Matrix.diag(2, la * (J - 1) * J)
            stress = -(dt * p_vol * 4 * inv_dx * inv_dx) * cauchy
            affine = stress + p_mass * C[f, p]
            for i in ti.static(range(3)):
                for j in ti.static(range(3)):
                    offset = ti.Vector([i, j])
                    dpos = (ti.cast(ti.Vector([i, j]), real) - fx) * dx
                    weight = w[i][0] * w[j][1]
                    grid_v_in[base + offset] += weight * (p_mass * v[f, p] + affine @ dpos)
                    grid_m_in[base + offset] += weight * p_mass

    @kernel
    def grid_op():
        for i, j in ti.ndrange(n_grid, n_grid):
            inv_m = 1 / (grid_m_in[i, j] + 1e-10)
            v_out = inv_m * grid_v_in[i, j]
            v_out[1] -= dt * gravity
            if i < bound and v_out[0] < 0:
                v_out[0] = 0
            if i > n_grid - bound and v_out[0] > 0:
                v_out[0] = 0
            if j < bound and v_out[1] < 0:
                v_out[0] = 0
                v_out[1] = 0
            if j > n_grid - bound and v_out[1] > 0:
                v_out[1] = 0
            grid_v_out[i, j] = v_out

    @kernel
    def g2p(f: ti.i32):
        for p in range(n_particles):
            base = ti.cast(x[f, p] * inv_dx - 0.5, ti.i32)
            fx = x[f, p] * inv_dx - ti.cast(base, real)
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_v = ti.Vector([0.0, 0.0])
            new_C = ti.Matrix([[0.0, 0.0], [0.0, 0.0]])
            for i in ti.static(range(3)):
                for j in ti.static(range(3)):
                    dpos = ti.cast(ti.Vector([i, j]), real) - fx
                    g_v = grid_v_out[base[0] + i, base[1] + j]
                    weight = w[i][0] * w[j][1]
                    new_v += weight * g_v
                    new_C += 4 * weight * g_v.outer_product(dpos) * inv_dx
            v[f + 1, p] = new_v
            x[f + 1, p] = x[f, p] + dt * v[f + 1, p]
            C[f + 1, p] = new_C

    @kernel
    def compute_x_avg():
        for i in range(n_particles):
            x_avg[None] += (1 / n_particles) * x[steps, i]

    @kernel
    def compute_loss():
        dist = (x_avg[None] - ti.Vector(target)) ** 2
        loss[None] = 0.5 * (dist[0] + dist[1])

    def reset():
        xs = x.to_numpy() * 0.0
        Fs = F.to_numpy() * 0.0
        for i in range(n_side):
            for j in range(n_side):
                xs[0, i * n_side + j] = [0.33 + 0.021 * i, 0.262 + 0.021 * j]
                Fs[0, i * n_side + j] = [[1.0, 0.0], [0.0, 1.0]]
        x.from_numpy(xs)
        F.from_numpy(Fs)
        C.fill(0.0)

    def run():
        set_v()
        for s in range(steps):
            clear_grid()
            p2g(s)
            grid_op()
            g2p(s)
        x_avg[None] = [0, 0]
        compute_x_avg()
        compute_loss()

    return Program(params=[init_v, E], loss=loss, run=run, outputs=[x, v, C, F, grid_v_out],
                   reset=reset)
