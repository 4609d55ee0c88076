"""Initialisation and architecture selection.

:func:`init` never crashes the process: GPU backends are probed in a subprocess first (a plain
``ti.init(arch=ti.gpu)`` segfaults on machines without a Vulkan driver), ``"gpu"`` falls back to
the CPU with a warning, and an explicitly requested backend that is missing raises
:class:`TidalArchError`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
import sys
import tempfile
import warnings
import weakref
from dataclasses import dataclass

import taichi as ti
from taichi.lang import impl as ti_impl

from tidal.dsl.errors import TidalArchError, TidalError
from tidal.dsl.types import F32, F64, DType, dtype_from_taichi


@dataclass(frozen=True)
class Config:
    """The active configuration: backend, float type and a generation counter.

    ``generation`` increases with every :func:`init`; compiled kernels are cached per generation.
    ``lanes`` is how many loop iterations generated CPU kernels run per SIMD vector (0: none;
    see :mod:`tidal.dsl.lanes`).
    """

    arch: str
    default_fp: DType
    generation: int
    lanes: int = 0
    program: object = None  # Taichi's program object this configuration belongs to


_CONFIG: Config | None = None
DEFAULT_LANES = 8

# the generation each noted field was made in, by id (with a weak reference to tell a reused id)
_FIELD_GENERATIONS: dict[int, tuple[weakref.ref, int]] = {}

# Taichi 1.7.4's CPU and CUDA runtimes address at most 512 SNode trees; every ti.field created
# after the first kernel launch makes a new one, and a kernel launched on a field of tree 512 or
# later crashes the process. Such an allocation is refused instead (see _guard_snode_trees).
LLVM_SNODE_TREES = 512


def _guard_snode_trees() -> None:
    """Wrap Taichi's ``FieldsBuilder._finalize`` so that a tree Taichi's CPU/CUDA runtime
    cannot address is never made: its allocation (and every launch while it is pending) raises
    a :class:`TidalError` instead of crashing the process (installed once, when tidal is
    imported). Trees freed with ``FieldsBuilder.destroy`` still count."""
    from taichi._snode.fields_builder import FieldsBuilder

    original = FieldsBuilder._finalize
    if getattr(original, "_tidal_guard", False):
        return

    def finalize(self, raise_warning, compile_only):
        # the tree must not be created at all: once it exists, every launch crashes
        if (ti_impl.current_cfg().arch in (ti.x64, ti.arm64, ti.cuda)
                and ti_impl.get_runtime().prog.get_snode_tree_size() >= LLVM_SNODE_TREES):
            raise TidalError(
                f"this field would be the {LLVM_SNODE_TREES + 1}th group of fields (SNode "
                f"tree) of this Taichi program; Taichi's CPU and CUDA runtimes launch kernels "
                f"on at most {LLVM_SNODE_TREES}, and a kernel on this one would crash the "
                "process. Every ti.field created after the first kernel launch starts a new "
                "group", hint="create fields once and reuse them (not in a loop), allocate "
                "them before launching kernels, or call td.init() / ti.reset() to free them all")
        return original(self, raise_warning, compile_only)

    finalize._tidal_guard = True
    FieldsBuilder._finalize = finalize


_guard_snode_trees()


def _runtime_serial() -> int:
    """A number that identifies Taichi's current runtime (a new one with every ``ti.init``)."""
    rt = ti_impl.get_runtime()
    serial = getattr(rt, "_tidal_serial", None)
    if serial is None:
        serial = rt._tidal_serial = next(_RUNTIME_SERIALS)
    return serial


_RUNTIME_SERIALS = itertools.count(1)


