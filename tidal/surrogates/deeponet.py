"""DeepONet (Lu et al., Nat. Mach. Intell. 2021) written in tidal over the PINN networks'
parameter layer.

A :class:`DeepONet` is a branch network ``R^m -> R^p`` of the input function's values at ``m``
sensors and a trunk network ``R^d -> R^p`` of the output point, both
:class:`tidal.solvers.MLP` with ``out_dim=p``, combined as
``G(v)(y) = sum_k b_k(v) t_k(y) + b0`` (the "unstacked" form; as in DeepXDE the trunk's outputs
pass through the activation, the branch's do not). In the "stacked" form (Lu et al.'s first
form) the branch is ``p`` separate networks ``R^m -> R`` of one output each,
``b_k(v) = branch_k(v)`` (a :class:`tidal.solvers.Separate` of ``p`` MLPs), and everything else
is the same. Its parameters are the branch's (stacked: branch 0's, then branch 1's, ...), then
the trunk's (each in :meth:`MLP.get_flat` order), then ``b0``: one flat float64 vector read,
written and gradient-cleared by one kernel launch each.

Two evaluations, the same numbers:

* ``func``, a tidal function ``(v: td.vec(m), y: td.vec(d)) -> real`` (pointwise: both networks
  per call), which can be called from any tidal function or kernel, differentiated in ``y`` by
  ``td.taylor``/``td.grad`` and in the parameters by ``td.Tape``;
* :class:`Cartesian`, the DeepXDE "DeepONetCartesianProd" form for ``B`` functions sharing ``N``
  points: the branch once per function and the trunk once per point (one kernel), then the
  ``B x N`` combination (a second kernel); :mod:`tidal.surrogates.supervised` trains through it.

Guarantees: initialisation is deterministic for the seed (branch from ``seed``, or stacked
branch ``k`` from ``seed + 2 + k``; trunk from ``seed + 1``; ``b0 = 0``); ``predict`` equals
``func`` at every pair to rounding; bad shapes raise :class:`tidal.TidalArgumentError` naming the
argument before any kernel runs.
"""

import numpy as np
import taichi as ti

import tidal as td
from tidal.autodiff import parameters
from tidal.dsl import direct
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers import network
from tidal.solvers.network import ACTIVATIONS, MLP
from tidal.surrogates import _checks

#: Activations a DeepONet takes by name (``"relu"`` in addition to the MLP's).
DEEPONET_ACTIVATIONS = ("relu",) + ACTIVATIONS

#: The DeepONet forms: one branch network of ``p`` outputs, or ``p`` branch networks of one.
FORMS = ("unstacked", "stacked")


def relu(real=None):
    """The tidal function ``max(a, 0)`` of one real of type ``real`` (default ``td.f64``).

    Example:
        >>> import tidal as td
        >>> relu(td.f64).name
        'relu'
    """
    real = td.f64 if real is None else real

    @td.func
    def relu(a: real) -> real:
        return ti.max(a, 0.0)

    return relu


def _activation(activation, real):
    """The activation as a tidal function of one real."""
    if isinstance(activation, td.TidalFunction):
        if len(activation.param_names) != 1:
            raise TidalArgumentError(f"the activation {activation.name} must take one real, "
                                     f"it takes {len(activation.param_names)} arguments")
        return activation
    if activation == "relu":
        return relu(real)
    if activation in ACTIVATIONS:
        return network._named_activation(ACTIVATIONS.index(activation), real)
    raise TidalArgumentError(f"unknown activation {activation!r}; pass a tidal function of one "
                             f"real (@td.func) or one of {', '.join(DEEPONET_ACTIVATIONS)}")


