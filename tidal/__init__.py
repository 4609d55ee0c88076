"""tidal: a differentiable scientific-computing language on Taichi.

Derivatives are produced by transforming the source of tidal functions, so every derivative is
again a tidal function: differentiable again, to any order, callable from kernels, and readable
(``td.source``).
"""

from tidal.autodiff.api import (
    derivative,
    grad,
    hessian,
    jacobian,
    jvp,
    laplacian,
    taylor,
    vjp,
)
from tidal.autodiff.check import check_grad
from tidal.autodiff.custom import custom_jvp, custom_vjp
from tidal.autodiff.linear import LinearMap
from tidal.autodiff.runs import hvp, jvp_run
from tidal.autodiff.tape import Tape, launch_with_adjoint
from tidal.dsl.errors import (
    GradientMismatch,
    SourceLoc,
    TidalArchError,
    TidalArgumentError,
    TidalCompileError,
    TidalError,
    TidalTypeError,
    TidalWarning,
    UnsupportedConstructError,
)
from tidal.dsl.function import TidalFunction, func, source
from tidal.dsl.kernel import kernel
from tidal.dsl.library import (
    cos,
    cosh,
    erf,
    exp,
    log,
    sigmoid,
    sin,
    sinh,
    softplus,
    sqrt,
    tan,
    tanh,
)
from tidal.dsl.pycall import vectorize
from tidal.dsl.runtime import init
from tidal.dsl.types import (
    f32,
    f64,
    i32,
    mat,
    mat2,
    mat3,
    mat4,
    vec,
    vec2,
    vec3,
    vec4,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    # td.fit lives in tidal.physics, which is written in tidal: imported on first use
    if name == "fit":
        from tidal.physics.fit import fit

        return fit
    raise AttributeError(f"module 'tidal' has no attribute {name!r}")


__all__ = [
    "GradientMismatch",
    "LinearMap",
    "SourceLoc",
    "Tape",
    "launch_with_adjoint",
    "TidalArchError",
    "TidalArgumentError",
    "TidalCompileError",
    "TidalError",
    "TidalFunction",
    "TidalTypeError",
    "TidalWarning",
    "UnsupportedConstructError",
    "check_grad",
    "cos",
    "cosh",
    "custom_jvp",
    "custom_vjp",
    "derivative",
    "erf",
    "exp",
    "f32",
    "fit",
    "f64",
    "func",
    "grad",
    "hessian",
    "hvp",
    "i32",
    "init",
    "jacobian",
    "jvp",
    "jvp_run",
    "kernel",
    "laplacian",
    "log",
    "mat",
    "mat2",
    "mat3",
    "mat4",
    "sigmoid",
    "sin",
    "sinh",
    "softplus",
    "source",
    "sqrt",
    "tan",
    "tanh",
    "taylor",
    "vec",
    "vec2",
    "vec3",
    "vec4",
    "vectorize",
    "vjp",
]
