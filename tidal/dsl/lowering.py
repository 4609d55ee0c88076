"""Lowering: a checked Python syntax tree becomes tidal IR.

Guarantees of the IR returned by :func:`lower`:

* it satisfies the invariants of :mod:`tidal.dsl.ir` (SSA, structured regions, explicit
  loop-carried state, single exit);
* every value has a concrete type; variables assigned in branches or loops are promoted to one
  type (``acc = 0`` followed by ``acc += 0.5`` makes ``acc`` a float, as in Python);
* Python-level work is done: names resolve to objects, ``ti.static`` conditions and loops are
  evaluated and unrolled, arithmetic on Python constants is folded, closures become constants;
* each statement carries the user's file and line, and every problem found on the way is raised
  as a :class:`TidalError` naming that line;
* calls of helper functions that are Taichi functions (``@ti.func``), and of tidal functions that
  take Python objects (fields, tuples) or, in kernels, touch memory, are inlined: the callee's
  body is lowered at the call site with its parameters bound to the arguments (typed where the
  callee annotates them), as Taichi inlines ``ti.func``s. Other calls of tidal functions stay
  calls, whose derivatives are the callee's.
"""

from __future__ import annotations

import ast
import copy
import inspect
import operator
from typing import Any

import numpy as np
import taichi as ti
from taichi.lang.field import Field
from taichi.lang.matrix import MatrixType, VectorType

from tidal.dsl import frontend, ir, library
from tidal.dsl import primitives as P
from tidal.dsl.emitter import Emitter, join_types
from tidal.dsl.errors import (
    SourceLoc,
    TidalError,
    TidalTypeError,
    UnsupportedConstructError,
)
from tidal.dsl.types import I32, DType, TType, dtype_from_taichi, from_annotation


def target_names(tgt) -> list[str] | None:
    """The names a loop's target binds (``i`` or ``i, j``), None for any other target."""
    if isinstance(tgt, ast.Name):
        return [tgt.id]
    if isinstance(tgt, ast.Tuple) and all(isinstance(e, ast.Name) for e in tgt.elts):
        return [e.id for e in tgt.elts]
    return None


class Undefined:
    """A name whose value is not defined at this point (reported when read)."""

    def __init__(self, name: str, why: str):
        self.name = name
        self.why = why


class Method:
    """A method of a runtime vector or matrix value, bound to it."""

    def __init__(self, fn, owner: ir.Atom, name: str):
        self.fn = fn
        self.owner = owner
        self.name = name


_MISSING = object()
#: Taichi's atomic operations other than add and sub, which tidal does not differentiate
_UNDIFFERENTIATED_ATOMICS = (ti.atomic_max, ti.atomic_min, ti.atomic_mul, ti.atomic_and,
                             ti.atomic_or, ti.atomic_xor)
_BINOPS = {
    ast.Add: (P.add, operator.add), ast.Sub: (P.sub, operator.sub),
    ast.Mult: (P.mul, operator.mul), ast.Div: (P.div, operator.truediv),
    ast.FloorDiv: (P.floordiv, operator.floordiv), ast.Mod: (P.mod, operator.mod),
    ast.MatMult: (P.matmul, operator.matmul), ast.Pow: (None, operator.pow),
}
_CMPOPS = {
    ast.Lt: (P.lt, operator.lt), ast.LtE: (P.le, operator.le), ast.Gt: (P.gt, operator.gt),
    ast.GtE: (P.ge, operator.ge), ast.Eq: (P.eq, operator.eq), ast.NotEq: (P.ne, operator.ne),
}
_BOOL_PRIMS = {P.lt, P.le, P.gt, P.ge, P.eq, P.ne, P.logical_and, P.logical_or, P.logical_not}


def is_static(v) -> bool:
    return not isinstance(v, (ir.Atom, Method, Undefined, tuple))


def holds_memory(value) -> bool:
    """Whether a name bound to ``value`` reaches memory: a field, an ndarray, or a Python object
    holding them (a ``ti.template()`` object, the ``self`` of a ``@ti.data_oriented`` method).
    Stores through such a name (``F[i] = v``, ``obj.x[i] += v``) change memory, not the name, so
    it is never loop state."""
    if isinstance(value, (Field, P.ArrayArg)):
        return True
    return not (isinstance(value, (ir.Atom, int, float, bool, complex, str, tuple, list, dict,
                                   np.ndarray, np.generic, Undefined))
                or callable(value) or inspect.ismodule(value))


