"""Supervised training of an operator network on paired data, as an :class:`Objective` of
:class:`tidal.solvers.Trainer`.

:class:`Supervised` holds a data set of ``n`` input functions and their outputs and evaluates
the mean-squared error (or the mean relative L2 error) of an operator network and its gradient
in the network's flat parameters:

* a :class:`~tidal.surrogates.DeepONet`: inputs ``(n, m)`` sensor values, ``N`` output points
  shared by all of them (``(N, d)``), outputs ``(n, N)``. One evaluation is three kernel
  launches plus the parameter and result copies: the features (branch once per function, trunk
  once per point), the squared errors with their adjoint, and the features' adjoint
  (:func:`tidal.launch_with_adjoint`); a relative loss adds one forward launch of the errors.
* a :class:`~tidal.surrogates.FNO`: inputs ``(n, *grid)`` (or ``(n, *grid, channels)``),
  outputs ``(n, *grid)``, no points (the grid is the inputs'). One evaluation is the network's
  forward launches, the squared errors, and every launch's adjoint in reverse order
  (:class:`tidal.surrogates.fno.Batch`); the relative loss needs no extra launch.

Both are reached through one small interface (``errors(rows, norm)`` and
``errors_and_grad(rows, seeds_of, needs_sums, norm)``: each function's squared error norm, and
the same with the cotangents of those norms passed back), so batching, losses and the Trainer
protocol are written once. A loss (:data:`LOSSES`) is a :class:`Loss`: a discrete norm of the
error per function (``"l2"``: the sum of squares over the points; ``"h1"``: that plus the
sum of squares of the error's periodic central-difference gradient) and a reduction (the mean
over functions and points, or the mean of the per-function ratios ``||pred - out|| / ||out||``).

The H1 losses (FNO only) follow neuraloperator's ``H1Loss``: on a grid of ``S_a`` points along
axis ``a`` (spacing ``h_a = 1 / S_a``, the grid taken as periodic on ``[0, 1)``), the derivative
along ``a`` is the periodic central difference ``(e[i + 1] - e[i - 1]) / (2 h_a)``, and
``||e||_H1^2 = sum_x e(x)^2 + sum_a sum_x (D_a e)(x)^2``. ``"h1"`` is
``mean_i ||pred_i - out_i||_H1^2 / N`` (the H1 analogue of ``"mse"``) and ``"relative_h1"`` is
``mean_i ||pred_i - out_i||_H1 / ||out_i||_H1`` (neuraloperator's relative H1 loss, averaged
over functions rather than summed). They are computed in NumPy from the network's outputs and
enter the adjoint pass as the outputs' cotangent ``2 c_i (e + sum_a D_a^T D_a e)``.

Mini-batches: with ``batch_size`` below ``n``, every :meth:`Supervised.value_and_grad` call
uses the next batch of functions (all ``N`` points of each), then moves on; batches run
through a permutation of the functions per epoch drawn from ``(seed, epoch)`` alone, so they are
deterministic for a seed and every function appears exactly once per epoch. ``version`` grows by
one with each new batch, so a :class:`Trainer` never reuses an evaluation across batches.
:meth:`Supervised.value` is always the full-data loss.

Shards (:meth:`FunctionBatches.shard`, for :class:`tidal.distributed.DataParallel`): after
``shard(index, count)`` the objective evaluates only rows ``index, index + count, ...`` of each
batch (drawn from the same permutation on every shard), with every mean still divided by the
whole batch's size, so the losses and gradients of shards ``0 .. count - 1`` sum to the
unsharded ones (up to float rounding). The data stay whole on every shard, as with PyTorch's
``DistributedSampler``; ``shard(0, 1)`` is the unsharded objective, bit for bit.

Guarantees: the loss is the float64 combination of the per-function sums the kernels
accumulate, and the gradient is exact (to the network's precision) for that loss; bad shapes
raise :class:`tidal.TidalArgumentError` before any kernel runs.
"""

import math
from dataclasses import dataclass

import numpy as np
import taichi as ti

from tidal.distributed import data_parallel as _data_parallel
from tidal.dsl.errors import TidalArgumentError
from tidal.surrogates import deeponet as _deeponet
from tidal.surrogates import fno as _fno


