"""Differential operators written as math: a tidal function whose parameter names say which
derivatives of the network it needs.

A residual such as ``u_t + u u_x - nu u_xx`` is written once, as a tidal function::

    @td.func
    def burgers(u: td.f32, u_t: td.f32, u_x: td.f32, u_xx: td.f32) -> td.f32:
        return u_t + u * u_x - nu * u_xx

Each parameter name is one of: an output name (``u``, or ``u``, ``v``, ``p`` for a network with
several outputs); a derivative ``<output>_<variables>`` such as ``u_x``, ``v_yy``, ``u_xt`` or
``u_xxxx`` (one letter per differentiation, in any order); a coordinate (``x``, ``t``); or the
name of an unknown coefficient of an inverse problem.

:func:`plan` turns the names of one or several operators (a system of equations) into
Taylor-mode directions of the network: one per axis along which pure derivatives are needed
(order = the highest order any output needs), and one of order 2 along ``e_a + e_b`` for each
mixed second derivative ``u_ab`` (recovered by polarisation, ``u_ab = (D2_{a+b} - u_aa - u_bb) /
2``). A network with several outputs is one vector-valued function, so each direction gives the
derivatives of every output at once. :func:`kernel_source` generates the kernel that evaluates
the operators on a batch of points, with all directions in one Taylor pass (``td.taylor`` with
a tuple of orders), so the network's primal work is done once per point for all equations.
Guarantees: every name is resolved or a :class:`~tidal.TidalArgumentError` names the function,
its file and line, and the bad name; the pass is computed once per point however many
derivatives and equations use it.
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
    (``J[0]`` is ``u``, then each direction's derivatives in turn; each a vector of the outputs
    for a network with several); ``arguments`` gives, for each operator and each of its
    parameters, a Python expression over ``z``, ``J`` and the unknowns' storage ``UNKNOWNS``.
    """

    passes: list[tuple[tuple[float, ...], int]] = field(default_factory=list)
    arguments: list[list[str]] = field(default_factory=list)


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


def plan(fns, outputs: tuple[str, ...], variables: tuple[str, ...],
         unknowns: tuple[str, ...], vector: bool = False) -> Plan:
    """Resolve every parameter name of the operators ``fns`` (tidal functions) and choose the
    Taylor passes they share. ``outputs`` names the network's outputs; ``vector`` says whether
    the network returns a vector of them (else one scalar, ``outputs`` of length 1).

    Raises:
        TidalArgumentError: for a name that is neither an output, a derivative of one in the
            problem's variables, a variable, nor an unknown; and for mixed derivatives above order
            2 (not supported).

    Example:
        >>> import tidal as td
        >>> @td.func
        ... def continuity(u_x: td.f64, v_y: td.f64) -> td.f64:
        ...     return u_x + v_y
        >>> p = plan([continuity], ("u", "v", "p"), ("x", "y"), (), vector=True)
        >>> p.arguments
        [['J[1][0]', 'J[2][1]']]
    """
    dim = len(variables)
    wanted: dict[str, tuple[int, Derivative]] = {}
    for fn in fns:
        for name in fn.param_names:
            if name in outputs or name in variables or name in unknowns or name in wanted:
                continue
            found = [(k, d) for k, o in enumerate(outputs)
                     if (d := parse(name, o, variables)) is not None]
            if not found:
                example = outputs[0]
                raise TidalArgumentError(
                    f"{where(fn)} has a parameter `{name}`, which is not a derivative tidal can "
                    f"provide: the output{'s are' if len(outputs) > 1 else ' is'} "
                    f"{', '.join(f'`{o}`' for o in outputs)}, the variables are "
                    f"{', '.join(variables)}" + (f", the unknowns {', '.join(unknowns)}"
                                                if unknowns else ""),
                    hint=f"name derivatives <output>_<variables>, e.g. {example}_{variables[0]}, "
                         f"{example}_{variables[0] * 2}" + (
                             f", {example}_{variables[0]}{variables[1]}" if dim > 1 else "")
                         + f"; for a coefficient to find from data, pass "
                           f"unknowns=[Unknown({name!r}, initial_guess)] to the Problem")
            k, d = found[0]
            mixed = [a for a in range(dim) if d.counts[a]]
            if len(mixed) > 1 and d.order > 2:
                raise TidalArgumentError(
                    f"{where(fn)} asks for `{name}`: mixed derivatives are supported up to "
                    f"order 2",
                    hint="write the operator with pure derivatives or second-order mixed ones")
            wanted[name] = (k, d)
    axis_order = [0] * dim
    pairs = []
    for _, d in wanted.values():
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

    def part(expr: str, k: int) -> str:
        return f"{expr}[{k}]" if vector else expr

    def ref(k: int, m: int, out: int) -> str:
        """Derivative of order ``m`` (1..) along direction ``k`` in ``J``, of output ``out``."""
        return part(f"J[{1 + sum(orders[:k]) + m - 1}]", out)

    for fn in fns:
        arguments = []
        for name in fn.param_names:
            if name in outputs:
                k = outputs.index(name)
                arguments.append(part("J[0]", k) if result.passes else part("U(z)", k))
            elif name in variables:
                arguments.append(f"z[{variables.index(name)}]")
            elif name in unknowns:
                arguments.append(f"UNKNOWNS[{unknowns.index(name)}]")
            else:
                k, d = wanted[name]
                axes = [a for a in range(dim) if d.counts[a]]
                if len(axes) == 1:
                    arguments.append(ref(axis_pass[axes[0]], d.order, k))
                else:
                    a, b = axes
                    arguments.append(f"0.5 * ({ref(pair_pass[(a, b)], 2, k)} - "
                                     f"{ref(axis_pass[a], 2, k)} - {ref(axis_pass[b], 2, k)})")
        result.arguments.append(arguments)
    return result


