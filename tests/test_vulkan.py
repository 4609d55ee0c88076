"""The GPU code path (SPIR-V) through software Vulkan: derivatives computed on Vulkan in f32
agree with the same derivatives computed on the CPU in f64.

Skipped where no Vulkan device exists (``.ci/run`` installs Debian's mesa-vulkan-drivers, which
provides a software device). Tolerance: 2e-3 * (1 + |reference|), the accuracy of f32 arithmetic
through up to third derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import pycall, runtime

from . import corpus
from .kernel_programs import PROGRAMS
from .reference import assert_close

pytestmark = pytest.mark.vulkan

NAMES = ["issue_example", "sin_cos", "exp_f", "tanh_f", "if_else_high", "dynamic_horner",
         "dynamic_nonlinear_state", "while_newton_sqrt", "call_with_loop", "vector_norm",
         "matrix_inverse_2x2", "vector_element_writes", "erf_f", "uses_custom_jvp",
         "loop_break", "early_return"]
ENTRIES = [e for e in corpus.ENTRIES if e.name in NAMES]


def derivatives(e):
    i = e.float_positions()[0]
    return [e.fn, td.grad(e.fn, i), td.derivative(e.fn, i, order=2),
            td.grad(td.derivative(e.fn, (i,)), i), td.derivative(e.fn, i, order=3),
            td.grad(td.grad(td.grad(e.fn, i), i), i)]


@pytest.fixture(scope="module")
def on_vulkan():
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="cpu", default_fp=td.f64)
    refs = {}
    for e in ENTRIES:
        args = e.sample(8, seed=3)
        outs, _ = pycall.evaluate(derivatives(e), args)
        refs[e.name] = (args, [o[0] for o in outs])
    td.init(arch="vulkan", default_fp=td.f32)
    yield refs
    td.init(arch="cpu", default_fp=td.f64)


@pytest.mark.parametrize("e", ENTRIES, ids=lambda e: e.name)
def test_derivatives_on_vulkan_match_cpu(on_vulkan, e):
    assert runtime.config().arch == "vulkan"
    args, refs = on_vulkan[e.name]
    outs, _ = pycall.evaluate(derivatives(e), args)
    labels = ["f", "grad", "taylor2", "rev-over-fwd", "taylor3", "rev3"]
    for label, (out,), ref in zip(labels, outs, refs):
        assert out.dtype == np.float32
        assert_close(out, ref, rtol=2e-3, what=f"{e.name} {label} on Vulkan")


def test_f64_transcendentals_on_vulkan_are_refused_clearly(on_vulkan):
    td.init(arch="vulkan", default_fp=td.f64)
    try:
        @td.func
        def needs_f64_sin(x: td.f64) -> td.f64:
            return ti.sin(x) * 2.0

        with pytest.raises(td.TidalError) as err:
            needs_f64_sin(0.5)
        assert "Vulkan" in str(err.value) and "ti.sin(x)" in str(err.value)

        @td.func
        def f64_arithmetic(x: td.f64) -> td.f64:
            return x * x + ti.sqrt(x)

        assert abs(td.grad(f64_arithmetic)(4.0) - 8.25) < 1e-12
    finally:
        td.init(arch="vulkan", default_fp=td.f32)


KERNEL_PROGRAMS = ["dynamic_loop_nonlinear_state", "newton_iteration_while", "break_and_continue",
                   "shared_accumulation_atomics", "kernel_calls_function_with_weights",
                   "serial_time_loop_inside_kernel", "mass_spring_rollout_120_steps",
                   "vector_field_norms", "ndarray_arguments"]


def kernel_gradients(name):
    """Tape gradients, then the Hessian times a fixed direction from ``td.hvp``."""
    prog = PROGRAMS[name][0]()
    prog.reset()
    with td.Tape(prog.loss):
        prog.run(lambda kernel, *args: kernel(*args))
    grads = [p.grad.to_numpy().astype(np.float64) for p in prog.params]
    rng = np.random.default_rng(7)
    direction = [rng.uniform(-1, 1, g.shape) for g in grads]

    def run():
        prog.run(lambda kernel, *args: kernel(*args))
        return prog.loss

    prog.reset()
    _, _, hv = td.hvp(run, prog.params, direction)
    return grads + list(hv)


@pytest.fixture(scope="module")
def kernel_refs():
    """Gradients of the kernel programs computed on the CPU in f64, then Vulkan in f32."""
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="cpu", default_fp=td.f64)
    refs = {name: kernel_gradients(name) for name in KERNEL_PROGRAMS}
    td.init(arch="vulkan", default_fp=td.f32)
    yield refs
    td.init(arch="cpu", default_fp=td.f64)


@pytest.mark.parametrize("name", KERNEL_PROGRAMS)
def test_kernel_gradients_on_vulkan_match_cpu(kernel_refs, name):
    """Reverse mode (and reverse over forward for Hessian-vector products) through dynamic loops,
    while, break/continue, ndarray arguments and per-block shared sums."""
    assert runtime.config().arch == "vulkan"
    for k, (ours, ref) in enumerate(zip(kernel_gradients(name), kernel_refs[name])):
        assert_close(ours, ref, rtol=2e-3,
                     what=f"{name}: result {k} (gradients, then hvp) on Vulkan")


def pinn_loss_and_gradient(fp):
    """A small PINN problem (Burgers residual, initial, boundary and Neumann conditions)."""
    from tidal.solvers import (
        MLP,
        DirichletBC,
        InitialCondition,
        Interval,
        NeumannBC,
        Problem,
        TimeDomain,
    )
    from tidal.solvers.burgers import burgers_residual

    domain = Interval(-1, 1) * TimeDomain(0, 1)
    net = MLP(2, width=6, depth=3, seed=2, dtype=fp, lo=[-1, 0], hi=[1, 1])
    problem = Problem(domain, burgers_residual(dtype=fp), [
        InitialCondition(domain, lambda p: -np.sin(np.pi * p[:, 0]), n=20),
        DirichletBC(domain, 0.0, n=10, where=lambda p: p[:, 0] < 0),
        NeumannBC(domain, 0.0, n=10, where=lambda p: p[:, 0] > 0)], net, n_collocation=200)
    return problem.value_and_grad(problem.get_flat())


def test_pinn_problem_on_vulkan_matches_cpu():
    """A PINN loss and its parameter gradient (Taylor-mode passes inside kernels over ndarray
    points, adjoints with per-block sums) on Vulkan in f32 against the CPU in f64."""
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="cpu", default_fp=td.f64)
    ref_loss, ref_grad = pinn_loss_and_gradient(td.f64)
    td.init(arch="vulkan", default_fp=td.f32)
    try:
        loss, grad = pinn_loss_and_gradient(td.f32)
    finally:
        td.init(arch="cpu", default_fp=td.f64)
    assert_close(loss, ref_loss, rtol=2e-3, what="PINN loss on Vulkan")
    scale = np.max(np.abs(ref_grad))
    assert_close(grad / scale, ref_grad / scale, rtol=2e-3, what="PINN gradient on Vulkan")


def test_adam_kernel_on_vulkan_matches_numpy():
    """Trainer.adam's update kernel (float64 ndarrays) on Vulkan against NumPy's Adam."""
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    from tidal.solvers import Trainer

    a = np.diag([1.0, 2.0, 3.0])
    b = np.array([0.5, -1.0, 2.0])

    class Quadratic:
        size = 3

        def value_and_grad(self, x):
            return float(0.5 * x @ a @ x - b @ x), a @ x - b

    x, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for k in range(1, 31):
        g = a @ x - b
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        x = x - 0.05 * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
    td.init(arch="vulkan", default_fp=td.f32)
    try:
        trainer = Trainer(Quadratic(), np.zeros(3), progress=False, keep_best=False)
        trainer.adam(steps=30, lr=0.05)
    finally:
        td.init(arch="cpu", default_fp=td.f64)
    assert_close(trainer.params, x, rtol=1e-12, what="Adam on Vulkan")
