"""Fully connected networks written as tidal functions over Taichi parameter fields.

An :class:`MLP` owns its parameters (Taichi fields with gradient storage) and exposes the network
as a tidal function ``net(z) -> u`` of one input vector ``z``. Because ``net`` is an ordinary
tidal function, its derivatives in the inputs (``td.taylor``, ``td.grad``, ``td.laplacian``) are
generated tidal functions too, and kernels that call them are differentiated with respect to the
parameters by ``td.Tape``.

Guarantees: parameters are initialised deterministically from the seed (Glorot-normal weights,
zero biases); :meth:`MLP.get_flat` and :meth:`MLP.set_flat` round-trip the parameters through one
float64 vector in a fixed order (field by field: first-layer weights and biases, every hidden
layer's weights, every hidden layer's biases, output weights and biases; weights stored as
``(out, in)``); checkpoints saved by :meth:`MLP.save` load back bit for bit.
"""


import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import taichi as ti

import tidal as td
from tidal.autodiff import parameters
from tidal.dsl.errors import TidalArgumentError

ACTIVATIONS = ("tanh", "sin", "softplus", "sigmoid")


def activation_name(activation) -> str:
    """The name of an activation given by name or as a tidal function (for checkpoints and
    ``repr``).

    Example:
        >>> activation_name("tanh")
        'tanh'
    """
    return activation.name if isinstance(activation, td.TidalFunction) else str(activation)