@dataclass(frozen=True)
class Loss:
    """A data loss: a discrete norm of each function's error and how the functions combine.

    Attributes:
        name: the name ``Supervised(loss=...)`` takes.
        norm: ``"l2"`` (sum of squares over the points) or ``"h1"`` (that plus the squares of
            the periodic central-difference gradient, see the module docstring).
        relative: the mean of ``||pred_i - out_i|| / ||out_i||`` (True) or the mean of the
            squared norms over functions and points (False).

    Example:
        >>> LOSSES["relative_h1"]
        Loss(name='relative_h1', norm='h1', relative=True)
    """

    name: str
    norm: str
    relative: bool

    def combine(self, sums: np.ndarray, norms: np.ndarray, n_points: int,
                total: int | None = None) -> float:
        """The loss of ``k`` functions from their squared error norms ``sums`` (``(k,)``) and
        the norms of their targets (``(k,)``), as a mean over ``total`` functions (default
        ``k``; more when these are one shard's part of a batch of ``total``, so that the
        shards' parts add up to the batch's loss).

        Example:
            >>> import numpy as np
            >>> mse, sums, norms = LOSSES["mse"], np.array([1.0, 2.0, 3.0]), np.ones(3)
            >>> mse.combine(sums, norms, 2)
            1.0
            >>> mse.combine(sums[:2], norms[:2], 2, total=3) + mse.combine(sums[2:], norms[2:], 2,
            ...                                                            total=3)
            1.0
        """
        k = len(sums) if total is None else int(total)
        if not self.relative:
            return float(np.sum(sums)) / (k * n_points)
        return float(np.sum(np.sqrt(sums) / norms) / k)

    def seeds(self, sums, norms: np.ndarray, n_points: int,
              total: int | None = None) -> np.ndarray:
        """The cotangents of the squared error norms (``sums`` is only read when relative), for
        :meth:`combine` with the same ``total``.

        Example:
            >>> import numpy as np
            >>> LOSSES["mse"].seeds(None, np.ones(2), 5, total=4).tolist()
            [0.05, 0.05]
        """
        k = len(norms) if total is None else int(total)
        if not self.relative:
            return np.full(len(norms), 1.0 / (k * n_points))
        return 0.5 / (np.sqrt(np.maximum(sums, 1e-300)) * norms * k)


#: The losses :class:`Supervised` takes, by name.
LOSSES = {loss.name: loss for loss in (Loss("mse", "l2", False), Loss("relative_l2", "l2", True),
                                       Loss("h1", "h1", False), Loss("relative_h1", "h1", True))}


def periodic_gradient(fields: np.ndarray, grid_axes: int | None = None) -> list[np.ndarray]:
    """The periodic central differences of fields ``(n, *grid)`` along each grid axis, with
    spacing ``1 / S`` on an axis of ``S`` points: ``(f[i + 1] - f[i - 1]) * S / 2``.
    ``grid_axes``: how many axes after the first are the grid (default: all); the axes after
    them (the channels of ``(n, *grid, channels)``) are not differentiated.

    Example:
        >>> import numpy as np
        >>> x = np.arange(8) / 8
        >>> d, = periodic_gradient(np.sin(2 * np.pi * x)[None])
        >>> bool(np.allclose(d[0], 8 * np.sin(2 * np.pi / 8) * np.cos(2 * np.pi * x)))
        True
    """
    fields = np.asarray(fields, dtype=np.float64)
    last = fields.ndim if grid_axes is None else 1 + grid_axes
    return [(np.roll(fields, -1, axis=a) - np.roll(fields, 1, axis=a)) * (fields.shape[a] / 2.0)
            for a in range(1, last)]


def h1_squared_norms(fields: np.ndarray, grid_axes: int | None = None) -> np.ndarray:
    """Each field's ``sum f^2 + sum_a sum (D_a f)^2`` (``(n, *grid[, channels])`` -> ``(n,)``,
    summed over the channels too), with :func:`periodic_gradient`'s ``D_a`` along the
    ``grid_axes`` grid axes (default: every axis after the first).

    Example:
        >>> import numpy as np
        >>> h1_squared_norms(np.ones((2, 4, 4))).tolist()
        [16.0, 16.0]
    """
    fields = np.asarray(fields, dtype=np.float64)
    axes = tuple(range(1, fields.ndim))
    total = np.sum(fields ** 2, axis=axes)
    for d in periodic_gradient(fields, grid_axes):
        total = total + np.sum(d ** 2, axis=axes)
    return total


