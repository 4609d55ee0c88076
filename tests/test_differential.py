"""Differential testing of random kernel programs (``tests/kernelgen.py``).

For each seed, a generated program of ``@td.kernel`` kernels and ``@td.func`` helpers is run

* forward with tidal's kernels and with Taichi's own compilation of the same source
  (``kernel.raw()``): every value the program writes agrees to ``1e-12 (1 + |ref|)``, and the
  loss agrees with the program's plain-Python transcription to ``1e-9 (1 + |ref|)``;
* in reverse mode with ``td.Tape``: the gradient of the loss, projected on random directions (one
  over all inputs, one per input), agrees with central finite differences of the forward run in
  f64 (step 1e-6, inputs of order 1) to ``1e-6 (1 + |ref|)``. The tape runs twice: gradients are
  cleared between tapes.

Default selection: seeds 0-149 (over 300 kernels); ``-m slow`` adds seeds 150-1149 and runs
Taichi's ``ti.ad.Tape`` on the raw kernels of the default seeds, in child processes (it aborts
on some), recording whether it agrees with tidal, differs or refuses; it never fails on
Taichi's account.

The ``test_regression_*`` tests are the minimal reproductions of the bugs these programs
found. Reproduce one seed with
``python -m pytest tests/test_differential.py -k 'seed=17]'``, print its program with
``python -m tests.kernelgen 17``, or check it with ``python -m tests.test_differential 17``.
"""

from __future__ import annotations

import atexit
import collections
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import taichi as ti
from taichi.lang import impl as ti_impl

import tidal as td
from tidal.dsl import runtime

from . import kernelgen
from .reference import assert_close

DEFAULT_SEEDS = range(0, 150)  # 321 kernels, under 3 minutes cold on 2 cores
SLOW_SEEDS = range(150, 1150)
FD_STEP = 1e-6
FD_RTOL = 1e-6
FORWARD_RTOL = 1e-12
REFERENCE_RTOL = 1e-9

TAICHI_RECORD: dict[int, str] = {}  # seed -> what ti.ad.Tape did (slow selection)

_STATE: dict = {}


def storage():
    """The slots' Taichi storage, allocated once per tidal initialisation (shared by all
    programs, so the session makes one field tree)."""
    gen = runtime.config().generation
    if _STATE.get("generation") != gen:
        _STATE.clear()
        _STATE["generation"] = gen
        _STATE["objs"] = kernelgen.allocate()
        _STATE["dir"] = tempfile.mkdtemp(prefix="tidal_kernelgen_")
        atexit.register(shutil.rmtree, _STATE["dir"], ignore_errors=True)
    return _STATE["objs"]


