"""Code generation: IR function -> readable Taichi source.

Guarantees of the generated source:

* one ``@ti.func`` with typed parameters and a single ``return`` at the end;
* every variable is assigned before any branch or loop that updates it (Taichi needs this), with
  typed literals so that float state never starts as an integer;
* variables used once are inlined into the expression that uses them, so the source reads like
  hand-written code; element updates of local vectors happen in place when the old value is dead;
* a line map from generated lines to the user's source lines, for error messages.
"""

from __future__ import annotations

import functools
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.errors import SourceLoc, TidalError
from tidal.dsl.split import SPIRV_ARCHES
from tidal.dsl.types import DType, TType, taichi_type_source

#: the last parameter of a kernel's serial form (:attr:`Generated.serial`)
SERIAL_GATE = "_tidal_serial"

_RESERVED = set(keyword.kwlist) | {
    "ti", "range", "float", "int", "len", "abs", "min", "max", "print", "True", "False", "None",
    SERIAL_GATE, "_tidal_erf", "_tidal_softplus", "_tidal_zeros",
}


@dataclass
class Generated:
    """Generated source of one function."""

    source: str
    func_name: str
    namespace: dict
    line_map: dict[int, SourceLoc] = field(default_factory=dict)
    vector_mode: bool = False  # compile with Taichi's vector mode (tidal.dsl.lanes)
    scratch: tuple = ()  # arrays the kernel takes after its own arguments
    # (CPU, kernels with a top-level loop) prints the same kernel run on the launching thread:
    # its body under ``if SERIAL_GATE:``, an int argument after the scratch arrays
    # (tidal.dsl.direct launches that form with 1 where it is faster)
    serial: Callable[[], Generated] | None = None
    parts: tuple = ()  # kernels launched in order in its place (tidal.dsl.split), if any
    # positions of the arguments that must be Taichi ndarrays (td.kernel(simd_vectors=True)),
    # and the kernel's definition, named when one is not
    taichi_arrays: tuple = ()
    loc: SourceLoc | None = None

    @classmethod
    def in_parts(cls, parts: list) -> Generated:
        """One kernel launched as the kernels ``parts``, in order, with the same arguments."""
        return cls("\n".join(p.source for p in parts), parts[0].func_name, {},
                   scratch=parts[0].scratch, parts=tuple(parts))


class _Names:
    def __init__(self, reserved):
        self.used = set(reserved)
        self.of: dict[ir.Var, str] = {}

    def fresh(self, hint: str) -> str:
        if hint.startswith("_tidal_"):
            hint = hint[len("_tidal_"):]
        base = re.sub(r"\W", "_", hint) or "t"
        if base[0].isdigit():
            base = "v" + base
        name = base
        k = 1
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        return name

    def get(self, v: ir.Var) -> str:
        n = self.of.get(v)
        if n is None:
            n = self.of[v] = self.fresh(v.name)
        return n

    def alias(self, v: ir.Var, name: str) -> None:
        self.of[v] = name


def literal(c: ir.Const, default_fp: DType) -> str:
    """Source for a constant, with a cast where its dtype differs from the default."""
    t = c.type

    def scalar(v) -> str:
        if t.dtype.is_float:
            v = float(v)
            if math.isnan(v):
                s = "ti.math.nan"
            elif math.isinf(v):
                s = "ti.math.inf" if v > 0 else "-ti.math.inf"
            else:
                s = repr(v)
            return s
        return str(int(v))

    if t.is_scalar:
        s = scalar(c.value)
        if t.dtype.is_float and t.dtype != default_fp:
            return f"ti.cast({s}, ti.{t.dtype.name})"
        return s
    dt = f"ti.{t.dtype.name}"
    if not isinstance(c.value, tuple):
        if c.value == 0:
            dims = ", ".join(map(str, t.shape))
            return f"_tidal_zeros({dt}, {dims})"
        flat = [c.value] * t.size
    else:
        flat = [x for row in c.value for x in (row if isinstance(row, tuple) else (row,))]
    elems = [scalar(x) for x in flat]
    if t.is_vector:
        return f"ti.Vector([{', '.join(elems)}], dt={dt})"
    n, m = t.shape
    rows = ", ".join("[" + ", ".join(elems[i * m:(i + 1) * m]) + "]" for i in range(n))
    return f"ti.Matrix([{rows}], dt={dt})"


