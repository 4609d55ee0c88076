"""Start tidal on one rank of a distributed run: the backend, its device, and how many CPU
threads this rank may use.

:func:`init` guarantees that ranks sharing a node do not fight over it: on the CPU each rank
gets ``threads`` threads (default: the node's cores divided among the ranks on it), for Taichi
and for NumPy's BLAS alike; on CUDA each rank of a node sees one GPU (``CUDA_VISIBLE_DEVICES``
set from its rank on the node, round robin, unless already set), before Taichi starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from tidal.distributed import comm as _comm
from tidal.dsl import runtime
from tidal.dsl.errors import TidalArgumentError


def node_rank(comm: _comm.Communicator) -> tuple[int, int]:
    """This rank's number among the ranks on its node, and how many ranks share the node."""
    if comm.mpi is None or comm.size == 1:
        return 0, 1
    from mpi4py import MPI

    local = comm.mpi.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return int(local.Get_rank()), int(local.Get_size())
    finally:
        local.Free()


def _gpu_count() -> int:
    """GPUs visible on this node: ``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``, else 1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return max(1, len([d for d in visible.split(",") if d.strip()]))
    if shutil.which("nvidia-smi"):
        try:
            listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                    timeout=20, check=False).stdout
            return max(1, sum(1 for line in listed.splitlines() if line.startswith("GPU")))
        except (OSError, subprocess.SubprocessError):
            return 1
    return 1


def init(arch: str = "cpu", *, threads: int | None = None, gpus_per_node: int | None = None,
         comm: _comm.Communicator | None = None, **options: Any) -> runtime.Config:
    """:func:`tidal.init` for one rank of a distributed run (also right for a single process).

    Args:
        arch: as for :func:`tidal.init` (``"cpu"``, ``"cuda"``, ``"gpu"``, ``"vulkan"``).
        threads: CPU threads of this rank's Taichi runtime; None: the node's cores divided
            among the ranks on the node (at least 1).
        gpus_per_node: GPUs to share among a node's ranks (round robin); None: as many as
            ``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi`` shows.
        comm: the communicator (default: :func:`~tidal.distributed.world`).
        **options: further arguments of :func:`tidal.init` (``default_fp``, ...).

    Returns:
        The active configuration.

    Example:
        >>> import tidal as td
        >>> from tidal import distributed
        >>> distributed.init("cpu", threads=1, default_fp=td.f64).arch
        'cpu'
    """
    comm = _comm.world() if comm is None else comm
    local, on_node = node_rank(comm)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // on_node)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise TidalArgumentError(f"threads must be a positive int, got {threads!r}")
    if arch in ("cuda", "gpu") and "CUDA_VISIBLE_DEVICES" not in os.environ and on_node > 1:
        count = gpus_per_node if gpus_per_node is not None else _gpu_count()
        os.environ["CUDA_VISIBLE_DEVICES"] = str(local % max(1, int(count)))
    limit_native_threads(threads)
    options.setdefault("cpu_max_num_threads", threads)
    return runtime.init(arch, **options)


def limit_native_threads(threads: int) -> bool:
    """Keep NumPy's and SciPy's BLAS and OpenMP pools to ``threads`` threads in this process.

    Their worker threads spin for a while after each call; with several ranks on a node they
    took the cores the other ranks' kernels needed (measured: a two-rank PINN training ran half
    as fast until they were limited). Sets ``OMP_NUM_THREADS`` and the BLAS variables for
    libraries loaded later (unless already set) and, with threadpoolctl installed (the
    ``distributed`` extra), limits the pools already loaded.

    Returns:
        Whether the loaded pools could be limited (threadpoolctl present).
    """
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=threads)
    return True


__all__ = ["init", "limit_native_threads", "node_rank"]
