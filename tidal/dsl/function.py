"""Tidal functions: the objects ``@td.func`` and every derivative transformation return.

A :class:`TidalFunction` is built lazily from a recipe (a user's Python function, or a
transformation of another tidal function). Its IR, generated source and compiled Taichi function
are cached per configuration, and derivatives of it are memoised in ``_derived``: asking twice for
the same derivative returns the same object, which compiles once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import taichi as ti
from taichi.lang import impl as ti_impl

from tidal.dsl import codegen, frontend, ir, lowering, pipeline, runtime
from tidal.dsl.errors import TidalError, UnsupportedConstructError
from tidal.dsl.types import DType, TType


class TidalFunction:
    """A function in the tidal language: callable from kernels, other tidal functions and Python.

    Do not construct directly: use :func:`func` or the derivative API.
    """

    __tidal_function__ = True
    # Taichi's AST transformer treats objects with this attribute as Taichi functions (no
    # "non-taichi function" warning) and reads ``.func`` from them; see ``func`` below.
    _is_taichi_function = True

    def __init__(self, name: str, builder: Callable[[DType], ir.Function], *,
                 pyfunc=None, kind: str = "func"):
        self.name = name
        self.kind = kind
        self.pyfunc = pyfunc
        self._builder = builder
        self._ir_cache: dict = {}
        self._gen_cache: dict = {}
        self._call_prims: dict = {}
        self._derived: dict = {}
        self._kernels: dict = {}
        self.custom_rules: dict = {}
        self._taichi_helper = None  # ti.func(pyfunc), for helpers tidal only inlines
        if pyfunc is not None:
            functools.update_wrapper(self, pyfunc)

    # -- IR and source ---------------------------------------------------------------------
    def ir(self, default_fp: DType | None = None) -> ir.Function:
        """The optimised IR of this function for ``default_fp`` (the active one by default)."""
        fp = default_fp or runtime.config().default_fp
        f = self._ir_cache.get(fp)
        if f is None:
            f = self._ir_cache[fp] = pipeline.function_ir(self._builder, fp, self.name)
        return f

    def transform_ir(self, default_fp: DType | None = None) -> ir.Function:
        """The IR that derivative transformations start from.

        For a function with a declared rule this is a single call of the function itself, so
        that the declared rule (the call's rule) applies to its own derivatives too.
        """
        if not self.custom_rules:
            return self.ir(default_fp)
        fp = default_fp or runtime.config().default_fp
        f = self._ir_cache.get(("call", fp))
        if f is None:
            from tidal.dsl import calls
            from tidal.dsl.emitter import Emitter

            inner = self.ir(fp)
            params = [ir.Var(p.name, p.type) for p in inner.params]
            em = Emitter(fp)
            with em:
                em.begin()
                res = calls.emit_call(self, list(params), fp, inner.loc)
                res = () if res is None else (res if isinstance(res, tuple) else (res,))
                f = ir.Function(self.name, params, em.end(res), inner.loc)
            self._ir_cache[("call", fp)] = f
        return f

    @property
    def param_types(self) -> tuple[TType, ...]:
        return self.ir().param_types

    @property
    def result_types(self) -> tuple[TType, ...]:
        return self.ir().result_types

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.ir().param_names

    def generated(self) -> codegen.Generated:
        cfg = runtime.config()
        key = (cfg.default_fp, cfg.arch)
        g = self._gen_cache.get(key)
        if g is None:
            g = pipeline.generate_function(self.ir(cfg.default_fp), self.name, cfg.default_fp,
                                           cfg.arch)
            g.taichi_func = None
            self._gen_cache[key] = g
        runtime.refuse_stale_fields(g.namespace, self.name)  # (kept across td.init calls)
        return g

    def source(self) -> str:
        """The generated Taichi source of this function."""
        return self.generated().source

    def taichi_object(self):
        """The compiled ``@ti.func`` (loaded once per configuration).

        A kernel helper that tidal compiles only inlined into kernels (it writes fields) is,
        called from a kernel Taichi compiles (``td.kernel.raw()``), Taichi's own compilation of
        the user's source, as ``@ti.func`` would be."""
        try:
            g = self.generated()
        except UnsupportedConstructError:
            if self.pyfunc is None:
                raise
            if self._taichi_helper is None:
                self._taichi_helper = ti.func(self.pyfunc)
            return self._taichi_helper
        if g.taichi_func is None:
            g.taichi_func = pipeline.load_function(g, self.name)
        return g.taichi_func

    @property
    def func(self):
        """Taichi's function object (read by Taichi's AST transformer inside kernels)."""
        return self.taichi_object().func

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, *args):
        if ti_impl.inside_kernel():
            return self.taichi_object()(*args)
        from tidal.dsl import pycall

        return pycall.call(self, args)

    def __repr__(self) -> str:
        return f"<tidal {self.kind} {self.name}>"

    def memo(self, key, make: Callable[[], TidalFunction]) -> TidalFunction:
        """Return the derived function cached under ``key``, making it on first request."""
        f = self._derived.get(key)
        if f is None:
            f = self._derived[key] = make()
        return f


def require_tidal(f, what: str) -> TidalFunction:
    """``f`` if it is a tidal function, else a :class:`TidalArgumentError` naming ``what``."""
    if not isinstance(f, TidalFunction):
        from tidal.dsl.errors import TidalArgumentError

        raise TidalArgumentError(f"{what} expects a tidal function, got {f!r}",
                                 hint="decorate the function with @td.func")
    return f


def func(pyfunc=None):
    """Decorator: make a Python function a tidal function.

    The function may use scalars, vectors and matrices, Taichi's math, ``if``/``for``/``while``,
    ``ti.static`` and calls to other tidal functions. Parameters need type annotations. It can be
    called from Taichi kernels, from other tidal functions, and from Python with numbers.

    Example:
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def f(x: td.f64, y: td.f64) -> td.f64:
        ...     return ti.sin(x * y) + x ** 3 / (1.0 + y * y)
        >>> round(f(0.3, 1.2), 6)
        0.36334
    """
    if pyfunc is None:
        return func
    if isinstance(pyfunc, TidalFunction):
        return pyfunc
    if not callable(pyfunc):
        raise TidalError(f"@td.func expects a function, got {pyfunc!r}")
    frontend.remember_source(pyfunc)

    def build(default_fp: DType) -> ir.Function:
        return lowering.lower(pyfunc, default_fp)

    return TidalFunction(pyfunc.__name__, build, pyfunc=pyfunc)


def source(f, *args, mode: str = "forward") -> str:
    """The generated Taichi source of a tidal function, derivative or kernel.

    For a kernel, ``mode`` chooses the ``"forward"``, ``"adjoint"`` or ``"tangent"`` kernel, for
    the launch arguments ``args`` (by default those of its latest launch).

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def sq(x: td.f64) -> td.f64:
        ...     return x * x
        >>> print(td.source(td.grad(sq)))  # doctest: +ELLIPSIS
        @ti.func
        def ...
    """
    if isinstance(f, TidalFunction):
        if mode != "forward":
            raise TidalError("mode applies to kernels; use td.grad/td.jvp for functions")
        return f.source()
    if getattr(f, "__tidal_kernel__", False):
        return f.source(*args, mode=mode)
    raise TidalError(f"{f!r} is not a tidal function or kernel",
                     hint="decorate it with @td.func or @td.kernel")


__all__ = ["TidalFunction", "func", "source", "ti"]
