"""The communicator: which process this is, how many there are, and the few collective
operations tidal uses (sum, gather, broadcast), over MPI through mpi4py or, in a single
process, over nothing at all.

:func:`world` guarantees:

* **A single process needs no MPI.** A script started as ``python script.py`` gets a
  :class:`Communicator` of one process that never imports mpi4py; every collective returns its
  input. So a program written for several ranks runs unchanged, with the same results, on one.
* **A launch under MPI is never mistaken for one process.** When the environment says this
  process is one of several started by ``mpiexec`` / ``mpirun`` / ``srun`` (the variables MPICH,
  Open MPI, Intel MPI, MVAPICH and Slurm set), mpi4py is imported and ``MPI.COMM_WORLD`` is used;
  if mpi4py is missing, or MPI sees fewer processes than were launched (mpi4py built for another
  MPI than the launcher's), :func:`world` raises a :class:`~tidal.TidalError` instead of letting
  every copy train the whole problem on its own.
* **A failure on one rank ends every rank.** Once several ranks run, an exception that escapes
  the script on one rank prints its traceback and then aborts the whole MPI job (Python's own
  handling would leave the other ranks waiting in their next collective forever). Errors that
  every rank raises together (:class:`RankFailed`) end each rank normally.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from tidal.dsl.errors import TidalError

#: Environment variables that hold the number of processes of an MPI (or Slurm) launch.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")


class RankFailed(TidalError):
    """Raised on every rank when the work of one or more ranks failed in a collective step.

    Attributes:
        failures: ``{rank: "ExceptionType: message"}`` of the ranks that failed.
    """

    def __init__(self, what: str, failures: dict[int, str], details: str = ""):
        self.failures = dict(failures)
        ranks = ", ".join(str(r) for r in sorted(failures))
        first = failures[min(failures)]
        message = f"{what} failed on rank {ranks}: {first}"
        if details:
            message += f"\n--- traceback on rank {min(failures)} ---\n{details.rstrip()}"
        super().__init__(message, hint="every rank stopped here; fix the error shown for the "
                                       "failing rank (the others only waited for it)")


class RanksDisagree(TidalError):
    """Raised on every rank when ranks that must hold the same thing (parameters, a problem's
    size, the number of items of an ensemble) do not."""


def launched_size(environ: dict | None = None) -> int:
    """The number of processes of the MPI launch this process belongs to, read from the
    environment (1 when it was not launched by an MPI starter).

    Example:
        >>> launched_size({"PMI_SIZE": "4"}), launched_size({})
        (4, 1)
    """
    env = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = env.get(name)
        if value and value.isdigit():
            return int(value)
    if env.get("SLURM_STEP_ID") is not None and str(env.get("SLURM_NTASKS", "")).isdigit():
        return int(env["SLURM_NTASKS"])
    return 1


class Communicator:
    """A group of processes (ranks) and the collectives tidal needs.

    Made by :func:`world`; ``Communicator()`` alone is the one-process communicator.

    Args:
        mpi_comm: an mpi4py communicator, or None for a single process.

    Attributes:
        rank: this process's number, 0 to ``size - 1``.
        size: the number of processes.

    Example:
        >>> import numpy as np
        >>> solo = Communicator()
        >>> solo.rank, solo.size, solo.sum(np.array([1.5, 2.0]))
        (0, 1, array([1.5, 2. ]))
    """

    def __init__(self, mpi_comm: Any = None):
        self._comm = mpi_comm
        self.rank = 0 if mpi_comm is None else int(mpi_comm.Get_rank())
        self.size = 1 if mpi_comm is None else int(mpi_comm.Get_size())

    @property
    def primary(self) -> bool:
        """Whether this is rank 0, the one that reports progress and writes files."""
        return self.rank == 0

    @property
    def mpi(self) -> Any:
        """The mpi4py communicator (None for a single process)."""
        return self._comm

    def sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum over ranks of a float64 array (one ``MPI_Allreduce``); every
        rank receives the same bits."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        if self._comm is None or self.size == 1:
            return values.copy()
        from mpi4py import MPI

        out = np.empty_like(values)
        self._comm.Allreduce(values, out, op=MPI.SUM)
        return out

    def gather(self, value: Any) -> list:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        if self._comm is None or self.size == 1:
            return [value]
        return self._comm.allgather(value)

    def broadcast(self, value: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``value`` on every rank."""
        if self._comm is None or self.size == 1:
            return value
        return self._comm.bcast(value, root=root)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self._comm is not None and self.size > 1:
            self._comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``); a single process exits."""
        if self._comm is not None and self.size > 1:
            self._comm.Abort(code)
        raise SystemExit(code)

    def agree(self, values: Sequence[Any], what: str) -> None:
        """Raise :class:`RanksDisagree` on every rank unless every rank passed equal ``values``
        (small picklable items, compared on every rank; one gather).

        Example:
            >>> Communicator().agree([3021], "parameter count")
        """
        mine = list(values)
        everyone = self.gather(mine)
        differ = [r for r, v in enumerate(everyone) if v != everyone[0]]
        if differ:
            def show(v: list) -> str:
                return str(v[0]) if len(v) == 1 else ", ".join(map(str, v))

            raise RanksDisagree(
                f"ranks disagree on the {what}: rank 0 has {show(everyone[0])}, rank "
                f"{differ[0]} has {show(everyone[differ[0]])}",
                hint="every rank must build the same model and problem (same sizes and seeds); "
                     "only the data each rank holds may differ")

    def run_together(self, what: str, work, *args: Any, **kwargs: Any) -> Any:
        """Run ``work(*args, **kwargs)`` on this rank and agree on success: when it raises on
        any rank, every rank raises :class:`RankFailed` naming the failing ranks and the first
        failure's traceback (the failing rank chains its own exception). Costs one gather of a
        small flag besides the work.
        """
        try:
            result, failure = work(*args, **kwargs), None
        except Exception as e:  # noqa: BLE001 - passed on to every rank below
            result, failure = None, e
        self.settle(what, failure)
        return result

    def settle(self, what: str, failure: BaseException | None) -> None:
        """Every rank states whether its part of ``what`` failed; raise :class:`RankFailed`
        everywhere if one did (see :meth:`run_together`)."""
        raise_failures(what, self.gather(failure_note(failure)), failure)


def failure_note(failure: BaseException | None) -> tuple[str, str] | None:
    """What other ranks are told of this rank's failure: ``(summary, traceback)``, or None."""
    if failure is None:
        return None
    return (f"{type(failure).__name__}: {failure}",
            "".join(traceback.format_exception(type(failure), failure, failure.__traceback__)))