def assigned_names(stmts) -> list[str]:
    """Names bound by assignment anywhere in ``stmts`` (including nested blocks), in order."""
    out: dict[str, None] = {}

    def target(t):
        if isinstance(t, ast.Name):
            out.setdefault(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                target(e)
        elif isinstance(t, (ast.Subscript, ast.Attribute)):
            base = t.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                out.setdefault(base.id)

    for s in stmts:
        for n in ast.walk(s):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    target(t)
            elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
                target(n.target)
            elif isinstance(n, ast.For):
                target(n.target)
    return list(out)


class Lowerer:
    """Lowers one parsed function. Use :func:`lower`."""

    def __init__(self, pf: frontend.ParsedFunction, default_fp: DType):
        self.pf = pf
        self.default_fp = default_fp
        self.em = Emitter(default_fp)
        self.env: dict[str, Any] = {}
        self.results: tuple | None = None
        self.bools: set[ir.Var] = set()
        self.inlining: list = []  # helpers being inlined, innermost last

    # -- entry -----------------------------------------------------------------------------
    def run(self) -> ir.Function:
        pf = self.pf
        frontend.check_subset(pf)
        tree = frontend.rewrite_control_flow(copy.deepcopy(pf.tree))
        params = []
        for arg in tree.args.args:
            if arg.annotation is None:
                raise TidalTypeError(
                    f"parameter `{arg.arg}` has no type annotation", self.loc(arg),
                    hint=f"annotate it, e.g. `{arg.arg}: td.f64` or `{arg.arg}: td.vec(3, td.f64)`")
            ann = self.annotation(arg.arg, arg.annotation, "a type annotation")
            t = self.to_type(ann, arg)
            v = ir.Var(arg.arg, t)
            params.append(v)
            self.env[arg.arg] = v
        with self.em:
            self.em.begin()
            self.block(tree.body)
            results = self.finish_results(tree)
            body = self.em.end(results)
        return ir.Function(pf.name, params, body, pf.loc(tree))

    def finish_results(self, tree) -> tuple:
        vals = self.results if self.results is not None else ()
        if not isinstance(vals, tuple):
            vals = (vals,)
        if vals == (None,):
            vals = ()
        atoms = []
        for v in vals:
            if isinstance(v, tuple):
                raise TidalTypeError("nested tuples cannot be returned", self.loc(tree))
            atoms.append(self.atom(v, tree))
        if tree.returns is not None:
            ann = self.annotation("return", tree.returns, "the return annotation")
            anns = ann if isinstance(ann, tuple) else getattr(ann, "__args__", None) or (ann,)
            if len(anns) == len(atoms):
                atoms = [self.convert(a, self.to_type(t, tree), tree) for a, t in zip(atoms, anns)]
        return tuple(atoms)

    # -- helpers ---------------------------------------------------------------------------
    def loc(self, node) -> SourceLoc:
        return self.pf.loc(node)

    def fail(self, node, msg, hint=None, cls=TidalError):
        raise cls(msg, self.loc(node), hint)

    def to_type(self, ann, node) -> TType:
        if isinstance(ann, (VectorType, MatrixType)) or ann in (float, int) or \
                isinstance(ann, type(ti.f64)):
            try:
                return from_annotation(ann, self.default_fp)
            except TidalError as e:  # name the user's line
                raise e.at(self.loc(node)) from None
        self.fail(node, f"{ann!r} is not a tidal type", "use td.f32, td.f64, td.i32, "
                  "td.vec(n, dtype) or td.mat(n, m, dtype)", TidalTypeError)

    def annotation(self, name: str, node, what: str):
        """An annotation as Python evaluated it when the function was defined (so names used
        only in annotations need not be captured), else evaluated from the source."""
        ann = getattr(self.pf.pyfunc, "__annotations__", {}).get(name)
        if ann is not None and not isinstance(ann, str):
            return ann
        return self.static_eval(node, what)

    def static_eval(self, node, what: str):
        v = self.expr(node)
        if not is_static(v) and not isinstance(v, tuple):
            self.fail(node, f"{what} must be known at compile time")
        return v

    def atom(self, v, node) -> ir.Atom:
        """The runtime value of ``v``; Python numbers become constants."""
        if isinstance(v, ir.Atom):
            return v
        if isinstance(v, Undefined):
            self.fail(node, f"`{v.name}` is {v.why}",
                      "give it a value before the branch or loop", UnsupportedConstructError)
        if isinstance(v, (bool, np.bool_)):
            return ir.Const(int(v), TType(I32))
        if isinstance(v, (int, np.integer)):
            if not -2**31 <= int(v) < 2**31:
                self.fail(node, f"integer {v} does not fit in i32")
            return ir.Const(int(v), TType(I32))
        if isinstance(v, (float, np.floating)):
            return ir.Const(float(v), TType(self.default_fp))
        if isinstance(v, ti.Matrix):  # a vector or matrix made in Python scope
            v = v.to_numpy()
        if isinstance(v, np.ndarray) and v.ndim in (1, 2) and v.size <= 64:
            dt = self.default_fp if v.dtype.kind == "f" else I32
            return self.em.const(v, TType(dt, v.shape))
        if isinstance(v, Method):
            self.fail(node, f"method `{v.name}` must be called")
        what = type(v).__name__
        self.fail(node, f"a Python value of type `{what}` cannot be used as a tidal value",
                  "tidal values are numbers, vectors and matrices; close over Python numbers, "
                  "read arrays from Taichi fields", TidalTypeError)

    def convert(self, a: ir.Atom, t: TType, node) -> ir.Atom:
        """Convert ``a`` to type ``t`` (casting dtype, broadcasting scalars)."""
        if a.type == t:
            return a
        if a.type.shape != t.shape and not a.type.is_scalar:
            self.fail(node, f"expected a value of type {t}, got {a.type}", cls=TidalTypeError)
        with self.at(node):
            return self.em.fit(a, t)

    def at(self, node):
        lw = self

        class _At:
            def __enter__(self_inner):
                self_inner.saved = lw.em.loc
                lw.em.loc = lw.loc(node)

            def __exit__(self_inner, exc_type, exc, tb):
                lw.em.loc = self_inner.saved
                if isinstance(exc, TidalError):
                    exc.at(lw.loc(node))
                return False

        return _At()

    def truth(self, v, node) -> ir.Atom:
        a = self.atom(v, node)
        if not a.type.is_scalar:
            self.fail(node, "the truth value of a vector is ambiguous",
                      "compare elements, or use .max()/.min()", TidalTypeError)
        if isinstance(a, ir.Var) and a in self.bools:
            return a
        with self.at(node):
            r = P.ne(a, 0.0 if a.type.is_float else 0)
        self._mark_bool(r)
        return r

    def _booly(self, a) -> bool:
        """Whether ``a`` is known to be 0 or 1."""
        if isinstance(a, ir.Const):
            return not a.type.is_float and a.type.is_scalar and a.value in (0, 1)
        return a in self.bools

    def _mark_bool(self, r):
        if isinstance(r, ir.Var):
            self.bools.add(r)

    def name_value(self, name: str, value):
        """Give a freshly computed var the user's name, for readable generated code."""
        fresh = isinstance(value, ir.Var) and value.serial > self._stmt_serial
        if fresh and value.name in ("t", "c"):
            value.name = name

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts):
        for s in stmts:
            if self.results is not None:
                self.fail(s, "unreachable code after return", cls=UnsupportedConstructError)
            self.stmt(s)

    def stmt(self, node):
        self._stmt_serial = ir.serial_now()
        with self.at(node):
            getattr(self, "stmt_" + type(node).__name__)(node)

    def stmt_Pass(self, node):
        pass

    def stmt_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring
        if isinstance(node.value, ast.Call):
            self.expr(node.value)  # a helper called for what it does (kernels: its stores)
            return
        self.fail(node, "this expression statement has no effect in a tidal function",
                  "tidal functions have no side effects; assign the value or return it",
                  UnsupportedConstructError)

    def stmt_Assert(self, node):
        v = self.expr(node.test)
        if not is_static(v):
            self.fail(node, "assert needs a condition known at compile time",
                      cls=UnsupportedConstructError)
        if not v:
            msg = self.static_eval(node.msg, "assert message") if node.msg else "assertion failed"
            self.fail(node, f"static assertion failed: {msg}")

    def stmt_Return(self, node):
        self.results = self.expr(node.value) if node.value is not None else None

    def stmt_Assign(self, node):
        value = self.expr(node.value)
        for t in node.targets:
            self.assign(t, value, node)

    def stmt_AnnAssign(self, node):
        if node.value is None:
            self.fail(node, "a declaration needs a value", f"write `{ast.unparse(node)} = ...`",
                      UnsupportedConstructError)
        t = self.to_type(self.static_eval(node.annotation, "a type annotation"), node)
        value = self.convert(self.atom(self.expr(node.value), node), t, node)
        self.assign(node.target, value, node)

    def stmt_AugAssign(self, node):
        cur = self.expr(node.target)
        rhs = self.expr(node.value)
        value = self.binop(node.op, cur, rhs, node)
        self.assign(node.target, value, node)

    def assign(self, target, value, node):
        if isinstance(target, ast.Name):
            if target.id.startswith("__"):
                self.fail(node, "names starting with __ are reserved")
            self.name_value(target.id, value)
            self.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, ir.Atom) and value.type.is_vector:
                items = tuple(value[i] for i in range(value.type.shape[0]))
            elif isinstance(value, tuple):
                items = value
            else:
                self.fail(node, "cannot unpack this value", cls=TidalTypeError)
            if len(items) != len(target.elts):
                self.fail(node, f"cannot unpack {len(items)} values into {len(target.elts)} "
                          "names", cls=TidalTypeError)
            for t, v in zip(target.elts, items):
                self.assign(t, v, node)
        elif isinstance(target, (ast.Subscript, ast.Attribute)):
            base_node = target.value
            if self.memory_object(target) is not None:
                self.store(target, value, node)
                return
            base = self.expr(base_node)
            if not (isinstance(base, ir.Atom) and not base.type.is_scalar):
                self.fail(node, "only elements of vectors and matrices can be assigned",
                          cls=TidalTypeError)
            idx = self.indices(target, base)
            s = self.convert(self.atom(value, node), base.type.scalar, node)
            new = P.setitem(base, s, *idx)
            self.assign(base_node, new, node)
        else:
            self.fail(node, f"cannot assign to `{ast.unparse(target)}`",
                      cls=UnsupportedConstructError)

    def indices(self, node, base: ir.Atom) -> list[ir.Atom]:
        """Index atoms of ``base[...]`` or ``base.x`` for a vector or matrix ``base``."""
        shape = base.type.shape
        if isinstance(node, ast.Attribute):
            if node.attr not in library.COMPONENTS or not base.type.is_vector:
                self.fail(node, f"`.{node.attr}` is not a component of {base.type}",
                          cls=TidalTypeError)
            i = library.COMPONENTS[node.attr]
            if i >= shape[0]:
                self.fail(node, f"`.{node.attr}` is out of range for {base.type}",
                          cls=TidalTypeError)
            return [ir.Const(i, TType(I32))]
        sl = node.slice
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        if len(elts) != len(shape):
            self.fail(node, f"{base.type} needs {len(shape)} indices, got {len(elts)}",
                      cls=TidalTypeError)
        out = []
        for e, n in zip(elts, shape):
            if isinstance(e, ast.Slice):
                self.fail(node, "slices are not supported", cls=UnsupportedConstructError)
            v = self.expr(e)
            if is_static(v):
                if not isinstance(v, (int, np.integer)):
                    self.fail(node, f"index {v!r} is not an integer", cls=TidalTypeError)
                v = int(v) + (n if v < 0 else 0)
                if not 0 <= v < n:
                    self.fail(node, f"index out of range for {base.type}", cls=TidalTypeError)
            a = self.atom(v, e)
            if a.type.is_float or not a.type.is_scalar:
                self.fail(node, "indices must be integers", cls=TidalTypeError)
            out.append(a)
        return out

    # -- control flow ----------------------------------------------------------------------
    def stmt_If(self, node):
        cond = self.expr(node.test)
        if is_static(cond):
            self.block(node.body if cond else node.orelse)
            return
        c = self.truth(cond, node.test)
        env0 = self.env
        branches = []
        for stmts in (node.body, node.orelse):
            self.env = dict(env0)
            self.em.begin()
            token = self.enter_region(loop=False)
            self.block(stmts)
            self.leave_region(token)
            branches.append((self.env, self.em.end()))
        self.env = env0
        (env_t, blk_t), (env_e, blk_e) = branches
        names = [n for n in assigned_names(node.body + node.orelse)
                 if env_t.get(n, _MISSING) is not env0.get(n, _MISSING)
                 or env_e.get(n, _MISSING) is not env0.get(n, _MISSING)]
        joined = {}
        res_t, res_e = [], []
        for n in names:
            a, b = env_t.get(n, _MISSING), env_e.get(n, _MISSING)
            val = self.join_value(n, a, b, res_t, res_e, node)
            joined[n] = val
        types = [join_types(x.type, y.type) for x, y in zip(res_t, res_e)]
        for blk, res in ((blk_t, res_t), (blk_e, res_e)):
            with self.em.reopen(blk):
                blk.results = tuple(self.convert(r, t, node) for r, t in zip(res, types))
        outs = [ir.Var(self._out_name(x), t) for x, t in zip(res_t, types)]
        for o, x, y in zip(outs, res_t, res_e):
            if self._booly(x) and self._booly(y):
                self.bools.add(o)
        effects = any(isinstance(st, ir.Assign) and st.prim.effect
                      for b in (blk_t, blk_e) for st in ir.walk(b))
        if outs or effects:
            self.em.append(ir.If(c, blk_t, blk_e, outs, self.loc(node)))
        for n, val in joined.items():
            self.env[n] = self._substitute(val, outs)

    @staticmethod
    def _out_name(a):
        return a.name if isinstance(a, ir.Var) else "t"

    def join_value(self, name, a, b, res_t, res_e, node):
        """Join the values a name has at the end of two branches; returns a placeholder
        (an index into the If's outputs) or the common value."""
        internal = name.startswith(frontend.FLAG_PREFIX)
        if a is _MISSING or b is _MISSING or isinstance(a, Undefined) or isinstance(b, Undefined):
            defined = b if (a is _MISSING or isinstance(a, Undefined)) else a
            if internal and defined is not _MISSING and not isinstance(defined, Undefined):
                a = a if a is not _MISSING and not isinstance(a, Undefined) else \
                    self.zero_like_value(defined, node)
                b = b if b is not _MISSING and not isinstance(b, Undefined) else \
                    self.zero_like_value(defined, node)
            else:
                return Undefined(name, f"assigned in only one branch of the `if` at line "
                                       f"{node.lineno}")
        if isinstance(a, tuple) or isinstance(b, tuple):
            if not (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)):
                self.fail(node, f"`{name}` holds different kinds of values in the two branches",
                          cls=TidalTypeError)
            return tuple(self.join_value(name, x, y, res_t, res_e, node) for x, y in zip(a, b))
        if is_static(a) and is_static(b) and type(a) is type(b) and _static_equal(a, b):
            return a
        if a is b:
            return a
        at, bt = self.atom(a, node), self.atom(b, node)
        try:
            join_types(at.type, bt.type)
        except TidalError as e:
            raise TidalTypeError(f"`{name}`: {e.message}", self.loc(node)) from None
        res_t.append(at)
        res_e.append(bt)
        return _OutRef(len(res_t) - 1)

    def zero_like_value(self, v, node):
        if isinstance(v, tuple):
            return tuple(self.zero_like_value(x, node) for x in v)
        if v is None:
            return None
        a = self.atom(v, node)
        return library.zero_value(a.type)

    def _substitute(self, val, outs):
        if isinstance(val, _OutRef):
            return outs[val.i]
        if isinstance(val, tuple):
            return tuple(self._substitute(v, outs) for v in val)
        return val

    def stmt_For(self, node):
        it = node.iter
        if isinstance(it, ast.Call) and self._resolves_to(it.func, range):
            return self.runtime_for(node)
        if isinstance(it, ast.Call):
            callee = self._static_callee(it.func)
            if callee is ti.ndrange:
                return self.ndrange_for(node, it)
            if callee is ti.grouped:
                return self.grouped_for(node, it)
        seq = self.expr(it)
        if isinstance(seq, ir.Atom):
            self.fail(node, "loops iterate over range(...), ti.ndrange(...) or ti.static(...) "
                      "only", cls=UnsupportedConstructError)
        try:
            items = list(seq)
        except TypeError:
            self.fail(node, f"cannot iterate over {type(seq).__name__}",
                      cls=UnsupportedConstructError)
        if len(items) > 4096:
            self.fail(node, f"static loop of {len(items)} iterations is too long to unroll",
                      "use a runtime `for i in range(n)` loop")
        for v in items:
            self.assign(node.target, v, node)
            self.block(node.body)

    def _resolves_to(self, func_node, obj) -> bool:
        if isinstance(func_node, ast.Name) and func_node.id not in self.env:
            try:
                return self.pf.resolve(func_node.id) is obj
            except KeyError:
                return False
        return False

    def _static_callee(self, func_node):
        """The Python object a call's function expression names (``ti.ndrange``), or None
        where it is a runtime value."""
        if not isinstance(func_node, (ast.Name, ast.Attribute)):
            return None
        try:
            obj = self.expr(func_node)
        except TidalError:
            return None
        return None if isinstance(obj, ir.Atom) else obj

    def ndrange_for(self, node, call):
        """``for i, j in ti.ndrange(n, (lo, hi))`` below a kernel's top level or in a function
        (see :meth:`flat_loop`)."""
        names = target_names(node.target)
        bounds = self.ndrange_args(call, node)
        if names is None or len(names) != len(bounds):
            self.fail(node, f"unpack one index name per dimension of this ti.ndrange "
                      f"({len(bounds)})", "write `for i, j in ti.ndrange(n, m):`, or "
                      "`for I in ti.grouped(ti.ndrange(n, m)):` for a vector of indices",
                      UnsupportedConstructError)

        def bind(env, indices):
            env.update(zip(names, indices))

        self.flat_loop(node, bounds, names, bind)

    def grouped_for(self, node, call):
        """``for I in ti.grouped(ti.ndrange(...))`` or ``ti.grouped(field)`` below a kernel's
        top level or in a function: ``I`` the vector of indices (see :meth:`flat_loop`)."""
        if not isinstance(node.target, ast.Name) or len(call.args) != 1 or call.keywords:
            self.fail(node, "ti.grouped(...) takes one field or ti.ndrange and gives one "
                      "index vector: `for I in ti.grouped(x):`", cls=TidalTypeError)
        arg = call.args[0]
        if isinstance(arg, ast.Call) and self._static_callee(arg.func) is ti.ndrange:
            bounds = self.ndrange_args(arg, node)
        else:
            bounds = self.index_ranges(self.expr(arg), node)
            if bounds is None:
                self.fail(node, "ti.grouped(...) takes one field, ndarray or ti.ndrange",
                          cls=TidalTypeError)
        name = node.target.id

        def bind(env, indices):
            env[name] = P.make(*indices, shape=(len(indices),))

        self.flat_loop(node, bounds, [name], bind)

    def index_ranges(self, obj, node) -> list | None:
        """The ``(0, extent)`` integer atoms of each index of a field or an ndarray argument
        (what ``for i, j in x`` and ``ti.grouped(x)`` iterate over), None for anything else;
        a field of shape () is refused."""
        if isinstance(obj, Field):
            if not obj.shape:
                self.fail(node, "a field of shape () has no index to loop over",
                          "read its one element as x[None]", UnsupportedConstructError)
            return [(ir.Const(0, TType(I32)), ir.Const(int(n), TType(I32))) for n in obj.shape]
        if isinstance(obj, P.ArrayArg):
            ref = P.GlobalRef(obj, obj.name)
            with self.at(node):
                return [(ir.Const(0, TType(I32)), self.atom(P.array_size(ref=ref, dim=d), node))
                        for d in range(obj.ndim)]
        return None

    def ndrange_args(self, call, node) -> list:
        """The ``(lo, hi)`` integer atoms of each dimension of a ``ti.ndrange(...)`` call."""
        if call.keywords or not call.args:
            self.fail(node, "ti.ndrange takes one bound (n or (lo, hi)) per dimension",
                      cls=TidalTypeError)
        bounds = []
        for a in call.args:
            v = self.expr(a)
            lo, hi = v if isinstance(v, tuple) and len(v) == 2 else (0, v)
            lo, hi = self.atom(lo, node), self.atom(hi, node)
            if any(b.type.is_float or not b.type.is_scalar for b in (lo, hi)):
                self.fail(node, "ti.ndrange bounds must be integers", cls=TidalTypeError)
            bounds.append((lo, hi))
        return bounds

    def flat_loop(self, node, bounds: list, names: list, bind) -> None:
        """One serial loop over the product of the extents of ``bounds`` whose body sees the
        indices (decoded from the flat one in Taichi's order, the last fastest) through
        ``bind(env, indices)``: ``break`` and ``continue`` then act on the whole range, as in
        Taichi. The bounds are read once, before the loop."""
        self.check_loop_variables(node, names)
        with self.at(node):
            extents = [P.maximum(hi - lo, 0) for lo, hi in bounds]
            total = extents[0]
            for e in extents[1:]:
                total = total * e
        index = ir.Var("q", TType(I32))

        def body_env(env):
            with self.at(node):
                indices = [None] * len(bounds)
                rest = index
                for d in range(len(bounds) - 1, 0, -1):
                    indices[d] = bounds[d][0] + P.mod(rest, extents[d])
                    rest = P.floordiv(rest, extents[d])
                indices[0] = bounds[0][0] + rest
                bind(env, indices)
            return env

        self.loop(node, node.body, body_env, kind="for", index=index,
                  bounds=(ir.Const(0, TType(I32)), self.atom(total, node)))

    def check_loop_variables(self, node, names) -> None:
        """Refuse a loop whose body assigns one of its index variables."""
        for name in names:
            if name in assigned_names(node.body):
                self.fail(node, f"the loop variable `{name}` is assigned inside the loop",
                          "use another name for the value you compute",
                          UnsupportedConstructError)

    def runtime_for(self, node):
        call = node.iter
        if call.keywords or not 1 <= len(call.args) <= 3:
            self.fail(node, "range() takes 1 to 3 positional arguments", cls=TidalTypeError)
        args = [self.expr(a) for a in call.args]
        if len(args) == 1:
            args = [0] + args
        start, stop = (self.atom(a, node) for a in args[:2])
        step = args[2] if len(args) == 3 else 1
        if not is_static(step) or not isinstance(step, int) or step == 0:
            self.fail(node, "the step of range() must be a nonzero integer constant",
                      cls=UnsupportedConstructError)
        for a in (start, stop):
            if a.type.is_float or not a.type.is_scalar:
                self.fail(node, "range() bounds must be integers", cls=TidalTypeError)
        if not isinstance(node.target, ast.Name):
            self.fail(node, "the loop variable must be a single name",
                      cls=UnsupportedConstructError)
        target = node.target.id
        self.check_loop_variables(node, [target])
        with self.at(node):
            if step == 1:
                lo, count = start, None
            else:
                span = stop - start
                count = P.maximum(P.floordiv(span + (step - 1 if step > 0 else step + 1), step), 0)
                lo = start
        index = ir.Var(target, TType(I32))

        def body_env(env):
            if step == 1:
                env[target] = index
            else:
                env[target] = lo + index * step
            return env

        self.loop(node, node.body, body_env, kind="for", index=index,
                  bounds=(start, stop) if step == 1 else (ir.Const(0, TType(I32)), count))

    def stmt_While(self, node):
        self.loop(node, node.body, lambda env: env, kind="while", test=node.test)

    def loop(self, node, body, body_env, kind, index=None, bounds=None, test=None):
        """Lower a runtime loop, iterating until the carried types are stable."""
        assigned = assigned_names(body)
        env0 = self.env
        # names of fields and ndarrays are "assigned" by element stores, which change memory,
        # not the name: they are not loop state
        carried = [n for n in assigned if n in env0 and not isinstance(env0[n], Undefined)
                   and not holds_memory(env0[n])
                   and not (isinstance(env0[n], ir.Var) and env0[n] is index)]
        inits = {n: self.loop_init(env0[n], n, node) for n in carried}
        types = {n: _value_types(v) for n, v in inits.items()}
        for _attempt in range(6):
            params = {n: _make_params(n, types[n]) for n in carried}
            flat_params = [p for n in carried for p in _flatten(params[n])]
            cond_block = None
            token = self.enter_region(loop=True)
            if kind == "while":
                self.em.begin(flat_params)
                self.env = body_env(dict(env0, **params))
                cv = self.expr(test)
                if is_static(cv):
                    self.em.discard()
                    self.env = env0
                    self.leave_region(token)
                    if not cv:
                        return
                    self.fail(node, "this while loop never ends (its condition is always true)",
                              "add a `break`, or loop over range(n)", UnsupportedConstructError)
                c = self.truth(cv, test)
                cond_block = self.em.end((c,))
            self.em.begin(flat_params)
            self.env = body_env(dict(env0, **params))
            self.block(body)
            env_b = self.env
            results = {n: env_b[n] for n in carried}
            new = [n for n in assigned if n not in carried and n in env_b
                   and n.startswith(frontend.FLAG_PREFIX)
                   and not isinstance(env_b[n], Undefined)]
            changed = False
            for n in carried:
                t_new = _join_value_types(types[n], results[n], self, node, n)
                if t_new != types[n]:
                    types[n] = t_new
                    changed = True
            for n in new:
                carried.append(n)
                inits[n] = self.zero_like_value(env_b[n], node)
                types[n] = _value_types(inits[n])
                changed = True
            if not changed:
                break
            self.em.discard()
            self.leave_region(token)
        else:
            self.fail(node, "could not settle the types of the loop's variables")
        flat_res = []
        for n in carried:
            for r, t in zip(_flatten(results[n]), _flatten(types[n])):
                flat_res.append(self.convert(self.atom(r, node), t, node))
        body_block = self.em.end(tuple(flat_res))
        self.leave_region(token)
        self.env = env0
        flat_inits = []
        for n in carried:
            for v, t in zip(_flatten(inits[n]), _flatten(types[n])):
                flat_inits.append(self.convert(self.atom(v, node), t, node))
        outs = [ir.Var(p.name, p.type) for p in flat_params]
        if kind == "for":
            stmt = ir.For(index, bounds[0], bounds[1], flat_inits, body_block, outs, self.loc(node))
        else:
            stmt = ir.While(flat_inits, cond_block, body_block, outs, self.loc(node))
        self.em.append(stmt)
        it = iter(outs)
        for n in carried:
            self.env[n] = _unflatten(types[n], it)
        for n in assigned:
            if n not in carried and n in env_b and n not in env0:
                self.env[n] = Undefined(n, f"defined only inside the loop at line {node.lineno}")

    def loop_init(self, v, name, node):
        if isinstance(v, tuple):
            return tuple(self.loop_init(x, name, node) for x in v)
        if v is None:
            self.fail(node, f"`{name}` has no value before the loop")
        if isinstance(v, Method) or (is_static(v) and not isinstance(
                v, (int, float, bool, np.number, np.ndarray))):
            self.fail(node, f"`{name}` holds a Python object and cannot change inside a loop",
                      cls=TidalTypeError)
        return self.atom(v, node)

    # -- expressions -----------------------------------------------------------------------
    def expr(self, node):
        with self.at(node):
            return getattr(self, "expr_" + type(node).__name__)(node)

    def expr_Constant(self, node):
        if isinstance(node.value, str):
            return node.value
        return node.value

    def expr_Name(self, node):
        if node.id in self.env:
            v = self.env[node.id]
            if isinstance(v, Undefined):
                self.fail(node, f"`{v.name}` is {v.why}",
                          "give it a value before the branch or loop",
                          UnsupportedConstructError)
            return v
        try:
            return self.pf.resolve(node.id)
        except KeyError:
            self.fail(node, f"name `{node.id}` is not defined")

    def expr_Tuple(self, node):
        return tuple(self.expr(e) for e in node.elts)

    expr_List = expr_Tuple

    def expr_Attribute(self, node):
        base = self.expr(node.value)
        if isinstance(base, ir.Atom):
            if base.type.is_scalar:
                self.fail(node, f"scalars have no attribute `{node.attr}`", cls=TidalTypeError)
            if node.attr in library.COMPONENTS:
                return P.getitem(base, *self.indices(node, base))
            if node.attr == "n":
                return base.type.shape[0]
            if node.attr == "m":
                return base.type.shape[1] if base.type.is_matrix else 1
            if node.attr in library.METHODS:
                return Method(library.METHODS[node.attr], base, node.attr)
            self.fail(node, f"{base.type} values have no attribute `{node.attr}`",
                      cls=UnsupportedConstructError)
        if not is_static(base):
            self.fail(node, f"cannot take attribute `{node.attr}` here", cls=TidalTypeError)
        try:
            return getattr(base, node.attr)
        except AttributeError:
            self.fail(node, f"`{ast.unparse(node.value)}` has no attribute `{node.attr}`")

    def expr_Subscript(self, node):
        base = self.expr(node.value)
        if isinstance(base, (Field, P.ArrayArg)):
            return self.load(base, node)
        if isinstance(base, ir.Atom):
            if base.type.is_scalar:
                self.fail(node, "cannot index a scalar", cls=TidalTypeError)
            return P.getitem(base, *self.indices(node, base))
        if isinstance(base, tuple) or is_static(base):
            idx = self.expr(node.slice)
            if not is_static(idx) and not isinstance(idx, tuple):
                self.fail(node, "Python sequences can only be indexed with constants",
                          cls=TidalTypeError)
            try:
                return base[idx]
            except Exception as e:  # noqa: BLE001 - report any Python indexing failure
                self.fail(node, f"indexing failed: {e}")
        self.fail(node, "cannot index this value", cls=TidalTypeError)

    def memory_object(self, target):
        """The field or ndarray a subscript ``target`` indexes, or None."""
        if not isinstance(target, ast.Subscript):
            return None
        try:
            base = self.expr(target.value)
        except TidalError:
            return None
        return base if isinstance(base, (Field, P.ArrayArg)) else None

    def store(self, target, value, node):
        """``F[i] = value``: functions have no side effects (kernels override this)."""
        self.fail(node, "tidal functions cannot write to fields",
                  "return the value and store it in a kernel", UnsupportedConstructError)

    def memory_ref(self, obj, node):
        """(reference, index atoms, element type) of ``obj[...]`` for a field or ndarray."""
        shape = obj.shape
        sl = node.slice
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        if not shape and len(elts) == 1 and isinstance(elts[0], ast.Constant) \
                and elts[0].value is None:
            elts = []
        idx = []
        for e in elts:
            v = self.expr(e)
            # an index may be a vector of integers (`grid[base + offset]`) or a tuple of them
            parts = list(v) if isinstance(v, tuple) else \
                [v[k] for k in range(v.type.shape[0])] if isinstance(v, ir.Atom) and \
                v.type.is_vector and not v.type.is_float else [v]
            for part in parts:
                a = self.atom(part, e)
                if a.type.is_float or not a.type.is_scalar:
                    self.fail(node, "indices must be integers", cls=TidalTypeError)
                idx.append(a)
        if len(idx) != len(shape):
            self.fail(node, f"`{ast.unparse(node.value)}` has {len(shape)} dimensions, got "
                      f"{len(idx)} indices", cls=TidalTypeError)
        if isinstance(obj, P.ArrayArg):
            return P.GlobalRef(obj, obj.name), idx, obj.elem
        name = ast.unparse(node.value).replace(".", "_").replace("[", "_").replace("]", "")
        return P.GlobalRef(obj, name), idx, field_element_type(obj, self.default_fp)

    def load(self, obj, node):
        ref, idx, et = self.memory_ref(obj, node)
        return P.load(*idx, ref=ref, elem=et)

    def expr_BinOp(self, node):
        a = self.expr(node.left)
        b = self.expr(node.right)
        return self.binop(node.op, a, b, node)

    def binop(self, op, a, b, node):
        if type(op) not in _BINOPS:
            self.fail(node, f"operator {type(op).__name__} is not supported",
                      cls=UnsupportedConstructError)
        prim, pyop = _BINOPS[type(op)]
        if is_static(a) and is_static(b):
            try:
                return pyop(a, b)
            except Exception as e:  # noqa: BLE001 - report Python's own error
                self.fail(node, f"{e}")
        if isinstance(a, tuple) or isinstance(b, tuple):
            # list arithmetic of Python: `[0.0] * n`, `[a] + [b]`
            if isinstance(op, ast.Mult) and isinstance(a, tuple) and isinstance(b, int):
                return a * b
            if isinstance(op, ast.Mult) and isinstance(b, tuple) and isinstance(a, int):
                return b * a
            if isinstance(op, ast.Add) and isinstance(a, tuple) and isinstance(b, tuple):
                return a + b
            self.fail(node, "arithmetic on tuples is not supported", cls=TidalTypeError)
        if isinstance(op, ast.Pow):
            base = self.atom(a, node)
            if is_static(b) and isinstance(b, (int, np.integer)):
                return P.ipow(base, n=int(b))
            if is_static(b) and isinstance(b, float) and b.is_integer() and abs(b) <= 64:
                return P.ipow(base, n=int(b))
            exp = self.atom(b, node)
            return P.pow_(base, exp)
        return prim(self.arg_atom(a, node), self.arg_atom(b, node))

    def expr_UnaryOp(self, node):
        v = self.expr(node.operand)
        if is_static(v):
            ops = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
            if type(node.op) not in ops:
                self.fail(node, "operator not supported", cls=UnsupportedConstructError)
            return ops[type(node.op)](v)
        if isinstance(node.op, ast.USub):
            return P.neg(self.atom(v, node))
        if isinstance(node.op, ast.UAdd):
            return self.atom(v, node)
        if isinstance(node.op, ast.Not):
            r = P.logical_not(self.truth(v, node))
            self._mark_bool(r)
            return r
        self.fail(node, "bitwise inversion is not supported", cls=UnsupportedConstructError)

    def expr_Compare(self, node):
        left = self.expr(node.left)
        result = None
        for op, right_node in zip(node.ops, node.comparators):
            right = self.expr(right_node)
            if isinstance(op, (ast.Is, ast.IsNot)) and not isinstance(left, ir.Atom) \
                    and not isinstance(right, ir.Atom):
                # identity of compile-time objects (`ti.static(x is None)`)
                r = (left is right) == isinstance(op, ast.Is)
            elif type(op) not in _CMPOPS:
                self.fail(node, f"comparison {type(op).__name__} is not supported",
                          cls=UnsupportedConstructError)
            elif is_static(left) and is_static(right):
                r = _CMPOPS[type(op)][1](left, right)
            else:
                r = _CMPOPS[type(op)][0](self.arg_atom(left, node), self.arg_atom(right, node))
                self._mark_bool(r)
            result = r if result is None else self.logic(P.logical_and, result, r, node)
            left = right
        return result

    def logic(self, prim, a, b, node):
        if is_static(a) and is_static(b):
            return bool(a and b) if prim is P.logical_and else bool(a or b)
        if is_static(a):
            if prim is P.logical_and:
                return self.truth(b, node) if a else False
            return True if a else self.truth(b, node)
        if is_static(b):
            return self.logic(prim, b, a, node)
        r = prim(self.truth(a, node), self.truth(b, node))
        self._mark_bool(r)
        return r

    def expr_BoolOp(self, node):
        prim = P.logical_and if isinstance(node.op, ast.And) else P.logical_or
        result = self.expr(node.values[0])
        for v in node.values[1:]:
            if is_static(result):
                if prim is P.logical_and and not result:
                    return result
                if prim is P.logical_or and result:
                    return result
            result = self.logic(prim, result, self.expr(v), node)
        return result

    def expr_IfExp(self, node):
        c = self.expr(node.test)
        if is_static(c):
            return self.expr(node.body if c else node.orelse)
        # Python evaluates only the branch the condition picks, and `x[i - 1] if i > 0 else 0.0`
        # relies on it: branches that read memory become an `if`, so a guarded load (and its
        # adjoint's add, which would otherwise write outside the field) runs only where the
        # guard holds. Taichi's select evaluates both. Branches without memory stay a select.
        cond = self.truth(c, node)
        branches = []
        for sub in (node.body, node.orelse):
            self.em.begin()
            token = self.enter_region(loop=False)
            value = self.atom(self.expr(sub), node)
            self.leave_region(token)
            branches.append((value, self.em.end()))
        (a, blk_a), (b, blk_b) = branches
        if not any(isinstance(st, ir.Assign) and st.prim.touches_memory
                   for blk in (blk_a, blk_b) for st in ir.walk(blk)):
            for st in blk_a.stmts + blk_b.stmts:
                self.em.append(st)
            return P.select(cond, a, b)
        t = join_types(a.type, b.type)
        for blk, value in ((blk_a, a), (blk_b, b)):
            with self.em.reopen(blk):
                blk.results = (self.convert(value, t, node),)
        out = ir.Var("picked", t)
        self.em.append(ir.If(cond, blk_a, blk_b, (out,), self.loc(node)))
        return out

    def expr_Call(self, node):
        fn = self.expr(node.func)
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self.starred(a))
            else:
                args.append(self.expr(a))
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords}
        if isinstance(fn, Method):
            if kwargs:
                self.fail(node, "keyword arguments are not supported here",
                          cls=UnsupportedConstructError)
            # static arguments that are not values (`v.cast(int)`) are passed as they are
            return fn.fn(fn.owner, *[self.arg_atom(a, node) if _value_like(a) or
                                     isinstance(a, tuple) else a for a in args])
        if not is_static(fn):
            self.fail(node, "this value is not callable", cls=TidalTypeError)
        return self.call_static(fn, args, kwargs, node)

    def starred(self, node: ast.Starred) -> list:
        """The arguments ``*value`` stands for: the items of a tuple or list (static, or of
        values) or the elements of a vector."""
        value = self.expr(node.value)
        if isinstance(value, (tuple, list)):
            return list(value)
        if isinstance(value, ir.Atom) and value.type.is_vector:
            return [P.getitem(value, i) for i in range(value.type.shape[0])]
        self.fail(node, "only a tuple, a list or a vector can be unpacked into arguments",
                  cls=TidalTypeError)

    def arg_atom(self, a, node):
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            return a  # Python numbers take the type of the other operands
        return self.atom(a, node)

    def call_static(self, fn, args, kwargs, node):

        if getattr(fn, "__tidal_function__", False):
            if kwargs:
                self.fail(node, "tidal functions take positional arguments only",
                          cls=UnsupportedConstructError)
            if fn.pyfunc is not None and self.inlines(fn, args):
                return self.inline(fn.pyfunc, args, {}, node)
            return self.emit_call(fn, [self.atom(a, node) for a in args], node)
        helper = taichi_helper(fn)
        if helper is not None:
            return self.inline(helper, args, kwargs, node)
        if fn is ti.static:
            if len(args) != 1 or kwargs:
                self.fail(node, "ti.static takes one argument")
            if isinstance(args[0], ir.Atom):
                self.fail(node, "ti.static needs a value known at compile time",
                          cls=TidalTypeError)
            return args[0]
        handler = _CONSTRUCTORS.get(fn) if _hashable(fn) else None
        if handler is None and isinstance(fn, (VectorType, MatrixType)):
            handler = _construct_typed
            args = [fn] + args
        if handler is not None:
            return handler(self, args, kwargs, node)
        impl = library.FUNCTIONS.get(fn) if _hashable(fn) else None
        if impl is not None:
            if all(is_static(a) for a in args) and not kwargs and _pure_python(fn):
                return fn(*args)
            kw = {k: self.arg_atom(v, node) if _value_like(v) else v for k, v in kwargs.items()}
            try:
                # a type argument (ti.svd(m, ti.f64)) passes as it is
                return impl(*[a if isinstance(a, type(ti.f64)) else self.arg_atom(a, node)
                              for a in args], **kw)
            except TypeError as e:  # the Python signature did not match the call
                self.fail(node, f"{getattr(fn, '__name__', fn)}: {e}", cls=TidalTypeError)
        if fn is range:
            if all(is_static(a) for a in args) and not kwargs:
                return range(*args)
            self.fail(node, "range() with runtime bounds can only be the iterable of a for loop",
                      cls=UnsupportedConstructError)
        name = getattr(fn, "__name__", repr(fn))
        if getattr(fn, "_is_wrapped_kernel", False):
            self.fail(node, f"`{name}` is a kernel, which cannot be called from inside a kernel "
                      "or function", f"make `{name}` a @ti.func or @td.func",
                      UnsupportedConstructError)
        if all(is_static(a) for a in args) and all(is_static(v) for v in kwargs.values()) \
                and _compile_time_callable(fn):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - surface the Python error at the user's line
                self.fail(node, f"calling {getattr(fn, '__name__', fn)} at compile time "
                          f"failed: {e}")
        if any(fn is a for a in _UNDIFFERENTIATED_ATOMICS):
            self.fail(node, f"ti.{name} is not supported by tidal: its derivative depends on "
                      "which iteration's value wins (ti.atomic_add and ti.atomic_sub are)",
                      "for a maximum or minimum, loop over the values in one iteration (`for _ "
                      "in range(1): m = ti.max(m, v[i])` in a serial loop), which tidal "
                      "differentiates; or launch this kernel outside the tape",
                      UnsupportedConstructError)
        self.fail(node, f"cannot call `{name}` with runtime values in a tidal function",
                  f"decorate `{name}` with @td.func, or compute the value outside",
                  UnsupportedConstructError)


    # -- helpers inlined at their call sites -------------------------------------------------
    def emit_call(self, fn, atoms: list, node):
        """A call of tidal function ``fn`` on ``atoms``, left as a call."""
        from tidal.dsl import calls

        return calls.emit_call(fn, atoms, self.default_fp, self.loc(node))

    def inlines(self, fn, args) -> bool:
        """Whether a call of tidal function ``fn`` on ``args`` is inlined: when an argument is
        a Python object (a field, a tuple) rather than a value. Kernels inline more."""
        return any(not _value_like(a) for a in args)

    def inline(self, pyfunc, args, kwargs, node):
        """Lower ``pyfunc``'s body at this call site; returns what it returns (None if
        nothing)."""
        if pyfunc in self.inlining:
            self.fail(node, f"{pyfunc.__name__} calls itself (recursion is not supported)",
                      cls=TidalTypeError)
        frontend.remember_source(pyfunc)
        pf = frontend.parse(pyfunc)
        frontend.check_subset(pf, helper=True)
        tree = frontend.rewrite_control_flow(copy.deepcopy(pf.tree))
        env = self.bind_arguments(pf, tree, args, kwargs, node)
        saved = (self.pf, self.env, self.results)
        self.inlining.append(pyfunc)
        self.enter_helper()
        try:
            self.pf, self.env, self.results = pf, env, None
            self.block(tree.body)
            result = self.results
            if tree.returns is not None and result is not None:
                result = self.returned(tree, result)
        finally:
            self.pf, self.env, self.results = saved
            self.inlining.pop()
            self.leave_helper()
        return None if result == (None,) else result

    def enter_region(self, loop: bool):
        """Called before a branch or loop body is lowered (kernels override this to scope their
        store forwarding); returns a token for :meth:`leave_region`."""
        return None

    def leave_region(self, token) -> None:
        """Called after the branch or loop body begun with :meth:`enter_region`."""

    def enter_helper(self) -> None:
        """Called when a helper's body starts being lowered (kernels override this)."""

    def leave_helper(self) -> None:
        """Called when a helper's body has been lowered."""

    def bind_arguments(self, pf, tree, args, kwargs, node) -> dict:
        """The helper's parameters bound to the call's arguments, converted to the types the
        helper annotates (``ti.template()`` and unannotated parameters take the argument as
        it is, as in Taichi)."""
        params = tree.args.args
        defaults = pf.pyfunc.__defaults__ or ()
        first_default = len(params) - len(defaults)
        if len(args) > len(params):
            self.fail(node, f"{pf.name} takes {len(params)} arguments, got {len(args)}",
                      cls=TidalTypeError)
        unknown = set(kwargs) - {p.arg for p in params}
        if unknown:
            self.fail(node, f"{pf.name} has no parameter `{sorted(unknown)[0]}`",
                      cls=TidalTypeError)
        env = {}
        anns = getattr(pf.pyfunc, "__annotations__", {})
        for i, p in enumerate(params):
            if i < len(args):
                v = args[i]
            elif p.arg in kwargs:
                v = kwargs[p.arg]
            elif i >= first_default:
                v = defaults[i - first_default]
            else:
                self.fail(node, f"{pf.name} is missing its argument `{p.arg}`",
                          cls=TidalTypeError)
            ann = anns.get(p.arg)
            if isinstance(ann, str):
                ann = eval(ann, dict(pf.globals, **pf.closure))  # noqa: S307 - user annotation
            if ann is not None and _is_value_type(ann) and _value_like(v):
                with self.at(node):
                    v = self.convert(self.atom(v, node), self.to_type(ann, p), node)
            env[p.arg] = v
        return env

    def returned(self, tree, result):
        """A helper's result converted to its return annotation."""
        ann = getattr(self.pf.pyfunc, "__annotations__", {}).get("return")
        if ann is None or isinstance(ann, str):
            return result
        anns = ann if isinstance(ann, tuple) else getattr(ann, "__args__", None) or (ann,)
        vals = result if isinstance(result, tuple) else (result,)
        if len(anns) != len(vals) or not all(_is_value_type(a) for a in anns):
            return result
        out = tuple(self.convert(self.atom(v, tree), self.to_type(a, tree), tree)
                    for v, a in zip(vals, anns))
        return out if isinstance(result, tuple) else out[0]


