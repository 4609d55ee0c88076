"""Declared derivative rules: ``td.custom_jvp`` and ``td.custom_vjp``.

A declared rule is itself a tidal function, so it compiles to kernels and can be differentiated
again: the rule of the other mode is obtained by transposing it, and Taylor mode integrates its
tangent along the series (:mod:`tidal.autodiff.call_rules`). Rules take effect where the function
is called from other tidal functions and for every derivative of it.
"""

from __future__ import annotations

from tidal.dsl.errors import TidalArgumentError
from tidal.dsl.function import TidalFunction, func


def _attach(f: TidalFunction, kind: str, rule) -> TidalFunction:
    rule = func(rule)
    if f.custom_rules:
        raise TidalArgumentError(f"{f.name} already has a declared {next(iter(f.custom_rules))} "
                                 "rule", hint="declare either a jvp or a vjp rule, not both")
    f.custom_rules[kind] = rule
    f._derived.clear()
    return rule


def custom_jvp(pyfunc) -> TidalFunction:
    """Declare a function whose forward-mode rule you provide with ``@f.defjvp``.

    The rule takes ``(primals..., tangents of the float parameters...)`` and returns
    ``(outputs..., tangents of the outputs...)``. Reverse mode and Taylor mode are derived from it.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.custom_jvp
        ... def safe_sqrt(x: td.f64) -> td.f64:
        ...     return ti.sqrt(x)
        >>> @safe_sqrt.defjvp
        ... def safe_sqrt_jvp(x: td.f64, dx: td.f64):
        ...     y = ti.sqrt(x)
        ...     return y, dx * 0.5 / ti.max(y, 1e-12)
        >>> td.grad(safe_sqrt)(4.0)
        0.25
    """
    f = func(pyfunc)
    f.defjvp = lambda rule: _attach(f, "jvp", rule)
    return f


def custom_vjp(pyfunc) -> TidalFunction:
    """Declare a function whose reverse-mode rule you provide with ``@f.defvjp``.

    The rule takes ``(primals..., cotangents of the outputs...)`` and returns one cotangent per
    float parameter. Forward mode and Taylor mode are derived from it by transposition.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.custom_vjp
        ... def cube(x: td.f64) -> td.f64:
        ...     return x * x * x
        >>> @cube.defvjp
        ... def cube_vjp(x: td.f64, ct: td.f64):
        ...     return 3.0 * x * x * ct
        >>> td.derivative(cube, order=2)(2.0)
        12.0
    """
    f = func(pyfunc)
    f.defvjp = lambda rule: _attach(f, "vjp", rule)
    return f
