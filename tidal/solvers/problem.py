"""A PINN problem: a domain, PDE residuals written as math, conditions and a network, as one
differentiable objective over flat float64 parameters.

The residuals and operator conditions are tidal functions whose parameter names request
derivatives of the network's outputs (:mod:`tidal.solvers.operators`); linear conditions share
one kernel per output (:mod:`tidal.solvers.conditions`). A system of equations (several
residuals, a network with several outputs ``u, v, p``) is evaluated by one fused kernel over the
collocation points: one Taylor-mode pass of the network gives every output's derivatives, each
residual adds its own squared error to its own term. The loss is the weighted sum of the terms;
its gradient with respect to the network parameters and the unknown coefficients comes from
the kernels' generated adjoints.

Guarantees: :meth:`Problem.value_and_grad` returns ``sum_k w_k mean_i e_{k,i}^2`` and its exact
gradient (to the network's floating-point precision) in the order of :meth:`Problem.get_flat`
(network parameters as :meth:`MLP.get_flat`, then the unknowns); sampling is deterministic for a
seed; bad input raises :class:`~tidal.TidalArgumentError` before any kernel runs.
"""


from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import taichi as ti

import tidal as td
from tidal.distributed import data_parallel as _data_parallel
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers import conditions as cond
from tidal.solvers import operators
from tidal.solvers.geometry import Geometry, SpaceTime, TimeDomain
from tidal.solvers.names import Output, Variable

# what Problem needs of a network (MLP, Separate, or any object with these)
NETWORK_ATTRIBUTES = ("in_dim", "dtype", "size", "func", "get_flat", "set_flat", "grad_flat",
                      "clear_grads")


@dataclass
class Unknown:
    """An unknown scalar coefficient of an inverse problem, trained with the network.

    Example:
        >>> Unknown("lambda1", 0.0).initial
        0.0
    """

    name: str
    initial: float = 0.0


@dataclass
class _Term:
    """One kernel's loss terms: ``len(labels)`` consecutive parts (a system of residuals has
    one per equation), from ``first`` on."""

    labels: list
    weights: list
    kernel: object
    arrays: tuple
    n: int
    first: int = 0
    extra: tuple = ()  # arguments after ``scale, part`` (the output a condition constrains)
    held: list = None  # the arrays of each shard held (Problem.shard); [arrays] when whole

    def __post_init__(self):
        self.hold([self.arrays])

    def hold(self, held: list) -> None:
        """Hold these shards' arrays (``()`` for a shard with none of the term's points)."""
        self.held = list(held)
        self.arrays = self.held[0]


