"""Parsing a decorated Python function and checking it against the tidal language subset.

:func:`remember_source` keeps a function's source as it was when decorated, so editing the file
while a program runs cannot change (or break) what is compiled later. :func:`parse` returns the
function's syntax tree with line numbers matching the user's file and the namespace its names
resolve in. :func:`check_subset` walks every node, including branches that a static condition would
skip, and raises :class:`UnsupportedConstructError` naming the user's file and line for anything
outside the subset. After it passes, the lowering only sees these node types.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from dataclasses import dataclass
from types import CodeType, FunctionType

from tidal.dsl.errors import SourceLoc, TidalError, UnsupportedConstructError


@dataclass
class ParsedFunction:
    """A user function ready for lowering."""

    pyfunc: FunctionType
    tree: ast.FunctionDef
    filename: str
    globals: dict
    closure: dict

    @property
    def name(self) -> str:
        return self.pyfunc.__name__

    def loc(self, node: ast.AST | None) -> SourceLoc:
        line = getattr(node, "lineno", None) or self.tree.lineno
        return SourceLoc(self.filename, line, self.name)

    def resolve(self, name: str):
        """Look ``name`` up in the closure, the module globals, then builtins."""
        if name in self.closure:
            return self.closure[name]
        if name in self.globals:
            return self.globals[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise KeyError(name)


# source lines and first line number of each decorated function, read when it was decorated
_SOURCES: dict[CodeType, tuple[list[str], int]] = {}


def remember_source(pyfunc) -> None:
    """Read ``pyfunc``'s source now (at decoration) for :func:`parse` to use later.

    A function whose source cannot be read is left alone: :func:`parse` reports it.
    """
    if isinstance(pyfunc, FunctionType) and pyfunc.__code__ not in _SOURCES:
        try:
            _SOURCES[pyfunc.__code__] = inspect.getsourcelines(pyfunc)
        except (OSError, TypeError):
            pass


def parse(pyfunc) -> ParsedFunction:
    """Parse ``pyfunc``'s source (as remembered at decoration, else as on disk now); line
    numbers in the tree are those of the user's file."""
    if not isinstance(pyfunc, FunctionType):
        raise TidalError(
            f"{pyfunc!r} is not a Python function",
            hint="decorate a plain `def` function with @td.func",
        )
    try:
        lines, first = _SOURCES.get(pyfunc.__code__) or inspect.getsourcelines(pyfunc)
    except (OSError, TypeError) as e:
        raise TidalError(
            f"cannot read the source of {pyfunc.__name__}: {e}",
            hint="tidal functions must be defined in a file (not typed into an interactive "
                 "prompt or created with exec)",
        ) from None
    src = textwrap.dedent("".join(lines))
    module = ast.parse(src)
    ast.increment_lineno(module, first - 1)
    fdefs = [n for n in module.body if isinstance(n, ast.FunctionDef)]
    if not fdefs:
        raise TidalError(f"could not find the definition of {pyfunc.__name__}")
    tree = fdefs[0]
    closure = {}
    if pyfunc.__closure__:
        for name, cell in zip(pyfunc.__code__.co_freevars, pyfunc.__closure__):
            try:
                closure[name] = cell.cell_contents
            except ValueError:
                pass
    filename = pyfunc.__code__.co_filename
    return ParsedFunction(pyfunc, tree, filename, pyfunc.__globals__, closure)


_ALLOWED_STMTS = (
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.If, ast.For, ast.While,
    ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.Assert,
)
_ALLOWED_EXPRS = (
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Attribute, ast.Subscript,
    ast.Name, ast.Constant, ast.IfExp, ast.Tuple, ast.List, ast.keyword, ast.Slice,
)
_ALLOWED_OTHER = (
    ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context, ast.arguments, ast.arg,
)
_NAMES = {
    ast.Lambda: "lambda expressions",
    ast.ListComp: "list comprehensions",
    ast.SetComp: "set comprehensions",
    ast.DictComp: "dict comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.JoinedStr: "f-strings",
    ast.Starred: "starred expressions outside a call's arguments",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
    ast.With: "with statements",
    ast.Try: "try statements",
    ast.Raise: "raise statements",
    ast.Global: "global declarations",
    ast.Nonlocal: "nonlocal declarations",
    ast.Delete: "del statements",
    ast.Import: "imports",
    ast.ImportFrom: "imports",
    ast.FunctionDef: "nested function definitions",
    ast.AsyncFunctionDef: "async functions",
    ast.ClassDef: "class definitions",
    ast.AsyncFor: "async for",
    ast.AsyncWith: "async with",
}


