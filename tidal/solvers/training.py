"""Optimisers for PINN-style objectives on a flat float64 parameter vector: Adam (or AdamW),
then L-BFGS.

:class:`Trainer` drives any :class:`Objective` (an object with ``size``, ``value_and_grad`` and
``value``; optionally ``describe``) with Adam (the parameter and moment update runs in a Taichi
kernel over float64 arrays) and with SciPy's L-BFGS-B, in any order, one continuing from where
the other stopped. Adam on an objective whose parameters live in Taichi fields and which can be
evaluated in place (``parameter_fields()`` and ``value_and_field_grads()``, as the surrogates'
objectives are) reads each gradient from the fields and writes the new parameters into them in
the same launch: the same steps as through ``value_and_grad``, with no float64 copy of the
gradient per step. It guarantees:

* **Finite parameters.** ``trainer.params`` only ever holds parameters at which the loss and the
  gradient were finite. When an evaluation gives a non-finite loss or gradient (including an
  L-BFGS line-search trial point), training stops, the parameters are rolled back to the last
  accepted ones, the checkpoint (if any) is written with them, and a :class:`TidalWarning` names
  the optimiser and the step. Nothing raises; ``trainer.stopped_reason`` says why training
  stopped.
* **One step count.** History steps continue across optimiser calls and across a resume from a
  checkpoint. History entry ``(step s, loss L)`` means ``L`` is the objective at the parameters
  after ``s`` optimiser steps (Adam updates or accepted L-BFGS iterations) in total.
* **Determinism.** The same objective and starting parameters give the same history (steps,
  losses, optimisers, evaluation counts, scalars); only the wall times differ.
* **Atomic checkpoints.** A checkpoint is written to a temporary file and moved into place with
  :func:`os.replace`, so a crash never leaves a half-written file.
* **The best parameters.** With ``keep_best`` (the default), each optimiser call ends at the
  parameters with the lowest loss it evaluated at a step (or, given ``validation``, the lowest
  validation metric among the logged steps), not at its last iterate: a final Adam spike is
  never what the user gets. An objective with ``set_flat`` (a :class:`~tidal.solvers.Problem`)
  is left holding those parameters, so the model predicts with them.

Each call to :meth:`Trainer.adam` or :meth:`Trainer.adamw` starts fresh Adam moments (as
re-creating a PyTorch optimiser does); a run resumed from a checkpoint therefore matches an
uninterrupted one whenever the interruption falls between optimiser calls.

Several ranks run in lockstep: given a data-parallel objective
(:class:`tidal.distributed.DataParallel`, whose loss and gradient are the same bits on every
rank), every rank takes the same steps; only the objective's ``primary`` rank shows progress and
writes checkpoints, and a stop for a time limit or a callback on any rank stops every rank at
the same step (the objective's ``stop_together``).
"""

# No `from __future__ import annotations`: Taichi reads the kernel's annotations as objects.
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.optimize
import taichi as ti
from taichi.lang import impl as _ti_impl
from tqdm.auto import tqdm

from tidal.autodiff.parameters import FieldVector, adam_element
from tidal.dsl import direct, runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning
from tidal.solvers.schedules import Schedule

_FORMAT = "tidal-trainer-checkpoint-1"

#: Options of SciPy's L-BFGS-B that :meth:`Trainer.lbfgs` passes through in ``options``.
LBFGS_EXTRA_OPTIONS = frozenset({"maxls", "eps", "iprint", "disp", "finite_diff_rel_step"})

Callback = Callable[[int, float, np.ndarray], "bool | None"]
"""A training callback: ``callback(step, loss, params)``; returning True stops training."""

Validation = Callable[[np.ndarray], float]
"""A validation metric: ``validation(params) -> float``, lower is better (e.g. the relative L2
error against a reference solution)."""


