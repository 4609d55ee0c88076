"""tidal.distributed with two MPI ranks (``mpiexec -n 2``, MPICH from PyPI) against one process.

The programs live in tests/mpi_programs.py; each run writes its results per rank, and these
tests compare them: the two ranks with each other (the same bits) and with a plain one-process
run (the full-batch numbers, to float64 rounding).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROGRAMS = Path(__file__).resolve().parent / "mpi_programs.py"
TIMEOUT = 600


def _mpiexec() -> str:
    """The mpiexec installed beside this Python (``pip install mpich``), else the PATH's."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else "mpiexec"


def _run(name: str, out: Path, ranks: int | None) -> subprocess.CompletedProcess:
    """Run a program of tests/mpi_programs.py with plain python (ranks None) or mpiexec."""
    command = [sys.executable, str(PROGRAMS), name, str(out)]
    if ranks is not None:
        command = [_mpiexec(), "-n", str(ranks)] + command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          check=False)


def _results(name: str, out: Path, ranks: int) -> list[dict]:
    return [dict(np.load(out / f"{name}_rank{r}.npz")) for r in range(ranks)]


def _one_and_two(name: str, one: Path, two: Path) -> tuple[dict, list[dict]]:
    """Run a program with plain python into ``one`` and on two ranks into ``two``; their
    results: the one process's, then each rank's."""
    for out, ranks in ((one, None), (two, 2)):
        out.mkdir(exist_ok=True)
        done = _run(name, out, ranks)
        assert done.returncode == 0, done.stderr[-4000:]
    return _results(name, one, 1)[0], _results(name, two, 2)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


@pytest.fixture(scope="module")
def pinn_runs(tmp_path_factory):
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    return (one, two, *_one_and_two("pinn", one, two))


def test_two_ranks_hold_identical_bits(pinn_runs):
    _, _, _, (rank0, rank1) = pinn_runs
    assert int(rank0["size"]) == int(rank1["size"]) == 2
    for key in ("loss0", "grad0", "pde0", "kappa0", "adam", "lbfgs", "refined", "added",
                "resampled", "losses", "steps"):
        assert np.array_equal(rank0[key], rank1[key]), key


def test_each_rank_holds_its_shard(pinn_runs):
    _, _, single, (rank0, rank1) = pinn_runs
    assert int(single["local_points"]) == 301 + 40  # after refinement, before resampling
    assert int(rank0["local_points"]) + int(rank1["local_points"]) == 341
    assert abs(int(rank0["local_points"]) - int(rank1["local_points"])) <= 1
    # one allreduce per evaluation: the gradient, the loss and three check numbers
    assert int(rank0["bytes"]) == 8 * (len(rank0["grad0"]) + 4)


def test_loss_and_gradient_equal_the_full_batch(pinn_runs):
    _, _, single, (rank0, _) = pinn_runs
    assert abs(rank0["loss0"] - single["loss0"]) <= 1e-12 * abs(single["loss0"])
    assert _relative(single["grad0"], rank0["grad0"]) <= 1e-12
    assert abs(rank0["pde0"] - single["pde0"]) <= 1e-12 * abs(single["pde0"])
    assert rank0["kappa0"] == single["kappa0"] == 0.5


