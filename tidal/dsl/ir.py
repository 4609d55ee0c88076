"""The intermediate representation: SSA statements inside structured regions.

Invariants every producer of IR keeps (the lowering, the transformations and the optimiser):

* Every :class:`Var` is assigned exactly once: by an :class:`Assign`, as a region output, as a
  loop index or region parameter, or as a function parameter.
* Control flow is structured. :class:`If`, :class:`For` and :class:`While` are regions whose
  values leave only through their ``outs``; a block's ``results`` are what it yields to its region.
  A var defined inside a block is visible only inside that block and blocks nested in it.
* Loop-carried state is explicit: a loop's ``params`` are bound to ``inits`` on entry and to the
  body's ``results`` after every iteration; ``outs`` hold the final values.
* Every statement carries the user's source location (or None for generated scaffolding).

Atoms (vars and constants) support Python arithmetic: ``a * b`` on atoms emits a primitive into
the current emitter (see :mod:`tidal.dsl.emitter`). That is how derivative rules are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tidal.dsl.errors import SourceLoc
from tidal.dsl.types import TType

_COUNTER = [0]


def serial_now() -> int:
    """The serial number of the most recently created var (vars created later compare greater)."""
    return _COUNTER[0]

# name -> callable emitting the operation; filled in by tidal.dsl.primitives.
OPERATORS: dict[str, Callable[..., Any]] = {}


class Atom:
    """A value in the IR: a :class:`Var` or a :class:`Const`."""

    __slots__ = ()
    type: TType

    def __add__(self, o):
        return OPERATORS["add"](self, o)

    def __radd__(self, o):
        return OPERATORS["add"](o, self)

    def __sub__(self, o):
        return OPERATORS["sub"](self, o)

    def __rsub__(self, o):
        return OPERATORS["sub"](o, self)

    def __mul__(self, o):
        return OPERATORS["mul"](self, o)

    def __rmul__(self, o):
        return OPERATORS["mul"](o, self)

    def __truediv__(self, o):
        return OPERATORS["div"](self, o)

    def __rtruediv__(self, o):
        return OPERATORS["div"](o, self)

    def __neg__(self):
        return OPERATORS["neg"](self)

    def __pow__(self, o):
        return OPERATORS["pow"](self, o)

    def __matmul__(self, o):
        return OPERATORS["matmul"](self, o)

    def __getitem__(self, index):
        return OPERATORS["getitem"](self, index)


class Var(Atom):
    """A single-assignment variable. Compared and hashed by identity."""

    __slots__ = ("name", "type", "serial")

    def __init__(self, name: str, type: TType):
        self.name = name
        self.type = type
        _COUNTER[0] += 1
        self.serial = _COUNTER[0]

    def __repr__(self) -> str:
        return f"%{self.name}.{self.serial}:{self.type!r}"

    __hash__ = object.__hash__


class Const(Atom):
    """A constant. ``value`` is a Python number (filling every element) or a nested tuple."""

    __slots__ = ("value", "type")

    def __init__(self, value, type: TType):
        self.value = value
        self.type = type

    @property
    def is_zero(self) -> bool:
        """True when this is the symbolic zero of a derivative (see :class:`Zero`)."""
        return False

    def key(self):
        return ("const", self.value, self.type, self.is_zero)

    def __eq__(self, other):
        return isinstance(other, Const) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self) -> str:
        return f"{'Zero' if self.is_zero else 'Const'}({self.value!r}:{self.type!r})"


class Zero(Const):
    """The structural zero of a derivative: ``x * Zero`` folds to ``Zero`` even for inf/NaN ``x``.

    A user's literal ``0.0`` is a plain :class:`Const` and keeps IEEE semantics.
    """

    __slots__ = ()

    def __init__(self, type: TType):
        super().__init__(0 if not type.is_float else 0.0, type)

    @property
    def is_zero(self) -> bool:
        return True


def is_zero(a) -> bool:
    return isinstance(a, Const) and a.is_zero


class Stmt:
    __slots__ = ()
    loc: SourceLoc | None

    def blocks(self) -> tuple[Block, ...]:
        return ()

    def defs(self) -> tuple[Var, ...]:
        """Vars this statement defines in the enclosing block."""
        return ()

    def uses(self) -> tuple[Atom, ...]:
        """Atoms this statement reads directly (not those read inside its blocks)."""
        return ()

    def bound(self) -> tuple[Var, ...]:
        """Vars bound inside this statement's blocks (loop indices)."""
        return ()


