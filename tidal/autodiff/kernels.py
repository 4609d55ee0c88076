"""Adjoint and tangent kernels, generated as tidal source from a kernel's IR.

The adjoint of a kernel runs its statements' adjoints in reverse order; each top-level parallel
loop becomes a parallel loop over the same iterations that recomputes the iteration's values and
runs the body's adjoint, accumulating into adjoint storage (:mod:`tidal.autodiff.memory`). The
tangent kernel computes the primal values and their tangents together. Both are made by the same
VJP and JVP transformations as function derivatives, in a memory mode, so a tangent kernel can be
differentiated again (Hessian-vector products).

Guarantees: given the fields' values before the launch (restored by :class:`tidal.Tape`), the
adjoint kernel adds to the adjoint storage of every active reference exactly the cotangent the
launch contributes, and resets the adjoint of every overwritten element; references outside the
active set are constants.
"""

from __future__ import annotations

from tidal.autodiff import memory
from tidal.autodiff.jvp import JvpEmitter
from tidal.autodiff.vjp import Adjoints, VjpEmitter
from tidal.dsl import ir, kernel_lowering, pipeline, runtime
from tidal.dsl import kernel as kernel_mod
from tidal.dsl import primitives as P
from tidal.dsl.emitter import Emitter


def ref_objects(spec, args) -> dict:
    """For each memory reference of the kernel, the object it denotes at this launch."""
    kir = spec.kir
    values = dict(zip((n for n, _ in kir.signature), args))
    out = {}
    for r in kir.reads + kir.writes + kir.adds:
        out[id(r.obj)] = values[r.obj.name] if isinstance(r.obj, P.ArrayArg) else r.obj
    return out


def memory_refs(fn: ir.Function, default_fp):
    """(reads, writes, adds): memory references of a kernel IR, calls included."""
    reads, writes, adds = {}, {}, {}
    for st in ir.walk(fn.body):
        if isinstance(st, ir.Assign):
            if st.prim is P.load:
                reads.setdefault(st.attrs[0], st.attrs[0])
            elif st.prim is P.store:
                writes.setdefault(st.attrs[0], st.attrs[0])
            elif st.prim is P.atomic_add:
                adds.setdefault(st.attrs[0], st.attrs[0])
    for r in kernel_lowering.called_reads(fn.body, default_fp):
        reads.setdefault(r, r)
    return list(reads.values()), list(writes.values()), list(adds.values())


def transform(spec, kind: str, active: frozenset) -> kernel_lowering.KernelIR:
    """The adjoint (``kind="adjoint"``), tangent, or original-plus-adjoint
    (``kind="value_adjoint"``: each parallel loop performs its effects and its adjoint in one
    pass) kernel IR of a specialisation.

    ``active`` holds the ids of the reference objects (fields, :class:`ArrayArg`) that carry
    derivatives. The result takes the specialisation's value and ndarray arguments followed by
    the derivative storage of its active ndarray arguments.
    """
    cache = spec.__dict__.setdefault("_transformed", {})
    hit = cache.get((kind, active))
    if hit is not None:
        return hit
    kir = spec.kir
    fn = kir.fn
    fp = runtime.config().default_fp
    em = Emitter(fp)
    params = [ir.Var(p.name, p.type) for p in fn.params]
    env = dict(zip(fn.params, params))
    storage_kind = "adjoint" if kind == "value_adjoint" else kind
    with memory.mode(memory.Mode(storage_kind, active)), em:
        em.begin()
        if kind in ("adjoint", "value_adjoint"):
            v = VjpEmitter(em, keep_effects=kind == "value_adjoint")
            v.fwd.block(fn.body.stmts, env)
            v.reverse(fn.body.stmts, env, Adjoints())
        else:
            JvpEmitter(em).block(fn.body.stmts, env, {})
        body = em.end(())
    out = ir.Function(f"{fn.name}_{kind}", params, body, fn.loc)
    out = pipeline.optimized(out, fp, f"{kind} transformation of {fn.name}")
    signature = [(n, k) for n, k in kir.signature if k != "template"]
    arrays = dict(kir.arrays)
    post = list(kir.post_reads)
    for arr in kir.arrays.values():
        if id(arr) in active:
            store = memory.storage(arr, storage_kind)
            signature.append((store.name, "ndarray"))
            arrays[store.name] = store
    if kind == "tangent":
        post += [memory.ref(r, "tangent") for r in kir.post_reads if id(r.obj) in active]
    reads, writes, adds = memory_refs(out, fp)
    cache[(kind, active)] = kernel_lowering.KernelIR(out, signature, arrays, reads, writes, adds,
                                                     post, vectorise=kir.vectorise,
                                                     simd_lanes=kir.simd_lanes,
                                                     simd_vectors=kir.simd_vectors)
    return cache[(kind, active)]


