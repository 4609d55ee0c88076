"""``td.kernel``: top-level kernels over Taichi fields and ndarrays.

A :class:`TidalKernel` is lowered into tidal IR for each launch signature (template arguments
bound, ndarray element types known) and launched as generated Taichi source, the same IR its
adjoint and tangent kernels are made from (:mod:`tidal.autodiff.kernels`). Launches go through
:mod:`tidal.dsl.launches`, so an active recorder (a :class:`tidal.Tape`) sees them; plain
``@ti.kernel`` launches reach it there too and are compiled from their source like
``@td.kernel`` (:func:`from_taichi`). A kernel using Taichi features outside tidal's subset still
runs forward (as a plain Taichi kernel) while nothing records; inside a tape it raises, at its
first launch, the tidal error that names the construct.
"""

from __future__ import annotations

import functools

import taichi as ti
from taichi.lang import impl as ti_impl
from taichi.lang.exception import TaichiCompilationError

from tidal.dsl import codegen, frontend, kernel_lowering, launches, pipeline, runtime
from tidal.dsl.errors import TidalArgumentError, TidalError

# mode -> function(spec) giving the source of a derived kernel, and -> function(spec, args)
# launching it; filled by tidal.autodiff.kernels
DERIVED_SOURCES: dict = {}
DERIVED_LAUNCHES: dict = {}
run_compiled = launches.run_compiled


def _resolve_annotations(pyfunc) -> None:
    """Evaluate string annotations (``from __future__ import annotations``), which Taichi cannot
    read, in the function's own namespace."""
    ann = getattr(pyfunc, "__annotations__", {})
    if not any(isinstance(v, str) for v in ann.values()):
        return
    scope = dict(pyfunc.__globals__)
    if pyfunc.__closure__:
        for name, cell in zip(pyfunc.__code__.co_freevars, pyfunc.__closure__):
            try:
                scope[name] = cell.cell_contents
            except ValueError:
                pass
    for k, v in list(ann.items()):
        if isinstance(v, str):
            try:
                ann[k] = eval(v, scope)  # noqa: S307 - the user's own annotation expression
            except Exception as e:  # noqa: BLE001 - report which annotation failed
                raise TidalError(f"cannot evaluate the annotation of `{k}` in kernel "
                                 f"{pyfunc.__name__}: {v!r} ({e})") from None


class Specialization:
    """A kernel lowered for one launch signature, with its generated forward kernel."""

    def __init__(self, owner: TidalKernel, kir: kernel_lowering.KernelIR):
        self.owner = owner
        self.name = owner.name
        self.kir = kir
        self._forward = None
        self._generated = None
        self.derived: dict = {}
        self._has_templates = any(kind == "template" for _, kind in kir.signature)

    def call_args(self, args) -> list:
        """The arguments of the generated kernels (values and ndarrays, in order)."""
        if not self._has_templates:
            return list(args)
        return [a for a, (_, kind) in zip(args, self.kir.signature) if kind != "template"]

    def source(self) -> str:
        return self.generated().source

    def generated(self) -> codegen.Generated:
        if self._generated is None:
            cfg = runtime.config()
            self._generated = pipeline.generate_kernel(self.kir, self.owner.name, cfg.default_fp,
                                                      cfg.arch, cfg.lanes)
        return self._generated

    def forward(self):
        if self._forward is None:
            g = self.generated()
            self._forward = pipeline.load_kernel(g, self.owner.name)
        return self._forward


