"""Algebraic simplifications applied by the emitter before a statement is created.

Each rule receives the statement's arguments and returns an equivalent atom (emitting simpler
statements if needed) or None to keep the statement. Rules are exact in IEEE arithmetic except
where noted: they never fold ``x * 0.0`` for a user's ``0.0`` (only structural zeros, see
:class:`tidal.dsl.ir.Zero`).

Small vectors and matrices whose elements are known (built by ``make`` or constant) and partly
constant are expanded element by element when combined: derivative code is full of unit
tangents and one-element cotangents, and expanding them lets the zeros fold. Vectors whose
elements are all runtime values keep their vector form, so user code reads as written.
"""

from __future__ import annotations

from tidal.dsl import ir
from tidal.dsl import primitives as P

SMALL = 16  # largest element count expanded element by element


def _const(a, v) -> bool:
    return isinstance(a, ir.Const) and not isinstance(a.value, tuple) and a.value == v


def _def(em, a):
    return em.defs.get(a) if isinstance(a, ir.Var) else None


def _is(em, a, prim):
    d = _def(em, a)
    return d if d is not None and d[0] is prim else None


def _indices(t):
    if t.is_vector:
        return [(i,) for i in range(t.shape[0])]
    return [(i, j) for i in range(t.shape[0]) for j in range(t.shape[1])]


def elements(em, a):
    """The element atoms of a small vector/matrix when known (make or constant), else None."""
    t = a.type
    if t.is_scalar or t.size > SMALL:
        return None
    if isinstance(a, ir.Const):
        from tidal.dsl.emitter import const_array, make_const

        arr = const_array(a).reshape(-1)
        zero = ir.is_zero(a)
        return [ir.Zero(t.scalar) if zero else make_const(x, t.scalar) for x in arr]
    d = _is(em, a, P.make)
    if d is not None:
        return list(d[1])
    return None


def _sparse(elems) -> bool:
    return elems is not None and any(isinstance(e, ir.Const) for e in elems)


def _make(elems, t):
    return P.make(*elems, shape=t.shape)


def _elementwise(prim, em, args, out):
    """Expand ``prim`` over known elements when one operand is sparse."""
    if out.is_scalar or out.size > SMALL:
        return None
    parts = []
    for a in args:
        if a.type.is_scalar:
            parts.append(None)
        else:
            e = elements(em, a)
            if e is None:
                return None
            parts.append(e)
    if not any(_sparse(p) for p in parts if p is not None):
        return None
    elems = []
    for k in range(out.size):
        elems.append(prim(*[a if p is None else p[k] for a, p in zip(args, parts)]))
    return _make(elems, out)


def add(args, attrs, out, em):
    a, b = args
    if _const(b, 0):
        return a
    if _const(a, 0):
        return b
    nb = _is(em, b, P.neg)
    if nb is not None:
        return P.sub(a, nb[1][0])
    na = _is(em, a, P.neg)
    if na is not None:
        return P.sub(b, na[1][0])
    return _elementwise(P.add, em, args, out)


def sub(args, attrs, out, em):
    a, b = args
    if _const(b, 0):
        return a
    if ir.is_zero(a):
        return P.neg(b)
    nb = _is(em, b, P.neg)
    if nb is not None:
        return P.add(a, nb[1][0])
    if not out.is_float and isinstance(a, ir.Const):
        inner = _is(em, b, P.sub)
        if inner is not None and isinstance(inner[1][0], ir.Const):
            # c1 - (c2 - x) = x + (c1 - c2), exact for integers
            return P.add(inner[1][1], int(a.value) - int(inner[1][0].value))
    return _elementwise(P.sub, em, args, out)


def mul(args, attrs, out, em):
    a, b = args
    if _const(b, 1):
        return a
    if _const(a, 1):
        return b
    if _const(b, -1):
        return P.neg(a)
    if _const(a, -1):
        return P.neg(b)
    na, nb = _is(em, a, P.neg), _is(em, b, P.neg)
    if na is not None and nb is not None:
        return P.mul(na[1][0], nb[1][0])
    return _elementwise(P.mul, em, args, out)


def div(args, attrs, out, em):
    if _const(args[1], 1):
        return args[0]
    return None


def neg(args, attrs, out, em):
    inner = _is(em, args[0], P.neg)
    if inner is not None:
        return inner[1][0]
    return _elementwise(P.neg, em, args, out)


def ipow(args, attrs, out, em):
    (n,) = attrs
    if n == 1:
        return args[0]
    if n == 0:
        from tidal.dsl.emitter import make_const

        return make_const(1, out)
    return None


