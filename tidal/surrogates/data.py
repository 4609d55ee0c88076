"""Data sets for neural operators: generate many samples of one kind in parallel, save them
as ``.npz`` with everything needed to regenerate them, and load them back.

A *kind* is a registered sampler ``sample(rng, **params) -> (input, output)`` with its default
parameters and the grids its arrays live on (:data:`KINDS`): ``"darcy"``, ``"burgers"``,
``"antiderivative"``, ``"diffusion_reaction"``. Sample ``i`` of a data set with seed ``seed``
is drawn from ``numpy.random.default_rng(SeedSequence([seed, i]))``, so every sample is a
function of ``(seed, i)`` alone: the arrays are bit-identical whatever the number of worker
processes or MPI ranks, and a data set of 2,000 samples begins with the data set of 1,000.

Under MPI (``mpiexec -n R``, :func:`tidal.distributed.world` of several ranks) :func:`generate`
spreads the samples over the ranks (:func:`tidal.distributed.ensemble`) instead of a process
pool, and every rank returns the whole data set; only rank 0 writes ``path``.

What is guaranteed: :func:`generate` returns a :class:`Dataset` whose ``inputs[i]`` and
``outputs[i]`` are sample ``i``; :func:`save_dataset` / :func:`load_dataset` round-trip it
exactly (arrays, grids, parameters, kind and seed), and loading checks the kind and format.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tidal.autodiff import parameters
from tidal.distributed import comm as _comm
from tidal.distributed import ensembles as _ensembles
from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import _checks, burgers, darcy, diffusion_reaction, integral

FORMAT = "tidal.surrogates.dataset/1"


@dataclass(frozen=True)
class Kind:
    """A registered data-set kind.

    Attributes:
        name: the kind's name.
        sample: ``sample(rng, **params) -> (input, output)``.
        defaults: every parameter ``sample`` takes, with its default value.
        grids: ``grids(params) -> {name: array}``, the coordinates of the arrays.
        description: one line: what the input and output are.
    """

    name: str
    sample: Callable
    defaults: dict
    grids: Callable
    description: str


def _unit(n: int, endpoint: bool) -> np.ndarray:
    return np.linspace(0.0, 1.0, n, endpoint=endpoint)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("darcy", darcy.darcy_sample,
         dict(s=32, alpha=2.0, tau=3.0, sigma=None, high=12.0, low=3.0, f=1.0,
              averaging="arithmetic"),
         lambda p: {"x": _unit(p["s"], True), "y": _unit(p["s"], True)},
         "input a(x, y) (s, s), output u(x, y) (s, s), nodes x_i = i / (s - 1)"),
    Kind("burgers", burgers.burgers_sample,
         dict(n=256, nu=0.1, t_end=1.0, alpha=2.5, tau=7.0, sigma=49.0, dt=1e-3, refine=1),
         lambda p: {"x": _unit(p["n"], False)},
         "input u(x, 0) (n,), output u(x, t_end) (n,), x_j = j / n periodic"),
    Kind("antiderivative", integral.antiderivative_sample,
         dict(m=100, length_scale=0.2, n_fine=1000),
         lambda p: {"x": _unit(p["m"], True)},
         "input v(x) (m,), output u(x) = int_0^x v (m,), x_i = i / (m - 1)"),
    Kind("diffusion_reaction", diffusion_reaction.diffusion_reaction_sample,
         dict(m=50, nx=100, nt=100, diffusivity=0.01, k=0.01, length_scale=0.2, n_fine=1000),
         lambda p: {"sensors": _unit(p["m"], True), "x": _unit(p["nx"], True),
                    "t": _unit(p["nt"], True)},
         "input f(x) at m sensors (m,), output u(t, x) (nt, nx)"),
)}


@dataclass
class Dataset:
    """Paired samples of one kind.

    Attributes:
        kind: the kind's name (a key of :data:`KINDS`).
        inputs: ``(n_samples, *input_shape)``.
        outputs: ``(n_samples, *output_shape)``.
        grids: coordinates of the arrays, by name.
        params: every parameter of the sampler (defaults filled in).
        seed: the data set's seed.

    Example:
        >>> data = generate("antiderivative", 2, seed=0, m=10, progress=False)
        >>> data.inputs.shape, data.outputs.shape, data.grids["x"].shape
        ((2, 10), (2, 10), (10,))
    """

    kind: str
    inputs: np.ndarray
    outputs: np.ndarray
    grids: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    seed: int = 0

    def __len__(self) -> int:
        return len(self.inputs)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a data set with seed ``seed``.

    Example:
        >>> a = sample_rng(1, 5).standard_normal()
        >>> b = sample_rng(1, 5).standard_normal()
        >>> a == b
        True
    """
    seed = _checks.integer("seed", seed, 0)
    index = _checks.integer("index", index, 0)
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _kind(name) -> Kind:
    if name not in KINDS:
        raise TidalArgumentError(f"unknown data-set kind {name!r}; the kinds are "
                                 f"{', '.join(map(repr, KINDS))}")
    return KINDS[name]