class DerivedSpec:
    """An adjoint or tangent kernel, usable wherever a kernel specialisation is (a tape can
    record tangent kernels and run their adjoints: Hessian-vector products)."""

    def __init__(self, base, kind: str, active: frozenset):
        self.kind = kind
        self.kir = transform(base, kind, active)
        self.name = f"{base.name}_{kind}"
        self.derived: dict = {}
        cfg = runtime.config()
        self.generated = pipeline.generate_kernel(self.kir, self.name, cfg.default_fp, cfg.arch,
                                                 cfg.lanes)
        self._kernel = None

    def call_args(self, args) -> list:
        return list(args)

    def forward(self):
        if self._kernel is None:
            self._kernel = pipeline.load_kernel(self.generated, self.name)
        return self._kernel

    def source(self) -> str:
        return self.generated.source


def derived(spec, kind: str, active: frozenset) -> DerivedSpec:
    """The adjoint/tangent kernel of ``spec`` (generated and compiled once per active set)."""
    key = (kind, active)
    hit = spec.derived.get(key)
    if hit is None:
        hit = spec.derived[key] = DerivedSpec(spec, kind, active)
    return hit


def storage_args(spec, args, kind: str, active: frozenset) -> list:
    """Derivative storage arrays for the ndarray arguments with derivatives."""
    kir = spec.kir
    values = dict(zip((n for n, _ in kir.signature), args))
    return [memory.array_storage(values[name], kind) for name, arr in kir.arrays.items()
            if id(arr) in active]


def all_active(spec) -> frozenset:
    """Every float memory reference of a kernel specialisation (the widest active set)."""
    kir = spec.kir
    return frozenset(id(r.obj) for r in kir.reads + kir.writes + kir.adds
                     if r.obj is not None and _is_float(r))


def source(spec, mode: str) -> str:
    """Source of the ``adjoint`` or ``tangent`` kernel of a specialisation (all memory
    references active)."""
    return derived(spec, mode, all_active(spec)).source()


def adjoint_active(spec, args, wrt=None, loc=None) -> frozenset:
    """The ids of the reference objects of a launch whose gradients its adjoint computes: the
    float fields and ndarrays with gradient storage (``needs_grad=True``) it reads, only those in
    ``wrt`` when that is given (see :func:`tidal.autodiff.memory.wanted_objects`), and always
    what it writes or adds into (its adjoint reads and resets their gradients), as
    ``td.Tape(loss, wrt=...)`` chooses."""
    objs = ref_objects(spec, args)
    wanted = memory.wanted_objects(wrt, loc)
    written = {id(r.obj) for r in spec.kir.writes + spec.kir.adds}
    return frozenset(rid for rid, obj in objs.items()
                     if (rid in written or wanted is None or id(obj) in wanted)
                     and "f" in str(getattr(obj, "dtype", ""))
                     and memory.own_storage(obj, "adjoint") is not None)


def launch_adjoint(spec, args, wrt=None, loc=None) -> None:
    """``kernel.grad(*args)`` as Taichi has it: run the adjoint of one launch, reading the
    gradients of what it wrote and adding to the gradients of what it read (see
    :func:`adjoint_active` for which, and ``wrt``)."""
    from tidal.dsl import launches

    act = adjoint_active(spec, args, wrt, loc)
    adjoint = derived(spec, "adjoint", act)
    storage = storage_args(spec, args, "adjoint", act)
    launches.run_compiled(adjoint.forward(), spec.call_args(list(args)) + storage)


kernel_mod.DERIVED_LAUNCHES["adjoint"] = launch_adjoint

for _mode in ("adjoint", "tangent"):
    kernel_mod.DERIVED_SOURCES[_mode] = lambda spec, _mode=_mode: source(spec, _mode)


def _is_float(r) -> bool:
    obj = r.obj
    if isinstance(obj, P.ArrayArg):
        return obj.elem.is_float
    return "f" in str(obj.dtype)