class Assign(Stmt):
    """``outs = prim(*args)`` with static parameters ``attrs``."""

    __slots__ = ("outs", "prim", "args", "attrs", "loc")

    def __init__(self, outs, prim, args, attrs=(), loc=None):
        self.outs: tuple[Var, ...] = tuple(outs)
        self.prim = prim
        self.args: tuple[Atom, ...] = tuple(args)
        self.attrs: tuple = tuple(attrs)
        self.loc = loc

    def defs(self):
        return self.outs

    def uses(self):
        return self.args

    def __repr__(self):
        return f"{self.outs} = {self.prim.name}{self.args}{self.attrs or ''}"


class Block:
    """A list of statements and the atoms the block yields to its region."""

    __slots__ = ("stmts", "results", "params")

    def __init__(self, stmts=None, results=(), params=()):
        self.stmts: list[Stmt] = list(stmts or [])
        self.results: tuple[Atom, ...] = tuple(results)
        self.params: tuple[Var, ...] = tuple(params)


class If(Stmt):
    """``outs = then.results if cond else orelse.results``."""

    __slots__ = ("cond", "then", "orelse", "outs", "loc")

    def __init__(self, cond, then: Block, orelse: Block, outs, loc=None):
        self.cond = cond
        self.then = then
        self.orelse = orelse
        self.outs: tuple[Var, ...] = tuple(outs)
        self.loc = loc

    def blocks(self):
        return (self.then, self.orelse)

    def defs(self):
        return self.outs

    def uses(self):
        return (self.cond,)


class For(Stmt):
    """``for index in range(start, stop)`` carrying ``body.params`` (initially ``inits``)."""

    __slots__ = ("index", "start", "stop", "inits", "body", "outs", "loc")

    def __init__(self, index: Var, start, stop, inits, body: Block, outs, loc=None):
        self.index = index
        self.start = start
        self.stop = stop
        self.inits: tuple[Atom, ...] = tuple(inits)
        self.body = body
        self.outs: tuple[Var, ...] = tuple(outs)
        self.loc = loc

    @property
    def params(self) -> tuple[Var, ...]:
        return self.body.params

    def blocks(self):
        return (self.body,)

    def defs(self):
        return self.outs

    def uses(self):
        return (self.start, self.stop, *self.inits)

    def bound(self):
        return (self.index,)


class While(Stmt):
    """``while cond.results[0]: params = body.results``, both blocks over ``params``."""

    __slots__ = ("inits", "cond", "body", "outs", "loc")

    def __init__(self, inits, cond: Block, body: Block, outs, loc=None):
        self.inits: tuple[Atom, ...] = tuple(inits)
        self.cond = cond
        self.body = body
        self.outs: tuple[Var, ...] = tuple(outs)
        self.loc = loc

    @property
    def params(self) -> tuple[Var, ...]:
        return self.body.params

    def blocks(self):
        return (self.cond, self.body)

    def defs(self):
        return self.outs

    def uses(self):
        return self.inits


class ParallelFor(Stmt):
    """A kernel's top-level parallel loop over ``indices`` in ``[starts, stops)``.

    Iterations are independent: the body has no loop-carried state and communicates only through
    memory (stores and atomic adds). It defines nothing in the enclosing block.
    """

    __slots__ = ("indices", "starts", "stops", "body", "loc")

    def __init__(self, indices, starts, stops, body: Block, loc=None):
        self.indices: tuple[Var, ...] = tuple(indices)
        self.starts: tuple[Atom, ...] = tuple(starts)
        self.stops: tuple[Atom, ...] = tuple(stops)
        self.body = body
        self.loc = loc

    @property
    def outs(self) -> tuple[Var, ...]:
        return ()

    def blocks(self):
        return (self.body,)

    def uses(self):
        return (*self.starts, *self.stops)

    def bound(self):
        return self.indices