def taichi_helper(fn):
    """The Python function behind a Taichi function (``@ti.func``, ``@ti.pyfunc``), or None."""
    if getattr(fn, "__tidal_function__", False) or not getattr(fn, "_is_taichi_function", False):
        return None
    inner = getattr(getattr(fn, "func", None), "func", None)
    return inner if inspect.isfunction(inner) else None


def _value_like(v) -> bool:
    """Whether ``v`` is a runtime value or a Python number (not an object such as a field)."""
    return isinstance(v, (ir.Atom, bool, int, float, np.number, ti.Matrix)) or (
        isinstance(v, np.ndarray) and v.ndim in (1, 2) and v.size <= 64)


def _is_value_type(ann) -> bool:
    return isinstance(ann, (VectorType, MatrixType)) or ann in (float, int) or \
        isinstance(ann, type(ti.f64))


def field_element_type(field: Field, default_fp: DType) -> TType:
    """The tidal type of one element of a Taichi field."""
    dt = dtype_from_taichi(field.dtype, default_fp)
    if hasattr(field, "n"):
        return TType(dt, (field.n,) if field.ndim == 1 else (field.n, field.m))
    return TType(dt, ())


class _OutRef:
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def _static_equal(a, b) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else bool(np.array_equal(a, b))
    except Exception:  # noqa: BLE001
        return a is b