class _Gen:
    def __init__(self, fn: ir.Function, func_name: str, default_fp: DType, arch: str):
        self.fn = fn
        self.func_name = func_name
        self.default_fp = default_fp
        self.arch = arch
        self.lines: list[str] = []
        self.line_map: dict[int, SourceLoc] = {}
        self.namespace: dict = {}
        self.global_names: dict = {}
        self.names = _Names(_RESERVED | {func_name})
        self.exprs: dict[ir.Var, tuple[str, int]] = {}
        self.expr_reads: dict[ir.Var, set] = {}
        self.reused: set[ir.Var] = set()
        self.expr_locs: dict[ir.Var, SourceLoc | None] = {}
        self.consumed_locs: list[SourceLoc] = []  # locations of expressions inlined in a line
        self.params = set(fn.params)
        # loads are inlined only where no store could change the value read in between
        self.has_effects = any(isinstance(st, ir.Assign) and st.prim.effect
                               for st in ir.walk(fn.body))
        self.kernel_signature = None
        self.kernel_arrays: dict = {}
        self.scratch_args: list = []
        self.array_names: dict = {}  # ArrayArg -> its parameter name in the generated kernel

    # -- output ----------------------------------------------------------------------------
    def emit(self, depth: int, text: str, loc: SourceLoc | None = None) -> None:
        self.lines.append("    " * depth + text)
        loc = loc or (self.consumed_locs[0] if self.consumed_locs else None)
        self.consumed_locs = []
        if loc is not None:
            self.line_map[len(self.lines)] = loc

    def src(self, a: ir.Atom) -> tuple[str, int]:
        if isinstance(a, ir.Const):
            s = literal(a, self.default_fp)
            neg = s.startswith("-")
            return s, P.PREC_UNARY if neg else P.PREC_ATOM
        e = self.exprs.pop(a, None)
        if e is not None:
            self.expr_reads.pop(a, None)
            loc = self.expr_locs.pop(a, None)
            if loc is not None:
                self.consumed_locs.append(loc)
            return e
        return self.names.get(a), P.PREC_ATOM

    def array_name(self, arr: P.ArrayArg) -> str:
        """The parameter name of an ndarray argument: its own name where that is free, else a
        fresh one (two networks' partial sums, say, may share a field name)."""
        name = self.array_names.get(arr)
        if name is None:
            name = self.array_names[arr] = self.names.fresh(arr.name)
        return name

    def global_ref(self, ref: P.GlobalRef) -> P.GlobalRef:
        if getattr(ref.obj, "is_kernel_arg", False):
            return P.GlobalRef(ref.obj, self.array_name(ref.obj))
        name = self.global_names.get(ref)
        if name is None:
            name = self.names.fresh(ref.name)
            self.global_names[ref] = name
            obj = ref.obj
            self.namespace[name] = obj.taichi_object() if hasattr(obj, "taichi_object") else obj
        return P.GlobalRef(ref.obj, name)

    # -- analysis --------------------------------------------------------------------------
    @staticmethod
    def use_counts(block: ir.Block):
        """Per var: uses directly in this block's statements/results, and uses nested deeper."""
        direct: dict[ir.Var, int] = {}
        nested: set[ir.Var] = set()
        last: dict[ir.Var, int] = {}
        for k, s in enumerate(block.stmts):
            for a in s.uses():
                if isinstance(a, ir.Var):
                    direct[a] = direct.get(a, 0) + 1
                    last[a] = k
            for b in s.blocks():
                for v in ir.free_vars(b):
                    nested.add(v)
                    last[v] = k
        for a in block.results:
            if isinstance(a, ir.Var):
                direct[a] = direct.get(a, 0) + 1
                last[a] = len(block.stmts)
        return direct, nested, last

    # -- blocks ----------------------------------------------------------------------------
    def block(self, block: ir.Block, depth: int, own: set, own_params: bool = True) -> None:
        """Emit statements. ``own`` holds vars owned by this block (safe to update in place)."""
        direct, nested, last = self.use_counts(block)
        own = set(own) | (set(block.params) if own_params else set())
        for k, s in enumerate(block.stmts):
            if isinstance(s, ir.Assign):
                self.assign(s, depth, direct, nested, last, k, own)
            elif isinstance(s, ir.If):
                self.if_(s, depth)
            elif isinstance(s, ir.ParallelFor):
                self.parallel_for(s, depth)
            else:
                inside = {v for b in s.blocks() for v in ir.free_vars(
                    ir.Block(b.stmts, b.results, ()))}
                # an init given twice (`a = t; b = t` before the loop) cannot lend its
                # storage to both loop variables
                reuse = [a not in inside and s.inits.count(a) == 1
                         and self.can_overwrite(a, last, k, own, depth) for a in s.inits]
                loop_depth = depth
                if isinstance(s, ir.For) and self.kernel_signature is not None and depth == 1:
                    # a top-level loop of a kernel would run in parallel: keep it serial
                    if any(o in last for o in s.outs):
                        self.emit(depth, "ti.loop_config(serialize=True)", s.loc)
                    else:
                        # inside a parallel loop of one iteration rather than with
                        # loop_config(serialize=True), under which Taichi 1.7.4 loses an add
                        # `g[j] += b` that follows `g[1] += a` where j == 1
                        self.emit(depth, f"for {self.names.fresh('serial')} in range(1):",
                                  s.loc)
                        loop_depth += 1
                (self.for_ if isinstance(s, ir.For) else self.while_)(s, loop_depth, reuse)
            own.update(s.defs())

    def assign(self, s: ir.Assign, depth, direct, nested, last, k, own) -> None:
        prim = s.prim
        self.check_arch(s)
        attrs = tuple(self.global_ref(a) if isinstance(a, P.GlobalRef) else a for a in s.attrs)
        if prim is P.setitem:
            self.setitem(s, depth, last, k, own)
            return
        if len(s.outs) != 1:
            args = [self.src(a) for a in s.args]
            expr, _ = prim.codegen(args, attrs, [a.type for a in s.args])
            targets = ", ".join(self.names.get(o) for o in s.outs)
            self.emit(depth, f"{targets} = {expr}" if s.outs else expr, s.loc)
            return
        out = s.outs[0]
        reads = {a for a in s.args if isinstance(a, ir.Var)}
        for a in s.args:
            reads |= self.expr_reads.get(a, set())
        args = [self.src(a) for a in s.args]
        expr = prim.codegen(args, attrs, [a.type for a in s.args])
        inlinable = (not prim.writes_memory and prim.inline_source
                     and (not prim.reads_memory or not self.has_effects))
        if direct.get(out, 0) == 1 and out not in nested and inlinable:
            self.exprs[out] = expr
            self.expr_locs[out] = s.loc
            self.expr_reads[out] = reads
            return
        self.emit(depth, f"{self.names.get(out)} = {expr[0]}", s.loc)

    def setitem(self, s: ir.Assign, depth, last, k, own) -> None:
        v, val, *idx = s.args
        out = s.outs[0]
        idx_src = ", ".join(self.src(i)[0] for i in idx)
        val_src = self.src(val)[0]
        if self.can_overwrite(v, last, k, own, depth):
            name = self.names.get(v)
            self.names.alias(out, name)
        else:
            name = self.names.get(out)
            self.emit(depth, f"{name} = {self.src(v)[0]}", s.loc)
        self.emit(depth, f"{name}[{idx_src}] = {val_src}", s.loc)

    def can_overwrite(self, v, last, k, own, depth) -> bool:
        """Whether statement ``k`` may reuse ``v``'s storage: ``v`` is a var of this block (not
        a function parameter), nothing reads it after statement ``k``, and it was used once in
        ``k`` (not twice, e.g. as two inits). Pending inlined expressions that read ``v`` are
        assigned to variables first."""
        if not isinstance(v, ir.Var) or v not in own or v in self.params or last.get(v) != k:
            return False
        if v in self.exprs or v in self.reused:
            return False
        for pending in [p for p, r in self.expr_reads.items() if v in r]:
            expr, _ = self.exprs.pop(pending)
            del self.expr_reads[pending]
            self.emit(depth, f"{self.names.get(pending)} = {expr}")
        return True

    def check_arch(self, s: ir.Assign) -> None:
        if self.arch != "vulkan" or s.prim.f64_on_vulkan:
            return
        if any(a.type.dtype.name == "f64" for a in s.args):
            raise TidalError(
                f"f64 {s.prim.name} is not available on Vulkan (SPIR-V's math functions are "
                "32-bit)", s.loc,
                hint="use td.init(arch='vulkan', default_fp=td.f32), or arch='cpu'/'cuda' for f64")

    def declare(self, depth: int, outs, inits, loc, reuse=None) -> list[str]:
        """Declare region variables before the region, reusing dead inits' storage."""
        names = []
        reuse = reuse or [False] * len(outs)
        for o, init, r in zip(outs, inits, reuse):
            if r:
                name = self.names.get(init)
                self.reused.add(init)
                self.names.alias(o, name)
            else:
                name = self.names.get(o)
                value = self.src(init)[0] if init is not None else self.zero(o.type)
                self.emit(depth, f"{name} = {value}", loc)
            names.append(name)
        return names

    def zero(self, t: TType) -> str:
        return literal(ir.Const(0.0 if t.is_float else 0, t), self.default_fp)

    def yields(self, depth: int, names: list[str], results, loc) -> None:
        """Assign a block's results to the region's variables, as one parallel assignment."""
        srcs = [self.src(r)[0] for r in results]
        pending = [(n, s) for n, s in zip(names, srcs) if n != s]
        final = []
        for j, (n, s) in enumerate(pending):
            earlier = {n2 for n2, _ in pending[:j]}
            words = set(re.findall(r"[A-Za-z_]\w*", s))
            if earlier & words:
                tmp = self.names.fresh(n + "_next")
                self.emit(depth, f"{tmp} = {s}", loc)
                s = tmp
            final.append((n, s))
        for n, s in final:
            self.emit(depth, f"{n} = {s}", loc)

    def if_(self, s: ir.If, depth: int) -> None:
        cond = self.src(s.cond)[0]
        names = self.declare(depth, s.outs, [None] * len(s.outs), s.loc)
        self.emit(depth, f"if {cond}:", s.loc)
        self.sub_block(s.then, depth + 1, names)
        if s.orelse.stmts or s.orelse.results:
            self.emit(depth, "else:", s.loc)
            self.sub_block(s.orelse, depth + 1, names)

    def sub_block(self, b: ir.Block, depth: int, names: list[str]) -> None:
        n0 = len(self.lines)
        self.block(b, depth, set())
        self.yields(depth, names, b.results, None)
        if len(self.lines) == n0:
            self.emit(depth, "pass")

    def for_(self, s: ir.For, depth: int, reuse) -> None:
        names = self.declare(depth, s.outs, s.inits, s.loc, reuse)
        for p, n in zip(s.params, names):
            self.names.alias(p, n)
        idx = self.names.get(s.index)
        start, stop = self.src(s.start)[0], self.src(s.stop)[0]
        rng = f"range({stop})" if start == "0" else f"range({start}, {stop})"
        self.emit(depth, f"for {idx} in {rng}:", s.loc)
        self.sub_block(s.body, depth + 1, names)

    def parallel_for(self, s: ir.ParallelFor, depth: int) -> None:
        idx = [self.names.get(i) for i in s.indices]
        ranges = []
        for a, b in zip(s.starts, s.stops):
            lo, hi = self.src(a)[0], self.src(b)[0]
            ranges.append((lo, hi))
        if len(idx) == 1 and not (self.arch in SPIRV_ARCHES and not isinstance(s.stops[0],
                                                                              ir.Const)):
            lo, hi = ranges[0]
            rng = f"range({hi})" if lo == "0" else f"range({lo}, {hi})"
        else:
            # (on SPIR-V a one-index loop with a computed bound goes through ti.ndrange too:
            # Taichi 1.7.4's SPIR-V generator refuses range(a.shape[1] // 2), "Not supported",
            # and compiles the same bound in an ndrange)
            rng = "ti.ndrange(" + ", ".join(f"({lo}, {hi})" for lo, hi in ranges) + ")"
        self.emit(depth, f"for {', '.join(idx)} in {rng}:", s.loc)
        n0 = len(self.lines)
        self.block(s.body, depth + 1, set())
        if len(self.lines) == n0:
            self.emit(depth + 1, "pass")

    def while_(self, s: ir.While, depth: int, reuse) -> None:
        names = self.declare(depth, s.outs, s.inits, s.loc, reuse)
        for p, n in zip(s.params, names):
            self.names.alias(p, n)
        n0 = len(self.lines)
        self.emit(depth, "while True:", s.loc)
        self.block(s.cond, depth + 1, set(), own_params=False)
        cond = self.src(s.cond.results[0])
        self.emit(depth + 1, f"if not {P._wrap(cond, P.PREC_NOT + 1)}:", s.loc)
        self.emit(depth + 2, "break")
        if len(self.lines) == n0 + 3:
            # the condition is one expression: use the ordinary form
            del self.lines[n0:]
            for ln in [k for k in self.line_map if k > n0]:
                del self.line_map[ln]
            self.emit(depth, f"while {cond[0]}:", s.loc)
        self.sub_block(s.body, depth + 1, names)

    # -- function --------------------------------------------------------------------------
    def kernel(self, serial_gate: bool = False) -> str:
        """The ``@ti.kernel``; with ``serial_gate`` its body sits under ``if SERIAL_GATE:``
        (an int parameter added last), where Taichi runs every loop on the launching thread:
        only a kernel's top-level loops are parallel tasks."""
        fn = self.fn
        by_name = {p.name: p for p in fn.params}
        params = []
        for name, kind in self.kernel_signature:
            if kind == "value":
                p = by_name[name]
                params.append(f"{self.names.get(p)}: {taichi_type_source(p.type)}")
            elif kind == "ndarray":
                arr = self.kernel_arrays[name]
                params.append(f"{self.array_name(arr)}: {ndarray_type_source(arr)}")
        for arg in self.scratch_args:
            params.append(f"{self.array_name(arg)}: {ndarray_type_source(arg)}")
        depth = 1
        if serial_gate:
            params.append(f"{SERIAL_GATE}: ti.i32")
        self.emit(0, "@ti.kernel", fn.loc)
        self.emit(0, f"def {self.func_name}({', '.join(params)}):", fn.loc)
        if serial_gate:
            self.emit(1, f"if {SERIAL_GATE}:", fn.loc)
            depth = 2
        n0 = len(self.lines)
        self.block(fn.body, depth, set())
        if len(self.lines) == n0:
            self.emit(depth, "pass")
        return "\n".join(self.lines) + "\n"

    def function(self) -> str:
        fn = self.fn
        params = []
        for p in fn.params:
            name = self.names.get(p)
            params.append(f"{name}: {taichi_type_source(p.type)}")
        header = f"def {self.func_name}({', '.join(params)})"
        results = fn.body.results
        if len(results) == 1:
            header += f" -> {taichi_type_source(results[0].type)}"
        self.emit(0, "@ti.func", fn.loc)
        self.emit(0, header + ":", fn.loc)
        n0 = len(self.lines)
        self.block(fn.body, 1, set())
        rs = [self.src(r)[0] for r in results]
        if rs:
            self.emit(1, f"return {', '.join(rs)}")
        if len(self.lines) == n0:
            self.emit(1, "pass")
        return "\n".join(self.lines) + "\n"


