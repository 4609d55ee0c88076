"""Checkpointed rollouts (``checkpoint_every=k``): every simulator that takes it gives the same
trajectories (whole rollout and step by step), loss, gradients and Hessian-vector products as
the same model storing every state, holds only a window of ``k + 1`` states in its fields, and
refuses a ``k`` that does not divide the steps."""

import warnings

import numpy as np
import pytest

import tidal as td
from tests.conftest import ARCH
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.physics import (
    MPM2D,
    AdvectionDiffusion1D,
    Burgers1D,
    Diffusion2D,
    Heat2D,
    MassSpring,
    Particles,
    RigidBoxes2D,
    Smoke2D,
    lattice,
)
from tidal.physics.mpm import block
from tidal.physics.simulator import square_root_divisor

from .reference import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _runtime():
    td.init(arch=ARCH, default_fp=td.f64)


def _diffusion(k, rng):
    n = 6
    sim = Diffusion2D(0.02 + 0.02 * rng.random((n, n)), rng.random((n, n)), dt=0.05, steps=12,
                      source=0.1 * rng.random((n, n)), smoothing=0.2, checkpoint_every=k)
    return sim, ["kappa", "source", "u0"]


def _heat(k, rng):
    return Heat2D(rng.random((5, 5)), steps=12, dt_over_h2=0.2, sensors=[[2, 2], [1, 3]],
                  alpha=0.8, checkpoint_every=k), ["alpha", "u0"]


def _advection(k, rng):
    x = np.arange(16) / 16
    return AdvectionDiffusion1D(0.8, 0.01, np.sin(2 * np.pi * x), dt=0.01, steps=12,
                                checkpoint_every=k), ["velocity", "diffusivity", "u0"]


def _burgers(k, rng):
    x = np.arange(16) / 16
    return Burgers1D(0.05, 0.5 + np.sin(2 * np.pi * x), dt=0.005, steps=12,
                     checkpoint_every=k), ["viscosity", "u0"]


def _springs(k, rng):
    pos, springs, pinned = lattice(3, spacing=0.2)
    sim = MassSpring(pos, springs, 60.0 + 10.0 * rng.random(len(springs)), steps=12, dt=0.01,
                     anchored=pinned, floor=-0.03, ball=((0.0, -0.08), 0.06),
                     velocities=np.tile([0.2, -1.0], (len(pos), 1)), checkpoint_every=k)
    return sim, ["stiffness", "damping", "x0", "v0"]


def _mpm(k, rng):
    pos = block((0.4, 0.22), (0.09, 0.09), 0.03)
    return MPM2D(pos, steps=12, E=150.0, grid=16, dt=1e-3,
                 velocities=np.tile([0.3, -2.0], (len(pos), 1)), checkpoint_every=k), \
        ["E", "x0", "v0"]


def _rigid(k, rng):
    push = np.zeros((12, 1, 2))
    push[:5, 0] = [1.0, 0.5]
    sim = RigidBoxes2D([[0.2, 0.1]], [[0.0, 0.2]], steps=12, dt=5e-3, restitution=0.5,
                       velocities=[[0.5, -3.0]], angles=[0.2], spins=[1.0], push=push,
                       checkpoint_every=k)
    return sim, ["mass", "restitution", "friction", "x0", "v0", "angle0", "omega0"]


def _smoke(k, rng):
    d0 = 0.2 * rng.random((8, 8))
    d0[2:4, 3:5] += 1.0
    return Smoke2D(d0, steps=12, dt=0.5, buoyancy=1.0, v0=0.3 * rng.standard_normal((8, 8, 2)),
                   smoothing=0.01, checkpoint_every=k), ["d0", "v0", "buoyancy", "source"]


def _particles(k, rng):
    x = 1.12 * np.argwhere(np.ones((3, 3))).astype(float) + 0.05 * rng.standard_normal((9, 2))
    return Particles("morse", x, steps=12, dt=0.01, velocities=0.2 * rng.standard_normal(x.shape),
                     depth=1.0, width=2.0, r0=1.1, checkpoint_every=k), \
        ["depth", "width", "mass", "x0", "v0"]


MODELS = {"diffusion": _diffusion, "heat": _heat, "advection": _advection,
          "burgers": _burgers, "mass-spring": _springs, "mpm": _mpm, "rigid": _rigid,
          "smoke": _smoke, "particles": _particles}


# their Hessian-vector products (tangent kernels, then their adjoints) take a minute or more to
# compile: compared in the slow run, gradients in CI
HEAVY = ("mpm", "rigid")
# checked in the slow run only (CI time): the base layer they share is covered by the others
SLOW_MODELS = ("heat", "advection", "burgers", "mpm", "rigid", "smoke")


