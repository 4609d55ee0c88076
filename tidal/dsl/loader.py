"""The single loader: turns generated source into live Taichi objects.

Every piece of generated code (functions, derivatives, call and vectorize kernels) goes through
:func:`load`. It registers the source in ``linecache`` under a pseudo-filename that is never
reused, so Taichi (which re-reads source with ``inspect``) always sees the text that was
compiled, and tracebacks show generated lines. It also records each file's line map so that
errors Taichi raises while compiling generated code can be reported at the user's line
(:func:`user_error_from_taichi`). Kernels whose loops run in SIMD lanes are loaded so that they
are compiled, and only they, in Taichi's vector mode (:func:`load_kernel`).
"""

from __future__ import annotations

import contextlib
import itertools
import linecache
import os
import re

import taichi as ti
from taichi.lang._ndarray import Ndarray

from tidal.dsl import direct, mathlib, runtime
from tidal.dsl.errors import SourceLoc, TidalArgumentError, TidalCompileError

_counter = itertools.count(1)
LINE_MAPS: dict[str, dict[int, SourceLoc]] = {}
SOURCES: dict[str, str] = {}


def load(source: str, name: str, namespace: dict, label: str,
         line_map: dict[int, SourceLoc] | None = None):
    """Execute ``source`` in a fresh module namespace and return its object ``name``.

    Args:
        source: Python source defining ``name``.
        name: the object to return.
        namespace: globals the source refers to (other functions, fields).
        label: a readable tag for the pseudo-filename.
        line_map: generated line -> user source location.
    """
    runtime.refuse_stale_fields(namespace, label)
    filename = f"<tidal:{label}:{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    LINE_MAPS[filename] = dict(line_map or {})
    SOURCES[filename] = source
    ns = {"ti": ti, "__name__": f"tidal_generated_{label}"}
    ns.update(mathlib.NAMESPACE)
    ns.update(namespace)
    exec(compile(source, filename, "exec", dont_inherit=True), ns)  # noqa: S102 - executing generated code
    return ns[name]


def load_kernel(generated, label: str):
    """The launchable kernel of a generated kernel source (``codegen.Generated``): compiled in
    Taichi's vector mode when its loops run in SIMD lanes or it asked for SIMD vectors (then
    refusing, at every launch, arguments that must be Taichi ndarrays and are not), with the
    scratch arrays of its partial sums appended to its arguments."""
    if generated.parts:
        return KernelParts([load_kernel(part, label) for part in generated.parts])
    obj = load(generated.source, generated.func_name, generated.namespace, label,
               generated.line_map)
    if generated.serial is not None:
        obj._primal._tidal_serial_form = SerialForm(generated.serial, label,
                                                    generated.vector_mode,
                                                    generated.source.count("\n"))
    if not generated.vector_mode:
        return obj
    scratch = generated.scratch

    primal = obj._primal

    # not functools.wraps: that would copy the plain kernel's ``_primal``, through which
    # launches.run_compiled would launch it without vector mode and scratch arrays. Past
    # Taichi's per-call Python work once compiled (direct.call), as plain kernels are: an FNO
    # step launches about fifty such kernels
    taichi_arrays, loc = generated.taichi_arrays, generated.loc

    def launch(*args):
        for i in taichi_arrays:
            _check_taichi_array(args[i], label, loc)
        with _vector_mode():
            return direct.call(primal, (*args, *scratch))

    launch.taichi_kernel = primal  # (for tests and diagnostics)
    return launch


def _check_taichi_array(arg, label: str, loc) -> None:
    """Refuse anything but a Taichi ndarray where a kernel reads vector elements whole (``loc``:
    the kernel's definition)."""
    if not isinstance(arg, Ndarray):
        raise TidalArgumentError(
            f"kernel {label} was compiled with simd_vectors=True, which reads and writes its "
            f"vector ndarray arguments as whole SIMD vectors: they must be Taichi ndarrays, got "
            f"{type(arg).__module__}.{type(arg).__name__} (its memory may not be aligned for "
            f"that)", loc,
            hint="copy the data into a ti.ndarray (arr = ti.ndarray(dtype, shape); "
                 "arr.from_numpy(a)), or drop simd_vectors=True")