def _h1_norm_cotangent(fields: np.ndarray, grid_axes: int | None = None) -> np.ndarray:
    """The gradient of :func:`h1_squared_norms` per field: ``2 (f + sum_a D_a^T D_a f)``;
    ``D_a`` is antisymmetric, so ``D_a^T D_a f = -D_a D_a f``."""
    out = fields.copy()
    for a, d in zip(range(1, fields.ndim), periodic_gradient(fields, grid_axes)):
        out -= (np.roll(d, -1, axis=a) - np.roll(d, 1, axis=a)) * (fields.shape[a] / 2.0)
    return 2.0 * out


class _DeepONetData:
    """A DeepONet's data in its cartesian-product evaluator."""

    def __init__(self, model, inputs, points, outputs):
        if points is None:
            raise TidalArgumentError("a DeepONet needs points: Supervised(net, inputs, points, "
                                     "outputs)")
        self.model = model
        self.inputs = model.check_inputs(inputs)
        self.points = model.check_points(points)
        self.outputs = np.asarray(outputs, dtype=np.float64)
        if self.outputs.shape != (len(self.inputs), len(self.points)):
            raise TidalArgumentError(
                f"outputs must have shape (n, N) = ({len(self.inputs)}, {len(self.points)}) "
                f"(one row per input function, one column per point), got "
                f"{self.outputs.shape}")
        if not np.all(np.isfinite(self.outputs)):
            raise TidalArgumentError("outputs contain NaN or inf")
        self.n_points = len(self.points)
        self._c = model.cartesian(self.inputs, self.points)
        self._targets = ti.ndarray(model.dtype, shape=self.outputs.shape)
        self._targets.from_numpy(self.outputs.astype(self._c._store))

    def errors(self, rows: np.ndarray, norm: str = "l2") -> np.ndarray:
        """Each selected function's sum of squared errors (forward only)."""
        c = self._c
        c.forward(rows)
        c.squared_errors(self._targets, rows)
        return c.errors.to_numpy()[:len(rows)].astype(np.float64)

    def errors_and_grad(self, rows: np.ndarray, seeds_of, needs_sums: bool,
                        norm: str = "l2") -> np.ndarray:
        """The sums, with ``seeds_of(sums)`` as their cotangents accumulated into the
        parameters' gradients (a relative loss needs the sums first: one more forward)."""
        c = self._c
        seeds = seeds_of(self.errors(rows) if needs_sums else None)
        c.forward(rows, seeds)
        c.squared_errors(self._targets, rows, adjoint=True)
        c.features_adjoint(rows)
        return c.errors.to_numpy()[:len(rows)].astype(np.float64)


