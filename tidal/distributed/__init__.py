"""tidal past one process: data-parallel training and ensembles on MPI (mpi4py).

Launch any tidal script with ``mpiexec -n N python script.py`` (or ``srun``); run it with plain
``python`` and it is one rank, exactly as without this package (mpi4py is optional: ``pip
install "tidal[distributed]"``).

* :func:`init` starts tidal on this rank (CPU threads per rank, one GPU per rank).
* :class:`DataParallel` splits a PINN problem's points, or an operator network's batches,
  across the ranks; give it to :class:`tidal.solvers.Trainer` as the objective: Adam and L-BFGS
  run in lockstep (one allreduce per evaluation), rank 0 alone prints and writes checkpoints.
* :func:`ensemble` runs a function (a simulation, a fit, a data sample) over many items spread
  across the ranks and returns the results in order on every rank.
* :func:`world` is the communicator (``rank``, ``size``, ``sum``, ``gather``, ``broadcast``).

Layer: below the solvers, physics and surrogates (which use it), above the language; it knows
nothing of what it splits beyond the ``shard(index, count)`` method (docs/distributed.md).
"""

from tidal.distributed.comm import Communicator, RankFailed, RanksDisagree, world
from tidal.distributed.data_parallel import DataParallel, shard_indices
from tidal.distributed.ensembles import ensemble
from tidal.distributed.launch import init

__all__ = ["Communicator", "DataParallel", "RankFailed", "RanksDisagree", "ensemble", "init",
           "shard_indices", "world"]