def check_subset(pf: ParsedFunction, helper: bool = False) -> None:
    """Raise :class:`UnsupportedConstructError` for the first construct outside the subset.

    ``helper``: the function is inlined at its call sites (a ``@ti.func``), so its parameters
    may have default values."""
    fdef = pf.tree
    a = fdef.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise UnsupportedConstructError(
            "*args, **kwargs, keyword-only and positional-only parameters are not supported",
            pf.loc(fdef), hint="list every parameter by name with a type annotation")
    if a.defaults and not helper:
        raise UnsupportedConstructError(
            "default parameter values are not supported", pf.loc(fdef),
            hint="pass every argument explicitly, or close over a Python constant")
    for stmt in fdef.body:
        _check(stmt, pf)


def _check(node: ast.AST, pf: ParsedFunction) -> None:
    if isinstance(node, (ast.For, ast.While)) and node.orelse:
        raise UnsupportedConstructError(f"`{type(node).__name__.lower()} ... else` is not "
                                        "supported", pf.loc(node))
    if isinstance(node, ast.Constant) and isinstance(node.value, (bytes, complex)):
        raise UnsupportedConstructError(f"{type(node.value).__name__} constants are not "
                                        "supported", pf.loc(node))
    if not isinstance(node, _ALLOWED_STMTS + _ALLOWED_EXPRS + _ALLOWED_OTHER):
        what = _NAMES.get(type(node), f"`{type(node).__name__}` nodes")
        raise UnsupportedConstructError(f"{what} are not supported in tidal functions",
                                        pf.loc(node))
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.RShift, ast.BitXor,
                                                            ast.BitAnd, ast.BitOr)):
        raise UnsupportedConstructError("bitwise operators are not supported in tidal functions",
                                        pf.loc(node), hint="use `and`, `or` and comparisons")
    if isinstance(node, ast.Call):
        for arg in node.args:
            # `f(*args)`: the one place a star is allowed; lowering expands a tuple or vector
            _check(arg.value if isinstance(arg, ast.Starred) else arg, pf)
        for child in [node.func] + node.keywords:
            _check(child, pf)
        return
    for child in ast.iter_child_nodes(node):
        _check(child, pf)


# ----------------------------------------------------------------------------------------------
# control flow: break, continue and early return become flags


FLAG_PREFIX = "_tidal_"


class _Counter:
    def __init__(self):
        self.n = 0

    def next(self, what: str) -> str:
        self.n += 1
        return f"{FLAG_PREFIX}{what}{self.n}"


def _contains(nodes, types, stop_at_loops: bool) -> bool:
    for n in nodes:
        for sub in _walk_stmts(n, stop_at_loops):
            if isinstance(sub, types):
                return True
    return False


def _walk_stmts(node, stop_at_loops):
    yield node
    if isinstance(node, ast.If):
        for s in node.body + node.orelse:
            yield from _walk_stmts(s, stop_at_loops)
    elif isinstance(node, (ast.For, ast.While)) and not stop_at_loops:
        for s in node.body:
            yield from _walk_stmts(s, stop_at_loops)


def _name(id_, ctx):
    return ast.Name(id=id_, ctx=ctx)


def _assign(name, value_node):
    return ast.Assign(targets=[_name(name, ast.Store())], value=value_node)


def _not(expr):
    return ast.UnaryOp(op=ast.Not(), operand=expr)


def _copy_loc(new, old):
    for n in ast.walk(new):
        if not hasattr(n, "lineno") or n.lineno is None:
            ast.copy_location(n, old)
    return new


RETVAL = FLAG_PREFIX + "retval"
RETURNED = FLAG_PREFIX + "returned"


def rewrite_control_flow(fdef: ast.FunctionDef) -> ast.FunctionDef:
    """Rewrite ``break``, ``continue`` and returns that are not last into structured flags.

    After this pass, the body contains no ``break`` or ``continue`` and at most one ``return``,
    as its last statement. Loops keep iterating after a ``break`` but do nothing (a ``while``
    loop stops), which preserves the values every variable would have had.
    """
    body = fdef.body
    needs_return_rewrite = _needs_return_rewrite(body)
    needs_loop_rewrite = _contains(body, (ast.Break, ast.Continue), stop_at_loops=False)
    if not (needs_return_rewrite or needs_loop_rewrite):
        return fdef
    counter = _Counter()
    if needs_return_rewrite:
        new_body = [_assign(RETURNED, ast.Constant(0))]
        new_body += _rw_block(body, counter, loop=None, returns=True)
        new_body.append(ast.Return(value=_name(RETVAL, ast.Load())))
    else:
        new_body = _rw_block(body, counter, loop=None, returns=False)
    fdef.body = [_copy_loc(s, fdef) for s in new_body]
    return fdef