class SerialForm:
    """The serial form of a loaded kernel (``codegen.Generated.serial``), printed and loaded at
    its first use, for :mod:`tidal.dsl.direct`: :meth:`kernel` is its Taichi ``Kernel`` and
    :meth:`compiling` the settings its first compile needs (those of the kernel itself)."""

    def __init__(self, print_serial, label: str, vector_mode: bool, lines: int):
        self._print, self._label, self._vector_mode = print_serial, label, vector_mode
        self._kernel = None
        self.lines = lines  # the kernel's own source's, a measure of its compile time

    def kernel(self):
        if self._kernel is None:
            g = self._print()
            self._kernel = load(g.source, g.func_name, g.namespace, f"{self._label}_serial",
                                g.line_map)._primal
        return self._kernel

    def compiling(self):
        return _vector_mode() if self._vector_mode else contextlib.nullcontext()


class KernelParts:
    """Kernels launched in order with the same arguments in place of one (tidal.dsl.split);
    :func:`tidal.dsl.launches.run_compiled` launches each part as it would a kernel."""

    def __init__(self, parts: list):
        self.parts = parts


@contextlib.contextmanager
def _vector_mode():
    """Taichi's ``real_matrix_scalarize`` and ``advanced_optimization`` off around a launch (a
    kernel is compiled at its first launch, with the settings then in force; Taichi 1.7.4 reads
    the live config). Lane kernels are large (a PINN's value-and-adjoint kernel is thousands of
    statements), and the advanced passes (whole-kernel CSE, algebraic simplification, loop
    invariant motion) each replace statements one at a time with a walk over the whole kernel:
    they took a third of the Kovasznay PINN's compile (9.6 -> 6.9 s CPU) while LLVM's own
    optimisation, which still runs, makes the compiled code as fast (the same 42 ms a gradient).
    """
    cfg = ti.lang.impl.current_cfg()
    saved = cfg.real_matrix_scalarize, cfg.advanced_optimization
    cfg.real_matrix_scalarize = False
    cfg.advanced_optimization = False
    try:
        yield
    finally:
        cfg.real_matrix_scalarize, cfg.advanced_optimization = saved


_FILE_LINE = re.compile(r'File "(<tidal:[^"]+>)", line (\d+)')


def _brief_positions_for_generated_code() -> None:
    """Taichi's AST transformer formats, for every statement and expression it compiles, a
    caret-underlined excerpt of the source line (text wrapping included) to attach to the IR it
    builds; for generated code that is about a tenth of a kernel's cold compile time here. For
    sources loaded by :func:`load` the position keeps only ``File "...", line N, in NAME``,
    which is all :func:`user_error_from_taichi` reads. So do the library's own sources (tidal's
    and Taichi's: a PINN's network and math functions, Taichi's matrix operations: 282,000
    positions in a run of the PINN shape tests, whose formatting took 16.9 of its 246 s under
    cProfile); user kernels Taichi compiles keep the full excerpt."""
    from taichi.lang.ast.ast_transformer_utils import ASTTransformerContext

    full = ASTTransformerContext.get_pos_info
    if getattr(full, "_tidal_brief", False):
        return
    library = ("<tidal:",
               os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
               os.path.dirname(os.path.abspath(ti.__file__)) + os.sep)

    def get_pos_info(self, node):
        if not str(self.file).startswith(library):
            return full(self, node)
        return (f'File "{self.file}", line {node.lineno + self.lineno_offset}, in '
                f"{self.func.func.__name__}:\n")

    get_pos_info._tidal_brief = True
    ASTTransformerContext.get_pos_info = get_pos_info


_brief_positions_for_generated_code()


def kernel_location(kernel) -> SourceLoc | None:
    """The user's source location of a loaded generated kernel (a Taichi ``Kernel`` or its
    decorated function), or None for other objects."""
    func = getattr(kernel, "func", None) or getattr(getattr(kernel, "_primal", None), "func",
                                                    None)
    lines = LINE_MAPS.get(getattr(getattr(func, "__code__", None), "co_filename", None), {})
    return lines[min(lines)] if lines else None


def user_error_from_taichi(exc: BaseException) -> TidalCompileError | None:
    """A :class:`TidalCompileError` at the user's line for a Taichi error in generated code."""
    text = str(exc)
    best = None
    for m in _FILE_LINE.finditer(text):
        lm = LINE_MAPS.get(m.group(1), {})
        line = int(m.group(2))
        loc = lm.get(line)
        if loc is None:
            earlier = [k for k in lm if k <= line]
            loc = lm[max(earlier)] if earlier else None
        if loc is not None:
            best = loc
    if best is None:
        return None
    last = text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
    return TidalCompileError(f"Taichi could not compile the code generated for this line: "
                             f"{last}", best)
