"""The test corpus: tidal functions covering the language subset, with input domains.

Every entry is a tidal function whose float parameters are scalars (vectors and matrices are built
and used inside), plus its sampling domain: ``(lo, hi)`` per float parameter, a fixed int per
integer parameter. Domains keep clear of kinks and branch boundaries so that finite differences
are a valid reference. ``taichi`` records what Taichi's own autodiff (``ti.ad.Tape``, 1.7.4)
does with the function's generated primal code: ``True`` agrees with tidal, ``"refuses"``
raises an error, ``"wrong"`` returns a gradient that is silently wrong, ``False`` not asked
(while loops and tidal-only primitives, which Taichi cannot differentiate).

``VECTOR_ENTRIES`` take vector or matrix parameters and are tested through jacobians/hessians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import taichi as ti

import tidal as td

# the default float type: real on the CPU tests, f32 on Vulkan (td.init's default_fp)
real = float
i32 = td.i32


@dataclass
class Entry:
    fn: td.TidalFunction
    domain: list
    taichi: bool = True
    tags: frozenset = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.fn.name

    def float_positions(self) -> list[int]:
        return [i for i, d in enumerate(self.domain) if isinstance(d, tuple)]

    def sample(self, n: int, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed + sum(map(ord, self.name)))
        out = []
        for d in self.domain:
            if isinstance(d, tuple):
                out.append(rng.uniform(d[0], d[1], n))
            else:
                out.append(np.full(n, d, dtype=np.int32))
        return out


ENTRIES: list[Entry] = []


def entry(*domain, taichi=True, tags=()):
    def deco(pyfunc):
        fn = td.func(pyfunc)
        ENTRIES.append(Entry(fn, list(domain), taichi, frozenset(tags)))
        return fn
    return deco


S = (-1.2, 1.2)      # generic scalar domain
P = (0.3, 2.0)       # positive domain
U = (-0.8, 0.8)      # inside (-1, 1)

# ---------------------------------------------------------------------------------------------
# scalar elementary functions and compositions


@entry(S, S)
def issue_example(x: real, y: real) -> real:
    return ti.sin(x * y) + x ** 3 / (1.0 + y * y)


@entry(S)
def poly5(x: real) -> real:
    return 3.0 * x ** 5 - 2.0 * x ** 3 + x - 7.0


@entry(S, S)
def products(x: real, y: real) -> real:
    return x * y * (x - y) * (x + 2.0 * y)


@entry(S, P)
def quotient(x: real, y: real) -> real:
    return (x * x + 1.0) / (y + x * x)


@entry(S)
def sin_cos(x: real) -> real:
    return ti.sin(2.0 * x) * ti.cos(x) - ti.cos(3.0 * x)


@entry(U, taichi="refuses")
def tan_f(x: real) -> real:
    return ti.tan(x) + x * ti.tan(0.5 * x)


@entry(U)
def asin_acos(x: real) -> real:
    return ti.asin(x) * 2.0 + ti.acos(0.5 * x) * x


@entry(S, S)
def atan2_f(x: real, y: real) -> real:
    return ti.atan2(y + 2.5, x - 2.0) + ti.atan2(x, 3.0)


@entry(S)
def exp_f(x: real) -> real:
    return ti.exp(0.7 * x) * x - ti.exp(-x * x)


@entry(P)
def log_f(x: real) -> real:
    return ti.log(x) * x + ti.log(1.0 + x * x)


@entry(P)
def sqrt_f(x: real) -> real:
    return ti.sqrt(x) + ti.sqrt(x * x + 1.0) * x


@entry(P)
def rsqrt_f(x: real) -> real:
    return ti.rsqrt(x) + x * ti.rsqrt(1.0 + x)


@entry(S)
def tanh_f(x: real) -> real:
    return ti.tanh(1.5 * x) * ti.tanh(x - 0.3)


@entry(P, S)
def pow_f(x: real, y: real) -> real:
    return ti.pow(x, 0.5 * y + 1.0) + x ** 2.5


@entry(S)
def int_powers(x: real) -> real:
    return x ** 2 + x ** 3 - 0.5 * x ** 4 + x ** 0


@entry(P)
def negative_powers(x: real) -> real:
    return x ** -1 + 2.0 * x ** -2 - x ** -3


@entry(S)
def sinh_cosh(x: real) -> real:
    return td.sinh(x) * td.cosh(0.5 * x)


@entry(S, taichi=False)
def sigmoid_f(x: real) -> real:
    return td.sigmoid(2.0 * x) * x


@entry(S, taichi=False)
def softplus_f(x: real) -> real:
    return td.softplus(x) - td.softplus(-2.0 * x)


@entry(S, taichi=False)
def erf_f(x: real) -> real:
    return td.erf(x) * ti.exp(-0.5 * x)


@entry((0.3, 1.5))
def abs_f(x: real) -> real:
    return ti.abs(x - 2.0) * x + abs(x)


@entry(S, S)
def min_max(x: real, y: real) -> real:
    return ti.max(x, y + 3.0) * ti.min(x * x, -1.0 - y * y) + max(x, -5.0, y - 4.0)


@entry((0.1, 0.4), S, taichi="refuses")
def floor_ceil_round(x: real, y: real) -> real:
    return ti.floor(x) + ti.ceil(x) * y + ti.round(x) * y * y + x * y


@entry((0.1, 0.45), S)
def mod_f(x: real, y: real) -> real:
    return (x + 0.5) % 1.0 * y + x % 3.0


@entry(S)
def sign_f(x: real) -> real:
    return ti.math.sign(x + 5.0) * x * x


@entry(S, S)
def clamp_mix_smoothstep(x: real, y: real) -> real:
    a = ti.math.clamp(x, -5.0, 5.0)
    b = ti.math.mix(x, y, 0.3)
    c = ti.math.smoothstep(-3.0, 3.0, x + y)
    return a * b + c


@entry(S, S)
def select_f(x: real, y: real) -> real:
    return ti.select(x > 5.0, x * y, ti.sin(x) * y)


@entry(S, S)
def if_expression(x: real, y: real) -> real:
    return (x * y if y > -5.0 else x - y) + (ti.exp(x) if x > 100.0 else x * x)


@entry(S, S, S)
def three_args(x: real, y: real, z: real) -> real:
    return x * ti.sin(y) * ti.exp(0.3 * z) + y * z * z


@entry(S, S)
def deep_composition(x: real, y: real) -> real:
    return ti.sin(ti.exp(0.3 * ti.cos(x * y)) + ti.tanh(x - y))


@entry(S)
def repeated_subexpressions(x: real) -> real:
    s = ti.sin(x)
    return s * s + ti.sin(x) * ti.cos(x) + s


@entry(S, S)
def reassignment(x: real, y: real) -> real:
    z = x * y
    z = z + ti.sin(z)
    z = z * z - x
    z += y
    z *= 0.5
    return z


@entry(S)
def closure_constants(x: real) -> real:
    return math.pi * x + A_CONST * x * x - B_CONST


A_CONST = 1.7
B_CONST = 0.25


@entry(S, S)
def float_int_mix(x: real, y: real) -> real:
    n = 3
    acc = 0
    acc += n * x
    return acc + y / 2 + 7 // 2 * x


@entry((0.1, 0.9))
def zero_derivative(x: real) -> real:
    return ti.floor(x + 10.0) * 0.5 + 3.0


@entry(S, S)
def math_module(x: real, y: real) -> real:
    return math.sin(x) * math.exp(y * 0.5) + math.sqrt(2.0) * x


# ---------------------------------------------------------------------------------------------
# branches


@entry((0.6, 1.2))
def if_else_high(x: real) -> real:
    y = 0.0
    if x > 0.5:
        y = ti.exp(x) * x
    else:
        y = ti.sin(x) * x * x
    return y


@entry((-1.2, 0.4))
def if_else_low(x: real) -> real:
    y = 0.0
    if x > 0.5:
        y = ti.exp(x) * x
    else:
        y = ti.sin(x) * x * x
    return y


@entry(S, S)
def if_elif_else(x: real, y: real) -> real:
    r = x
    if x + y > 5.0:
        r = x * y
    elif x - y > 5.0:
        r = ti.sin(x)
    else:
        r = ti.cos(x * y) + y
    return r


@entry((0.5, 1.2), S)
def early_return(x: real, y: real) -> real:
    if x > 0.3:
        return x * ti.exp(y)
    return y


@entry((-1.2, -0.5), S)
def early_return_other(x: real, y: real) -> real:
    if x > 0.3:
        return x * ti.exp(y)
    return y * x * x


@entry(S, S)
def nested_if(x: real, y: real) -> real:
    r = 0.0
    if x > -5.0:
        if y > 5.0:
            r = x
        else:
            r = x * y * y
            if r > 100.0:
                r = 100.0
    else:
        r = y
    return r


@entry(S, S)
def branch_defines_new(x: real, y: real) -> real:
    a = x
    if y < 3.0:
        a = ti.sin(x) + y
        b = a * a
        a = b + x
    return a * y


@entry(S)
def static_if(x: real) -> real:
    r = x
    if ti.static(A_CONST > 1.0):
        r = r * ti.exp(x)
    else:
        r = -r
    return r


@entry(S, S)
def boolean_logic(x: real, y: real) -> real:
    r = x * y
    if (x > -5.0 and y < 5.0) or not (x < 10.0):
        r = r + ti.sin(x)
    return r


@entry(S, S)
def chained_compare(x: real, y: real) -> real:
    r = x + y
    if -5.0 < x < 5.0 <= y + 10.0:
        r = x * x * y
    return r


# ---------------------------------------------------------------------------------------------
# loops


@entry(S)
def static_loop(x: real) -> real:
    acc = 0.0
    for k in ti.static(range(4)):
        acc = acc * x + (k + 1.0)
    return acc


@entry(S, S)
def static_loop_tuple(x: real, y: real) -> real:
    acc = x
    for w in ti.static((0.5, -1.0, 2.0)):
        acc = ti.sin(acc * w + y)
    return acc


@entry(S, 6)
def dynamic_accumulate(x: real, n: i32) -> real:
    acc = 0.0
    for k in range(n):
        acc += ti.sin(x * k) / (k + 1.0)
    return acc


@entry((-0.9, 0.9), 5)
def dynamic_horner(x: real, n: i32) -> real:
    acc = 1.0
    for k in range(n):
        acc = acc * x + 1.0 / (k + 1.0)
    return acc


@entry(U, 4)
def dynamic_nonlinear_state(x: real, n: i32) -> real:
    z = x
    for _ in range(n):
        z = ti.sin(z) + 0.5 * z * z
    return z


@entry(S, S, 4)
def dynamic_two_states(x: real, y: real, n: i32) -> real:
    a = x
    b = y
    for _ in range(n):
        t = a
        a = 0.5 * a - 0.3 * ti.sin(b)
        b = 0.5 * b + 0.2 * t * t
    return a + b


@entry(S, 3, taichi="refuses")
def nested_dynamic_loops(x: real, n: i32) -> real:
    acc = 0.0
    for i in range(n):
        inner = x
        for _ in range(i + 1):
            inner = inner * 0.8 + ti.cos(inner) * 0.1
        acc += inner * (i + 1.0)
    return acc


@entry(S, 5)
def loop_with_branch(x: real, n: i32) -> real:
    acc = x
    for k in range(n):
        if k % 2 == 0:
            acc = acc * 0.9 + ti.sin(acc)
        else:
            acc = acc - 0.1 * acc * acc
    return acc


@entry(S, 7, taichi="wrong")
def loop_range_step(x: real, n: i32) -> real:
    acc = 0.0
    for k in range(1, n, 2):
        acc += x ** 2 * k
    for k in range(n, 0, -3):
        acc = acc * 0.5 + x * k
    return acc


@entry(S, 6)
def loop_break(x: real, n: i32) -> real:
    acc = x
    for k in range(n):
        if k >= 3:
            break
        acc = acc * ti.cos(acc)
    return acc


@entry(S, 6, taichi="wrong")
def loop_continue(x: real, n: i32) -> real:
    acc = 0.0
    for k in range(n):
        if k % 3 == 1:
            continue
        acc = acc + ti.exp(0.3 * x * k)
    return acc


@entry(S, 5)
def loop_return(x: real, n: i32) -> real:
    acc = x
    for k in range(n):
        acc = acc * 1.1 + 0.1 * ti.sin(acc)
        if k == 3:
            return acc * acc
    return acc


@entry(S, 4, taichi="wrong")
def loop_int_promotion(x: real, n: i32) -> real:
    acc = 0
    for k in range(n):
        acc += 0.5 * x * k
    return acc


@entry((0.5, 2.0), taichi=False)
def while_newton_sqrt(a: real) -> real:
    x = a
    k = 0
    while k < 12:
        x = 0.5 * (x + a / x)
        k += 1
    return x


@entry((0.5, 1.5), taichi=False)
def while_data_dependent(x: real) -> real:
    y = x
    n = 0
    while y < 10.0:
        y = y * 1.7 + 0.1
        n += 1
    return y * ti.sin(x)


@entry((0.2, 0.9), taichi=False)
def while_break(x: real) -> real:
    acc = x
    k = 0
    while True:
        acc = acc * acc + 0.5 * acc
        k += 1
        if k >= 3:
            break
    return acc


@entry((0.2, 1.0), 3, taichi=False)
def while_in_for(x: real, n: i32) -> real:
    total = 0.0
    for i in range(n):
        y = x + i
        steps = 0
        while steps < 2:
            y = ti.sqrt(y + 1.0)
            steps += 1
        total += y
    return total


@entry((0.2, 1.0), taichi=False)
def fixed_point_iteration(c: real) -> real:
    x = 0.0
    for _ in range(20):
        x = 0.5 * ti.cos(x) + c
    return x


# ---------------------------------------------------------------------------------------------
# calls of other tidal functions


@td.func
def helper_sq(x: real) -> real:
    return x * x


@td.func
def helper_two(x: real, y: real):
    return x * y, x - y


@td.func
def helper_loop(x: real, n: i32) -> real:
    acc = x
    for _ in range(n):
        acc = acc * 0.5 + ti.sin(acc)
    return acc


@td.func
def helper_nested(x: real) -> real:
    return helper_sq(ti.sin(x)) + x


@entry(S, S)
def call_simple(x: real, y: real) -> real:
    return helper_sq(x + y) * ti.exp(helper_sq(x) * 0.1)


@entry(S, S)
def call_two_results(x: real, y: real) -> real:
    p, q = helper_two(x, y)
    return p * ti.sin(q)


@entry(S, 3)
def call_with_loop(x: real, n: i32) -> real:
    return helper_loop(x, n) * x


@entry(S)
def call_nested(x: real) -> real:
    return helper_nested(helper_nested(x) * 0.5)


@entry(S, S)
def call_in_branch(x: real, y: real) -> real:
    r = 0.0
    if y > -5.0:
        r = helper_sq(x) * y
    else:
        r = x
    return r


@entry(S, 3)
def call_in_loop(x: real, n: i32) -> real:
    acc = 0.0
    for k in range(n):
        acc += helper_sq(x + k) * 0.1
    return acc


@td.func
def helper_derivative_user(x: real) -> real:
    return ti.sin(x) * x


_d_helper = td.grad(helper_derivative_user)


@entry(S, taichi=False)
def call_a_derivative(x: real) -> real:
    return _d_helper(x) * x


# ---------------------------------------------------------------------------------------------
# vectors and matrices used inside


@entry(S, S, S)
def vector_norm(x: real, y: real, z: real) -> real:
    v = ti.Vector([x, y + 2.0, z])
    return v.norm() + v.norm_sqr() * 0.1


@entry(S, S, S)
def vector_dot_cross(x: real, y: real, z: real) -> real:
    a = ti.Vector([x, y, z])
    b = ti.Vector([z, 1.0, x * y])
    c = a.cross(b)
    return a.dot(b) + c.dot(c) * 0.1 + c.x * c.z


@entry(S, S)
def vector_normalized(x: real, y: real) -> real:
    v = ti.Vector([x + 3.0, y, 1.0]).normalized()
    return v[0] * v[1] + v.z


@entry(S, S)
def vector_elementwise(x: real, y: real) -> real:
    v = ti.Vector([x, y, x * y])
    w = ti.sin(v) * 2.0 + v * v
    u = w + ti.Vector([9.0, 0.0, -9.0])  # max and min elements stay apart
    return w.sum() + u.max() * u.min()


@entry(S, S)
def vector_outer_transpose(x: real, y: real) -> real:
    a = ti.Vector([x, y])
    b = ti.Vector([y, 1.0, x])
    m = a.outer_product(b)
    t = m.transpose()
    return (t @ a).sum() + m[1, 2] * m[0, 0]


@entry(S, S, S)
def matrix_determinant_2x2(x: real, y: real, z: real) -> real:
    m = ti.Matrix([[x + 2.0, y], [z, 1.5 - x]])
    return m.determinant() + m.trace() * y


@entry(S, S, S)
def matrix_determinant_3x3(x: real, y: real, z: real) -> real:
    m = ti.Matrix([[x + 3.0, y, 0.2], [z, 2.0, x], [0.1, y * z, 3.0 - x]])
    return m.determinant()


@entry(S, S)
def matrix_inverse_2x2(x: real, y: real) -> real:
    m = ti.Matrix([[x + 3.0, y], [0.5 * y, 2.5 - x]])
    mi = m.inverse()
    return mi[0, 0] + mi[1, 0] * x + (mi @ m)[0, 1]


@entry(S, S)
def matrix_inverse_3x3(x: real, y: real) -> real:
    m = ti.Matrix([[x + 3.0, y, 0.2], [0.1, 2.5, x], [y, 0.3, 3.0 - x]])
    mi = m.inverse()
    return (mi @ ti.Vector([1.0, x, y])).sum()


@entry(S, S)
def matmul_chain(x: real, y: real) -> real:
    a = ti.Matrix([[x, y], [1.0, x * y]])
    b = ti.Matrix([[ti.cos(x), 0.5], [y, 2.0]])
    c = a @ b @ a.transpose()
    return c.sum() + c[0, 1] * c[1, 1]


@entry(S, S, 4, taichi="wrong")
def vector_dynamic_index(x: real, y: real, n: i32) -> real:
    v = ti.Vector([x, y, x * y, 1.0])
    acc = 0.0
    for k in range(n):
        acc += v[k] * v[(k + 1) % 4]
    return acc


@entry(S, S, 4, taichi="wrong")
def vector_element_writes(x: real, y: real, n: i32) -> real:
    h = ti.Vector.zero(real, 4)
    for k in range(n):
        h[k] = ti.tanh(x * (k + 1.0) + y)
    h[0] = h[0] * h[3]
    return h.dot(h) + h.sum()


@entry(S, S, 3, taichi="wrong")
def vector_loop_state(x: real, y: real, n: i32) -> real:
    v = ti.Vector([x, y])
    for _ in range(n):
        v = ti.Vector([0.9 * v[0] - 0.2 * ti.sin(v[1]), 0.9 * v[1] + 0.2 * v[0] * v[0]])
    return v.x + v.y * v.y


@entry(S, S)
def matrix_elementwise_math(x: real, y: real) -> real:
    m = ti.Matrix([[x, y], [y, -x]])
    e = ti.exp(m * 0.5) + ti.tanh(m)
    return e.sum() + e[1, 0] * e[0, 1]


@entry(S, S)
def vector_type_constructors(x: real, y: real) -> real:
    v = ti.math.vec3(x, y, 1.0)
    w = td.vec(3, real)(0.5)
    u = ti.Vector.one(real, 3) * x
    return (v * w + u).sum() + ti.math.dot(v, u) + ti.math.length(v)


@entry(S, S)
def vector_unpack(x: real, y: real) -> real:
    v = ti.Vector([x * y, x + y])
    a, b = v
    return a * ti.sin(b)


@entry(S, S)
def matrix_rows_cols(x: real, y: real) -> real:
    r0 = ti.Vector([x, 1.0])
    r1 = ti.Vector([y, x * y])
    m = ti.Matrix.rows([r0, r1])
    n = ti.Matrix.cols([r0, r1])
    return (m @ n).sum() + ti.Matrix.identity(real, 2)[0, 0] * x


# ---------------------------------------------------------------------------------------------
# declared rules


@td.custom_jvp
def soft_clip(x: real) -> real:
    return ti.tanh(x) * 2.0


@soft_clip.defjvp
def soft_clip_jvp(x: real, dx: real):
    t = ti.tanh(x)
    return 2.0 * t, 2.0 * (1.0 - t * t) * dx


@td.custom_vjp
def cubed(x: real) -> real:
    return x * x * x


@cubed.defvjp
def cubed_vjp(x: real, ct: real):
    return 3.0 * x * x * ct


@entry(S, S, taichi=False)
def uses_custom_jvp(x: real, y: real) -> real:
    return soft_clip(x * y) + y


@entry(S, S, taichi=False)
def uses_custom_vjp(x: real, y: real) -> real:
    return cubed(x + y) * ti.sin(x)


@td.func
def damped_step(s: real, x: real) -> real:
    return ti.sin(s) * (x + 0.5) + 0.1 * s * s


@entry(S, S, taichi="wrong")
def nested_constant_loops(x: real, y: real) -> real:
    # loops with constant bounds away from 0: the inner loop's values are kept in the outer
    # loop's tape; its state is used nonlinearly and it calls a function and a declared rule
    acc = 0.0
    for i in range(2, 5):
        s = 0.3 * x * i + y
        for j in range(1, 4):
            s = 0.5 * damped_step(s, x) + cubed(s) * 0.02 + j * 0.1
        acc += ti.sin(s) * y
    return acc


# ---------------------------------------------------------------------------------------------
# vector and matrix parameters


@dataclass
class VectorEntry:
    fn: td.TidalFunction
    sample: callable
    scalar_output: bool = True

    @property
    def name(self) -> str:
        return self.fn.name


VECTOR_ENTRIES: list[VectorEntry] = []


def ventry(sample, scalar_output=True):
    def deco(pyfunc):
        fn = td.func(pyfunc)
        VECTOR_ENTRIES.append(VectorEntry(fn, sample, scalar_output))
        return fn
    return deco


def _v3(rng):
    return [rng.uniform(-1, 1, 3)]


@ventry(_v3)
def vparam_energy(v: td.vec(3, real)) -> real:
    return v.norm_sqr() * 0.5 + ti.sin(v.x * v.y) + v.z ** 3


@ventry(lambda rng: [rng.uniform(-1, 1, 3), rng.uniform(0.5, 1.5)])
def vparam_and_scalar(v: td.vec(3, real), s: real) -> real:
    w = v * s
    return w.norm() + ti.exp(v.dot(ti.Vector([1.0, -0.5, 0.25])) * s)


@ventry(_v3, scalar_output=False)
def vparam_vector_out(v: td.vec(3, real)) -> td.vec(3, real):
    return ti.Vector([v.y * v.z, ti.sin(v.x), v.x * v.x + v.z])


@ventry(lambda rng: [rng.uniform(-1, 1, (2, 2)) + 2.0 * np.eye(2)])
def mparam_log_det(m: td.mat(2, 2, real)) -> real:
    return ti.log(m.determinant()) + (m @ m).trace() * 0.1


@ventry(lambda rng: [rng.uniform(-1, 1, 3), 4])
def vparam_loop(v: td.vec(3, real), n: td.i32) -> real:
    acc = 0.0
    for k in range(n):
        acc += ti.tanh(v[k % 3] * (k + 1.0)) * v[(k + 1) % 3]
    return acc


@ventry(lambda rng: [rng.uniform(-1, 1, 2)], scalar_output=False)
def vparam_rotation(v: td.vec(2, real)) -> td.vec(2, real):
    c = ti.cos(v.x)
    s = ti.sin(v.x)
    r = ti.Matrix([[c, -s], [s, c]])
    return r @ ti.Vector([v.y, 1.0])