def _hashable(x) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


def _compile_time_callable(fn) -> bool:
    """Plain Python callables may run at compile time on constants (``math.sqrt(2)``)."""
    return callable(fn) and not inspect.isclass(fn)


def _pure_python(fn) -> bool:
    """Functions evaluated in Python when all their arguments are constants."""
    return fn in (abs, min, max, round) or getattr(fn, "__module__", None) == "math"


def _value_types(v):
    if isinstance(v, tuple):
        return tuple(_value_types(x) for x in v)
    return v.type


def _make_params(name, types):
    if isinstance(types, tuple):
        return tuple(_make_params(name, t) for t in types)
    return ir.Var(name, types)


def _flatten(v):
    if isinstance(v, tuple):
        return [x for item in v for x in _flatten(item)]
    return [v]


def _unflatten(types, it):
    if isinstance(types, tuple):
        return tuple(_unflatten(t, it) for t in types)
    return next(it)


def _join_value_types(t, v, lw: Lowerer, node, name):
    if isinstance(t, tuple):
        if not isinstance(v, tuple) or len(v) != len(t):
            lw.fail(node, f"`{name}` changes kind inside the loop", cls=TidalTypeError)
        return tuple(_join_value_types(a, b, lw, node, name) for a, b in zip(t, v))
    a = lw.atom(v, node)
    try:
        return join_types(t, a.type)
    except TidalError as e:
        raise TidalTypeError(f"`{name}` changes type inside the loop: {e.message}",
                             lw.loc(node)) from None