class TidalKernel:
    """A kernel written in the tidal language (see :func:`kernel`)."""

    __tidal_kernel__ = True

    def __init__(self, pyfunc, raw=None, method: bool = False, vectorise: bool | None = None,
                 simd_lanes: int | None = None, simd_vectors: bool = False):
        frontend.remember_source(pyfunc)
        self._method = method  # a method of a @ti.data_oriented class: ``self`` is a template
        self.vectorise = vectorise
        self.simd_lanes = simd_lanes
        self.simd_vectors = simd_vectors
        self.pyfunc = pyfunc
        self.name = pyfunc.__name__
        self._pf = None
        self._values_only = None
        self._nparams = None
        self._specs: dict = {}
        self._raw = raw
        functools.update_wrapper(self, pyfunc)

    @property
    def parsed(self):
        if self._pf is None:
            self._pf = frontend.parse(self.pyfunc)
            self._pf.method = self._method
            kinds = kernel_lowering.parameter_kinds(self._pf)
            self._nparams = len(kinds)
            # a kernel taking only values has one signature: skip working out its key
            if all(kind == "value" for _, kind, _ in kinds):
                self._values_only = (("v",),) * len(kinds)
        return self._pf

    def specialize(self, args) -> Specialization:
        """The specialisation for these launch arguments (lowered and cached on first use)."""
        cfg = runtime.config()
        if self._values_only is not None and len(args) == self._nparams:
            key = self._values_only
        else:
            key = kernel_lowering.signature_key(self.parsed, args)
        full_key = (cfg.generation, cfg.default_fp, cfg.arch, key)
        spec = self._specs.get(full_key)
        if isinstance(spec, TidalError):  # refused before: not lowered again at every launch
            raise spec.with_traceback(None)
        if spec is None:
            try:
                kir = pipeline.kernel_ir(self.parsed, args, cfg.default_fp)
                kir.vectorise = self.vectorise
                kir.simd_lanes = self.simd_lanes
                kir.simd_vectors = self.simd_vectors
            except TidalError as refused:
                self._specs[full_key] = refused
                raise
            spec = self._specs[full_key] = Specialization(self, kir)
        self._last = spec
        return spec

    def __get__(self, obj, objtype=None):
        """A ``@td.kernel`` defined in a class, called on an object: the object is its first
        (template) argument, as in Taichi."""
        return self if obj is None else functools.partial(self, obj)

    def raw(self):
        """The plain Taichi kernel compiled from the user's source (launched as Taichi would,
        untouched by an active tape)."""
        if self._raw is None:
            _resolve_annotations(self.pyfunc)
            if self._method:  # a method of a @ti.data_oriented class: its object comes first
                from taichi.lang import kernel_impl

                self._raw = _RawWrapper(kernel_impl.Kernel(
                    self.pyfunc, autodiff_mode=kernel_impl.AutodiffMode.NONE,
                    _classkernel=True))
            else:
                self._raw = ti.kernel(self.pyfunc)
        return self._raw

    def __call__(self, *args):
        if ti_impl.inside_kernel():
            raise TidalError(f"kernel {self.name} cannot be called from inside a kernel",
                             hint="call a @td.func instead")
        runtime.config()
        try:
            spec = self.specialize(args)
        except TidalError as refused:
            if launches.recording():
                raise
            # what tidal cannot lower may still be plain Taichi; when Taichi cannot compile it
            # either (or, like tidal, cannot read its source), tidal's message (the user's
            # line, what to do) is the one to show
            try:
                return launches.run_taichi(self.raw()._primal, args)
            except (TaichiCompilationError, OSError):
                raise refused from None
        if spec.kir.narrowed:  # integer arguments declared i64, u32, ...: check they fit
            kernel_lowering.check_narrowed(spec.kir, args, self.parsed.loc(self.parsed.tree))
        return launches.launch(spec, args)

    def grad(self, *args, wrt=None):
        """Run the adjoint of this kernel for one launch with ``args``, as Taichi's
        ``kernel.grad(*args)`` does: gradients of what it wrote flow into the gradients of
        what it read (fields and ndarrays with ``needs_grad=True``). Inside ``td.Tape`` there
        is no need for it; it serves hand-written backward passes (``ti.ad.grad_for``).

        ``wrt``: as in ``td.Tape(loss, wrt=...)``, the fields and ndarrays whose gradients are
        wanted; what the kernel only reads and is not listed gets no gradient (its gradient
        storage is left alone) and the adjoint skips that work, e.g. a network's parameters when
        only the gradient in its inputs is wanted. What the kernel writes always takes part.
        Each choice compiles its own adjoint kernel once.

        Example:
            >>> import numpy as np, taichi as ti, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> w = ti.field(ti.f64, shape=3, needs_grad=True)
            >>> @td.kernel
            ... def scale(x: ti.types.ndarray(), y: ti.types.ndarray()):
            ...     for i in range(3):
            ...         y[i] = w[i] * x[i]
            >>> x = ti.ndarray(ti.f64, shape=3, needs_grad=True)
            >>> y = ti.ndarray(ti.f64, shape=3, needs_grad=True)
            >>> w.from_numpy(np.array([1.0, 2.0, 3.0])); x.from_numpy(np.ones(3))
            >>> scale(x, y); y.grad.from_numpy(np.ones(3))
            >>> scale.grad(x, y, wrt=[x])
            >>> x.grad.to_numpy(), w.grad.to_numpy()
            (array([1., 2., 3.]), array([0., 0., 0.]))
        """
        runtime.config()
        spec = self.specialize(args)
        return DERIVED_LAUNCHES["adjoint"](spec, args, wrt, self.parsed.loc(self.parsed.tree))

    def source(self, *args, mode: str = "forward") -> str:
        """Generated source (``mode``: ``"forward"``, ``"adjoint"`` or ``"tangent"``) for the
        launch arguments ``args``; without arguments, for the latest launch (or for a kernel
        that takes no arguments)."""
        if args or not self.parsed.tree.args.args:
            spec = self.specialize(args)
        elif getattr(self, "_last", None) is not None:
            spec = self._last
        else:
            raise TidalError(f"kernel {self.name} takes arguments: launch it once, or pass "
                             "the arguments to source()")
        if mode == "forward":
            return spec.source()
        if mode not in DERIVED_SOURCES:
            raise TidalArgumentError(f"mode must be 'forward', 'adjoint' or 'tangent', got "
                                     f"{mode!r}")
        return DERIVED_SOURCES[mode](spec)


