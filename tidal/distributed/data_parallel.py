"""Data-parallel objectives: each rank evaluates its shard of the points (or samples), and one
``MPI_Allreduce`` per evaluation sums the loss and the flat gradient.

A *shardable* objective (a :class:`tidal.solvers.Problem`, :class:`tidal.surrogates.Supervised`,
:class:`tidal.surrogates.PhysicsInformed`, or any object with the same method) has
``shard(index, count)``: from then on its ``value_and_grad`` and ``value`` return shard
``index``'s part of the loss, such that the parts of shards ``0 .. count - 1`` sum to the
full-batch loss and gradient. It may also have ``shard_scalars(flat) -> (summed, same)``: named
scalars to report, those that add over shards and those every shard holds whole.

:class:`DataParallel` guarantees:

* **The full-batch numbers.** Its ``value_and_grad`` is the full-batch loss and gradient, up to
  the order of floating-point summation (1e-12 relative in float64), on every rank, as the same
  bits (the sum is one allreduce).
* **Lockstep, checked.** Every evaluation also sums a checksum of the parameters and of the
  objective's ``version``; if any rank evaluates at other parameters, or after another change of
  points or weights, every rank raises :class:`~tidal.distributed.RanksDisagree` at once
  instead of training apart.
* **No rank left hanging.** An exception in one rank's evaluation becomes
  :class:`~tidal.distributed.RankFailed` on every rank, with the failing rank's traceback.
* **One process is today's behaviour.** With one rank, ``shard(0, 1)`` leaves the objective
  whole and the sums are copies.
* **Optionally, the same bits on any number of ranks.** With ``shards=S`` the loss and gradient
  are the shards' parts added in shard order, whatever the number of ranks dividing ``S``, so
  Adam and L-BFGS follow the same path to the last bit on 1, 2, ... ranks.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np

from tidal.distributed import comm as _comm
from tidal.dsl.errors import TidalArgumentError

_FLAGS = 3  # failed, checksum, checksum squared


class DataParallel:
    """A shardable objective evaluated across the ranks of a communicator.

    Args:
        objective: a shardable objective (see the module docstring), the same on every rank
            (same model, same points or data, same seeds); this rank keeps its shard of it.
        comm: the communicator (default: :func:`~tidal.distributed.world`).
        shards: split the points into this many shards (a multiple of the rank count; each
            rank evaluates its shards one by one) and add their losses and gradients in shard
            order after one allgather: training then gives the same bits on any number of
            ranks dividing ``shards`` (a :class:`~tidal.solvers.Problem`). None (default): one
            shard per rank and one allreduce, the same to rounding only.

    Attributes:
        local: the objective, holding this rank's shard.
        comm: the communicator.
        size: the number of parameters.
        primary: whether this rank reports progress and writes checkpoints (rank 0); a
            :class:`~tidal.solvers.Trainer` reads it.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import Interval, DirichletBC, MLP, Problem, Trainer
        >>> from tidal.distributed import DataParallel
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def poisson(u_xx: td.f64, x: td.f64) -> td.f64:
        ...     return u_xx + 1.0
        >>> problem = Problem(Interval(0, 1), poisson, [DirichletBC(Interval(0, 1), 0.0, n=2)],
        ...                   MLP(1, width=8, depth=2, dtype=td.f64, seed=0), n_collocation=64)
        >>> full = problem.value_and_grad(problem.get_flat())
        >>> objective = DataParallel(problem)  # one rank here; under mpiexec, a shard each
        >>> loss, grad = objective.value_and_grad(problem.get_flat())
        >>> bool(np.isclose(loss, full[0], rtol=1e-12))
        True
        >>> _ = Trainer(objective, problem.get_flat(), progress=False).adam(steps=3)
    """

    def __init__(self, objective: Any, comm: _comm.Communicator | None = None, *,
                 shards: int | None = None):
        if not callable(getattr(objective, "shard", None)):
            raise TidalArgumentError(
                f"{type(objective).__name__} cannot be split across ranks (it has no "
                f"shard(index, count) method)",
                hint="use a tidal.solvers.Problem, tidal.surrogates.Supervised or "
                     "PhysicsInformed, or give your objective a shard(index, count) method "
                     "(see tidal.distributed.data_parallel)")
        self.comm = _comm.world() if comm is None else comm
        self.local = objective
        self.size = int(objective.size)
        self.primary = self.comm.primary
        ranks = self.comm.size
        self.shards = ranks if shards is None else shards
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or \
                self.shards < ranks or self.shards % ranks:
            raise TidalArgumentError(
                f"shards={shards!r} must be a multiple of the number of ranks ({ranks})",
                hint="e.g. shards=8 gives the same bits on 1, 2, 4 or 8 ranks")
        if self.shards != ranks and not callable(getattr(objective, "value_and_grad_shards",
                                                         None)):
            raise TidalArgumentError(
                f"{type(objective).__name__} cannot evaluate several shards separately "
                f"(no value_and_grad_shards), so shards= is not available for it",
                hint="leave shards unset (one shard per rank)")
        self.comm.agree([type(objective).__name__, self.size, _version(objective),
                         self.shards], "objective (type, parameter count, version, shards)")
        per = self.shards // ranks
        mine = self.comm.rank if per == 1 else list(range(self.comm.rank * per,
                                                          (self.comm.rank + 1) * per))
        self.comm.run_together("shard()", objective.shard, mine, self.shards)
        self.evaluations = 0
        self.seconds_communicating = 0.0

    def __getattr__(self, name: str) -> Any:
        # labels, term_weights, set_term_weights, version, set_flat, get_flat, predict, ...
        if name in ("local", "comm"):
            raise AttributeError(name)
        return getattr(self.local, name)

    # ------------------------------------------------------------------------------ objective
    def parameter_fields(self) -> None:
        """None: no evaluation in place (``Trainer`` then evaluates through
        :meth:`value_and_grad`, which sums the ranks' parts; the wrapped objective's own
        in-place evaluation would see this rank's part only)."""
        return None

    def value_and_grad(self, flat) -> tuple[float, np.ndarray]:
        """The full-batch loss and gradient at ``flat`` (one allreduce of ``size + 4`` numbers).

        Raises:
            RankFailed: the evaluation raised on some rank (raised on every rank).
            RanksDisagree: the ranks were not at the same parameters and objective version.
        """
        flat = np.asarray(flat, dtype=np.float64)
        if self.shards != self.comm.size:
            return self._value_and_grad_in_order(flat)
        try:
            loss, grad = self.local.value_and_grad(flat)
            values = np.concatenate([[float(loss)], np.asarray(grad, dtype=np.float64)])
            if values.shape != (self.size + 1,):
                raise TidalArgumentError(f"the objective's gradient has {values.size - 1} "
                                         f"entries, expected {self.size}")
            failure = None
        except Exception as e:  # noqa: BLE001 - every rank learns of it below
            values, failure = np.zeros(self.size + 1), e
        total = self._sum(values, flat, failure, "value_and_grad")
        return float(total[0]), total[1:]

    def _value_and_grad_in_order(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        """With ``shards`` set: every shard's loss and gradient gathered (one allgather) and
        added in shard order, so the bits depend on ``shards`` only, not on the rank count."""
        per = self.shards // self.comm.size
        try:
            parts = self.local.value_and_grad_shards(flat)
            rows = np.stack([np.concatenate([[float(loss)], np.asarray(g, dtype=np.float64)])
                             for loss, g in parts])
            if rows.shape != (per, self.size + 1):
                raise TidalArgumentError(f"value_and_grad_shards gave {rows.shape[0]} parts "
                                         f"of {rows.shape[1] - 1} entries, expected {per} of "
                                         f"{self.size}")
            failure = None
        except Exception as e:  # noqa: BLE001 - every rank learns of it below
            rows, failure = np.zeros((per, self.size + 1)), e
        check = (_checksum(flat, _version(self.local)), _version(self.local))
        start = time.perf_counter()
        gathered = self.comm.gather((rows, _comm.failure_note(failure), check))
        self.seconds_communicating += time.perf_counter() - start
        self.evaluations += 1
        _comm.raise_failures(f"{type(self.local).__name__}.value_and_grad",
                             [g[1] for g in gathered], failure)
        if any(g[2] != gathered[0][2] for g in gathered):
            self.comm.agree([f"checksum {check[0]:05x} at objective version {check[1]}"],
                            "parameters being evaluated (different initial parameters, or "
                            "points or weights changed on one rank only)")
        total = None
        for rank_rows, _, _ in gathered:
            for row in rank_rows:
                total = row.copy() if total is None else total + row
        return float(total[0]), total[1:]

    def value(self, flat) -> float:
        """The full-batch loss at ``flat`` (one allreduce)."""
        flat = np.asarray(flat, dtype=np.float64)
        try:
            values, failure = np.array([float(self.local.value(flat))]), None
        except Exception as e:  # noqa: BLE001
            values, failure = np.zeros(1), e
        return float(self._sum(values, flat, failure, "value")[0])

    def describe(self, flat) -> dict[str, float]:
        """The objective's named scalars over all shards (its ``shard_scalars``; none if it
        has no such method)."""
        scalars = getattr(self.local, "shard_scalars", None)
        if not callable(scalars):
            return {}
        flat = np.asarray(flat, dtype=np.float64)
        summed, same = self.comm.run_together("describe", scalars, flat)
        names = sorted(summed)
        self.comm.agree([names, sorted(same)], "names of the reported scalars")
        totals = self.comm.sum(np.array([summed[k] for k in names], dtype=np.float64))
        out = dict(zip(names, (float(v) for v in totals)))
        out.update({k: float(v) for k, v in same.items()})
        return out

    def stop_together(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on any rank (one small allreduce): a :class:`Trainer` asks this
        before stopping on a time limit or a callback, so that every rank stops at the same
        step."""
        total = self.comm.sum(np.array([1.0 if f else 0.0 for f in flags]))
        return tuple(bool(v > 0) for v in total)

    def write_once(self, write) -> None:
        """Run ``write()`` (a checkpoint, a figure) on rank 0 only; every rank returns once it
        is done, or raises :class:`~tidal.distributed.RankFailed` if it failed. A
        :class:`Trainer` writes its checkpoints this way."""
        self.comm.run_together("writing a file on rank 0",
                               write if self.primary else (lambda: None))

    @property
    def bytes_per_evaluation(self) -> int:
        """Bytes each rank contributes to one ``value_and_grad`` allreduce."""
        return 8 * (self.size + 1 + _FLAGS)

    # ------------------------------------------------------------------------------ internals
    def _sum(self, values: np.ndarray, flat: np.ndarray, failure: BaseException | None,
             what: str) -> np.ndarray:
        check = float(_checksum(flat, _version(self.local)))
        buffer = np.concatenate([values, [1.0 if failure else 0.0, check, check * check]])
        start = time.perf_counter()
        total = self.comm.sum(buffer)
        self.seconds_communicating += time.perf_counter() - start
        self.evaluations += 1
        n = self.comm.size
        if total[-3] > 0:
            _comm.raise_failures(f"{type(self.local).__name__}.{what}",
                                 self.comm.gather(_comm.failure_note(failure)), failure)
        if failure is not None:  # cannot happen (this rank's flag is in the sum); be explicit
            raise failure
        if total[-2] != n * check or total[-1] != n * check * check:
            self.comm.agree([f"checksum {_checksum(flat, 0):05x} at objective version "
                             f"{_version(self.local)}"],
                            "parameters being evaluated (different initial parameters, or "
                            "points or weights changed on one rank only)")
        return total[:-_FLAGS]


def _version(objective: Any) -> int:
    return int(getattr(objective, "version", 0))


def _checksum(flat: np.ndarray, version: int) -> int:
    """A 20-bit checksum of the parameters' bits and the version: small enough that sums of
    it and of its square over thousands of ranks stay exact in float64."""
    crc = zlib.crc32(np.ascontiguousarray(flat, dtype=np.float64).tobytes())
    crc = zlib.crc32(int(version).to_bytes(8, "little", signed=True), crc)
    return crc & 0xFFFFF


def shard_indices(index, count) -> list[int]:
    """The shard numbers ``index`` names (an int, or a list of distinct ints), each checked to
    lie in ``0 .. count - 1``: the one argument check of every objective's ``shard``.

    Raises:
        TidalArgumentError: a bool or non-integer, a number out of range, a repeated one.

    Example:
        >>> shard_indices(1, 3), shard_indices([0, 2], 4)
        ([1], [0, 2])
    """
    def whole(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    indices = [index] if whole(index) else list(index) if isinstance(
        index, (list, tuple, range)) else None
    if not whole(count) or count < 1 or not indices or not all(
            whole(k) and 0 <= k < count for k in indices) or len(set(indices)) != len(indices):
        raise TidalArgumentError(f"shard({index!r}, {count!r}): need 0 <= index < count "
                                 f"(an int, or a list of distinct ones)")
    return [int(k) for k in indices]


__all__ = ["DataParallel", "shard_indices"]