class Function:
    """A tidal function in IR form: parameters, a body whose results are the return values."""

    __slots__ = ("name", "params", "body", "loc", "param_names")

    def __init__(self, name: str, params, body: Block, loc: SourceLoc | None = None,
                 param_names=None):
        self.name = name
        self.params: tuple[Var, ...] = tuple(params)
        self.body = body
        self.loc = loc
        self.param_names = tuple(param_names or (p.name for p in self.params))

    @property
    def result_types(self) -> tuple[TType, ...]:
        return tuple(r.type for r in self.body.results)

    @property
    def param_types(self) -> tuple[TType, ...]:
        return tuple(p.type for p in self.params)


_VISIT = {Assign: "assign", If: "if_", For: "for_", While: "while_", ParallelFor: "parallel_for"}


def visit(visitor, s: Stmt, *args):
    """The one statement dispatch of every pass: ``visitor.assign``, ``if_``, ``for_``,
    ``while_`` or ``parallel_for`` (``for_`` and ``while_`` fall back to ``visitor.loop``),
    called with ``(s, *args)``."""
    name = _VISIT.get(type(s))
    if name is None:  # pragma: no cover - IR has no other statements
        raise TypeError(s)
    method = getattr(visitor, name, None)
    if method is None:
        method = visitor.loop
    return method(s, *args)


class Copier:
    """The one IR copier: copies blocks statement by statement, renaming uses of the vars in
    ``env``. With ``fresh`` every var the copy defines is a new var (recorded in ``env``), so a
    body can be copied any number of times and the IR stays in single-assignment form;
    otherwise definitions keep their vars. Subclasses replace statements by overriding
    :meth:`replace` (inlining calls, say).

    Example:
        >>> from tidal.dsl.types import F64, TType
        >>> x, y = Var("x", TType(F64)), Var("y", TType(F64))
        >>> b = Block([], [x])
        >>> Copier().block(b, {x: y}).results == (y,)
        True
    """

    def __init__(self, fresh: bool = False):
        self.fresh = fresh

    def new(self, v: Var, env: dict) -> Var:
        if not self.fresh:
            return v
        n = env[v] = Var(v.name, v.type)
        return n

    @staticmethod
    def use(env: dict, a):
        return env.get(a, a) if isinstance(a, Var) else a

    def replace(self, s: Stmt, env: dict, out: list) -> bool:
        """Append statements standing for ``s`` to ``out`` and return True, or return False to
        copy ``s`` as it is."""
        return False

    def block(self, b: Block, env: dict) -> Block:
        params = tuple(self.new(p, env) for p in b.params)
        stmts: list = []
        for s in b.stmts:
            self.stmt(s, env, stmts)
        return Block(stmts, tuple(self.use(env, r) for r in b.results), params)

    def stmt(self, s: Stmt, env: dict, out: list) -> None:
        if self.replace(s, env, out):
            return
        use = self.use
        if isinstance(s, Assign):
            args = [use(env, a) for a in s.args]
            out.append(Assign([self.new(o, env) for o in s.outs], s.prim, args, s.attrs, s.loc))
        elif isinstance(s, If):
            cond = use(env, s.cond)
            then, orelse = self.block(s.then, dict(env)), self.block(s.orelse, dict(env))
            out.append(If(cond, then, orelse, [self.new(o, env) for o in s.outs], s.loc))
        elif isinstance(s, For):
            start, stop = use(env, s.start), use(env, s.stop)
            inits = [use(env, a) for a in s.inits]
            benv = dict(env)
            index = self.new(s.index, benv)
            body = self.block(s.body, benv)
            out.append(For(index, start, stop, inits, body, [self.new(o, env) for o in s.outs],
                           s.loc))
        elif isinstance(s, While):
            inits = [use(env, a) for a in s.inits]
            benv = dict(env)
            params = tuple(self.new(p, benv) for p in s.body.params)
            cenv = dict(benv)
            cond = self.block(Block(s.cond.stmts, s.cond.results), cenv)
            body = self.block(Block(s.body.stmts, s.body.results), benv)
            out.append(While(inits, Block(cond.stmts, cond.results, params),
                             Block(body.stmts, body.results, params),
                             [self.new(o, env) for o in s.outs], s.loc))
        elif isinstance(s, ParallelFor):
            benv = dict(env)
            indices = [self.new(i, benv) for i in s.indices]
            out.append(ParallelFor(indices, [use(env, a) for a in s.starts],
                                   [use(env, a) for a in s.stops], self.block(s.body, benv),
                                   s.loc))
        else:  # pragma: no cover - IR has no other statements
            raise TypeError(s)