class _FNOData:
    """An FNO's data, evaluated in batches of Taichi storage (one per batch size)."""

    def __init__(self, model, inputs, points, outputs):
        if points is not None:
            raise TidalArgumentError("an FNO takes no points (the grid is the inputs'): "
                                     "Supervised(net, inputs, outputs=outputs)")
        self.model = model
        self.inputs = model.normalise_inputs(inputs)  # as the network sees them
        self._normalisers = model._normalisers()  # the ones the data were normalised with
        self.grid = self.inputs.shape[1:-1]
        self.outputs = model.normalise_outputs(model.check_outputs(outputs, len(self.inputs),
                                                                   self.grid))
        # values per function (the MSE's mean runs over every point and output channel)
        self.n_points = math.prod(self.grid) * model.out_channels

    def h1_squared_norms(self, fields: np.ndarray) -> np.ndarray:
        """:func:`h1_squared_norms` of output fields on the grid (channels summed)."""
        return h1_squared_norms(fields, len(self.grid))

    def _batch(self, rows: np.ndarray):
        now = self.model._normalisers()
        if now.keys() != self._normalisers.keys() or any(
                now[k] is not v for k, v in self._normalisers.items()):
            raise TidalArgumentError(
                "the FNO's normalisers changed after this Supervised was made (by "
                "set_normalisers or load): it holds the data normalised the old way, and "
                "training or evaluating on them would fit the wrong scale",
                hint="make the Supervised again after setting the normalisers")
        b = self.model.batch(len(rows), self.grid)
        b.load(self.inputs[rows], self.outputs[rows])
        b.forward()
        return b

    def errors(self, rows: np.ndarray, norm: str = "l2", chunk: int = 50) -> np.ndarray:
        """Each selected function's squared error norm (``"l2"`` by the squared-error kernel,
        ``"h1"`` in NumPy from the outputs)."""
        out = []
        for lo in range(0, len(rows), chunk):
            part = rows[lo:lo + chunk]
            b = self._batch(part)
            out.append(b.squared_errors() if norm == "l2" else
                       self.h1_squared_norms(b.outputs() - self.outputs[part]))
        return np.concatenate(out)

    def errors_and_grad(self, rows: np.ndarray, seeds_of, needs_sums: bool,
                        norm: str = "l2") -> np.ndarray:
        """The norms, with ``seeds_of(norms)`` as their cotangents passed back through the
        network (as the squared-error kernel's seeds, or as the outputs' cotangent)."""
        b = self._batch(rows)
        if norm == "l2":
            sums = b.squared_errors()
            b.backward(error_seeds=seeds_of(sums))
            return sums
        e = b.outputs() - self.outputs[rows]
        sums = self.h1_squared_norms(e)
        seeds = np.asarray(seeds_of(sums), dtype=np.float64)
        b.backward(output_cotangent=seeds.reshape((-1,) + (1,) * (e.ndim - 1))
                   * _h1_norm_cotangent(e, len(self.grid)))
        return sums