# ----------------------------------------------------------------------------------------------
# constructors


def _dtype_kw(lw: Lowerer, kwargs, node, allowed=("dt",)):
    for k in kwargs:
        if k not in allowed:
            lw.fail(node, f"unsupported keyword argument `{k}`", cls=UnsupportedConstructError)
    dt = kwargs.get("dt")
    return None if dt is None else dtype_from_taichi(dt, lw.default_fp)


def _elements(lw: Lowerer, items, dt, node):
    atoms = [lw.atom(x, node) for x in items]
    if any(not a.type.is_scalar for a in atoms):
        lw.fail(node, "vector and matrix elements must be scalars", cls=TidalTypeError)
    if dt is None:
        dt = atoms[0].type.dtype
        for a in atoms[1:]:
            if a.type.dtype.rank > dt.rank:
                dt = a.type.dtype
    return [lw.em.fit(a, TType(dt)) for a in atoms]


def _construct_vector(lw: Lowerer, args, kwargs, node):
    dt = _dtype_kw(lw, kwargs, node)
    if len(args) != 1 or not isinstance(args[0], (tuple, list)):
        lw.fail(node, "ti.Vector takes a list of elements", cls=TidalTypeError)
    elems = _elements(lw, args[0], dt, node)
    return P.make(*elems, shape=(len(elems),))


