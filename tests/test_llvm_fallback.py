"""A kernel whose code LLVM rejects with fast math on (Taichi 1.7.4's LLVM 15 on some CPUs: an
AMD EPYC with AVX-512 emitted a vectorised reduction before the product it sums for a
sixth-order nested derivative) is compiled again without fast math, and the setting is restored
after; other runtime errors pass through unchanged."""

import math

import pytest
from taichi.lang import impl as ti_impl

import tidal as td
from tidal.dsl import launches


@pytest.fixture
def cpu():
    td.init(arch="cpu", default_fp=td.f64)


class _RejectedWithFastMath:
    """A launch that fails as Taichi does when LLVM rejects the kernel, unless fast math is
    off; it records the settings it ran with."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        fast = ti_impl.current_cfg().fast_math
        self.calls.append(fast)
        if fast:
            raise RuntimeError("[kernel_compilation_manager.cpp:compile_kernel@176] Assertion "
                               "failure: " + launches._LLVM_REJECTED)
        return sum(args)


def test_a_kernel_llvm_rejects_is_compiled_again_without_fast_math(cpu):
    kernel = _RejectedWithFastMath()
    assert launches.run_compiled(kernel, (1, 2)) == 3
    assert kernel.calls == [True, False]
    assert ti_impl.current_cfg().fast_math  # restored


def test_other_runtime_errors_pass_through(cpu):
    def broken(*args):
        raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        launches.run_compiled(broken, ())
    assert ti_impl.current_cfg().fast_math


def test_the_sixth_derivative_that_llvm_rejected_is_right(cpu):
    # d^6/dx^6 of exp(2x) by nested forward mode (the kernel of that size compiled without
    # fast math where LLVM rejects it; on other CPUs it compiles at once): 64 exp(2x)
    @td.func
    def f(x: td.f64) -> td.f64:
        return td.exp(2.0 * x)

    d = f
    for _ in range(6):
        d = td.derivative(d)
    assert abs(d(0.3) - 64 * math.exp(0.6)) <= 1e-10 * 64 * math.exp(0.6)