class FunctionBatches:
    """Mini-batches of input functions and the model's parameters, shared by the objectives
    over a set of functions (:class:`Supervised`, :class:`~tidal.surrogates.PhysicsInformed`).

    A subclass calls :meth:`_start_batches` with the number of functions and keeps ``model``,
    ``batch_size`` and ``seed``; batches run through a permutation of the functions per epoch
    drawn from ``(seed, epoch)`` alone.

    Shards: after :meth:`shard` ``(index, count)`` a subclass evaluates :meth:`local` rows of
    each batch (and of the full data in ``value``) and divides every mean by the whole batch's
    size, so the parts of shards ``0 .. count - 1`` add up to the unsharded loss and gradient.
    Every shard holds the whole data set (as PyTorch's ``DistributedSampler`` does) and draws the
    same batches, so ``batches`` and ``version`` advance identically on every shard.

    Attributes:
        shard_index, shard_count: this objective's shard (``0, 1``: whole).
    """

    @staticmethod
    def _checked_batch_size(batch_size, n: int) -> int:
        """``batch_size`` (a positive int, or None: all ``n``) capped at ``n``."""
        if batch_size is None:
            return n
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise TidalArgumentError(f"batch_size must be a positive int or None, got "
                                     f"{batch_size!r}", hint="None evaluates every function "
                                                             "at once (full batch)")
        return min(int(batch_size), n)

    def _checked_rows(self, rows) -> np.ndarray:
        """The function indices ``rows`` (None: all) as contiguous int32, each in ``[0, n)``
        (negative ones counted from the end, as numpy does)."""
        if rows is None:
            return self._all
        try:
            arr = np.asarray(rows)
        except ValueError:  # ragged
            arr = np.asarray(None)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            raise TidalArgumentError(
                f"rows must be a non-empty 1-D sequence of ints (function indices), got "
                f"{rows!r:.80}", hint=f"e.g. rows=[0, 3] or rows=np.arange({self.n})")
        bad = (arr < -self.n) | (arr >= self.n)
        if np.any(bad):
            raise TidalArgumentError(
                f"rows holds {arr[bad][0]}, outside the {self.n} functions (indices 0 .. "
                f"{self.n - 1}, or -{self.n} .. -1 from the end)")
        return np.ascontiguousarray(arr % self.n, dtype=np.int32)

    def _start_batches(self, n: int) -> None:
        self._all = np.arange(n, dtype=np.int32)
        self.version = 0
        self.batches = 0
        self._epoch, self._order = -1, self._all
        self.shard_index, self.shard_count = 0, 1

    def shard(self, index: int, count: int) -> None:
        """From now on evaluate shard ``index`` of ``count``: rows ``index, index + count, ...``
        of every batch (balanced: the shards' shares of a batch differ by at most one row).

        ``value_and_grad`` and ``value`` then return this shard's part of the loss and gradient
        (a shard with no rows in a batch: ``0.0`` and zeros, without launching a kernel); the
        parts of shards ``0 .. count - 1`` sum to the unsharded numbers, up to float rounding.
        The validation metrics (``Supervised.mse``, ``PhysicsInformed.residual``, ...) stay
        whole. ``shard(0, 1)`` is the unsharded objective; a change of shard bumps ``version``.

        Args:
            index: this shard, ``0 <= index < count``.
            count: the number of shards.

        Raises:
            TidalArgumentError: ``index`` or ``count`` out of range.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, Supervised
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> v = np.random.default_rng(0).normal(size=(5, 4))
            >>> whole = Supervised(net, v, [0.0, 1.0], v[:, :2]).value(net.get_flat())
            >>> parts = []
            >>> for k in range(2):
            ...     s = Supervised(net, v, [0.0, 1.0], v[:, :2])
            ...     s.shard(k, 2)
            ...     parts.append(s.value(net.get_flat()))
            >>> bool(np.isclose(sum(parts), whole, rtol=1e-12))
            True
        """
        indices = _data_parallel.shard_indices(index, count)
        if len(indices) != 1:
            raise TidalArgumentError(f"shard({index!r}, {count!r}): these objectives hold one "
                                     f"shard; pass one index")
        index, count = indices[0], int(count)
        if (index, count) != (self.shard_index, self.shard_count):
            self.shard_index, self.shard_count = index, count
            self.version += 1

    def local(self, rows: np.ndarray) -> np.ndarray:
        """This shard's rows of ``rows``: ``rows[shard_index::shard_count]`` (contiguous int32;
        ``rows`` itself when whole).

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, Supervised
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> s = Supervised(net, np.zeros((5, 4)), [0.0, 1.0], np.zeros((5, 2)))
            >>> s.shard(1, 2)
            >>> s.local(np.arange(5, dtype=np.int32)).tolist()
            [1, 3]
        """
        if self.shard_count == 1:
            return rows
        return np.ascontiguousarray(rows[self.shard_index::self.shard_count], dtype=np.int32)

    def batch(self, k: int) -> np.ndarray:
        """The function indices of batch ``k`` (0, 1, ...): ``batch_size`` of them from the
        permutation of epoch ``k // batches_per_epoch``; the last batch of an epoch may be
        shorter.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, Supervised
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> s = Supervised(net, np.zeros((5, 4)), [0.0, 1.0], np.zeros((5, 2)), batch_size=2)
            >>> sorted(np.concatenate([s.batch(k) for k in range(3)]).tolist())
            [0, 1, 2, 3, 4]
        """
        if self.batch_size >= self.n:
            return self._all
        per = self.batches_per_epoch
        epoch, j = divmod(int(k), per)
        if epoch != self._epoch:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
            self._epoch, self._order = epoch, rng.permutation(self.n).astype(np.int32)
        return self._order[j * self.batch_size:(j + 1) * self.batch_size]

    @property
    def batches_per_epoch(self) -> int:
        """Batches that cover every function once."""
        return math.ceil(self.n / self.batch_size)

    def set_batch_size(self, batch_size: int | None) -> None:
        """Change the batch size (a positive int; None: full batch, e.g. before L-BFGS); the
        batch count starts again at 0.

        Raises:
            TidalArgumentError: ``batch_size`` is not a positive int or None.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, Supervised
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> s = Supervised(net, np.zeros((5, 4)), [0.0, 1.0], np.zeros((5, 2)), batch_size=2)
            >>> s.set_batch_size(None)
            >>> s.batch_size, s.batches_per_epoch
            (5, 1)
        """
        self.batch_size = self._checked_batch_size(batch_size, self.n)
        self.batches, self._epoch = 0, -1
        self.version += 1

    def value_and_grad(self, flat) -> tuple[float, np.ndarray]:
        """The loss on the current batch and its gradient at ``flat`` (after :meth:`shard`:
        this shard's part of them); then the next batch."""
        self.set_flat(flat)
        self.model.clear_grads()
        loss = self.value_and_field_grads()
        return loss, self.model.grad_flat()

    def parameter_fields(self):
        """The model's :class:`~tidal.autodiff.parameters.FieldVector` (the fields its
        parameters live in), for :meth:`value_and_field_grads`; None for a model without one,
        and after :meth:`shard` into several shards (the fields then get this shard's part of
        the gradient only, which a data-parallel wrapper must first sum over the ranks)."""
        if self.shard_count != 1:
            return None
        fields = getattr(self.model, "parameter_fields", None)
        return fields() if callable(fields) else None

    def value_and_field_grads(self) -> float:
        """The loss on the current batch at the parameters the model's fields hold, its gradient
        added into the fields' gradients (after :meth:`shard`: this shard's part of them); then
        the next batch. :class:`~tidal.solvers.Trainer`'s Adam evaluates so, with no float64
        copy of the parameters or the gradient per step.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, Supervised
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> s = Supervised(net, np.ones((5, 4)), [0.0, 1.0], np.ones((5, 2)))
            >>> net.clear_grads(); loss = s.value_and_field_grads()
            >>> same_loss, grad = s.value_and_grad(net.get_flat())
            >>> loss == same_loss, np.array_equal(net.grad_flat(), grad)
            (True, True)
        """
        loss = self._loss_into_grads(self.batch(self.batches))
        if self.batch_size < self.n:
            self.batches += 1
            self.version += 1
        return loss

    def set_flat(self, flat) -> None:
        """Set the model's parameters."""
        self.model.set_flat(flat)

    def get_flat(self) -> np.ndarray:
        """The model's parameters."""
        return self.model.get_flat()


