"""Adam on parameters that live in Taichi fields (FieldVector.adam and the Trainer's in-place
path for objectives with ``value_and_field_grads``): the update equals NumPy's Adam, the
finiteness check sees every NaN and infinity, and a Trainer run in place equals the same run
through the float64 ``value_and_grad`` path (steps, losses, evaluations, parameters, the
non-finite stop), also when a callback replaces the gradients between steps."""

import warnings

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tests.conftest import ARCH
from tidal.autodiff.parameters import FieldVector
from tidal.dsl import runtime
from tidal.solvers import Trainer
from tidal.surrogates import (
    FNO,
    DeepONet,
    PhysicsInformed,
    Supervised,
    diffusion_reaction_residual,
)

SHAPES = [(3,), (2, 4), (5, 300, 50)]  # the last one is copied row by row


def numpy_adam_step(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t):
    g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p * (1 - lr * decoupled) - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@pytest.mark.parametrize("dtype", [ti.f64, ti.f32])
def test_one_step_equals_numpy_and_clears_the_gradients(dtype):
    td.init(arch=ARCH, default_fp=td.f64)
    fields = [ti.field(dtype, shape=s, needs_grad=True) for s in SHAPES]
    vec = FieldVector(fields)
    rng = np.random.default_rng(1)
    p, g = rng.normal(size=vec.size), rng.normal(size=vec.size)
    m, v = rng.normal(size=vec.size), rng.uniform(0.1, 1.0, size=vec.size)
    if dtype == ti.f32:
        g = g.astype(np.float32).astype(np.float64)  # what the gradient fields hold
    vec.write(p)
    vec.write_grads(g)
    lr, b1, b2, eps, wd, decoupled, t = 0.01, 0.8, 0.99, 1e-6, 0.03, 0.1, 3
    want, want_m, want_v = numpy_adam_step(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t)
    out = np.empty_like(p)
    before = vec.gradients_version
    vec.adam(p, m, v, out, np.array([lr, b1, b2, eps, wd, decoupled, lr / (1 - b1 ** t),
                                     1 / (1 - b2 ** t)]))
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(m, want_m, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(v, want_v, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(vec.read(), out.astype(fields[0].to_numpy().dtype))
    np.testing.assert_array_equal(vec.read(grads=True), 0.0)
    assert vec.gradients_version == before + 1


@pytest.mark.parametrize("dtype", [ti.f64, ti.f32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_non_finite_gradient_is_seen(dtype, bad):
    td.init(arch=ARCH, default_fp=td.f64)
    vec = FieldVector([ti.field(dtype, shape=s, needs_grad=True) for s in SHAPES])
    g = np.random.default_rng(2).normal(size=vec.size) * 1e30  # large, but finite in f32
    vec.write_grads(g)
    assert vec.gradients_finite()
    for position in (0, 7, vec.size // 2, vec.size - 1):
        wrong = g.copy()
        wrong[position] = bad
        vec.write_grads(wrong)
        assert not vec.gradients_finite(), position
    vec.clear_grads()
    assert vec.gradients_finite()


class Host:
    """The objective without its in-place evaluation: the Trainer's float64 path."""

    def __init__(self, objective):
        self.o, self.size = objective, objective.size

    def value_and_grad(self, x):
        return self.o.value_and_grad(x)

    def value(self, x):
        return self.o.value(x)

    def set_flat(self, x):
        self.o.set_flat(x)

    @property
    def version(self):
        return self.o.version


def fno_objective(dtype, batch_size=8):
    net = FNO(2, 3, width=6, layers=2, seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    a, u = rng.normal(size=(24, 8, 8)), rng.normal(size=(24, 8, 8))
    return net, lambda: Supervised(net, a, outputs=u, loss="relative_l2",
                                   batch_size=batch_size, seed=0)


def deeponet_objective():
    net = DeepONet(5, 1, width=8, depth=2, p=4, seed=0, dtype=td.f64)
    rng = np.random.default_rng(0)
    v, y = rng.normal(size=(30, 5)), np.linspace(0, 1, 6)
    return net, lambda: Supervised(net, v, y, np.sin(v[:, :1] + y), batch_size=7, seed=0)


def physics_informed_objective():
    net = DeepONet(6, 2, width=7, depth=2, p=5, seed=0, dtype=td.f64)
    rng = np.random.default_rng(0)
    v, pts = rng.normal(size=(9, 6)), rng.uniform(0.1, 0.9, size=(10, 2))
    sources = rng.normal(size=(9, 10))
    return net, lambda: PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v, pts,
                                        sources, batch_size=4, seed=0)


@pytest.fixture(autouse=True)
def one_launch_form(monkeypatch):
    """Every launch in its parallel form. A kernel's serial form adds in another order where
    its parallel form adds atomically (an FNO's float32 gradients differ by up to 3e-8): left
    to choose, a replayed pass is timed in both forms once it is fast enough to try the
    serial one, and the two runs compared here, the second starting where the first left the
    trial, would take different forms at different steps and part by rounding (Adam makes
    that 1e-3 relative in some parameters by the end). With serial forms always, a kernel's
    first launch (through Taichi) is still parallel: the first run's first step differs."""
    monkeypatch.setenv("TIDAL_SERIAL_LAUNCHES", "never")


def both_ways(net, make, run, callbacks_of=lambda objective: ()):
    """``run(trainer)`` in place and through the float64 path, from the same start."""
    start = net.get_flat()
    out = []
    for in_place in (True, False):
        net.set_flat(start)
        objective = make()
        trainer = Trainer(objective if in_place else Host(objective), start, progress=False,
                          keep_best=False, log_every=3, callbacks=callbacks_of(objective))
        assert (trainer._parameter_fields() is not None) == in_place
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(trainer)
        out.append((trainer, [str(w.message) for w in caught]))
    return out


# (CI: the float32 FNO and the DeepONet; the float64 FNO (also in the callback tests) and the
# physics-informed DeepONet behind the slow marker)
@pytest.mark.parametrize("make_objective", [
    lambda: fno_objective(td.f32),
    pytest.param(lambda: fno_objective(td.f64), marks=pytest.mark.slow), deeponet_objective,
    pytest.param(physics_informed_objective, marks=pytest.mark.slow)],
    ids=["fno-f32", "fno-f64", "deeponet", "physics-informed"])
def test_a_run_in_place_equals_the_float64_path(cpu64, make_objective):
    net, make = make_objective()

    def run(trainer):
        trainer.adam(12, lr=1e-2, weight_decay=1e-3)
        trainer.adamw(6, lr=5e-3, weight_decay=1e-2)

    (fields_run, _), (host_run, _) = both_ways(net, make, run)
    np.testing.assert_allclose(fields_run.params, host_run.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fields_run.history.loss, host_run.history.loss, rtol=1e-12)
    assert fields_run.history.step == host_run.history.step
    assert fields_run.history.evaluations == host_run.history.evaluations


def test_the_model_holds_the_kept_parameters_after_a_run_in_place(cpu64):
    net, make = fno_objective(td.f32)
    objective = make()
    trainer = Trainer(objective, net.get_flat(), progress=False, keep_best=True)
    trainer.adam(15, lr=3e-2)
    assert trainer.best_step is not None
    np.testing.assert_array_equal(
        net.get_flat(), trainer.params.astype(np.float32).astype(np.float64))


def test_a_blow_up_stops_in_place_where_the_float64_path_stops(cpu64):
    net, make = fno_objective(td.f32)  # (steps of 1e20 overflow float32 at once)
    (fields_run, fields_warned), (host_run, host_warned) = both_ways(
        net, make, lambda trainer: trainer.adam(40, lr=1e20))
    assert host_run.stopped_reason.startswith("non-finite")
    assert fields_run.stopped_reason == host_run.stopped_reason
    assert fields_warned == host_warned and len(host_warned) == 1
    np.testing.assert_array_equal(fields_run.params, host_run.params)
    assert fields_run.history.step == host_run.history.step


@pytest.mark.parametrize("meddle", [pytest.param("clear", marks=pytest.mark.slow), "evaluate"])
def test_a_callback_that_replaces_the_gradients_does_not_change_the_run(cpu64, meddle):
    """A callback that clears the model's gradients (or evaluates the objective, which
    computes them anew) between steps: the in-place run evaluates the gradient again (one
    batch: the same gradient), so its steps equal those of the float64 path."""
    net, make = fno_objective(td.f64, batch_size=None)

    def callbacks_of(objective):
        def meddling(step, loss, params):
            if meddle == "clear":
                net.clear_grads()
            else:
                objective.value_and_grad(params + 0.1)
        return [meddling]

    (fields_run, _), (host_run, _) = both_ways(
        net, make, lambda trainer: trainer.adam(8, lr=1e-2), callbacks_of)
    np.testing.assert_allclose(fields_run.params, host_run.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fields_run.history.loss, host_run.history.loss, rtol=1e-12)


@pytest.mark.vulkan
def test_a_run_in_place_on_vulkan_equals_the_float64_path():
    """The SPIR-V code path (software Vulkan): the in-place kernels (float64 arrays beside
    float32 fields, the exponent test on the gradients' bits) compile and agree."""
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="vulkan", default_fp=td.f32)
    try:
        net, make = fno_objective(td.f32)
        (fields_run, _), (host_run, _) = both_ways(
            net, make, lambda trainer: trainer.adam(6, lr=1e-2))
        np.testing.assert_allclose(fields_run.params, host_run.params, rtol=1e-12, atol=1e-14)
        vec = FieldVector([ti.field(ti.f32, shape=(4, 3), needs_grad=True)])
        vec.write_grads(np.r_[np.zeros(11), np.inf])
        assert not vec.gradients_finite()
        vec.clear_grads()
        assert vec.gradients_finite()
    finally:
        td.init(arch=ARCH, default_fp=td.f64)


def test_a_sharded_or_data_parallel_objective_is_not_evaluated_in_place(cpu64):
    """A shard's in-place evaluation leaves only its part of the gradient in the fields (the
    ranks' parts must be summed first), so the Trainer takes the float64 path through
    DataParallel.value_and_grad; a shard's objective offers no fields either. (Two ranks
    training in place each on their own part disagreed on the parameters after one step:
    tests/test_distributed.py.)"""
    from tidal import distributed

    net, make = deeponet_objective()
    objective = make()
    assert objective.parameter_fields() is net.parameter_fields()
    wrapped = distributed.DataParallel(objective)  # one process: a rank of one
    assert wrapped.parameter_fields() is None
    assert Trainer(wrapped, net.get_flat(), progress=False)._parameter_fields() is None
    objective.shard(0, 2)
    assert objective.parameter_fields() is None
    assert Trainer(objective, net.get_flat(), progress=False)._parameter_fields() is None