def _everything(sim, names, rng, hvp=True):
    truth = sim.simulate()
    noisy = truth + 0.01 * rng.standard_normal(truth.shape)
    noisy.reshape(noisy.shape[0], -1)[3, 0] = np.nan  # one value not observed
    if isinstance(sim, Heat2D):
        noisy = noisy[:, sim.sensors[:, 0], sim.sensors[:, 1]]
    count = sim.observe(noisy)
    vectors = [rng.standard_normal(np.shape(sim.get(n))) for n in names]
    value, grads = sim.loss_grad(names)
    value2, grads2, hvps = sim.loss_grad_hvp(names, vectors) if hvp else (value, grads, [])
    return dict(whole=sim.simulate(), steps=sim.simulate(whole=False), count=count,
                value=value, value2=value2, grads=grads, grads2=grads2, hvps=hvps)


def _compare(model, hvp):
    stored, names = MODELS[model](None, np.random.default_rng(0))
    reference = _everything(stored, names, np.random.default_rng(1), hvp)
    for k in ((4, 3) if model == "diffusion" else (3,)):
        sim, _ = MODELS[model](k, np.random.default_rng(0))
        assert sim.window == k and sim.windows == 12 // k
        assert sim.states.shape[0] == k + 1  # the fields hold one window
        got = _everything(sim, names, np.random.default_rng(1), hvp)
        assert_close(got["whole"], reference["whole"], rtol=1e-12, what=f"{model} k={k}")
        assert_close(got["steps"], reference["whole"], rtol=1e-12, what=f"{model} steps")
        assert got["count"] == reference["count"]
        for key in ("value", "value2"):
            assert_close(got[key], reference[key], rtol=1e-12, what=f"{model} {key}")
        for key in ("grads", "grads2", "hvps"):
            for name, a, b in zip(names, got[key], reference[key]):
                assert_close(a, b, rtol=1e-10, what=f"{model} {key} of {name}, k={k}")


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow)
                                   if m in SLOW_MODELS else m for m in MODELS])
def test_checkpointed_runs_equal_the_stored_run(model):
    _compare(model, hvp=model not in HEAVY)


@pytest.mark.slow
@pytest.mark.parametrize("model", HEAVY)
def test_checkpointed_hessian_vector_products_of_the_heavy_models(model):
    _compare(model, hvp=True)


def test_a_fit_through_a_checkpointed_rollout_equals_the_stored_fit():
    fits = []
    for k in (None, 5):
        sim = Burgers1D(0.05, 0.5 + np.sin(2 * np.pi * np.arange(16) / 16), dt=0.005,
                        steps=20, checkpoint_every=k)
        data = sim.simulate()
        sim.set("viscosity", 0.08)
        fits.append(td.fit(sim, data, params=["viscosity"], method="Newton-CG", tol=1e-12,
                           progress=False))
    assert_close(fits[1].values["viscosity"], 0.05, rtol=1e-8, what="fitted viscosity")
    assert_close(fits[1].values["viscosity"], fits[0].values["viscosity"], rtol=1e-10)
    assert fits[1].iterations == fits[0].iterations


@pytest.mark.parametrize("k, words", [(5, "does not divide"), (0, "1..steps"),
                                      (13, "1..steps"), (True, "1..steps"),
                                      (2.0, "1..steps")])
def test_a_checkpoint_spacing_that_cannot_work_is_refused(k, words):
    x = np.arange(8) / 8
    with pytest.raises(TidalArgumentError, match=words):
        Burgers1D(0.05, np.sin(2 * np.pi * x), dt=0.005, steps=12, checkpoint_every=k)


def test_the_divisors_suggested_divide_the_steps():
    with pytest.raises(TidalArgumentError) as err:
        Diffusion2D(np.full((4, 4), 0.01), np.zeros((4, 4)), dt=0.1, steps=10_000,
                    checkpoint_every=99)
    hint = str(err.value).split("such as")[-1]
    suggested = [int(s) for s in hint.replace(",", " ").split() if s.isdigit()]
    assert suggested and all(10_000 % d == 0 for d in suggested) and 100 in suggested


def test_auto_picks_the_divisor_nearest_the_square_root():
    assert [square_root_divisor(s) for s in (12, 100, 20_000, 13, 1)] == [3, 10, 125, 1, 1]
    sim = Burgers1D(0.05, np.sin(2 * np.pi * np.arange(8) / 8), dt=0.005, steps=100,
                    checkpoint_every="auto")
    assert sim.window == 10 and sim.windows == 10


def test_a_run_too_big_to_store_warns_before_it_allocates_and_says_what_to_pass():
    u0 = np.zeros((64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TidalWarning)  # stop at the warning: nothing allocated
        with pytest.raises(TidalWarning, match="checkpoint_every=125"):
            Diffusion2D(np.full((64, 64), 0.01), u0, dt=0.01, steps=20_000)
        sim = Diffusion2D(np.full((64, 64), 0.01), u0, dt=0.01, steps=20_000,
                          checkpoint_every="auto")  # no warning
    assert sim.window == 125 and sim.states.shape[0] == 126