def test_training_matches_one_rank(pinn_runs):
    """Adam's 100 steps agree to rounding. L-BFGS amplifies rounding: after 50 iterations the
    parameters of two runs that only add the same gradient terms in another grouping differ by
    up to several 1e-9 (relative 2-norm). Measured on one process: the collocation points in
    another order, 2.4e-10 to 3.2e-10; the gradient's per-point terms summed in 8 blocks instead
    of 5 (tidal.dsl.parallel's block count), 5.8e-9 (5.3e-9 and 5.1e-9 after the refinement and
    resampling steps); one process against two ranks, 3.4e-9 (3.1e-9, 3.0e-9). Bounded at
    2e-8: the summation order, not the ranks; a wrong share of the loss would already fail the
    1e-12 checks above and Adam's below."""
    _, _, single, (rank0, _) = pinn_runs
    assert _relative(single["adam"], rank0["adam"]) <= 1e-12
    assert _relative(single["lbfgs"], rank0["lbfgs"]) <= 2e-8
    assert np.array_equal(single["added"], rank0["added"])  # refinement picks the same points
    assert _relative(single["refined"], rank0["refined"]) <= 2e-8
    assert _relative(single["resampled"], rank0["resampled"]) <= 2e-8
    assert np.array_equal(single["steps"], rank0["steps"])
    # (the losses after L-BFGS: 1.8e-8 apart on one process between 8 and 5 blocks, 1.0e-8
    # between one process and two ranks)
    np.testing.assert_allclose(rank0["losses"], single["losses"], rtol=1e-7)


def test_a_stop_on_one_rank_stops_both_at_the_same_step(pinn_runs):
    _, _, _, (rank0, rank1) = pinn_runs
    assert list(rank0["callback_stop"]) == list(rank1["callback_stop"]) == ["7", "callback"]
    assert list(rank0["time_stop"]) == list(rank1["time_stop"])
    assert rank0["time_stop"][1] == "time limit" and 0 < int(rank0["time_stop"][0]) < 100_000


def test_with_shards_set_training_is_the_same_bits_on_any_number_of_ranks(tmp_path):
    """DataParallel(shards=4): the shards' parts added in shard order, so one process (holding
    the four shards) and two ranks (two each) take identical steps, L-BFGS included."""
    single, (rank0, rank1) = _one_and_two("pinn_shards", tmp_path / "one", tmp_path / "two")
    for key in ("loss0", "grad0", "adam", "lbfgs", "after", "losses"):
        assert np.array_equal(single[key], rank0[key]), key
        assert np.array_equal(rank0[key], rank1[key]), key


def test_only_rank0_reports_and_writes(pinn_runs):
    _, two, _, (rank0, rank1) = pinn_runs
    # a checkpoint both ranks name is written by rank 0 and read by both right after
    assert np.array_equal(rank0["resumed"], rank1["resumed"])
    assert int(rank0["resumed_step"]) == int(rank1["resumed_step"]) == 3
    assert (two / "pinn_checkpoint_rank0.npz").exists()
    assert not (two / "pinn_checkpoint_rank1.npz").exists()
    assert "adam" in (two / "pinn_stderr_rank0.txt").read_text()
    assert (two / "pinn_stderr_rank1.txt").read_text() == ""


def test_surrogate_training_matches_one_rank(tmp_path):
    """Mini-batches split over the ranks (a rank evaluates its rows of each batch), then a
    full-batch L-BFGS: the one-process run's numbers."""
    single, (rank0, rank1) = _one_and_two("surrogate", tmp_path / "one", tmp_path / "two")
    for key in ("loss0", "grad0", "adam", "lbfgs", "losses"):
        assert np.array_equal(rank0[key], rank1[key]), key
    assert abs(rank0["loss0"] - single["loss0"]) <= 1e-12 * single["loss0"]
    assert _relative(single["grad0"], rank0["grad0"]) <= 1e-12
    assert _relative(single["adam"], rank0["adam"]) <= 1e-12
    assert _relative(single["lbfgs"], rank0["lbfgs"]) <= 1e-10
    assert single["losses"][-1] < 0.5 * single["losses"][0]  # it trained


def test_ensemble_equals_serial_exactly(tmp_path):
    two = tmp_path / "two"
    single, ranks = _one_and_two("ensemble", tmp_path / "one", two)
    serial = single["trajectories"]
    rank0, rank1 = (r["trajectories"] for r in ranks)
    assert serial.shape == (64, 401, 2)
    assert np.array_equal(serial, rank0) and np.array_equal(serial, rank1)
    assert len(np.unique(serial[:, -1, 0])) == 64  # 64 different simulations
    # td.fit inside an MPI run prints its progress on rank 0 only
    assert "td.fit" in (two / "ensemble_stderr_rank0.txt").read_text()
    assert "td.fit" not in (two / "ensemble_stderr_rank1.txt").read_text()


