"""tidal: a differentiable scientific-computing language on Taichi.

Derivatives are produced by transforming the source of tidal functions, so every derivative is
again a tidal function: differentiable again, to any order, callable from kernels, and readable
(``td.source``).
"""

from tidal.dsl.errors import (
    GradientMismatch,
    SourceLoc,
    TidalArchError,
    TidalArgumentError,
    TidalCompileError,
    TidalError,
    TidalTypeError,
    UnsupportedConstructError,
)
from tidal.dsl.function import TidalFunction, func, source
from tidal.dsl.library import cosh, erf, sigmoid, sinh, softplus
from tidal.dsl.pycall import vectorize
from tidal.dsl.runtime import init
from tidal.dsl.types import f32, f64, i32, mat, vec

__version__ = "0.1.0"
