"""One parallel loop per Taichi kernel on Vulkan (the SPIR-V backend ``td.init`` offers).

Taichi 1.7.4 cannot compile for SPIR-V a kernel in which two parallel loops each index a local
vector with a runtime value (``Value "tmpN" does not yet exist``): its scalarisation pass keeps
one constant per element offset for the whole kernel, made in the first loop, and the second
loop, a separate shader there, cannot see it. An MLP evaluated in two loops of one kernel (a
DeepONet's branch and trunk) is enough. Launched as one kernel per parallel loop, in order, the
same program compiles and computes the same values: the loops communicate only through memory
(:class:`tidal.dsl.ir.ParallelFor`), and on Vulkan each loop is a dispatch of its own in either
form. The CPU and CUDA (LLVM) keep one kernel.
"""

from __future__ import annotations

from tidal.dsl import ir

SPIRV_ARCHES = frozenset({"vulkan"})


def loop_kernels(fn: ir.Function) -> list[ir.Function] | None:
    """``fn`` as one function per top-level parallel loop, in order; each also holds the
    top-level statements that precede its loop (side-effect-free values: shapes, sizes, loads).
    None where ``fn`` has fewer than two parallel loops or any other top-level statement (a
    serial loop, a branch, a write): it then stays one kernel.

    Example:
        >>> from tidal.dsl import ir
        >>> loop = ir.ParallelFor((), (), (), ir.Block())
        >>> fn = ir.Function("k", (), ir.Block([loop, loop]))
        >>> [len(part.body.stmts) for part in loop_kernels(fn)]
        [1, 1]
        >>> loop_kernels(ir.Function("k", (), ir.Block([loop]))) is None
        True
    """
    stmts = fn.body.stmts
    if fn.body.results or sum(isinstance(s, ir.ParallelFor) for s in stmts) < 2:
        return None
    parts, before = [], []
    for s in stmts:
        if isinstance(s, ir.ParallelFor):
            parts.append(ir.Function(fn.name, fn.params, ir.Block([*before, s]), fn.loc,
                                     fn.param_names))
        elif isinstance(s, ir.Assign) and not s.prim.effect:
            before.append(s)
        else:
            return None
    return parts


__all__ = ["SPIRV_ARCHES", "loop_kernels"]