def _guard_ndarray_lifetimes() -> None:
    """Make a Taichi ndarray that outlives its runtime harmless (installed once, on import).

    Taichi 1.7.4's ``ScalarNdarray.__del__`` asks the *current* program to delete the ndarray's
    C++ object. After ``ti.init`` (or ``td.init``) the old program has already freed it, and a
    new ndarray is often allocated at the same address: an old ndarray collected later then
    deletes the new one, whose next launch reads freed memory (a wrong value or a segfault,
    long after the cause). The guard remembers the runtime each ndarray was made in and lets
    ``__del__`` act only in that runtime (the old program freed the memory already)."""
    from taichi.lang._ndarray import ScalarNdarray

    original_init, original_del = ScalarNdarray.__init__, ScalarNdarray.__del__
    if getattr(original_del, "_tidal_guard", False):
        return

    def __init__(self, *args, **kwargs):
        self._tidal_runtime = _runtime_serial()
        original_init(self, *args, **kwargs)

    def __del__(self, serial=_runtime_serial):
        try:
            same = getattr(self, "_tidal_runtime", None) == serial()
        except Exception:  # noqa: BLE001 - interpreter shutdown: modules are half torn down
            return
        if same:
            original_del(self)

    __del__._tidal_guard = True
    ScalarNdarray.__init__, ScalarNdarray.__del__ = __init__, __del__


_guard_ndarray_lifetimes()
_PROBES: dict[str, bool] = {}

_PROBE_SRC = """
import taichi as ti
ti.init(arch=ti.{arch}, offline_cache=False, log_level=ti.ERROR)
a = ti.field(ti.f32, shape=4)
@ti.kernel
def k():
    for i in a:
        a[i] = i * 2.0
k()
assert a[3] == 6.0
print("ARCH", ti.lang.impl.current_cfg().arch)
"""


def probe(arch: str) -> bool:
    """Whether ``arch`` ("cuda" or "vulkan") runs a kernel here (checked in a subprocess)."""
    if arch not in _PROBES:
        # Taichi reads kernel source from a file, so the probe is a script, not `python -c`
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, f"probe_{arch}.py")
            with open(script, "w") as fh:
                fh.write(_PROBE_SRC.format(arch=arch))
            try:
                r = subprocess.run([sys.executable, script], capture_output=True, text=True,
                                   timeout=120, env=dict(os.environ, TI_LOG_LEVEL="error"))
                _PROBES[arch] = r.returncode == 0 and f"ARCH Arch.{arch}" in r.stdout
            except (OSError, subprocess.TimeoutExpired):
                _PROBES[arch] = False
    return _PROBES[arch]


def _resolve_arch(arch: str) -> str:
    arch = arch.lower()
    if arch in ("cpu", "x64", "arm64"):
        return "cpu"
    if arch in ("cuda", "vulkan"):
        if not probe(arch):
            raise TidalArchError(
                f"arch={arch!r} is not available on this machine",
                hint="use arch='gpu' to fall back to the CPU automatically, or arch='cpu'"
                + ("; for software Vulkan install mesa-vulkan-drivers and libvulkan1"
                   if arch == "vulkan" else ""))
        return arch
    if arch == "gpu":
        for candidate in ("cuda", "vulkan"):
            if probe(candidate):
                return candidate
        warnings.warn("tidal: no GPU backend (CUDA or Vulkan) is available; running on the CPU",
                      RuntimeWarning, stacklevel=3)
        return "cpu"
    raise TidalArchError(f"unknown arch {arch!r}",
                         hint='choose one of "cpu", "gpu", "cuda", "vulkan"')