class MLP(parameters.FlatParameters):
    """A multilayer perceptron ``in_dim -> depth x width -> out_dim`` as a tidal function.

    Args:
        in_dim: number of inputs (the length of ``z``).
        width: neurons per hidden layer.
        depth: number of hidden layers (at least 1).
        activation: a tidal function of one real (e.g. ``td.tanh``-based ``@td.func``), or one
            of the names ``"tanh"``, ``"sin"``, ``"softplus"``, ``"sigmoid"``.
        out_dim: number of outputs; with more than one, ``func`` returns a vector of them (one
            network shared by every output; for one network per output see
            :class:`Separate`).
        seed: seed of the Glorot-normal initialisation.
        lo, hi: optional input bounds; inputs are mapped affinely from ``[lo, hi]`` to
            ``[-1, 1]`` inside the network.
        dtype: ``td.f32`` (default) or ``td.f64``.
        fourier_features: when ``m > 0``, the scaled inputs ``s`` enter the first layer as
            ``m`` random Fourier features ``sin(2 pi B s), cos(2 pi B s)`` (``B`` of shape
            ``(m, in_dim)`` drawn once from ``N(0, fourier_scale^2)`` by the seed, not trained),
            which helps networks represent high frequencies.
        fourier_scale: standard deviation of the frequencies ``B``.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import MLP
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = MLP(2, width=8, depth=2, seed=0, dtype=td.f64)
        >>> net.size
        105
        >>> u = net.predict(np.array([[0.1, 0.2], [0.3, 0.4]]))
        >>> u.shape
        (2,)
        >>> MLP(2, width=8, depth=2, out_dim=3, dtype=td.f64).predict(np.zeros((5, 2))).shape
        (5, 3)
    """

    def __init__(self, in_dim: int, width: int = 20, depth: int = 3, activation="tanh",
                 seed: int = 0, lo: Sequence[float] | None = None,
                 hi: Sequence[float] | None = None, dtype=None, fourier_features: int = 0,
                 fourier_scale: float = 1.0, out_dim: int = 1):
        if not isinstance(activation, td.TidalFunction) and activation not in ACTIVATIONS:
            raise TidalArgumentError(f"unknown activation {activation!r}; pass a tidal function "
                                     f"of one real (@td.func) or one of "
                                     f"{', '.join(ACTIVATIONS)}")
        if isinstance(activation, td.TidalFunction) and len(activation.param_names) != 1:
            raise TidalArgumentError(f"the activation {activation.name} must take one real, "
                                     f"it takes {len(activation.param_names)} arguments")
        for name, v in (("in_dim", in_dim), ("width", width), ("depth", depth),
                        ("out_dim", out_dim)):
            if not isinstance(v, int) or v < 1:
                raise TidalArgumentError(f"{name} must be a positive int, got {v!r}")
        if not isinstance(fourier_features, int) or fourier_features < 0:
            raise TidalArgumentError(f"fourier_features must be an int >= 0, got "
                                     f"{fourier_features!r}")
        if not (math.isfinite(fourier_scale) and fourier_scale > 0):
            raise TidalArgumentError(f"fourier_scale must be a positive number, got "
                                     f"{fourier_scale!r}")
        self.in_dim, self.width, self.depth, self.activation = in_dim, width, depth, activation
        self.out_dim = out_dim
        self.fourier_features = fourier_features
        features = 2 * fourier_features if fourier_features else in_dim
        self.features = features
        self.dtype = td.f32 if dtype is None else dtype
        real = self.dtype
        lo = np.full(in_dim, -1.0) if lo is None else np.asarray(lo, dtype=np.float64)
        hi = np.full(in_dim, 1.0) if hi is None else np.asarray(hi, dtype=np.float64)
        if lo.shape != (in_dim,) or hi.shape != (in_dim,) or np.any(hi <= lo):
            raise TidalArgumentError(f"input bounds must be {in_dim} pairs with lo < hi, got "
                                     f"lo={lo.tolist()}, hi={hi.tolist()}")
        self.scale = 2.0 / (hi - lo)
        self.shift = -(hi + lo) / (hi - lo)
        hidden = max(depth - 1, 1)
        self.W0 = ti.field(real, shape=(width, features), needs_grad=True)
        self.B = ti.field(real, shape=(max(fourier_features, 1), in_dim))
        frequencies = np.random.default_rng([seed, 1]).normal(
            0.0, fourier_scale, (max(fourier_features, 1), in_dim))
        self.B.from_numpy(frequencies.astype(np.float32 if real == td.f32 else np.float64))
        self.b0 = ti.field(real, shape=width, needs_grad=True)
        self.W = ti.field(real, shape=(hidden, width, width), needs_grad=True)
        self.b = ti.field(real, shape=(hidden, width), needs_grad=True)
        outs = () if out_dim == 1 else (out_dim,)  # (one output: the shapes of earlier versions)
        self.Wout = ti.field(real, shape=outs + (width,), needs_grad=True)
        self.bout = ti.field(real, shape=outs, needs_grad=True)
        self.fields = [self.W0, self.b0, self.W, self.b, self.Wout, self.bout]
        self._shapes = [(width, features), (width,), (depth - 1, width, width), (depth - 1, width),
                        outs + (width,), outs]
        self.size = int(sum(math.prod(s) for s in self._shapes))
        kept = [f for f in self.fields if not (depth == 1 and (f is self.W or f is self.b))]
        self._flat = parameters.FieldVector(kept)
        self.initialise(seed)
        self.func = self._build()

    # -- parameters ----------------------------------------------------------------------------
    def initialise(self, seed: int) -> None:
        """Glorot-normal weights (std sqrt(2 / (fan_in + fan_out))), zero biases."""
        rng = np.random.default_rng(seed)
        w, d = self.width, self.features
        parts = [rng.normal(size=(w, d)) * math.sqrt(2.0 / (w + d)), np.zeros(w),
                 rng.normal(size=(self.depth - 1, w, w)) * math.sqrt(1.0 / w),
                 np.zeros((self.depth - 1, w)),
                 rng.normal(size=self._shapes[4]) * math.sqrt(2.0 / (w + self.out_dim)),
                 np.zeros(self._shapes[5])]
        self.set_flat(np.concatenate([p.reshape(-1) for p in parts]))

    def set_flat(self, flat: np.ndarray) -> None:
        """Set every parameter from one vector of length :attr:`size` (finite values)."""
        if self.depth == 1:
            for f in (self.W, self.b):  # placeholder storage of a network without them
                f.fill(0.0)
        super().set_flat(flat)

    def save(self, path: str | Path) -> None:
        """Save the parameters (and architecture) to a ``.npz`` checkpoint."""
        np.savez(parameters.save_path(path), params=self.get_flat(), in_dim=self.in_dim,
                 width=self.width,
                 depth=self.depth, activation=activation_name(self.activation),
                 fourier_features=self.fourier_features, frequencies=self.B.to_numpy(),
                 out_dim=self.out_dim)

    def __repr__(self) -> str:
        """The architecture, the float type and the number of parameters.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> print(MLP(2, width=8, depth=2, out_dim=3))
            MLP(in_dim=2, width=8, depth=2, out_dim=3, activation='tanh', dtype=f32; \
123 parameters)
        """
        features = (f", fourier_features={self.fourier_features}" if self.fourier_features
                    else "")
        return (f"MLP(in_dim={self.in_dim}, width={self.width}, depth={self.depth}, "
                f"out_dim={self.out_dim}{features}, "
                f"activation={activation_name(self.activation)!r}, dtype={self.dtype}; "
                f"{self.size:,} parameters)")

    def load(self, path: str | Path) -> None:
        """Load parameters saved by :meth:`save` (the same path: a missing ``.npz`` suffix
        is added as :func:`numpy.savez` adds it); the architecture must match.

        Raises:
            TidalArgumentError: no such file, not a checkpoint of an MLP, or another
                architecture.
        """
        keys = ("params", "in_dim", "width", "depth", "activation", "fourier_features",
                "frequencies", "out_dim")
        where, names, data = parameters.read_npz(path, "MLP.save", keys)
        missing = [k for k in keys[:5] if k not in names]
        if missing:
            raise TidalArgumentError(
                f"{where} is not an MLP checkpoint: it lacks {', '.join(map(repr, missing))}"
                f" (it holds {', '.join(map(repr, names)) or 'no arrays'})",
                hint="pass a file written by MLP.save")
        arch = (int(data["in_dim"]), int(data["width"]), int(data["depth"]),
                str(data["activation"]), int(data.get("fourier_features", 0)),
                int(data.get("out_dim", 1)))
        mine = (self.in_dim, self.width, self.depth, activation_name(self.activation),
                self.fourier_features, self.out_dim)
        if arch != mine:
            raise TidalArgumentError(f"checkpoint {where} holds a network {arch} (inputs, "
                                     f"width, depth, activation, Fourier features, "
                                     f"outputs); this one is {mine}")
        self.set_flat(data["params"])
        if "frequencies" in data:
            self.B.from_numpy(data["frequencies"].astype(self.B.to_numpy().dtype))

    # -- the network as a tidal function -------------------------------------------------------
    def _build(self):
        W0, b0, W, b, Wout, bout = self.fields
        width, hidden, dim = self.width, self.depth - 1, self.in_dim
        real = self.dtype
        vec_in = td.vec(dim, real)
        scale = [float(s) for s in self.scale]
        shift = [float(s) for s in self.shift]
        act = self.activation if isinstance(self.activation, td.TidalFunction) else \
            _named_activation(ACTIVATIONS.index(self.activation), real)
        n_out = self.out_dim
        vec_out = td.vec(n_out, real) if n_out > 1 else real

        m, B, two_pi = self.fourier_features, self.B, 2.0 * math.pi

        @td.func
        def net(z: vec_in) -> vec_out:
            h = ti.Vector.zero(real, width)
            if ti.static(m == 0):
                for j in range(width):
                    a = b0[j]
                    for d in ti.static(range(dim)):
                        a += W0[j, d] * (scale[d] * z[d] + shift[d])
                    h[j] = act(a)
            else:
                feat = ti.Vector.zero(real, 2 * m)
                for f in range(m):
                    phase = B[f, 0] * (scale[0] * z[0] + shift[0])
                    for d in ti.static(range(1, dim)):
                        phase += B[f, d] * (scale[d] * z[d] + shift[d])
                    feat[f] = ti.sin(two_pi * phase)
                    feat[m + f] = ti.cos(two_pi * phase)
                for j in range(width):
                    a = b0[j]
                    for k in range(2 * m):
                        a += W0[j, k] * feat[k]
                    h[j] = act(a)
            for layer in range(hidden):
                h2 = ti.Vector.zero(real, width)
                for j in range(width):
                    a = b[layer, j]
                    for k in range(width):
                        a += W[layer, j, k] * h[k]
                    h2[j] = act(a)
                h = h2
            if ti.static(n_out == 1):
                out = bout[None]
                for k in range(width):
                    out += Wout[k] * h[k]
                return out
            else:
                outs = ti.Vector.zero(real, n_out)
                for c in range(n_out):  # a loop, not unrolled: compile time stays flat in n_out
                    o = bout[c]
                    for k in range(width):
                        o += Wout[c, k] * h[k]
                    outs[c] = o
                return outs

        return net

    def predict(self, points: np.ndarray) -> np.ndarray:
        """The network at ``points`` (shape ``(n, in_dim)``), as a float64 array ``(n,)``, or
        ``(n, out_dim)`` with several outputs."""
        return predict(self, points)