class Problem:
    """A forward or inverse PINN problem as an objective for :class:`tidal.solvers.Trainer`.

    Args:
        domain: the geometry (a :class:`SpaceTime` for time-dependent problems, time last).
        pde: a tidal function of derivative names (e.g. ``u, u_t, u_x, u_xx``) returning the
            residual, or a list of them (a system: e.g. two momentum equations and continuity
            naming ``u_x, v_y, p_x, ...``); penalised at the collocation points, each as its
            own loss term.
        conditions: boundary, initial, periodic, observed and operator conditions (with several
            outputs, each names the output it constrains: ``DirichletBC(..., output="v")``).
        net: the network (an :class:`MLP`, a :class:`Separate`, or any object with the same
            attributes); its ``in_dim`` must equal ``domain.dim`` and its ``out_dim`` the number
            of outputs.
        n_collocation: number of collocation points in the domain's interior.
        method: sampling of collocation points (``"lhs"``, ``"sobol"``, ``"random"``, ``"grid"``).
        seed: seed of all sampling.
        variables: names of the coordinates (default ``x, y, z`` for space and ``t`` for time).
        output: name of the network's output in derivative names (default ``u``).
        outputs: names of a network's several outputs, in order (e.g. ``("u", "v", "p")``):
            letters and digits, no underscore.
        unknowns: trainable coefficients (inverse problems), usable by name in ``pde``.
        output_transform: optional tidal function ``(z, n) -> u`` of the coordinates and the raw
            network output, for hard constraints (e.g. ``u = x (1 - x) n`` vanishes at 0 and 1).
        pde_weight: weight of the residual term (a list: one per residual).
        collocation: optional ``(n, dim)`` collocation points used instead of sampling.
        forcing: the right-hand side ``f`` of ``pde(...) = f``: a number, or a NumPy function of
            the ``(n, dim)`` points returning ``(n,)`` values (e.g. a source known only as
            data); evaluated once per collocation point (a list: one per residual).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import Interval, DirichletBC, MLP, Problem
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def poisson(u_xx: td.f64, x: td.f64) -> td.f64:
        ...     return u_xx + 1.0
        >>> net = MLP(1, width=8, depth=2, dtype=td.f64)
        >>> p = Problem(Interval(0, 1), poisson, [DirichletBC(Interval(0, 1), 0.0, n=2)], net,
        ...             n_collocation=16)
        >>> loss, grad = p.value_and_grad(p.get_flat())
        >>> grad.shape == (net.size,)
        True
    """

    def __init__(self, domain: Geometry, pde, conditions: Sequence[cond.Condition], net,
                 n_collocation: int = 1000, method: str = "lhs", seed: int = 0,
                 variables: Sequence[str] | None = None, output: str = "u",
                 unknowns: Sequence[Unknown] = (), output_transform=None,
                 pde_weight=1.0, collocation=None, forcing=0.0,
                 outputs: Sequence[str] | None = None):
        if not isinstance(domain, Geometry):
            raise TidalArgumentError(f"domain must be a tidal.solvers Geometry, got "
                                     f"{type(domain).__name__}")
        missing = [a for a in NETWORK_ATTRIBUTES if not hasattr(net, a)]
        if missing:
            raise TidalArgumentError(f"net must be a tidal.solvers network (MLP, Separate, ...), "
                                     f"got {type(net).__name__} without {', '.join(missing)}")
        if net.in_dim != domain.dim:
            raise TidalArgumentError(f"the network takes {net.in_dim} inputs but the domain has "
                                     f"{domain.dim} coordinates")
        self.domain, self.net, self.seed, self.method = domain, net, int(seed), method
        self.variables = tuple(variables) if variables is not None else _default_names(domain)
        wrong = [v for v in self.variables if isinstance(v, Output)]
        if wrong:
            raise TidalArgumentError(f"{wrong[0]!r} is an output, not a variable",
                                     hint="make variable names with variables('x t')")
        if len(self.variables) != domain.dim or len(set(self.variables)) != domain.dim or any(
                len(v) != 1 or not v.isalpha() for v in self.variables):
            raise TidalArgumentError(f"variables must be {domain.dim} distinct single letters, "
                                     f"got {self.variables}",
                                     hint=f"pass variables= with one letter per coordinate, "
                                          f"e.g. variables={_example_names(domain.dim)!r}")
        self.unknowns = tuple(unknowns)
        names = [u.name for u in self.unknowns]
        if len(set(names)) != len(names):
            raise TidalArgumentError(f"unknowns have repeated names: {names}")
        self.outputs = _check_outputs(output if outputs is None else outputs, outputs is None,
                                      getattr(net, "out_dim", 1), self.variables, names)
        self.output = self.outputs[0]
        self._vector = getattr(net, "out_dim", 1) > 1
        self.conditions = list(conditions)
        for c in self.conditions:
            if not isinstance(c, cond.Condition):
                raise TidalArgumentError(f"conditions must be tidal.solvers conditions "
                                         f"(DirichletBC, NeumannBC, ...), got {type(c).__name__}")
        real = net.dtype
        self._real, self._store = real, (np.float32 if real == td.f32 else np.float64)
        self._vec = td.vec(domain.dim, real)
        out_type = td.vec(len(self.outputs), real) if self._vector else real
        self.u = _with_transform(net.func, output_transform, self._vec, out_type)
        self._tangent = td.jvp(self.u)
        self.pdes = _as_list(pde)
        pde_weights = _per_equation(pde_weight, len(self.pdes), "pde_weight")
        forcings = _per_equation(forcing, len(self.pdes), "forcing")
        n_terms = len(self.pdes) + len(self.conditions)
        self.parts = ti.field(real, shape=n_terms, needs_grad=True)
        self.weights = ti.field(real, shape=n_terms)
        self.unknown_field = ti.field(real, shape=max(1, len(self.unknowns)), needs_grad=True)
        self.unknown_field.from_numpy(np.array([u.initial for u in self.unknowns] or [0.0],
                                               dtype=self._store))
        self._linear = self._pair = None  # made when a condition needs them
        self._prepare = self._prepare_kernel()
        self._operators: dict[object, tuple] = {}
        self.pde = pde
        self.forcings = forcings
        self.forcing = forcing
        if collocation is None:
            points = domain.sample_interior(int(n_collocation), method=method, seed=self.seed)
        else:
            points = self._check_points(collocation)
        labels = ["pde"] if len(self.pdes) == 1 else _equation_labels(self.pdes)
        self.terms = [self._operator_term(labels, pde_weights, self.pdes, points,
                                          self._forcing_at(points))]
        for k, c in enumerate(self.conditions):
            self.terms.append(self._condition_term(c, self.seed + 1 + k))
        _number_repeated_labels(self.terms[1:], self.conditions)
        first = 0
        for t in self.terms:
            t.first, first = first, first + len(t.labels)
        self.version = 0  # counts changes of points and weights (a Trainer's cache reads it)
        self.weights.from_numpy(np.array([w for t in self.terms for w in t.weights],
                                         dtype=self._store))
        self.size = net.size + len(self.unknowns)
        self._last_parts: np.ndarray | None = None
        self.shard_count, self.shard_indices = 1, [0]
        self.resamples = 0

    # -- terms ---------------------------------------------------------------------------------
    def _array(self, values: np.ndarray, vector: bool):
        values = np.asarray(values, dtype=self._store)
        if vector:
            a = ti.Vector.ndarray(self.domain.dim, self._real, shape=len(values))
        else:
            a = ti.ndarray(self._real, shape=len(values))
        a.from_numpy(values)
        return a

    def _condition_term(self, c: cond.Condition, seed: int) -> _Term:
        batch = c.batch(self.domain.dim, seed)
        if isinstance(batch, cond.OperatorBatch):
            return self._operator_term([c.label], [c.weight], [batch.fn], batch.points,
                                       batch.target[:, None])
        k = self._output_index(c)
        label = c.label if k is None or c.named else f"{c.label}_{self.outputs[k]}"
        # one kernel per kind serves every output (the output is an argument: compiled once)
        extra = () if not self._vector else (-1 if k is None else k,)
        if isinstance(batch, cond.PairBatch):
            arrays = (self._array(batch.first, True), self._array(batch.second, True))
            return _Term([label], [c.weight], self._pair_kernel(), arrays, len(batch.first),
                         extra=extra)
        arrays = (self._array(batch.points, True), self._array(batch.directions, True),
                  self._array(batch.a, False), self._array(batch.b, False),
                  self._array(batch.target, False))
        return _Term([label], [c.weight], self._linear_kernel(), arrays, len(batch.points),
                     extra=extra)

    def _output_index(self, c: cond.Condition) -> int | None:
        """The output condition ``c`` constrains: None for a one-output network (or, for a
        periodic condition, every output), else its index in :attr:`outputs`."""
        name = getattr(c, "output", None)
        if name is None:
            if not self._vector or isinstance(c, cond.PeriodicBC):
                return None
            raise TidalArgumentError(
                f"{c.made_at}: this problem has outputs {', '.join(self.outputs)}; say which "
                f"one {type(c).__name__} constrains",
                hint=f"pass output={self.outputs[0]!r} (or another of them)")
        if name not in self.outputs:
            raise TidalArgumentError(
                f"{c.made_at}: {type(c).__name__}(output={name!r}) names an output this problem "
                f"does not have; its outputs are {', '.join(self.outputs)}")
        return self.outputs.index(name) if self._vector else None

    def _operator_term(self, labels, weights, fns, points, target) -> _Term:
        kernels = self._operator_kernels(tuple(fns))
        points = np.asarray(points, dtype=np.float64)
        if len(points) == 0:
            raise TidalArgumentError(f"the {labels[0]} term has no points")
        arrays = (self._array(points, True), self._table(target))
        term = _Term(list(labels), list(weights), kernels[0], arrays, len(points))
        term.values_kernel = kernels[1]
        return term

    def _table(self, values: np.ndarray):
        """An ``(n, k)`` ndarray of targets, one column per operator."""
        values = np.asarray(values, dtype=self._store)
        a = ti.ndarray(self._real, shape=values.shape)
        a.from_numpy(values)
        return a

    def _operator_kernels(self, fns: tuple) -> tuple:
        if fns in self._operators:
            return self._operators[fns]
        for fn in fns:
            if not isinstance(fn, td.TidalFunction):
                raise TidalArgumentError(f"the residual {operators.where(fn)} must be a tidal "
                                         f"function (decorate it with @td.func)")
        p = operators.plan(fns, self.outputs, self.variables,
                           tuple(u.name for u in self.unknowns), vector=self._vector)
        made = operators.kernels(p, fns, self.u, self._vec, self._real, self.parts,
                                 self.unknown_field)
        self._operators[fns] = tuple(made)
        return self._operators[fns]

    def _linear_kernel(self):
        """``e = a u + b (d . grad u) - g`` over a batch; for a network with several outputs
        ``u`` is the output numbered by the last argument."""
        if self._linear is not None:
            return self._linear
        tangent, parts, vec, real = self._tangent, self.parts, self._vec, self._real
        n_out = len(self.outputs)

        if not self._vector:
            @td.kernel
            def linear_term(pts: ti.types.ndarray(dtype=vec, ndim=1),
                            dirs: ti.types.ndarray(dtype=vec, ndim=1),
                            a: ti.types.ndarray(dtype=real, ndim=1),
                            b: ti.types.ndarray(dtype=real, ndim=1),
                            target: ti.types.ndarray(dtype=real, ndim=1), scale: real,
                            part: ti.i32):
                for i in range(pts.shape[0]):
                    c = tangent(pts[i], dirs[i])
                    e = a[i] * c[0] + b[i] * c[1] - target[i]
                    parts[part] += scale * e * e
        else:
            @td.kernel
            def linear_term(pts: ti.types.ndarray(dtype=vec, ndim=1),
                            dirs: ti.types.ndarray(dtype=vec, ndim=1),
                            a: ti.types.ndarray(dtype=real, ndim=1),
                            b: ti.types.ndarray(dtype=real, ndim=1),
                            target: ti.types.ndarray(dtype=real, ndim=1), scale: real,
                            part: ti.i32, output: ti.i32):
                for i in range(pts.shape[0]):
                    c = tangent(pts[i], dirs[i])
                    value = 0.0
                    slope = 0.0
                    for q in ti.static(range(n_out)):
                        if q == output:
                            value = c[0][q]
                            slope = c[1][q]
                    e = a[i] * value + b[i] * slope - target[i]
                    parts[part] += scale * e * e

        self._linear = linear_term
        return linear_term

    def _pair_kernel(self):
        """``e = u(first) - u(second)`` over a batch; for a network with several outputs, the
        output numbered by the last argument, or every output (summed squares) for -1."""
        if self._pair is not None:
            return self._pair
        u, parts, vec, real = self.u, self.parts, self._vec, self._real
        n_out = len(self.outputs)

        if not self._vector:
            @td.kernel
            def pair_term(first: ti.types.ndarray(dtype=vec, ndim=1),
                          second: ti.types.ndarray(dtype=vec, ndim=1), scale: real,
                          part: ti.i32):
                for i in range(first.shape[0]):
                    e = u(first[i]) - u(second[i])
                    parts[part] += scale * e * e
        else:
            @td.kernel
            def pair_term(first: ti.types.ndarray(dtype=vec, ndim=1),
                          second: ti.types.ndarray(dtype=vec, ndim=1), scale: real,
                          part: ti.i32, output: ti.i32):
                for i in range(first.shape[0]):
                    d = u(first[i]) - u(second[i])
                    s = 0.0
                    for q in ti.static(range(n_out)):
                        if output < 0 or q == output:
                            s += d[q] * d[q]
                    parts[part] += scale * s

        self._pair = pair_term
        return pair_term

    def _prepare_kernel(self):
        """One launch before an evaluation: the terms' sums to zero, their cotangents to their
        weights (the loss is linear in them), the unknowns' gradients to zero."""
        parts, weights, unknowns = self.parts, self.weights, self.unknown_field

        @ti.kernel
        def prepare():
            for k in parts:
                parts[k] = 0.0
                parts.grad[k] = weights[k]
            for j in unknowns:
                unknowns.grad[j] = 0.0

        return prepare

    # -- the objective -------------------------------------------------------------------------
    def get_flat(self) -> np.ndarray:
        """Network parameters then unknowns, as one float64 vector."""
        extra = self.unknown_field.to_numpy()[:len(self.unknowns)].astype(np.float64)
        return np.concatenate([self.net.get_flat(), extra])

    def set_flat(self, flat) -> None:
        """Set network parameters and unknowns from one vector of length :attr:`size`."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} parameters ({self.net.size} network "
                                     f"+ {len(self.unknowns)} unknowns), got {flat.size}")
        self.net.set_flat(flat[:self.net.size])
        if self.unknowns:
            self.unknown_field.from_numpy(flat[self.net.size:].astype(self._store))

    def _loss(self) -> float:
        """The weighted sum of the terms' mean squares just computed (in float64)."""
        self._last_parts = self.parts.to_numpy().astype(np.float64)
        return float(self.term_weights @ self._last_parts)

    def value_and_grad(self, flat) -> tuple[float, np.ndarray]:
        """The loss and its gradient (float64) at parameters ``flat``.

        The loss is linear in the terms' mean squares (``sum_k w_k parts_k``), so their
        cotangents are the weights before anything runs, and each term's kernel runs once,
        computing its mean square and its gradient contribution together
        (:func:`tidal.launch_with_adjoint`) instead of a forward kernel followed
        by an adjoint kernel that recomputes it.
        """
        parts = self.value_and_grad_shards(flat)
        loss, grad = parts[0]
        for more_loss, more_grad in parts[1:]:
            loss, grad = loss + more_loss, grad + more_grad
        return loss, grad

    def value_and_grad_shards(self, flat) -> list[tuple[float, np.ndarray]]:
        """The loss and gradient of each shard this problem holds (see :meth:`shard`), in
        order; one pair for a whole problem."""
        self.set_flat(flat)
        out = []
        for held in range(len(self.terms[0].held)):
            self._prepare()
            self.net.clear_grads()  # only this problem's gradients: other fields keep theirs
            for t in self.terms:
                if t.held[held]:  # a shard may hold none of a term's points
                    td.launch_with_adjoint(t.kernel, *t.held[held], 1.0 / t.n, t.first,
                                           *t.extra)
            loss = self._loss()
            grad = self.net.grad_flat()
            if self.unknowns:
                extra = self.unknown_field.grad.to_numpy()[:len(self.unknowns)]
                grad = np.concatenate([grad, extra.astype(np.float64)])
            out.append((loss, grad))
        return out

    def value(self, flat) -> float:
        """The loss alone at parameters ``flat``."""
        self.set_flat(flat)
        self._prepare()
        for t in self.terms:
            for arrays in t.held:  # the terms' sums add over the shards held
                if arrays:
                    t.kernel(*arrays, 1.0 / t.n, t.first, *t.extra)
        return self._loss()

    def describe(self, flat) -> dict[str, float]:
        """Each term's mean square (``loss_<label>``) and each unknown's value, at ``flat``."""
        summed, same = self.shard_scalars(flat)
        return {**summed, **same}

    def shard_scalars(self, flat) -> tuple[dict[str, float], dict[str, float]]:
        """What :meth:`describe` reports, split for a sharded problem: the terms' mean squares
        (this shard's part: they add over shards) and the unknowns' values (whole)."""
        flat = np.asarray(flat, dtype=np.float64)
        self.value(flat)
        summed: dict[str, float] = {}
        labels = [label for t in self.terms for label in t.labels]
        for label, v in zip(labels, self._last_parts):
            key = f"loss_{label}"
            summed[key] = summed.get(key, 0.0) + float(v)
        same = {u.name: float(v) for u, v in zip(self.unknowns, flat[self.net.size:])}
        return summed, same

    # -- shards (data-parallel training: tidal.distributed.DataParallel) -----------------------
    def shard(self, index: int, count: int) -> None:
        """Keep only shard ``index`` of ``count`` of every term's points (points ``index``,
        ``index + count``, ... of each term), so that :meth:`value_and_grad` returns this
        shard's part: the parts of shards ``0 .. count - 1`` sum to the whole problem's loss
        and gradient (each term's mean still divides by its total number of points).
        :meth:`refine` and :meth:`resample` keep the split; ``shard(0, 1)`` changes nothing.
        ``index`` may be a list of shard numbers: the problem then holds those shards side by
        side, :meth:`value_and_grad_shards` gives each one's part and :meth:`value_and_grad`
        their sum (``tidal.distributed.DataParallel(shards=S)`` uses this).

        Raises:
            TidalArgumentError: a bad index, or a problem that is already a shard.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.solvers import Interval, DirichletBC, MLP, Problem
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> @td.func
            ... def pde(u_xx: td.f64, x: td.f64) -> td.f64:
            ...     return u_xx + 1.0
            >>> def make():
            ...     return Problem(Interval(0, 1), pde, [DirichletBC(Interval(0, 1), n=2)],
            ...                    MLP(1, width=6, depth=2, dtype=td.f64), n_collocation=9)
            >>> whole, halves = make(), [make(), make()]
            >>> for k, half in enumerate(halves):
            ...     half.shard(k, 2)
            >>> x = whole.get_flat()
            >>> parts = [h.value_and_grad(x) for h in halves]
            >>> loss, grad = whole.value_and_grad(x)
            >>> bool(np.isclose(parts[0][0] + parts[1][0], loss, rtol=1e-13))
            True
            >>> bool(np.allclose(parts[0][1] + parts[1][1], grad, rtol=1e-12, atol=0))
            True
            >>> both = make()
            >>> both.shard([0, 1], 2)
            >>> [float(v) for v, _ in both.value_and_grad_shards(x)] == [parts[0][0], parts[1][0]]
            True
        """
        indices = _data_parallel.shard_indices(index, count)
        if self.shard_count > 1:
            raise TidalArgumentError(f"this problem is already shard {self.shard_indices} of "
                                     f"{self.shard_count}; shard a whole problem")
        if count == 1:
            return
        self.shard_indices, self.shard_count = indices, count
        for t in self.terms:
            t.hold([self._rows(t.arrays, slice(k, None, count)) for k in indices])
        self.version += 1

    def _rows(self, arrays: tuple, rows) -> tuple:
        """The same kinds of arrays holding ``rows`` of each (``()`` when none are left)."""
        out = []
        for a in arrays:
            values = a.to_numpy()[rows]
            if len(values) == 0:
                return ()
            if isinstance(a, ti.lang.matrix.VectorNdarray):
                out.append(self._array(values, True))
            elif values.ndim == 1:
                out.append(self._array(values, False))
            else:
                out.append(self._table(values))
        return tuple(out)

    def _set_collocation(self, held: list, total: int) -> None:
        """Make ``held`` (one array per shard held) this problem's collocation points, of
        ``total`` in all shards."""
        t = self.terms[0]
        t.hold([(self._array(mine, True), self._table(self._forcing_at(mine)))
                if len(mine) else () for mine in held])
        t.n = int(total)
        self.version += 1

    def _held_collocation(self) -> list:
        """The collocation points of each shard held."""
        return [a[0].to_numpy().astype(np.float64) if a else np.zeros((0, self.domain.dim))
                for a in self.terms[0].held]

    def _local_collocation(self) -> np.ndarray:
        return np.concatenate(self._held_collocation())

    # -- residuals, refinement, prediction -----------------------------------------------------
    def _forcing_at(self, points: np.ndarray) -> np.ndarray:
        """The forcing of every residual at ``points``, ``(n, residuals)``."""
        what = ["the PDE's forcing"] if len(self.pdes) == 1 else [
            f"the forcing of {fn.name}" for fn in self.pdes]
        return np.stack([cond.evaluate(f, points, w) for f, w in zip(self.forcings, what)], 1)

    def residual(self, points) -> np.ndarray:
        """The PDE residual ``pde(...) - forcing`` at ``points`` (shape ``(n, dim)``), float64
        ``(n,)``; for a system of residuals ``(n, residuals)``."""
        points = self._check_points(points)
        out = ti.ndarray(self._real, shape=(len(points), len(self.pdes)))
        self.terms[0].values_kernel(self._array(points, True),
                                    self._table(self._forcing_at(points)), out)
        values = out.to_numpy().astype(np.float64)
        return values[:, 0] if len(self.pdes) == 1 else values

    @property
    def labels(self) -> list[str]:
        """The loss terms' labels, in order (``pde`` or the residuals' names, then one per
        condition, e.g. ``dirichlet_u``)."""
        return [label for t in self.terms for label in t.labels]

    def set_weights(self, weights: dict[str, float]) -> None:
        """Set the weight of every loss term with a given label, e.g.
        ``problem.set_weights({"pde": 0.1, "dirichlet_u": 10.0})``; a :class:`Trainer` of this
        problem sees the new loss at its next evaluation (Adam continues; L-BFGS, whose
        curvature pairs belong to the old loss, should be started again). To change weights
        while Adam runs, give :meth:`Trainer.adam` a ``weights`` schedule instead.

        Raises:
            TidalArgumentError: for a label the problem does not have, or a weight that is not
                a finite number >= 0.
        """
        current = self.term_weights
        labels = self.labels
        for label, w in dict(weights).items():
            if label not in labels:
                raise TidalArgumentError(f"this problem has no loss term {label!r}; its terms "
                                         f"are {', '.join(dict.fromkeys(labels))}")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) \
                    or w < 0:
                raise TidalArgumentError(f"the weight of {label!r} must be a finite number "
                                         f">= 0, got {w!r}")
            current[[k for k, lab in enumerate(labels) if lab == label]] = float(w)
        self.set_term_weights(current)

    @property
    def term_weights(self) -> np.ndarray:
        """The weight of each loss term, in the order of :attr:`labels` (a copy)."""
        return np.array([w for t in self.terms for w in t.weights], dtype=np.float64)

    def set_term_weights(self, weights) -> None:
        """Set every term's weight from an array in the order of :attr:`labels` (what a
        :class:`Trainer`'s weight schedule calls; checked by :meth:`set_weights`)."""
        current = np.asarray(weights, dtype=np.float64).copy()
        first = 0
        for t in self.terms:
            t.weights = list(current[first:first + len(t.labels)])
            first += len(t.labels)
        self.weights.from_numpy(current.astype(self._store))
        self.version += 1

    def refine(self, n_candidates: int, n_add: int, seed: int | None = None) -> np.ndarray:
        """Residual-based adaptive refinement: add the ``n_add`` points of largest ``|residual|``
        among ``n_candidates`` random interior points to the collocation points.

        Returns the added points. Kernels are not recompiled (point arrays are kernel arguments).
        """
        if not 0 < n_add <= n_candidates:
            raise TidalArgumentError(f"need 0 < n_add <= n_candidates, got {n_add}, "
                                     f"{n_candidates}")
        seed = self.seed + 7919 if seed is None else seed
        candidates = self.domain.sample_interior(n_candidates, method="random", seed=seed)
        r = np.abs(self.residual(candidates))
        if r.ndim == 2:
            r = r.sum(axis=1)
        added = candidates[np.argsort(-r, kind="stable")[:n_add]]
        t = self.terms[0]
        # point k of the whole list belongs to shard k % count: the same split as sharding
        # the refined problem
        count = self.shard_count
        self._set_collocation(
            [np.concatenate([points, added[(k - t.n) % count::count]])
             for k, points in zip(self.shard_indices, self._held_collocation())], t.n + n_add)
        return added

    def resample(self, n: int | None = None, seed: int | None = None) -> np.ndarray:
        """Replace the collocation points by ``n`` fresh ones (default: as many as now),
        sampled with the problem's method; the seed defaults to a new one per call, derived
        from the problem's seed, so that every run (and every rank of a sharded problem) draws
        the same points.

        Returns:
            The new points (all of them; a shard keeps its part).

        Example:
            >>> import tidal as td
            >>> from tidal.solvers import Interval, DirichletBC, MLP, Problem
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> @td.func
            ... def pde(u_xx: td.f64, x: td.f64) -> td.f64:
            ...     return u_xx + 1.0
            >>> p = Problem(Interval(0, 1), pde, [DirichletBC(Interval(0, 1), n=2)],
            ...             MLP(1, width=6, depth=2, dtype=td.f64), n_collocation=9)
            >>> p.resample(20).shape, p.collocation_points.shape
            ((20, 1), (20, 1))
        """
        total = self.terms[0].n if n is None else n
        if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
            raise TidalArgumentError(f"n must be a positive int, got {n!r}")
        self.resamples += 1
        seed = self.seed + 104729 * self.resamples if seed is None else int(seed)
        points = self.domain.sample_interior(int(total), method=self.method, seed=seed)
        self._set_collocation([points[k::self.shard_count] for k in self.shard_indices],
                              len(points))
        return points

    @property
    def collocation_points(self) -> np.ndarray:
        """The current collocation points, float64 ``(n, dim)`` (of a shard: its part)."""
        return self._local_collocation()

    def predict(self, points, output: str | None = None) -> np.ndarray:
        """The solution (network with output transform) at ``points``, float64 ``(n,)``; with
        several outputs ``(n, outputs)``, or ``(n,)`` for the one named ``output``."""
        points = self._check_points(points)
        values = np.asarray(td.vectorize(self.u)(points), dtype=np.float64)
        if not self._vector:
            if output is not None and output != self.output:
                raise TidalArgumentError(f"this problem's output is {self.output!r}, not "
                                         f"{output!r}")
            return values.reshape(-1)
        values = values.reshape(len(points), len(self.outputs))
        if output is None:
            return values
        if output not in self.outputs:
            raise TidalArgumentError(f"this problem has outputs {', '.join(self.outputs)}, not "
                                     f"{output!r}")
        return values[:, self.outputs.index(output)]

    def predict_grid(self, *axes, output: str | None = None) -> np.ndarray:
        """The solution on the grid spanned by one 1-D array per coordinate (``ij`` indexing).

        Example: ``u = problem.predict_grid(x, t)`` has shape ``(len(x), len(t))`` (with
        several outputs, a last axis of outputs unless ``output`` names one).
        """
        if len(axes) != self.domain.dim:
            raise TidalArgumentError(f"give one axis per coordinate ({self.domain.dim}), got "
                                     f"{len(axes)}")
        grids = np.meshgrid(*[np.asarray(a, dtype=np.float64).reshape(-1) for a in axes],
                            indexing="ij")
        points = np.stack([g.reshape(-1) for g in grids], axis=1)
        values = self.predict(points, output)
        return values.reshape(grids[0].shape + values.shape[1:])

    def _check_points(self, points) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.domain.dim or len(points) == 0:
            raise TidalArgumentError(f"points must have shape (n, {self.domain.dim}) with n > 0, "
                                     f"got {points.shape}")
        if not np.all(np.isfinite(points)):
            raise TidalArgumentError("points contain NaN or inf")
        return points

    def unknown_values(self) -> dict[str, float]:
        """Current values of the unknown coefficients by name."""
        values = self.unknown_field.to_numpy()[:len(self.unknowns)]
        return {u.name: float(v) for u, v in zip(self.unknowns, values)}


