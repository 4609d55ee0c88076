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
derivatives of every output at once. :func:`kernels` makes the tidal kernels that evaluate the
operators on a batch of points, with all directions in one Taylor pass (``td.taylor`` with a
tuple of orders), so the network's primal work is done once per point for all equations. They
are one tidal kernel written here, specialised by static data (the plan's directions and each
parameter's :class:`Argument`), not generated source text.
Guarantees: every name is resolved or a :class:`~tidal.TidalArgumentError` names the function,
its file and line, and the bad name; the pass is computed once per point however many
derivatives and equations use it.
"""

import inspect
from collections import Counter
from dataclasses import dataclass, field

import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArgumentError


@dataclass(frozen=True)
class Derivative:
    """A partial derivative, as the number of differentiations along each axis."""

    counts: tuple[int, ...]

    @property
    def order(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Argument:
    """Where one parameter of an operator comes from, at a point ``z`` with Taylor results ``J``
    (``J[0]`` the network's value, then each direction's derivatives of orders 1.. in turn).

    ``kind`` is ``"jet"`` (``J[index[0]]``), ``"mixed"`` (the polarised mixed second derivative
    ``(J[index[0]] - J[index[1]] - J[index[2]]) / 2``), ``"variable"`` (``z[index[0]]``) or
    ``"unknown"`` (entry ``index[0]`` of the unknowns' storage). ``output`` picks one output of a
    network returning a vector (None for a scalar network and for variables and unknowns).
    """

    kind: str
    index: tuple[int, ...]
    output: int | None = None


@dataclass
class Plan:
    """How to evaluate the operators' arguments at a point ``z``.

    ``passes`` lists the ``(direction, order)`` of the Taylor directions, all evaluated by one
    call ``J = P(z, direction_0, direction_1, ...)`` of ``td.taylor(u, order=(orders...))``
    (without directions ``J`` is ``(u(z),)``); ``arguments`` gives, for each operator, one
    :class:`Argument` per parameter.
    """

    passes: list[tuple[tuple[float, ...], int]] = field(default_factory=list)
    arguments: list[tuple[Argument, ...]] = field(default_factory=list)


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
         unknowns: tuple[str, ...], vector: bool = False, forcing: bool = False) -> Plan:
    """Resolve every parameter name of the operators ``fns`` (tidal functions) and choose the
    Taylor passes they share. ``outputs`` names the network's outputs; ``vector`` says whether
    the network returns a vector of them (else one scalar, ``outputs`` of length 1).
    ``forcing``: ``unknowns`` holds the name of a physics-informed DeepONet's input function
    value instead (only the error messages differ).

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
        >>> [(a.kind, a.index, a.output) for a in p.arguments[0]]
        [('jet', (1,), 0), ('jet', (2,), 1)]
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
                    f"{', '.join(variables)}" + (
                        "" if not unknowns else f", the input function's value `{unknowns[0]}`"
                        if forcing else f", the unknowns {', '.join(unknowns)}"),
                    hint=f"name derivatives <output>_<variables>, e.g. {example}_{variables[0]}, "
                         f"{example}_{variables[0] * 2}" + (
                             f", {example}_{variables[0]}{variables[1]}" if dim > 1 else "")
                         + (f"; for the input function's value at the point, pass "
                            f"forcing_name={name!r} to PhysicsInformed" if forcing else
                            f"; for a coefficient to find from data, pass "
                            f"unknowns=[Unknown({name!r}, initial_guess)] to the Problem"))
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

    def output(k: int) -> int | None:
        return k if vector else None

    def jet(k: int, m: int) -> int:
        """Index in ``J`` of the derivative of order ``m`` (1..) along direction ``k``."""
        return 1 + sum(orders[:k]) + m - 1

    for fn in fns:
        arguments = []
        for name in fn.param_names:
            if name in outputs:
                arguments.append(Argument("jet", (0,), output(outputs.index(name))))
            elif name in variables:
                arguments.append(Argument("variable", (variables.index(name),)))
            elif name in unknowns:
                arguments.append(Argument("unknown", (unknowns.index(name),)))
            else:
                k, d = wanted[name]
                axes = [a for a in range(dim) if d.counts[a]]
                if len(axes) == 1:
                    arguments.append(Argument("jet", (jet(axis_pass[axes[0]], d.order),),
                                              output(k)))
                else:
                    a, b = axes
                    arguments.append(Argument("mixed", (jet(pair_pass[(a, b)], 2),
                                                        jet(axis_pass[a], 2),
                                                        jet(axis_pass[b], 2)), output(k)))
        result.arguments.append(tuple(arguments))
    return result


def orders(p: Plan):
    """The ``order`` argument of ``td.taylor`` for the plan's directions (None without any)."""
    ks = tuple(k for _, k in p.passes)
    return None if not ks else ks[0] if len(ks) == 1 else ks


def _unit(dim: int, axis: int) -> tuple[float, ...]:
    return tuple(1.0 if a == axis else 0.0 for a in range(dim))


def evaluator(p: Plan, fns, real):
    """The inlined tidal helpers that evaluate the operators ``fns`` planned by ``p``:

    * ``along()``: the plan's directions as a tuple of vectors, the arguments after ``z`` of
      ``td.taylor(network, order=orders(p))``;
    * ``evaluate(z, J, extras, o)`` calls operator ``o`` (static) at the point ``z`` with its
      arguments gathered from ``J`` (a tuple of values, or of vectors of the outputs), ``z``
      and ``extras`` (indexed by the unknowns' positions in the plan: a field, or a tuple of
      values).

    Any ``J`` laid out as the plan's passes works, which is how a physics-informed DeepONet
    evaluates the same operators on its combined branch and trunk jets.
    """
    operators = tuple(fns)
    arguments = tuple(p.arguments)
    directions = tuple(d for d, _ in p.passes)

    @ti.func
    def along():
        """The plan's directions as vectors, for ``td.taylor(u, order=orders(p))(z, *along)``."""
        vectors = ()
        for d in ti.static(directions):
            vectors = vectors + (ti.Vector(d, dt=real),)
        return vectors

    @ti.func
    def evaluate(z, J, extras, o: ti.template()):
        """Operator ``o`` at the point ``z`` whose Taylor results are ``J``."""
        args = ()
        for a in ti.static(arguments[o]):
            if ti.static(a.kind == "variable"):
                args = args + (z[a.index[0]],)
            elif ti.static(a.kind == "unknown"):
                args = args + (extras[a.index[0]],)
            else:
                value = J[a.index[0]]
                if ti.static(a.kind == "mixed"):
                    value = 0.5 * (J[a.index[0]] - J[a.index[1]] - J[a.index[2]])
                if ti.static(a.output is not None):
                    args = args + (value[a.output],)
                else:
                    args = args + (value,)
        return operators[o](*args)

    return along, evaluate


def kernels(p: Plan, fns, network, vec, real, parts, unknowns) -> tuple:
    """The two kernels that evaluate the operators ``fns`` (planned by ``p``) minus their
    targets on a batch of points ``pts`` (``(n,)`` of ``vec``), ``target`` being ``(n, k)`` with
    one column per operator:

    * ``term(pts, target, scale, part)`` adds ``scale * e_ik**2`` to ``parts[part + k]`` for
      each point ``i`` and operator ``k`` (the operator's mean square for ``scale = 1/n``);
    * ``values(pts, target, out)`` writes ``e_ik`` to ``out[i, k]``.

    ``network`` is the tidal function ``u(z)`` (a scalar, or a vector of the outputs when the
    plan was made with ``vector=True``) and ``unknowns`` the field of the unknown coefficients.
    The Taylor pass ``td.taylor(network, order=orders(p))`` runs once per point for all the
    operators.
    """
    operators = tuple(fns)
    order = orders(p)
    jets = network if order is None else td.taylor(network, order=order, argnums=0)
    along, evaluate = evaluator(p, fns, real)

    @ti.func
    def jet_at(z):
        """``J`` at the point ``z``: one Taylor pass along every direction of the plan."""
        J = ()
        if ti.static(order is None):
            J = (network(z),)
        else:
            J = jets(z, *along())
        return J

    @td.kernel
    def term(pts: ti.types.ndarray(dtype=vec, ndim=1),
             target: ti.types.ndarray(dtype=real, ndim=2), scale: real, part: ti.i32):
        for i in range(pts.shape[0]):
            z = pts[i]
            J = jet_at(z)
            for o in ti.static(range(len(operators))):
                e = evaluate(z, J, unknowns, o) - target[i, o]
                parts[part + o] += scale * e * e

    @td.kernel
    def values(pts: ti.types.ndarray(dtype=vec, ndim=1),
               target: ti.types.ndarray(dtype=real, ndim=2),
               out: ti.types.ndarray(dtype=real, ndim=2)):
        for i in range(pts.shape[0]):
            z = pts[i]
            J = jet_at(z)
            for o in ti.static(range(len(operators))):
                out[i, o] = evaluate(z, J, unknowns, o) - target[i, o]

    return term, values
