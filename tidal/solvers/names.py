"""Typed names of a problem's outputs and variables.

``u, v, p = outputs("u v p")`` gives three :class:`Output` objects that a problem, its
conditions and its predictions take wherever an output's name goes (``outputs=(u, v, p)``,
``DirichletBC(..., output=v)``, ``problem.predict(points, output=p)``); likewise
``x, y = variables("x y")``. A misspelt name is then a Python ``NameError`` at the user's own
line, before any tidal code runs, and an output cannot be passed where a variable is meant (or
the reverse). They are ``str`` subclasses, so plain strings keep working and compare equal.

Example:
    >>> u, v, p = outputs("u v p")
    >>> v, isinstance(v, Output), v == "v"
    (Output('v'), True, True)
    >>> x, t = variables("x", "t")
    >>> t
    Variable('t')
"""

from tidal.dsl.errors import TidalArgumentError


class Output(str):
    """The name of a network output (see :func:`outputs`)."""

    def __repr__(self) -> str:
        return f"Output({str(self)!r})"


class Variable(str):
    """The name of a coordinate of the domain (see :func:`variables`)."""

    def __repr__(self) -> str:
        return f"Variable({str(self)!r})"


def _names(kind, names, rule: str, check) -> tuple:
    parts = [w for n in names for w in (n.split() if isinstance(n, str) else [n])]
    if not parts:
        raise TidalArgumentError(f"{kind.__name__.lower()}s() needs at least one name")
    for name in parts:
        if not isinstance(name, str) or not check(name):
            raise TidalArgumentError(f"{kind.__name__.lower()} names must be {rule}, got "
                                     f"{name!r}")
    if len(set(parts)) != len(parts):
        raise TidalArgumentError(f"two {kind.__name__.lower()}s have one name: {parts}")
    return tuple(kind(n) for n in parts)


def outputs(*names: str) -> tuple[Output, ...]:
    """Output names, from separate strings or one string separated by spaces.

    Example:
        >>> outputs("u", "v") == outputs("u v")
        True
    """
    return _names(Output, names, "letters and digits without underscores",
                  lambda n: n.isidentifier() and "_" not in n)


def variables(*names: str) -> tuple[Variable, ...]:
    """Variable names (single letters), from separate strings or one string separated by
    spaces.

    Example:
        >>> variables("x y t")
        (Variable('x'), Variable('y'), Variable('t'))
    """
    return _names(Variable, names, "single letters", lambda n: len(n) == 1 and n.isalpha())


__all__ = ["Output", "Variable", "outputs", "variables"]
