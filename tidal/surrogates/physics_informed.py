"""Physics-informed DeepONet (Wang, Wang & Perdikaris, Sci. Adv. 2021; DeepXDE's
``PDEOperatorCartesianProd``): a :class:`~tidal.surrogates.DeepONet` trained on a PDE residual
and conditions instead of paired solutions, as an :class:`Objective` of
:class:`tidal.solvers.Trainer`.

The residual is a tidal function whose parameter names say what it needs, as for a PINN
(:mod:`tidal.solvers.operators`): the output ``u``, derivatives such as ``u_t`` and ``u_xx`` of
the network with respect to the trunk inputs, the coordinates (``x``, ``t``), and the input
function's value at the point (``f`` by default)::

    @td.func
    def diffusion_reaction(u: td.f64, u_t: td.f64, u_xx: td.f64, f: td.f64) -> td.f64:
        return u_t - 0.01 * u_xx + 0.01 * u * u - f

How the derivatives are taken: ``G(v)(y) = sum_k b_k(v) a(t_k(y)) + b0`` is linear in the
activated trunk features ``a(t_k(y))``, so every derivative in ``y`` is the branch outputs
dotted with the same derivative of those features. One kernel runs the branch once per selected
function and, per point, one Taylor-mode pass (``td.taylor`` with a tuple of orders, the
directions of :func:`tidal.solvers.operators.plan`) of the trunk features: all derivatives of
all ``p`` features at once. A second kernel combines them for every (function, point) pair,
evaluates the residual and the conditions and accumulates each function's squared errors per
term. This is the cartesian-product evaluation of DeepXDE (trunk once per point), and it equals
``td.taylor`` of :attr:`DeepONet.func` in ``y`` at every pair (tests/test_pi_deeponet.py checks
it); taking that Taylor pass per pair would repeat the trunk for every function.

One evaluation (loss and gradient) is four kernel launches plus the parameter copies: one that
zeroes the features and seeds the cotangents, the features kernel, the combination with its
adjoint and the features kernel with its adjoint (:func:`tidal.launch_with_adjoint`, the
generated adjoints of :mod:`tidal.autodiff`; never Taichi's autodiff).

The loss is DeepXDE's: ``sum_c w_c mean_i mean_j e_{c,i,j}^2`` over terms ``c`` (the residual,
then each condition), functions ``i`` of the batch and the term's points ``j``.

Guarantees: the loss is the float64 combination of the per-function, per-term sums the kernels
accumulate and the gradient is exact for it (to the network's precision); batches are
deterministic for a seed and cover every function once per epoch (as
:class:`~tidal.surrogates.Supervised`); after ``shard(index, count)``
(:meth:`~tidal.surrogates.supervised.FunctionBatches.shard`, for
:class:`tidal.distributed.DataParallel`) the loss, the gradient and
:meth:`PhysicsInformed.shard_scalars` are this shard's parts, which sum over the shards to the
unsharded numbers (the data stay whole on every shard); bad input raises
:class:`tidal.TidalArgumentError` naming the argument before any kernel runs.
"""

# No `from __future__ import annotations`: Taichi reads kernel annotations as objects.
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.interpolate
import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers import operators
from tidal.surrogates import data as _data
from tidal.surrogates import deeponet as _deeponet
from tidal.surrogates import grf as _grf
from tidal.surrogates import supervised as _supervised


@dataclass
class PointCondition:
    """``u = values`` at ``points`` for every input function: a loss term
    ``weight * mean_i mean_j (u_i(points_j) - values_ij)^2``.

    Args:
        points: ``(M, d)`` trunk points (a 1-D array for ``d = 1``).
        values: a number (the same for every function and point), ``(M,)`` (every function),
            or ``(n, M)`` (one row per input function, in the objective's order).
        label: the term's name in ``describe`` (``loss_<label>``).
        weight: the term's weight.

    Example:
        >>> import numpy as np
        >>> PointCondition(np.zeros((3, 2)), 0.0, "ic").label
        'ic'
    """

    points: object
    values: object = 0.0
    label: str = "bc"
    weight: float = 1.0