def raise_failures(what: str, notes: Sequence, failure: BaseException | None) -> None:
    """Raise :class:`RankFailed` if any rank's note (None, or ``(summary, traceback)``) says it
    failed; ``failure`` is this rank's own exception (chained)."""
    failures = {r: n[0] for r, n in enumerate(notes) if n is not None}
    if not failures:
        return
    first = notes[min(failures)]
    raise RankFailed(what, failures, first[1]) from failure


_WORLD: Communicator | None = None


def world() -> Communicator:
    """The communicator of every process of this run (made once).

    Returns a one-process :class:`Communicator` unless the environment shows an MPI launch of
    several processes, or ``TIDAL_MPI=1`` asks for MPI.

    Raises:
        TidalError: launched as one of several MPI processes, but mpi4py is not installed.

    Example:
        >>> comm = world()
        >>> comm.rank < comm.size
        True
    """
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    launched = launched_size()
    wanted = os.environ.get("TIDAL_MPI", "").strip().lower()
    if wanted in ("0", "no", "false") or (launched == 1 and wanted not in ("1", "yes", "true")):
        _WORLD = Communicator()
        return _WORLD
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise TidalError(
            f"this process is one of {launched} started by an MPI launcher, but mpi4py is not "
            f"installed, so the ranks cannot work together",
            hint="pip install mpi4py (and an MPI, e.g. pip install mpich), or run one process "
                 "with plain python") from e
    comm = Communicator(MPI.COMM_WORLD)
    if launched > 1 and comm.size != launched:
        raise TidalError(
            f"this process is one of {launched} started by an MPI launcher, but MPI sees "
            f"{comm.size} process(es): mpi4py was built for another MPI than the launcher's, so "
            f"every copy would train alone",
            hint="launch with the mpiexec of the MPI mpi4py was built with (python -c 'import "
                 "mpi4py; print(mpi4py.get_config())'), or rebuild it: python -m pip install "
                 "--no-cache-dir --force-reinstall mpi4py")
    _WORLD = comm
    if comm.size > 1:
        _install_abort_hook(comm)
    return comm


def _install_abort_hook(comm: Communicator) -> None:
    """Make an exception that escapes the script on one rank end the whole job (after its
    traceback is printed), unless every rank raised it together (:class:`RankFailed`,
    :class:`RanksDisagree`)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if isinstance(value, (RankFailed, RanksDisagree)):
            previous(kind, value, tb)
            sys.stderr.flush()
            # every rank raised it: wait (a few seconds at most) until all have shown it, since
            # the launcher ends the others as soon as one process exits with an error
            request, waited = comm.mpi.Ibarrier(), 0.0
            while not request.Test() and waited < 5.0:
                time.sleep(0.01)
                waited += 0.01
            # the launcher forwards output asynchronously, and may drop what it has not read
            # yet once a rank has exited with an error: give it time to read every rank's
            # (0.5 s lost one rank's message once in a full test run on the 2-core machine,
            # 2026-12-06; this wait is paid only on this error path)
            time.sleep(2.0)
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stdout.flush()
        sys.stderr.write(f"{text}tidal: rank {comm.rank} of {comm.size} failed; ending every "
                         f"rank (MPI_Abort)\n")
        sys.stderr.flush()
        time.sleep(1.0)  # the launcher forwards output asynchronously: let it arrive first
        comm.mpi.Abort(1)

    sys.excepthook = hook


__all__ = ["Communicator", "RankFailed", "RanksDisagree", "SIZE_VARIABLES", "failure_note",
           "launched_size", "raise_failures", "world"]