def select(args, attrs, out, em):
    c, a, b = args
    if isinstance(c, ir.Const) and not isinstance(c.value, tuple):
        return a if c.value else b
    if a is b or (isinstance(a, ir.Const) and a == b):
        return a
    return None


def cast(args, attrs, out, em):
    return args[0] if args[0].type == out else None


def _same_index(a, b) -> bool:
    """Whether two index tuples certainly denote the same element."""
    return len(a) == len(b) and all(
        x is y or (isinstance(x, ir.Const) and isinstance(y, ir.Const) and x == y)
        for x, y in zip(a, b))


def _distinct_index(a, b) -> bool:
    """Whether two index tuples certainly denote different elements (constants only)."""
    return all(isinstance(x, ir.Const) for x in a + b) and not _same_index(a, b)


def getitem(args, attrs, out, em):
    v, *idx = args
    d = _def(em, v)
    if d is None:
        return None
    prim, dargs, dattrs = d
    if prim is P.broadcast:
        return dargs[0]
    if prim is P.setitem:
        if _same_index(tuple(dargs[2:]), tuple(idx)):
            return dargs[1]
        if _distinct_index(tuple(dargs[2:]), tuple(idx)):
            return P.getitem(dargs[0], *idx)
        return None
    if prim is P.make and all(isinstance(i, ir.Const) for i in idx):
        return dargs[_indices(v.type).index(tuple(int(i.value) for i in idx))]
    return None


def setitem(args, attrs, out, em):
    v, s, *idx = args
    g = _is(em, s, P.getitem)
    if g is not None and g[1][0] is v and _same_index(tuple(g[1][1:]), tuple(idx)):
        return v  # v[i] = v[i]
    d = _is(em, v, P.setitem)
    if d is not None and _same_index(tuple(d[1][2:]), tuple(idx)):
        return P.setitem(d[1][0], s, *idx)  # the earlier write to the element is overwritten
    if not all(isinstance(i, ir.Const) for i in idx):
        return None
    elems = elements(em, v)
    if elems is not None:
        elems[_indices(v.type).index(tuple(int(i.value) for i in idx))] = s
        return _make(elems, v.type)
    return None


def _known_or_sparse(em, args):
    parts = [elements(em, a) for a in args]
    return parts if any(_sparse(p) for p in parts) else None


def _elems_of(em, a, parts_entry):
    if parts_entry is not None:
        return parts_entry
    return [P.getitem(a, *k) for k in _indices(a.type)]


def dot(args, attrs, out, em):
    parts = _known_or_sparse(em, args)
    if parts is None:
        return None
    a, b = (_elems_of(em, x, p) for x, p in zip(args, parts))
    return _sum([x * y for x, y in zip(a, b)], out)


def _sum(terms, out):
    from tidal.dsl.emitter import make_const

    total = None
    for t in terms:
        if ir.is_zero(t):
            continue
        total = t if total is None else total + t
    return total if total is not None else make_const(0, out)


def cross(args, attrs, out, em):
    parts = _known_or_sparse(em, args)
    if parts is None:
        return None
    a, b = (_elems_of(em, x, p) for x, p in zip(args, parts))
    if len(a) == 2:
        return a[0] * b[1] - a[1] * b[0]
    return _make([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                  a[0] * b[1] - a[1] * b[0]], out)


def matmul(args, attrs, out, em):
    if out.size > SMALL:
        return None
    parts = _known_or_sparse(em, args)
    if parts is None:
        return None
    a, b = args
    ea, eb = (_elems_of(em, x, p) for x, p in zip(args, parts))
    n, m = a.type.shape
    if b.type.is_vector:
        return _make([_sum([ea[i * m + k] * eb[k] for k in range(m)], out.scalar)
                      for i in range(n)], out)
    p = b.type.shape[1]
    return _make([_sum([ea[i * m + k] * eb[k * p + j] for k in range(m)], out.scalar)
                  for i in range(n) for j in range(p)], out)


def sum_(args, attrs, out, em):
    e = elements(em, args[0])
    if not _sparse(e):
        return None
    return _sum(e, out)


def transpose(args, attrs, out, em):
    e = elements(em, args[0])
    if not _sparse(e):
        return None
    n, m = args[0].type.shape
    return _make([e[i * m + j] for j in range(m) for i in range(n)], out)


def install() -> None:
    """Attach the rules to their primitives."""
    for prim, rule in [
        (P.add, add), (P.sub, sub), (P.mul, mul), (P.div, div), (P.neg, neg), (P.ipow, ipow),
        (P.select, select), (P.cast, cast), (P.getitem, getitem), (P.setitem, setitem),
        (P.dot, dot), (P.cross, cross), (P.matmul, matmul), (P.sum_, sum_),
        (P.transpose, transpose),
    ]:
        prim.simplify = rule


install()
