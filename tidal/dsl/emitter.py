"""The emitter: builds IR one statement at a time, optimising as it goes.

Every producer of IR (the lowering of user source, every derivative transformation, the
optimiser) emits through an :class:`Emitter`. What comes out is guaranteed to be:

* constant-folded: a pure primitive whose arguments are all constants becomes a constant;
* free of trivial work: ``x + 0``, ``x * 1``, ``x / 1``, ``x ** 1`` and structural zeros
  (``Zero * x``, ``Zero + Zero``, ``f(Zero)`` for linear ``f``) never produce statements;
* common-subexpression free: a pure statement identical to one visible in an enclosing scope is
  not emitted again; its earlier result is reused.

The current emitter is a stack so that primitives called on atoms (``sin(x)``, ``a * b``) know
where to emit. Use it as a context manager.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tidal.dsl import ir, peephole  # noqa: F401 - installs the simplification rules
from tidal.dsl import primitives as P
from tidal.dsl.errors import SourceLoc, TidalError, TidalTypeError
from tidal.dsl.types import F64, I32, DType, TType, broadcast_shapes, promote

_STACK: list[Emitter] = []


def current() -> Emitter:
    """The innermost active emitter."""
    if not _STACK:
        raise TidalError("internal: no active emitter (primitives called outside a transform)")
    return _STACK[-1]


class _Scope:
    __slots__ = ("stmts", "cse", "parent", "params")

    def __init__(self, parent: _Scope | None, params=()):
        self.stmts: list[ir.Stmt] = []
        self.cse: dict = {}
        self.parent = parent
        self.params = tuple(params)

    def lookup(self, key):
        s = self
        while s is not None:
            hit = s.cse.get(key)
            if hit is not None:
                return hit
            s = s.parent
        return None


def const_array(c: ir.Const) -> np.ndarray:
    """The value of a constant as a NumPy array of its type's shape and dtype."""
    t = c.type
    if isinstance(c.value, tuple):
        return np.array(c.value, dtype=t.dtype.numpy).reshape(t.shape)
    return np.full(t.shape, c.value, dtype=t.dtype.numpy)


def make_const(value, t: TType) -> ir.Const:
    """A constant of type ``t`` from a number or array, stored in canonical form."""
    arr = np.asarray(value, dtype=t.dtype.numpy)
    if arr.shape != t.shape:
        arr = np.broadcast_to(arr, t.shape)
    flat = arr.reshape(-1)
    first = flat[0].item() if flat.size else 0
    if flat.size and np.all(flat == flat[0]) and not (isinstance(first, float) and np.isnan(first)):
        return ir.Const(first, t)
    if flat.size and np.all(np.isnan(flat)):
        return ir.Const(first, t)
    return ir.Const(_to_tuple(arr), t)


def _to_tuple(arr: np.ndarray):
    if arr.ndim == 0:
        return arr.item()
    return tuple(_to_tuple(a) for a in arr)


def _atom_key(a: ir.Atom):
    return a if isinstance(a, ir.Var) else a.key()


def _order_key(a: ir.Atom):
    return (0, a.serial) if isinstance(a, ir.Var) else (1, repr(a.key()))