def _construct_matrix(lw: Lowerer, args, kwargs, node):
    dt = _dtype_kw(lw, kwargs, node)
    if len(args) != 1 or not isinstance(args[0], (tuple, list)):
        lw.fail(node, "ti.Matrix takes a list of rows", cls=TidalTypeError)
    rows = args[0]
    if all(isinstance(r, (tuple, list)) for r in rows):
        m = len(rows[0])
        if any(len(r) != m for r in rows):
            lw.fail(node, "matrix rows must have equal lengths", cls=TidalTypeError)
        elems = _elements(lw, [x for r in rows for x in r], dt, node)
        return P.make(*elems, shape=(len(rows), m))
    elems = _elements(lw, rows, dt, node)
    return P.make(*elems, shape=(len(elems),))


def _rows_cols(transpose):
    def f(lw: Lowerer, args, kwargs, node):
        if len(args) != 1 or not isinstance(args[0], (tuple, list)):
            lw.fail(node, "expected a list of vectors", cls=TidalTypeError)
        vecs = [lw.atom(v, node) for v in args[0]]
        if any(not v.type.is_vector for v in vecs) or len({v.type.shape for v in vecs}) != 1:
            lw.fail(node, "expected vectors of equal size", cls=TidalTypeError)
        n = vecs[0].type.shape[0]
        elems = [vecs[i][j] for i in range(len(vecs)) for j in range(n)]
        m = P.make(*_elements(lw, elems, None, node), shape=(len(vecs), n))
        return P.transpose(m) if transpose else m
    return f