def _params(kind: Kind, params: dict) -> dict:
    unknown = sorted(set(params) - set(kind.defaults))
    if unknown:
        raise TidalArgumentError(f"{kind.name!r} data take no parameter(s) "
                                 f"{', '.join(unknown)}; its parameters are "
                                 f"{', '.join(kind.defaults)}")
    return {**kind.defaults, **params}


def _run(name: str, params: dict, seed: int, indices: list[int]):
    """Samples ``indices`` (module level: runs in worker processes)."""
    sample = KINDS[name].sample
    pairs = [sample(sample_rng(seed, i), **params) for i in indices]
    return indices, [p[0] for p in pairs], [p[1] for p in pairs]


def _one(name: str, params: dict, seed: int, index: int):
    """Sample ``index``'s ``(input, output)`` (module level: picklable)."""
    _, ins, outs = _run(name, params, seed, [index])
    return ins[0], outs[0]


def _start_method(method: str | None) -> str:
    available = multiprocessing.get_all_start_methods()
    if method is None:  # fork: workers need not re-import the caller's script
        return "fork" if "fork" in available else "spawn"
    return _checks.choice("start_method", method, tuple(available))


def generate(kind: str, n_samples: int, seed: int = 0, processes: int | None = None,
             path: str | os.PathLike | None = None, progress: bool | None = None,
             start_method: str | None = None, **params) -> Dataset:
    """Generate ``n_samples`` input/output pairs of a kind, in parallel across processes (or,
    under MPI, across the ranks).

    With several MPI ranks (:func:`tidal.distributed.world`), every rank must call it with the
    same arguments: sample 0 is drawn on every rank (which checks the parameters everywhere),
    the others are shared among the ranks by :func:`tidal.distributed.ensemble`, each rank in
    its own process (``processes`` and ``start_method`` are not used), and every rank returns
    the same whole data set; rank 0 alone writes ``path``, and the call returns on every rank
    once the file is written.

    Args:
        kind: ``"darcy"``, ``"burgers"``, ``"antiderivative"`` or ``"diffusion_reaction"``.
        n_samples: how many pairs (>= 1).
        seed: the data set's seed; sample ``i`` depends on ``(seed, i)`` only.
        processes: worker processes; None: one per CPU (at most one per sample); 1: in this
            process. The arrays do not depend on it.
        path: if given, the data set is also saved there (see :func:`save_dataset`).
        progress: show a tqdm progress bar (under MPI: on rank 0); None: when stderr is a
            terminal.
        start_method: how workers start (``multiprocessing`` start methods); None: ``"fork"``
            where the platform has it (the workers run NumPy/SciPy only, never Taichi, and need
            not re-import the calling script), else ``"spawn"``.
        **params: the kind's parameters (see :data:`KINDS` and each sampler: e.g. ``s`` for
            Darcy, ``n`` and ``nu`` for Burgers).

    Returns:
        The :class:`Dataset`.

    Raises:
        TidalArgumentError: an unknown kind or parameter, or a bad count.
        RankFailed: under MPI, drawing a sample or writing ``path`` failed on some rank
            (raised on every rank).

    Example:
        >>> data = generate("darcy", 4, seed=0, processes=1, s=16, progress=False)
        >>> data.inputs.shape, data.outputs.shape
        ((4, 16, 16), (4, 16, 16))
    """
    spec = _kind(kind)
    n_samples = _checks.integer("n_samples", n_samples, 1)
    seed = _checks.integer("seed", seed, 0)
    params = _params(spec, params)
    if processes is None:
        processes = min(os.cpu_count() or 1, n_samples)
    processes = _checks.integer("processes", processes, 1)
    if progress is None:
        progress = sys.stderr.isatty()
    # validate the parameters once here, with a sample that is then kept
    first = _run(kind, params, seed, [0])
    comm = _comm.world()
    if comm.size > 1:
        return _generate_ranks(comm, spec, kind, params, seed, n_samples, first, path,
                               progress)
    inputs: list = [None] * n_samples
    outputs: list = [None] * n_samples
    inputs[0], outputs[0] = first[1][0], first[2][0]
    from tqdm.auto import tqdm

    with tqdm(total=n_samples, desc=f"{kind} data", disable=not progress) as bar:
        bar.update(1)
        rest = list(range(1, n_samples))
        if processes == 1 or not rest:
            for i in rest:
                _, ins, outs = _run(kind, params, seed, [i])
                inputs[i], outputs[i] = ins[0], outs[0]
                bar.update(1)
        else:
            # chunks small enough for a smooth bar and for balance, large enough to amortise
            size = max(1, min(64, len(rest) // (8 * processes)))
            chunks = [rest[j:j + size] for j in range(0, len(rest), size)]
            context = multiprocessing.get_context(_start_method(start_method))
            try:
                with concurrent.futures.ProcessPoolExecutor(processes,
                                                            mp_context=context) as pool:
                    futures = [pool.submit(_run, kind, params, seed, c) for c in chunks]
                    for future in concurrent.futures.as_completed(futures):
                        indices, ins, outs = future.result()
                        for i, a, b in zip(indices, ins, outs):
                            inputs[i], outputs[i] = a, b
                        bar.update(len(indices))
            except concurrent.futures.process.BrokenProcessPool as e:
                raise TidalArgumentError(
                    f"a worker process of generate({kind!r}, ...) died ({e})",
                    hint="with start_method='spawn' the calling script must guard its code with "
                         "if __name__ == '__main__'; or pass processes=1") from e
    data = Dataset(kind, np.stack(inputs), np.stack(outputs), spec.grids(params), params, seed)
    if path is not None:
        save_dataset(path, data)
    return data


def _generate_ranks(comm: _comm.Communicator, spec: Kind, kind: str, params: dict,
                    seed: int, n_samples: int, first: tuple, path, progress: bool) -> Dataset:
    """:func:`generate` across the ranks of ``comm``: samples ``1 .. n_samples - 1`` by
    :func:`tidal.distributed.ensemble` (every rank gets them all, in order), ``path`` written
    by rank 0 (every rank learns whether that failed)."""
    rest = _ensembles.ensemble(functools.partial(_one, kind, params, seed),
                               range(1, n_samples), comm=comm, progress=progress,
                               desc=f"{kind} data")
    inputs = [first[1][0]] + [pair[0] for pair in rest]
    outputs = [first[2][0]] + [pair[1] for pair in rest]
    data = Dataset(kind, np.stack(inputs), np.stack(outputs), spec.grids(params), params, seed)
    if path is not None:
        comm.run_together(f"saving the data set to {os.fspath(path)}",
                          save_dataset if comm.primary else (lambda *_: None), path, data)
    return data


def save_dataset(path: str | os.PathLike, data: Dataset) -> None:
    """Save a data set as ``.npz``: ``inputs``, ``outputs``, one ``grid_<name>`` per grid, and
    ``kind``, ``seed``, ``params`` (JSON) and ``format`` as strings (no pickles); the folder is
    created if it does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> data = generate("antiderivative", 2, m=10, progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "anti.npz"
        >>> save_dataset(path, data)
        >>> load_dataset(path, kind="antiderivative").params["m"]
        10
    """
    if not isinstance(data, Dataset):
        raise TidalArgumentError(f"save_dataset takes a Dataset, got {type(data).__name__}")
    arrays = {f"grid_{name}": np.asarray(g) for name, g in data.grids.items()}
    np.savez(parameters.save_path(path), inputs=data.inputs, outputs=data.outputs,
             kind=np.array(data.kind), seed=np.array(str(data.seed)),
             params=np.array(json.dumps(data.params)), format=np.array(FORMAT), **arrays)


def load_dataset(path: str | os.PathLike, kind: str | None = None) -> Dataset:
    """Load a data set saved by :func:`save_dataset` (or :func:`generate` with ``path``).

    Args:
        path: the ``.npz`` file (the path given to :func:`save_dataset`, with or without
            ``.npz``).
        kind: if given, the kind the file must hold.

    Raises:
        TidalArgumentError: no such file, not a tidal data set, or another kind.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
        >>> _ = generate("darcy", 1, s=8, path=path, progress=False)
        >>> load_dataset(path).kind
        'darcy'
    """
    where, _, f = parameters.read_npz(path, "tidal.surrogates.save_dataset")
    if "format" not in f or str(f["format"]) != FORMAT:
        raise TidalArgumentError(f"{where} is not a tidal surrogate data set "
                                 f"(format {FORMAT!r})",
                                 hint="write data sets with tidal.surrogates.save_dataset")
    found = str(f["kind"])
    if kind is not None and found != kind:
        raise TidalArgumentError(f"{where} holds {found!r} data, not {kind!r}")
    grids = {name[len("grid_"):]: arr for name, arr in f.items() if name.startswith("grid_")}
    return Dataset(found, f["inputs"], f["outputs"], grids, json.loads(str(f["params"])),
                   int(str(f["seed"])))