def diffusion_reaction_sources(n: int, seed: int = 0, at=None, m: int = 50,
                               length_scale: float = 0.2, n_fine: int = 1000,
                               first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The sources ``f`` of ``generate("diffusion_reaction", ..., seed=seed)`` without solving:
    their values at the ``m`` sensors and at the coordinates ``at``.

    Function ``i`` is drawn from :func:`~tidal.surrogates.sample_rng` ``(seed, first + i)`` as
    :func:`~tidal.surrogates.diffusion_reaction_sample` draws it (an RBF field on ``n_fine``
    points and its cubic spline), so its sensor values equal that data set's ``inputs[i]``.

    Args:
        n: number of functions.
        seed: the data set's seed.
        at: ``(K,)`` coordinates to evaluate each function at (e.g. the ``x`` of the residual
            points), or None.
        m, length_scale, n_fine: as for ``diffusion_reaction_sample``.
        first: index of the first function.

    Returns:
        ``(sensors (n, m), values (n, K))`` (``values`` is ``(n, 0)`` without ``at``).

    Example:
        >>> s, v = diffusion_reaction_sources(2, seed=0, at=[0.0, 1.0])
        >>> s.shape, v.shape, bool(np.allclose(s[:, 0], v[:, 0]))
        ((2, 50), (2, 2), True)
    """
    n = _deeponet._positive_int("n", n)
    at = np.zeros(0) if at is None else np.asarray(at, dtype=np.float64).reshape(-1)
    fine = np.linspace(0.0, 1.0, n_fine)
    sensors = np.linspace(0.0, 1.0, m)
    out_s, out_v = np.empty((n, m)), np.empty((n, len(at)))
    for i in range(n):
        rng = _data.sample_rng(seed, first + i)
        spline = scipy.interpolate.CubicSpline(fine, _grf.grf_rbf(n_fine, rng, length_scale))
        out_s[i], out_v[i] = spline(sensors), spline(at)
    return out_s, out_v


def diffusion_reaction_residual(diffusivity: float = 0.01, k: float = 0.01, real=None):
    """DeepXDE's diffusion-reaction residual ``u_t - D u_xx + k u^2 - f`` as a tidal function
    of ``(u, u_t, u_xx, f)`` in ``real`` (default ``td.f64``); its zero is the equation that
    :func:`~tidal.surrogates.solve_diffusion_reaction` solves.

    Example:
        >>> import tidal as td
        >>> diffusion_reaction_residual(0.01, 0.01, td.f64).param_names
        ('u', 'u_t', 'u_xx', 'f')
    """
    real = td.f64 if real is None else real
    d, kk = float(diffusivity), float(k)

    @td.func
    def diffusion_reaction(u: real, u_t: real, u_xx: real, f: real) -> real:
        return u_t - d * u_xx + kk * u * u - f

    return diffusion_reaction


def diffusion_reaction_points(n_domain: int = 200, n_boundary: int = 40, n_initial: int = 20,
                              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of DeepXDE's diffusion-reaction set-up on ``[0, 1] x [0, 1]`` (columns ``x, t``),
    drawn uniformly at random: ``n_domain`` inside, ``n_boundary`` on ``x = 0`` and ``x = 1``
    (alternating) and ``n_initial`` at ``t = 0``. As in DeepXDE the residual is taken at all of
    them and the conditions at the boundary and initial ones.

    Returns:
        ``(residual points (n_domain + n_boundary + n_initial, 2), boundary points,
        initial points)``.

    Example:
        >>> r, b, i = diffusion_reaction_points(10, 4, 2)
        >>> r.shape, b[:, 0].tolist(), i[:, 1].tolist()
        ((16, 2), [0.0, 1.0, 0.0, 1.0], [0.0, 0.0])
    """
    rng = np.random.default_rng(seed)
    domain = rng.uniform(size=(n_domain, 2))
    boundary = np.c_[np.arange(n_boundary) % 2, rng.uniform(size=n_boundary)].astype(float)
    initial = np.c_[rng.uniform(size=n_initial), np.zeros(n_initial)]
    return np.concatenate([initial, boundary, domain]), boundary, initial


def network_features(net, act, activate: bool):
    """An MLP of ``p`` outputs as a tidal function ``z -> vec(p)`` that loops over its inputs
    and outputs at run time (``MLP.func`` unrolls both, which makes a kernel of ``p = 128``
    outputs take minutes to compile); the same parameters and the same numbers.

    Args:
        net: a :class:`tidal.solvers.MLP` with ``out_dim > 1`` and no Fourier features.
        act: the activation (a tidal function of one real).
        activate: also pass the outputs through ``act`` (a DeepONet's trunk).

    Example:
        >>> import tidal as td
        >>> from tidal.surrogates import DeepONet
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = DeepONet(4, 2, width=6, p=3, dtype=td.f64)
        >>> network_features(net.trunk, net.act, True).name
        'features'
    """
    if net.out_dim < 2 or net.fourier_features:
        raise TidalArgumentError("network_features needs an MLP of several outputs and no "
                                 "Fourier features")
    W0, b0, W, b, Wout, bout = net.fields
    width, hidden, dim, p, real = net.width, net.depth - 1, net.in_dim, net.out_dim, net.dtype
    scale = ti.field(real, shape=dim)
    shift = ti.field(real, shape=dim)
    scale.from_numpy(np.asarray(net.scale, dtype=np.float64).astype(
        np.float32 if real == td.f32 else np.float64))
    shift.from_numpy(np.asarray(net.shift, dtype=np.float64).astype(
        np.float32 if real == td.f32 else np.float64))
    vec_in, vec_p = td.vec(dim, real), td.vec(p, real)

    @td.func
    def features(z: vec_in) -> vec_p:
        h = ti.Vector.zero(real, width)
        for j in range(width):
            a = b0[j]
            for d in range(dim):
                a += W0[j, d] * (scale[d] * z[d] + shift[d])
            h[j] = act(a)
        for layer in range(hidden):
            h2 = ti.Vector.zero(real, width)
            for j in range(width):
                a = b[layer, j]
                for k in range(width):
                    a += W[layer, j, k] * h[k]
                h2[j] = act(a)
            h = h2
        out = ti.Vector.zero(real, p)
        for c in range(p):
            o = bout[c]
            for k in range(width):
                o += Wout[c, k] * h[k]
            if ti.static(activate):
                out[c] = act(o)
            else:
                out[c] = o
        return out

    return features


def branch_features(model: "_deeponet.DeepONet"):
    """The tidal function ``v -> (b_1(v), ..., b_p(v))`` of a DeepONet: its branch outputs
    (unstacked: :func:`network_features` of the one branch network; stacked: the ``p`` branch
    networks' ``Separate.func``, unrolled over ``k``, so a large ``p`` compiles slowly).

    Example:
        >>> import tidal as td
        >>> from tidal.surrogates import DeepONet
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> branch_features(DeepONet(4, 2, width=6, p=3, dtype=td.f64)).name
        'features'
    """
    if model.form == "stacked":
        return model.branch.func
    return network_features(model.branch, model.act, False)


def trunk_features(model: "_deeponet.DeepONet"):
    """The tidal function ``y -> (a(t_1(y)), ..., a(t_p(y)))`` of a DeepONet: its trunk's
    activated outputs, which ``G(v)(y)`` combines linearly with the branch's.

    Example:
        >>> import tidal as td
        >>> from tidal.surrogates import DeepONet
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> trunk_features(DeepONet(4, 2, width=6, p=3, dtype=td.f64)).name
        'features'
    """
    return network_features(model.trunk, model.act, True)


def _kernels(plan, n_parts: int, m: int, p: int, real, vec_d, branch, features, B, T, E, b0,
             pde) -> tuple:
    """The three kernels of a :class:`PhysicsInformed`, as tidal code specialised by the plan:

    * ``pi_features(v, rows, pts)``: the branch per selected function into ``B``, and per
      point one Taylor pass of the trunk features along the plan's directions into ``T``
      (``T[j, c, k]``: part ``c`` of feature ``k``'s jet);
    * ``pi_terms(rows, pts, forcing, n_res, targets, term, scales)``: per (function, point) the
      jets ``J[c] = sum_k B[r, k] T[j, c, k]`` (plus ``b0`` for the value), the residual on the
      first ``n_res`` points by the PINN operators' own argument gathering
      (:func:`tidal.solvers.operators.evaluator`) and the conditions on the others, summed per
      function and term into ``E``;
    * ``pi_residual(rows, pts, forcing, n_res, out)``: the residual values.
    """
    parts = tuple(range(n_parts))
    order = operators.orders(plan)
    jets = None if order is None else td.taylor(features, order=order, argnums=0)
    along, evaluate = operators.evaluator(plan, [pde], real)

    @ti.func
    def combined(r, j):
        """The network's jet at point ``j`` for function ``r``: a tuple of ``n_parts``."""
        s = ()
        for c in ti.static(parts):
            if ti.static(c == 0):
                s = s + (b0[None],)
            else:
                s = s + (ti.cast(0.0, real),)
        for k in range(p):
            br = B[r, k]
            t = ()
            for c in ti.static(parts):
                t = t + (s[c] + br * T[j, c, k],)
            s = t
        return s

    @td.kernel
    def pi_features(v: ti.types.ndarray(dtype=real, ndim=2),
                    rows: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    pts: ti.types.ndarray(dtype=vec_d, ndim=1)):
        for r in range(rows.shape[0]):
            z = ti.Vector.zero(real, m)
            for d in range(m):
                z[d] = v[rows[r], d]
            b = branch(z)
            for k in range(p):
                B[r, k] += b[k]
        for j in range(pts.shape[0]):
            if ti.static(jets is None):
                a = features(pts[j])
                for k in range(p):
                    T[j, 0, k] += a[k]
            else:
                J = jets(pts[j], *along())
                for k in range(p):
                    for c in ti.static(parts):
                        T[j, c, k] += J[c][k]

    @td.kernel
    def pi_terms(rows: ti.types.ndarray(dtype=ti.i32, ndim=1),
                 pts: ti.types.ndarray(dtype=vec_d, ndim=1),
                 forcing: ti.types.ndarray(dtype=real, ndim=2), n_res: ti.i32,
                 targets: ti.types.ndarray(dtype=real, ndim=2),
                 term: ti.types.ndarray(dtype=ti.i32, ndim=1),
                 scales: ti.types.ndarray(dtype=real, ndim=1)):
        # one function per iteration, its points in order: each function's sums are added
        # by one thread in one order (the same loss bit for bit at every evaluation; a
        # parallel loop over (function, point) pairs added them from both threads in an
        # order that varied with timing)
        for r in range(rows.shape[0]):
            for j in range(n_res):
                e = evaluate(pts[j], combined(r, j), (forcing[rows[r], j],), 0)
                E[r, 0] += scales[0] * e * e
            for i in range(pts.shape[0] - n_res):
                j = n_res + i
                s = b0[None]
                for k in range(p):
                    s += B[r, k] * T[j, 0, k]
                e = s - targets[rows[r], i]
                E[r, term[i]] += scales[term[i]] * e * e

    @td.kernel
    def pi_residual(rows: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    pts: ti.types.ndarray(dtype=vec_d, ndim=1),
                    forcing: ti.types.ndarray(dtype=real, ndim=2), n_res: ti.i32,
                    out: ti.types.ndarray(dtype=real, ndim=2)):
        for q in range(rows.shape[0] * n_res):
            r = q // n_res
            j = q % n_res
            out[r, j] = evaluate(pts[j], combined(r, j), (forcing[rows[r], j],), 0)

    return pi_features, pi_terms, pi_residual


class PhysicsInformed(_supervised.FunctionBatches):
    """The physics-informed loss of a DeepONet over a set of input functions, for
    :class:`tidal.solvers.Trainer`.

    Args:
        model: a :class:`~tidal.surrogates.DeepONet` (``trunk_dim`` = number of variables).
        pde: the residual, a tidal function of names: ``u``, derivatives ``u_<variables>``
            (e.g. ``u_t``, ``u_xx``, ``u_xt``), the variables, and ``forcing_name``.
        inputs: ``(n, m)``: the input functions at the branch sensors.
        points: ``(N, d)``: the residual points, shared by every function (columns in the
            order of ``variables``).
        forcing: ``(n, N)``: each input function's value at the residual points (what
            ``forcing_name`` means in ``pde``); None when ``pde`` does not use it.
        conditions: :class:`PointCondition` terms (e.g. ``u = 0`` on the boundary and at
            ``t = 0``).
        variables: names of the trunk inputs, in the columns' order.
        forcing_name: the residual's name for the input function's value at the point.
        pde_weight: the residual term's weight.
        batch_size: functions per evaluation (DeepXDE's ``batch_size``); None: all.
        seed: seed of the batch order.

    Attributes:
        labels: the terms' names (``"pde"``, then the conditions').
        version: grows with each change of batch (the Trainer's evaluation cache keys on it).
        shard_index, shard_count: the shard evaluated
            (:meth:`~tidal.surrogates.supervised.FunctionBatches.shard`: rows
            ``shard_index::shard_count`` of each batch, the means over the whole batch); the
            data stay whole on every shard. :meth:`describe` and :meth:`residual` stay whole.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import DeepONet, PhysicsInformed, PointCondition
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> @td.func
        ... def heat(u_t: td.f64, u_xx: td.f64, f: td.f64) -> td.f64:
        ...     return u_t - 0.1 * u_xx - f
        >>> net = DeepONet(5, 2, width=8, p=4, activation="tanh", dtype=td.f64)
        >>> pts = np.random.default_rng(0).uniform(size=(6, 2))
        >>> f = np.ones((3, 5))
        >>> ic = PointCondition(np.c_[np.linspace(0, 1, 4), np.zeros(4)], 0.0, "ic")
        >>> loss = PhysicsInformed(net, heat, f, pts, np.ones((3, 6)), [ic])
        >>> value, grad = loss.value_and_grad(net.get_flat())
        >>> grad.shape == (net.size,), loss.labels
        (True, ['pde', 'ic'])
    """

    def __init__(self, model: "_deeponet.DeepONet", pde, inputs, points, forcing=None,
                 conditions: Sequence[PointCondition] = (), variables=("x", "t"),
                 forcing_name: str = "f", pde_weight: float = 1.0,
                 batch_size: int | None = None, seed: int = 0):
        if not isinstance(model, _deeponet.DeepONet):
            raise TidalArgumentError(f"model must be a tidal.surrogates.DeepONet, got "
                                     f"{type(model).__name__}")
        if not isinstance(pde, td.TidalFunction):
            raise TidalArgumentError(f"the residual {operators.where(pde)} must be a tidal "
                                     f"function (decorate it with @td.func)")
        variables = tuple(str(v) for v in variables)
        if len(variables) != model.trunk_dim:
            raise TidalArgumentError(f"variables {variables} name {len(variables)} trunk "
                                     f"inputs, but the DeepONet's trunk takes "
                                     f"{model.trunk_dim}")
        inputs = model.check_inputs(inputs)
        points = model.check_points(points)
        n, n_res = len(inputs), len(points)
        uses_forcing = forcing_name in pde.param_names
        if uses_forcing:
            if forcing is None:
                raise TidalArgumentError(
                    f"the residual {operators.where(pde)} takes `{forcing_name}`, the input "
                    f"function at the point: pass forcing= of shape (n, N) = ({n}, {n_res})")
            forcing = np.asarray(forcing, dtype=np.float64)
            if forcing.shape != (n, n_res):
                raise TidalArgumentError(f"forcing must have shape (n, N) = ({n}, {n_res}) "
                                         f"(each input function at each residual point), got "
                                         f"{forcing.shape}")
            if not np.all(np.isfinite(forcing)):
                raise TidalArgumentError("forcing contains NaN or inf")
        else:
            forcing = np.zeros((n, 1))
        batch_size = self._checked_batch_size(batch_size, n)
        self.model, self.pde, self.variables = model, pde, variables
        self.inputs, self.points, self.forcing = inputs, points, forcing
        self.n, self.n_res = n, n_res
        self.size = model.size
        self.seed = int(seed)
        self.batch_size = batch_size
        cond_points, cond_values, cond_term = [], [], []
        self.labels, weights, counts = ["pde"], [float(pde_weight)], [n_res]
        for c in conditions:
            if not isinstance(c, PointCondition):
                raise TidalArgumentError(f"conditions must be PointCondition objects, got "
                                         f"{type(c).__name__}")
            pts = model.check_points(c.points, name=f"condition {c.label!r} points")
            vals = np.asarray(c.values, dtype=np.float64)
            if vals.ndim == 0 or vals.shape == (len(pts),):
                vals = np.broadcast_to(vals, (n, len(pts)))
            if vals.shape != (n, len(pts)) or not np.all(np.isfinite(vals)):
                raise TidalArgumentError(
                    f"condition {c.label!r}: values must be a number, ({len(pts)},) or "
                    f"({n}, {len(pts)}) finite values, got shape {vals.shape}")
            cond_term.append(np.full(len(pts), len(self.labels), dtype=np.int32))
            self.labels.append(str(c.label))
            weights.append(float(c.weight))
            counts.append(len(pts))
            cond_points.append(pts)
            cond_values.append(vals)
        if len(set(self.labels)) != len(self.labels):
            raise TidalArgumentError(f"term labels must differ, got {self.labels}",
                                     hint="pass label= to each PointCondition")
        self.term_weights = np.array(weights)
        self._counts = np.array(counts, dtype=np.float64)
        self.n_terms = len(self.labels)
        real = model.dtype
        store = np.float32 if real == td.f32 else np.float64
        self._store, self._real = store, real
        all_points = np.concatenate([points] + cond_points) if cond_points else points
        self._pts = ti.Vector.ndarray(model.trunk_dim, real, shape=len(all_points))
        self._pts.from_numpy(all_points.astype(store))
        self._forcing = self._ndarray(forcing)
        self._inputs = self._ndarray(inputs)
        n_cond = len(all_points) - n_res
        self._targets = self._ndarray(np.concatenate(cond_values, axis=1) if cond_values
                                      else np.zeros((n, 1)))
        self._term = ti.ndarray(ti.i32, shape=max(n_cond, 1))
        self._term.from_numpy(np.concatenate(cond_term) if cond_term
                              else np.zeros(1, dtype=np.int32))
        self._scales = self._ndarray(1.0 / self._counts)
        self._plan = operators.plan([pde], ("u",), variables, (forcing_name,), vector=False,
                                    forcing=True)
        self._n_parts = 1 + sum(k for _, k in self._plan.passes)
        p = model.p
        self.branch_out = ti.field(real, shape=(n, p), needs_grad=True)
        self.jets = ti.field(real, shape=(len(all_points), self._n_parts, p), needs_grad=True)
        self.errors = ti.field(real, shape=(n, self.n_terms), needs_grad=True)
        self._build()
        self._start_batches(n)
        self._last_parts = np.zeros(self.n_terms)

    def _ndarray(self, values: np.ndarray):
        values = np.ascontiguousarray(values, dtype=self._store)
        a = ti.ndarray(self._real, shape=values.shape)
        a.from_numpy(values)
        return a

    def _build(self) -> None:
        model, real, p = self.model, self._real, self.model.p
        if p == 1:
            raise TidalArgumentError("a physics-informed DeepONet needs p >= 2")
        B, T, E = self.branch_out, self.jets, self.errors
        made = _kernels(self._plan, self._n_parts, model.m, p, real,
                        td.vec(model.trunk_dim, real),
                        branch_features(model),
                        trunk_features(model), B, T, E, model.b0, self.pde)
        self._features, self._terms, self._residual = made

        @ti.kernel
        def prepare(seeds: ti.types.ndarray(dtype=real, ndim=2)):
            for r, k in B:
                B[r, k] = 0.0
                B.grad[r, k] = 0.0
            for j, c, k in T:
                T[j, c, k] = 0.0
                T.grad[j, c, k] = 0.0
            for r, c in E:
                E[r, c] = 0.0
                E.grad[r, c] = seeds[r, c] if r < seeds.shape[0] else 0.0

        self._prepare = prepare

    def _seeds(self, rows: np.ndarray, total: int) -> np.ndarray:
        """The cotangents of the per-function, per-term sums of ``rows``, part of a batch of
        ``total`` functions."""
        return np.broadcast_to(self.term_weights / total,
                               (len(rows), self.n_terms)).astype(self._store)

    def _forward(self, rows: np.ndarray, seeds: np.ndarray) -> None:
        self._prepare(np.ascontiguousarray(seeds, dtype=self._store))
        self._features(self._inputs, rows, self._pts)

    def _term_args(self, rows):
        return (rows, self._pts, self._forcing, self.n_res, self._targets, self._term,
                self._scales)

    def _parts(self, rows: np.ndarray, total: int) -> np.ndarray:
        """Each term's sum over ``rows`` of the functions' mean squares, divided by ``total``
        (the batch's size: ``rows`` may be one shard's part of it)."""
        sums = self.errors.to_numpy()[:len(rows)].astype(np.float64)
        self._last_parts = sums.sum(axis=0) / total
        return self._last_parts

    def _term_losses(self, rows: np.ndarray, total: int) -> np.ndarray:
        """Each term's loss over ``rows`` as part of a batch of ``total`` (forward only; zeros
        without a kernel when ``rows`` is empty)."""
        if len(rows) == 0:
            self._last_parts = np.zeros(self.n_terms)
            return self._last_parts
        self._forward(rows, np.zeros((len(rows), self.n_terms)))
        self._terms(*self._term_args(rows))
        return self._parts(rows, total)

    def _loss_into_grads(self, rows: np.ndarray) -> float:
        """This shard's part of the loss of batch ``rows``, its gradient added into the model's
        parameter gradients."""
        total, rows = len(rows), self.local(rows)
        if len(rows) == 0:
            self._last_parts = np.zeros(self.n_terms)
            return 0.0
        self._forward(rows, self._seeds(rows, total))
        td.launch_with_adjoint(self._terms, *self._term_args(rows))
        td.launch_with_adjoint(self._features, self._inputs, rows, self._pts)
        return float(self.term_weights @ self._parts(rows, total))

    def value(self, flat, rows=None) -> float:
        """The loss over all functions (or ``rows``) at ``flat`` (after :meth:`shard`: this
        shard's part of it, its share of the functions with the means over all of them)."""
        self.set_flat(flat)
        rows = self._checked_rows(rows)
        return float(self.term_weights @ self._term_losses(self.local(rows), len(rows)))

    def describe(self, flat) -> dict[str, float]:
        """Each term's loss (``loss_<label>``) over all functions at ``flat``, whole whatever
        the shard (a validation metric; :meth:`shard_scalars` gives the shard's parts)."""
        self.set_flat(flat)
        parts = self._term_losses(self._all, self.n)
        return {f"loss_{label}": float(v) for label, v in zip(self.labels, parts)}

    def shard_scalars(self, flat) -> tuple[dict[str, float], dict[str, float]]:
        """This shard's parts of :meth:`describe`'s scalars, for
        :meth:`tidal.distributed.DataParallel.describe`: ``(summed, same)``, every
        ``loss_<label>`` in ``summed`` (their sums over the shards are :meth:`describe`'s
        values), ``same`` empty.

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, PhysicsInformed
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> @td.func
            ... def lap(u_xx: td.f64) -> td.f64:
            ...     return u_xx
            >>> net = DeepONet(3, 1, width=4, p=2, dtype=td.f64, activation="tanh")
            >>> s = PhysicsInformed(net, lap, np.ones((5, 3)), np.ones((2, 1)),
            ...                     variables=("x",))
            >>> summed, same = s.shard_scalars(net.get_flat())
            >>> sorted(summed), same
            (['loss_pde'], {})
        """
        self.set_flat(flat)
        parts = self._term_losses(self.local(self._all), self.n)
        return {f"loss_{label}": float(v) for label, v in zip(self.labels, parts)}, {}

    def residual(self, flat=None, rows=None) -> np.ndarray:
        """The residual at every (function, residual point): float64 ``(len(rows), N)`` (all
        of ``rows`` whatever the shard: a validation metric).

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.surrogates import DeepONet, PhysicsInformed
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> @td.func
            ... def lap(u_xx: td.f64) -> td.f64:
            ...     return u_xx
            >>> net = DeepONet(3, 1, width=4, p=2, dtype=td.f64, activation="tanh")
            >>> s = PhysicsInformed(net, lap, np.zeros((5, 3)), np.zeros((2, 1)),
            ...                     variables=("x",))
            >>> s.residual().shape
            (5, 2)
        """
        if flat is not None:
            self.set_flat(flat)
        rows = self._checked_rows(rows)
        self._forward(rows, np.zeros((len(rows), self.n_terms)))
        out = ti.ndarray(self._real, shape=(len(rows), self.n_res))
        self._residual(rows, self._pts, self._forcing, self.n_res, out)
        return out.to_numpy().astype(np.float64)


def relative_l2(model: "_deeponet.DeepONet", inputs, points, solutions) -> np.ndarray:
    """Each function's relative L2 error ``||G(v_i) - u_i|| / ||u_i||`` at shared points.

    Args:
        model: the DeepONet.
        inputs: ``(n, m)`` input functions at the sensors.
        points: ``(N, d)`` points.
        solutions: ``(n, N)`` reference values.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import DeepONet
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = DeepONet(3, 1, width=4, p=2, dtype=td.f64)
        >>> relative_l2(net, np.ones((2, 3)), np.zeros((4, 1)), np.ones((2, 4))).shape
        (2,)
    """
    solutions = np.asarray(solutions, dtype=np.float64)
    pred = model.predict(inputs, points)
    if solutions.shape != pred.shape:
        raise TidalArgumentError(f"solutions must have shape {pred.shape}, got "
                                 f"{solutions.shape}")
    return np.linalg.norm(pred - solutions, axis=1) / np.linalg.norm(solutions, axis=1)


__all__ = ["PhysicsInformed", "PointCondition", "diffusion_reaction_points",
           "diffusion_reaction_residual", "diffusion_reaction_sources", "relative_l2",
           "branch_features", "network_features", "trunk_features"]