def predict(net, points) -> np.ndarray:
    """A network's ``func`` at ``points`` (shape ``(n, in_dim)``): float64 ``(n,)``, or
    ``(n, out_dim)`` for a network with several outputs."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != net.in_dim:
        raise TidalArgumentError(f"points must have shape (n, {net.in_dim}), got "
                                 f"{points.shape}")
    out = np.asarray(td.vectorize(net.func)(points), dtype=np.float64)
    return out.reshape(len(points), net.out_dim) if net.out_dim > 1 else out.reshape(-1)


def _named_activation(kind: int, real):
    """The tidal function of one of :data:`ACTIVATIONS`."""

    @td.func
    def act(a: real) -> real:
        out = a
        if ti.static(kind == 0):
            out = ti.tanh(a)
        elif ti.static(kind == 1):
            out = ti.sin(a)
        elif ti.static(kind == 2):
            out = td.softplus(a)
        else:
            out = td.sigmoid(a)
        return out

    return act


class Separate:
    """One network per output, seen as one network with several outputs: ``func(z)`` is the
    vector of the networks' outputs, and the flat parameters are theirs one after another.

    Args:
        nets: networks of one output each, with the same inputs and float type.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import MLP, Separate
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> pair = Separate([MLP(2, width=4, depth=1, seed=s, dtype=td.f64) for s in (0, 1)])
        >>> pair.out_dim, pair.size == 2 * pair.nets[0].size
        (2, True)
        >>> pair.predict(np.zeros((3, 2))).shape
        (3, 2)
    """

    def __init__(self, nets):
        self.nets = list(nets)
        if len(self.nets) < 2:
            raise TidalArgumentError(f"Separate needs at least two networks, got "
                                     f"{len(self.nets)}")
        first = self.nets[0]
        for net in self.nets:
            if getattr(net, "out_dim", None) != 1:
                raise TidalArgumentError("Separate takes networks of one output each",
                                         hint="for one network with several outputs use "
                                              "MLP(..., out_dim=k)")
            if net.in_dim != first.in_dim or net.dtype != first.dtype:
                raise TidalArgumentError("the networks of Separate must have the same inputs "
                                         "and float type")
        self.in_dim, self.dtype, self.out_dim = first.in_dim, first.dtype, len(self.nets)
        self._sizes = [net.size for net in self.nets]
        self.size = int(sum(self._sizes))
        self.func = self._build()

    def _build(self):
        funcs = [net.func for net in self.nets]
        real, n = self.dtype, self.out_dim
        vec_in, vec_out = td.vec(self.in_dim, real), td.vec(n, real)

        @td.func
        def separate(z: vec_in) -> vec_out:
            outs = ti.Vector.zero(real, n)
            for c in ti.static(range(n)):
                outs[c] = funcs[c](z)
            return outs

        return separate

    def get_flat(self) -> np.ndarray:
        """Every network's parameters, one after another."""
        return np.concatenate([net.get_flat() for net in self.nets])

    def set_flat(self, flat) -> None:
        """Set every network's parameters from one vector of length :attr:`size`."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        if flat.size != self.size:
            raise TidalArgumentError(f"expected {self.size} parameters, got {flat.size}")
        for net, part in zip(self.nets, np.split(flat, np.cumsum(self._sizes)[:-1])):
            net.set_flat(part)

    def grad_flat(self) -> np.ndarray:
        """Every network's parameter gradients, one after another."""
        return np.concatenate([net.grad_flat() for net in self.nets])

    def clear_grads(self) -> None:
        """Zero every network's parameter gradients."""
        for net in self.nets:
            net.clear_grads()

    def predict(self, points) -> np.ndarray:
        """The outputs at ``points``, float64 ``(n, out_dim)``."""
        return predict(self, points)