class Emitter:
    """Builds IR statements into nested scopes.

    Args:
        default_fp: the float type of Python float literals.

    Example:
        >>> from tidal.dsl import ir, primitives as P
        >>> from tidal.dsl.types import F64, TType
        >>> em = Emitter(F64)
        >>> x = ir.Var("x", TType(F64))
        >>> with em:
        ...     y = P.sin(x) * 1.0 + 0.0   # emits one statement
        >>> len(em.scope.stmts)
        1
    """

    def __init__(self, default_fp: DType = F64):
        self.default_fp = default_fp
        self.scope = _Scope(None)
        self.loc: SourceLoc | None = None
        self.name = "t"
        self.defs: dict = {}  # var -> (primitive, args, attrs) of the statement defining it
        self.writes = 0  # memory writes emitted so far (a read is merged only with one between
        # the same writes)

    # -- context ---------------------------------------------------------------------------
    def __enter__(self):
        _STACK.append(self)
        return self

    def __exit__(self, *exc):
        _STACK.pop()
        return False

    def located(self, loc: SourceLoc | None):
        """Context manager: statements emitted inside carry ``loc`` (when not None)."""
        emitter = self

        class _Located:
            def __enter__(self_inner):
                self_inner.saved = emitter.loc
                if loc is not None:
                    emitter.loc = loc

            def __exit__(self_inner, *exc):
                emitter.loc = self_inner.saved
                return False

        return _Located()

    # -- atoms -----------------------------------------------------------------------------
    def const(self, value, t: TType) -> ir.Const:
        return make_const(value, t)

    def coerce(self, x, like: DType | None) -> ir.Atom:
        """Turn a Python number into a constant whose dtype follows ``like`` (the operands)."""
        if isinstance(x, ir.Atom):
            return x
        if isinstance(x, (bool, np.bool_)):
            return ir.Const(int(x), TType(I32))
        if isinstance(x, (int, np.integer)):
            if like is not None and like.is_float:
                return ir.Const(float(x), TType(like))
            return ir.Const(int(x), TType(I32))
        if isinstance(x, (float, np.floating)):
            dt = like if (like is not None and like.is_float) else self.default_fp
            return ir.Const(float(x), TType(dt))
        raise TidalTypeError(f"cannot use a value of type {type(x).__name__} here")

    # -- statements ------------------------------------------------------------------------
    def apply(self, prim: P.Primitive, args: Sequence, attrs: tuple = ()):
        """Emit ``prim(*args)``; returns one atom, or a tuple for multi-output primitives."""
        like = None
        for a in args:
            if isinstance(a, ir.Atom):
                if a.type.is_float:
                    like = a.type.dtype
                    break
                like = like or a.type.dtype
        float_pos = set(prim.diff_args(len(args))) if prim.float_args else set()
        # Python numbers take the dtype of the float operands, except in positions (indices,
        # conditions) that derivatives do not flow through
        atoms = tuple(self.coerce(a, like if (i in float_pos or not isinstance(a, int)) else None)
                      for i, a in enumerate(args))
        try:
            out_types = prim.infer(tuple(a.type for a in atoms), attrs, self.default_fp)
        except TidalError as e:
            raise e.at(self.loc) from None
        single = len(out_types) == 1
        result = self._fold(prim, atoms, attrs, out_types)
        if result is not None:
            return result
        key = None
        if prim.writes_memory:
            self.writes += 1  # later reads may see other values
        elif prim.cse or prim.reads_memory:
            arg_keys = [_atom_key(a) for a in atoms]
            if prim.commutative and len(atoms) == 2 and _order_key(atoms[1]) < _order_key(atoms[0]):
                arg_keys.reverse()
            key = (prim, tuple(arg_keys), attrs)
            if prim.reads_memory:
                key += (self.writes,)
            hit = self.scope.lookup(key)
            if hit is not None:
                return hit[0] if single else hit
        outs = tuple(ir.Var(self.name, t) for t in out_types)
        self.scope.stmts.append(ir.Assign(outs, prim, atoms, attrs, self.loc))
        if single:
            self.defs[outs[0]] = (prim, atoms, attrs)
        if key is not None:
            self.scope.cse[key] = outs
        return outs[0] if single else outs

    def _fold(self, prim, atoms, attrs, out_types):
        if len(out_types) != 1 or prim.effect:
            return None
        out = out_types[0]
        diff = prim.diff_args(len(atoms))
        zeros = [ir.is_zero(atoms[i]) for i in diff]
        if prim.zero == "any" and any(zeros):
            return ir.Zero(out)
        if prim.zero == "all" and zeros and all(zeros):
            return ir.Zero(out)
        if prim.zero == "first" and atoms and ir.is_zero(atoms[0]):
            return ir.Zero(out)
        if prim.simplify is not None:
            r = prim.simplify(atoms, attrs, out, self)
            if r is not None:
                return self.fit(r, out)
        if prim.impl is not None and prim.cse and all(isinstance(a, ir.Const) for a in atoms):
            with np.errstate(all="ignore"):
                value = prim.impl(*[const_array(a) for a in atoms], attrs=attrs)
            c = make_const(value, out)
            if any(ir.is_zero(a) for a in atoms) and not isinstance(c.value, tuple) \
                    and c.value == 0:
                return ir.Zero(out)
            return c
        return None

    def fit(self, a: ir.Atom, t: TType) -> ir.Atom:
        """Broadcast and cast ``a`` to type ``t`` (used when a simplification changes type)."""
        if a.type == t:
            return a
        if ir.is_zero(a):
            return ir.Zero(t)
        if a.type.shape != t.shape:
            if not a.type.is_scalar:
                raise TidalTypeError(f"cannot broadcast {a.type} to {t}")
            a = P.broadcast(a, shape=t.shape)
        if a.type.dtype != t.dtype:
            a = P.cast(a, dtype=t.dtype)
        return a

    def append(self, stmt: ir.Stmt) -> None:
        self.scope.stmts.append(stmt)

    # -- blocks and regions ----------------------------------------------------------------
    def begin(self, params=()) -> None:
        """Open a nested block (its CSE sees enclosing blocks, not the other way round)."""
        self.scope = _Scope(self.scope, params)

    def end(self, results=()) -> ir.Block:
        """Close the innermost block, yielding ``results``."""
        s = self.scope
        self.scope = s.parent
        return ir.Block(s.stmts, results, s.params)

    def discard(self) -> None:
        """Close the innermost block and throw its statements away."""
        self.scope = self.scope.parent

    def reopen(self, block: ir.Block):
        """Context manager appending to an already closed block (CSE restarts empty)."""
        emitter = self

        class _Reopen:
            def __enter__(self_inner):
                emitter.scope = _Scope(emitter.scope, block.params)
                emitter.scope.stmts = block.stmts
                return block

            def __exit__(self_inner, *exc):
                emitter.scope = emitter.scope.parent
                return False

        return _Reopen()

    def fit_results(self, results: Sequence[ir.Atom], types: Sequence[TType]) -> tuple:
        return tuple(self.fit(self.coerce(r, t.dtype), t) for r, t in zip(results, types))

    def if_(self, cond: ir.Atom, then_fn: Callable[[], Sequence], else_fn: Callable[[], Sequence],
            types: Sequence[TType] | None = None) -> tuple:
        """Emit an ``If`` region; ``then_fn``/``else_fn`` emit a branch and return its results."""
        if isinstance(cond, ir.Const) and not isinstance(cond.value, tuple):
            res = then_fn() if cond.value else else_fn()
            return tuple(res) if types is None else self.fit_results(res, types)
        self.begin()
        then_res = tuple(then_fn())
        then_block = self.end()
        self.begin()
        else_res = tuple(else_fn())
        else_block = self.end()
        if types is None:
            types = [join_types(a.type, b.type) for a, b in zip(then_res, else_res)]
        with self.reopen(then_block):
            then_block.results = self.fit_results(then_res, types)
        with self.reopen(else_block):
            else_block.results = self.fit_results(else_res, types)
        outs = tuple(ir.Var(self.name, t) for t in types)
        self.append(ir.If(cond, then_block, else_block, outs, self.loc))
        return outs

    def for_(self, start, stop, inits: Sequence, body_fn: Callable, names: Sequence[str] = (),
             index_name: str = "i") -> tuple:
        """Emit a ``For`` region; ``body_fn(index, params)`` emits the body, returns new state."""
        start = self.coerce(start, I32)
        stop = self.coerce(stop, I32)
        inits = tuple(inits)
        types = [a.type for a in inits]
        if isinstance(start, ir.Const) and isinstance(stop, ir.Const) and stop.value <= start.value:
            return inits
        index = ir.Var(index_name, TType(I32))
        params = tuple(ir.Var(n if i < len(names) else "c", t)
                       for i, (n, t) in enumerate(zip(list(names) + ["c"] * len(types), types)))
        self.begin(params)
        res = body_fn(index, params)
        results = self.fit_results(res, types)
        body = self.end(results)
        outs = tuple(ir.Var(p.name, p.type) for p in params)
        self.append(ir.For(index, start, stop, inits, body, outs, self.loc))
        return outs

    def while_(self, inits: Sequence, cond_fn: Callable, body_fn: Callable,
               names: Sequence[str] = ()) -> tuple:
        """Emit a ``While`` region over state ``inits``."""
        inits = tuple(inits)
        types = [a.type for a in inits]
        params = tuple(ir.Var(n, t) for n, t in zip(list(names) + ["c"] * len(types), types))
        self.begin(params)
        c = cond_fn(params)
        cond_block = self.end((c,))
        self.begin(params)
        res = body_fn(params)
        body = self.end(self.fit_results(res, types))
        outs = tuple(ir.Var(p.name, p.type) for p in params)
        self.append(ir.While(inits, cond_block, body, outs, self.loc))
        return outs


def join_types(a: TType, b: TType) -> TType:
    """The type both branches of a conditional can be converted to."""
    shape = broadcast_shapes(a.shape, b.shape)
    if shape is None:
        raise TidalTypeError(f"the two branches give values of shapes {a.shape} and {b.shape}")
    return TType(promote(a.dtype, b.dtype), shape)


def zeros_like(a: ir.Atom) -> ir.Zero:
    return ir.Zero(a.type)


def default_float(t: TType, default_fp: DType = F64) -> TType:
    return t if t.is_float else t.with_dtype(default_fp)