def _zero(lw: Lowerer, args, kwargs, node, fill=0):
    if len(args) < 2:
        lw.fail(node, "expected a dtype and a size", cls=TidalTypeError)
    dt = dtype_from_taichi(args[0], lw.default_fp)
    shape = tuple(int(a) for a in args[1:])
    return lw.em.const(fill, TType(dt, shape))


def _identity(lw: Lowerer, args, kwargs, node):
    dt = dtype_from_taichi(args[0], lw.default_fp)
    n = int(args[1])
    return lw.em.const(np.eye(n), TType(dt, (n, n)))


def _unit(lw: Lowerer, args, kwargs, node):
    n, i = int(args[0]), int(args[1])
    dt = dtype_from_taichi(args[2] if len(args) > 2 else kwargs.get("dt", float), lw.default_fp)
    return lw.em.const(np.eye(n)[i], TType(dt, (n,)))


def _construct_typed(lw: Lowerer, args, kwargs, node):
    vt, *vals = args
    t = from_annotation(vt, lw.default_fp)
    if len(vals) == 1 and isinstance(vals[0], (tuple, list)):
        vals = list(vals[0])
        if vals and isinstance(vals[0], (tuple, list)):
            vals = [x for r in vals for x in r]
    if len(vals) == 1:
        a = lw.atom(vals[0], node)
        if a.type.is_scalar:
            return lw.em.fit(a, t)
        return lw.convert(a, t, node)
    if len(vals) != t.size:
        lw.fail(node, f"{t} takes {t.size} elements, got {len(vals)}", cls=TidalTypeError)
    return P.make(*_elements(lw, vals, t.dtype, node), shape=t.shape)