def _default_names(domain: Geometry) -> tuple[str, ...]:
    """x, y, z (and w), with t last for space-time domains, t alone for a time domain; a domain
    with more coordinates has no default names (the user passes ``variables=``)."""
    if isinstance(domain, TimeDomain):
        return ("t",)
    space = domain.dim - 1 if isinstance(domain, SpaceTime) else domain.dim
    letters = ("x", "y", "z") if isinstance(domain, SpaceTime) else ("x", "y", "z", "w")
    if space > len(letters):
        raise TidalArgumentError(
            f"a domain of {domain.dim} coordinates has no default variable names",
            hint=f"name them, one letter per coordinate: Problem(..., "
                 f"variables={_example_names(domain.dim)!r}); residual parameters then read "
                 f"u_a, u_bb, ...")
    return letters[:space] + (("t",) if isinstance(domain, SpaceTime) else ())


def _example_names(dim: int) -> str:
    return "abcdefghijklmnopqrs"[:dim] if dim <= 19 else "one letter each"


def _with_transform(net_func, transform, vec, out_type):
    if transform is None:
        return net_func
    if not isinstance(transform, td.TidalFunction):
        raise TidalArgumentError("output_transform must be a tidal function (z, n) -> u "
                                 "(decorate it with @td.func)")
    _check_transform(transform, vec, out_type)

    @td.func
    def transformed(z: vec) -> out_type:
        return transform(z, net_func(z))

    return transformed