def load(prog: kernelgen.KernelProgram):
    """Import the program's source as a module whose globals hold the slots' fields."""
    objs = storage()
    name = f"kernelgen_seed_{prog.seed}"
    path = os.path.join(_STATE["dir"], name + ".py")
    with open(path, "w") as f:
        f.write(prog.source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    mod.__dict__.update({s.name: objs[s.name] for s in kernelgen.SLOTS if s.kind != "nd"})
    spec.loader.exec_module(mod)
    return mod


def set_state(prog, inputs: dict) -> None:
    objs = storage()
    for n, v in inputs.items():
        objs[n].from_numpy(np.array(v, dtype=np.float64))
    for n in prog.written:
        objs[n].fill(0.0)


def launch_all(prog, mod, raw: bool = False) -> None:
    objs = storage()
    for name, args in prog.launches:
        k = getattr(mod, name)
        fn = k.raw() if raw else k
        fn(*[objs[a] if kind == "slot" else a for kind, a in args])


def loss_value() -> float:
    return float(storage()["loss"].to_numpy())


def forward(prog, mod, inputs=None, raw: bool = False) -> dict:
    set_state(prog, prog.inputs if inputs is None else inputs)
    launch_all(prog, mod, raw)
    objs = storage()
    return {n: objs[n].to_numpy() for n in prog.written}


def tidal_gradients(prog, mod) -> tuple[dict, float]:
    objs = storage()
    set_state(prog, prog.inputs)
    passed = {a for _, args in prog.launches for kind, a in args if kind == "slot"}
    for n in prog.inputs:
        if kernelgen.SLOT[n].kind == "nd" and n not in passed:
            objs[n].grad.fill(0.0)  # no launch sees it: the tape cannot clear what it never met
    with td.Tape(objs["loss"]):
        launch_all(prog, mod)
    return {n: objs[n].grad.to_numpy() for n in prog.inputs}, loss_value()


def taichi_gradients(prog, mod) -> dict:
    objs = storage()
    set_state(prog, prog.inputs)
    with ti.ad.Tape(loss=objs["loss"]):
        launch_all(prog, mod, raw=True)
    return {n: objs[n].grad.to_numpy() for n in prog.inputs}


def directions(prog) -> list[dict]:
    """One random direction over all inputs, then one per input."""
    rng = np.random.default_rng(prog.seed + 10_000)
    names = prog.params()
    dirs = [{n: rng.uniform(-1, 1, np.shape(prog.inputs[n])) for n in names}]
    for n in names:
        dirs.append({n: rng.uniform(-1, 1, np.shape(prog.inputs[n]))})
    return dirs


def fd_derivative(prog, mod, d: dict) -> float:
    vals = []
    for sign in (1.0, -1.0):
        x = {n: v + sign * FD_STEP * d[n] if n in d else v for n, v in prog.inputs.items()}
        forward(prog, mod, x)
        vals.append(loss_value())
    return (vals[0] - vals[1]) / (2 * FD_STEP)


def drop_unplaced_fields() -> int:
    """Forget fields allocated but never placed (a failed kernel generation can leave some,
    and Taichi then refuses every later launch); returns how many were dropped."""
    rt = ti_impl.get_runtime()
    dropped = 0
    for attr in ("global_vars", "grad_vars", "dual_vars"):
        kept = [v for v in getattr(rt, attr) if v.ptr.snode() is not None]
        dropped += len(getattr(rt, attr)) - len(kept)
        setattr(rt, attr, kept)
    return dropped


def check_program(seed: int):
    try:
        return _check_program(seed)
    finally:
        drop_unplaced_fields()


def _check_program(seed: int) -> None:
    prog = kernelgen.generate(seed)
    mod = load(prog)
    what = f"seed {seed}"
    # forward: tidal against Taichi's own compilation, and the loss against plain Python
    ours = forward(prog, mod)
    theirs = forward(prog, mod, raw=True)
    for n in prog.written:
        assert_close(ours[n], theirs[n], rtol=FORWARD_RTOL, what=f"{what}: forward {n} vs raw")
    ref, _ = kernelgen.run_reference(prog)
    assert_close(ours["loss"], ref["loss"], rtol=REFERENCE_RTOL, what=f"{what}: loss vs Python")
    # no kernel silently fell back to Taichi's own kernel: each has a tidal specialisation
    for k in prog.kernels:
        assert getattr(mod, k)._specs, f"{what}: kernel {k} was not compiled by tidal"
    # reverse mode: two tapes (the second must not see the first's gradients)
    tidal_gradients(prog, mod)
    grads, value = tidal_gradients(prog, mod)
    assert_close(value, ours["loss"], rtol=FORWARD_RTOL, what=f"{what}: loss under the tape")
    for d in directions(prog):
        got = sum(float(np.sum(grads[n] * v)) for n, v in d.items())
        ref_d = fd_derivative(prog, mod, d)
        assert_close(got, ref_d, rtol=FD_RTOL,
                     what=f"{what}: d loss along a direction in {sorted(d)} vs finite differences")
    return prog, mod, grads


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed={s}") for s in DEFAULT_SEEDS])
def test_random_program(seed):
    check_program(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed={s}") for s in SLOW_SEEDS])
def test_random_program_slow(seed):
    check_program(seed)


def test_default_selection_runs_at_least_300_kernels():
    kernels = sum(len(kernelgen.generate(s).kernels) for s in DEFAULT_SEEDS)
    assert kernels >= 300, kernels


# --------------------------------------------------------------------------------------------
# minimal reproductions of the bugs the generated programs found (all fixed in b47bebf)


def _field(values, needs_grad=True):
    values = np.asarray(values, dtype=np.float64)
    f = ti.field(ti.f64, shape=values.shape, needs_grad=needs_grad)
    f.from_numpy(values)
    return f


@td.func
def _two_states(x: td.f64) -> td.f64:
    t = x * 3.0
    a = t
    b = t
    for _ in range(3):
        b = 0.5 * b + a
        a = 0.8 * a + 0.2 * b
    return a + b


def _two_states_reference(x):
    a = b = x * 3.0
    for _ in range(3):
        b = 0.5 * b + a
        a = 0.8 * a + 0.2 * b
    return a + b


def test_regression_loop_states_merged_forward():
    # two loop variables entering with the same value shared one generated variable
    # (`t = x * 3.0; for ...: b = 0.5 * t + t; ...; t = b; t = t_next`): 2.3958, not 3.249
    assert_close(_two_states(0.3), _two_states_reference(0.3), rtol=1e-12, what="f(0.3)")


def test_regression_loop_states_merged_adjoint():
    # the cotangents of m[1, 0] and m[0, 1] both start at 0.425 * loss.grad before the loop,
    # and the adjoint kept one variable for both: b.grad was -4.725 instead of 7.275
    b = _field([0.3])
    z = _field([0.0])
    loss = _field(0.0)

    @td.kernel
    def k():
        for i in range(1):
            m = ti.Matrix([[1.0, 2.0], [3.0, 4.0]]) @ ti.Matrix([[b[i], 0.0], [0.0, z[i]]])
            for _ in range(2):
                loss[None] += m[1, 0] - m[0, 1]
            loss[None] += 0.425 * (m[0, 1] + m[1, 0])

    with td.Tape(loss):
        k()
    assert_close(b.grad[0], 2 * 3.0 + 0.425 * 3.0, rtol=1e-12, what="b.grad")
    assert_close(z.grad[0], -2 * 2.0 + 0.425 * 2.0, rtol=1e-12, what="z.grad")


def test_regression_scratch_field_not_placed():
    # raised Taichi's "These field(s) are not placed" (and every later launch failed too)
    n = 300  # loops of 256 iterations or more use per-block partial sums
    v = np.linspace(-1, 1, n)
    x = _field(v)
    loss = _field(0.0)

    @td.kernel
    def k():
        for i in range(n):  # stays scalar (branches per point): a scratch field
            if x[i] > 0.1:
                loss[None] += x[i]
        for i in range(n):  # SIMD lanes: its scratch ndarray is filled by a kernel launch
            loss[None] += x[i] * x[i]

    try:
        k()
    finally:
        drop_unplaced_fields()
    assert_close(loss[None], v[v > 0.1].sum() + (v * v).sum(), rtol=1e-12, what="loss")


def test_regression_lanes_vector_shape():
    # generated SIMD-lane code Taichi could not compile (tensor_type->get_num_elements)
    a = _field([0.2, 0.7], needs_grad=False)
    n = 400  # loops of 256 iterations or more run in SIMD lanes
    y = _field(np.arange(float(n)), needs_grad=False)
    loss = _field(0.0, needs_grad=False)

    @td.func
    def h(x1: td.f64, x2: td.f64) -> td.f64:
        v = ti.Vector([x1, a[0], a[1]]) + ti.Vector([x2, a[0], x1])
        return v[2]

    @td.kernel
    def k():
        for i in range(n):
            t = h(0.5, 0.5)
            loss[None] += h(t, y[i])

    k()
    assert_close(loss[None], n * (0.7 + 1.2), rtol=1e-12, what="loss")


def test_regression_serial_loop_constant_index_adjoint():
    # the adjoint adds into m.grad[1] and into m.grad[i] inside the serialised loop; Taichi
    # 1.7.4 loses the second add where i == 1 (a plain Taichi kernel with `f[1] += a;
    # f[j] += b` under loop_config(serialize=True) shows the same): m.grad[1][1] was 0
    m = ti.Vector.field(2, ti.f64, shape=3, needs_grad=True)
    x = _field(np.zeros((2, 3)))
    loss = _field(0.0)

    @td.kernel
    def roll():
        ti.loop_config(serialize=True)
        for t in range(1):
            for i in range(3):
                x[t + 1, i] = m[2 - i][1] + m[1][0]

    @td.kernel
    def total():
        for i in range(3):
            loss[None] += x[1, i]

    with td.Tape(loss):
        roll()
        total()
    assert_close(m.grad.to_numpy(), [[0.0, 1.0], [3.0, 1.0], [0.0, 1.0]], rtol=1e-12,
                 what="m.grad")


def test_regression_ndarray_grad_not_cleared():
    a = ti.ndarray(ti.f64, shape=3, needs_grad=True)
    b = ti.ndarray(ti.f64, shape=3, needs_grad=True)
    a.from_numpy(np.array([1.0, 2.0, 3.0]))
    b.from_numpy(np.array([1.0, 2.0, 3.0]))
    loss = _field(0.0)

    @td.kernel
    def k(p: ti.types.ndarray(), q: ti.types.ndarray()):
        for i in range(3):
            loss[None] += p[i] * p[i]

    with td.Tape(loss):
        k(a, b)  # the loss depends on a
    with td.Tape(loss):
        k(b, a)  # now on b only (a.grad kept [2, 4, 6])
    assert_close(b.grad.to_numpy(), [2.0, 4.0, 6.0], rtol=1e-12, what="b.grad")
    assert_close(a.grad.to_numpy(), [0.0, 0.0, 0.0], rtol=1e-12, what="a.grad")


def test_field_store_inside_tape():
    """`loss[None] = 0.0` inside td.Tape, as inside ti.ad.Tape (it raised AttributeError:
    '_TaichiTapeSlot' object has no attribute 'grad_checker' before the tape hook changed)."""
    x = _field([1.0, 2.0, 3.0])
    loss = _field(0.0)

    @td.kernel
    def k():
        for i in range(3):
            loss[None] += x[i] * x[i]

    with td.Tape(loss):
        loss[None] = 0.0  # accepted inside ti.ad.Tape
        k()
    assert_close(x.grad.to_numpy(), [2.0, 4.0, 6.0], rtol=1e-12, what="x.grad")


# --------------------------------------------------------------------------------------------
# Taichi's own autodiff on the same programs: recorded, never failing on Taichi's account.
# ti.ad.Tape aborts the process on some programs (LLVM verifier failures, bus errors), so it
# runs in child processes that are restarted after a crash.


def taichi_outcome(prog, mod, grads) -> str:
    """What ti.ad.Tape on the raw kernels gives, against tidal's (finite-difference-checked)
    gradients: "agrees" (1e-9), "differs", or "refuses"."""
    if not grads:
        return "no inputs"
    try:
        theirs = taichi_gradients(prog, mod)
    except Exception as e:  # noqa: BLE001 - Taichi raises RuntimeError or its own types
        return f"refuses ({type(e).__name__})"
    worst = max(float(np.max(np.abs(theirs[n] - grads[n]) / (1 + np.abs(grads[n]))))
                for n in grads)
    return "agrees" if worst <= 1e-9 else "differs"


def _record_taichi(seeds, out_path) -> None:
    """Child process: for each seed tidal gets right, append Taichi's outcome to a JSON-lines
    file (a "start" line first, so that a crash is attributed to its seed)."""
    td.init(arch="cpu", default_fp=td.f64, log_level=ti.ERROR)
    with open(out_path, "a") as out:
        for s in seeds:
            out.write(json.dumps({"seed": s, "start": True}) + "\n")
            out.flush()
            try:
                prog, mod, grads = check_program(s)
                outcome = taichi_outcome(prog, mod, grads)
            except Exception as e:  # noqa: BLE001 - reported by test_random_program
                outcome = f"skipped (tidal fails: {type(e).__name__})"
            out.write(json.dumps({"seed": s, "outcome": outcome}) + "\n")
            out.flush()


def record_taichi(seeds, out_path) -> dict:
    """Taichi's outcome per seed, running children until every seed has one."""
    seeds = list(seeds)
    done: dict = {}
    while len(done) < len(seeds):
        todo = [s for s in seeds if s not in done]
        subprocess.run([sys.executable, "-m", "tests.test_differential", "--taichi-record",
                        ",".join(map(str, todo)), str(out_path)],
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
        lines = [json.loads(x) for x in open(out_path)]
        for r in lines:
            if "outcome" in r:
                done[r["seed"]] = r["outcome"]
        started = [r["seed"] for r in lines if r.get("start") and r["seed"] not in done]
        for s in started:
            done[s] = "crashes"
        if not started and len(done) < len(seeds):
            raise AssertionError("the recording child stopped without a crash")
    return done


@pytest.mark.slow
def test_taichi_autodiff_outcomes_recorded(tmp_path):
    outcomes = record_taichi(DEFAULT_SEEDS, tmp_path / "taichi.jsonl")
    TAICHI_RECORD.update(outcomes)
    counts = collections.Counter(v.split(" (")[0] for v in outcomes.values())
    print("ti.ad.Tape on the default seeds:", dict(counts))
    assert counts["agrees"] > 0  # the comparison itself works


if __name__ == "__main__":
    # python -m tests.test_differential SEED...: check seeds, printing Taichi's outcome too
    if sys.argv[1] == "--taichi-record":
        _record_taichi([int(s) for s in sys.argv[2].split(",")], sys.argv[3])
    else:
        td.init(arch="cpu", default_fp=td.f64, log_level=ti.ERROR)
        for a in sys.argv[1:]:
            prog, mod, grads = check_program(int(a))
            print(f"seed {a}: ok; ti.ad.Tape {taichi_outcome(prog, mod, grads)}")