class Objective(Protocol):
    """What :class:`Trainer` optimises: a scalar function of a flat float64 parameter vector.

    An objective may also define ``describe(flat) -> dict[str, float]``, named scalars to report
    (per-term losses, recovered coefficients of an inverse problem, ...). When it does, the
    progress line and the history include them at every logged step.
    An objective made of weighted loss terms may define ``labels`` (one per term),
    ``term_weights`` (an array in that order) and ``set_term_weights(array)``; Adam's loss-weight
    schedules (``Trainer.adam(weights=...)``) use them, and its ``version`` (an int that changes
    with its weights or points) keeps the trainer from reusing an evaluation across a change.
    An objective whose parameters live in Taichi fields may define ``parameter_fields()`` (their
    :class:`~tidal.autodiff.parameters.FieldVector`, or None) and ``value_and_field_grads()``
    (the loss at the parameters the fields hold, its gradient added into their zeroed
    gradients, then the next batch as ``value_and_grad``): Adam then updates the fields in
    place.

    Example:
        >>> import numpy as np
        >>> class Quadratic:
        ...     size = 2
        ...     def value_and_grad(self, flat):
        ...         return float(flat @ flat), 2.0 * flat
        ...     def value(self, flat):
        ...         return float(flat @ flat)
        >>> Quadratic().value_and_grad(np.array([1.0, 2.0]))[0]
        5.0
    """

    size: int

    def value_and_grad(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss and its gradient (float64, shape ``(size,)``) at ``flat`` (from the
        Trainer: a read-only copy, which is also the key of its evaluation cache)."""
        ...

    def value(self, flat: np.ndarray) -> float:
        """The loss at ``flat``."""
        ...


@dataclass
class History:
    """What a :class:`Trainer` recorded, one entry per logged step.

    Attributes:
        step: total optimiser steps done when the entry was recorded.
        loss: the objective at the parameters after ``step`` steps.
        time: wall-clock seconds of training so far (continues across optimiser calls).
        optimiser: ``"adam"``, ``"adamw"`` or ``"lbfgs"``.
        evaluations: objective evaluations (``value_and_grad`` calls) so far.
        scalars: the objective's ``describe()`` values, one list per name, each as long as
            ``step`` (NaN where a name was not reported).

    Example:
        >>> h = History()
        >>> h.append(0, 1.5, 0.0, "adam", 1, {"pde": 1.0})
        >>> h.append(10, 0.5, 0.1, "adam", 11, {"pde": 0.25})
        >>> len(h), h.scalars["pde"]
        (2, [1.0, 0.25])
        >>> History.from_arrays(h.as_arrays()) == h
        True
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    optimiser: list[str] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    scalars: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.step)

    def append(self, step: int, loss: float, time: float, optimiser: str, evaluations: int,
               scalars: dict[str, float] | None = None) -> None:
        """Add one entry, keeping every scalar list as long as ``step``.

        Example:
            >>> h = History()
            >>> h.append(0, 2.0, 0.0, "lbfgs", 1)
            >>> h.loss
            [2.0]
        """
        n = len(self.step)
        scalars = scalars or {}
        for name in scalars:
            if name not in self.scalars:
                self.scalars[name] = [math.nan] * n
        for name, values in self.scalars.items():
            values.append(float(scalars.get(name, math.nan)))
        self.step.append(int(step))
        self.loss.append(float(loss))
        self.time.append(float(time))
        self.optimiser.append(str(optimiser))
        self.evaluations.append(int(evaluations))

    def copy(self) -> "History":
        """An independent copy.

        Example:
            >>> h = History(); h.append(0, 1.0, 0.0, "adam", 1)
            >>> c = h.copy(); c.append(1, 0.5, 0.1, "adam", 2)
            >>> len(h), len(c)
            (1, 2)
        """
        return History(list(self.step), list(self.loss), list(self.time), list(self.optimiser),
                       list(self.evaluations), {k: list(v) for k, v in self.scalars.items()})

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The history as NumPy arrays (for :func:`numpy.savez`; no pickling needed).

        Keys: ``step``, ``evaluations`` (int64), ``loss``, ``time`` (float64), ``optimiser``
        (unicode), ``scalar_names`` (unicode, ``k`` names) and ``scalars`` (float64, shape
        ``(len(self), k)``).

        Example:
            >>> h = History(); h.append(3, 1.0, 0.5, "adam", 4, {"c": 2.0})
            >>> a = h.as_arrays()
            >>> a["step"].tolist(), a["scalars"].shape, a["scalar_names"].tolist()
            ([3], (1, 1), ['c'])
        """
        names = list(self.scalars)
        scalars = np.array([self.scalars[k] for k in names], dtype=np.float64).T
        return {
            "step": np.asarray(self.step, dtype=np.int64),
            "loss": np.asarray(self.loss, dtype=np.float64),
            "time": np.asarray(self.time, dtype=np.float64),
            "optimiser": np.asarray(self.optimiser, dtype=np.str_),
            "evaluations": np.asarray(self.evaluations, dtype=np.int64),
            "scalar_names": np.asarray(names, dtype=np.str_),
            "scalars": scalars.reshape(len(self.step), len(names)),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "History":
        """The inverse of :meth:`as_arrays`.

        Example:
            >>> h = History(); h.append(1, 0.25, 0.0, "lbfgs", 2)
            >>> History.from_arrays(h.as_arrays()).loss
            [0.25]
        """
        names = [str(k) for k in np.asarray(arrays["scalar_names"]).tolist()]
        scalars = np.asarray(arrays["scalars"], dtype=np.float64)
        return cls(
            step=[int(s) for s in np.asarray(arrays["step"]).tolist()],
            loss=[float(v) for v in np.asarray(arrays["loss"]).tolist()],
            time=[float(v) for v in np.asarray(arrays["time"]).tolist()],
            optimiser=[str(v) for v in np.asarray(arrays["optimiser"]).tolist()],
            evaluations=[int(v) for v in np.asarray(arrays["evaluations"]).tolist()],
            scalars={k: [float(v) for v in scalars[:, j].tolist()] for j, k in enumerate(names)},
        )


@ti.kernel
def _adam_kernel(p: ti.types.ndarray(dtype=ti.f64, ndim=1),
                 g: ti.types.ndarray(dtype=ti.f64, ndim=1),
                 m: ti.types.ndarray(dtype=ti.f64, ndim=1),
                 v: ti.types.ndarray(dtype=ti.f64, ndim=1),
                 updated: ti.types.ndarray(dtype=ti.f64, ndim=1),
                 h: ti.types.ndarray(dtype=ti.f64, ndim=1)):
    # One Adam step from p (left unchanged) into `updated`; the moments in place; `h` as
    # adam_element takes its arguments after the fourth
    for i in range(p.shape[0]):
        updated[i], m[i], v[i] = adam_element(p[i], g[i], m[i], v[i], h[0], h[1], h[2], h[3],
                                              h[4], h[5], h[6], h[7])


def _ensure_taichi() -> None:
    """Initialise tidal on the CPU in f64 when nothing has initialised Taichi yet."""
    if _ti_impl.get_runtime().prog is None:
        runtime.init("cpu", default_fp=runtime.F64)


class _NonFinite(Exception):
    """Internal: an evaluation gave a non-finite loss or gradient."""

    def __init__(self, step: int, what: str):
        super().__init__(what)
        self.step = step
        self.what = what


class _Stop(Exception):
    """Internal: a callback or the time limit stopped training (``reason`` says which)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise TidalArgumentError(f"{name} must be an integer {bound}, got {value!r}",
                                 hint=f"pass {name} as a plain int {bound}")
    return int(value)