def walk(block: Block) -> Iterator[Stmt]:
    """All statements of ``block`` and of the blocks nested in it, outer before inner."""
    for s in block.stmts:
        yield s
        for b in s.blocks():
            yield from walk(b)


def free_vars(block: Block) -> list[Var]:
    """Vars read inside ``block`` (or nested blocks, or its results) but defined outside it.

    Returned in first-use order, without duplicates.
    """
    defined: set[Var] = set(block.params)
    seen: dict[Var, None] = {}

    def visit(b: Block, bound: set[Var]):
        bound = bound | set(b.params)
        for s in b.stmts:
            for a in s.uses():
                if isinstance(a, Var) and a not in bound:
                    seen.setdefault(a)
            for inner in s.blocks():
                visit(inner, bound | set(s.bound()))
            bound = bound | set(s.defs())
        for a in b.results:
            if isinstance(a, Var) and a not in bound:
                seen.setdefault(a)

    visit(block, defined)
    return list(seen)


def stmt_free_vars(stmt: Stmt) -> list[Var]:
    """Vars a statement reads from its enclosing scope, including inside its regions."""
    out: dict[Var, None] = {}
    for a in stmt.uses():
        if isinstance(a, Var):
            out.setdefault(a)
    bound = set(stmt.bound())
    for b in stmt.blocks():
        for v in free_vars(b):
            if v not in bound:
                out.setdefault(v)
    return list(out)


def dump(obj, indent: int = 0) -> str:
    """A readable listing of a function or block, for debugging."""
    pad = "  " * indent
    if isinstance(obj, Function):
        head = f"{pad}func {obj.name}({', '.join(map(repr, obj.params))}):\n"
        return head + dump(obj.body, indent + 1)
    lines = []
    if obj.params:
        lines.append(f"{pad}params {list(obj.params)}")
    for s in obj.stmts:
        if isinstance(s, Assign):
            lines.append(f"{pad}{list(s.outs)} = {s.prim.name}{list(s.args)} {s.attrs or ''}")
        elif isinstance(s, If):
            lines.append(f"{pad}{list(s.outs)} = if {s.cond!r}:")
            lines.append(dump(s.then, indent + 1))
            lines.append(f"{pad}else:")
            lines.append(dump(s.orelse, indent + 1))
        elif isinstance(s, For):
            lines.append(f"{pad}{list(s.outs)} = for {s.index!r} in [{s.start!r}, {s.stop!r}) "
                         f"from {list(s.inits)}:")
            lines.append(dump(s.body, indent + 1))
        elif isinstance(s, ParallelFor):
            ranges = ", ".join(f"{i!r} in [{a!r}, {b!r})"
                               for i, a, b in zip(s.indices, s.starts, s.stops))
            lines.append(f"{pad}parallel for {ranges}:")
            lines.append(dump(s.body, indent + 1))
        elif isinstance(s, While):
            lines.append(f"{pad}{list(s.outs)} = while from {list(s.inits)}:")
            lines.append(dump(s.cond, indent + 1))
            lines.append(f"{pad}do:")
            lines.append(dump(s.body, indent + 1))
    lines.append(f"{pad}yield {list(obj.results)}")
    return "\n".join(lines)