def _raised_on_both(out: Path, name: str, text: str, message: str) -> None:
    """Both ranks raised ``message`` (each wrote what it raised), and the job's output shows it
    (once at least: the launcher may drop the last lines of one rank's output under load, as it
    did for one of two in a full test run, 2026-12-07)."""
    for rank in (0, 1):
        assert message in (out / f"{name}_error_rank{rank}.txt").read_text(), rank
    assert message in text


def test_a_failure_on_one_rank_ends_both(tmp_path):
    done = _run("fails", tmp_path, 2)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    # both ranks end with the same error, naming rank 1 and showing its traceback
    _raised_on_both(tmp_path, "fails", text, "RankFailed: Fragile.value_and_grad failed on "
                                             "rank 1: ValueError: boom on the fifth evaluation")
    assert "--- traceback on rank 1 ---" in text and "mpi_programs.py" in text


def test_an_ensemble_result_that_cannot_be_sent_is_an_error_on_both_ranks(tmp_path):
    done = _run("unpicklable", tmp_path, 2)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    _raised_on_both(tmp_path, "unpicklable", text,
                    "RankFailed: ensemble 'ensemble' failed on rank 1: item 3:")
    assert "pickle" in text.lower()


def test_an_error_outside_tidal_aborts_the_job(tmp_path):
    done = _run("escapes", tmp_path, 2)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "RuntimeError: an error outside tidal on rank 1" in text
    assert "ending every rank" in text


def test_ranks_that_disagree_are_told(tmp_path):
    done = _run("disagree", tmp_path, 2)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    _raised_on_both(tmp_path, "disagree", text,
                    "RanksDisagree: ranks disagree on the parameters being evaluated")


def test_one_process_never_imports_mpi4py():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from tidal import distributed\n"
            "c = distributed.world(); print(c.rank, c.size, c.primary)\n"
            "print(distributed.ensemble(lambda k: 2 * k, range(3), progress=False))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("[Taichi]")]
    assert lines == ["0 1 True", "[0, 2, 4]"]


def test_an_mpi_launch_without_mpi4py_is_an_error():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from tidal import distributed\n"
            "distributed.world()\n")
    env = dict(os.environ, PMI_SIZE="2", PMI_RANK="0")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode != 0
    assert "one of 2 started by an MPI launcher, but mpi4py is not installed" in done.stderr
    assert "pip install mpi4py" in done.stderr


def test_an_mpi4py_built_for_another_mpi_is_an_error():
    """Launched as one of 2, but MPI sees 1 process (each copy would train alone)."""
    code = ("import sys, types\n"
            "class World:\n"
            "    def Get_rank(self): return 0\n"
            "    def Get_size(self): return 1\n"
            "mpi4py = types.ModuleType('mpi4py'); mpi4py.MPI = types.SimpleNamespace("
            "COMM_WORLD=World())\n"
            "sys.modules['mpi4py'] = mpi4py\n"
            "from tidal import distributed\n"
            "distributed.world()\n")
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2")
    env.pop("PMI_SIZE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode != 0
    assert "one of 2 started by an MPI launcher, but MPI sees 1 process(es)" in done.stderr


def test_init_limits_blas_threads_too():
    """Spinning BLAS threads of one rank took the cores of the others (a two-rank training ran
    at half speed): init(threads=1) limits NumPy's pools as well as Taichi's."""
    code = ("import numpy as np\n"
            "import tidal as td\n"
            "from tidal import distributed\n"
            "from threadpoolctl import threadpool_info\n"
            "cfg = distributed.init('cpu', threads=1, default_fp=td.f64)\n"
            "print('pools', max([p['num_threads'] for p in threadpool_info()] or [1]))\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "OMPI_")) and not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "pools 1" in done.stdout
