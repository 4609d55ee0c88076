"""Fourier neural operator (Li et al., ICLR 2021) in one and two dimensions, written in tidal.

An :class:`FNO` maps input fields on a regular grid (``(S,)`` points in 1-D, ``(S1, S2)`` in
2-D, ``in_channels`` values per point) to output fields on the same grid (``out_channels``
values per point, one by default), as the paper's code (and neuraloperator) does:

1. lifting: ``v0 = P [a(x), x] + p`` (pointwise linear from the channels and the grid
   coordinates ``x_i = i / (S - 1)`` on ``[0, 1]`` to ``width``);
2. ``layers`` Fourier layers ``v <- act(K v + W v + b)``; ``K`` is the spectral convolution:
   the real DFT of each channel truncated to the kept modes (1-D: ``k = 0 .. modes - 1``; 2-D:
   the ``modes1`` lowest and ``modes1`` highest frequencies along the first axis times the
   ``modes2`` lowest of the real-DFT axis), a complex ``width x width`` matrix per mode, and the
   inverse real DFT (``irfft`` / ``irfft2`` of the zero-padded spectrum). No activation after
   the last layer;
3. projection ``Q2 act(Q1 v + q1) + q2``, ``width -> projection -> out_channels``.

The activation is GELU in its tanh form (PyTorch's ``gelu(approximate="tanh")``, which differs
from the erf form by under 5e-4), or any tidal function of one real.

The spectral convolution is tidal kernels over the kept modes only: truncated DFTs written as
sums over grid points with cosine and sine tables (separable along the axes in 2-D), the mode
mixing, and the inverse DFTs. The DFTs take grid points ``p`` and ``S - p`` of the real axis,
and frequencies ``h`` and ``S1 - h`` of the complex one, together (half the multiply-adds; when
the last axis is a multiple of 4, its DFTs take the points ``p, S - p, S/2 - p, S/2 + p``
together: a quarter), and every thread keeps its sums in local vectors. A Fourier layer's values
are blocks of 16 (float32) or 8 (float64) channels per grid point, ndarrays of vectors compiled
with ``td.kernel(simd_vectors=True)`` (one SIMD load, multiply-add or store per block), from the
lifting, which writes them, to the projection, whose input alone is copied out of them
(``from_point_blocks``); only the mode mixing's input is one number per channel (its forward
pass broadcasts those numbers). Every kernel writes each element of its output once
(``F[...] = ...``, so no storage needs zeroing before a forward pass; see :class:`Batch`).

Gradients are kernels too, launched in reverse order, never Taichi's autodiff: tidal's generated
adjoints (``kernel.grad``; a nonlinear kernel's adjoint recomputes what it needs from its
inputs, still in place) for the copies to and from the chosen points and the projection; each
DFT's transposed map, the other direction's DFT kernel with the transposed tables, for every DFT
(:class:`~tidal.surrogates.fno_dense.Launch`); and adjoints written as kernels for the lifting,
the dense layers and the mode mixing (:mod:`tidal.surrogates.fno_dense`,
:mod:`tidal.surrogates.fno_mixing`: their transposed products need the weights in a second
layout, which no transformation of the forward loop introduces). Passes that hold the parameters
constant (:meth:`FNO.predict`, :meth:`FNO.predict_and_vjp`) compute a 1-D FNO's first layer from
its input channels (:mod:`tidal.surrogates.fno_first`) and, with outputs at chosen points, the
last layer's dense part in one kernel that reads its input where it lies and writes the
projection's input (``dense_at``). All kernels are shape-generic (ndarray
arguments): a model evaluates any batch size and any resolution without compiling again.

Parameters live in Taichi fields, read and written as one flat float64 vector through
:class:`tidal.autodiff.parameters.FieldVector` (the PINN networks' and DeepONet's layer), in the
order ``P, p, R, W, b, Q1, q1, Q2, q2`` with shapes ``(width, in_channels + dim)``,
``(width,)``, ``(layers, modes_total, width_out, width_in, 2)`` (real, imaginary),
``(layers, width_out, width_in)``, ``(layers, width)``, ``(projection, width)``,
``(projection,)``, ``(projection, out_channels)``, ``(out_channels,)``. In 2-D mode
``k = k1 * modes2 + k2``, where ``k1 < modes1`` are the frequencies ``0 .. modes1 - 1`` and
``k1 >= modes1`` the frequencies ``S1 - 2 modes1 + k1`` (the paper's ``weights1`` and
``weights2``).

Optional normalisers (:meth:`FNO.set_normalisers`) belong to the model and are saved with it:
the network sees ``(raw - input_mean) / input_std`` and its output is multiplied by
``output_scale``, so :meth:`FNO.predict`, :meth:`FNO.vjp_input` and
:class:`~tidal.surrogates.OperatorModel` work in physical units (the chain rule through the
normalisers is applied in NumPy around the kernels), while
:class:`~tidal.surrogates.Supervised` trains the network on the normalised data.

Guarantees: initialisation is deterministic for the seed (PyTorch's default initialisation of
the paper's layers: linear weights and biases uniform in ``+-1/sqrt(fan_in)``, spectral weights
``U[0, 1) / width^2`` in both parts); :meth:`FNO.predict` equals NumPy's ``rfft``/``irfft``
formulation of the same network to rounding; :meth:`FNO.vjp_input` and the parameter gradients
are exact for the network as computed; bad shapes raise :class:`tidal.TidalArgumentError`
before any kernel runs.
"""

# No `from __future__ import annotations`: Taichi reads the kernels' annotations as objects.
import functools
import math

import numpy as np
import taichi as ti

import tidal as td
from tidal.autodiff import parameters
from tidal.dsl import field_io, replay, runtime
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers import network
from tidal.surrogates import _checks, fno_dense, fno_first, fno_mixing
from tidal.surrogates import deeponet as _deeponet

#: Activations an FNO takes by name.
FNO_ACTIVATIONS = ("gelu",) + _deeponet.DEEPONET_ACTIVATIONS

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

#: The normalisers an FNO keeps (and saves), by attribute name.
_NORMALISERS = ("input_mean", "input_std", "output_scale")


def gelu(real=None):
    """GELU in its tanh form, ``0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3)))``, as a tidal
    function of one real of type ``real`` (default ``td.f64``).

    Example:
        >>> import tidal as td
        >>> gelu(td.f64).name
        'gelu'
    """
    real = td.f64 if real is None else real

    @td.func
    def gelu(a: real) -> real:
        return 0.5 * a * (1.0 + ti.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a * a * a)))

    return gelu


def _activation(activation, real):
    if activation == "gelu":
        return gelu(real)
    if isinstance(activation, td.TidalFunction) or activation in _deeponet.DEEPONET_ACTIVATIONS:
        return _deeponet._activation(activation, real)
    raise TidalArgumentError(f"unknown activation {activation!r}; pass a tidal function of one "
                             f"real (@td.func) or one of {', '.join(FNO_ACTIVATIONS)}")


def _modes(dim: int, modes) -> tuple[int, ...]:
    pair = tuple(modes) if isinstance(modes, (tuple, list)) else (modes,) * dim
    if len(pair) != dim:
        raise TidalArgumentError(f"modes must be an int or {dim} ints for a {dim}-D FNO, got "
                                 f"{modes!r}")
    return tuple(_deeponet._positive_int("modes", m) for m in pair)