def ndarray_type_source(arr) -> str:
    """``ti.types.ndarray(...)`` source for an :class:`tidal.dsl.primitives.ArrayArg`."""
    return f"ti.types.ndarray(dtype={taichi_type_source(arr.elem)}, ndim={arr.ndim})"


def generate_kernel(kir, fn: ir.Function, scratch, kernel_name: str, default_fp: DType,
                    arch: str = "cpu", vector_mode: bool = False,
                    serial_fn: ir.Function | None = None) -> Generated:
    """Print ``fn`` (the IR of :class:`tidal.dsl.kernel_lowering.KernelIR` ``kir`` after the
    accumulation rewrite, see :mod:`tidal.dsl.pipeline`) as a ``@ti.kernel`` taking ``kir``'s
    value and ndarray parameters in order, then the ``scratch`` arrays ``[(ArrayArg, array)]``
    of its partial sums. Its serial form (CPU) is printed from ``serial_fn`` (the same kernel
    with its loops not spread over the thread pool's tasks; ``fn`` when not given)."""
    def printed(serial_gate: bool) -> Generated:
        g = _Gen(serial_fn if serial_gate and serial_fn is not None else fn, kernel_name,
                 default_fp, arch)
        g.scratch_args = [arg for arg, _ in scratch]
        g.kernel_signature = kir.signature
        g.kernel_arrays = kir.arrays
        # the kernel's own ndarray parameters keep their names; generated ones get fresh names
        for name, kind in kir.signature:
            if kind == "ndarray":
                g.array_name(kir.arrays[name])
        for arg in g.scratch_args:
            g.array_name(arg)
        src = g.kernel(serial_gate)
        return Generated(src, kernel_name, g.namespace, g.line_map, vector_mode,
                         tuple(arr for _, arr in scratch))

    generated = printed(False)
    if arch == "cpu" and any(isinstance(s, (ir.ParallelFor, ir.For, ir.While))
                             for s in fn.body.stmts):
        generated.serial = functools.partial(printed, True)  # (printed if it is launched)
    return generated


def generate(fn: ir.Function, func_name: str, default_fp: DType, arch: str = "cpu") -> Generated:
    """Generate the Taichi source of ``fn`` as a ``@ti.func`` called ``func_name``."""
    g = _Gen(fn, func_name, default_fp, arch)
    src = g.function()
    return Generated(src, func_name, g.namespace, g.line_map)