def _number_repeated_labels(terms, conditions) -> None:
    """Default labels made unique: the second ``dirichlet_u`` becomes ``dirichlet_u_2``, and so
    on (labels the user gave are kept, so that conditions can share one on purpose)."""
    taken = {t.labels[0] for t, c in zip(terms, conditions) if c.named}
    seen: dict[str, int] = {}
    for t, c in zip(terms, conditions):
        if c.named:
            continue
        label = t.labels[0]
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1 or label in taken:
            k = seen[label] + (label in taken and seen[label] == 1)
            while f"{label}_{k}" in taken:
                k += 1
            t.labels = [f"{label}_{k}"]
            taken.add(t.labels[0])


def _shape_name(shape: tuple) -> str:
    return "a scalar" if not shape else f"a vector of {shape[0]}"


def _check_transform(transform, vec, out_type) -> None:
    """An output transform must be ``(z, n) -> u`` with ``z`` the point, ``n`` the network's
    value and ``u`` of the network's shape (a scalar is not spread over several outputs)."""
    dim = vec.n
    outputs = getattr(out_type, "n", None)
    expected = (f"(z: td.vec({dim}, real), n: "
                + ("real" if outputs is None else f"td.vec({outputs}, real)") + ") -> "
                + ("real" if outputs is None else f"td.vec({outputs}, real)"))
    want = ((dim,), () if outputs is None else (outputs,))
    got = tuple(tuple(t.shape) for t in transform.param_types)
    results = tuple(tuple(t.shape) for t in transform.result_types)
    if got != want or results != want[1:]:
        parts = [f"{len(got)} parameter(s) ({', '.join(map(_shape_name, got))})"]
        if results:
            parts.append(f"returns {', '.join(map(_shape_name, results))}")
        raise TidalArgumentError(
            f"the output transform {operators.where(transform)} {' and '.join(parts)}, but "
            f"this problem needs {expected}: z the point, n the network's "
            f"output{'s' if outputs else ''}, returning the transformed "
            f"output{'s' if outputs else ''}",
            hint="e.g. u = z[0] * (1 - z[0]) * n for u = 0 at x = 0 and x = 1"
                 + ("" if outputs is None else "; return one value per output (td.vec)"))


