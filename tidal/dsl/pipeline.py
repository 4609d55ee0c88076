"""The compilation pipelines: one per entry point, each naming its stages in order.

Functions (``@td.func`` and every derivative of one)::

    function_ir:       build (parse, resolve names, check the subset, lower; or a derivative
                       transformation of another function's IR) -> optimize
    generate_function: generate source (printing only)
    load_function:     load

Kernels (``@td.kernel``, plain ``@ti.kernel`` inside a tape, and generated adjoint and tangent
kernels)::

    kernel_ir:        bind the launch arguments -> lower -> optimize
    generate_kernel:  rewrite accumulation (per-block partial sums; on the CPU, SIMD lanes)
                      -> generate source (printing only)
    load_kernel:      load (in Taichi's vector mode where lanes were used or the kernel asked
                      for SIMD vectors)

Derivative kernels enter ``generate_kernel`` with IR made by :mod:`tidal.autodiff.kernels`
(transform -> :func:`optimized`). With :data:`tidal.dsl.verify.ENABLED` (the test suite), the
IR verifier runs after every stage that produces IR.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tidal.dsl import codegen, ir, kernel_lowering, loader, optimize, parallel, split, verify
from tidal.dsl import lanes as lanes_pass
from tidal.dsl import primitives as P
from tidal.dsl.types import DType


def optimized(fn: ir.Function, default_fp: DType, stage: str) -> ir.Function:
    """Stage ``optimize`` of every pipeline: ``fn`` (produced by ``stage``) verified,
    optimised and verified again."""
    verify.maybe_check(fn, stage, default_fp)
    return verify.maybe_check(optimize.optimize(fn, default_fp), f"optimize ({stage})",
                              default_fp)


# -- functions -----------------------------------------------------------------------------------


def function_ir(build: Callable[[DType], ir.Function], default_fp: DType,
                name: str) -> ir.Function:
    """Stages build -> optimize of a function (``build`` lowers source or transforms IR)."""
    return optimized(build(default_fp), default_fp, f"building {name}")


def generate_function(fn: ir.Function, name: str, default_fp: DType,
                      arch: str) -> codegen.Generated:
    """Stage generate of a function's optimised IR (printing only)."""
    return codegen.generate(fn, name, default_fp, arch)


def load_function(g: codegen.Generated, name: str):
    """Stage load: the ``@ti.func`` of a generated function."""
    return loader.load(g.source, g.func_name, g.namespace, name, g.line_map)


# -- kernels -------------------------------------------------------------------------------------


def kernel_ir(pf, args, default_fp: DType) -> kernel_lowering.KernelIR:
    """Stages bind -> lower -> optimize of a kernel for one launch signature."""
    bindings = kernel_lowering.bind(pf, args, default_fp)
    kir = kernel_lowering.lower_kernel(pf, default_fp, bindings)
    kir.fn = optimized(kir.fn, default_fp, f"lowering kernel {pf.name}")
    return kir


def generate_kernel(kir: kernel_lowering.KernelIR, name: str, default_fp: DType, arch: str,
                    lanes: int) -> codegen.Generated:
    """Stages rewrite accumulation -> generate of a kernel (allocates the scratch fields of
    its partial sums: call once per kernel). ``lanes`` is the runtime's; a kernel's own
    ``simd_lanes`` replaces it unless the runtime turned lanes off (0)."""
    if lanes and kir.simd_lanes:
        lanes = kir.simd_lanes
    serial, scratch = parallel.prepare(kir.fn, arch, default_fp, lanes, kir.vectorise)
    # (the serial form, printed from the loops before they are spread for the thread pool)
    fn = parallel.spread_over_tasks(serial, arch)
    verify.maybe_check(fn, f"accumulation rewrite of {name}", default_fp)
    parts = split.loop_kernels(fn) if arch in split.SPIRV_ARCHES else None
    if parts is not None:  # one Taichi kernel per parallel loop (see tidal.dsl.split)
        return codegen.Generated.in_parts([
            codegen.generate_kernel(kir, part, scratch, f"{name}_loop{i}", default_fp, arch)
            for i, part in enumerate(parts, 1)])
    if lanes_pass.vectorised_block(fn.body):
        return codegen.generate_kernel(kir, fn, scratch, name, default_fp, arch,
                                       vector_mode=True, serial_fn=serial)
    if not (kir.simd_vectors and arch == "cpu"
            and lanes_pass.vector_mode_safe(fn, default_fp, whole_elements=True)):
        return codegen.generate_kernel(kir, fn, scratch, name, default_fp, arch,
                                       serial_fn=serial)
    # td.kernel(simd_vectors=True): vector mode, vector elements of ndarrays read whole; the
    # launches check that those arguments are Taichi ndarrays
    with P.taichi_arrays_only():
        g = codegen.generate_kernel(kir, fn, scratch, name, default_fp, arch, vector_mode=True,
                                    serial_fn=serial)
    params = [(name, kind) for name, kind in kir.signature if kind != "template"]
    g.taichi_arrays = tuple(i for i, (arg, kind) in enumerate(params)
                            if kind == "ndarray" and not kir.arrays[arg].elem.is_scalar)
    g.loc = fn.loc
    if g.serial is not None:
        g.serial = functools.partial(_printed_for_taichi_arrays, g.serial)
    return g


def _printed_for_taichi_arrays(print_serial) -> codegen.Generated:
    with P.taichi_arrays_only():
        return print_serial()


def load_kernel(g: codegen.Generated, name: str):
    """Stage load of a kernel (in vector mode where lanes were used)."""
    return loader.load_kernel(g, name)
