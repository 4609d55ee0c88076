"""tidal as a drop-in for Taichi on differentiable simulations of the DiffTaichi kind.

Every program in ``tests/programs`` is built twice in this process, once with
``ti.kernel`` / ``ti.ad.Tape`` and once with ``td.kernel`` / ``td.Tape`` (nothing else differs),
all in f64 on the CPU. The tests check, per program:

* forward values: tidal's outputs and loss equal Taichi's (relative 1e-12);
* gradients: tidal's tape gives Taichi's gradients (relative 1e-10) where Taichi is right;
* finite differences: tidal's gradient, along three random unit directions in parameter space,
  equals a fourth-order central difference of the loss computed with Taichi's forward pass
  (relative 1e-6); the difference itself must not vanish, so the check can fail;
* where ``ti.ad.Tape`` is wrong (``TAICHI_WRONG``), that it really disagrees with the
  differences (relative error above 1e-3);
* the tape run three times gives the same loss and gradients every time (a tape zeroes the loss
  and the gradients on entry);
* known values (a module's ``EXPECTED``: loss, outputs, gradients worked out by hand) in both
  builds.

A program tidal does not handle is marked ``xfail(strict=True)`` in ``XFAIL`` with the
construct and the error, so a fix shows up as an unexpected pass. None is marked today: the
eight that failed when these tests were written (keyword ``ti.Matrix.diag``, Python-scope stores
inside the tape, a top-level ``+=`` read back, reads of rows a step does not write, top-level
``ti.static`` loops, Python-scope ``ti.Vector`` constants, ``kernel.grad`` in ``ti.ad.grad_for``
functions, MLS-MPM combining two of these) pass.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.dsl import runtime

from .conftest import ARCH
from .programs import PROGRAMS

# DiffTaichi's kernels call math.exp on constants, which Taichi evaluates in Python with a warning
pytestmark = pytest.mark.filterwarnings("ignore:.*Calling non-taichi function:SyntaxWarning")

FORWARD_RTOL = 1e-12
GRAD_RTOL = 1e-10
FD_RTOL = 1e-6
TAICHI_WRONG_MIN = 1e-3
DIRECTIONS = 3
REPEATS = 3

BUILDS = {"taichi": (ti.kernel, ti.ad.Tape), "tidal": (td.kernel, td.Tape)}


def _fails(reason, tests=("gradient", "fd")):
    return {t: reason for t in tests}


# What tidal does not handle yet: program -> {test: "<construct>: <error>"}, test one of
# "forward", "gradient" (vs ti.ad.Tape), "fd" (vs finite differences), "expected". Forward runs
# pass even there: outside a tape a kernel tidal cannot lower runs as Taichi's own kernel.
XFAIL: dict[str, dict[str, str]] = {}  # see the module docstring


def module(name):
    return importlib.import_module(f".programs.{name}", __package__)


_BUILT: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _default_f64():
    """f64 on the tests' backend (re-initialised only if an earlier module switched, since that
    frees every field)."""
    cfg = runtime.config()
    if cfg.arch != ARCH or cfg.default_fp != runtime.F64:
        td.init(arch=ARCH, default_fp=td.f64)
    yield


def built(name, which):
    """One instance of each program and build per initialisation (Taichi allows a limited
    number of field trees, and compiling is the expensive part)."""
    generation = runtime.config().generation
    if _BUILT.get("generation") != generation:
        _BUILT.clear()
        _BUILT["generation"] = generation
    key = (name, which)
    if key not in _BUILT:
        kernel, tape = BUILDS[which]
        _BUILT[key] = (module(name).build(kernel, tape), tape)
    return _BUILT[key]


def params_of(names, test):
    out = []
    for name in names:
        reasons = XFAIL.get(name, {})
        reason = reasons.get(test)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def taichi_right(name):
    return module(name).TAICHI_WRONG is None


def scalar(f) -> float:
    return float(np.asarray(f.to_numpy()).reshape(-1)[0])


def forward(prog):
    """Outputs and loss of one forward run (outside any tape, so the loss is zeroed here)."""
    prog.reset()
    prog.loss.fill(0.0)
    prog.run()
    return [np.asarray(o.to_numpy(), dtype=np.float64) for o in prog.outputs], scalar(prog.loss)


def gradient(prog, tape, outputs=False):
    """Loss and gradients from the tape (and the outputs it leaves), run ``REPEATS`` times:
    every run must give the same."""
    runs = []
    for _ in range(REPEATS):
        prog.reset()
        with tape(prog.loss):
            prog.run()
        runs.append((scalar(prog.loss), [p.grad() for p in prog.params]))
    loss, grads = runs[0]
    for k, (other_loss, other_grads) in enumerate(runs[1:], start=2):
        close(other_loss, loss, FORWARD_RTOL, f"loss of tape run {k} vs run 1")
        for i, (g, g0) in enumerate(zip(other_grads, grads)):
            close(g, g0, FORWARD_RTOL, f"gradient {i} of tape run {k} vs run 1")
    if outputs:
        return loss, grads, [np.asarray(o.to_numpy(), dtype=np.float64) for o in prog.outputs]
    return loss, grads


def close(got, ref, rtol, what):
    """|got - ref| <= rtol (|ref| + max |ref|) elementwise: relative to each value and to the
    scale of the whole array (sums in a different order differ by rounding of that scale)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    err = np.abs(got - ref)
    tol = rtol * (np.abs(ref) + (np.max(np.abs(ref)) if ref.size else 0.0))
    bad = ~(err <= tol)
    if np.any(bad):
        k = int(np.argmax(np.where(bad, err / np.maximum(tol, 1e-300), 0)))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} values differ; worst: got "
            f"{got.reshape(-1)[k]!r}, reference {ref.reshape(-1)[k]!r}")


