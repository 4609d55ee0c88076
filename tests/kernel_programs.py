"""Kernel programs for the differentiable-kernel tests.

Each program allocates its fields, initialises its parameters from a seeded generator and
returns a :class:`Program`: the parameters whose gradients are checked, the loss, and ``run``,
which launches the program's kernels through a ``launch(kernel, *args)`` callable (so the same
program runs with tidal's kernels or with Taichi's own kernels compiled from the same source).

``taichi`` records what ``ti.ad.Tape`` (Taichi 1.7.4) does with the program: ``"agrees"``,
``"wrong"`` (silently wrong gradients) or ``"refuses"`` (raises), or ``"n/a"`` (ndarray
arguments or constructs Taichi's Tape cannot run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl import runtime


def real():
    """The float type of the programs' fields: the active default (f64 on the CPU tests, f32
    on Vulkan, whose math functions are 32-bit)."""
    return ti.f32 if runtime.config().default_fp.name == "f32" else ti.f64


@dataclass
class Program:
    params: list
    loss: object
    run: Callable
    reset: Callable  # initial state, set from Python before each run (outside any tape)
    arrays: dict | None = None  # ndarray parameters by name (Taichi ndarrays)


PROGRAMS: dict[str, tuple[Callable[[], Program], str]] = {}


def program(taichi: str):
    def deco(make):
        PROGRAMS[make.__name__] = (make, taichi)
        return make
    return deco


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))


def _field(shape, values=None, n=None, m=None, needs_grad=True):
    if n is None:
        f = ti.field(real(), shape=shape, needs_grad=needs_grad)
    elif m is None:
        f = ti.Vector.field(n, real(), shape=shape, needs_grad=needs_grad)
    else:
        f = ti.Matrix.field(n, m, real(), shape=shape, needs_grad=needs_grad)
    if values is not None:
        f.from_numpy(np.asarray(values, dtype=np.float64))
    return f


def _loss():
    return ti.field(real(), shape=(), needs_grad=True)


# ---------------------------------------------------------------------------------------------


@program("agrees")
def elementwise_two_kernels():
    n = 6
    x = _field(n, _rng("a").uniform(-1, 1, n))
    y = _field(n)
    loss = _loss()

    @td.kernel
    def compute_y():
        for i in range(n):
            y[i] = ti.sin(x[i]) * x[i] + ti.exp(0.3 * x[i])

    @td.kernel
    def compute_loss():
        for i in range(n):
            loss[None] += y[i] ** 2

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(compute_y)
        launch(compute_loss)

    return Program([x], loss, run, reset)


@program("agrees")
def struct_for_over_field():
    n = 5
    x = _field(n, _rng("b").uniform(0.5, 1.5, n))
    w = _field(n, _rng("b2").uniform(-1, 1, n))
    loss = _loss()

    @td.kernel
    def energy():
        for i in x:
            loss[None] += w[i] * ti.log(x[i]) + x[i] * x[i] * w[i] * w[i]

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(energy)

    return Program([x, w], loss, run, reset)


@program("agrees")
def ndrange_2d():
    n, m = 3, 4
    a = _field(n, _rng("c").uniform(-1, 1, n))
    b = _field(m, _rng("c2").uniform(-1, 1, m))
    z = _field((n, m))
    loss = _loss()

    @td.kernel
    def outer():
        for i, j in ti.ndrange(n, m):
            z[i, j] = ti.tanh(a[i] * b[j] + 0.1 * i)

    @td.kernel
    def total():
        for i, j in ti.ndrange((0, n), (1, m)):
            loss[None] += z[i, j] * z[i, j - 1]

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(outer)
        launch(total)

    return Program([a, b], loss, run, reset)


@program("agrees")
def vector_field_norms():
    n = 4
    p = _field(n, _rng("d").uniform(-1, 1, (n, 3)), n=3)
    loss = _loss()

    @td.kernel
    def energy():
        for i in range(n - 1):
            d = p[i + 1] - p[i]
            loss[None] += (d.norm() - 0.5) ** 2 + p[i].dot(ti.Vector([1.0, 0.5, -0.25]))

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(energy)

    return Program([p], loss, run, reset)


@program("agrees")
def matrix_field_products():
    n = 3
    rng = _rng("e")
    mat = _field(n, rng.uniform(-1, 1, (n, 2, 2)), n=2, m=2)
    v = _field(n, rng.uniform(-1, 1, (n, 2)), n=2)
    out = _field(n, n=2)
    loss = _loss()

    @td.kernel
    def apply():
        for i in range(n):
            out[i] = mat[i] @ v[i] + mat[i].transpose() @ v[i] * 0.5

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += out[i].norm_sqr() + mat[i].determinant()

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(apply)
        launch(total)

    return Program([mat, v], loss, run, reset)


@program("n/a")
def ndarray_arguments():
    n = 5
    a = ti.ndarray(real(), shape=n, needs_grad=True)
    a.from_numpy(_rng("f").uniform(-1, 1, n))
    b = ti.ndarray(real(), shape=n, needs_grad=True)
    b.from_numpy(_rng("f2").uniform(-1, 1, n))
    out = ti.ndarray(real(), shape=n, needs_grad=True)
    loss = ti.ndarray(real(), shape=1, needs_grad=True)

    @td.kernel
    def combine(x: ti.types.ndarray(), y: ti.types.ndarray(), o: ti.types.ndarray()):
        for i in range(x.shape[0]):
            o[i] = x[i] * ti.cos(y[i]) + y[i] * y[i]

    @td.kernel
    def reduce(o: ti.types.ndarray(), s: ti.types.ndarray()):
        for i in range(o.shape[0]):
            s[0] += o[i] ** 3

    def reset():
        loss[0] = 0.0

    def run(launch):
        launch(combine, a, b, out)
        launch(reduce, out, loss)

    return Program([a, b], loss, run, reset, arrays={"a": a, "b": b})


@program("agrees")
def shared_accumulation_atomics():
    n, bins = 12, 3
    x = _field(n, _rng("g").uniform(-1, 1, n))
    scale = _field((), 1.3)
    hist = _field(bins)
    loss = _loss()

    @td.kernel
    def bucket():
        for i in range(n):
            hist[i % bins] += scale[None] * x[i] * x[i]

    @td.kernel
    def total():
        for k in range(bins):
            loss[None] += ti.sqrt(hist[k] + 1.0) * (k + 1.0)

    def reset():
        loss[None] = 0.0
        hist.fill(0.0)

    def run(launch):
        launch(bucket)
        launch(total)

    return Program([x, scale], loss, run, reset)


@program("wrong")
def overwrite_in_place_across_launches():
    n = 4
    x_init = _rng("h").uniform(0.5, 1.5, n)
    x = _field(n)
    a = _field(n, _rng("h2").uniform(0.5, 1.5, n))
    loss = _loss()

    @td.kernel
    def scale():
        for i in range(n):
            x[i] = x[i] * a[i] + ti.sin(x[i])

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += x[i]

    def reset():
        loss[None] = 0.0
        x.from_numpy(x_init)

    def run(launch):
        for _ in range(3):
            launch(scale)
        launch(total)

    return Program([a], loss, run, reset)


@program("wrong")
def augmented_multiply_in_place():
    n = 4
    x_init = _rng("i").uniform(0.5, 1.5, n)
    x = _field(n)
    a = _field(n, _rng("i2").uniform(0.5, 1.5, n))
    loss = _loss()

    @td.kernel
    def mul():
        for i in range(n):
            x[i] *= a[i]

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += x[i] * x[i]

    def reset():
        loss[None] = 0.0
        x.from_numpy(x_init)

    def run(launch):
        launch(mul)
        launch(mul)
        launch(total)

    return Program([a], loss, run, reset)


@program("agrees")
def dynamic_loop_nonlinear_state():
    n, k = 3, 5
    a = _field(k, _rng("j").uniform(0.5, 1.2, k))
    x0 = _field(n, _rng("j2").uniform(0.5, 1.0, n))
    loss = _loss()

    @td.kernel
    def product():
        for i in range(n):
            z = x0[i]
            for t in range(k):
                z = z * a[t] + 0.1 * ti.sin(z)
            loss[None] += z

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(product)

    return Program([a, x0], loss, run, reset)


@program("refuses")
def newton_iteration_while():
    n = 4
    c = _field(n, _rng("k").uniform(1.0, 3.0, n))
    loss = _loss()

    @td.kernel
    def solve():
        for i in range(n):
            x = c[i]
            it = 0
            while it < 8:
                x = x - (x * x * x - c[i]) / (3.0 * x * x)
                it += 1
            loss[None] += x * (i + 1.0)

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(solve)

    return Program([c], loss, run, reset)


@program("refuses")
def break_and_continue():
    n = 3
    a = _field(6, _rng("l").uniform(0.5, 1.0, 6))
    x = _field(n, _rng("l2").uniform(0.2, 0.8, n))
    loss = _loss()

    @td.kernel
    def run_loop():
        for i in range(n):
            acc = x[i]
            for t in range(6):
                if t == 1:
                    continue
                if t >= 4:
                    break
                acc = acc * a[t] + acc * acc * 0.1
            loss[None] += acc

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(run_loop)

    return Program([a, x], loss, run, reset)


def _spring_chain(n_masses, steps, stiffness_seed="m"):
    """A chain of masses joined by springs, integrated with symplectic Euler."""
    n_springs = n_masses - 1
    dt = 0.01
    rng = _rng(stiffness_seed)
    k = _field(n_springs, rng.uniform(20.0, 40.0, n_springs))
    x = _field((steps + 1, n_masses), np.zeros((steps + 1, n_masses)))
    v = _field((steps + 1, n_masses), np.zeros((steps + 1, n_masses)))
    f = _field((steps, n_masses))
    x0 = np.linspace(0.0, 1.0, n_masses) + rng.uniform(-0.05, 0.05, n_masses)
    loss = _loss()

    @td.kernel
    def forces(t: ti.i32):
        for s in range(n_springs):
            d = x[t, s + 1] - x[t, s]
            fs = k[s] * (d - 1.0 / n_springs)
            f[t, s] += fs
            f[t, s + 1] -= fs

    @td.kernel
    def advance(t: ti.i32):
        for i in range(n_masses):
            vi = v[t, i] * 0.99 + dt * f[t, i]
            v[t + 1, i] = vi
            x[t + 1, i] = x[t, i] + dt * vi

    @td.kernel
    def total():
        for i in range(n_masses):
            loss[None] += (x[steps, i] - i * 1.0 / n_masses) ** 2

    def reset():
        loss[None] = 0.0
        f.fill(0.0)
        xs = np.zeros((steps + 1, n_masses))
        xs[0] = x0
        x.from_numpy(xs)
        v.fill(0.0)

    def run(launch):
        for t in range(steps):
            launch(forces, t)
            launch(advance, t)
        launch(total)

    return Program([k], loss, run, reset)


@program("agrees")
def mass_spring_rollout_120_steps():
    return _spring_chain(6, 120)


@program("wrong")
def rollout_overwriting_state_in_place():
    n, steps, dt = 4, 100, 0.05
    rng = _rng("n")
    k = _field(n, rng.uniform(0.5, 2.0, n))
    x = _field(n)
    v = _field(n)
    loss = _loss()
    x_init = rng.uniform(-1, 1, n)

    @td.kernel
    def step():
        for i in range(n):
            v[i] = v[i] - dt * k[i] * ti.sin(x[i])
            x[i] = x[i] + dt * v[i]

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += x[i] * x[i] + 0.1 * v[i]

    def reset():
        loss[None] = 0.0
        x.from_numpy(x_init)
        v.fill(0.0)

    def run(launch):
        for _ in range(steps):
            launch(step)
        launch(total)

    return Program([k], loss, run, reset)


W_IN = 2
W_HID = 4


def _mlp_fields(rng):
    w0 = _field((W_HID, W_IN), rng.normal(size=(W_HID, W_IN)))
    w1 = _field(W_HID, rng.normal(size=W_HID) / 2)
    return w0, w1


@program("wrong")
def kernel_calls_function_with_weights():
    rng = _rng("o")
    w0, w1 = _mlp_fields(rng)
    n = 6
    pts = _field((n, 2), rng.uniform(-1, 1, (n, 2)), needs_grad=False)
    loss = _loss()

    @td.func
    def net(a: float, b: float) -> float:
        out = 0.0
        for j in range(W_HID):
            out += w1[j] * ti.tanh(w0[j, 0] * a + w0[j, 1] * b)
        return out

    @td.kernel
    def fit():
        for i in range(n):
            r = net(pts[i, 0], pts[i, 1]) - ti.sin(pts[i, 0])
            loss[None] += r * r

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(fit)

    return Program([w0, w1], loss, run, reset)


@program("agrees")
def template_and_scalar_arguments():
    n = 5
    rng = _rng("p")
    x = _field(n, rng.uniform(-1, 1, n))
    y = _field(n)
    loss = _loss()

    @td.kernel
    def affine(src: ti.template(), dst: ti.template(), alpha: float, shift: ti.i32):
        for i in range(n):
            dst[i] = alpha * ti.exp(src[(i + shift) % n])

    @td.kernel
    def total(src: ti.template()):
        for i in range(n):
            loss[None] += src[i] * (i + 1.0)

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(affine, x, y, 0.7, 2)
        launch(total, y)

    return Program([x], loss, run, reset)


@program("wrong")
def serial_time_loop_inside_kernel():
    steps, n = 30, 3
    rng = _rng("q")
    k = _field(n, rng.uniform(0.5, 2.0, n))
    x = _field((steps + 1, n))
    loss = _loss()
    x_init = rng.uniform(-1, 1, n)

    @td.kernel
    def rollout():
        ti.loop_config(serialize=True)
        for t in range(steps):
            for i in range(n):
                x[t + 1, i] = x[t, i] - 0.05 * k[i] * ti.sin(x[t, i])

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += x[steps, i] ** 2

    def reset():
        loss[None] = 0.0
        xs = np.zeros((steps + 1, n))
        xs[0] = x_init
        x.from_numpy(xs)

    def run(launch):
        launch(rollout)
        launch(total)

    return Program([k], loss, run, reset)


@program("agrees")
def branches_in_kernel():
    n = 8
    x = _field(n, _rng("r").uniform(-1, 1, n))
    loss = _loss()

    @td.kernel
    def piecewise():
        for i in range(n):
            v = x[i]
            if v > 0.1:
                loss[None] += v * v * v
            elif v < -0.1:
                loss[None] += ti.sin(v)
            else:
                loss[None] += 2.0 * v

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(piecewise)

    return Program([x], loss, run, reset)


@program("agrees")
def vector_component_writes():
    n = 3
    rng = _rng("s")
    a = _field(n, rng.uniform(-1, 1, n))
    p = _field(n, n=2)
    loss = _loss()

    @td.kernel
    def build():
        for i in range(n):
            p[i][0] = a[i] * 2.0
            p[i][1] = ti.cos(a[i])

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += p[i].x * p[i].y

    def reset():
        loss[None] = 0.0
        p.fill(0.0)

    def run(launch):
        launch(build)
        launch(total)

    return Program([a], loss, run, reset)


@program("agrees")
def atomic_call_forms():
    n = 6
    x = _field(n, _rng("t").uniform(-1, 1, n))
    acc = _field(2)
    loss = _loss()

    @td.kernel
    def gather():
        for i in range(n):
            ti.atomic_add(acc[0], x[i] * x[i])
            ti.atomic_sub(acc[1], ti.exp(x[i]))

    @td.kernel
    def total():
        loss[None] += acc[0] * acc[1]

    def reset():
        loss[None] = 0.0
        acc.fill(0.0)

    def run(launch):
        launch(gather)
        launch(total)

    return Program([x], loss, run, reset)


@program("agrees")
def stencil_diffusion_rollout():
    n, steps = 8, 20
    rng = _rng("u")
    kappa = _field((), 0.2)
    u0 = _field(n, rng.uniform(0, 1, n))
    u = _field((steps + 1, n))
    loss = _loss()

    @td.kernel
    def init():
        for i in range(n):
            u[0, i] = u0[i]

    @td.kernel
    def diffuse(t: ti.i32):
        for i in range(1, n - 1):
            u[t + 1, i] = u[t, i] + kappa[None] * (u[t, i - 1] - 2.0 * u[t, i] + u[t, i + 1])

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += (u[steps, i] - 0.5) ** 2

    def reset():
        loss[None] = 0.0
        u.fill(0.0)

    def run(launch):
        launch(init)
        for t in range(steps):
            launch(diffuse, t)
        launch(total)

    return Program([kappa, u0], loss, run, reset)


@program("agrees")
def heat_2d_ndrange_rollout():
    n, steps = 6, 10
    rng = _rng("v")
    alpha = _field((), 0.15)
    u = _field((steps + 1, n, n))
    sensors = _field(n, rng.uniform(0, 1, n), needs_grad=False)
    loss = _loss()
    start = np.zeros((steps + 1, n, n))
    start[0] = rng.uniform(0, 1, (n, n))

    @td.kernel
    def step(t: ti.i32):
        for i, j in ti.ndrange((1, n - 1), (1, n - 1)):
            lap = u[t, i - 1, j] + u[t, i + 1, j] + u[t, i, j - 1] + u[t, i, j + 1] \
                - 4.0 * u[t, i, j]
            u[t + 1, i, j] = u[t, i, j] + alpha[None] * lap

    @td.kernel
    def total():
        for i in range(n):
            loss[None] += (u[steps, i, n // 2] - sensors[i]) ** 2

    def reset():
        loss[None] = 0.0
        u.from_numpy(start)

    def run(launch):
        for t in range(steps):
            launch(step, t)
        launch(total)

    return Program([alpha], loss, run, reset)


@program("wrong")
def intermediate_field_without_gradient_storage():
    n = 5
    x = _field(n, _rng("w").uniform(-1, 1, n))
    tmp = _field(n, needs_grad=False)
    loss = _loss()

    @td.kernel
    def first():
        for i in range(n):
            tmp[i] = ti.exp(x[i])

    @td.kernel
    def second():
        for i in range(n):
            loss[None] += tmp[i] * x[i]

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(first)
        launch(second)

    return Program([x], loss, run, reset)


@program("agrees")
def nested_serial_loops_in_parallel_body():
    n, m = 4, 3
    rng = _rng("x")
    a = _field((n, m), rng.uniform(-1, 1, (n, m)))
    b = _field(m, rng.uniform(-1, 1, m))
    loss = _loss()

    @td.kernel
    def matvec():
        for i in range(n):
            s = 0.0
            for j in range(m):
                s += a[i, j] * b[j]
            loss[None] += ti.tanh(s) ** 2

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(matvec)

    return Program([a, b], loss, run, reset)


@program("agrees")
def vector_field_spring_network():
    n = 4
    rng = _rng("y")
    pos = _field(n, rng.uniform(-1, 1, (n, 2)), n=2)
    rest = _field(n, rng.uniform(0.5, 1.0, n), needs_grad=False)
    stiff = _field(n, rng.uniform(1.0, 2.0, n))
    loss = _loss()

    @td.kernel
    def energy():
        for s in range(n):
            a = s
            b = (s + 1) % n
            d = pos[b] - pos[a]
            l = d.norm()
            loss[None] += 0.5 * stiff[s] * (l - rest[s]) ** 2

    def reset():
        loss[None] = 0.0

    def run(launch):
        launch(energy)

    return Program([pos, stiff], loss, run, reset)