def orders(p: Plan):
    """The ``order`` argument of ``td.taylor`` for the plan's directions (None without any)."""
    ks = tuple(k for _, k in p.passes)
    return None if not ks else ks[0] if len(ks) == 1 else ks


def _unit(dim: int, axis: int) -> tuple[float, ...]:
    return tuple(1.0 if a == axis else 0.0 for a in range(dim))


def kernel_source(p: Plan, name: str, write_values: bool) -> str:
    """Source of a kernel evaluating the operators minus their targets at a batch of points.

    Operator ``k`` is ``USER<k>`` in the namespace and its target column ``k`` of the
    ``(n, operators)`` array ``target``. With ``write_values`` the kernel writes each point's
    values ``e_ik`` to ``out[i, k]``; otherwise it adds ``scale * e_ik**2`` to
    ``PARTS[part + k]`` (operator ``k``'s mean square when ``scale = 1/n``). Namespace names it
    expects: ``VEC``, ``REAL``, ``U``, ``P`` (``td.taylor`` of the network with the orders of
    ``p.passes``; unused without passes), ``USER0``, ``USER1``, ..., ``PARTS``, ``UNKNOWNS``.
    """
    lines = []
    if write_values:
        lines.append(f"def {name}(pts: ti.types.ndarray(dtype=VEC, ndim=1), "
                     "target: ti.types.ndarray(dtype=REAL, ndim=2), "
                     "out: ti.types.ndarray(dtype=REAL, ndim=2)):")
    else:
        lines.append(f"def {name}(pts: ti.types.ndarray(dtype=VEC, ndim=1), "
                     "target: ti.types.ndarray(dtype=REAL, ndim=2), scale: REAL, part: ti.i32):")
    lines.append("    for i in range(pts.shape[0]):")
    lines.append("        z = pts[i]")
    if p.passes:
        directions = ", ".join("ti.Vector([" + ", ".join(repr(float(c)) for c in direction) + "])"
                               for direction, _ in p.passes)
        lines.append(f"        J = P(z, {directions})")
    for k, arguments in enumerate(p.arguments):
        lines.append(f"        e{k} = USER{k}({', '.join(arguments)}) - target[i, {k}]")
        if write_values:
            lines.append(f"        out[i, {k}] = e{k}")
        else:
            lines.append(f"        PARTS[part + {k}] += scale * e{k} * e{k}")
    return "\n".join(lines) + "\n"