def from_taichi(taichi_kernel) -> TidalKernel:
    """The tidal kernel compiled from the source of a plain Taichi kernel (a ``Kernel``
    object, as Taichi launches it), made once per kernel.

    A kernel that is a method of a ``@ti.data_oriented`` class takes its object as a template
    argument (its first), as Taichi does.
    """
    tk = getattr(taichi_kernel, "_tidal_kernel", None)
    if tk is None:
        tk = TidalKernel(taichi_kernel.func, raw=_RawWrapper(taichi_kernel),
                         method=bool(getattr(taichi_kernel, "classkernel", False)))
        taichi_kernel._tidal_kernel = tk
    return tk


class _RawWrapper:
    """A Taichi ``Kernel`` object in the shape ``ti.kernel`` returns (``_primal``)."""

    def __init__(self, primal):
        self._primal = primal

    def __call__(self, *args):
        return self._primal(*args)


def kernel(pyfunc=None, *, vectorise: bool | None = None, simd_lanes: int | None = None,
           simd_vectors: bool = False):
    """Decorator: a kernel over Taichi fields and ndarrays, differentiable with :class:`Tape`.

    Top-level ``for`` loops run in parallel; ``F[i] += v`` is an atomic add. Kernels may call
    tidal functions and their derivatives.

    ``@td.kernel(vectorise=True)`` runs every top-level loop that can be vectorised with
    several consecutive iterations per SIMD vector on the CPU (``td.init(simd_lanes=...)`` of
    them), the kernel's derivatives too; by default (None) only loops that add into elements
    shared by their iterations (a loss and its parameter gradients) do, and ``False`` turns it
    off. Results are the same either way (sums may be grouped differently); which is faster
    depends on the loop: lanes pay off where the body does much arithmetic per iteration and
    consecutive iterations touch neighbouring elements. ``simd_lanes`` sets how many iterations
    share a vector in this kernel and its derivatives (2, 4, 8, 16 or 32; None: the runtime's,
    8 by default; ``td.init(simd_lanes=0)`` still turns lanes off everywhere): 16 float32 lanes
    fill a 512-bit vector. Ignored on GPUs.

    ``@td.kernel(simd_vectors=True)`` compiles the kernel and its derivatives on the CPU with
    its vector and matrix values as SIMD vectors (Taichi's vector mode), and reads and writes
    each vector element of an ndarray whole: a kernel over ndarrays of
    ``ti.types.vector(16, ti.f32)`` (data laid out in blocks of 16) then does one vector load,
    operation or store where it would do 16 scalar ones. Its vector ndarray arguments must be
    Taichi ndarrays (``ti.ndarray``; a NumPy array is refused at launch: whole loads of its
    memory may be misaligned). A kernel (or derivative) using anything Taichi's vector mode is
    not known to compile correctly (math functions other than ``tanh`` or casts of vectors,
    vector fields, atomic adds of vectors into elements that several iterations share) is
    compiled as it would be without the option, with the same results; ``tanh`` of a vector
    (a GELU on a block of channels) is one SIMD computation.

    Example:
        >>> import numpy as np
        >>> import taichi as ti
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def sq(x: td.f64) -> td.f64:
        ...     return x * x
        >>> dsq = td.grad(sq)
        >>> @td.kernel
        ... def apply(a: ti.types.ndarray(), out: ti.types.ndarray()):
        ...     for i in range(a.shape[0]):
        ...         out[i] = dsq(a[i])
        >>> a = np.array([1.0, 2.0]); out = np.zeros(2)
        >>> apply(a, out); out.tolist()
        [2.0, 4.0]
        >>> @td.kernel(vectorise=True)
        ... def scale(a: ti.types.ndarray(), out: ti.types.ndarray()):
        ...     for i in range(a.shape[0]):
        ...         out[i] = 3.0 * a[i]
        >>> scale(a, out); out.tolist()
        [3.0, 6.0]
        >>> V4 = ti.types.vector(4, ti.f64)   # data in blocks of 4: one SIMD value each
        >>> blocks = ti.types.ndarray(dtype=V4, ndim=1)
        >>> @td.kernel(simd_vectors=True)
        ... def double(u: blocks, v: blocks):
        ...     for i in range(u.shape[0]):
        ...         v[i] = 2.0 * u[i]
        >>> u, v = ti.ndarray(V4, shape=3), ti.ndarray(V4, shape=3)
        >>> u.fill(1.5); double(u, v); v.to_numpy()[2].tolist()
        [3.0, 3.0, 3.0, 3.0]
    """
    if vectorise not in (None, True, False):
        raise TidalArgumentError(f"vectorise must be True, False or None, got {vectorise!r}")
    if simd_lanes is not None and (isinstance(simd_lanes, bool) or not isinstance(
            simd_lanes, int) or simd_lanes not in (2, 4, 8, 16, 32)):
        raise TidalArgumentError(f"simd_lanes must be 2, 4, 8, 16, 32 or None, got "
                                 f"{simd_lanes!r}")
    if not isinstance(simd_vectors, bool):
        raise TidalArgumentError(f"simd_vectors must be True or False, got {simd_vectors!r}")
    if pyfunc is None:
        return lambda f: kernel(f, vectorise=vectorise, simd_lanes=simd_lanes,
                                simd_vectors=simd_vectors)
    return TidalKernel(pyfunc, method=_defined_in_class(pyfunc), vectorise=vectorise,
                       simd_lanes=simd_lanes, simd_vectors=simd_vectors)


def _defined_in_class(pyfunc) -> bool:
    """Whether ``pyfunc`` was defined in a class body (its qualified name is ``Class.name``, not
    ``function.<locals>.name``)."""
    scope = pyfunc.__qualname__.rpartition(".")[0]
    return bool(scope) and scope.rpartition(".")[2] != "<locals>"
