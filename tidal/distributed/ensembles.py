"""Ensembles: one function over many items (parameter sets, initial conditions, seeds), the
items spread over the ranks, the results gathered in order on every rank.

:func:`ensemble` guarantees:

* **The serial results.** ``ensemble(fn, items)`` equals ``[fn(x) for x in items]``: each item
  runs exactly once, on one rank, through the same code, and results come back in the order of
  ``items`` whatever the number of ranks.
* **Balanced by interleaving.** Rank ``r`` of ``R`` runs items ``r, r + R, r + 2R, ...``, so a
  sweep whose cost grows along the list is shared evenly.
* **No rank left hanging.** If ``fn`` raises on any rank, or returns what cannot be pickled,
  every rank raises :class:`~tidal.distributed.RankFailed` naming the item and showing its
  traceback, once every rank has finished its items (the gather is the only collective); one
  process raises the same for an unpicklable result, so a script fails alike on 1 or N ranks.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tidal.distributed import comm as _comm
from tidal.dsl.errors import TidalArgumentError


def ensemble(fn: Callable[[Any], Any], items: Sequence[Any], *,
             comm: _comm.Communicator | None = None, progress: bool | None = None,
             desc: str = "ensemble") -> list:
    """``[fn(x) for x in items]``, with the items shared among the ranks.

    Every rank must call it with the same number of items (checked); ``fn`` may be anything
    picklable-returning: a simulation, a fit, a data sample.

    Args:
        fn: the function of one item; its results must be picklable (arrays, numbers, dicts).
        items: the items, the same on every rank.
        comm: the communicator (default: :func:`~tidal.distributed.world`).
        progress: a progress bar on rank 0 (counting rank 0's items); None: when stderr is a
            terminal.
        desc: the progress bar's label.

    Returns:
        The results, in the order of ``items``, on every rank.

    Raises:
        RankFailed: ``fn`` raised on some rank (on every rank, after all finished).
        RanksDisagree: the ranks passed different numbers of items.

    Example:
        >>> from tidal.distributed import ensemble
        >>> ensemble(lambda k: k * k, range(5), progress=False)
        [0, 1, 4, 9, 16]
    """
    if not callable(fn):
        raise TidalArgumentError(f"ensemble needs a function of one item, got {fn!r}")
    try:
        items = list(items)
    except TypeError:
        raise TidalArgumentError(f"items must be a sequence, got {type(items).__name__}") \
            from None
    comm = _comm.world() if comm is None else comm
    comm.agree([len(items)], "number of ensemble items")
    mine = range(comm.rank, len(items), comm.size)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm.auto import tqdm

    results, failure, failed_item = {}, None, None
    with tqdm(total=len(mine), desc=desc, disable=not (progress and comm.primary)) as bar:
        for i in mine:
            try:
                # pickled here, on one rank and on many alike: a result that cannot travel
                # (a lambda, a Taichi field) fails as its item, not inside the gather
                results[i] = pickle.dumps(fn(items[i]))
            except Exception as e:  # noqa: BLE001 - every rank learns of it below
                failure, failed_item = e, i
                break
            bar.update(1)
    note = _comm.failure_note(failure)
    if note is not None:
        note = (f"item {failed_item}: {note[0]}", note[1])
    gathered = comm.gather((note, results if failure is None else {}))
    _comm.raise_failures(f"ensemble {desc!r}", [g[0] for g in gathered], failure)
    out: list = [None] * len(items)
    for _, part in gathered:
        for i, value in part.items():
            out[i] = pickle.loads(value)
    return out


__all__ = ["ensemble"]