def _positive_int(name: str, value, hint: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TidalArgumentError(f"{name} must be a positive int, got {value!r}", hint=hint)
    return int(value)


def _parameter_fields(net: MLP) -> list:
    """The fields behind ``net.get_flat()``, in its order (a network of one hidden layer has
    placeholder hidden-layer fields that hold no parameters)."""
    W0, b0, W, b, Wout, bout = net.fields
    return [W0, b0, W, b, Wout, bout] if net.depth > 1 else [W0, b0, Wout, bout]


class DeepONet(parameters.FlatParameters):
    """A DeepONet ``G(v)(y) = sum_k b_k(v) t_k(y) + b0`` as tidal code.

    Args:
        branch_sensors: ``m``, the number of sensor values of an input function.
        trunk_dim: ``d``, the dimension of an output point ``y``.
        width: neurons per hidden layer of both networks (an int), or ``(branch, trunk)``.
        depth: hidden layers of both networks (an int), or ``(branch, trunk)``. DeepXDE's
            ``[m, 40, 40]`` branch is ``width=40, depth=1, p=40``.
        p: the latent dimension (outputs of each network).
        activation: ``"relu"``, ``"tanh"``, ``"sin"``, ``"softplus"``, ``"sigmoid"`` or a tidal
            function of one real; used in both networks' hidden layers and on the trunk's
            outputs.
        seed: seed of the Glorot-normal initialisation, an int >= 0 (branch ``seed``, trunk
            ``seed + 1``).
        dtype: ``td.f32`` (default) or ``td.f64``.
        form: ``"unstacked"`` (one branch network of ``p`` outputs) or ``"stacked"`` (``p``
            branch networks of one output each, every one ``width[0] x depth[0]``; needs
            ``p >= 2``).
        trunk_lo, trunk_hi: optional bounds of the output points, mapped to ``[-1, 1]`` inside
            the trunk (default: points enter as they are, as in DeepXDE).

    Attributes:
        branch, trunk: the two networks: :class:`tidal.solvers.MLP` (the stacked branch is a
            :class:`tidal.solvers.Separate` of ``p`` MLPs, ``branch.nets``).
        size: number of parameters.
        func: the tidal function ``(v: td.vec(m, real), y: td.vec(d, real)) -> real``.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import DeepONet
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = DeepONet(5, 1, width=8, depth=1, p=4, activation="relu", dtype=td.f64)
        >>> net.size == net.branch.size + net.trunk.size + 1
        True
        >>> net.predict(np.ones((3, 5)), np.linspace(0, 1, 7)[:, None]).shape
        (3, 7)
        >>> stacked = DeepONet(5, 1, width=8, p=4, dtype=td.f64, form="stacked")
        >>> sizes = [b.size for b in stacked.branch.nets]
        >>> len(sizes), stacked.size == sum(sizes) + stacked.trunk.size + 1
        (4, True)
    """

    def __init__(self, branch_sensors: int, trunk_dim: int = 1, width=40, depth=1, p: int = 40,
                 activation="relu", seed: int = 0, dtype=None, form: str = "unstacked",
                 trunk_lo=None, trunk_hi=None):
        self.m = _positive_int("branch_sensors", branch_sensors)
        self.trunk_dim = _positive_int("trunk_dim", trunk_dim)
        self.p = _positive_int("p", p)
        seed = _checks.seed(seed)
        self.dtype = _checks.real_type(dtype)
        if form not in FORMS:
            raise TidalArgumentError(f"form must be one of {', '.join(map(repr, FORMS))}, got "
                                     f"{form!r}")
        widths = tuple(width) if isinstance(width, (tuple, list)) else (width, width)
        depths = tuple(depth) if isinstance(depth, (tuple, list)) else (depth, depth)
        if len(widths) != 2 or len(depths) != 2:
            raise TidalArgumentError("width and depth are ints or (branch, trunk) pairs")
        self.form = form
        self.act = _activation(activation, self.dtype)
        self.activation = activation
        self.branch_width, self.branch_depth = widths[0], depths[0]
        if form == "stacked":
            if self.p < 2:
                raise TidalArgumentError("a stacked DeepONet needs p >= 2 branch networks, got "
                                         "p=1", hint="with p=1 use form='unstacked' (the same "
                                                     "network)")
            nets = [MLP(self.m, width=widths[0], depth=depths[0], activation=self.act,
                        seed=seed + 2 + k, dtype=self.dtype, out_dim=1) for k in range(self.p)]
            self.branch = network.Separate(nets)
            branch_fields = [f for net in nets for f in _parameter_fields(net)]
        else:
            self.branch = MLP(self.m, width=widths[0], depth=depths[0], activation=self.act,
                              seed=seed, dtype=self.dtype, out_dim=self.p)
            branch_fields = _parameter_fields(self.branch)
        self.trunk = MLP(self.trunk_dim, width=widths[1], depth=depths[1], activation=self.act,
                         seed=seed + 1, dtype=self.dtype, out_dim=self.p, lo=trunk_lo,
                         hi=trunk_hi)
        self.b0 = ti.field(self.dtype, shape=(), needs_grad=True)
        self.b0[None] = 0.0
        self.size = self.branch.size + self.trunk.size + 1
        self._flat = parameters.FieldVector(branch_fields + _parameter_fields(self.trunk)
                                            + [self.b0])
        self.func = self._build()
        self._cartesian: dict = {}

    # -- parameters ----------------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the parameters and the architecture to a ``.npz`` file: ``path`` (NumPy appends
        ``.npz`` to a path without it; :meth:`load` takes either), creating its folder if it
        does not exist."""
        np.savez(parameters.save_path(path), params=self.get_flat(),
                 arch=np.array(self._arch(), dtype=np.str_))

    def load(self, path) -> None:
        """Load parameters saved by :meth:`save` (``path`` as given to it, with or without
        ``.npz``); the architecture must match.

        Raises:
            TidalArgumentError: no such file, not a checkpoint (naming what it holds), or a
                checkpoint of another network or architecture (naming it and the fields that
                differ).
        """
        self.set_flat(_checks.read_checkpoint(path, "DeepONet", self._arch())["params"])

    def _arch(self) -> list[str]:
        return [str(v) for v in (self.m, self.trunk_dim, self.branch_width, self.branch_depth,
                                 self.trunk.width, self.trunk.depth, self.p,
                                 network.activation_name(self.activation), self.form)]

    def __repr__(self) -> str:
        """The architecture, the float type and the number of parameters.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> print(DeepONet(10, 1, width=8, depth=2, p=4))
            DeepONet(branch_sensors=10, trunk_dim=1, p=4, form='unstacked', branch 8 x 2, \
trunk 8 x 2, activation='relu', dtype=f32; 321 parameters)
        """
        return (f"DeepONet(branch_sensors={self.m}, trunk_dim={self.trunk_dim}, p={self.p}, "
                f"form={self.form!r}, branch {self.branch_width} x {self.branch_depth}, "
                f"trunk {self.trunk.width} x {self.trunk.depth}, "
                f"activation={network.activation_name(self.activation)!r}, "
                f"dtype={self.dtype}; {self.size:,} parameters)")

    # -- the network as a tidal function -------------------------------------------------------
    def _build(self):
        branch, trunk, act, b0 = self.branch.func, self.trunk.func, self.act, self.b0
        real, p = self.dtype, self.p
        vec_m, vec_d = td.vec(self.m, real), td.vec(self.trunk_dim, real)

        @td.func
        def deeponet(v: vec_m, y: vec_d) -> real:
            b = branch(v)
            t = trunk(y)
            s = b0[None]
            for k in ti.static(range(p)):
                s += b[k] * act(t[k])
            return s

        return deeponet

    # -- evaluation ----------------------------------------------------------------------------
    def check_inputs(self, inputs, name: str = "inputs") -> np.ndarray:
        """``inputs`` as float64 ``(n, m)``, or a TidalArgumentError saying what is wrong (one
        function's ``(m,)`` is a batch of one, ``(1, m)``)."""
        arr = _checks.real_array(name, inputs)
        if arr.ndim == 1 and arr.shape[0] == self.m:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.m:
            hint = f"this DeepONet was built with branch_sensors={self.m}"
            if arr.ndim == 2 and arr.shape[0] == self.m:
                hint = f"rows are functions, columns sensors: pass {name}.T"
            raise TidalArgumentError(
                f"{name} must have shape (n, {self.m}) (one row of "
                f"{_checks.plural(self.m, 'sensor value')} per function), got {arr.shape}",
                hint=hint)
        if arr.shape[0] == 0:
            raise TidalArgumentError(f"no functions (0 rows) in {name}",
                                     hint="pass at least one function")
        if not np.all(np.isfinite(arr)):
            raise TidalArgumentError(f"{name}: NaN or inf among the values")
        return arr

    def check_points(self, points, name: str = "points") -> np.ndarray:
        """``points`` as float64 ``(N, d)`` (a 1-D array is ``N`` points when ``d = 1``)."""
        arr = _checks.real_array(name, points)
        if arr.ndim == 1 and self.trunk_dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.trunk_dim:
            raise TidalArgumentError(f"{name} must have shape (N, {self.trunk_dim}), got "
                                     f"{arr.shape}",
                                     hint=f"this DeepONet was built with "
                                          f"trunk_dim={self.trunk_dim}")
        if arr.shape[0] == 0:
            raise TidalArgumentError(f"no points (0 rows) in {name}",
                                     hint="pass at least one point")
        if not np.all(np.isfinite(arr)):
            raise TidalArgumentError(f"{name}: NaN or inf among the values")
        return arr

    def cartesian(self, inputs, points) -> "Cartesian":
        """The cartesian-product evaluator of these functions and points (kept in Taichi
        storage; see :class:`Cartesian`)."""
        self._flat.check_current()
        return Cartesian(self, inputs, points)

    def features(self, inputs, points) -> tuple[np.ndarray, np.ndarray]:
        """The branch outputs ``(n, p)`` and the activated trunk outputs ``(N, p)`` (float64).

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> [a.shape for a in net.features(np.zeros((2, 4)), np.zeros((5, 1)))]
            [(2, 3), (5, 3)]
        """
        self._flat.check_current()
        inputs = self.check_inputs(inputs)
        points = self.check_points(points)
        key = (len(inputs), len(points))
        c = self._cartesian.get(key)
        if c is None:
            c = self._cartesian[key] = self.cartesian(inputs, points)
        else:
            c.load(inputs, points)
        c.forward(np.arange(c.n, dtype=np.int32))
        return c.branch_values(c.n), c.trunk_values()

    def predict(self, inputs, points) -> np.ndarray:
        """``G(v_i)(y_j)`` for every input function ``v_i`` (rows of ``inputs``, ``(n, m)``) and
        point ``y_j`` (rows of ``points``, ``(N, d)``): float64 ``(n, N)``. The branch runs once
        per function and the trunk once per point; the ``n x N`` combination is taken in float64.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 2, width=6, p=3, activation="tanh", dtype=td.f64)
            >>> net.predict(np.zeros((2, 4)), np.zeros((5, 2))).shape
            (2, 5)
        """
        b, t = self.features(inputs, points)
        return b @ t.T + float(self.b0[None])

    def predict_pointwise(self, inputs, points) -> np.ndarray:
        """``G(inputs[i])(points[i])`` for paired rows (``(n, m)`` and ``(n, d)``): float64
        ``(n,)``, by :attr:`func` (both networks per pair; for the unaligned data of DeepXDE).

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
            >>> net.predict_pointwise(np.zeros((3, 4)), np.zeros((3, 1))).shape
            (3,)
        """
        inputs = self.check_inputs(inputs)
        points = self.check_points(points)
        if len(points) != len(inputs):
            raise TidalArgumentError(f"predict_pointwise pairs rows: "
                                     f"{_checks.plural(len(inputs), 'input function')} but "
                                     f"{_checks.plural(len(points), 'point')}",
                                     hint="for every function at every point use predict()")
        self._flat.check_current()
        return np.asarray(td.vectorize(self.func)(inputs, points), dtype=np.float64).reshape(-1)


class Cartesian:
    """The DeepONet at every pair of ``n`` input functions and ``N`` shared points, in Taichi
    storage: kernels that a loss (:mod:`tidal.surrogates.supervised`) launches with their
    adjoints.

    ``forward(rows)`` runs one kernel: the branch of each selected function into ``branch_out``
    (``(n, p)``, row ``r`` for the ``r``-th selected function) and the activated trunk of each
    point into ``trunk_out`` (``(N, p)``). ``squared_errors`` (a second kernel) accumulates, for
    each selected function ``r``, ``sum_j (sum_k B[r, k] T[j, k] + b0 - targets[rows[r], j])^2``
    into ``errors[r]``. Both only accumulate, so :func:`tidal.launch_with_adjoint` runs each with
    its adjoint in one pass once the cotangents of what it accumulates are seeded.

    Example:
        >>> import numpy as np, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = DeepONet(4, 1, width=6, p=3, dtype=td.f64)
        >>> c = net.cartesian(np.zeros((2, 4)), np.zeros((5, 1)))
        >>> c.n, c.n_points
        (2, 5)
    """

    def __init__(self, model: DeepONet, inputs, points):
        inputs = model.check_inputs(inputs)
        points = model.check_points(points)
        self.model = model
        self.n, self.n_points = len(inputs), len(points)
        real, p, m = model.dtype, model.p, model.m
        store = np.float32 if real == td.f32 else np.float64
        self._store = store
        vec_m, vec_d = td.vec(model.m, real), td.vec(model.trunk_dim, real)
        self.inputs = ti.ndarray(real, shape=(self.n, model.m))
        self.points = ti.Vector.ndarray(model.trunk_dim, real, shape=self.n_points)
        self.load(inputs, points)
        self.branch_out = ti.field(real, shape=(self.n, p), needs_grad=True)
        self.trunk_out = ti.field(real, shape=(self.n_points, p), needs_grad=True)
        self.errors = ti.field(real, shape=self.n, needs_grad=True)
        branch, trunk, act, b0 = model.branch.func, model.trunk.func, model.act, model.b0
        B, T, E = self.branch_out, self.trunk_out, self.errors

        @td.kernel
        def features(v: ti.types.ndarray(dtype=real, ndim=2),
                     rows: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     y: ti.types.ndarray(dtype=vec_d, ndim=1)):
            for r in range(rows.shape[0]):
                z = ti.Vector.zero(real, m)
                for d in ti.static(range(m)):
                    z[d] = v[rows[r], d]
                b = branch(vec_m(z))
                for k in ti.static(range(p)):
                    B[r, k] += b[k]
            for j in range(y.shape[0]):
                t = trunk(y[j])
                for k in ti.static(range(p)):
                    T[j, k] += act(t[k])

        @td.kernel
        def squared_errors(targets: ti.types.ndarray(dtype=real, ndim=2),
                           rows: ti.types.ndarray(dtype=ti.i32, ndim=1), n_points: ti.i32):
            for r in range(rows.shape[0]):
                total = ti.cast(0.0, real)
                for j in range(n_points):
                    s = b0[None]
                    for k in range(p):
                        s += B[r, k] * T[j, k]
                    e = s - targets[rows[r], j]
                    total += e * e
                E[r] += total

        @ti.kernel
        def prepare(seeds: ti.types.ndarray(dtype=real, ndim=1)):
            for r, k in B:
                B[r, k] = 0.0
                B.grad[r, k] = 0.0
            for j, k in T:
                T[j, k] = 0.0
                T.grad[j, k] = 0.0
            for r in E:
                E[r] = 0.0
                E.grad[r] = seeds[r] if r < seeds.shape[0] else 0.0

        self._features, self._squared_errors, self._prepare = features, squared_errors, prepare

    def load(self, inputs, points) -> None:
        """Replace the functions and points (same counts) without recompiling anything."""
        inputs = self.model.check_inputs(inputs)
        points = self.model.check_points(points)
        if inputs.shape[0] != self.n or points.shape[0] != self.n_points:
            raise TidalArgumentError(f"this evaluator holds "
                                     f"{_checks.plural(self.n, 'function')} and "
                                     f"{_checks.plural(self.n_points, 'point')}, got "
                                     f"{inputs.shape[0]} and {points.shape[0]}",
                                     hint="make another with DeepONet.cartesian")
        self.inputs.from_numpy(inputs.astype(self._store))
        self.points.from_numpy(points.astype(self._store))

    def forward(self, rows, seeds=None) -> None:
        """Zero the outputs (and their gradients; the errors' gradients to ``seeds``), then the
        branch of ``inputs[rows]`` and the trunk of every point."""
        self.prepare(rows, seeds)
        self._features(self.inputs, rows, self.points)

    def prepare(self, rows, seeds=None) -> None:
        """Zero the outputs and their gradients; seed the errors' gradients."""
        seeds = np.zeros(len(rows), dtype=self._store) if seeds is None else \
            np.ascontiguousarray(seeds, dtype=self._store)
        direct.launch(self._prepare, seeds)

    def features_adjoint(self, rows) -> None:
        """The features kernel with its adjoint (``branch_out.grad`` and ``trunk_out.grad``
        seeded): the networks' parameter gradients accumulate."""
        td.launch_with_adjoint(self._features, self.inputs, rows, self.points)

    def squared_errors(self, targets, rows, adjoint: bool = False) -> None:
        """Accumulate the selected functions' squared errors into :attr:`errors` (with the
        adjoint: also ``branch_out.grad``, ``trunk_out.grad`` and ``b0.grad`` from
        ``errors.grad``)."""
        if adjoint:
            td.launch_with_adjoint(self._squared_errors, targets, rows, self.n_points)
        else:
            self._squared_errors(targets, rows, self.n_points)

    def branch_values(self, count: int) -> np.ndarray:
        """The first ``count`` rows of :attr:`branch_out`, float64."""
        return self.branch_out.to_numpy()[:count].astype(np.float64)

    def trunk_values(self) -> np.ndarray:
        """:attr:`trunk_out`, float64."""
        return self.trunk_out.to_numpy().astype(np.float64)

