"""A PINN problem: a domain, a PDE residual written as math, conditions and a network, as one
differentiable objective over flat float64 parameters.

The residual and operator conditions are tidal functions whose parameter names request
derivatives (:mod:`tidal.solvers.operators`); linear conditions share one kernel
(:mod:`tidal.solvers.conditions`). Each term is one fused kernel over its points: the network's
Taylor-mode passes, the residual and the squared error, accumulated into the term's mean square.
The loss is the weighted sum of the terms; its gradient with respect to the network parameters
and the unknown coefficients comes from ``td.Tape`` (the kernels' generated adjoints).

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
from tidal.dsl import loader
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers import conditions as cond
from tidal.solvers import operators
from tidal.solvers.geometry import Geometry, SpaceTime
from tidal.solvers.network import MLP


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
    label: str
    weight: float
    kernel: object
    arrays: tuple
    n: int


class Problem:
    """A forward or inverse PINN problem as an objective for :class:`tidal.solvers.Trainer`.

    Args:
        domain: the geometry (a :class:`SpaceTime` for time-dependent problems, time last).
        pde: a tidal function of derivative names (e.g. ``u, u_t, u_x, u_xx``) returning the
            residual; penalised at the collocation points.
        conditions: boundary, initial, periodic, observed and operator conditions.
        net: the network; its ``in_dim`` must equal ``domain.dim``.
        n_collocation: number of collocation points in the domain's interior.
        method: sampling of collocation points (``"lhs"``, ``"sobol"``, ``"random"``, ``"grid"``).
        seed: seed of all sampling.
        variables: names of the coordinates (default ``x, y, z`` for space and ``t`` for time).
        output: name of the network's output in derivative names (default ``u``).
        unknowns: trainable coefficients (inverse problems), usable by name in ``pde``.
        output_transform: optional tidal function ``(z, n) -> u`` of the coordinates and the raw
            network output, for hard constraints (e.g. ``u = x (1 - x) n`` vanishes at 0 and 1).
        pde_weight: weight of the residual term.
        collocation: optional ``(n, dim)`` collocation points used instead of sampling.
        forcing: the right-hand side ``f`` of ``pde(...) = f``: a number, or a NumPy function of
            the ``(n, dim)`` points returning ``(n,)`` values (e.g. a source known only as
            data); evaluated once per collocation point.

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

    def __init__(self, domain: Geometry, pde, conditions: Sequence[cond.Condition], net: MLP,
                 n_collocation: int = 1000, method: str = "lhs", seed: int = 0,
                 variables: Sequence[str] | None = None, output: str = "u",
                 unknowns: Sequence[Unknown] = (), output_transform=None,
                 pde_weight: float = 1.0, collocation=None, forcing: cond.Value = 0.0):
        if not isinstance(domain, Geometry):
            raise TidalArgumentError(f"domain must be a tidal.solvers Geometry, got "
                                     f"{type(domain).__name__}")
        if not isinstance(net, MLP):
            raise TidalArgumentError(f"net must be a tidal.solvers.MLP, got {type(net).__name__}")
        if net.in_dim != domain.dim:
            raise TidalArgumentError(f"the network takes {net.in_dim} inputs but the domain has "
                                     f"{domain.dim} coordinates")
        self.domain, self.net, self.seed, self.method = domain, net, int(seed), method
        self.variables = tuple(variables) if variables is not None else _default_names(domain)
        if len(self.variables) != domain.dim or len(set(self.variables)) != domain.dim or any(
                len(v) != 1 or not v.isalpha() for v in self.variables):
            raise TidalArgumentError(f"variables must be {domain.dim} distinct single letters, "
                                     f"got {self.variables}",
                                     hint=f"pass variables= with one letter per coordinate, "
                                          f"e.g. variables={_example_names(domain.dim)!r}")
        self.output = output
        self.unknowns = tuple(unknowns)
        names = [u.name for u in self.unknowns]
        if len(set(names)) != len(names):
            raise TidalArgumentError(f"unknowns have repeated names: {names}")
        self.conditions = list(conditions)
        for c in self.conditions:
            if not isinstance(c, cond.Condition):
                raise TidalArgumentError(f"conditions must be tidal.solvers conditions "
                                         f"(DirichletBC, NeumannBC, ...), got {type(c).__name__}")
        real = net.dtype
        self._real, self._store = real, (np.float32 if real == td.f32 else np.float64)
        self._vec = td.vec(domain.dim, real)
        self.u = _with_transform(net.func, output_transform, self._vec, real)
        self._tangent = td.jvp(self.u)
        n_terms = 1 + len(self.conditions)
        self.parts = ti.field(real, shape=n_terms, needs_grad=True)
        self.weights = ti.field(real, shape=n_terms)
        self.loss = ti.field(real, shape=(), needs_grad=True)
        self.unknown_field = ti.field(real, shape=max(1, len(self.unknowns)), needs_grad=True)
        self.unknown_field.from_numpy(np.array([u.initial for u in self.unknowns] or [0.0],
                                               dtype=self._store))
        self._linear, self._pair = self._linear_kernel(), self._pair_kernel()
        self._combine = self._combine_kernel()
        self._operators: dict[object, tuple] = {}
        self.pde, self.forcing = pde, forcing
        if collocation is None:
            points = domain.sample_interior(int(n_collocation), method=method, seed=self.seed)
        else:
            points = self._check_points(collocation)
        self.terms = [self._operator_term("pde", pde_weight, pde, points,
                                          self._forcing_at(points))]
        for k, c in enumerate(self.conditions):
            self.terms.append(self._condition_term(c, self.seed + 1 + k))
        self.weights.from_numpy(np.array([t.weight for t in self.terms], dtype=self._store))
        self.size = net.size + len(self.unknowns)
        self._last_parts: np.ndarray | None = None

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
            return self._operator_term(c.label, c.weight, batch.fn, batch.points, batch.target)
        if isinstance(batch, cond.PairBatch):
            arrays = (self._array(batch.first, True), self._array(batch.second, True))
            return _Term(c.label, c.weight, self._pair, arrays, len(batch.first))
        arrays = (self._array(batch.points, True), self._array(batch.directions, True),
                  self._array(batch.a, False), self._array(batch.b, False),
                  self._array(batch.target, False))
        return _Term(c.label, c.weight, self._linear, arrays, len(batch.points))

    def _operator_term(self, label: str, weight: float, fn, points, target) -> _Term:
        kernels = self._operator_kernels(fn)
        points = np.asarray(points, dtype=np.float64)
        if len(points) == 0:
            raise TidalArgumentError(f"the {label} term has no points")
        arrays = (self._array(points, True), self._array(target, False))
        term = _Term(label, weight, kernels[0], arrays, len(points))
        term.values_kernel = kernels[1]
        return term

    def _operator_kernels(self, fn) -> tuple:
        if fn in self._operators:
            return self._operators[fn]
        if not isinstance(fn, td.TidalFunction):
            raise TidalArgumentError(f"the residual {operators.where(fn)} must be a tidal "
                                     f"function (decorate it with @td.func)")
        names = fn.param_names
        p = operators.plan(fn, names, self.output, self.variables,
                           tuple(u.name for u in self.unknowns))
        namespace = {"VEC": self._vec, "REAL": self._real, "U": self.u, "USER": fn,
                     "PARTS": self.parts, "UNKNOWNS": self.unknown_field}
        if p.passes:
            namespace["P"] = td.taylor(self.u, order=operators.orders(p), argnums=0)
        made = []
        for write in (False, True):
            name = f"{fn.name}_{'values' if write else 'term'}"
            src = operators.kernel_source(p, name, write)
            made.append(td.kernel(loader.load(src, name, namespace, name)))
        self._operators[fn] = tuple(made)
        return self._operators[fn]

    def _linear_kernel(self):
        tangent, parts, vec, real = self._tangent, self.parts, self._vec, self._real

        @td.kernel
        def linear_term(pts: ti.types.ndarray(dtype=vec, ndim=1),
                        dirs: ti.types.ndarray(dtype=vec, ndim=1),
                        a: ti.types.ndarray(dtype=real, ndim=1),
                        b: ti.types.ndarray(dtype=real, ndim=1),
                        target: ti.types.ndarray(dtype=real, ndim=1), scale: real, part: ti.i32):
            for i in range(pts.shape[0]):
                c = tangent(pts[i], dirs[i])
                e = a[i] * c[0] + b[i] * c[1] - target[i]
                parts[part] += scale * e * e

        return linear_term

    def _pair_kernel(self):
        u, parts, vec, real = self.u, self.parts, self._vec, self._real

        @td.kernel
        def pair_term(first: ti.types.ndarray(dtype=vec, ndim=1),
                      second: ti.types.ndarray(dtype=vec, ndim=1), scale: real, part: ti.i32):
            for i in range(first.shape[0]):
                e = u(first[i]) - u(second[i])
                parts[part] += scale * e * e

        return pair_term

    def _combine_kernel(self):
        parts, weights, loss = self.parts, self.weights, self.loss
        n = self.parts.shape[0]

        @td.kernel
        def combine():
            for k in range(n):
                loss[None] += weights[k] * parts[k]

        return combine

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

    def _run(self) -> None:
        for k, t in enumerate(self.terms):
            t.kernel(*t.arrays, 1.0 / t.n, k)
        self._combine()

    def _reset(self) -> None:
        self.parts.fill(0.0)
        self.loss.fill(0.0)

    def value_and_grad(self, flat) -> tuple[float, np.ndarray]:
        """The loss and its gradient (float64) at parameters ``flat``.

        The loss is linear in the terms' mean squares (``sum_k w_k parts_k``), so their
        cotangents are the weights before anything runs, and each term's kernel runs once,
        computing its mean square and its gradient contribution together
        (:func:`tidal.launch_with_adjoint`) instead of a forward kernel followed
        by an adjoint kernel that recomputes it.
        """
        self.set_flat(flat)
        self._reset()
        self.net.clear_grads()  # only this problem's gradients: the user's other fields keep theirs
        self.unknown_field.grad.fill(0.0)
        self.parts.grad.copy_from(self.weights)
        for k, t in enumerate(self.terms):
            td.launch_with_adjoint(t.kernel, *t.arrays, 1.0 / t.n, k)
        self._combine()
        self._last_parts = self.parts.to_numpy().astype(np.float64)
        grad = self.net.grad_flat()
        if self.unknowns:
            extra = self.unknown_field.grad.to_numpy()[:len(self.unknowns)]
            grad = np.concatenate([grad, extra.astype(np.float64)])
        return float(self.loss[None]), grad

    def value(self, flat) -> float:
        """The loss alone at parameters ``flat``."""
        self.set_flat(flat)
        self._reset()
        self._run()
        self._last_parts = self.parts.to_numpy().astype(np.float64)
        return float(self.loss[None])

    def describe(self, flat) -> dict[str, float]:
        """Each term's mean square (``loss_<label>``) and each unknown's value, at ``flat``."""
        flat = np.asarray(flat, dtype=np.float64)
        self.value(flat)
        out = {}
        for t, v in zip(self.terms, self._last_parts):
            key = f"loss_{t.label}"
            out[key] = out.get(key, 0.0) + float(v)
        for u, v in zip(self.unknowns, flat[self.net.size:]):
            out[u.name] = float(v)
        return out

    # -- residuals, refinement, prediction -----------------------------------------------------
    def _forcing_at(self, points: np.ndarray) -> np.ndarray:
        return cond.evaluate(self.forcing, points, "the PDE's forcing")

    def residual(self, points) -> np.ndarray:
        """The PDE residual ``pde(...) - forcing`` at ``points`` (shape ``(n, dim)``), float64
        ``(n,)``."""
        points = self._check_points(points)
        out = ti.ndarray(self._real, shape=len(points))
        self.terms[0].values_kernel(self._array(points, True),
                                    self._array(self._forcing_at(points), False), out)
        return out.to_numpy().astype(np.float64)

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
        added = candidates[np.argsort(-r)[:n_add]]
        t = self.terms[0]
        points = np.concatenate([t.arrays[0].to_numpy().astype(np.float64), added])
        t.arrays = (self._array(points, True), self._array(self._forcing_at(points), False))
        t.n = len(points)
        return added

    @property
    def collocation_points(self) -> np.ndarray:
        """The current collocation points, float64 ``(n, dim)``."""
        return self.terms[0].arrays[0].to_numpy().astype(np.float64)

    def predict(self, points) -> np.ndarray:
        """The solution (network with output transform) at ``points``, float64 ``(n,)``."""
        points = self._check_points(points)
        return np.asarray(td.vectorize(self.u)(points), dtype=np.float64).reshape(-1)

    def predict_grid(self, *axes) -> np.ndarray:
        """The solution on the grid spanned by one 1-D array per coordinate (``ij`` indexing).

        Example: ``u = problem.predict_grid(x, t)`` has shape ``(len(x), len(t))``.
        """
        if len(axes) != self.domain.dim:
            raise TidalArgumentError(f"give one axis per coordinate ({self.domain.dim}), got "
                                     f"{len(axes)}")
        grids = np.meshgrid(*[np.asarray(a, dtype=np.float64).reshape(-1) for a in axes],
                            indexing="ij")
        points = np.stack([g.reshape(-1) for g in grids], axis=1)
        return self.predict(points).reshape(grids[0].shape)

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
    """x, y, z (and w), with t last for space-time domains; a domain with more coordinates has
    no default names (the user passes ``variables=``)."""
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


def _with_transform(net_func, transform, vec, real):
    if transform is None:
        return net_func
    if not isinstance(transform, td.TidalFunction):
        raise TidalArgumentError("output_transform must be a tidal function (z, n) -> u "
                                 "(decorate it with @td.func)")

    @td.func
    def transformed(z: vec) -> real:
        return transform(z, net_func(z))

    return transformed