def _positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < 0.0 or (x == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise TidalArgumentError(f"{name} must be a finite number {bound}, got {value!r}")
    return x


class Trainer:
    """Train a flat float64 parameter vector against an :class:`Objective`.

    Args:
        objective: the loss (see :class:`Objective`).
        params0: starting parameters, a finite 1-D array of length ``objective.size`` (copied).
        progress: print a progress line on stderr (one line, rewritten with ``'\\r'`` every
            ``log_every`` steps, ended with a newline by each optimiser call).
        checkpoint: a path to save parameters and history to (``.npz``), or None.
        checkpoint_every: also save every this many steps (None: only at the end of each
            optimiser call).
        callbacks: callables ``callback(step, loss, params) -> bool | None`` called after every
            step (Adam update or accepted L-BFGS iteration); returning True stops training.
        log_every: record a history entry (and refresh the progress line) every this many
            steps; the first and last step of each optimiser call are always recorded.
        history: a history to continue (e.g. from :meth:`load_checkpoint`; copied).
        time_limit: stop training once this trainer's optimiser calls have run this many seconds
            in all (checked after every step, so the last step may overrun it); None: no limit.
        keep_best: end each optimiser call at the best parameters it saw (see ``validation``)
            instead of the last ones.
        validation: a metric ``validation(params) -> float`` (lower is better) evaluated at every
            logged step and reported in the history and progress bar as ``validation``; with
            ``keep_best``, "best" means the lowest metric instead of the lowest loss.

    Attributes:
        stopped_reason: why the last optimiser call stopped: ``"max steps"`` (possibly with
            SciPy's message), ``"converged: <message>"``, ``"callback"``, ``"time limit"``,
            ``"non-finite loss at step N"`` / ``"non-finite gradient at step N"`` or
            ``"scipy: <message>"``; None before any training.
        best_step: the step whose parameters the last optimiser call ended at with
            ``keep_best`` (None before any training).
        best_value: the loss (or validation metric) at ``best_step``.

    Example:
        >>> import numpy as np
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> class Quadratic:
        ...     size = 2
        ...     def value_and_grad(self, x):
        ...         return float(x @ x), 2.0 * x
        ...     def value(self, x):
        ...         return float(x @ x)
        >>> trainer = Trainer(Quadratic(), np.array([1.0, -2.0]), progress=False)
        >>> _ = trainer.adam(steps=100, lr=0.05)
        >>> _ = trainer.lbfgs(max_iter=50)
        >>> bool(np.allclose(trainer.params, 0.0, atol=1e-8)), trainer.stopped_reason[:9]
        (True, 'converged')
        >>> trainer.history.step[-1] > 100
        True
    """

    def __init__(self, objective: Objective, params0: np.ndarray, *, progress: bool = True,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                 callbacks: Sequence[Callback] = (), log_every: int = 100,
                 history: History | None = None, time_limit: float | None = None,
                 keep_best: bool = True, validation: Validation | None = None):
        size = getattr(objective, "size", None)
        if not callable(getattr(objective, "value_and_grad", None)) or size is None:
            raise TidalArgumentError(
                f"objective {objective!r} does not look like an Objective",
                hint="give it an int attribute 'size' and a method value_and_grad(flat) -> "
                     "(float, ndarray)")
        size = _positive_int("objective.size", size)
        params = np.array(params0, dtype=np.float64, copy=True)
        if params.shape != (size,):
            raise TidalArgumentError(
                f"params0 has shape {params.shape}, but the objective has size {size}",
                hint=f"pass a flat 1-D array of {size} parameters")
        if not np.all(np.isfinite(params)):
            bad = int(np.flatnonzero(~np.isfinite(params))[0])
            raise TidalArgumentError(
                f"params0 is not finite (entry {bad} is {params[bad]})",
                hint="start from finite parameters (e.g. a fresh initialisation)")
        callbacks = list(callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise TidalArgumentError(f"callback {cb!r} is not callable",
                                         hint="pass functions callback(step, loss, params)")
        if validation is not None and not callable(validation):
            raise TidalArgumentError(f"validation must be a function of the parameters, got "
                                     f"{validation!r}",
                                     hint="pass validation=lambda params: error(params)")
        if history is not None and not isinstance(history, History):
            raise TidalArgumentError(f"history must be a History, got {type(history).__name__}")
        self.objective = objective
        self.size = size
        # a data-parallel objective (tidal.distributed) runs on several ranks; only its primary
        # rank prints and writes files
        self.primary = bool(getattr(objective, "primary", True))
        self.progress = bool(progress) and self.primary
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.checkpoint_every = (None if checkpoint_every is None
                                 else _positive_int("checkpoint_every", checkpoint_every))
        self.callbacks = callbacks
        self.log_every = _positive_int("log_every", log_every)
        self.stopped_reason: str | None = None
        self.time_limit = (None if time_limit is None
                           else _positive_float("time_limit", time_limit, allow_zero=True))
        self._params = params
        self._history = History() if history is None else history.copy()
        self._step = self._history.step[-1] if len(self._history) else 0
        self._evaluations = self._history.evaluations[-1] if len(self._history) else 0
        self._time0 = self._history.time[-1] if len(self._history) else 0.0
        self._time_origin = self._time0  # training time before this trainer (a resume)
        self._cache: tuple[_Point, float, np.ndarray] | None = None
        self.keep_best = bool(keep_best)
        self.validation = validation
        self.best_step: int | None = None
        self.best_value = math.nan
        self._moments: tuple[np.ndarray, np.ndarray, int] | None = None  # keep_moments=True

    # ----------------------------------------------------------------------------------- state
    @property
    def params(self) -> np.ndarray:
        """The current parameters (finite; a float64 copy)."""
        return self._params.copy()

    @property
    def history(self) -> History:
        """The recorded :class:`History` (the live object; it grows as training goes on)."""
        return self._history

    @property
    def step(self) -> int:
        """Total optimiser steps done so far (continues across calls and resumes)."""
        return self._step

    def save(self, path: str | os.PathLike) -> Path:
        """Write parameters and history to ``path`` (``.npz``) atomically.

        Returns:
            The path written.

        Example:
            >>> import numpy as np, tempfile, os
            >>> class Q:
            ...     size = 1
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> t = Trainer(Q(), np.array([3.0]), progress=False)
            >>> path = t.save(os.path.join(tempfile.mkdtemp(), "run.npz"))
            >>> Trainer.load_checkpoint(path)[0]
            array([3.])
        """
        path = Path(path)
        # a data-parallel objective writes on one rank and returns on every rank once the file
        # is in place (or raises on every rank if writing failed)
        write_once = getattr(self.objective, "write_once", None)
        if callable(write_once):
            write_once(lambda: self._write(path))
        else:
            self._write(path)
        return path

    def _write(self, path: Path) -> None:
        arrays = {f"history_{k}": v for k, v in self._history.as_arrays().items()}
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, format=np.array(_FORMAT), params=self._params, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    def load_checkpoint(path: str | os.PathLike) -> tuple[np.ndarray, History]:
        """Read a checkpoint written by :meth:`save`.

        Returns:
            ``(params, history)``; resume with ``Trainer(objective, params, history=history)``.

        Example:
            >>> import numpy as np, tempfile, os
            >>> class Q:
            ...     size = 2
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> t = Trainer(Q(), np.array([1.0, 2.0]), progress=False)
            >>> _ = t.adam(steps=3, lr=0.1)
            >>> params, history = Trainer.load_checkpoint(t.save(
            ...     os.path.join(tempfile.mkdtemp(), "c.npz")))
            >>> bool(np.array_equal(params, t.params)), history.step
            (True, [0, 3])
        """
        path = Path(path)
        if not path.is_file():
            raise TidalArgumentError(f"no checkpoint file at {str(path)!r}",
                                     hint="pass the path given as Trainer(checkpoint=...)")
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "format" not in keys or str(data["format"]) != _FORMAT or "params" not in keys:
                raise TidalArgumentError(f"{str(path)!r} is not a tidal Trainer checkpoint",
                                         hint="load files written by Trainer.save")
            params = np.array(data["params"], dtype=np.float64)
            history = History.from_arrays(
                {k[len("history_"):]: data[k] for k in keys if k.startswith("history_")})
        return params, history

    @classmethod
    def from_checkpoint(cls, objective: Objective, path: str | os.PathLike,
                        **kwargs: Any) -> "Trainer":
        """A trainer resumed from the checkpoint at ``path`` (other arguments as for
        :class:`Trainer`; ``checkpoint`` defaults to ``path``).

        Example:
            >>> import numpy as np, tempfile, os
            >>> class Q:
            ...     size = 1
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
            >>> t = Trainer(Q(), np.array([1.0]), progress=False, checkpoint=path)
            >>> _ = t.adam(steps=5, lr=0.1)
            >>> Trainer.from_checkpoint(Q(), path, progress=False).step
            5
        """
        params, history = cls.load_checkpoint(path)
        kwargs.setdefault("checkpoint", path)
        return cls(objective, params, history=history, **kwargs)

    # ------------------------------------------------------------------------------ optimisers
    def adam(self, steps: int, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999),
             eps: float = 1e-8, weight_decay: float = 0.0,
             schedule: Schedule | None = None,
             weights: dict[str, Schedule] | None = None,
             keep_moments: bool = False) -> History:
        """Run ``steps`` Adam updates from the current parameters.

        Standard Adam with bias correction (Kingma & Ba); ``weight_decay`` adds
        ``weight_decay * params`` to the gradient (L2 regularisation, as PyTorch's ``Adam``).
        The update of parameters and moments runs in a Taichi kernel over float64 arrays.
        Moments start at zero on every call. Uses ``steps + 1`` objective evaluations (one
        fewer when continuing from parameters just evaluated).

        Args:
            steps: number of updates (>= 0).
            lr: learning rate (> 0).
            betas: moment decay rates, each in [0, 1).
            eps: added to the square root of the second moment (> 0).
            weight_decay: L2 coefficient (>= 0).
            schedule: a learning-rate schedule (:mod:`tidal.solvers.schedules`, e.g.
                ``ExponentialDecay(0.1, every=5000)``); None: ``lr`` throughout.
            weights: loss-weight schedules, ``{label: schedule}`` for an objective with loss
                terms (a :class:`~tidal.solvers.Problem`; labels as in its ``labels``): the
                loss evaluated after update ``k`` weighs each term with that label by
                ``schedule(w0, k, steps)``, ``w0`` its weight when the call starts, e.g.
                ``{"pde": Linear(end=10.0)}``. The terms keep the last weights after the call
                (so a following ``lbfgs`` trains that loss), and the weights are recorded in
                the history as ``weight_<label>``. Losses at different weights are not
                comparable, so with ``keep_best`` and no ``validation`` the best parameters
                are chosen among the steps evaluated at the final weights.
            keep_moments: continue the moments (and the bias correction's step count) of the
                previous call made with ``keep_moments=True`` instead of starting them at zero,
                so that many short calls (a few steps per frame of a live demo) are the same
                Adam run as one long call; use it with ``keep_best=False`` (ending a call at
                its best parameters would break the run). Moments of other sizes, or left by
                a call that stopped at a non-finite loss, are not continued.

        Returns:
            The history.

        Example:
            >>> import numpy as np
            >>> class Q:
            ...     size = 3
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> t = Trainer(Q(), np.ones(3), progress=False, log_every=10)
            >>> t.adam(steps=20, lr=0.01).step
            [0, 10, 20]
            >>> t.stopped_reason
            'max steps'
        """
        return self._adam("adam", steps, lr, betas, eps, weight_decay, 0.0, schedule, weights,
                          keep_moments=keep_moments)

    def adamw(self, steps: int, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8, weight_decay: float = 1e-2,
              schedule: Schedule | None = None,
              weights: dict[str, Schedule] | None = None) -> History:
        """Run ``steps`` AdamW updates (Adam with decoupled weight decay, Loshchilov & Hutter)
        from the current parameters, as PyTorch's ``torch.optim.AdamW`` defines them.

        Update ``k`` first shrinks the parameters, ``p <- p - lr_k * weight_decay * p`` with
        the scheduled learning rate ``lr_k``, then takes :meth:`adam`'s step from the gradient
        alone (the decay never enters the moments, unlike ``adam(weight_decay=...)``, which
        adds ``weight_decay * p`` to the gradient). It is a method of its own rather than a
        flag of :meth:`adam` because the two decays mean different things and have different
        defaults (PyTorch's ``1e-2`` here, ``0`` there), and because the history should say
        which optimiser ran (``"adamw"``); both run the same code and the same kernel, in
        which the L2 and the decoupled coefficient are separate arguments (one of them 0).

        Args:
            steps: number of updates (>= 0).
            lr: learning rate (> 0).
            betas: moment decay rates, each in [0, 1).
            eps: added to the square root of the second moment (> 0).
            weight_decay: the decoupled decay coefficient (>= 0; 0 gives plain Adam).
            schedule: a learning-rate schedule; the decay uses the scheduled rate too.
            weights: loss-weight schedules, as for :meth:`adam`.

        Returns:
            The history (entries of this call are recorded as ``"adamw"``).

        Example:
            >>> import numpy as np
            >>> class Q:
            ...     size = 2
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> t = Trainer(Q(), np.ones(2), progress=False, log_every=5)
            >>> t.adamw(steps=10, lr=0.01, weight_decay=0.1).optimiser
            ['adamw', 'adamw', 'adamw']
        """
        return self._adam("adamw", steps, lr, betas, eps, 0.0, weight_decay, schedule, weights,
                          decoupled_name="weight_decay")

    def _adam(self, name: str, steps: int, lr: float, betas: tuple[float, float], eps: float,
              weight_decay: float, decoupled: float, schedule: Schedule | None,
              weights: dict[str, Schedule] | None, decoupled_name: str = "decoupled",
              keep_moments: bool = False) -> History:
        """Adam (``name`` "adam") or AdamW ("adamw"): the L2 coefficient ``weight_decay`` and
        the decoupled one ``decoupled`` (see :meth:`adamw`) go to the same kernel."""
        steps = _positive_int("steps", steps, allow_zero=True)
        lr = _positive_float("lr", lr)
        eps = _positive_float("eps", eps)
        weight_decay = _positive_float("weight_decay", weight_decay, allow_zero=True)
        decoupled = _positive_float(decoupled_name, decoupled, allow_zero=True)
        try:
            beta1, beta2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise TidalArgumentError(f"betas must be two numbers, got {betas!r}") from None
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise TidalArgumentError(f"betas must each lie in [0, 1), got {betas!r}",
                                     hint="the usual choice is betas=(0.9, 0.999)")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TidalArgumentError(
                f"schedule must be a tidal.solvers.schedules.Schedule, got {schedule!r}",
                hint="e.g. schedule=StepDecay(every=1000, factor=0.5), ExponentialDecay(...), "
                     "CosineDecay() or InverseTimeDecay(...)")
        weigh = self._weight_schedules(weights, steps)
        _ensure_taichi()
        run = _Run(self, name, steps)
        run.weigh = weigh
        p = self._params
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        done = 0  # updates before this call (keep_moments)
        if keep_moments and self._moments is not None and self._moments[0].shape == p.shape:
            m, v, done = self._moments[0].copy(), self._moments[1].copy(), self._moments[2]
        # each update goes into the other of two buffers and becomes the parameters once it
        # evaluated to finite values: the last good parameters stay in place, never copied
        trial = np.empty_like(p)
        # adam_element's arguments after the fourth; the rate and bias corrections per update
        hyper = np.array([lr, beta1, beta2, eps, weight_decay, decoupled, 0.0, 0.0])
        fields = self._parameter_fields()
        pending = False  # an update not yet evaluated (its cached evaluation dropped on errors)
        try:
            if weigh is not None:
                weigh(0)
            loss, g = run.evaluate(p, self._step)
            run.start(loss, p)
            if fields is not None:  # from here on the gradients stay in the fields
                fields.write(p)
                fields.write_grads(g)
                seen = fields.gradients_version
            for k in range(1, steps + 1):
                pending = True
                hyper[0] = lr if schedule is None else float(schedule(lr, k - 1, steps))
                hyper[6] = hyper[0] / (1.0 - beta1 ** (done + k))
                hyper[7] = 1.0 / (1.0 - beta2 ** (done + k))
                if fields is None:
                    direct.launch(_adam_kernel, p, g, m, v, trial, hyper)
                else:
                    if fields.gradients_version != seen:
                        # something (a callback) replaced the gradients since the evaluation at
                        # p: evaluate there again (on the next batch)
                        fields.write(p)
                        fields.clear_grads()
                        run.evaluate_in_fields(fields, self._step)
                    fields.adam(p, m, v, trial, hyper)
                if weigh is not None:
                    weigh(k)
                if fields is None:
                    loss, g = run.evaluate(trial, self._step + 1)
                else:
                    loss = run.evaluate_in_fields(fields, self._step + 1)
                    seen = fields.gradients_version
                p, trial = trial, p
                self._params = p
                pending = False
                self._step += 1
                if keep_moments:
                    self._moments = (m, v, done + k)
                run.accepted(loss, p, last=k == steps)
            run.finish("max steps")
        except _NonFinite as e:
            self._cache = None
            self._moments = None
            run.non_finite(e)
        except _Stop as e:
            run.finish(e.reason)
        except BaseException:
            if pending:  # e.g. KeyboardInterrupt inside the objective: keep evaluated params
                self._cache = None
            raise
        return self._history

    def lbfgs(self, max_iter: int = 5000, *, maxcor: int = 50,
              ftol: float = 1.0 * np.finfo(float).eps, gtol: float = 1e-8,
              maxfun: int | None = None, options: dict[str, Any] | None = None) -> History:
        """Run SciPy's L-BFGS-B (float64) from the current parameters.

        A step is an accepted L-BFGS iteration; line-search trial points count as evaluations
        only. Defaults follow Raissi et al.'s PINN code (``maxcor=50``, ``ftol`` = machine
        epsilon, ``maxls=50``).

        Args:
            max_iter: iteration limit (>= 0).
            maxcor: number of stored correction pairs.
            ftol: stop when the relative loss reduction falls below this.
            gtol: stop when the largest gradient component falls below this.
            maxfun: evaluation limit (default ``int(1.25 * max_iter)``, at least 10).
            options: further L-BFGS-B options, among :data:`LBFGS_EXTRA_OPTIONS`
                (e.g. ``{"maxls": 20}``).

        Returns:
            The history.

        Example:
            >>> import numpy as np
            >>> from scipy.optimize import rosen, rosen_der
            >>> class Rosen:
            ...     size = 2
            ...     def value_and_grad(self, x): return float(rosen(x)), rosen_der(x)
            ...     def value(self, x): return float(rosen(x))
            >>> t = Trainer(Rosen(), np.array([-1.2, 1.0]), progress=False)
            >>> _ = t.lbfgs(max_iter=500)
            >>> np.round(t.params, 6)
            array([1., 1.])
        """
        max_iter = _positive_int("max_iter", max_iter, allow_zero=True)
        maxcor = _positive_int("maxcor", maxcor)
        ftol = _positive_float("ftol", ftol, allow_zero=True)
        gtol = _positive_float("gtol", gtol, allow_zero=True)
        maxfun = (max(10, int(1.25 * max_iter)) if maxfun is None
                  else _positive_int("maxfun", maxfun))
        extra = dict(options or {})
        unknown = sorted(set(extra) - LBFGS_EXTRA_OPTIONS)
        if unknown:
            raise TidalArgumentError(
                f"unknown L-BFGS option(s) {unknown}",
                hint=f"max_iter, maxcor, ftol, gtol and maxfun are arguments; options may hold "
                     f"{sorted(LBFGS_EXTRA_OPTIONS)}")
        opts = {"maxiter": max_iter, "maxcor": maxcor, "ftol": ftol, "gtol": gtol,
                "maxfun": maxfun, "maxls": 50, **extra}
        run = _Run(self, "lbfgs", max_iter)
        x0 = self._params.copy()
        state = {"x": x0, "loss": math.nan}

        def evaluate(x: np.ndarray, step: int) -> tuple[float, np.ndarray]:
            # L-BFGS's curvature pairs and line search assume one fixed function: an objective
            # whose version moves during its own evaluation (a new mini-batch each call) would
            # make it stop early at a worse point, reporting convergence
            version = getattr(self.objective, "version", None)
            out = run.evaluate(x, step)
            if getattr(self.objective, "version", None) != version:
                raise TidalArgumentError(
                    "L-BFGS needs the same loss at every evaluation, but this objective "
                    "changed during one (it draws a new mini-batch per evaluation)",
                    hint="evaluate it on all the data first, e.g. "
                         "objective.set_batch_size(None), or train with adam")
            return out

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, g = evaluate(x, self._step + 1)
            return loss, g.copy()

        def callback(xk: np.ndarray) -> None:
            loss = run.cached_loss(xk)
            state["x"], state["loss"] = np.array(xk, dtype=np.float64), loss
            self._step += 1
            self._params[:] = xk
            run.accepted(loss, self._params, last=False)

        try:
            loss0, _ = evaluate(x0, self._step)
            state["loss"] = loss0
            run.start(loss0, x0)
            if max_iter == 0:
                run.finish("max steps")
                return self._history
            res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                          callback=callback, options=opts)
            message = str(res.message)
            if res.status == 0:
                reason = f"converged: {message}"
            elif res.status == 1:
                reason = f"max steps ({message})"
            else:
                reason = f"scipy: {message}"
            self._params[:] = state["x"]
            run.finish(reason, loss=state["loss"])
        except _NonFinite as e:
            self._params[:] = state["x"]
            self._cache = None
            run.non_finite(e)
        except _Stop as e:
            self._params[:] = state["x"]
            run.finish(e.reason)
        return self._history

    def fit(self, adam_steps: int = 0, lbfgs_iter: int = 0, lr: float = 1e-3,
            schedule: Schedule | None = None, weights: dict[str, Schedule] | None = None,
            **lbfgs_kwargs: Any) -> History:
        """Adam for ``adam_steps`` steps, then L-BFGS for up to ``lbfgs_iter`` iterations.

        L-BFGS is skipped when Adam stopped early (a callback or a non-finite loss).

        Args:
            adam_steps: Adam updates.
            lbfgs_iter: L-BFGS iteration limit (``max_iter``).
            lr: Adam learning rate.
            schedule: Adam's learning-rate schedule (see :meth:`adam`).
            weights: Adam's loss-weight schedules (see :meth:`adam`); L-BFGS then trains the
                loss at the final weights.
            **lbfgs_kwargs: further arguments of :meth:`lbfgs`.

        Returns:
            The history.

        Example:
            >>> import numpy as np
            >>> class Q:
            ...     size = 2
            ...     def value_and_grad(self, x): return float(x @ x), 2 * x
            ...     def value(self, x): return float(x @ x)
            >>> t = Trainer(Q(), np.array([1.0, 1.0]), progress=False, log_every=1)
            >>> h = t.fit(adam_steps=5, lbfgs_iter=20, lr=0.1)
            >>> h.optimiser[:6] == ["adam"] * 6, h.optimiser[-1]
            (True, 'lbfgs')
        """
        if adam_steps:
            self.adam(adam_steps, lr, schedule=schedule, weights=weights)
            if self.stopped_reason != "max steps":
                return self._history
        if lbfgs_iter:
            self.lbfgs(lbfgs_iter, **lbfgs_kwargs)
        return self._history

    # ------------------------------------------------------------------------------- internals
    def _best_name(self) -> str:
        return "loss" if self.validation is None else "validation"

    def _leave_objective_at_params(self) -> None:
        """Set the objective to the trainer's parameters where it holds parameters of its own
        (``set_flat``), so that the model predicts with what training kept."""
        set_flat = getattr(self.objective, "set_flat", None)
        if callable(set_flat):
            set_flat(self._params.copy())

    def _parameter_fields(self) -> "FieldVector | None":
        """The fields that hold the objective's parameters while it evaluates, when it
        evaluates in place (``parameter_fields()`` and ``value_and_field_grads()``, as
        :class:`~tidal.surrogates.Supervised` has): Adam then reads each gradient from them and
        writes the new parameters into them in one launch (:meth:`FieldVector.adam`), with no
        float64 copy of the gradient and no separate write of the parameters (16x16 FNO,
        1.06 million parameters: 34 -> 24 ms a step). None otherwise."""
        get = getattr(self.objective, "parameter_fields", None)
        if not (callable(get) and callable(getattr(self.objective, "value_and_field_grads",
                                                   None))):
            return None
        fields = get()
        return fields if fields is not None and fields.size == self.size else None

    def _weight_schedules(self, weights: dict[str, Schedule] | None,
                          steps: int) -> Callable[[int], None] | None:
        """Check ``weights`` (label -> schedule) against the objective's loss terms and return
        ``weigh(k)``, which sets the terms' weights for update ``k`` (None without schedules)."""
        if not weights:
            return None
        objective = self.objective
        if not all(hasattr(objective, a) for a in ("labels", "term_weights",
                                                   "set_term_weights")):
            raise TidalArgumentError(
                f"weights= schedules need an objective with loss terms (labels, term_weights, "
                f"set_term_weights), such as a tidal.solvers.Problem; got {objective!r}")
        if not isinstance(weights, dict):
            raise TidalArgumentError(f"weights must be a dict {{label: schedule}}, got "
                                     f"{weights!r}", hint='e.g. weights={"pde": Linear(end=10.0)}')
        labels = list(objective.labels)
        for label, schedule in weights.items():
            if label not in labels:
                raise TidalArgumentError(
                    f"weights names the loss term {label!r}, which the objective does not have; "
                    f"its terms are {', '.join(dict.fromkeys(labels))}")
            if not isinstance(schedule, Schedule):
                raise TidalArgumentError(
                    f"the weight schedule of {label!r} must be a tidal.solvers.schedules."
                    f"Schedule, got {schedule!r}",
                    hint="e.g. Linear(end=10.0), StepDecay(every=1000, factor=0.5), CosineDecay()")
        start = np.asarray(objective.term_weights, dtype=np.float64).copy()
        scheduled = [(k, weights[label]) for k, label in enumerate(labels) if label in weights]
        last = [None]

        def weigh(k: int) -> None:
            current = start.copy()
            for term, schedule in scheduled:
                w = float(schedule(start[term], k, steps))
                if not (math.isfinite(w) and w >= 0):
                    raise TidalArgumentError(
                        f"the weight schedule {schedule!r} of {labels[term]!r} gave {w!r} at "
                        f"update {k}; weights must be finite and >= 0")
                current[term] = w
            if last[0] is None or not np.array_equal(current, last[0]):
                objective.set_term_weights(current)  # a change of version only when they change
                last[0] = current

        return weigh

    def _key(self, x: np.ndarray) -> "_Point":
        """The cache key of an evaluation at ``x``: the parameters and the objective's
        ``version`` (a problem counts its changes of points and weights, so that an evaluation
        made before one is never taken for one after it). It refers to ``x``, not a copy."""
        return _Point(np.asarray(x, dtype=np.float64), int(getattr(self.objective, "version", 0)))

    def _evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray, bool]:
        """Loss and gradient at ``x`` (cached for the last point); the flag says whether the
        objective was called."""
        key = self._key(x)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2], False
        # one copy of x, read-only: the objective's argument and the kept key's parameters
        point = np.array(x, dtype=np.float64)
        point.flags.writeable = False
        try:
            loss, grad = self.objective.value_and_grad(point)
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise TidalArgumentError(
                "the objective's value_and_grad wrote into the parameters it was given (they "
                "are read-only: the trainer keeps them as the key of its evaluation cache)",
                hint="work on a copy: flat = flat.copy()") from e
        loss = float(loss)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != (self.size,):
            raise TidalArgumentError(
                f"the objective's value_and_grad returned a gradient of shape {grad.shape}, "
                f"expected ({self.size},)",
                hint="return the gradient as a flat array with one entry per parameter")
        grad = grad.copy()
        self._evaluations += 1
        self._cache = (_Point(point, key.version), loss, grad)
        return loss, grad, True

    def _describe(self, x: np.ndarray) -> dict[str, float]:
        describe = getattr(self.objective, "describe", None)
        if not callable(describe):
            return {}
        return {str(k): float(v) for k, v in describe(x.copy()).items()}