def init(arch: str = "cpu", default_fp=ti.f32, simd_lanes: int | None = None,
         **taichi_options) -> Config:
    """Initialise tidal (and Taichi) on a backend.

    Args:
        arch: ``"cpu"``, ``"gpu"`` (CUDA, then Vulkan, then CPU with a warning), ``"cuda"`` or
            ``"vulkan"``.
        default_fp: float type of Python float literals and of ``float`` annotations:
            ``td.f32`` or ``td.f64``.
        simd_lanes: on the CPU, how many iterations of a parallel loop that accumulates into
            shared elements (a loss and its parameter gradients) run per SIMD vector; None
            chooses 8, 0 turns this off. Ignored on GPUs, whose threads already run in lockstep.
        **taichi_options: passed to ``ti.init`` (e.g. ``offline_cache=False``).

    Returns:
        The active :class:`Config`.

    Example:
        >>> import tidal as td
        >>> cfg = td.init(arch="cpu", default_fp=td.f64)
        >>> cfg.arch
        'cpu'
    """
    global _CONFIG
    if isinstance(arch, str):
        name = _resolve_arch(arch)
    else:
        raise TidalArchError(f"arch must be a string, got {arch!r}",
                             hint='choose one of "cpu", "gpu", "cuda", "vulkan"')
    if simd_lanes is None:
        simd_lanes = DEFAULT_LANES
    if not isinstance(simd_lanes, int) or isinstance(simd_lanes, bool) or simd_lanes < 0:
        raise TidalArchError(f"simd_lanes must be a non-negative integer, got {simd_lanes!r}",
                             hint="use 8 (the default), 4, or 0 to turn SIMD lanes off")
    fp = dtype_from_taichi(default_fp, F32) if not isinstance(default_fp, DType) else default_fp
    if not fp.is_float:
        raise TidalArchError(f"default_fp must be td.f32 or td.f64, got {default_fp!r}")
    if name == "vulkan" and fp == F64:
        warnings.warn("tidal: on Vulkan, f64 transcendental functions (sin, exp, ...) are not "
                      "available; functions that use them must run in f32", RuntimeWarning,
                      stacklevel=2)
    taichi_arch = {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[name]
    taichi_options.setdefault("log_level", ti.WARN)
    with contextlib.redirect_stdout(io.StringIO()):  # Taichi prints "Starting on arch=..."
        ti.init(arch=taichi_arch, default_fp=fp.taichi, **taichi_options)
    generation = (_CONFIG.generation + 1) if _CONFIG else 1
    _CONFIG = Config(name, fp, generation, simd_lanes if name == "cpu" else 0,
                     ti_impl.get_runtime().prog)
    return _CONFIG


def config() -> Config:
    """The active configuration.

    A program that initialised Taichi itself (``ti.init(...)``, as every Taichi program does)
    keeps that runtime and its fields: tidal adopts its backend and float type, also when
    ``ti.init`` runs again later. Without either, the CPU in f32 is initialised."""
    global _CONFIG
    prog = ti_impl.get_runtime().prog
    if _CONFIG is not None and (prog is _CONFIG.program or prog is None):
        return _CONFIG
    if prog is None:
        init("cpu", F32)
        return _CONFIG
    cfg = ti_impl.current_cfg()
    arch = {"x64": "cpu", "arm64": "cpu", "cuda": "cuda", "vulkan": "vulkan"}.get(
        cfg.arch.name, cfg.arch.name)
    fp = dtype_from_taichi(cfg.default_fp, F32)
    generation = (_CONFIG.generation + 1) if _CONFIG else 1
    _CONFIG = Config(arch, fp, generation, DEFAULT_LANES if arch == "cpu" else 0, prog)
    return _CONFIG


def note_fields(fields) -> None:
    """Remember that ``fields`` (Taichi fields, with their gradients) belong to the current
    runtime generation, so that :func:`stale_field` can tell them once ``init`` runs again."""
    generation = config().generation
    for f in fields:
        for g in (f, getattr(f, "grad", None)):
            if g is not None:
                _FIELD_GENERATIONS[id(g)] = (weakref.ref(g, _forget(id(g))), generation)


def _forget(key: int):
    return lambda _ref: _FIELD_GENERATIONS.pop(key, None)


def stale_field(value) -> bool:
    """Whether ``value`` is a field :func:`note_fields` saw in an earlier runtime generation
    (``init`` has since freed it)."""
    entry = _FIELD_GENERATIONS.get(id(value))
    return entry is not None and entry[0]() is value and entry[1] != config().generation


def freed(what: str) -> TidalError:
    """The error for ``what`` (a phrase ending in "made") used after ``init`` freed it."""
    return TidalError(f"{what} before td.init (or ti.init) was called again, which freed it",
                      hint="make the model again after td.init (and the functions built from "
                           "it, e.g. model.func); to keep trained parameters, save them "
                           "(model.save(path)) before td.init and load them into the new model")


def refuse_stale_fields(namespace: dict, label: str) -> None:
    """Raise a TidalError if generated code ``label`` refers (through ``namespace``, its
    globals) to a field that :func:`stale_field` says ``init`` has freed."""
    for key, value in namespace.items():
        if stale_field(value):
            raise freed(f"{label} uses `{key}`, a field of a model made")


__all__ = ["Config", "init", "config", "probe", "F32", "F64", "note_fields", "stale_field",
           "freed", "refuse_stale_fields"]