class Supervised(FunctionBatches):
    """The data loss of an operator network, for :class:`tidal.solvers.Trainer`.

    Args:
        model: a :class:`~tidal.surrogates.DeepONet` or :class:`~tidal.surrogates.FNO`.
        inputs: DeepONet: ``(n, m)``, the input functions at the branch sensors; FNO:
            ``(n, *grid)`` or ``(n, *grid, channels)``, the input fields.
        points: DeepONet: ``(N, d)``, the output points shared by every function (a 1-D
            array for ``d = 1``); FNO: None (the grid is the inputs').
        outputs: DeepONet: ``(n, N)``, ``G(v_i)(y_j)``; FNO: ``(n, *grid)``, or
            ``(n, *grid, out_channels)`` for an FNO of several output channels.
        loss: ``"mse"`` (``mean_ij (pred - out)^2``, over channels too), ``"relative_l2"``
            (``mean_i ||pred_i - out_i|| / ||out_i||``), or for an FNO ``"h1"`` /
            ``"relative_h1"`` (the same with the discrete H1 norm of the module docstring).
        batch_size: functions per evaluation (Adam mini-batches); None: all of them.
        seed: seed of the batch order.

    Attributes:
        inputs, points, outputs: the data (float64 copies; for an FNO with normalisers
            (:meth:`~tidal.surrogates.FNO.set_normalisers`, set before this objective is
            made) normalised as the network sees them, and every loss is in those units).
        version: counts changes of batch (the Trainer's evaluation cache keys on it).
        batches: how many batches have been used so far.
        shard_index, shard_count: the shard evaluated (:meth:`~FunctionBatches.shard`); the
            data stay whole on every shard.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import DeepONet, Supervised
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
        >>> x = np.linspace(0, 1, 5)
        >>> v = np.random.default_rng(0).normal(size=(3, 4))
        >>> data = Supervised(net, v, x, v[:, :1] * x)
        >>> loss, grad = data.value_and_grad(net.get_flat())
        >>> grad.shape == (net.size,), loss > 0
        (True, True)
        >>> from tidal.surrogates import FNO
        >>> fno = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
        >>> a = np.random.default_rng(0).normal(size=(3, 8))
        >>> data = Supervised(fno, a, outputs=a ** 2, loss="relative_l2", batch_size=2)
        >>> data.value_and_grad(fno.get_flat())[1].shape == (fno.size,)
        True
    """

    def __init__(self, model, inputs, points=None, outputs=None, loss: str = "mse",
                 batch_size: int | None = None, seed: int = 0):
        if isinstance(model, _deeponet.DeepONet):
            kind = _DeepONetData
        elif isinstance(model, _fno.FNO):
            kind = _FNOData
        else:
            raise TidalArgumentError(f"model must be a tidal.surrogates.DeepONet or FNO, got "
                                     f"{type(model).__name__}")
        if loss not in LOSSES:
            raise TidalArgumentError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got "
                                     f"{loss!r}")
        if LOSSES[loss].norm == "h1" and kind is not _FNOData:
            raise TidalArgumentError(
                f"loss={loss!r} needs the outputs on a regular grid (its gradient is a finite "
                f"difference), but a DeepONet's points are scattered",
                hint="use loss='mse' or 'relative_l2' for a DeepONet, or train an FNO")
        if outputs is None:
            raise TidalArgumentError("outputs are missing: Supervised(net, inputs, points, "
                                     "outputs) for a DeepONet, Supervised(net, inputs, "
                                     "outputs=outputs) for an FNO")
        self._checked_batch_size(batch_size, 1)
        self._data = kind(model, inputs, points, outputs)
        self.model, self.loss, self.seed = model, loss, int(seed)
        self._loss = LOSSES[loss]
        self.inputs, self.outputs = self._data.inputs, self._data.outputs
        self.points = getattr(self._data, "points", None)
        n = len(self.inputs)
        self.n, self.n_points = n, self._data.n_points
        self.batch_size = self._checked_batch_size(batch_size, n)
        self.size = model.size
        self._norms = np.sqrt(np.sum(self.outputs.reshape(n, -1) ** 2, axis=1))
        self._loss_norms = (self._norms if self._loss.norm == "l2"
                            else np.sqrt(self._data.h1_squared_norms(self.outputs)))
        if self._loss.relative and np.any(self._loss_norms == 0):
            raise TidalArgumentError(f"{loss} needs outputs with a nonzero norm in every "
                                     f"row; use loss='mse'")
        self._start_batches(n)

    def _errors(self, rows: np.ndarray) -> np.ndarray:
        """Each selected function's sum of squared errors (forward only)."""
        return self._data.errors(rows)

    def _combine(self, sums: np.ndarray, rows: np.ndarray, total: int) -> float:
        return self._loss.combine(sums, self._loss_norms[rows], self.n_points, total)

    def _loss_into_grads(self, rows: np.ndarray) -> float:
        """This shard's part of the loss of batch ``rows``, its gradient added into the model's
        parameter gradients."""
        total, rows = len(rows), self.local(rows)
        if len(rows) == 0:
            return 0.0
        loss, norms = self._loss, self._loss_norms[rows]
        sums = self._data.errors_and_grad(
            rows, lambda sums: loss.seeds(sums, norms, self.n_points, total), loss.relative,
            loss.norm)
        return self._combine(sums, rows, total)

    def value(self, flat) -> float:
        """The full-data loss at ``flat`` (after :meth:`shard`: this shard's part of it)."""
        self.set_flat(flat)
        rows = self.local(self._all)
        if len(rows) == 0:
            return 0.0
        return self._combine(self._data.errors(rows, self._loss.norm), rows, self.n)

    def mse(self, flat) -> float:
        """The full-data mean-squared error at ``flat`` (whatever ``loss`` is; whole on every
        shard: a validation metric)."""
        self.set_flat(flat)
        return float(np.sum(self._errors(self._all))) / (self.n * self.n_points)

    def relative_l2(self, flat) -> float:
        """The full-data mean relative L2 error at ``flat`` (whole on every shard)."""
        self.set_flat(flat)
        return float(np.mean(np.sqrt(self._errors(self._all)) / self._norms))


__all__ = ["LOSSES", "FunctionBatches", "Loss", "Supervised", "h1_squared_norms",
           "periodic_gradient"]