def _cast(lw: Lowerer, args, kwargs, node):
    if len(args) != 2:
        lw.fail(node, "ti.cast takes a value and a dtype", cls=TidalTypeError)
    return P.cast(lw.atom(args[0], node), dtype=dtype_from_taichi(args[1], lw.default_fp))


def _float(lw: Lowerer, args, kwargs, node):
    if len(args) == 1 and is_static(args[0]):
        return float(args[0])
    return P.cast(lw.atom(args[0], node), dtype=lw.default_fp)


def _int(lw: Lowerer, args, kwargs, node):
    if len(args) == 1 and is_static(args[0]):
        return int(args[0])
    return P.cast(lw.atom(args[0], node), dtype=I32)


def _len(lw: Lowerer, args, kwargs, node):
    (v,) = args
    if isinstance(v, ir.Atom):
        if v.type.is_scalar:
            lw.fail(node, "len() of a scalar", cls=TidalTypeError)
        return v.type.shape[0]
    return len(v)


_CONSTRUCTORS = {
    ti.Vector: _construct_vector,
    ti.Matrix: _construct_matrix,
    ti.Matrix.rows: _rows_cols(False),
    ti.Matrix.cols: _rows_cols(True),
    ti.Vector.zero: _zero,
    ti.Matrix.zero: _zero,
    ti.Vector.one: lambda lw, a, k, n: _zero(lw, a, k, n, fill=1),
    ti.Matrix.identity: _identity,
    ti.Vector.unit: _unit,
    ti.cast: _cast,
    float: _float,
    int: _int,
    len: _len,
}


def lower(pyfunc, default_fp: DType) -> ir.Function:
    """Parse, check and lower ``pyfunc`` into IR (see the module docstring for guarantees)."""
    pf = frontend.parse(pyfunc)
    return Lowerer(pf, default_fp).run()