class _Point:
    """Parameters and an objective version, compared as a whole: the version, then every
    thousandth value (a different point is told apart without a pass over all of them), then
    all values."""

    __slots__ = ("x", "version")
    _STRIDE = 1000

    def __init__(self, x: np.ndarray, version: int):
        self.x, self.version = x, version

    def __eq__(self, other) -> bool:
        if not isinstance(other, _Point):
            return NotImplemented
        a, b = self.x, other.x
        return (self.version == other.version and a.shape == b.shape
                and np.array_equal(a[::self._STRIDE], b[::self._STRIDE])
                and np.array_equal(a, b))

    __hash__ = None


class _Run:
    """Bookkeeping of one optimiser call: history, progress bar, best parameters, checkpoints,
    callbacks."""

    def __init__(self, trainer: Trainer, optimiser: str, total: int):
        self.t = trainer
        self.optimiser = optimiser
        self.total = total
        self.offset = trainer._step
        self.started = time.perf_counter()
        self.time0 = trainer._time0
        self.last_loss = math.nan
        self.last_recorded = -1
        self.best: np.ndarray | None = None
        self.best_step: int | None = None
        self.best_value = math.inf
        self.best_cache = None  # the evaluation at the best parameters (no re-evaluation)
        self.best_version = None  # the objective's version when the best loss was evaluated
        self.weigh: Callable[[int], None] | None = None  # loss-weight schedules (adam)
        self.bar = None
        self.shown_scalars: dict = {}
        self.scalars_step = trainer._step
        if trainer.progress:
            self.bar = tqdm(total=total, desc=optimiser, unit="step", file=sys.stderr,
                            dynamic_ncols=True, leave=True, mininterval=0.2)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def now(self) -> float:
        return self.time0 + self.elapsed()

    def evaluate(self, x: np.ndarray, step: int) -> tuple[float, np.ndarray]:
        loss, grad, _ = self.t._evaluate(x)
        if not math.isfinite(loss):
            raise _NonFinite(step, f"non-finite loss at step {step}")
        if not np.all(np.isfinite(grad)):
            raise _NonFinite(step, f"non-finite gradient at step {step}")
        return loss, grad

    def evaluate_in_fields(self, fields: "FieldVector", step: int) -> float:
        """The objective's loss at the parameters ``fields`` hold, its gradient left in their
        gradients (zero before): ``evaluate`` for an objective that evaluates in place."""
        t = self.t
        loss = float(t.objective.value_and_field_grads())
        t._evaluations += 1
        t._cache = None  # (its gradient is in the fields, not in a float64 vector)
        if not math.isfinite(loss):
            raise _NonFinite(step, f"non-finite loss at step {step}")
        if not fields.gradients_finite():
            raise _NonFinite(step, f"non-finite gradient at step {step}")
        return loss

    def cached_loss(self, x: np.ndarray) -> float:
        cache = self.t._cache
        if cache is not None and cache[0] == self.t._key(x):
            return cache[1]
        return self.evaluate(np.array(x, dtype=np.float64), self.t._step + 1)[0]

    def consider(self, value: float, params: np.ndarray, by_loss: bool = False) -> None:
        """Keep ``params`` (at the current step) if ``value`` is the best so far. A loss is
        only compared with losses of the same objective version (same weights and points)."""
        version = int(getattr(self.t.objective, "version", 0))
        if by_loss and version != self.best_version:
            self.best_value, self.best_version = math.inf, version
        if math.isfinite(value) and value < self.best_value:
            self.best_value, self.best_step = value, self.t._step
            if self.best is None:
                self.best = params.copy()
            else:
                self.best[:] = params
            cache = self.t._cache
            self.best_cache = cache if cache is not None and cache[0] == self.t._key(params) \
                else None

    def record(self, loss: float, params: np.ndarray) -> None:
        t = self.t
        if self.last_recorded == t._step or (len(t._history) and t._history.step[-1] == t._step):
            return
        scalars = t._describe(params)
        if self.weigh is not None:
            for label, w in zip(t.objective.labels, t.objective.term_weights):
                scalars[f"weight_{label}"] = float(w)
        if t.validation is not None:
            metric = float(t.validation(params.copy()))
            scalars["validation"] = metric
            if t.keep_best:
                self.consider(metric, params)
        t._history.append(t._step, loss, self.now(), self.optimiser, t._evaluations, scalars)
        self.last_recorded = t._step
        self.show(loss, scalars)

    def start(self, loss: float, params: np.ndarray) -> None:
        self.last_loss = loss
        if self.t.keep_best and self.t.validation is None:
            self.consider(loss, params, by_loss=True)
        self.record(loss, params)

    def accepted(self, loss: float, params: np.ndarray, last: bool) -> None:
        t = self.t
        self.last_loss = loss
        if t.keep_best and t.validation is None:
            self.consider(loss, params, by_loss=True)
        if last or t._step % t.log_every == 0:
            self.record(loss, params)
        elif self.bar is not None:  # the loss at every step; the terms at logged steps
            self.show(loss, self.shown_scalars, self.scalars_step)
        if self.bar is not None:
            self.bar.update(1)
        if t.checkpoint is not None and t.checkpoint_every and t._step % t.checkpoint_every == 0:
            self.record(loss, params)
            t.save(t.checkpoint)
        stop = False
        for cb in t.callbacks:
            stop = bool(cb(t._step, loss, params.copy())) or stop
        late = t.time_limit is not None and self.now() - t._time_origin >= t.time_limit
        together = getattr(t.objective, "stop_together", None)
        if callable(together) and (t.callbacks or t.time_limit is not None):
            stop, late = together(stop, late)  # every rank of a data-parallel run stops here
        if stop:
            raise _Stop("callback")
        if late:
            raise _Stop("time limit")

    def finish(self, reason: str, loss: float | None = None) -> None:
        t = self.t
        loss = self.last_loss if loss is None else loss
        if math.isfinite(loss):  # not when the starting parameters were already non-finite
            self.record(loss, t._params)
        t.stopped_reason = reason
        t._time0 = self.now()
        if t.keep_best and self.best is not None:
            t.best_step, t.best_value = self.best_step, self.best_value
            if not np.array_equal(self.best, t._params):
                t._params[:] = self.best
                t._cache = self.best_cache
            if self.bar is not None and self.best_step != t._step:
                self.bar.set_postfix_str(f"{self.bar.postfix}, kept step {self.best_step}",
                                         refresh=True)
        t._leave_objective_at_params()
        if t.checkpoint is not None:
            t.save(t.checkpoint)
        if self.bar is not None:
            self.bar.close()

    def non_finite(self, e: _NonFinite) -> None:
        t = self.t
        self.finish(e.what)
        where = f"; checkpoint written to {str(t.checkpoint)!r}" if t.checkpoint else ""
        kept = (f"kept the last good parameters (step {t._step}, loss {self.last_loss:.6e})"
                if math.isfinite(self.last_loss) else
                "kept the starting parameters unchanged (the loss or gradient is already "
                "non-finite there; check the objective and params0)")
        if t.keep_best and t.best_step is not None and t.best_step != t._step:
            kept = f"kept the best parameters (step {t.best_step}, {t._best_name()} " \
                   f"{t.best_value:.6e})"
        warnings.warn(f"tidal: {self.optimiser} stopped at step {e.step}: {e.what}; {kept}{where}",
                      TidalWarning, stacklevel=3)

    def show(self, loss: float, scalars: dict[str, float], at: int | None = None) -> None:
        """The bar's line: the step and its loss, then the scalars (``describe``, validation)
        of the last logged step, marked with that step when it is an earlier one."""
        if self.bar is None:
            return
        if at is None:
            self.shown_scalars, self.scalars_step = scalars, self.t._step
        parts = [f"step {self.t._step}", f"loss {loss:.4e}"]
        terms = ", ".join(f"{k} {v:.4e}" for k, v in scalars.items())
        if terms:
            parts.append(terms if at is None or at == self.t._step else
                         f"(at step {at}) {terms}")
        self.bar.set_postfix_str(", ".join(parts), refresh=False)


__all__ = ["LBFGS_EXTRA_OPTIONS", "Callback", "History", "Objective", "Trainer"]