def _needs_return_rewrite(body) -> bool:
    for i, s in enumerate(body):
        if isinstance(s, ast.Return):
            return i != len(body) - 1
        if _contains([s], (ast.Return,), stop_at_loops=False):
            return True
    return False


class _Loop:
    def __init__(self, brk: str | None, cont: str | None):
        self.brk = brk
        self.cont = cont


def _guard_names(loop: _Loop | None, returns: bool) -> list[str]:
    names = []
    if returns:
        names.append(RETURNED)
    if loop is not None:
        names += [n for n in (loop.brk, loop.cont) if n]
    return names


def _guard_expr(names: list[str]):
    exprs = [_not(_name(n, ast.Load())) for n in names]
    return exprs[0] if len(exprs) == 1 else ast.BoolOp(op=ast.And(), values=exprs)


def _may_exit(stmt, loop: _Loop | None, returns: bool) -> bool:
    types = []
    if returns:
        types.append(ast.Return)
    if loop is not None:
        types += [ast.Break, ast.Continue]
    if not types:
        return False
    if isinstance(stmt, (ast.For, ast.While)):
        return returns and _contains(stmt.body, (ast.Return,), stop_at_loops=False)
    return _contains([stmt], tuple(types), stop_at_loops=True)


def _rw_block(stmts, counter, loop: _Loop | None, returns: bool):
    out = []
    for i, s in enumerate(stmts):
        exits = _may_exit(s, loop, returns)
        out.extend(_rw_stmt(s, counter, loop, returns))
        if exits and i + 1 < len(stmts):
            rest = _rw_block(stmts[i + 1:], counter, loop, returns)
            guard = _guard_expr(_guard_names(loop, returns))
            out.append(_copy_loc(ast.If(test=guard, body=rest, orelse=[]), stmts[i + 1]))
            break
    return out


def _rw_stmt(s, counter, loop: _Loop | None, returns: bool):
    if isinstance(s, ast.Return) and returns:
        val = s.value if s.value is not None else ast.Constant(None)
        new = [_assign(RETVAL, val), _assign(RETURNED, ast.Constant(1))]
        if loop is not None and loop.brk:
            new.append(_assign(loop.brk, ast.Constant(1)))
        return [_copy_loc(n, s) for n in new]
    if isinstance(s, ast.Break):
        return [_copy_loc(_assign(loop.brk, ast.Constant(1)), s)]
    if isinstance(s, ast.Continue):
        return [_copy_loc(_assign(loop.cont, ast.Constant(1)), s)]
    if isinstance(s, ast.If):
        s.body = _rw_block(s.body, counter, loop, returns) or [ast.Pass()]
        s.orelse = _rw_block(s.orelse, counter, loop, returns)
        return [_copy_loc(s, s)]
    if isinstance(s, (ast.For, ast.While)):
        has_break = _contains(s.body, (ast.Break,), stop_at_loops=True)
        has_cont = _contains(s.body, (ast.Continue,), stop_at_loops=True)
        has_ret = returns and _contains(s.body, (ast.Return,), stop_at_loops=False)
        if not (has_break or has_cont or has_ret):
            s.body = _rw_block(s.body, counter, _Loop(None, None), False)
            return [s]
        inner = _Loop(counter.next("brk") if (has_break or has_ret) else None,
                      counter.next("cont") if has_cont else None)
        pre = []
        if inner.brk:
            pre.append(_copy_loc(_assign(inner.brk, ast.Constant(0)), s))
        body = _rw_block(s.body, counter, inner, returns)
        if inner.cont:
            body.insert(0, _copy_loc(_assign(inner.cont, ast.Constant(0)), s))
        if isinstance(s, ast.For):
            if inner.brk:
                body = [_copy_loc(ast.If(test=_not(_name(inner.brk, ast.Load())), body=body,
                                         orelse=[]), s)]
        elif inner.brk:
            s.test = _copy_loc(ast.BoolOp(op=ast.And(), values=[
                _not(_name(inner.brk, ast.Load())), s.test]), s)
        s.body = body
        return pre + [s]
    return [s]
