"""The primitive operations of the tidal language.

A :class:`Primitive` is the unit that transformations know about. Each one declares, in one
place: how to infer its output types, a NumPy implementation (used for constant folding and as a
test oracle), the Taichi source it generates, how structural zeros flow through it, and the input
domain on which its derivative rules are tested. Derivative rules live in separate tables in
:mod:`tidal.autodiff.rules`, keyed by these objects.

Calling a primitive on atoms emits it into the current emitter; calling it on Taylor series
applies its Taylor rule. Everything else (``tan``, ``clamp``, ``norm``, ``determinant``...) is a
decomposition into these primitives (:mod:`tidal.dsl.library`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tidal.dsl import ir
from tidal.dsl.errors import TidalTypeError
from tidal.dsl.types import F32, F64, I32, DType, TType, broadcast_shapes, promote

# Expression precedence used by codegen to parenthesise inlined expressions.
PREC_ATOM = 100
PREC_CALL = 90
PREC_POW = 85
PREC_UNARY = 80
PREC_MUL = 70
PREC_ADD = 60
PREC_AND = 54  # `&`: binds tighter than comparisons in Python
PREC_OR = 52  # `|`
PREC_CMP = 50
PREC_NOT = 40


@dataclass(frozen=True)
class Interval:
    """Test domain of a float input: values drawn from [lo, hi], with ``shape``."""

    lo: float
    hi: float
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Choice:
    """Test domain of an integer input: one of ``values``."""

    values: tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """One test configuration of a primitive: input domains and static attributes."""

    inputs: tuple
    attrs: tuple = ()


@dataclass(eq=False)
class Primitive:
    """A primitive operation: one declaration holding every fact the passes ask about it.
    Compared and hashed by identity.

    Attributes:
        name: short name, used in printed IR and generated names.
        infer: ``(arg_types, attrs, default_fp) -> tuple of output types``.
        impl: NumPy implementation ``(*args, attrs=...) -> value or tuple``.
        codegen: ``(arg_srcs, attrs, arg_types) -> (source, precedence)`` for one output.
        zero: structural zero policy: ``"any"`` (any Zero argument gives Zero, e.g. mul),
            ``"all"`` (all Zero gives Zero, e.g. add), ``"first"`` (Zero first argument gives
            Zero, e.g. div), or None.
        float_args: positions of the arguments that derivatives flow through (none: every
            derivative is zero, unless the rule tables hold a memory rule).
        derivative: for a smooth elementwise function of one argument, ``(x, y) -> dy/dx``
            written with primitives; its JVP, VJP and Taylor rules are made from it
            (:mod:`tidal.autodiff.rules`). Other differentiable primitives have rules there.
        cases: test domains; the rule tests iterate these.
        commutative: whether the two arguments may be swapped (for CSE).
        reads_memory: its result depends on memory, so it is never merged with an identical
            statement across a write, nor moved past one when code is generated.
        writes_memory: it writes memory (a side effect): never folded, merged or removed.
        cse: False for operations whose result may differ between two identical statements.
        costly: recomputing it costs clearly more than reading a kept value back (reverse mode
            keeps such values on its tape).
        f64_on_vulkan: Taichi can compile it for f64 operands on Vulkan (SPIR-V's math
            functions are 32-bit).
        lane: its form on SIMD lane vectors (:mod:`tidal.dsl.lanes`): ``"broadcast"`` (its
            Taichi source is elementwise on vectors and scalars broadcast), ``"spread"``
            (elementwise on vectors of equal size), ``"per_lane"`` (applied lane by lane),
            ``"neg"``, or None (no lane form).
        lane_arrays: its Taichi source is elementwise on lane matrices too.
        lane_forms: ``(dtype name, function)`` pairs: a math function of
            :mod:`tidal.dsl.mathlib` that is elementwise on vectors of that dtype, used on SIMD
            lane vectors instead of the per-lane form.
        vector_mode_safe: Taichi compiles it correctly on vectors in vector mode
            (``real_matrix_scalarize=False``; measured with Taichi 1.7.4).
        inline_source: code generation may inline its source into the expression that uses it.
    """

    name: str
    infer: Callable[..., tuple[TType, ...]]
    impl: Callable[..., Any] | None
    codegen: Callable[..., tuple[str, int]] | None
    zero: str | None = None
    float_args: tuple[int, ...] | str = ()
    derivative: Callable[..., Any] | None = None
    cases: tuple[Case, ...] = ()
    commutative: bool = False
    reads_memory: bool = False
    writes_memory: bool = False
    cse: bool = True
    costly: bool = False
    f64_on_vulkan: bool = True
    lane: str | None = None
    lane_arrays: bool = False
    lane_forms: tuple[tuple[str, str], ...] = ()
    vector_mode_safe: bool = False
    inline_source: bool = True
    simplify: Callable[..., Any] | None = None
    attrs_doc: str = ""

    @property
    def effect(self) -> bool:
        """Whether it has a side effect (a memory write)."""
        return self.writes_memory

    @property
    def touches_memory(self) -> bool:
        """Whether it reads or writes memory (its rules then run in a kernel's memory mode
        even where no derivative flows through its arguments)."""
        return self.reads_memory or self.writes_memory

    def __call__(self, *args, **attrs):
        for a in args:
            hook = getattr(a, "__tidal_apply__", None)
            if hook is not None:
                return hook(self, args, attrs)
        from tidal.dsl import emitter

        return emitter.current().apply(self, args, tuple(attrs.values()))

    def diff_args(self, n_args: int) -> tuple[int, ...]:
        """Positions of the arguments that derivatives flow through."""
        if self.float_args == "all":
            return tuple(range(n_args))
        if self.float_args == "last":
            return (n_args - 1,) if n_args else ()
        return tuple(i for i in self.float_args if i < n_args)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    __hash__ = object.__hash__


REGISTRY: dict[str, Primitive] = {}


def primitive(name: str, **kw) -> Primitive:
    p = Primitive(name=name, **kw)
    REGISTRY[name] = p
    return p


# ----------------------------------------------------------------------------------------------
# type inference helpers


def _err(msg: str, hint: str | None = None):
    raise TidalTypeError(msg, hint=hint)


def _elementwise(name: str, types, float_result: bool = False, default_fp: DType = F64):
    shape = types[0].shape
    dtype = types[0].dtype
    for t in types[1:]:
        s = broadcast_shapes(shape, t.shape)
        if s is None:
            _err(f"{name}: shapes {shape} and {t.shape} do not match",
                 "elementwise operations need equal shapes or a scalar operand")
        shape = s
        dtype = promote(dtype, t.dtype)
    if float_result and not dtype.is_float:
        dtype = default_fp
    return TType(dtype, shape)


def infer_binary(name):
    def f(types, attrs, default_fp):
        return (_elementwise(name, types, default_fp=default_fp),)
    return f


def infer_float_elementwise(name):
    def f(types, attrs, default_fp):
        return (_elementwise(name, types, float_result=True, default_fp=default_fp),)
    return f


def infer_compare(name):
    def f(types, attrs, default_fp):
        return (_elementwise(name, types).with_dtype(I32),)
    return f


def infer_same(types, attrs, default_fp):
    return (types[0],)


# ----------------------------------------------------------------------------------------------
# codegen helpers


def _wrap(src_prec, prec, right=False):
    src, p = src_prec
    if p < prec or (right and p == prec):
        return f"({src})"
    return src


def cg_binop(op, prec):
    def f(args, attrs, types):
        return f"{_wrap(args[0], prec)} {op} {_wrap(args[1], prec, right=True)}", prec
    return f


def cg_call(fn):
    def f(args, attrs, types):
        return f"{fn}({', '.join(a for a, _ in args)})", PREC_CALL
    return f


# ----------------------------------------------------------------------------------------------
# numpy helpers


def _np_unary(fn):
    def f(x, attrs=()):
        with np.errstate(all="ignore"):
            return fn(x)
    return f


def _np_binary(fn):
    def f(a, b, attrs=()):
        with np.errstate(all="ignore"):
            return fn(a, b)
    return f


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _erf(x):
    from scipy.special import erf

    return erf(x)


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


# ----------------------------------------------------------------------------------------------
# elementwise arithmetic

_SCALAR = Interval(-2.0, 2.0)
_POS = Interval(0.2, 3.0)
_V3 = Interval(-1.5, 1.5, (3,))
_M2 = Interval(-1.5, 1.5, (2, 2))

add = primitive(
    "add", infer=infer_binary("add"), impl=_np_binary(np.add), codegen=cg_binop("+", PREC_ADD),
    zero="all", float_args=(0, 1), commutative=True,
    lane="broadcast", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((_SCALAR, _SCALAR)), Case((_SCALAR, _V3)), Case((_M2, _M2))),
)
sub = primitive(
    "sub", infer=infer_binary("sub"), impl=_np_binary(np.subtract),
    codegen=cg_binop("-", PREC_ADD), zero="all", float_args=(0, 1),
    lane="broadcast", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((_SCALAR, _SCALAR)), Case((_V3, _SCALAR))),
)
mul = primitive(
    "mul", infer=infer_binary("mul"), impl=_np_binary(np.multiply),
    codegen=cg_binop("*", PREC_MUL), zero="any", float_args=(0, 1), commutative=True,
    lane="broadcast", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((_SCALAR, _SCALAR)), Case((_SCALAR, _V3)), Case((_M2, _M2))),
)
div = primitive(
    "div", infer=infer_float_elementwise("div"), impl=_np_binary(np.true_divide),
    codegen=cg_binop("/", PREC_MUL), zero="first", float_args=(0, 1), costly=True,
    lane="broadcast", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((_SCALAR, _POS)), Case((_V3, _POS)), Case((_SCALAR, Interval(0.2, 2.0, (3,))))),
)
def _neg_cg(args, attrs, types):
    # a vector or matrix times -1: Taichi's vector mode aborts on the unary minus of a vector
    # (Taichi 1.7.4, "Not supported"), not on a product by a scalar (same value, -0.0 too)
    if types and not types[0].is_scalar:
        return f"{_wrap(args[0], PREC_MUL)} * -1", PREC_MUL
    return f"-{_wrap(args[0], PREC_UNARY)}", PREC_UNARY


neg = primitive(
    "neg", infer=infer_same, impl=_np_unary(np.negative), codegen=_neg_cg,
    zero="any", float_args=(0,), lane="neg", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((_SCALAR,)), Case((_V3,))),
)
pow_ = primitive(
    "pow", infer=infer_float_elementwise("pow"), impl=_np_binary(np.power),
    codegen=cg_binop("**", PREC_POW), float_args=(0, 1), costly=True, f64_on_vulkan=False,
    lane="per_lane", vector_mode_safe=True,
    cases=(Case((_POS, Interval(-1.5, 2.5))),),
)


def _ipow_impl(x, attrs=()):
    (n,) = attrs
    with np.errstate(all="ignore"):
        return np.power(x, float(n)) if np.issubdtype(np.asarray(x).dtype, np.floating) else \
            np.power(x, n)


def _ipow_cg(args, attrs, types):
    (n,) = attrs
    if n < 0:
        return f"1.0 / {_wrap(args[0], PREC_POW, True)} ** {-n}", PREC_MUL
    return f"{_wrap(args[0], PREC_POW, True)} ** {n}", PREC_POW


def _ipow_infer(types, attrs, default_fp):
    (n,) = attrs
    t = types[0]
    if n < 0 and not t.is_float:
        t = t.with_dtype(default_fp)
    return (t,)


ipow = primitive(
    "ipow", infer=_ipow_infer, impl=_ipow_impl, codegen=_ipow_cg, zero="any", float_args=(0,),
    lane="per_lane", vector_mode_safe=True,
    attrs_doc="(n,): the integer exponent",
    cases=(Case((_SCALAR,), (2,)), Case((_SCALAR,), (3,)), Case((_POS,), (-2,)),
           Case((_SCALAR,), (5,)), Case((_V3,), (2,))),
)
mod = primitive(
    "mod", infer=infer_binary("mod"), impl=_np_binary(np.mod), codegen=cg_binop("%", PREC_MUL),
    float_args=(0, 1), lane="per_lane",
    cases=(Case((Interval(0.1, 0.9), Interval(1.1, 2.0))),),
)
floordiv = primitive(
    "floordiv", infer=infer_binary("floordiv"), impl=_np_binary(np.floor_divide),
    codegen=cg_binop("//", PREC_MUL), float_args=(), lane="per_lane",
    cases=(Case((Interval(0.1, 0.9), _POS)),),
)


def _elementwise_call_cg(fn: str):
    """Codegen for a scalar-only helper function, applied per element to vectors/matrices."""
    def f(args, attrs, types):
        t, src = types[0], args[0][0]
        if t.is_scalar:
            return f"{fn}({src})", PREC_CALL
        idx = [(i,) for i in range(t.shape[0])] if t.is_vector else \
            [(i, j) for i in range(t.shape[0]) for j in range(t.shape[1])]
        elems = [f"{fn}({_wrap(args[0], PREC_CALL)}[{', '.join(map(str, k))}])" for k in idx]
        return _make_cg([(e, PREC_CALL) for e in elems], (t.shape,), [t.scalar] * len(elems))
    return f


# tanh in tidal's arithmetic (mathlib._tidal_tanh_f32/_f64): the scalar libm call costs 13-15 ns on
# the CPU and does not vectorise; the arithmetic forms cost ~3.5 ns (f64) on 8-lane vectors. They
# are elementwise arithmetic and selects only, so a vector or matrix goes through them whole: in
# Taichi's vector mode (td.kernel(simd_vectors=True)) that is one SIMD computation for all its
# elements (a dense layer's GELU on 16 float32 channels: see tests/test_simd_vectors.py)
_TANH_FORMS = (("f32", "_tidal_tanh_f32"), ("f64", "_tidal_tanh_f64"))
_TANH_FORM_CG = {dt: cg_call(fn) for dt, fn in _TANH_FORMS}
_TANH_CG = cg_call("ti.tanh")


def _tanh_cg(args, attrs, types):
    """tanh through tidal's arithmetic form of its dtype (on the whole value), else
    ``ti.tanh``."""
    return _TANH_FORM_CG.get(types[0].dtype.name, _TANH_CG)(args, attrs, types)


def unary_math(name: str, np_fn, ti_fn: str, derivative, domain: Interval = _SCALAR, *,
               zero="any", f64_on_vulkan=False, codegen=None, **facts) -> Primitive:
    """A smooth float function applied elementwise, e.g. ``sin``, with its derivative
    ``(x, y) -> dy/dx``; its source is ``ti_fn(x)`` unless ``codegen`` says otherwise."""
    return primitive(
        name, infer=infer_float_elementwise(name), impl=_np_unary(np_fn),
        codegen=codegen or cg_call(ti_fn),
        zero=zero, float_args=(0,), derivative=derivative, costly=True,
        f64_on_vulkan=f64_on_vulkan, lane="per_lane",
        cases=(Case((domain,)), Case((Interval(domain.lo, domain.hi, (3,)),))), **facts,
    )


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

sin = unary_math("sin", np.sin, "ti.sin", lambda x, y: cos(x),
                 lane_forms=(("f64", "_tidal_sin_f64"),))
cos = unary_math("cos", np.cos, "ti.cos", lambda x, y: -sin(x), zero=None,
                 lane_forms=(("f64", "_tidal_cos_f64"),))
tan = unary_math("tan", np.tan, "ti.tan", lambda x, y: 1.0 + y * y, Interval(-1.2, 1.2))
asin = unary_math("asin", np.arcsin, "ti.asin", lambda x, y: rsqrt(1.0 - x * x),
                  Interval(-0.9, 0.9))
acos = unary_math("acos", np.arccos, "ti.acos", lambda x, y: -rsqrt(1.0 - x * x),
                  Interval(-0.9, 0.9), zero=None)
exp = unary_math("exp", np.exp, "ti.exp", lambda x, y: y, zero=None)
log = unary_math("log", np.log, "ti.log", lambda x, y: 1.0 / x, _POS, zero=None)
sqrt = unary_math("sqrt", np.sqrt, "ti.sqrt", lambda x, y: 0.5 / y, _POS, f64_on_vulkan=True)
rsqrt = unary_math("rsqrt", lambda x: 1.0 / np.sqrt(x), "ti.rsqrt",
                   lambda x, y: -0.5 * (y * y * y), _POS, zero=None)
tanh = unary_math("tanh", np.tanh, "ti.tanh", lambda x, y: 1.0 - y * y, codegen=_tanh_cg,
                  lane_forms=_TANH_FORMS, vector_mode_safe=True)
erf = unary_math("erf", _erf, "_tidal_erf", lambda x, y: _TWO_OVER_SQRT_PI * exp(-(x * x)),
                 codegen=_elementwise_call_cg("_tidal_erf"))


sigmoid = primitive(
    "sigmoid", infer=infer_float_elementwise("sigmoid"), impl=_np_unary(_sigmoid),
    codegen=lambda a, at, t: (f"0.5 * ti.tanh(0.5 * {_wrap(a[0], PREC_MUL)}) + 0.5", PREC_ADD),
    float_args=(0,), derivative=lambda x, y: y * (1.0 - y), costly=True, f64_on_vulkan=False,
    lane="per_lane",
    cases=(Case((Interval(-3, 3),)), Case((Interval(-3, 3, (3,)),))),
)
softplus = primitive(
    "softplus", infer=infer_float_elementwise("softplus"), impl=_np_unary(_softplus),
    codegen=lambda a, at, t: (f"_tidal_softplus({a[0][0]})", PREC_CALL),
    float_args=(0,), derivative=lambda x, y: sigmoid(x), costly=True, f64_on_vulkan=False,
    lane="per_lane",
    cases=(Case((Interval(-3, 3),)), Case((Interval(-3, 3, (3,)),))),
)
abs_ = primitive(
    "abs", infer=infer_same, impl=_np_unary(np.abs), codegen=cg_call("ti.abs"), zero="any",
    float_args=(0,), derivative=lambda x, y: sign(x), lane="per_lane",
    cases=(Case((Interval(0.2, 2.0),)), Case((Interval(-2.0, -0.2),))),
)
sign = primitive(
    "sign", infer=infer_same, impl=_np_unary(np.sign), codegen=cg_call("ti.math.sign"),
    lane="per_lane",
    cases=(Case((Interval(0.2, 2.0),)), Case((Interval(-2.0, -0.2),))),
)
floor = primitive(
    "floor", infer=infer_same, impl=_np_unary(np.floor), codegen=cg_call("ti.floor"),
    lane="per_lane",
    cases=(Case((Interval(0.1, 0.9),)),),
)
ceil = primitive(
    "ceil", infer=infer_same, impl=_np_unary(np.ceil), codegen=cg_call("ti.ceil"), lane="per_lane",
    cases=(Case((Interval(0.1, 0.9),)),),
)
round_ = primitive(
    "round", infer=infer_same, impl=_np_unary(_round_half_away), codegen=cg_call("ti.round"),
    lane="per_lane",
    cases=(Case((Interval(0.1, 0.4),)),),
)
atan2 = primitive(
    "atan2", infer=infer_float_elementwise("atan2"), impl=_np_binary(np.arctan2),
    codegen=cg_call("ti.atan2"), zero="first", float_args=(0, 1), costly=True,
    f64_on_vulkan=False, lane="per_lane",
    cases=(Case((_SCALAR, _POS)), Case((_POS, _SCALAR))),
)
minimum = primitive(
    "min", infer=infer_binary("min"), impl=_np_binary(np.minimum), codegen=cg_call("ti.min"),
    float_args=(0, 1), commutative=True, lane="spread", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((Interval(-2, -0.5), Interval(0.5, 2))),
           Case((Interval(0.5, 2), Interval(-2, -0.5)))),
)
maximum = primitive(
    "max", infer=infer_binary("max"), impl=_np_binary(np.maximum), codegen=cg_call("ti.max"),
    float_args=(0, 1), commutative=True, lane="spread", lane_arrays=True, vector_mode_safe=True,
    cases=(Case((Interval(-2, -0.5), Interval(0.5, 2))),
           Case((Interval(0.5, 2), Interval(-2, -0.5)))),
)


def _cast_impl(x, attrs=()):
    (dt,) = attrs
    if not dt.is_float:
        return np.trunc(x).astype(dt.numpy)
    return np.asarray(x).astype(dt.numpy)


def _cast_infer(types, attrs, default_fp):
    (dt,) = attrs
    return (types[0].with_dtype(dt),)


cast = primitive(
    "cast", infer=_cast_infer, impl=_cast_impl,
    codegen=lambda a, at, t: (f"ti.cast({a[0][0]}, ti.{at[0].name})", PREC_CALL),
    zero="any", float_args=(0,), lane="per_lane", attrs_doc="(dtype,)",
    cases=(Case((_SCALAR,), (F64,)), Case((Interval(0.1, 0.9),), (I32,))),
)

# comparisons and logic: integer results, zero derivative
def comparison(name: str, op: str, fn) -> Primitive:
    """An elementwise comparison giving 0 or 1 (i32)."""
    return primitive(name, infer=infer_compare(name),
                     impl=_np_binary(lambda a, b: fn(a, b).astype(np.int32)),
                     codegen=cg_binop(op, PREC_CMP), lane="spread", vector_mode_safe=True,
                     cases=(Case((_SCALAR, _SCALAR)),))


lt = comparison("lt", "<", np.less)
le = comparison("le", "<=", np.less_equal)
gt = comparison("gt", ">", np.greater)
ge = comparison("ge", ">=", np.greater_equal)
eq = comparison("eq", "==", np.equal)
ne = comparison("ne", "!=", np.not_equal)
logical_and = primitive(
    "and", infer=infer_compare("and"),
    impl=_np_binary(lambda a, b: ((a != 0) & (b != 0)).astype(np.int32)),
    codegen=cg_binop("&", PREC_AND), commutative=True, lane="per_lane",
    cases=(Case((Choice((0, 1)), Choice((0, 1)))),),
)
logical_or = primitive(
    "or", infer=infer_compare("or"),
    impl=_np_binary(lambda a, b: ((a != 0) | (b != 0)).astype(np.int32)),
    codegen=cg_binop("|", PREC_OR), commutative=True, lane="per_lane",
    cases=(Case((Choice((0, 1)), Choice((0, 1)))),),
)
logical_not = primitive(
    "not", infer=infer_compare("not"), impl=_np_unary(lambda a: (a == 0).astype(np.int32)),
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CMP + 1)} == 0", PREC_CMP), lane="per_lane",
    cases=(Case((Choice((0, 1)),)),),
)


def _select_infer(types, attrs, default_fp):
    c, a, b = types
    if c.is_float:
        _err("select: the condition must be an integer (a comparison)")
    out = _elementwise("select", (a, b))
    if broadcast_shapes(c.shape, out.shape) is None:
        _err(f"select: condition shape {c.shape} does not match {out.shape}")
    return (out.with_shape(broadcast_shapes(c.shape, out.shape)),)


select = primitive(
    "select", infer=_select_infer, impl=lambda c, a, b, attrs=(): np.where(c != 0, a, b),
    codegen=cg_call("ti.select"), float_args=(1, 2), lane="spread", vector_mode_safe=True,
    cases=(Case((Choice((0, 1)), _SCALAR, _SCALAR)),),
)

# ----------------------------------------------------------------------------------------------
# vectors and matrices


def _make_infer(types, attrs, default_fp):
    (shape,) = attrs
    dtype = types[0].dtype
    for t in types:
        if not t.is_scalar:
            _err("vector and matrix elements must be scalars")
        dtype = promote(dtype, t.dtype)
    if len(types) != int(np.prod(shape)):
        _err(f"expected {int(np.prod(shape))} elements for shape {shape}, got {len(types)}")
    return (TType(dtype, shape),)


def _make_impl(*args, attrs=()):
    (shape,) = attrs
    return np.array(args).reshape(shape)


def _make_cg(args, attrs, types):
    (shape,) = attrs
    dtype = _make_infer(types, attrs, F64)[0].dtype
    elems = [a for a, _ in args]
    if len(shape) == 1:
        body = ", ".join(elems)
        return f"ti.Vector([{body}], dt=ti.{dtype.name})", PREC_CALL
    rows = [", ".join(elems[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])]
    body = ", ".join(f"[{r}]" for r in rows)
    return f"ti.Matrix([{body}], dt=ti.{dtype.name})", PREC_CALL


make = primitive(
    "make", infer=_make_infer, impl=_make_impl, codegen=_make_cg, zero="all",
    float_args="all", vector_mode_safe=True, attrs_doc="(shape,)",
    cases=(Case((_SCALAR, _SCALAR, _SCALAR), ((3,),)),
           Case((_SCALAR, _SCALAR, _SCALAR, _SCALAR), ((2, 2),))),
)


def _check_index_types(types, n):
    for t in types:
        if t.is_float or not t.is_scalar:
            _err("indices must be integer scalars")
    if len(types) != n:
        _err(f"expected {n} indices, got {len(types)}")


def _getitem_infer(types, attrs, default_fp):
    v = types[0]
    if v.is_scalar:
        _err("cannot index a scalar")
    _check_index_types(types[1:], len(v.shape))
    return (v.scalar,)


def _getitem_impl(v, *idx, attrs=()):
    return np.asarray(v)[tuple(int(i) for i in idx)]


def _getitem_cg(args, attrs, types):
    return f"{_wrap(args[0], PREC_CALL)}[{', '.join(a for a, _ in args[1:])}]", PREC_CALL


getitem = primitive(
    "getitem", infer=_getitem_infer, impl=_getitem_impl, codegen=_getitem_cg, zero="first",
    float_args=(0,), vector_mode_safe=True,
    cases=(Case((_V3, Choice((0, 2)))), Case((_M2, Choice((1,)), Choice((0,))))),
)


def _setitem_infer(types, attrs, default_fp):
    v, s = types[0], types[1]
    if v.is_scalar or not s.is_scalar:
        _err("element assignment needs a vector or matrix and a scalar value")
    _check_index_types(types[2:], len(v.shape))
    return (v,)


def _setitem_impl(v, s, *idx, attrs=()):
    out = np.array(v, copy=True)
    out[tuple(int(i) for i in idx)] = s
    return out


setitem = primitive(
    "setitem", infer=_setitem_infer, impl=_setitem_impl, codegen=None, zero="all",
    float_args=(0, 1), vector_mode_safe=True, cases=(Case((_V3, _SCALAR, Choice((1,)))),
                              Case((_M2, _SCALAR, Choice((0,)), Choice((1,))))),
)


def _broadcast_infer(types, attrs, default_fp):
    (shape,) = attrs
    if not types[0].is_scalar:
        _err("broadcast expects a scalar")
    return (types[0].with_shape(shape),)


def _broadcast_cg(args, attrs, types):
    (shape,) = attrs
    dt = f"ti.{types[0].dtype.name}"
    if len(shape) == 1:
        return f"ti.Vector([{', '.join([args[0][0]] * shape[0])}], dt={dt})", PREC_CALL
    row = f"[{', '.join([args[0][0]] * shape[1])}]"
    return f"ti.Matrix([{', '.join([row] * shape[0])}], dt={dt})", PREC_CALL


broadcast = primitive(
    "broadcast", infer=_broadcast_infer,
    impl=lambda x, attrs=(): np.full(attrs[0], x), codegen=_broadcast_cg, zero="any",
    float_args=(0,), vector_mode_safe=True, cases=(Case((_SCALAR,), ((3,),)),),
)


def _matmul_infer(types, attrs, default_fp):
    a, b = types
    dtype = promote(a.dtype, b.dtype)
    if a.is_matrix and b.is_matrix and a.shape[1] == b.shape[0]:
        return (TType(dtype, (a.shape[0], b.shape[1])),)
    if a.is_matrix and b.is_vector and a.shape[1] == b.shape[0]:
        return (TType(dtype, (a.shape[0],)),)
    _err(f"matmul: cannot multiply shapes {a.shape} and {b.shape}",
         "@ takes matrix @ matrix or matrix @ vector with matching inner sizes")


matmul = primitive(
    "matmul", infer=_matmul_infer, impl=lambda a, b, attrs=(): np.asarray(a) @ np.asarray(b),
    codegen=cg_binop("@", PREC_MUL), zero="any", float_args=(0, 1), vector_mode_safe=True,
    cases=(Case((_M2, _M2)), Case((_M2, Interval(-1.5, 1.5, (2,))))),
)


def _dot_infer(types, attrs, default_fp):
    a, b = types
    if not (a.is_vector and a.shape == b.shape):
        _err(f"dot: needs two vectors of equal size, got {a.shape} and {b.shape}")
    return (TType(promote(a.dtype, b.dtype), ()),)


dot = primitive(
    "dot", infer=_dot_infer, impl=lambda a, b, attrs=(): np.dot(a, b),
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CALL)}.dot({a[1][0]})", PREC_CALL),
    zero="any", float_args=(0, 1), commutative=True, vector_mode_safe=True,
    cases=(Case((_V3, _V3)),),
)


def _cross_infer(types, attrs, default_fp):
    a, b = types
    if not (a.is_vector and a.shape == b.shape and a.shape[0] in (2, 3)):
        _err("cross: needs two vectors of size 2 or 3")
    dtype = promote(a.dtype, b.dtype)
    return (TType(dtype, (3,)) if a.shape[0] == 3 else TType(dtype, ()),)


cross = primitive(
    "cross", infer=_cross_infer, impl=lambda a, b, attrs=(): np.cross(a, b),
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CALL)}.cross({a[1][0]})", PREC_CALL),
    zero="any", float_args=(0, 1), vector_mode_safe=True,
    cases=(Case((_V3, _V3)), Case((Interval(-1, 1, (2,)), Interval(-1, 1, (2,))))),
)


def _outer_infer(types, attrs, default_fp):
    a, b = types
    if not (a.is_vector and b.is_vector):
        _err("outer_product: needs two vectors")
    return (TType(promote(a.dtype, b.dtype), (a.shape[0], b.shape[0])),)


outer = primitive(
    "outer", infer=_outer_infer, impl=lambda a, b, attrs=(): np.outer(a, b),
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CALL)}.outer_product({a[1][0]})", PREC_CALL),
    zero="any", float_args=(0, 1), vector_mode_safe=True,
    cases=(Case((_V3, Interval(-1, 1, (2,)))),),
)


def _transpose_infer(types, attrs, default_fp):
    (a,) = types
    if not a.is_matrix:
        _err("transpose: needs a matrix")
    return (a.with_shape((a.shape[1], a.shape[0])),)


transpose = primitive(
    "transpose", infer=_transpose_infer, impl=lambda a, attrs=(): np.asarray(a).T,
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CALL)}.transpose()", PREC_CALL),
    zero="any", float_args=(0,), vector_mode_safe=True,
    cases=(Case((Interval(-1, 1, (2, 3)),)),),
)


# 3x3 decompositions: Taichi's own functions (its SVD is a fixed number of Jacobi sweeps in C++,
# the symmetric eigensolver Cardano's method on the upper triangle) refined by one Newton step to
# full precision (tidal.dsl.mathlib); their derivative rules
# (tidal.autodiff.decomposition_rules) are the closed forms of the decompositions, not
# derivatives of the iterations.


def _decomposition(name: str, outputs, domain: Interval, doc: str):
    def infer(types, attrs, default_fp):
        (a,) = types
        if not (a.is_matrix and a.shape == (3, 3) and a.is_float):
            _err(f"{name}: needs a 3x3 float matrix, got {a}")
        return outputs(a)

    def codegen(args, attrs, types):
        return f"_tidal_{name}({args[0][0]}, ti.{types[0].dtype.name})", PREC_CALL

    # no NumPy form: several outputs are never folded, and NumPy's sign conventions are not
    # Taichi's; Vulkan's SPIR-V math (sqrt, atan2, cos) is 32-bit
    return primitive(name, infer=infer, impl=None, codegen=codegen, float_args=(0,),
                     costly=True, f64_on_vulkan=False, inline_source=False,
                     cases=(Case((domain,)),), attrs_doc=doc)


polar3 = _decomposition(
    "polar3", lambda a: (a, a), Interval(-1.5, 1.5, (3, 3)),
    "outputs (R, S): A = R S, R a rotation, S symmetric (ti.polar_decompose)")
svd3 = _decomposition(
    "svd3", lambda a: (a, a, a), Interval(-1.5, 1.5, (3, 3)),
    "outputs (U, Sigma, V): A = U Sigma V^T, U and V rotations, Sigma diagonal (ti.svd)")
sym_eig3 = _decomposition(
    "sym_eig3", lambda a: (a.with_shape((3,)), a), Interval(-1.5, 1.5, (3, 3)),
    "outputs (eigenvalues, eigenvectors as columns) of the symmetric matrix with A's upper "
    "triangle (ti.sym_eig)")


def _sum_infer(types, attrs, default_fp):
    (a,) = types
    if a.is_scalar:
        _err("sum: needs a vector or matrix")
    return (a.scalar,)


sum_ = primitive(
    "sum", infer=_sum_infer, impl=lambda a, attrs=(): np.sum(a),
    codegen=lambda a, at, t: (f"{_wrap(a[0], PREC_CALL)}.sum()", PREC_CALL),
    zero="any", float_args=(0,), vector_mode_safe=True,
    cases=(Case((_V3,)), Case((_M2,))),
)

# ----------------------------------------------------------------------------------------------
# global memory


class ArrayArg:
    """An ndarray parameter of a kernel: referenced by its parameter name, not bound as a global.

    Attributes:
        name: the kernel parameter's name.
        ndim: number of array dimensions (element dimensions excluded).
        elem: element type.
        aligned: the array is one tidal allocated with Taichi (aligned to its element size);
            user arrays may be NumPy memory aligned to 16 bytes only.
    """

    is_kernel_arg = True

    def __init__(self, name: str, ndim: int, elem: TType, aligned: bool = False):
        self.name = name
        self.ndim = ndim
        self.elem = elem
        self.aligned = aligned

    @property
    def shape(self):
        return (None,) * self.ndim

    def __repr__(self):
        return f"ndarray {self.name}"


class GlobalRef:
    """A Python object (a Taichi field, an ndarray argument, a tidal function) referenced from
    generated code under a fixed name."""

    def __init__(self, obj, name: str):
        self.obj = obj
        self.name = name

    def __eq__(self, other):
        return isinstance(other, GlobalRef) and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)

    def __repr__(self):
        return self.name


def _load_infer(types, attrs, default_fp):
    ref, elem_type = attrs
    _check_index_types(types, len(ref.obj.shape))
    return (elem_type,)


def _load_cg(args, attrs, types):
    ref, elem = attrs
    src = f"{ref.name}[{', '.join(a for a, _ in args) or 'None'}]"
    if not needs_element_reads(ref, elem):
        return src, PREC_CALL
    return element_wise_source([src], elem), PREC_CALL


def needs_element_reads(ref: GlobalRef, elem: TType) -> bool:
    """Whether a vector or matrix element of ``ref`` is read one number at a time.

    In Taichi's vector mode (Taichi 1.7.4, CPU) a whole-element load of an ndarray vector is an
    SIMD load that assumes the element's size as alignment: a segfault where the element's
    size is not a power of two (3-input PINN problems) or exceeds the 16 bytes NumPy aligns its
    memory to (4 f64 inputs in a NumPy array). Element reads of vectors the same kernel also
    writes as a whole read stale values, so tidal's own aligned partial-sum arrays are read
    whole, and so are the arguments of a kernel generated inside :func:`taichi_arrays_only`
    (its launches refuse anything but Taichi ndarrays, which whole loads read correctly).
    Everything else is read element by element.
    """
    if not isinstance(ref.obj, ArrayArg) or elem.is_scalar:
        return False
    n = elem.size
    nbytes = n * (8 if elem.dtype.name == "f64" else 4)
    aligned = ref.obj.aligned or _TAICHI_ARRAYS_ONLY[0]
    return n & (n - 1) != 0 or (nbytes > 16 and not aligned)


_TAICHI_ARRAYS_ONLY = [False]


@contextlib.contextmanager
def taichi_arrays_only():
    """Generate code for a kernel whose ndarray arguments are all Taichi ndarrays (its launches
    check that): vector elements of power-of-two size are read whole (see
    :func:`needs_element_reads`). Measured (Taichi 1.7.4, CPU, vector mode): whole loads and
    stores of ``vector(16, f32)`` elements of 300 Taichi ndarrays of random sizes, allocated
    between others, all correct; the same kernel on NumPy memory 16 bytes past a 64-byte
    boundary segfaults."""
    saved = _TAICHI_ARRAYS_ONLY[0]
    _TAICHI_ARRAYS_ONLY[0] = True
    try:
        yield
    finally:
        _TAICHI_ARRAYS_ONLY[0] = saved


def element_wise_source(elements: list[str], elem: TType) -> str:
    """Source of a vector or matrix built from element reads of ``elements`` (one column per
    entry when there are several: a matrix with a row per element of ``elem``)."""
    rows = []
    for c in range(elem.size):
        comp = ", ".join(map(str, divmod(c, elem.shape[1]))) if elem.is_matrix else str(c)
        rows.append([f"{e}[{comp}]" for e in elements])
    dt = f"dt=ti.{elem.dtype.name}"
    if len(elements) == 1:
        if elem.is_vector:
            return f"ti.Vector([{', '.join(r[0] for r in rows)}], {dt})"
        n, m = elem.shape
        body = ", ".join("[" + ", ".join(rows[i * m + j][0] for j in range(m)) + "]"
                         for i in range(n))
        return f"ti.Matrix([{body}], {dt})"
    return "ti.Matrix([" + ", ".join("[" + ", ".join(r) + "]" for r in rows) + f"], {dt})"


load = primitive(
    "load", infer=_load_infer, impl=None, codegen=_load_cg, float_args=(), cse=False,
    attrs_doc="(GlobalRef, element type): read an element of a Taichi field or ndarray",
    # the test builds the field; the input is the element index
    reads_memory=True, vector_mode_safe=True, cases=(Case((Choice((0, 2)),)),),
)


def _store_infer(types, attrs, default_fp):
    ref, elem_type = attrs
    *idx, value = types
    _check_index_types(idx, len(ref.obj.shape))
    if value != elem_type:
        _err(f"cannot store a {value} into {ref.name}, whose elements are {elem_type}")
    return ()


def _memory_cg(op):
    def f(args, attrs, types):
        ref = attrs[0]
        idx = ", ".join(a for a, _ in args[:-1]) or "None"
        return f"{ref.name}[{idx}] {op} {args[-1][0]}", PREC_ATOM
    return f


array_size = primitive(
    "array_size", infer=lambda types, attrs, fp: (TType(I32),), impl=None,
    codegen=lambda a, at, t: (f"{at[0].name}.shape[{at[1]}]", PREC_CALL), cse=True,
    vector_mode_safe=True,
    attrs_doc="(GlobalRef of an ndarray argument, dimension): its size along the dimension",
    cases=(Case(()),),
)

store = primitive(
    "store", infer=_store_infer, impl=None, codegen=_memory_cg("="), float_args="last",
    cse=False, writes_memory=True, vector_mode_safe=True,
    attrs_doc="(GlobalRef, element type): write an element (args: indices, value)",
    cases=(Case((Choice((0, 2)),)),),
)
atomic_add = primitive(
    "atomic_add", infer=_store_infer, impl=None, codegen=_memory_cg("+="), float_args="last",
    cse=False, writes_memory=True, vector_mode_safe=True,
    attrs_doc="(GlobalRef, element type): atomically add to an element (args: indices, value)",
    cases=(Case((Choice((0, 2)),)),),
)

# ----------------------------------------------------------------------------------------------
# Python operators on atoms

ir.OPERATORS.update(
    add=add, sub=sub, mul=mul, div=div, neg=neg, matmul=matmul,
    pow=lambda a, b: _pow_op(a, b),
    getitem=lambda v, idx: getitem(v, *(idx if isinstance(idx, tuple) else (idx,))),
)


def _pow_op(a, b):
    if isinstance(b, int) and not isinstance(b, bool):
        return ipow(a, n=b)
    if isinstance(b, float) and b.is_integer() and abs(b) <= 64:
        return ipow(a, n=int(b))
    return pow_(a, b)


def all_primitives() -> list[Primitive]:
    """Every registered primitive, in definition order."""
    return list(REGISTRY.values())


def is_differentiable(p: Primitive) -> bool:
    return bool(p.float_args)


MATH_CONSTANTS = {"pi": math.pi, "e": math.e}
DTYPES = {"f32": F32, "f64": F64, "i32": I32}