class Periodic:
    """A network periodic along chosen input axes, with all its derivatives: each periodic axis
    ``a`` of period ``P`` enters the inner network as the two features ``cos(2 pi z_a / P)``,
    ``sin(2 pi z_a / P)`` in its place; the other inputs pass through in order. So the inner
    network takes one more input per periodic axis (give it bounds for the features, e.g.
    ``lo=[-1, -1, t0], hi=[1, 1, t1]`` for ``(x, t)`` periodic in ``x``). A periodic condition
    built into the network replaces a :class:`~tidal.solvers.PeriodicBC` loss term and holds
    for every derivative, which a loss term pairing values does not.

    Args:
        net: the inner network (``MLP``, ``Separate`` or any object with the network
            attributes), of ``in_dim + len(periods)`` inputs.
        periods: ``{axis: period}`` for the periodic input axes of the new network.

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import MLP, Periodic
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = Periodic(MLP(3, width=8, depth=2, seed=0, dtype=td.f64), periods={0: 2.0})
        >>> net.in_dim
        2
        >>> u = net.predict(np.array([[-0.3, 0.5], [1.7, 0.5]]))
        >>> bool(abs(u[0] - u[1]) < 1e-12)
        True
    """

    def __init__(self, net, periods: dict[int, float]):
        if not isinstance(periods, dict) or not periods:
            raise TidalArgumentError(f"periods must be a non-empty dict {{axis: period}}, got "
                                     f"{periods!r}", hint="e.g. periods={0: 2.0}")
        inner_dim = getattr(net, "in_dim", None)
        if not isinstance(inner_dim, int) or not callable(getattr(net, "func", None)):
            raise TidalArgumentError(f"Periodic wraps a network (an MLP, Separate, ...), got "
                                     f"{net!r}")
        in_dim = inner_dim - len(periods)
        for axis, period in periods.items():
            if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < in_dim:
                raise TidalArgumentError(
                    f"periodic axis {axis!r} is not an input of the periodic network: with "
                    f"{len(periods)} periodic axes an inner network of {inner_dim} inputs gives "
                    f"one of {max(in_dim, 0)} inputs (axes 0..{in_dim - 1})",
                    hint="the inner network takes one more input per periodic axis (cos and "
                         "sin in place of the axis)")
            if isinstance(period, bool) or not isinstance(period, (int, float)) \
                    or not math.isfinite(period) or period <= 0:
                raise TidalArgumentError(f"the period of axis {axis} must be a positive "
                                         f"number, got {period!r}")
        self.net, self.periods = net, {int(a): float(p) for a, p in periods.items()}
        self.in_dim, self.out_dim, self.dtype, self.size = in_dim, net.out_dim, net.dtype, net.size
        self.func = self._build()

    def _build(self):
        # each inner input: (kind, source axis, angular frequency); kind 0 pass, 1 cos, 2 sin
        features = []
        for a in range(self.in_dim):
            if a in self.periods:
                omega = 2.0 * math.pi / self.periods[a]
                features += [(1, a, omega), (2, a, omega)]
            else:
                features.append((0, a, 0.0))
        inner, real, n = self.net.func, self.dtype, len(features)
        kinds = [k for k, _, _ in features]
        sources = [a for _, a, _ in features]
        omegas = [w for _, _, w in features]
        vec_in, vec_feat = td.vec(self.in_dim, real), td.vec(n, real)
        vec_out = td.vec(self.out_dim, real) if self.out_dim > 1 else real

        @td.func
        def periodic(z: vec_in) -> vec_out:
            f = ti.Vector.zero(real, n)
            for j in ti.static(range(n)):
                if ti.static(kinds[j] == 0):
                    f[j] = z[sources[j]]
                if ti.static(kinds[j] == 1):
                    f[j] = ti.cos(omegas[j] * z[sources[j]])
                if ti.static(kinds[j] == 2):
                    f[j] = ti.sin(omegas[j] * z[sources[j]])
            return inner(vec_feat(f))

        return periodic

    def get_flat(self) -> np.ndarray:
        """The inner network's parameters."""
        return self.net.get_flat()

    def set_flat(self, flat) -> None:
        """Set the inner network's parameters."""
        self.net.set_flat(flat)

    def grad_flat(self) -> np.ndarray:
        """The inner network's parameter gradients."""
        return self.net.grad_flat()

    def clear_grads(self) -> None:
        """Zero the inner network's parameter gradients."""
        self.net.clear_grads()

    def predict(self, points) -> np.ndarray:
        """The network at ``points`` (shape ``(n, in_dim)``), float64."""
        return predict(self, points)

