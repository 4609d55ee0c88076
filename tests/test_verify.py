"""The IR verifier (tidal.dsl.verify) catches each kind of broken invariant, and runs between the
pipeline stages (tidal.dsl.pipeline) while the tests run (tests/conftest.py enables it)."""

import pytest

import tidal as td
from tidal.dsl import ir, pipeline, verify
from tidal.dsl import primitives as P
from tidal.dsl.types import F64, I32, TType

F = TType(F64)
I = TType(I32)


def _fn(params, stmts, results):
    return ir.Function("f", params, ir.Block(stmts, results))


def test_well_formed_ir_passes():
    x, y = ir.Var("x", F), ir.Var("y", F)
    verify.check(_fn([x], [ir.Assign([y], P.sin, [x])], [y]))


def test_a_var_defined_twice_is_caught():
    x, y = ir.Var("x", F), ir.Var("y", F)
    stmts = [ir.Assign([y], P.sin, [x]), ir.Assign([y], P.cos, [x])]
    with pytest.raises(verify.IRError, match="defined twice"):
        verify.check(_fn([x], stmts, [y]))


def test_a_var_used_outside_its_branch_is_caught():
    # the shape of finding 3: a cotangent computed inside a branch and used after it
    x, c, inner, out = ir.Var("x", F), ir.Var("c", I), ir.Var("inner", F), ir.Var("o", F)
    then = ir.Block([ir.Assign([inner], P.sin, [x])], [inner])
    orelse = ir.Block([], [x])
    stmts = [ir.Assign([c], P.gt, [x, ir.Const(0.0, F)]), ir.If(c, then, orelse, [out])]
    verify.check(_fn([x], stmts, [out]))
    with pytest.raises(verify.IRError, match="not defined"):
        verify.check(_fn([x], stmts, [inner]))


def test_wrong_types_and_region_shapes_are_caught():
    x, y = ir.Var("x", F), ir.Var("y", I)
    with pytest.raises(verify.IRError, match="primitive gives"):
        verify.check(_fn([x], [ir.Assign([y], P.sin, [x])], [y]))
    i, p, o = ir.Var("i", I), ir.Var("p", F), ir.Var("o", F)
    loop = ir.For(i, ir.Const(0, I), ir.Const(3, I), [x], ir.Block([], [], [p]), [o])
    with pytest.raises(verify.IRError, match="inits"):
        verify.check(_fn([x], [loop], [o]))


def test_the_pipeline_verifies_each_stage(monkeypatch):
    def broken_build(default_fp):
        x, y = ir.Var("x", F), ir.Var("y", F)
        return _fn([x], [ir.Assign([y], P.sin, [x]), ir.Assign([y], P.cos, [x])], [y])

    assert verify.ENABLED
    with pytest.raises(verify.IRError, match="after building g"):
        pipeline.function_ir(broken_build, F64, "g")


def test_real_programs_pass_between_every_stage():
    @td.func
    def f(x: td.f64, n: td.i32) -> td.f64:
        acc = 0.0
        for k in range(n):
            if x > k:
                acc += td.sin(x * k)
        return acc

    assert abs(td.grad(f)(1.5, 3) - sum(k * __import__("math").cos(1.5 * k)
                                         for k in range(3) if 1.5 > k)) < 1e-12
