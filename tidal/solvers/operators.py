"""Differential operators written as math: a tidal function whose parameter names say which
derivatives of the network it needs.

A residual such as ``u_t + u u_x - nu u_xx`` is written once, as a tidal function::

    @td.func
    def burgers(u: td.f32, u_t: td.f32, u_x: td.f32, u_xx: td.f32) -> td.f32:
        return u_t + u * u_x - nu * u_xx

Each parameter name is one of: the output name (``u``); a derivative ``u_<variables>`` such as
``u_x``, ``u_xx``, ``u_xt`` or ``u_xxxx`` (one letter per differentiation, in any order); a
coordinate (``x``, ``t``); or the name of an unknown coefficient of an inverse problem.

:func:`plan` turns the names into Taylor-mode directions of the network: one per axis along
which pure derivatives are needed (order = the highest order needed), and one of order 2 along
``e_a + e_b`` for each mixed second derivative ``u_ab`` (recovered by polarisation,
``u_ab = (D2_{a+b} - u_aa - u_bb) / 2``). :func:`kernel_source` generates the kernel that
evaluates the operator on a batch of points, with all directions in one Taylor pass
(``td.taylor`` with a tuple of orders), so the network's primal work is done once per point.
Guarantees: every name is resolved or a :class:`~tidal.TidalArgumentError` names the function,
its file and line, and the bad name; the pass is computed once per point however many
derivatives use it.
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field

from tidal.dsl.errors import TidalArgumentError


@dataclass(frozen=True)
class Derivative:
    """A partial derivative, as the number of differentiations along each axis."""

    counts: tuple[int, ...]

    @property
    def order(self) -> int:
        return sum(self.counts)


@dataclass
class Plan:
    """How to evaluate an operator's arguments at a point ``z``.

    ``passes`` lists the ``(direction, order)`` of the Taylor directions, all evaluated by one
    call ``J = P(z, direction_0, direction_1, ...)`` of ``td.taylor(u, order=(orders...))``
    (``J[0]`` is ``u``, then each direction's derivatives in turn); ``arguments`` gives, for
    each parameter of the user's function, a Python expression over ``z``, ``J`` and the
    unknowns' storage ``UNKNOWNS``.
    """

    passes: list[tuple[tuple[float, ...], int]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)


def where(fn) -> str:
    """``name (file:line)`` of a tidal function, for error messages."""
    py = getattr(fn, "pyfunc", None) or fn
    name = getattr(fn, "name", getattr(py, "__name__", repr(fn)))
    try:
        file = inspect.getsourcefile(py)
        line = inspect.getsourcelines(py)[1]
        return f"{name} ({file}:{line})"
    except (OSError, TypeError):
        return str(name)


def parse(name: str, output: str, variables: tuple[str, ...]) -> Derivative | None:
    """The derivative a parameter name denotes, or None when it is not ``<output>_<letters>``."""
    prefix = output + "_"
    if not name.startswith(prefix) or len(name) == len(prefix):
        return None
    letters = name[len(prefix):]
    if any(c not in variables for c in letters):
        return None
    count = Counter(letters)
    return Derivative(tuple(count.get(v, 0) for v in variables))


def plan(fn, names: tuple[str, ...], output: str, variables: tuple[str, ...],
         unknowns: tuple[str, ...]) -> Plan:
    """Resolve every parameter name of ``fn`` and choose the Taylor passes.

    Raises:
        TidalArgumentError: for a name that is neither the output, a derivative of it in the
            problem's variables, a variable, nor an unknown; and for mixed derivatives above order
            2 (not supported).
    """
    dim = len(variables)
    wanted: dict[str, Derivative] = {}
    for name in names:
        if name == output or name in variables or name in unknowns:
            continue
        d = parse(name, output, variables)
        if d is None:
            raise TidalArgumentError(
                f"{where(fn)} has a parameter `{name}`, which is not a derivative tidal can "
                f"provide: the output is `{output}`, the variables are "
                f"{', '.join(variables)}" + (f", the unknowns {', '.join(unknowns)}"
                                            if unknowns else ""),
                hint=f"name derivatives {output}_<variables>, e.g. {output}_{variables[0]}, "
                     f"{output}_{variables[0] * 2}" + (f", {output}_{variables[0]}{variables[1]}"
                                                       if dim > 1 else ""))
        mixed = [a for a in range(dim) if d.counts[a]]
        if len(mixed) > 1 and d.order > 2:
            raise TidalArgumentError(
                f"{where(fn)} asks for `{name}`: mixed derivatives are supported up to order 2",
                hint="write the operator with pure derivatives or second-order mixed ones")
        wanted[name] = d
    axis_order = [0] * dim
    pairs = []
    for d in wanted.values():
        axes = [a for a in range(dim) if d.counts[a]]
        if len(axes) == 1:
            axis_order[axes[0]] = max(axis_order[axes[0]], d.order)
        else:
            pairs.append(tuple(axes))
            for a in axes:
                axis_order[a] = max(axis_order[a], 2)
    result = Plan()
    axis_pass: dict[int, int] = {}
    for a in range(dim):
        if axis_order[a]:
            axis_pass[a] = len(result.passes)
            result.passes.append((_unit(dim, a), axis_order[a]))
    pair_pass: dict[tuple[int, ...], int] = {}
    for pair in sorted(set(pairs)):
        pair_pass[pair] = len(result.passes)
        direction = tuple(1.0 if a in pair else 0.0 for a in range(dim))
        result.passes.append((direction, 2))
    orders = [k for _, k in result.passes]

    def ref(k: int, m: int) -> str:
        """Derivative of order ``m`` (1..) along direction ``k`` in ``J``."""
        return f"J[{1 + sum(orders[:k]) + m - 1}]"

    for name in names:
        if name == output:
            result.arguments.append("J[0]" if result.passes else "U(z)")
        elif name in variables:
            result.arguments.append(f"z[{variables.index(name)}]")
        elif name in unknowns:
            result.arguments.append(f"UNKNOWNS[{unknowns.index(name)}]")
        else:
            d = wanted[name]
            axes = [a for a in range(dim) if d.counts[a]]
            if len(axes) == 1:
                result.arguments.append(ref(axis_pass[axes[0]], d.order))
            else:
                a, b = axes
                result.arguments.append(f"0.5 * ({ref(pair_pass[(a, b)], 2)} - "
                                        f"{ref(axis_pass[a], 2)} - {ref(axis_pass[b], 2)})")
    return result


def orders(p: Plan):
    """The ``order`` argument of ``td.taylor`` for the plan's directions (None without any)."""
    ks = tuple(k for _, k in p.passes)
    return None if not ks else ks[0] if len(ks) == 1 else ks


def _unit(dim: int, axis: int) -> tuple[float, ...]:
    return tuple(1.0 if a == axis else 0.0 for a in range(dim))


def kernel_source(p: Plan, name: str, write_values: bool) -> str:
    """Source of a kernel evaluating the operator minus a target at a batch of points.

    With ``write_values`` the kernel writes each point's value ``e_i`` to ``out``; otherwise it
    adds ``scale * e_i**2`` to ``PARTS[part]`` (the term's mean square when ``scale = 1/n``).
    Namespace names it expects: ``VEC``, ``REAL``, ``U``, ``P`` (``td.taylor`` of the network
    with the orders of ``p.passes``; unused without passes), ``USER``, ``PARTS``, ``UNKNOWNS``.
    """
    lines = []
    if write_values:
        lines.append(f"def {name}(pts: ti.types.ndarray(dtype=VEC, ndim=1), "
                     "target: ti.types.ndarray(dtype=REAL, ndim=1), "
                     "out: ti.types.ndarray(dtype=REAL, ndim=1)):")
    else:
        lines.append(f"def {name}(pts: ti.types.ndarray(dtype=VEC, ndim=1), "
                     "target: ti.types.ndarray(dtype=REAL, ndim=1), scale: REAL, part: ti.i32):")
    lines.append("    for i in range(pts.shape[0]):")
    lines.append("        z = pts[i]")
    if p.passes:
        directions = ", ".join("ti.Vector([" + ", ".join(repr(float(c)) for c in direction) + "])"
                               for direction, _ in p.passes)
        lines.append(f"        J = P(z, {directions})")
    lines.append(f"        e = USER({', '.join(p.arguments)}) - target[i]")
    if write_values:
        lines.append("        out[i] = e")
    else:
        lines.append("        PARTS[part] += scale * e * e")
    return "\n".join(lines) + "\n"
