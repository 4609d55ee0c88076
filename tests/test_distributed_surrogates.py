"""Sharded surrogate objectives (``shard(index, count)``, for tidal.distributed.DataParallel),
in one process: the parts of shards 0 .. count - 1 of Supervised (DeepONet: mse, relative_l2;
FNO: those and h1, relative_h1) and PhysicsInformed sum to the unsharded loss and gradient
(1e-12 relative on losses, 1e-11 on gradients), batch after batch, full batch and mini-batch,
also when a shard has no row of a batch; the batch counter advances alike on every shard;
``shard(0, 1)`` changes nothing, bit for bit; the validation metrics stay whole; and
``generate`` under mpiexec returns the serial data set on every rank."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tidal as td
from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import (
    FNO,
    DeepONet,
    PhysicsInformed,
    PointCondition,
    Supervised,
    diffusion_reaction_residual,
)

STEPS = 5  # consecutive batches: more than one epoch at batch size 3 of 7 functions
# (batch size, shard count): a full batch; batches of 3, 3, 1 (two shards: 2 + 1, 1 + 0; three:
# 1 + 1 + 1, 1 + 0 + 0); batches of 2 among three shards (one shard always empty)
CASES = [(None, 2), (None, 3), (3, 2), (3, 3), (2, 3)]


def deeponet_data(loss):
    rng = np.random.default_rng(1)
    net = DeepONet(5, 1, width=6, p=4, dtype=td.f64, seed=2)
    v = rng.normal(size=(7, 5))
    x = np.linspace(0.0, 1.0, 9)
    out = np.sin(np.outer(v[:, 0], x)) + 0.3 * v[:, 1:2]
    return net, lambda: Supervised(net, v, x, out, loss=loss, seed=4)


def fno_data(loss):
    a = np.random.default_rng(3).normal(size=(7, 8))
    net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64, seed=1)
    return net, lambda: Supervised(net, a, outputs=a ** 2 + 0.5, loss=loss, seed=4)


def pi_data(loss=None):
    rng = np.random.default_rng(0)
    net = DeepONet(6, 2, width=7, p=5, activation="tanh", dtype=td.f64, seed=0)
    net.set_flat(rng.normal(scale=0.5, size=net.size))
    v = rng.normal(size=(7, 6))
    pts = rng.uniform(0.1, 0.9, size=(8, 2))
    ic = PointCondition(np.c_[np.linspace(0, 1, 4), np.zeros(4)], 0.0, "ic", weight=2.0)
    bc = PointCondition(np.c_[np.ones(3), np.linspace(0, 1, 3)], rng.normal(size=(7, 3)), "bc")
    residual, forcing = diffusion_reaction_residual(0.01, 0.01), rng.normal(size=(7, 8))
    return net, lambda: PhysicsInformed(net, residual, v, pts, forcing, [ic, bc], seed=4)


DATA = {"deeponet": deeponet_data, "fno": fno_data, "pi": pi_data}
_MADE: dict = {}


def objective(kind, loss=None):
    """One network and objective per (kind, loss) for the whole module (compiling is most of
    the time); tests re-shard it and set its batch size."""
    if (kind, loss) not in _MADE:
        net, make = DATA[kind](loss)
        _MADE[kind, loss] = net, make()
    return _MADE[kind, loss]


def assert_loss(part_sum, whole):
    assert abs(part_sum - whole) <= 1e-12 * abs(whole), (part_sum, whole)


def assert_grad(part_sum, whole):
    scale = np.max(np.abs(whole))
    assert scale > 0
    assert np.max(np.abs(part_sum - whole)) <= 1e-11 * scale


def run(objective, params, batch_size, index, count):
    """Shard ``objective`` as ``index`` of ``count``, restart its batches at ``batch_size``,
    and evaluate ``STEPS`` batches and the full-data value; also the counters after each."""
    objective.shard(index, count)
    objective.set_batch_size(batch_size)
    start = objective.version
    steps = []
    for _ in range(STEPS):
        loss, grad = objective.value_and_grad(params)
        steps.append((loss, grad.copy(), objective.batches, objective.version - start))
    return steps, objective.value(params)


def check_shards_sum_to_whole(kind, loss, batch_size, count):
    net, s = objective(kind, loss)
    params = net.get_flat() + 0.05 * np.random.default_rng(7).normal(size=net.size)
    whole_steps, whole_value = run(s, params, batch_size, 0, 1)
    parts = [run(s, params, batch_size, k, count) for k in range(count)]
    for step, (loss, grad, batches, version) in enumerate(whole_steps):
        shard_steps = [p[0][step] for p in parts]
        assert_loss(sum(s[0] for s in shard_steps), loss)
        assert_grad(sum(s[1] for s in shard_steps), grad)
        assert all(s[1].shape == (net.size,) for s in shard_steps)
        assert {(s[2], s[3]) for s in shard_steps} == {(batches, version)}
    assert_loss(sum(p[1] for p in parts), whole_value)
    return net, s


@pytest.mark.parametrize("loss", ["mse", "relative_l2"])
@pytest.mark.parametrize("batch_size,count", CASES)
def test_deeponet_shards_sum_to_the_whole_batch(loss, batch_size, count):
    check_shards_sum_to_whole("deeponet", loss, batch_size, count)


# (CI: every loss on the whole batch, the mean squared error on every split too; the other
# pairs behind the slow marker)
@pytest.mark.parametrize("loss,batch_size,count", [
    pytest.param(loss, b, c, marks=() if loss == "mse" or b is None else pytest.mark.slow,
                 id=f"{b}-{c}-{loss}")
    for loss in ("mse", "relative_l2", "h1", "relative_h1")
    for b, c in ((None, 3), (3, 2), (2, 3))])
def test_fno_shards_sum_to_the_whole_batch(loss, batch_size, count):
    check_shards_sum_to_whole("fno", loss, batch_size, count)


@pytest.mark.parametrize("batch_size,count", [(None, 2), (3, 3), (2, 3)])
def test_physics_informed_shards_sum_to_the_whole_batch(batch_size, count):
    net, s = check_shards_sum_to_whole("pi", None, batch_size, count)
    params = net.get_flat()
    s.shard(0, 1)
    whole = s.describe(params)
    parts = []
    for k in range(count):
        s.shard(k, count)
        summed, same = s.shard_scalars(params)
        assert same == {} and sorted(summed) == sorted(whole)
        parts.append(summed)
        assert s.describe(params) == whole  # stays whole: a validation metric
    for name, value in whole.items():
        assert_loss(sum(p[name] for p in parts), value)


def test_an_empty_shard_is_zero_without_kernels(monkeypatch):
    for kind, loss, kernels in [("deeponet", "mse", ["_data"]),
                                ("pi", None, ["_terms", "_features", "_prepare"])]:
        net, s = objective(kind, loss)
        s.shard(2, 3)
        s.set_batch_size(2)  # batches of 2: shard 2 never has a row
        for name in kernels:
            monkeypatch.setattr(s, name, None)  # any launch would fail
        loss, grad = s.value_and_grad(net.get_flat())
        assert loss == 0.0 and grad.shape == (net.size,) and not grad.any()
        assert s.batches == 1
        monkeypatch.undo()


@pytest.mark.parametrize("kind,loss", [("deeponet", "relative_l2"), ("fno", "relative_h1"),
                                       ("pi", None)])
def test_shard_0_of_1_is_bit_identical(kind, loss):
    net, make = DATA[kind](loss)
    params = net.get_flat() + 0.05
    plain, sharded = make(), make()
    plain.set_batch_size(3)
    sharded.set_batch_size(3)
    sharded.shard(0, 1)
    assert sharded.version == plain.version
    for _ in range(4):
        a, b = plain.value_and_grad(params), sharded.value_and_grad(params)
        assert a[0] == b[0] and np.array_equal(a[1], b[1])
        assert (plain.batches, plain.version) == (sharded.batches, sharded.version)
    assert plain.value(params) == sharded.value(params)
    if kind == "pi":
        assert plain.describe(params) == sharded.shard_scalars(params)[0]


def test_metrics_stay_whole_and_bad_shards_are_refused():
    net, s = objective("deeponet", "mse")
    params = net.get_flat()
    s.shard(0, 1)
    mse, rel = s.mse(params), s.relative_l2(params)
    version = s.version
    s.shard(1, 2)
    assert (s.mse(params), s.relative_l2(params)) == (mse, rel)
    assert s.version == version + 1  # a change of shard is a new objective for the Trainer
    s.shard(1, 2)
    assert s.version == version + 1
    for index, count in [(2, 2), (-1, 2), (0, 0), (0.0, 1), (True, 2)]:
        with pytest.raises(TidalArgumentError, match="shard"):
            s.shard(index, count)
    net, pi = objective("pi")
    pi.shard(0, 1)
    residual = pi.residual()
    pi.shard(1, 3)
    assert np.array_equal(pi.residual(), residual)


GENERATE = textwrap.dedent("""
    import sys
    import numpy as np
    from tidal import distributed
    from tidal.surrogates import generate, load_dataset
    from tidal.surrogates.data import KINDS, sample_rng
    path = sys.argv[1]
    data = generate("antiderivative", 7, seed=3, m=10, progress=False, path=path)
    kind = KINDS["antiderivative"]
    serial = [kind.sample(sample_rng(3, i), **{**kind.defaults, "m": 10}) for i in range(7)]
    comm = distributed.world()
    same = (np.array_equal(data.inputs, np.stack([s[0] for s in serial]))
            and np.array_equal(data.outputs, np.stack([s[1] for s in serial]))
            and np.array_equal(load_dataset(path).outputs, data.outputs))
    print(f"rank {comm.rank} of {comm.size}: {same}")
""")


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="needs mpiexec and mpi4py")
def test_generate_spreads_samples_over_ranks(tmp_path: Path):
    pytest.importorskip("mpi4py")
    script = tmp_path / "generate.py"
    script.write_text(GENERATE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    beside = Path(sys.executable).parent / "mpiexec"  # pip install mpich puts it there
    mpiexec = str(beside) if beside.exists() else "mpiexec"
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script),
                           str(tmp_path / "data.npz")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    # the two ranks' lines may reach the launcher's stdout run together: find them anywhere
    lines = sorted(re.findall(r"rank \d of \d: (?:True|False)", done.stdout))
    assert lines == ["rank 0 of 2: True", "rank 1 of 2: True"], done.stdout