def directions(name, prog):
    rng = np.random.default_rng(sum(map(ord, name)) + 7)
    out = []
    for _ in range(DIRECTIONS):
        d = [rng.normal(size=p.value().shape) for p in prog.params]
        norm = np.sqrt(sum(float(np.sum(x * x)) for x in d))
        out.append([x / norm for x in d])
    return out


def finite_difference(prog, d):
    """d loss / ds of loss(params + s d) at s = 0, fourth-order central differences, from the
    program's forward pass."""
    base = [p.value() for p in prog.params]
    h = prog.fd_h
    vals = []
    try:
        for s in (2, 1, -1, -2):
            for p, b, x in zip(prog.params, base, d):
                p.set(b + s * h * x)
            vals.append(forward(prog)[1])
    finally:
        for p, b in zip(prog.params, base):
            p.set(b)
    return (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)


def directional(grads, d) -> float:
    return float(sum(np.sum(g * x) for g, x in zip(grads, d)))


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", params_of(PROGRAMS, "forward"))
def test_forward_matches_taichi(name):
    ref, ref_loss = forward(built(name, "taichi")[0])
    got, got_loss = forward(built(name, "tidal")[0])
    for i, (g, r) in enumerate(zip(got, ref)):
        close(g, r, FORWARD_RTOL, f"{name}: output {i}")
    close(got_loss, ref_loss, FORWARD_RTOL, f"{name}: loss")


@pytest.mark.parametrize("name", params_of([n for n in PROGRAMS if taichi_right(n)],
                                           "gradient"))
def test_gradient_matches_taichi(name):
    ref_loss, ref, ref_out = gradient(*built(name, "taichi"), outputs=True)
    got_loss, got, got_out = gradient(*built(name, "tidal"), outputs=True)
    close(got_loss, ref_loss, FORWARD_RTOL, f"{name}: loss in the tape")
    for i, (g, r) in enumerate(zip(got_out, ref_out)):
        close(g, r, FORWARD_RTOL, f"{name}: output {i} after the tape")
    for i, (g, r) in enumerate(zip(got, ref)):
        assert np.any(r != 0), f"{name}: Taichi's gradient {i} is zero (a vacuous check)"
        close(g, r, GRAD_RTOL, f"{name}: gradient {i}")


@pytest.mark.parametrize("name", params_of(PROGRAMS, "fd"))
def test_gradient_matches_finite_differences(name):
    ref_prog = built(name, "taichi")[0]
    ref_out, ref_loss = forward(ref_prog)
    loss, grads, outs = gradient(*built(name, "tidal"), outputs=True)
    close(loss, ref_loss, FORWARD_RTOL, f"{name}: loss in the tape vs Taichi's forward")
    rewritten = built(name, "tidal")[0].rewritten_by_backward
    for i, (g, r) in enumerate(zip(outs, ref_out)):
        if i not in rewritten:
            close(g, r, FORWARD_RTOL, f"{name}: output {i} after the tape vs Taichi's forward")
    for k, d in enumerate(directions(name, ref_prog)):
        fd = finite_difference(ref_prog, d)
        got = directional(grads, d)
        assert abs(fd) > 1e-8, f"{name}: the loss does not change along direction {k}"
        assert abs(got - fd) <= FD_RTOL * abs(fd), (
            f"{name}: direction {k}: tape {got!r}, finite differences {fd!r} "
            f"(relative error {abs(got - fd) / abs(fd):.2e})")


def taichi_errors(name):
    """Relative errors of ti.ad.Tape's gradient against finite differences, per direction."""
    prog, tape = built(name, "taichi")
    _, grads = gradient(prog, tape)
    out = []
    for d in directions(name, prog):
        fd = finite_difference(prog, d)
        out.append(abs(directional(grads, d) - fd) / abs(fd))
    return out


@pytest.mark.parametrize("name", [n for n in PROGRAMS if taichi_right(n)])
def test_taichi_reference_matches_finite_differences(name):
    """The reference is right where it is used as one."""
    errors = taichi_errors(name)
    assert max(errors) <= FD_RTOL, f"{name}: ti.ad.Tape vs finite differences: {errors}"


@pytest.mark.parametrize("name", [n for n in PROGRAMS if not taichi_right(n)])
def test_taichi_gradient_is_wrong_where_recorded(name):
    errors = taichi_errors(name)
    assert max(errors) > TAICHI_WRONG_MIN, (
        f"{name}: ti.ad.Tape agrees with finite differences (relative errors {errors}); "
        "TAICHI_WRONG is stale")


def _expected_programs():
    return [n for n in PROGRAMS if getattr(module(n), "EXPECTED", None)]


@pytest.mark.parametrize("name", params_of(_expected_programs(), "expected"))
def test_known_values(name):
    for which in ("taichi", "tidal"):
        prog, tape = built(name, which)
        exp = module(name).EXPECTED
        outs, loss = forward(prog)
        if "loss" in exp:
            close(loss, exp["loss"], FORWARD_RTOL, f"{name} ({which}): forward loss")
        for i, (o, e) in enumerate(zip(outs, exp.get("outputs", []))):
            if e is not None:
                close(o, e, FORWARD_RTOL, f"{name} ({which}): output {i}")
        if which == "taichi" and not taichi_right(name):
            continue
        loss, grads = gradient(prog, tape)
        if "loss" in exp:
            close(loss, exp["loss"], FORWARD_RTOL, f"{name} ({which}): loss in the tape")
        for i, (g, e) in enumerate(zip(grads, exp.get("grads", []))):
            if e is not None:
                close(g, e, FORWARD_RTOL, f"{name} ({which}): gradient {i}")