def _as_list(pde) -> list:
    items = list(pde) if isinstance(pde, (list, tuple)) else [pde]
    if not items:
        raise TidalArgumentError("pde must be a tidal function or a non-empty list of them")
    return items


def _per_equation(value, n: int, what: str) -> list:
    """``value`` for each of ``n`` residuals: a list of ``n``, or one value for all (a single
    residual only, for per-point values)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise TidalArgumentError(f"{what} has {len(value)} entries for {n} residual(s)",
                                     hint=f"give one {what} per residual, in the order of pde")
        return list(value)
    return [value] * n


def _equation_labels(fns) -> list:
    names = [getattr(fn, "name", "pde") for fn in fns]
    return [f"pde_{n}" if names.count(n) == 1 else f"pde_{n}_{k}" for k, n in enumerate(names)]


def _check_outputs(names, single: bool, out_dim: int, variables, unknowns) -> tuple:
    """The outputs' names, checked against the network and the other names."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        if isinstance(name, Variable):
            raise TidalArgumentError(f"{name!r} is a variable, not an output",
                                     hint="make output names with outputs('u v p')")
        if not isinstance(name, str) or not name.isidentifier() or "_" in name:
            raise TidalArgumentError(f"output names must be letters and digits without "
                                     f"underscores, got {name!r}",
                                     hint="e.g. outputs=('u', 'v', 'p')")
    if len(set(names)) != len(names):
        raise TidalArgumentError(f"two outputs have one name: {names}",
                                 hint="give every output its own name")
    if len(names) != out_dim:
        hint = ("name them: Problem(..., outputs=('u', 'v', ...))" if single else
                f"build the network with out_dim={len(names)}")
        raise TidalArgumentError(f"the network has {out_dim} output(s) but the problem names "
                                 f"{len(names)}: {', '.join(names)}", hint=hint)
    for name in names:
        if name in variables or name in unknowns:
            raise TidalArgumentError(f"the output name {name!r} is also "
                                     f"{'a variable' if name in variables else 'an unknown'}")
    clash = [u for u in unknowns if u in variables]
    if clash:
        raise TidalArgumentError(
            f"the unknown {clash[0]!r} has the name of a variable of the problem "
            f"({', '.join(variables)}): a residual parameter {clash[0]!r} would be the "
            f"coordinate, and the unknown would never enter the loss",
            hint="give the unknown another name, e.g. Unknown('k', ...)")
    return names