class FNO(parameters.FlatParameters):
    """A Fourier neural operator as tidal kernels.

    Args:
        dim: 1 or 2 (the grid's dimension).
        modes: kept Fourier modes: an int (per axis), or ``(modes1, modes2)`` in 2-D.
        width: channels of the Fourier layers.
        layers: Fourier layers.
        in_channels: input values per grid point (the grid coordinates are appended).
        projection: hidden width of the projection.
        out_channels: output values per grid point (outputs are ``(n, *grid)`` with one,
            ``(n, *grid, out_channels)`` with more).
        activation: ``"gelu"`` (tanh form, the default), ``"relu"``, ``"tanh"``, ... or a tidal
            function of one real.
        seed: seed of the initialisation (an int >= 0).
        dtype: ``td.f32`` (default) or ``td.f64``.

    Attributes:
        size: number of parameters.
        kernels: the kernels, by name (``pack_mix``, ``pack_dense``: the parameters' copies
            into blocks; ``lift``, ``dft_last``, ``dft_last_modes`` (1-D; these two by
            ``quarter``: their forms for grids whose last axis is a multiple of 4 and for
            others), ``dft_first``, ``dft_first_blocks``, ``mix``, ``idft_first``,
            ``idft_last``, ``from_point_blocks``, ``gather_blocks``, ``idft_at``,
            ``idft_at_transposed`` (the last layer at chosen points), ``linear_act`` (a
            Fourier layer's pointwise part and its activation), ``linear`` (the last layer's,
            without),
            ``project`` (the whole projection; its hidden values are never stored),
            ``squared_errors``).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.surrogates import FNO
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = FNO(1, modes=4, width=6, layers=2, projection=8, dtype=td.f64)
        >>> net.predict(np.zeros((3, 16))).shape
        (3, 16)
        >>> two = FNO(2, modes=3, width=6, layers=1, in_channels=2, out_channels=2, dtype=td.f64)
        >>> two.predict(np.zeros((3, 8, 8, 2))).shape   # e.g. (u, v) -> (u, v) one step later
        (3, 8, 8, 2)
    """

    def __init__(self, dim: int, modes, width: int = 32, layers: int = 4, in_channels: int = 1,
                 projection: int = 128, activation="gelu", seed: int = 0, dtype=None,
                 out_channels: int = 1):
        if dim not in (1, 2) or isinstance(dim, bool):
            raise TidalArgumentError(f"dim must be 1 or 2, got {dim!r}")
        self.dim = int(dim)
        self.modes = _modes(self.dim, modes)
        self.width = _deeponet._positive_int("width", width)
        self.layers = _deeponet._positive_int("layers", layers)
        self.in_channels = _deeponet._positive_int("in_channels", in_channels)
        self.projection = _deeponet._positive_int("projection", projection)
        self.out_channels = _deeponet._positive_int("out_channels", out_channels)
        self.dtype = _checks.real_type(dtype)
        self._store = np.float32 if self.dtype == td.f32 else np.float64
        self.activation = activation
        self.act = _activation(activation, self.dtype)
        self.n_modes = 2 * self.modes[0] * self.modes[1] if self.dim == 2 else self.modes[0]
        self.seed = _checks.seed(seed)
        runtime.config()  # Taichi initialised (the CPU in f32 if nothing did) before any field
        self._make_fields()
        self.size = self._flat.size
        self.initialise(self.seed)
        self.kernels = self._build()
        k = self.kernels
        # the parameters' copies into the kernels' blocks, launched before a forward pass
        # only when the parameters have been written since (FieldVector.values_version): an
        # input fit evaluates the same weights hundreds of times, and the copies stream the
        # spectral weights three times (a quarter of a one-field evaluation at width 64)
        self._copies = replay.Sequence(functools.partial(
            _forward_pass, [(k["pack_mix"], ()), (k["pack_dense"], ()), (k["lift"].pack, ())]))
        self._copied_version: int | None = None
        self._checked_points: dict = {}  # (points, grid) -> (points,), as check_points gave
        self._batches: dict = {}
        self.input_mean: np.ndarray | None = None
        self.input_std: np.ndarray | None = None
        self.output_scale: np.ndarray | None = None

    def __repr__(self) -> str:
        """The architecture, the float type and the number of parameters.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> print(FNO(1, modes=4, width=6, layers=2, projection=8, out_channels=2))
            FNO(dim=1, modes=(4,), width=6, layers=2, in_channels=1, out_channels=2, \
projection=8, activation='gelu', dtype=f32; 752 parameters)
        """
        return (f"FNO(dim={self.dim}, modes={self.modes}, width={self.width}, "
                f"layers={self.layers}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, projection={self.projection}, "
                f"activation={network.activation_name(self.activation)!r}, dtype={self.dtype}; "
                f"{self.size:,} parameters)")

    # -- parameters ----------------------------------------------------------------------------
    def _shapes(self) -> list[tuple]:
        w, L, h, cout = self.width, self.layers, self.projection, self.out_channels
        return [(w, self.in_channels + self.dim), (w,), (L, self.n_modes, w, w, 2), (L, w, w),
                (L, w), (h, w), (h,), (h, cout), (cout,)]

    def _make_fields(self) -> None:
        self._fields = [ti.field(self.dtype, shape=s, needs_grad=True) for s in self._shapes()]
        self._flat = parameters.FieldVector(self._fields)

    def initialise(self, seed: int) -> None:
        """PyTorch's default initialisation of the paper's layers, from ``seed`` (an int
        >= 0)."""
        rng = np.random.default_rng(_checks.seed(seed))
        w, cin = self.width, self.in_channels + self.dim

        def uniform(shape, fan_in):
            bound = 1.0 / math.sqrt(fan_in)
            return rng.uniform(-bound, bound, size=shape)

        shapes = self._shapes()
        parts = [uniform(shapes[0], cin), uniform(shapes[1], cin),
                 rng.uniform(0.0, 1.0, size=shapes[2]) / (w * w),
                 uniform(shapes[3], w), uniform(shapes[4], w),
                 uniform(shapes[5], w), uniform(shapes[6], w),
                 uniform(shapes[7], self.projection), uniform(shapes[8], self.projection)]
        self.set_flat(np.concatenate([np.ravel(p) for p in parts]))

    def split(self, flat=None) -> list[np.ndarray]:
        """The parameter arrays ``[P, p, R, W, b, Q1, q1, Q2, q2]`` of ``flat`` (default: the
        current parameters), float64, in the shapes of the module docstring.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> [a.shape for a in FNO(1, 2, width=3, layers=1, projection=4).split()][:3]
            [(3, 2), (3,), (1, 2, 3, 3, 2)]
        """
        return self._flat.split(self.get_flat() if flat is None else flat)

    def save(self, path) -> None:
        """Save the parameters, the architecture and the normalisers (those set) to a ``.npz``
        file: ``path`` (NumPy appends ``.npz`` to a path without it; :meth:`load` takes either),
        creating its folder if it does not exist."""
        np.savez(parameters.save_path(path), params=self.get_flat(),
                 arch=np.array(self._arch(), dtype=np.str_), **self._normalisers())

    def load(self, path) -> None:
        """Load parameters and normalisers saved by :meth:`save` (``path`` as given to it, with
        or without ``.npz``); the architecture must match. A checkpoint without normalisers
        leaves the model without them.

        Raises:
            TidalArgumentError: no such file, not a checkpoint (naming what it holds), or a
                checkpoint of another network or architecture (naming it and the fields that
                differ).

        Example:
            >>> import numpy as np, tidal as td, tempfile, os
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.set_normalisers(output_scale=10.0)
            >>> path = os.path.join(tempfile.mkdtemp(), "fno.npz")
            >>> net.save(path)
            >>> other = FNO(1, modes=3, width=4, layers=1, projection=5, seed=1, dtype=td.f64)
            >>> other.load(path)
            >>> float(other.output_scale)
            10.0
        """
        data = _checks.read_checkpoint(path, "FNO", self._arch(), optional=_NORMALISERS)
        self.set_flat(data["params"])
        self.set_normalisers(**{k: data[k] for k in _NORMALISERS if k in data})

    # -- normalisers ---------------------------------------------------------------------------
    def set_normalisers(self, input_mean=None, input_std=None, output_scale=None) -> None:
        """Set (or, with None, remove) the model's input and output normalisers.

        The network then sees ``(raw - input_mean) / input_std`` and its outputs are multiplied
        by ``output_scale``: :meth:`predict` takes raw inputs and returns outputs in physical
        units, :meth:`vjp_input` is the gradient in the raw inputs, and
        :class:`~tidal.surrogates.Supervised` (built after this call) trains the network on
        the normalised inputs and ``outputs / output_scale``. :meth:`save` stores them.

        Args:
            input_mean: a number, ``(in_channels,)`` or pointwise ``(*grid, in_channels)``
                (``(*grid)`` with one channel); None: 0.
            input_std: the same shapes, every value > 0 (add a small constant to a pointwise
                standard deviation that can vanish); None: 1.
            output_scale: a number or pointwise ``(*grid)`` (with several output channels:
                a number, ``(out_channels,)`` or ``(*grid, out_channels)``), every value > 0;
                None: 1.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> a = np.random.default_rng(0).normal(5.0, 2.0, size=(4, 8))
            >>> bare = net.predict((a - 5.0) / 2.0)
            >>> net.set_normalisers(input_mean=5.0, input_std=2.0, output_scale=3.0)
            >>> bool(np.allclose(net.predict(a), 3.0 * bare))
            True
        """
        self.input_mean = self._statistic("input_mean", input_mean, inputs=True, positive=False)
        self.input_std = self._statistic("input_std", input_std, inputs=True, positive=True)
        self.output_scale = self._statistic("output_scale", output_scale, inputs=False,
                                            positive=True)

    def _statistic(self, name: str, value, inputs: bool, positive: bool):
        if value is None:
            return None
        arr = np.array(_checks.real_array(name, value))  # a copy: the model keeps it
        if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
            bound = "finite and > 0" if positive else "finite"
            raise TidalArgumentError(f"{name} must be {bound}",
                                     hint="add a small constant (e.g. 1e-5) to a standard "
                                          "deviation that can be 0" if positive else None)
        if arr.size == 1 and arr.ndim <= 1:
            arr = arr.reshape(())
        channels = self.in_channels if inputs else self.out_channels
        if not inputs and channels == 1:  # one output field: a number or pointwise (*grid)
            if arr.ndim == self.dim + 1 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            ok = arr.ndim in (0, self.dim)
            want = "a number or (*grid)"
        else:  # a number, per channel or pointwise per channel
            if channels == 1 and arr.ndim == self.dim:
                arr = arr[..., None]
            ok = arr.ndim == 0 or (arr.ndim in (1, self.dim + 1)
                                   and arr.shape[-1] == channels)
            want = f"a number, ({channels},) or (*grid, {channels})"
        if not ok:
            raise TidalArgumentError(
                f"{name} has shape {arr.shape}; it must be {want} for this {self.dim}-D FNO of "
                f"{_checks.plural(self.in_channels, 'input channel')} and "
                f"{_checks.plural(self.out_channels, 'output channel')}")
        return arr

    def _normalisers(self) -> dict:
        return {k: getattr(self, k) for k in _NORMALISERS if getattr(self, k) is not None}

    def _fitted(self, name: str, grid: tuple, shape: tuple) -> np.ndarray | None:
        """The normaliser ``name`` broadcast to ``shape`` (for ``grid``), or None if unset."""
        stat = getattr(self, name)
        if stat is None:
            return None
        if stat.ndim > 1 or (stat.ndim == 1 and name == "output_scale"
                             and self.out_channels == 1):
            stat_grid = stat.shape[:self.dim]
            if stat_grid != tuple(grid):
                raise TidalArgumentError(f"{name} is pointwise on a {stat_grid} grid, but the "
                                         f"fields are on a {tuple(grid)} grid",
                                         hint="evaluate on the normalisers' grid, or set "
                                              "normalisers of that grid")
        return np.broadcast_to(stat, shape)

    def normalise_inputs(self, inputs) -> np.ndarray:
        """Raw input fields ``(n, *grid[, channels])`` as the network sees them:
        ``(raw - input_mean) / input_std``, float64 ``(n, *grid, channels)``.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.set_normalisers(input_mean=1.0, input_std=2.0)
            >>> net.normalise_inputs(np.full((1, 8), 5.0))[0, :2, 0].tolist()
            [2.0, 2.0]
        """
        return self._normalised(self.check_inputs(inputs))

    def _normalised(self, arr: np.ndarray) -> np.ndarray:
        """:meth:`normalise_inputs` of inputs already checked (:meth:`check_inputs`)."""
        shape, grid = arr.shape[1:], arr.shape[1:-1]
        mean = self._fitted("input_mean", grid, shape)
        std = self._fitted("input_std", grid, shape)
        if mean is not None:
            arr = arr - mean
        if std is not None:
            arr = arr / std
        return arr

    def normalise_outputs(self, outputs) -> np.ndarray:
        """Output fields ``(n, *grid[, out_channels])`` in the network's units:
        ``outputs / output_scale``.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.set_normalisers(output_scale=4.0)
            >>> net.normalise_outputs(np.ones((1, 8)))[0, :2].tolist()
            [0.25, 0.25]
        """
        arr = _checks.real_array("outputs", outputs)
        scale = self._fitted("output_scale", arr.shape[1:1 + self.dim], arr.shape[1:])
        return arr if scale is None else arr / scale

    def output_shape(self, grid) -> tuple[int, ...]:
        """The shape of one output field on ``grid``: ``grid``, or ``(*grid, out_channels)``
        with several output channels.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> FNO(1, modes=3, width=4, layers=1, out_channels=3).output_shape((16,))
            (16, 3)
        """
        grid = tuple(grid)
        return grid if self.out_channels == 1 else (*grid, self.out_channels)

    def _arch(self) -> list[str]:
        arch = [str(v) for v in (self.dim, self.modes, self.width, self.layers,
                                 self.in_channels, self.projection,
                                 network.activation_name(self.activation))]
        # single-output models keep the architecture of files saved before out_channels
        return arch if self.out_channels == 1 else arch + [f"out_channels={self.out_channels}"]

    # -- kernels -------------------------------------------------------------------------------
    def _build(self) -> dict:
        return _kernels(self)

    def copy_parameters(self) -> None:
        """Copy the parameters into the kernels' blocks (``pack_mix``, ``pack_dense``, the
        lifting's), unless nothing has written them since the last copy; every forward pass
        calls it. Parameters are written through :meth:`set_flat`, :meth:`load`,
        :meth:`initialise` and the trainers (all through one ``FieldVector``, which counts
        its writes)."""
        version = self._flat.values_version
        if version != self._copied_version:
            self._copies()
            self._copied_version = version

    # -- inputs --------------------------------------------------------------------------------
    def check_inputs(self, inputs, name: str = "inputs") -> np.ndarray:
        """``inputs`` as float64 ``(n, *grid, in_channels)``, or a TidalArgumentError.

        A batch is ``(n, *grid, in_channels)``; with one channel the channel axis may be left
        out: ``(n, S)`` in 1-D, ``(n, S1, S2)`` in 2-D. A single field (no batch axis),
        ``(*grid, in_channels)`` or, with one channel, ``(S,)`` in 1-D and ``(S1, S2)`` in 2-D,
        is taken as a batch of one: the result (and :meth:`predict`'s) has a batch axis of
        length 1. Channels are the last axis (not the first after the batch axis, as in
        PyTorch).

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.check_inputs(np.zeros((2, 8))).shape, net.check_inputs(np.zeros(8)).shape
            ((2, 8, 1), (1, 8, 1))
        """
        arr = _checks.real_array(name, inputs, complex_hint=(
            "pass the real and imaginary parts as two channels, np.stack([x.real, x.imag], "
            "axis=-1), to an FNO of in_channels=2, or np.real(x) if the imaginary part is 0"))
        shape, rank, cin = arr.shape, self.dim + 2, self.in_channels
        if arr.ndim == rank - 2 and cin == 1:  # one field without its channel axis
            arr = arr[None, ..., None]
        elif arr.ndim == rank - 1:
            # with one channel a batch without the channel axis, unless its last axis has one
            # point (a grid axis never has): then, as with more channels, one field
            arr = arr[..., None] if cin == 1 and shape[-1] != 1 else arr[None]
        if arr.ndim != rank or arr.shape[-1] != cin:
            grid = "S" if self.dim == 1 else "S1, S2"
            if len(shape) == rank and shape[1] == cin:
                hint = (f"an FNO takes channels last, (n, {grid}, channels), not (n, channels, "
                        f"{grid}) as in PyTorch: pass np.moveaxis({name}, 1, -1)")
            elif len(shape) == rank - 1 and shape[0] == cin:
                hint = (f"an FNO takes channels last, ({grid}, channels) for one field: if "
                        f"its channels come first, pass np.moveaxis({name}, 0, -1)")
            elif cin == 1:
                hint = (f"with one channel (n, {grid}) is accepted too, and "
                        f"{'(S,)' if self.dim == 1 else '(S1, S2)'} for one field")
            else:
                hint = f"one field is ({grid}, {cin})"
            raise TidalArgumentError(
                f"{name} must have shape (n, {grid}, {cin}) (a batch of {self.dim}-D fields "
                f"with {_checks.plural(cin, 'channel')}, channels last), got {shape}",
                hint=hint)
        if arr.shape[0] == 0:
            raise TidalArgumentError(f"no fields (0 rows) in {name}, of shape {shape}",
                                     hint="pass at least one field")
        self.check_grid(arr.shape[1:-1], name)
        if not np.all(np.isfinite(arr)):
            raise TidalArgumentError(f"{name}: NaN or inf among the values")
        return arr

    def check_grid(self, shape, name: str = "inputs") -> tuple[int, ...]:
        """The grid shape as ints (an int is ``(S,)`` for a 1-D FNO), if the kept modes fit it;
        else a TidalArgumentError."""
        given = shape
        if isinstance(shape, (int, np.integer)) and self.dim == 1:
            shape = (shape,)
        try:
            shape = tuple(shape)
        except TypeError:
            shape = ()
        if len(shape) != self.dim or not all(isinstance(s, (int, np.integer))
                                             and not isinstance(s, bool) for s in shape):
            want = "(S,) or S" if self.dim == 1 else "(S1, S2)"
            raise TidalArgumentError(f"{name}: the grid of a {self.dim}-D FNO is {want} "
                                     f"(numbers of points, ints), got {given!r}")
        shape = tuple(int(s) for s in shape)
        if self.dim == 1:
            (s,) = shape
            if s < 2:
                raise TidalArgumentError(f"{name}: a grid of {_checks.plural(s, 'point')}; an "
                                         "FNO needs at least 2 points", hint="use a finer grid")
            if self.modes[0] > s // 2 + 1:
                raise TidalArgumentError(f"{name}: a grid of {s} points has "
                                         f"{_checks.plural(s // 2 + 1, 'real-DFT mode')}, "
                                         f"fewer than modes={self.modes[0]}",
                                         hint="use a finer grid or fewer modes")
        else:
            s1, s2 = shape
            m1, m2 = self.modes
            if min(s1, s2) < 2:
                raise TidalArgumentError(f"{name}: a {s1} x {s2} grid; an FNO needs at least 2 "
                                         "points along each axis", hint="use a finer grid")
            if 2 * m1 > s1 or m2 > s2 // 2 + 1:
                raise TidalArgumentError(
                    f"{name}: a {s1} x {s2} grid cannot keep modes ({m1}, {m2}): it needs "
                    f"2 * modes1 <= S1 and modes2 <= S2 // 2 + 1", hint="use a finer grid or "
                                                                        "fewer modes")
        return shape

    def check_points(self, points, grid) -> tuple[int, ...] | None:
        """``points`` (grid points by their row-major index, e.g. ``np.flatnonzero(mask)``) as
        a sorted tuple of distinct indices, or None for every point of ``grid`` (``points``
        None, or every index); a TidalArgumentError otherwise.

        Example:
            >>> import tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.check_points([6, 2], (8,)), net.check_points(range(8), (8,))
            ((2, 6), None)
        """
        if points is None:
            return None
        if type(points) is tuple:  # (what this returned before: an input fit passes it at
            hit = self._checked_points.get((points, tuple(grid)))  # every evaluation)
            if hit is not None:
                return hit[0]
        total = math.prod(grid)
        try:
            arr = np.asarray(points)
            ok = arr.ndim == 1 and arr.size > 0 and (arr.dtype.kind in "iu")
        except (TypeError, ValueError):
            ok = False
        if not ok or np.any(arr < 0) or np.any(arr >= total) or len(np.unique(arr)) != arr.size:
            raise TidalArgumentError(
                f"points must be distinct grid-point indices in [0, {total}) (row-major over "
                f"the {tuple(grid)} grid), a non-empty 1-D array of integers, got {points!r}",
                hint="e.g. np.flatnonzero(mask) for a boolean mask of the grid")
        checked = None if arr.size == total else tuple(int(i) for i in np.sort(arr))
        if checked is not None:
            if len(self._checked_points) >= 8:
                self._checked_points.pop(next(iter(self._checked_points)))
            self._checked_points[(checked, tuple(grid))] = (checked,)
        return checked

    def check_outputs(self, outputs, n: int, grid: tuple, name: str = "outputs",
                      points: tuple[int, ...] | None = None) -> np.ndarray:
        """``outputs`` as float64 ``(n, *output_shape(grid))`` (with ``n = 1`` also one field
        without the batch axis; with ``points`` from :meth:`check_points`, ``(n,
        len(points)[, out_channels])``), or a TidalArgumentError."""
        arr = _checks.real_array(name, outputs)
        if points is not None:
            grid = (len(points),)
        want = (n, *self.output_shape(grid))
        if self.out_channels == 1 and arr.shape == (n, *grid, 1):
            arr = arr[..., 0]
        if n == 1 and arr.shape == want[1:]:
            arr = arr[None]
        if arr.shape != want:
            per_point = ("" if self.out_channels == 1
                         else f" with {self.out_channels} channels")
            raise TidalArgumentError(f"{name} must have shape {want} (one field{per_point} per "
                                     f"input, on its grid), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise TidalArgumentError(f"{name}: NaN or inf among the values")
        return arr

    # -- evaluation ----------------------------------------------------------------------------
    def batch(self, n: int, grid, points=None, inputs_only: bool = False) -> "Batch":
        """The evaluator of ``n`` fields (an int >= 1) on ``grid`` (``(S,)`` or ``S`` in 1-D,
        ``(S1, S2)`` in 2-D), with outputs at every grid point or only at ``points`` (see
        :meth:`check_points`), kept: made once per ``(n, grid, points, inputs_only)``. With
        ``inputs_only`` the batch holds the parameters constant (no parameter gradients; a
        1-D FNO's first layer then works from the input channels, see
        :mod:`tidal.surrogates.fno_first`)."""
        self._flat.check_current()
        grid = self.check_grid(grid, "grid")
        key = (_deeponet._positive_int("n", n, hint="n is the number of fields a batch holds"),
               grid, self.check_points(points, grid), bool(inputs_only))
        hit = self._batches.get(key)
        if hit is None:
            if len(self._batches) >= 8:
                self._batches.pop(next(iter(self._batches)))
            hit = self._batches[key] = Batch(self, *key)
        return hit

    def predict(self, inputs, batch_size: int = 50) -> np.ndarray:
        """The output fields, float64 ``(n, *grid[, out_channels])`` (see
        :meth:`output_shape`), of input fields ``(n, *grid[, channels])``
        (evaluated ``batch_size`` at a time). A single field without a batch axis (see
        :meth:`check_inputs`) gives outputs with a batch axis of length 1.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(2, modes=(2, 3), width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.predict(np.ones((2, 8, 8))).shape
            (2, 8, 8)
        """
        inputs = self.normalise_inputs(inputs)
        batch_size = _deeponet._positive_int("batch_size", batch_size)
        grid = inputs.shape[1:-1]
        out = []
        for lo in range(0, len(inputs), batch_size):
            chunk = inputs[lo:lo + batch_size]
            b = self.batch(len(chunk), grid, inputs_only=True)
            b.load(chunk)
            b.forward()
            out.append(b.outputs())
        out = np.concatenate(out)
        scale = self._fitted("output_scale", grid, self.output_shape(grid))
        return out if scale is None else out * scale

    def predict_and_vjp(self, inputs, cotangent_of,
                        points=None) -> tuple[np.ndarray, np.ndarray]:
        """One forward and one adjoint pass over raw input fields ``(n, *grid[, channels])``
        (one batch): the outputs ``y`` (as :meth:`predict`) and the gradient of
        ``sum(c * y)`` in the raw inputs (the shape of the checked inputs,
        ``(n, *grid, channels)``), where ``c = cotangent_of(y)`` (the shape of ``y``), through the
        normalisers. The parameters are held constant: their gradients are neither computed
        nor changed (about a quarter of the adjoint's work for one field).

        ``points``: only the outputs at these grid points (row-major indices, see
        :meth:`check_points`) are wanted, e.g. where a field was observed: ``y`` and ``c`` are
        then ``(n, len(points)[, out_channels])``, and the projection runs at those points only.

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> y, g = net.predict_and_vjp(np.ones((2, 8)), lambda y: 2.0 * y)  # grad of |y|^2
            >>> y.shape, g.shape
            ((2, 8), (2, 8, 1))
        """
        if not callable(cotangent_of):
            raise TidalArgumentError(
                f"cotangent_of must be a function of the outputs y returning the cotangent (an "
                f"array of y's shape), got {type(cotangent_of).__name__}",
                hint="for a fixed cotangent c pass lambda y: c, or use vjp_input(inputs, c)")
        raw = self.check_inputs(inputs)
        arr = self._normalised(raw)
        grid = arr.shape[1:-1]
        points = self.check_points(points, grid)
        scale = self._fitted("output_scale", grid, self.output_shape(grid))
        if scale is not None and points is not None:
            scale = scale.reshape(math.prod(grid), -1)[list(points)].reshape(
                self.output_shape((len(points),)))
        b = self.batch(len(arr), grid, points, inputs_only=True)
        b.load(arr)
        b.forward()
        y = b.outputs() if scale is None else b.outputs() * scale
        cot = self.check_outputs(cotangent_of(y), len(arr), grid, "cotangent", points)
        b.backward(output_cotangent=cot if scale is None else cot * scale, parameters=False)
        grad = b.input_gradient()
        std = self._fitted("input_std", grid, arr.shape[1:])
        return y, grad if std is None else grad / std

    def vjp_input(self, inputs, cotangent, batch_size: int = 50) -> np.ndarray:
        """The gradient of ``sum(cotangent * predict(inputs))`` with respect to ``inputs``
        (same shape as ``inputs``, float64): the vector-Jacobian product of the network in its
        input field, by the generated adjoint kernels (through the normalisers, if set).

        Example:
            >>> import numpy as np, tidal as td
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
            >>> net.vjp_input(np.ones((2, 8)), np.ones((2, 8))).shape
            (2, 8)
        """
        shape = np.shape(inputs)
        arr = self.check_inputs(inputs)
        grid = arr.shape[1:-1]
        want = (len(arr), *self.output_shape(grid))
        cot = self.check_outputs(np.reshape(cotangent, want) if np.size(cotangent)
                                 == math.prod(want) else cotangent, len(arr), grid, "cotangent")
        batch_size = _deeponet._positive_int("batch_size", batch_size)
        out = []
        for lo in range(0, len(arr), batch_size):
            part = cot[lo:lo + batch_size]
            out.append(self.predict_and_vjp(arr[lo:lo + batch_size], lambda y, c=part: c)[1])
        return np.concatenate(out).reshape(shape)


class _Sizes:
    """The spectral convolution's derived sizes, shared by the kernels, the batches' storage and
    the tables: channels per block in the DFTs (``block``: 512 bits, one SIMD register: 16
    float32 or 8 float64 values) and blocks per field (``blocks``), the last axis's kept modes
    (``m2``) and how many the forward DFT computes (``m2_padded``: four at a time), the first
    axis's kept frequencies (``k1s``) and those its tables hold (``h1s``, see :func:`_tables`)."""

    def __init__(self, model: "FNO"):
        self.block = 16 if model.dtype == td.f32 else 8
        self.blocks = -(-model.width // self.block)
        self.m2 = model.modes[-1]
        self.m2_padded = -(-self.m2 // 4) * 4
        self.k1s = 2 * model.modes[0] if model.dim == 2 else 1
        self.h1s = model.modes[0] + 1 if model.dim == 2 else 1


def _tables(grid: tuple, modes: tuple, dim: int, store) -> dict:
    """Cosine and sine tables of the truncated DFTs (float64 computed, stored in ``store``),
    indexed ``(point, mode)`` so that the kernels' innermost loops run over the modes.

    Both DFTs use the symmetry of the real DFT's grid points and of the complex DFT's kept
    frequencies, so each table holds only half of its points or frequencies:

    ``last_*``: the real DFT along the last axis (``S2``; ``S`` in 1-D), modes ``0..m2-1``, at
    the points ``p = 0 .. S2 // 2`` (point ``S2 - p`` has the same cosine and the opposite sine),
    forward with ``-sin``; ``ilast_*``: its inverse with the ``irfft`` weights (1 for the zero and
    Nyquist modes, else 2) and the whole ``1 / (S1 S2)``. Points without a partner (``0`` and
    ``S2 / 2``) have their cosine halved: the kernels count them twice.
    ``first_*`` / ``ifirst_*``: the complex DFT along the first axis at the frequencies
    ``0 .. m1 - 1`` and ``S1 - m1`` (frequency ``S1 - h`` of ``h = 1 .. m1 - 1`` is the
    conjugate: ``cos`` and ``+sin`` for both directions); in 1-D one axis of length 1.
    The forward last-axis tables have zero columns past ``m2`` up to a multiple of four. When
    ``S2`` is a multiple of 4 they are in their ``quarter`` form (the rows ``p = 0 .. S2 / 4``;
    see :func:`_kernels`'s ``last_axis_dft``), as :func:`quarter_dft` says.
    """
    if dim == 1:
        s1, s2 = 1, grid[0]
        m2, freqs1 = modes[0], [0]
    else:
        s1, s2 = grid
        m1, m2 = modes
        freqs1 = list(range(m1)) + [s1 - m1]
    k2 = np.arange(m2)[None, :]
    p2 = np.arange(s2 // 2 + 1)[:, None]
    a2 = 2.0 * np.pi * p2 * k2 / s2
    single = np.where((p2 == 0) | (2 * p2 == s2), 0.5, 1.0)
    weight = _irfft_weights(m2, s1, s2)
    a1 = 2.0 * np.pi * np.arange(s1)[:, None] * np.asarray(freqs1)[None, :] / s1
    # the last axis's modes padded with zero columns to a multiple of four (the DFT along it
    # computes four modes at a time)
    pad = ((0, 0), (0, -m2 % 4))
    tables = {"last_cos": np.pad(single * np.cos(a2), pad), "last_sin": np.pad(-np.sin(a2), pad),
              "ilast_cos": single * weight * np.cos(a2), "ilast_sin": weight * np.sin(a2),
              "first_cos": np.cos(a1), "first_sin": np.sin(a1),
              "ifirst_cos": np.cos(a1), "ifirst_sin": np.sin(a1)}
    # the adjoint of the inverse last-axis DFT is the forward one's kernel with these tables
    # (see fno_dense.Launch): the inverse's, padded
    tables["ilast_cos_t"] = np.pad(tables["ilast_cos"], pad)
    tables["ilast_sin_t"] = np.pad(-tables["ilast_sin"], pad)
    # the forward last-axis DFT's adjoint (its transposed map, see fno_dense.Launch) and, with the
    # quarter forms, the inverse: the inverse's kernel, unweighted (dt_*: the point pairs'
    # tables, their cosine halved where _tables' are) or (iq_*, tq_*) the quarter form's, at
    # the points 0 .. S2/4 with whole weights and the sine's sign of the cosine's partner
    if not quarter_dft(grid):
        tables.update(dt_cos=single * np.cos(a2), dt_sin=np.sin(a2))
    else:
        q = a2[:s2 // 4 + 1]
        tables.update(iq_cos=weight * np.cos(q), iq_sin=-weight * np.sin(q), tq_cos=np.cos(q),
                      tq_sin=-np.sin(q))
        del tables["ilast_cos"], tables["ilast_sin"]  # (the point pairs' inverse: not used)
        # the forward last-axis DFT's quarter form: points p = 0 .. S2/4, the point S2/4 its
        # own partner (its row halved); row 0 serves points 0 and S2/2, both halved already
        for name in ("last_cos", "last_sin", "ilast_cos_t", "ilast_sin_t"):
            t = tables[name][:s2 // 4 + 1].copy()
            t[s2 // 4] *= 0.5
            tables[name] = t
    return {name: _stored(t, store) for name, t in tables.items()}


def _irfft_weights(m2: int, s1: int, s2: int) -> np.ndarray:
    """``(1, m2)``: the inverse real DFT's weight of each last-axis mode (1 for the zero and
    Nyquist modes, else 2) with the whole ``1 / (S1 S2)``."""
    k = np.arange(m2)[None, :]
    return np.where((k == 0) | (2 * k == s2), 1.0, 2.0) / (s1 * s2)


def _stored(table: np.ndarray, store):
    """``table`` as a Taichi ndarray of the model's storage type (``store``, a NumPy float)."""
    arr = ti.ndarray(ti.f32 if store == np.float32 else ti.f64, shape=table.shape)
    arr.from_numpy(np.ascontiguousarray(table, dtype=store))
    return arr


def _point_tables(grid: tuple, points: tuple, modes: tuple, store) -> dict:
    """The inverse last-axis DFT at the chosen grid points (row-major indices) only:
    ``at_cos[j, k] = w_k cos(2 pi k i2 / S2)`` and ``at_sin[j, k] = -w_k sin(...)`` at point
    ``j``'s last-axis index ``i2``, with ``ilast_*``'s weights ``w_k`` (see :func:`_tables`),
    and ``at_row[j]``, its first-axis index (0 in 1-D)."""
    s2 = grid[-1]
    s1 = 1 if len(grid) == 1 else grid[0]
    m2 = modes[-1]
    at = np.asarray(points)
    angle = 2.0 * np.pi * (at % s2)[:, None] * np.arange(m2)[None, :] / s2
    weight = _irfft_weights(m2, s1, s2)
    out = {"at_cos": _stored(weight * np.cos(angle), store),
           "at_sin": _stored(-weight * np.sin(angle), store),
           "at_row": ti.ndarray(ti.i32, shape=len(at))}
    out["at_row"].from_numpy((at // s2).astype(np.int32))
    return out


def quarter_dft(grid: tuple) -> bool:
    """Whether the forward last-axis DFTs on ``grid`` take their quarter form (the last axis a
    multiple of 4)."""
    return grid[-1] % 4 == 0


def _grid_points(grid: tuple) -> np.ndarray:
    axes = [np.linspace(0.0, 1.0, s) for s in grid]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


class Batch:
    """Storage for ``n`` fields on one grid (ndarrays with gradients) and the launches of one
    forward and one reverse pass of an :class:`FNO` over them.

    ``forward()`` runs the network's kernels in order; ``backward(...)`` launches each of them
    again in reverse order with its adjoint (``kernel.grad``), once the cotangents of what it
    accumulates are complete. Parameter gradients accumulate into the
    model's ``.grad`` (clear them first), the input gradient into :meth:`input_gradient`.

    Every kernel writes each element of its output once (``=``), so a forward pass needs no
    zeroed storage, and the adjoint of such a write reads the element's gradient and sets it
    to zero: a completed backward pass leaves every intermediate's gradient zero, as the next
    one needs them. The gradients are zeroed when the batch is made, and again only before a
    backward pass that follows an interrupted one.

    Example:
        >>> import numpy as np, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)
        >>> b = net.batch(2, (8,))
        >>> b.load(np.zeros((2, 8))); b.forward(); b.outputs().shape
        (2, 8)
    """

    def __init__(self, model: FNO, n: int, grid: tuple, points: tuple[int, ...] | None = None,
                 inputs_only: bool = False):
        self.model, self.grid = model, model.check_grid(grid, "grid")
        self.inputs_only = inputs_only
        self.n = _deeponet._positive_int("n", n)
        self.points = math.prod(self.grid)
        # the outputs' points: all, or those chosen (model.check_points), in their order
        self.selected = model.check_points(points, self.grid)
        outputs = self.points if self.selected is None else len(self.selected)
        real, w = model.dtype, model.width
        s1 = 1 if model.dim == 1 else self.grid[0]
        K = model.n_modes

        def nd(*shape):
            return ti.ndarray(real, shape=shape, needs_grad=True)

        L = model.layers
        self.a = nd(n, self.points, model.in_channels)
        # the projection's input, one number per (output) point and channel
        self.last = nd(n, outputs, w)
        # the Fourier layers' values, channels in blocks (see _kernels)
        sz = _Sizes(model)
        wb, m2p = sz.blocks, sz.m2_padded
        s2 = self.points // s1

        def blocks(*shape, grad=True):
            return ti.ndarray(ti.types.vector(sz.block, real), shape=shape, needs_grad=grad)

        self.vb = [blocks(n, s1, s2, wb) for _ in range(L + 1)]  # each layer's input; [L] last
        self.spec = [blocks(n, s1, s2, wb) for _ in range(L)]  # the spectral convolutions
        self.scratch = blocks(n, s1, s2, wb, grad=False)  # the dense layers' adjoints'
        # the activated dense layers' activation derivatives, left by the forward pass for the
        # adjoint (the last layer has no activation: it is given the scratch, untouched)
        self.slopes = [blocks(n, s1, s2, wb, grad=False) for _ in range(L - 1)]
        # the last-axis DFT's output and the inverse first-axis DFT's (2-D only: in 1-D the
        # last-axis DFTs write and read the mixing's arrays directly)
        first_axis = model.dim == 2
        self.z = [blocks(n, s1, m2p, 2, wb) for _ in range(L)] if first_axis else []
        self.zi = [blocks(n, s1, m2p, 2, wb) for _ in range(L)] if first_axis else []
        # the mode mixing's, one number per channel (flat mode index, as the weights')
        # (channels padded with zeros to a multiple of four: the mixing's weight adjoint
        # takes four at a time)
        self.x = [nd(n, K, 2, -(-w // 4) * 4) for _ in range(L)]
        # (mode index by axis; the last-axis modes padded to a multiple of four, as the forward
        # last-axis DFT writes them: it is the inverse's adjoint)
        self.yb = [blocks(n, sz.k1s, m2p, 2, wb) for _ in range(L)]
        # the mixing's input gradient in yb's layout, which the adjoint of the DFT before it
        # reads (transposed: the inverse first-axis DFT's kernel in 2-D, the inverse last-axis
        # one's in 1-D)
        self.xg = [blocks(n, sz.k1s, m2p, 2, wb, grad=False) for _ in range(L)]
        cout = model.out_channels
        self.out = nd(n, outputs, cout)
        self.targets = ti.ndarray(real, shape=(n, outputs, cout))
        self.errors = nd(n)
        self.t = _tables(self.grid, model.modes, model.dim, model._store)
        # (chosen points) the last Fourier layer runs at those points only (its output feeds
        # the projection alone): its spectral part there (the inverse last-axis DFT at those
        # points, tables by point), ``(fields, 1, points, blocks)``. With inputs only, its
        # dense part reads its input at the points' grid indices (``rows``); otherwise the
        # input is gathered there (``slot``: each grid point's row among them, -1 if none) and
        # the dense layer writes an output and uses a scratch of the same shape
        self.slot = self.at = self.rows = None
        if self.selected is not None:
            chosen = np.asarray(self.selected)
            if inputs_only:
                self.rows = ti.ndarray(ti.i32, shape=(outputs, 2))
                self.rows.from_numpy(np.stack([chosen // s2, chosen % s2], axis=1)
                                     .astype(np.int32))
                names = ("spec",)
            else:
                slot = np.full(self.points, -1, dtype=np.int32)
                slot[chosen] = np.arange(outputs, dtype=np.int32)
                self.slot = ti.ndarray(ti.i32, shape=self.points)
                self.slot.from_numpy(slot)
                names = ("input", "spec", "output", "scratch")
            self.at = {name: blocks(n, 1, outputs, wb, grad=name != "scratch")
                       for name in names}
            self.t.update(_point_tables(self.grid, self.selected, model.modes, model._store))
        # (inputs only, 1-D, a first layer that is not the last) the first layer from the
        # input channels (tidal.surrogates.fno_first)
        self.first = fno_first.FirstLayer(model, n, self.grid, sz.block) \
            if inputs_only and model.dim == 1 and L >= 2 else None
        gridpts = ti.ndarray(real, shape=(self.points, model.dim))
        gridpts.from_numpy(_grid_points(self.grid).astype(model._store))
        self.gridpts = gridpts
        # the arrays moved to and from NumPy at every pass (views of their memory on the CPU)
        self._io = field_io.HostCopies([self.a, self.a.grad, self.targets, self.out,
                                        self.out.grad, self.errors, self.errors.grad])
        self._intermediates = [self.out, self.errors, self.last] + self.vb \
            + self.z + self.x + self.yb + self.zi + self.spec \
            + ([] if self.at is None else [a for k, a in self.at.items() if k != "scratch"]) \
            + ([] if self.first is None else [self.first.ah])
        self.set_launches(self._plan())
        self.zero_gradients()

    def _plan(self) -> list:
        """The forward launches, in order: ``(kernel, args)``. Each adjoint runs alone
        (``kernel.grad``): the inputs of every launch are still in place when it runs, and a
        nonlinear kernel's adjoint recomputes from them the values it needs."""
        k, t, m, Launch = self.model.kernels, self.t, self.model, fno_dense.Launch
        quarter = quarter_dft(self.grid)
        dft_last, dft_last_modes = k["dft_last"][quarter], k["dft_last_modes"][quarter]
        # the forward last-axis DFT's adjoint: its transposed map, added into the gradient of
        # its input (the dense layer's adjoint adds into it too); the inverse's kernel
        dft_adjoint = k["dft_last_transposed"][quarter]
        dt_cos, dt_sin = (t["tq_cos"], t["tq_sin"]) if quarter else (t["dt_cos"], t["dt_sin"])
        idft_last = k["idft_last"][quarter]
        il_cos, il_sin = (t["iq_cos"], t["iq_sin"]) if quarter else (t["ilast_cos"],
                                                                       t["ilast_sin"])
        plan = [(k["pack_mix"], ()), (k["pack_dense"], ()),
                (k["lift"].pack, ()), (k["lift"], (self.a, self.gridpts, self.vb[0]))]
        if self.first is not None:  # the first layer from the input channels, into vb[1]
            f, c, yb, spec = k["first"], self.first, self.yb[0], self.spec[0]
            plan = plan[:3] + [
                (Launch(f["input_modes"], (self.a, c.cos, c.sin, c.ah),
                        f["input_modes_transposed"], (c.ah.grad, c.cos, c.sin, self.a.grad)),
                 ()),
                (Launch(f["mix_inputs"], (c.ah, c.ublk, yb),
                        f["mix_inputs_transposed"], (yb.grad, c.ublk, c.ah.grad)), ()),
                (Launch(idft_last, (yb, il_cos, il_sin, spec),
                        dft_last, (spec.grad, t["ilast_cos_t"], t["ilast_sin_t"], yb.grad)), ()),
                (Launch(f["first_dense"], (self.a, spec, c.c, c.ucol, self.vb[1], self.slopes[0]),
                        f["first_dense_adjoint"],
                        (self.vb[1].grad, spec.grad, self.slopes[0], c.ucol, self.a.grad)), ())]
        projected = False  # (whether the last layer wrote the projection's input itself)
        for layer in range(0 if self.first is None else 1, m.layers):
            vb, x, yb, spec = (a[layer] for a in (self.vb, self.x, self.yb, self.spec))
            last = layer == m.layers - 1
            xbar = self.xg[layer]
            if m.dim == 2:
                z, zi = self.z[layer], self.zi[layer]
                plan += [(Launch(dft_last, (vb, t["last_cos"], t["last_sin"], z),
                                 dft_adjoint, (z.grad, dt_cos, dt_sin, vb.grad)), ()),
                         (Launch(k["dft_first"], (z, t["first_cos"], t["first_sin"], x),
                                 k["idft_first"], (xbar, t["first_cos"], t["first_sin"], z.grad)),
                          ())]
            else:  # no first axis: its DFTs would be copies (a table of one 1)
                plan.append((Launch(dft_last_modes, (vb, t["last_cos"], t["last_sin"], x),
                                    dft_adjoint, (xbar, dt_cos, dt_sin, vb.grad)), ()))
                zi = yb
            plan.append((k["mix"], (x, yb, layer, xbar)))
            if m.dim == 2:
                plan.append((Launch(k["idft_first"], (yb, t["ifirst_cos"], t["ifirst_sin"], zi),
                                    k["dft_first_blocks"],
                                    (zi.grad, t["ifirst_cos"], t["ifirst_sin"], yb.grad)), ()))
            if last and self.at is not None:  # at the chosen points only
                at, dw = self.at, k["pack_dense"]
                plan.append((Launch(k["idft_at"],
                                    (zi, t["at_cos"], t["at_sin"], t["at_row"], at["spec"]),
                                    k["idft_at_transposed"],
                                    (at["spec"].grad, t["at_cos"], t["at_sin"], t["at_row"],
                                     zi.grad)), ()))
                if self.inputs_only:  # the dense part reads the layer's input where it lies
                    # and writes the projection's input (no parameter gradients)
                    plan.append((Launch(k["dense_at"], (vb, self.rows, at["spec"], dw.wcol,
                                                        dw.bias, self.last, layer),
                                        k["dense_at_adjoint"],
                                        (self.last.grad, self.rows, at["spec"].grad, dw.wrow,
                                         vb.grad, layer)), ()))
                    projected = True
                else:
                    plan += [(k["gather_blocks"], (vb, self.slot, at["input"])),
                             (k["linear"], (at["input"], at["spec"], at["output"],
                                            at["scratch"], at["scratch"], layer))]
                continue
            plan.append((Launch(idft_last, (zi, il_cos, il_sin, spec),
                                dft_last, (spec.grad, t["ilast_cos_t"], t["ilast_sin_t"], zi.grad)),
                         ()))
            plan.append((k["linear"] if last else k["linear_act"],
                         (vb, spec, self.vb[layer + 1], self.scratch,
                          self.scratch if last else self.slopes[layer], layer)))
        if not projected:
            output = self.vb[-1] if self.at is None else self.at["output"]
            plan.append((k["from_point_blocks"], (output, self.last)))
        plan.append((k["project"], (self.last, self.out)))
        return plan

    def set_launches(self, launches: list) -> None:
        """Make ``launches`` (``(kernel, args)`` in order, as :meth:`_plan` gives them) the
        passes' launches. Each pass is launched again without its Python once it has run
        (:class:`tidal.dsl.replay.Sequence`: the same launches with the same arrays every
        time), so a change of plan goes through here."""
        self._launches = launches
        # (the bodies hold the launches, not the batch: no reference cycle keeps a dropped
        # batch's arrays alive until the garbage collector runs)
        # (the parameters' copies into blocks are launched by the model, when they moved; their
        # adjoints stay in the backward passes)
        self._forward = replay.Sequence(functools.partial(
            _forward_pass, [launch for launch in launches
                            if not isinstance(launch[0], fno_dense.BlockCopy)]))
        self._backward = replay.Sequence(functools.partial(_backward_pass, launches, None))
        self._backward_inputs = replay.Sequence(
            functools.partial(_backward_pass, launches, self._intermediates + [self.a]))

    def load(self, inputs, targets=None) -> None:
        """Copy ``n`` checked input fields (``(n, *grid, channels)``) and, optionally, target
        fields (``(n, *output_shape)``) into the batch."""
        self._io.put(self.a, inputs.reshape(self.n, self.points, -1))
        if targets is not None:
            self._io.put(self.targets, targets.reshape(self.n, self.out.shape[1], -1))

    def zero_gradients(self) -> None:
        """Zero the gradient of every intermediate and of the inputs."""
        # (and the gradients of the parameters' copies into blocks, which the plan's
        # BlockCopy launches carry)
        copies = [g for launch, _ in self._launches for g in getattr(launch, "gradients",
                                                                      lambda: [])()]
        field_io.fill_all([arr.grad for arr in self._intermediates] + [self.a.grad] + copies, 0)
        self._gradients_zero = True

    def forward(self) -> None:
        """The network (outputs in :meth:`outputs`)."""
        self.model.copy_parameters()
        if self.first is not None:
            self.first.update()
        self._forward()

    def squared_errors(self) -> np.ndarray:
        """After :meth:`forward`: each field's sum of squared errors against the targets."""
        self.model.kernels["squared_errors"](self.out, self.targets, self.errors)
        return self._io.get(self.errors)

    def backward(self, error_seeds=None, output_cotangent=None, parameters: bool = True) -> None:
        """After :meth:`forward` (and :meth:`squared_errors` with ``error_seeds``): the adjoint
        pass, from the cotangents of the per-field squared errors or of the outputs. With
        ``parameters=False`` only the input gradient is computed (``kernel.grad(..., wrt=...)``
        with the batch's own arrays): the parameters' ``.grad`` is left as it was, and a batch
        made with ``inputs_only`` takes no other."""
        if parameters and self.inputs_only:
            raise TidalArgumentError(
                "this batch holds the parameters constant (FNO.batch(..., inputs_only=True)): "
                "it gives the inputs' gradient only",
                hint="use a batch made without inputs_only for parameter gradients, or pass "
                     "parameters=False")
        if self._gradients_zero:
            self._io.fill(self.a.grad, 0)
        else:  # the last backward pass was interrupted
            self.zero_gradients()
        self._gradients_zero = False
        if error_seeds is not None:
            self._io.put(self.errors.grad, np.asarray(error_seeds, dtype=np.float64))
            self.model.kernels["squared_errors"].grad(self.out, self.targets, self.errors)
        else:
            cot = np.asarray(output_cotangent, dtype=np.float64).reshape(self.n,
                                                                         self.out.shape[1], -1)
            self._io.put(self.out.grad, cot)
        (self._backward if parameters else self._backward_inputs)()
        self._gradients_zero = True  # each adjoint zeroed its output's gradient

    def outputs(self) -> np.ndarray:
        """The output fields, float64 ``(n, *output_shape)`` (see :meth:`FNO.output_shape`);
        with chosen points ``(n, len(points)[, out_channels])``."""
        grid = self.grid if self.selected is None else (len(self.selected),)
        return self._io.get(self.out).reshape(
            self.n, *self.model.output_shape(grid))

    def input_gradient(self) -> np.ndarray:
        """After :meth:`backward`: the gradient in the input fields, ``(n, *grid, channels)``."""
        return self._io.get(self.a.grad).reshape(
            self.n, *self.grid, -1)


def _forward_pass(launches: list) -> None:
    for kernel, args in launches:
        kernel(*args)


def _backward_pass(launches: list, wrt) -> None:
    for kernel, args in reversed(launches):
        kernel.grad(*args, wrt=wrt)


def _kernels(model: FNO) -> dict:
    """The network's tidal kernels (closures over its parameter fields)."""
    P, pb, R, W, Wb, Q1, q1b, Q2, q2b = model._fields
    real, w, act = model.dtype, model.width, model.act
    cin, hidden, cout = model.in_channels, model.projection, model.out_channels
    sizes = _Sizes(model)
    m2, k1s, h1s, B = sizes.m2, sizes.k1s, sizes.h1s, sizes.block
    m2g = sizes.m2_padded  # last-axis modes computed, four at a time (the tables padded)
    # The projection runs consecutive iterations of its parallel loop (points) in SIMD lanes,
    # its adjoint too (td.kernel(vectorise=True)): in float32 16 iterations per vector (one
    # 512-bit register per lane value), computing four hidden values at a time in separate
    # locals (one register each). The layers before it work on channel blocks (below).
    lanes = 16 if real == td.f32 else None
    nd1 = ti.types.ndarray(dtype=real, ndim=1)
    ndi1 = ti.types.ndarray(dtype=ti.i32, ndim=1)
    nd2 = ti.types.ndarray(dtype=real, ndim=2)
    nd3 = ti.types.ndarray(dtype=real, ndim=3)
    nd4 = ti.types.ndarray(dtype=real, ndim=4)

    # Channel blocks of `B` (an ndarray of B-vectors: one SIMD register of 512 bits), compiled
    # with td.kernel(simd_vectors=True): every read and write of a block is one vector load or
    # store, every multiply-add one vector instruction for B channels. Each kernel's parallel
    # loop runs over indices that every array it writes carries as whole indices (a computed
    # index such as k // m2 makes tidal add atomically, or refuse the kernel, which then runs
    # as plain Taichi, 10x slower). Measured against the same DFTs in SIMD lanes over channels
    # (per-lane loads and stores): forward and adjoint of the last-axis DFT 3x faster at
    # 16 x 16 (20 fields, width 32, float32).
    vec = ti.types.vector(B, real)
    ndv4 = ti.types.ndarray(dtype=vec, ndim=4)
    ndv5 = ti.types.ndarray(dtype=vec, ndim=5)

    # the lifting writes the first layer's blocks, its adjoint written as kernels
    # (tidal.surrogates.fno_dense)
    lift = fno_dense.Lifting(P, pb, cin, real, B)

    @td.func
    def store_block(arr: ti.template(), b: ti.i32, x: ti.i32, cb: ti.i32, blk: vec):
        """arr[b, x, cb * B + j] = blk[j] for the channels j of block cb that exist."""
        for j in ti.static(range(B)):
            if ti.static(w % B == 0):
                arr[b, x, cb * B + j] = blk[j]
            else:
                if cb * B + j < w:
                    arr[b, x, cb * B + j] = blk[j]

    # (a second helper for the mixing's input, whose (mode, part) stay two indices: merged into
    # one row 2 k + part, the adjoints no longer see that each iteration owns the elements it
    # adds into, and add atomically: mixing adjoint 9.2 -> 14.4 ms per 16 x 16 batch, measured
    # 2026-12-06)
    @td.func
    def store_part_block(arr: ti.template(), b: ti.i32, k: ti.i32, t: ti.i32, cb: ti.i32,
                         blk: vec):
        """arr[b, k, t, cb * B + j] = blk[j] for the channels j of block cb that exist."""
        for j in ti.static(range(B)):
            if ti.static(w % B == 0):
                arr[b, k, t, cb * B + j] = blk[j]
            else:
                if cb * B + j < w:
                    arr[b, k, t, cb * B + j] = blk[j]

    def last_axis_dft(name: str, into_modes: bool, quarter: bool):
        """The real DFT along the last axis as the kernel ``name``: into blocks ``z[b, i1, k,
        (re, im)]`` for the first axis's DFT, or (``into_modes``, 1-D, where there is no first
        axis) straight into the mode mixing's plain array ``(fields, modes, part, channels)``,
        the padded modes left out. With ``quarter`` (``S2`` a multiple of 4, the tables'
        ``quarter`` form, see :func:`_tables`) the points ``p, S2 - p, S2/2 - p, S2/2 + p``
        together: ``cos`` at ``S2/2 - p`` is ``(-1)^k cos`` at ``p`` (``sin``: ``-(-1)^k``), so
        each table entry serves four points and the multiply-adds are halved."""

        @td.func
        def put(z: ti.template(), b: ti.i32, i1: ti.i32, k: ti.i32, cb: ti.i32, re: vec,
                im: vec):
            if ti.static(into_modes):
                if k < m2:
                    store_part_block(z, b, k, 0, cb, re)
                    store_part_block(z, b, k, 1, cb, im)
            else:
                z[b, i1, k, 0, cb] = re
                z[b, i1, k, 1, cb] = im

        def dft(vb: ndv4, cos_t: nd2, sin_t: nd2, z: nd4 if into_modes else ndv5):
            # modes m2g (the tables' padding zero) four at a time: each block of the grid row
            # is read once for four modes
            for b, i1, cb in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[3]):
                s2 = vb.shape[2]
                half = s2 // 2
                for kg in range(m2g // 4):
                    k = kg * 4
                    r0 = ti.Vector.zero(real, B)
                    r1 = ti.Vector.zero(real, B)
                    r2 = ti.Vector.zero(real, B)
                    r3 = ti.Vector.zero(real, B)
                    j0 = ti.Vector.zero(real, B)
                    j1 = ti.Vector.zero(real, B)
                    j2 = ti.Vector.zero(real, B)
                    j3 = ti.Vector.zero(real, B)
                    for p in range(cos_t.shape[0]):  # points p and s2 - p together
                        u = vb[b, i1, p, cb]
                        # (point 0's partner is itself; not (s2 - p) % s2: an integer division
                        # in the innermost loop)
                        u2 = vb[b, i1, ti.select(p == 0, 0, s2 - p), cb]
                        e = u + u2
                        d = u - u2
                        # the sums each mode takes: of the pair for every mode, or (quarter)
                        # of the four points, even and odd modes apart (k is even)
                        e_even = e
                        e_odd = e
                        d_even = d
                        d_odd = d
                        if ti.static(quarter):  # and S2/2 - p, S2/2 + p
                            uq = vb[b, i1, half - p, cb]
                            uq2 = vb[b, i1, half + p, cb]
                            eq = uq + uq2
                            dq = uq - uq2
                            e_even = e + eq
                            e_odd = e - eq
                            d_even = d - dq
                            d_odd = d + dq
                        r0 += e_even * cos_t[p, k]
                        r1 += e_odd * cos_t[p, k + 1]
                        r2 += e_even * cos_t[p, k + 2]
                        r3 += e_odd * cos_t[p, k + 3]
                        j0 += d_even * sin_t[p, k]
                        j1 += d_odd * sin_t[p, k + 1]
                        j2 += d_even * sin_t[p, k + 2]
                        j3 += d_odd * sin_t[p, k + 3]
                    put(z, b, i1, k, cb, r0, j0)
                    put(z, b, i1, k + 1, cb, r1, j1)
                    put(z, b, i1, k + 2, cb, r2, j2)
                    put(z, b, i1, k + 3, cb, r3, j3)

        dft.__name__ = dft.__qualname__ = name
        return td.kernel(dft, simd_vectors=True)

    # (the quarter forms for grids whose last axis is a multiple of 4; each kernel compiles at
    # its first launch, so a model compiles only the forms its grids use)
    dft_last = {q: last_axis_dft("dft_last", into_modes=False, quarter=q) for q in (False, True)}
    dft_last_modes = {q: last_axis_dft("dft_last_modes", into_modes=True, quarter=q)
                      for q in (False, True)}

    def first_axis_dft(name: str, into_blocks: bool):
        """The DFT along the first axis at the kept frequencies as the kernel ``name``: into the
        mode mixing's plain array ``(fields, modes, part, channels)``, or (``into_blocks``: the
        adjoint of the inverse first-axis DFT, with its tables) into blocks ``[b, k1, k2,
        part]``."""

        @td.func
        def put(xh: ti.template(), b: ti.i32, k1: ti.i32, k2: ti.i32, cb: ti.i32, re: vec,
                im: vec):
            if ti.static(into_blocks):
                xh[b, k1, k2, 0, cb] = re
                xh[b, k1, k2, 1, cb] = im
            else:
                store_part_block(xh, b, k1 * m2 + k2, 0, cb, re)
                store_part_block(xh, b, k1 * m2 + k2, 1, cb, im)

        def dft(z: ndv5, cos_t: nd2, sin_t: nd2, xh: ndv5 if into_blocks else nd4):
            for b, k2, cb in ti.ndrange(z.shape[0], m2, z.shape[4]):
                for h in range(h1s):
                    ar = ti.Vector.zero(real, B)
                    ai = ti.Vector.zero(real, B)
                    br = ti.Vector.zero(real, B)
                    bi = ti.Vector.zero(real, B)
                    for i1 in range(z.shape[1]):
                        zr = z[b, i1, k2, 0, cb]
                        zi = z[b, i1, k2, 1, cb]
                        ct = cos_t[i1, h]
                        st = sin_t[i1, h]
                        ar += zr * ct
                        ai += zi * ct
                        br += zr * st
                        bi += zi * st
                    put(xh, b, h, k2, cb, ar + bi, ai - br)  # frequency h: A - iB
                    if 0 < h and h < h1s - 1:  # frequency S1 - h: A + iB
                        put(xh, b, k1s - h, k2, cb, ar - bi, ai + br)

        dft.__name__ = dft.__qualname__ = name
        return td.kernel(dft, simd_vectors=True)

    dft_first = first_axis_dft("dft_first", into_blocks=False)
    dft_first_blocks = first_axis_dft("dft_first_blocks", into_blocks=True)

    # the mode mixing writes the inverse DFTs' blocks, its adjoint written as kernels
    # (tidal.surrogates.fno_mixing)
    pack_mix = fno_mixing.MixWeights(R, real, B)
    mix = fno_mixing.ModeMixing(pack_mix, real, m2, gradient_blocks=True)

    @td.kernel(simd_vectors=True)
    def idft_first(yb: ndv5, cos_t: nd2, sin_t: nd2, zi: ndv5):
        for b, k2, ob in ti.ndrange(yb.shape[0], m2, yb.shape[4]):
            for i1 in range(zi.shape[1]):
                # frequencies h and S1 - h together: Y_h e^(i t) + Y_-h e^(-i t)
                # = (Y_h + Y_-h) cos t + i (Y_h - Y_-h) sin t
                re = ti.Vector.zero(real, B)
                im = ti.Vector.zero(real, B)
                for h in range(h1s):
                    pr = yb[b, h, k2, 0, ob]
                    pi = yb[b, h, k2, 1, ob]
                    mr = pr
                    mi = pi
                    if 0 < h and h < h1s - 1:
                        yr = yb[b, k1s - h, k2, 0, ob]
                        yi = yb[b, k1s - h, k2, 1, ob]
                        pr = pr + yr
                        pi = pi + yi
                        mr = mr - yr
                        mi = mi - yi
                    ct = cos_t[i1, h]
                    st = sin_t[i1, h]
                    re += pr * ct - mi * st
                    im += pi * ct + mr * st
                zi[b, i1, k2, 0, ob] = re
                zi[b, i1, k2, 1, ob] = im

    def block_writer(accumulate: bool):
        """A tidal function storing a block ``out[b, i1, p, ob]``, or (``accumulate``) adding
        it."""

        @td.func
        def put(out: ti.template(), b: ti.i32, i1: ti.i32, p: ti.i32, ob: ti.i32, val: vec):
            if ti.static(accumulate):
                out[b, i1, p, ob] += val
            else:
                out[b, i1, p, ob] = val

        return put

    def pair_idft(name: str, accumulate: bool):
        """The inverse last-axis DFT from the kept modes' blocks ``zi[b, i1, k, (re, im)]`` to
        the points' blocks ``(fields, S1, S2, blocks)`` as the kernel ``name``, point pairs
        ``p, S2 - p`` together from tables of the points ``0 .. S2 / 2`` (``a - s`` and
        ``a + s``, the cosine of the points without a partner halved); set, or (``accumulate``)
        added: the forward last-axis DFT's adjoint, its transposed map with the tables
        ``dt_*``, adds into a gradient the dense layer's adjoint also adds into."""

        put = block_writer(accumulate)

        @td.func
        def put_point_pair(spec: ti.template(), b: ti.i32, i1: ti.i32, p: ti.i32, ob: ti.i32,
                           a: vec, s: vec):
            s2 = spec.shape[2]
            q = ti.select(p == 0, 0, s2 - p)
            if q == p:  # point 0 (and S/2): the tables hold half of its weight
                put(spec, b, i1, p, ob, a + a)
            else:
                put(spec, b, i1, p, ob, a - s)
                put(spec, b, i1, q, ob, a + s)

        def idft(zi: ndv5, cos_t: nd2, sin_t: nd2, spec: ndv4):
            # points p and s2 - p together (A - B and A + B), four pairs at a time: eight sums
            # in flight (two alone wait for each multiply-add) and each mode's block read once
            # for four; the last pairs (fewer than four) one at a time
            for b, i1, ob in ti.ndrange(zi.shape[0], zi.shape[1], zi.shape[4]):
                pairs = cos_t.shape[0]
                for pg in range(pairs // 4):
                    p0 = pg * 4
                    a0 = ti.Vector.zero(real, B)
                    a1 = ti.Vector.zero(real, B)
                    a2 = ti.Vector.zero(real, B)
                    a3 = ti.Vector.zero(real, B)
                    s0 = ti.Vector.zero(real, B)
                    s1 = ti.Vector.zero(real, B)
                    s2_ = ti.Vector.zero(real, B)
                    s3 = ti.Vector.zero(real, B)
                    for k in range(m2):
                        zr = zi[b, i1, k, 0, ob]
                        zm = zi[b, i1, k, 1, ob]
                        a0 += zr * cos_t[p0, k]
                        a1 += zr * cos_t[p0 + 1, k]
                        a2 += zr * cos_t[p0 + 2, k]
                        a3 += zr * cos_t[p0 + 3, k]
                        s0 += zm * sin_t[p0, k]
                        s1 += zm * sin_t[p0 + 1, k]
                        s2_ += zm * sin_t[p0 + 2, k]
                        s3 += zm * sin_t[p0 + 3, k]
                    put_point_pair(spec, b, i1, p0, ob, a0, s0)
                    put_point_pair(spec, b, i1, p0 + 1, ob, a1, s1)
                    put_point_pair(spec, b, i1, p0 + 2, ob, a2, s2_)
                    put_point_pair(spec, b, i1, p0 + 3, ob, a3, s3)
                for p in range(pairs - pairs % 4, pairs):
                    a = ti.Vector.zero(real, B)
                    s = ti.Vector.zero(real, B)
                    for k in range(m2):
                        a += zi[b, i1, k, 0, ob] * cos_t[p, k]
                        s += zi[b, i1, k, 1, ob] * sin_t[p, k]
                    put_point_pair(spec, b, i1, p, ob, a, s)

        idft.__name__ = idft.__qualname__ = name
        return td.kernel(idft, simd_vectors=True)

    def quarter_idft(name: str, accumulate: bool):
        """:func:`pair_idft`'s map when ``S2`` is a multiple of 4, as the kernel ``name``:
        ``out[p] = sum_k re_k C[p, k] + im_k D[p, k]`` with the tables at the points ``p = 0
        .. S2 / 4`` only (whole weights: each point is written once). At ``S2 - p`` the sine
        changes sign; at ``S2/2 - p`` and ``S2/2 + p`` the cosine takes ``(-1)^k``, the sine
        ``-(-1)^k`` and ``(-1)^k``: with the even and odd modes' sums ``Ae, Ao`` (cosine) and
        ``Be, Bo`` (sine) each table entry serves four points, half the multiply-adds of the
        pairs. Tables ``iq_*`` (the inverse DFT, set) or ``tq_*`` (the forward DFT's
        transpose, ``accumulate``: its adjoint)."""

        put = block_writer(accumulate)

        @td.func
        def put_quarter(out: ti.template(), b: ti.i32, i1: ti.i32, p: ti.i32, ob: ti.i32,
                        ae: vec, ao: vec, be: vec, bo: vec):
            s2 = out.shape[2]
            half = s2 // 2
            c = ae + ao
            d = be + bo
            put(out, b, i1, p, ob, c + d)
            if p > 0:  # (point 0's partner S2 - 0 is itself)
                put(out, b, i1, s2 - p, ob, c - d)
            if 4 * p != s2:  # (at p = S2/4, S2/2 - p is p and S2/2 + p is S2 - p)
                ce = ae - ao
                de = be - bo
                put(out, b, i1, half - p, ob, ce - de)
                if p > 0:  # (S2/2 + 0 is S2/2 - 0)
                    put(out, b, i1, half + p, ob, ce + de)

        def idft(zi: ndv5, cos_t: nd2, sin_t: nd2, out: ndv4):
            # four points at a time (sixteen sums in flight), the modes by pairs (even, odd)
            for b, i1, ob in ti.ndrange(zi.shape[0], zi.shape[1], zi.shape[4]):
                rows = cos_t.shape[0]
                for pg in range(rows // 4):
                    p0 = pg * 4
                    ae0 = ti.Vector.zero(real, B)
                    ae1 = ti.Vector.zero(real, B)
                    ae2 = ti.Vector.zero(real, B)
                    ae3 = ti.Vector.zero(real, B)
                    ao0 = ti.Vector.zero(real, B)
                    ao1 = ti.Vector.zero(real, B)
                    ao2 = ti.Vector.zero(real, B)
                    ao3 = ti.Vector.zero(real, B)
                    be0 = ti.Vector.zero(real, B)
                    be1 = ti.Vector.zero(real, B)
                    be2 = ti.Vector.zero(real, B)
                    be3 = ti.Vector.zero(real, B)
                    bo0 = ti.Vector.zero(real, B)
                    bo1 = ti.Vector.zero(real, B)
                    bo2 = ti.Vector.zero(real, B)
                    bo3 = ti.Vector.zero(real, B)
                    for kp in range(m2 // 2):
                        k = kp * 2
                        re = zi[b, i1, k, 0, ob]
                        im = zi[b, i1, k, 1, ob]
                        ro = zi[b, i1, k + 1, 0, ob]
                        io = zi[b, i1, k + 1, 1, ob]
                        ae0 += re * cos_t[p0, k]
                        ae1 += re * cos_t[p0 + 1, k]
                        ae2 += re * cos_t[p0 + 2, k]
                        ae3 += re * cos_t[p0 + 3, k]
                        be0 += im * sin_t[p0, k]
                        be1 += im * sin_t[p0 + 1, k]
                        be2 += im * sin_t[p0 + 2, k]
                        be3 += im * sin_t[p0 + 3, k]
                        ao0 += ro * cos_t[p0, k + 1]
                        ao1 += ro * cos_t[p0 + 1, k + 1]
                        ao2 += ro * cos_t[p0 + 2, k + 1]
                        ao3 += ro * cos_t[p0 + 3, k + 1]
                        bo0 += io * sin_t[p0, k + 1]
                        bo1 += io * sin_t[p0 + 1, k + 1]
                        bo2 += io * sin_t[p0 + 2, k + 1]
                        bo3 += io * sin_t[p0 + 3, k + 1]
                    if ti.static(m2 % 2 == 1):  # the last mode, even
                        re = zi[b, i1, m2 - 1, 0, ob]
                        im = zi[b, i1, m2 - 1, 1, ob]
                        ae0 += re * cos_t[p0, m2 - 1]
                        ae1 += re * cos_t[p0 + 1, m2 - 1]
                        ae2 += re * cos_t[p0 + 2, m2 - 1]
                        ae3 += re * cos_t[p0 + 3, m2 - 1]
                        be0 += im * sin_t[p0, m2 - 1]
                        be1 += im * sin_t[p0 + 1, m2 - 1]
                        be2 += im * sin_t[p0 + 2, m2 - 1]
                        be3 += im * sin_t[p0 + 3, m2 - 1]
                    put_quarter(out, b, i1, p0, ob, ae0, ao0, be0, bo0)
                    put_quarter(out, b, i1, p0 + 1, ob, ae1, ao1, be1, bo1)
                    put_quarter(out, b, i1, p0 + 2, ob, ae2, ao2, be2, bo2)
                    put_quarter(out, b, i1, p0 + 3, ob, ae3, ao3, be3, bo3)
                for p in range(rows - rows % 4, rows):
                    ae = ti.Vector.zero(real, B)
                    ao = ti.Vector.zero(real, B)
                    be = ti.Vector.zero(real, B)
                    bo = ti.Vector.zero(real, B)
                    for k in range(m2):
                        if k % 2 == 0:
                            ae += zi[b, i1, k, 0, ob] * cos_t[p, k]
                            be += zi[b, i1, k, 1, ob] * sin_t[p, k]
                        else:
                            ao += zi[b, i1, k, 0, ob] * cos_t[p, k]
                            bo += zi[b, i1, k, 1, ob] * sin_t[p, k]
                    put_quarter(out, b, i1, p, ob, ae, ao, be, bo)

        idft.__name__ = idft.__qualname__ = name
        return td.kernel(idft, simd_vectors=True)

    # (each compiles at its first launch: a model compiles only the forms its grids use)
    idft_last = {q: (quarter_idft if q else pair_idft)("idft_last", accumulate=False)
                 for q in (False, True)}
    dft_last_transposed = {q: (quarter_idft if q else pair_idft)("dft_last_transposed",
                                                                  accumulate=True)
                           for q in (False, True)}

    # The Fourier layers' pointwise part on the blocks, its adjoint written as kernels
    # (tidal.surrogates.fno_dense says why; against the same layer with points in SIMD lanes,
    # its adjoint generated: forward 0.40 -> 0.31 ms, adjoint 1.3 -> 0.65 ms per layer at
    # 16 x 16, width 32, 20 fields, float32)
    pack_dense = fno_dense.DenseWeights(W, Wb, real, B)

    def dense(activated: bool):
        return fno_dense.DenseLayer(pack_dense, model.activation, act, real, activated)

    linear, linear_act = dense(False), dense(True)

    @td.kernel(simd_vectors=True)
    def from_point_blocks(vb: ndv4, v: nd3):
        # vb[b, i1, i2, c // B][c % B] -> v[b, i1 * S2 + i2, c] (the projection's layout)
        for b, i1, i2 in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[2]):
            for cb in range(vb.shape[3]):
                store_block(v, b, i1 * vb.shape[2] + i2, cb, vb[b, i1, i2, cb])

    @td.kernel(simd_vectors=True)
    def gather_blocks(vb: ndv4, slot: ndi1, out: ndv4):
        # out[b, 0, slot[x]] = vb[b, i1, i2] at the grid points x = i1 * S2 + i2 with a slot
        # (the loop over every point: its adjoint then adds into vb's gradient at whole indices)
        for b, i1, i2 in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[2]):
            s = slot[i1 * vb.shape[2] + i2]
            if s >= 0:
                for cb in range(vb.shape[3]):
                    out[b, 0, s, cb] = vb[b, i1, i2, cb]

    @td.func
    def load_block(arr: ti.template(), b: ti.i32, x: ti.i32, cb: ti.template()) -> vec:
        """The block cb of arr[b, x, :] (lanes past the width zero)."""
        blk = ti.Vector.zero(real, B)
        for j in ti.static(range(B)):
            if ti.static(cb * B + j < w):
                blk[j] = arr[b, x, cb * B + j]
        return blk

    nb = sizes.blocks
    ndi2 = ti.types.ndarray(dtype=ti.i32, ndim=2)
    ndv2 = ti.types.ndarray(dtype=vec, ndim=2)
    ndv3 = ti.types.ndarray(dtype=vec, ndim=3)

    @td.kernel(simd_vectors=True)
    def dense_at(vb: ndv4, rows: ndi2, sb: ndv4, wcol: ndv3, bias: ndv2, v: nd3, layer: ti.i32):
        # the last Fourier layer's dense part (no activation) at the chosen points j, reading
        # its input at their grid indices rows[j] and writing the projection's input v[b, j]
        # (one pass in place of gather_blocks, linear and from_point_blocks, each a launch)
        for b, j in ti.ndrange(sb.shape[0], sb.shape[2]):
            i1 = rows[j, 0]
            i2 = rows[j, 1]
            for ob in ti.static(range(nb)):
                acc = bias[layer, ob] + sb[b, 0, j, ob]
                for cb in ti.static(range(nb)):
                    u = vb[b, i1, i2, cb]
                    for jj in range(ti.min(B, w - cb * B)):
                        acc += wcol[layer, cb * B + jj, ob] * u[jj]
                store_block(v, b, j, ob, acc)

    @td.kernel(simd_vectors=True)
    def dense_at_adjoint(v_grad: nd3, rows: ndi2, sb_grad: ndv4, wrow: ndv3, vb_grad: ndv4,
                         layer: ti.i32):
        # dense_at's adjoint (the input's): the spectral part's gradient set, v's zeroed, and
        # the input gradient at the chosen points set (in a backward pass the first to reach
        # it: the last DFT's adjoint adds after; the other points' are zero)
        for b, j in ti.ndrange(sb_grad.shape[0], sb_grad.shape[2]):
            i1 = rows[j, 0]
            i2 = rows[j, 1]
            for ob in ti.static(range(nb)):
                sb_grad[b, 0, j, ob] = load_block(v_grad, b, j, ob)
                for jj in ti.static(range(B)):
                    if ti.static(ob * B + jj < w):
                        v_grad[b, j, ob * B + jj] = ti.cast(0.0, real)
            for cb in ti.static(range(nb)):
                acc = ti.Vector.zero(real, B)
                for ob in ti.static(range(nb)):
                    g = sb_grad[b, 0, j, ob]
                    for o in range(ti.min(B, w - ob * B)):
                        acc += g[o] * wrow[layer, ob * B + o, cb]
                vb_grad[b, i1, i2, cb] = acc

    @td.kernel(simd_vectors=True)
    def idft_at(zi: ndv5, cos_t: nd2, sin_t: nd2, row: ndi1, spec: ndv4):
        # the inverse last-axis DFT at chosen points j only (row[j] their first-axis index;
        # the tables by point, see _point_tables), into (fields, 1, points, blocks); even and
        # odd modes in separate sums (four in flight)
        for b, j, ob in ti.ndrange(zi.shape[0], spec.shape[2], zi.shape[4]):
            i1 = row[j]
            a0 = ti.Vector.zero(real, B)
            a1 = ti.Vector.zero(real, B)
            s0 = ti.Vector.zero(real, B)
            s1 = ti.Vector.zero(real, B)
            for kp in range(m2 // 2):
                k = kp * 2
                a0 += zi[b, i1, k, 0, ob] * cos_t[j, k]
                s0 += zi[b, i1, k, 1, ob] * sin_t[j, k]
                a1 += zi[b, i1, k + 1, 0, ob] * cos_t[j, k + 1]
                s1 += zi[b, i1, k + 1, 1, ob] * sin_t[j, k + 1]
            if ti.static(m2 % 2 == 1):
                a0 += zi[b, i1, m2 - 1, 0, ob] * cos_t[j, m2 - 1]
                s0 += zi[b, i1, m2 - 1, 1, ob] * sin_t[j, m2 - 1]
            spec[b, 0, j, ob] = (a0 + a1) + (s0 + s1)

    @td.kernel(simd_vectors=True)
    def idft_at_transposed(spec_bar: ndv4, cos_t: nd2, sin_t: nd2, row: ndi1, zi_bar: ndv5):
        # idft_at's adjoint, its transposed map: zi_bar[b, i1, k] = the sum over the points j
        # of row i1 of spec_bar[b, 0, j] times the tables' (j, k); every mode set, the padded
        # ones (k >= m2, which the mixing's adjoint may read) to zero
        for b, i1, ob in ti.ndrange(zi_bar.shape[0], zi_bar.shape[1], zi_bar.shape[4]):
            for k in range(zi_bar.shape[2]):
                re = ti.Vector.zero(real, B)
                im = ti.Vector.zero(real, B)
                if k < m2:
                    for j in range(spec_bar.shape[2]):
                        if row[j] == i1:
                            g = spec_bar[b, 0, j, ob]
                            re += g * cos_t[j, k]
                            im += g * sin_t[j, k]
                zi_bar[b, i1, k, 0, ob] = re
                zi_bar[b, i1, k, 1, ob] = im

    @td.kernel(vectorise=True, simd_lanes=lanes)
    def project(v: nd3, out: nd3):
        # Q2 act(Q1 v + q1) + q2 per point; the hidden values are never stored
        for b, x in ti.ndrange(v.shape[0], v.shape[1]):
            u = ti.Vector.zero(real, w)
            for c in range(w):
                u[c] = v[b, x, c]
            hv = ti.Vector.zero(real, hidden)
            for jg in range(hidden // 4):  # four hidden values at a time, as in the dense layers
                j4 = jg * 4
                h0 = ti.cast(0.0, real)
                h1 = ti.cast(0.0, real)
                h2 = ti.cast(0.0, real)
                h3 = ti.cast(0.0, real)
                for c in range(w):
                    uc = u[c]
                    h0 += Q1[j4, c] * uc
                    h1 += Q1[j4 + 1, c] * uc
                    h2 += Q1[j4 + 2, c] * uc
                    h3 += Q1[j4 + 3, c] * uc
                hv[j4] = h0
                hv[j4 + 1] = h1
                hv[j4 + 2] = h2
                hv[j4 + 3] = h3
            for j in range(hidden - hidden % 4, hidden):
                h0 = ti.cast(0.0, real)
                for c in range(w):
                    h0 += Q1[j, c] * u[c]
                hv[j] = h0
            s = ti.Vector.zero(real, cout)
            for j in range(hidden):  # a loop of its own, in SIMD vectors
                g = act(hv[j] + q1b[j])
                for o in range(cout):  # a loop, not unrolled: 64 channels compiled 35 -> 7 s
                    s[o] += Q2[j, o] * g
            for o in range(cout):
                out[b, x, o] = s[o] + q2b[o]

    @td.kernel
    def squared_errors(out: nd3, targets: nd3, errors: nd1):
        for b in range(out.shape[0]):
            s = ti.cast(0.0, real)
            for x in range(out.shape[1]):
                for o in range(cout):
                    e = out[b, x, o] - targets[b, x, o]
                    s += e * e
            errors[b] = s

    return {"lift": lift, "dft_last": dft_last, "dft_last_modes": dft_last_modes,
            "dft_first": dft_first, "dft_first_blocks": dft_first_blocks, "mix": mix,
            "idft_first": idft_first, "idft_last": idft_last,
            "dft_last_transposed": dft_last_transposed,
            "pack_mix": pack_mix,
            "pack_dense": pack_dense, "linear": linear, "linear_act": linear_act,
            "from_point_blocks": from_point_blocks, "gather_blocks": gather_blocks,
            "idft_at": idft_at, "idft_at_transposed": idft_at_transposed, "project": project,
            "dense_at": dense_at, "dense_at_adjoint": dense_at_adjoint,
            "squared_errors": squared_errors,
            "first": fno_first.kernels(model, act, real, B) if model.dim == 1 else None}


__all__ = ["FNO", "FNO_ACTIVATIONS", "Batch", "gelu"]
