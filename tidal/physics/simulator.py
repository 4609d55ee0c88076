"""What every simulator of :mod:`tidal.physics` shares: its named parameters, running its two
kernels, binding observations, and the loss with its derivatives for :func:`tidal.fit`.

A subclass makes ``advance(t)`` (one step) and ``rollout()`` (every step in one launch) from
its one step, a ``mismatch()`` kernel adding the weighted squared residuals of ``states`` and
``data`` to ``loss``, and keeps its observations in ``data`` and ``weights`` (each of
``observation_shape``). Its named parameters are data: ``_values`` holds each one's current
value (NumPy) and ``_param_fields()`` says where a run finds it, a whole field or the first
time slice of a per-step state field (one parameter per field). From that the base class
guarantees the same behaviour for every model:

* ``get``/``set`` with shape and finiteness checks (a scalar fills an array parameter), a clear
  error naming the model's parameters for an unknown name;
* :meth:`simulate`: the same trajectory from either kernel;
* :meth:`observe`: NaN in the data marks values that were not observed (weight 0);
* :meth:`loss_grad` and :meth:`loss_grad_hvp`: the loss, its gradient (one forward and one
  adjoint run under ``td.Tape``) and Hessian-vector products (``td.hvp``) with respect to any
  of the names, read from the parameters' fields.

Models whose parameters do not live one per field (:class:`~tidal.physics.ode.ODE` packs them
in one vector) override those methods.

**Checkpointing.** A model built with ``checkpoint_every=k`` stores only ``k + 1`` states in its
fields (a window) however many steps it runs: a run goes window by window, keeping the state at
every ``k``-th step (a checkpoint, in NumPy) and nothing else. The gradient then goes back window
by window: each window is recomputed from its checkpoint under ``td.Tape`` with the adjoint of
the state it hands on (``lam``) added to its loss as ``sum(lam * last state)``, so the adjoint
of its first state is the ``lam`` of the window before. Hessian-vector products do the same over
tangents: a forward sweep carries the state's tangent from window to window, the backward sweep
carries ``lam`` and its tangent. Memory: the window and the checkpoints,
``(k + 1) + steps / k`` states instead of ``steps + 1``; time: one extra forward run. Values
and derivatives equal the unwindowed run's to rounding. A model supports it by sizing its
time-indexed fields by :attr:`window` (steps held) rather than ``steps``, and naming its carried
state in :meth:`_carried` (by default, the fields whose first slice is a parameter).
"""

import warnings

import numpy as np
import taichi as ti

import tidal as td
from tidal.autodiff import memory
from tidal.dsl import field_io, runtime
from tidal.dsl.errors import TidalArgumentError, TidalWarning

#: storing every state costs more than this many bytes: a model warns and suggests a window
# a step is called unstable where, linearised at the initial state, it amplifies some mode over
# the whole rollout by this factor more than the exact flow does (the models' stability checks)
SPURIOUS_GROWTH = 10.0

MEMORY_WARNING = 2 ** 31


def square_root_divisor(steps: int) -> int:
    """The divisor of ``steps`` nearest its square root (the window that minimises window plus
    checkpoints)."""
    divisors = [d for d in range(1, int(np.sqrt(steps)) + 1) if steps % d == 0]
    divisors += [steps // d for d in divisors]
    return min(divisors, key=lambda d: (abs(d - np.sqrt(steps)), d))


class Simulator:
    """Base of the simulators: parameters, runs, observations and derivatives from the
    subclass's kernels and fields."""

    steps: int
    #: steps between checkpoints (None: every state is stored)
    checkpoint_every: int | None = None
    #: steps the time-indexed fields hold (``steps``, or ``checkpoint_every``)
    window: int
    #: words naming the axes of ``observation_shape`` in error messages
    layout = ""
    _values: dict

    # -- what a subclass provides --------------------------------------------------------------
    def _param_fields(self) -> dict:
        """``{name: (field, first)}``: the field a run reads the parameter from; ``first``:
        the parameter is the field's first time slice (an initial state)."""
        raise NotImplementedError

    def _check(self, name: str, value: np.ndarray) -> None:
        """Model-specific checks of a new value (positivity, ...); none by default."""

    def _load_more(self) -> None:
        """Fields besides the parameters to prepare before a run (none by default)."""

    def _before_run(self) -> None:
        """Checks made before a run (step-size warnings); none by default."""

    def _extra_loss(self) -> None:
        """Kernels adding terms besides the mismatch to ``loss`` (none by default)."""

    @property
    def observation_shape(self) -> tuple:
        raise NotImplementedError

    def _as_observations(self, data: np.ndarray) -> np.ndarray:
        """``data`` in ``observation_shape`` where a shorter form is accepted (unchanged by
        default)."""
        return data

    def _carried(self) -> list:
        """The state fields (time first) whose last slice starts the next window: by default
        the fields whose first slice is a parameter."""
        out = []
        for field, first in self._param_fields().values():
            if first and all(field is not f for f in out):
                out.append(field)
        return out

    def _load_window(self, s: int) -> None:
        """Fields besides the state to prepare for window ``s`` (none by default; a model with
        inputs over time loads their slice here)."""

    def _plan(self, steps: int, checkpoint_every, per_step: int = 0) -> int:
        """Check ``steps`` and ``checkpoint_every`` (``"auto"``: the divisor of ``steps``
        nearest its square root); set them and :attr:`window` (what the time-indexed fields
        must hold) and return the window. ``per_step``: how many values the model stores per
        step (states, their gradients, observations); where storing every step would take more
        than :data:`MEMORY_WARNING` bytes, warn and say which window to use."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise TidalArgumentError(f"steps must be a positive int, got {steps!r}")
        steps = int(steps)
        k = checkpoint_every
        if isinstance(k, str) and k == "auto":
            k = square_root_divisor(steps)
        if k is None and per_step:
            size = 8 if runtime.config().default_fp.taichi == ti.f64 else 4
            total = (steps + 1) * per_step * size
            if total > MEMORY_WARNING:
                suggest = square_root_divisor(steps)
                warnings.warn(
                    f"storing all {steps + 1} steps of this model takes about "
                    f"{total / 2 ** 30:.1f} GiB; pass checkpoint_every={suggest} (or "
                    f"checkpoint_every='auto') to hold {suggest + 1} steps and a checkpoint "
                    f"every {suggest} instead (one more forward run per gradient)",
                    TidalWarning, stacklevel=3)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= steps:
                raise TidalArgumentError(f"checkpoint_every must be an int in 1..steps "
                                         f"({steps}) or 'auto', got {k!r}")
            k = int(k)
            if steps % k:
                near = [d for d in range(1, steps + 1) if steps % d == 0]
                best = sorted(near, key=lambda d: abs(d - k))[:3]
                raise TidalArgumentError(
                    f"checkpoint_every={k} does not divide steps={steps}",
                    hint=f"use a divisor of {steps}, such as {', '.join(map(str, sorted(best)))}")
            if k == steps:
                k = None
        self.steps, self.checkpoint_every = steps, k
        self.window = steps if k is None else k
        return self.window

    @property
    def windows(self) -> int:
        """How many windows a run goes through (1 without checkpointing)."""
        return self.steps // self.window

    # -- parameters ----------------------------------------------------------------------------
    @property
    def names(self) -> tuple:
        """Names of everything that can be fitted."""
        return tuple(self._values)

    def get(self, name: str) -> np.ndarray:
        """A copy of the parameter's current value."""
        self._known(name)
        return self._values[name].copy()

    def set(self, name: str, value) -> None:
        """Set a parameter (a scalar fills an array parameter)."""
        self._known(name)
        shape = self._values[name].shape
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0 and shape != ():
            value = np.full(shape, float(value))
        if shape == () and value.shape != ():
            if value.shape != (1,):
                raise TidalArgumentError(f"{name} is a scalar, got shape {value.shape}")
            value = value.reshape(())
        if value.shape != shape:
            raise TidalArgumentError(f"{name} must have shape {shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise TidalArgumentError(f"{name} must be finite")
        self._check(name, value)
        self._values[name] = value.copy()

    def _known(self, name: str) -> None:
        if name not in self._values:
            raise TidalArgumentError(f"unknown parameter {name!r}",
                                     hint=f"this model has {', '.join(self._values)}")

    # -- running -------------------------------------------------------------------------------
    def _load(self, states: bool = True) -> None:
        """Write every parameter into its field (initial states into the first time slice,
        unless ``states`` is False), then the model's other fields."""
        for name, (field, first) in self._param_fields().items():
            value = self._values[name]
            if first:
                if states:
                    self._load_first(field, value)
            else:
                field_io.from_numpy(field, value)
        self._load_more()

    @staticmethod
    def _load_first(field, value) -> None:
        """``value`` into the first time slice of state ``field`` (every run writes the later
        slices before reading them)."""
        field_io.write_slice(field, 0, np.asarray(value).reshape(
            tuple(field.shape[1:]) + field_io.element_shape(field)))

    def reset(self) -> None:
        """Load the current parameters and initial state into the fields (what every run does
        first; call it before launching ``advance`` or ``rollout`` yourself)."""
        self._before_run()
        self._load()

    def simulate(self, whole: bool = True) -> np.ndarray:
        """Every state of the run: one ``rollout`` launch, or ``whole=False``: one ``advance``
        launch per step (the same values)."""
        if self.checkpoint_every is None:
            self.reset()
            self._step_all(whole)
            return self._window_states().astype(np.float64)
        self._before_run()
        parts = []
        self._sweep(whole, lambda s: parts.append(self._window_states()[0 if s == 0 else 1:]))
        return np.concatenate(parts).astype(np.float64)

    def advance_live(self, whole: bool = False, windows: int = 1) -> list:
        """Run ``windows`` x :attr:`window` more steps from where the previous call stopped (the
        first call, and the first after :meth:`restart_live`, start from the parameters): a
        simulation that goes on for as long as it is watched, in the memory of one window.
        Between windows the last state moves to the first slice on the device; parameters and
        inputs set between calls take effect at the next one. ``whole=False`` (the default
        here) runs one ``advance`` launch per step, each parallel over the model's particles or
        cells.

        Returns:
            The last state of every carried field (:meth:`_carried`, e.g. MPM's ``x, v, C, F``)
            as NumPy arrays; all the steps of the last window are in the state fields (slices
            ``0 .. window``).

        Example:
            >>> import numpy as np, tidal as td
            >>> from tidal.physics import MPM2D
            >>> from tidal.physics.mpm import block
            >>> _ = td.init(arch="cpu", default_fp=td.f64)
            >>> sim = MPM2D(block((0.4, 0.4), (0.1, 0.1), 0.025), steps=5, E=100.0, grid=16)
            >>> x, v, C, F = sim.advance_live(windows=2)  # steps 0-10
            >>> x.shape
            (16, 2)
        """
        for _ in range(windows):
            live = self.live
            self._load(states=not live)
            if live:
                for field in self._carried():
                    field_io.copy_slice(field, self.window, 0)
            self._step_all(whole)
            self._live = True
        return self._last_states()

    def restart_live(self) -> None:
        """The next :meth:`advance_live` starts again from the parameters."""
        self._live = False

    @property
    def live(self) -> bool:
        """Whether a live run is going on: the next :meth:`advance_live` continues from the last
        slice of the state fields (not from the parameters)."""
        return getattr(self, "_live", False)

    def _window_states(self) -> np.ndarray:
        """The states the fields hold now, as :meth:`simulate` returns them (by default the
        ``states`` field)."""
        return self.states.to_numpy()

    def _step_all(self, whole: bool) -> None:
        if whole:
            self.rollout()
        else:
            for t in range(self.window):
                self.advance(t)

    def run(self, whole: bool = True):
        """The rollout (or one ``advance`` per step) and the loss, after :meth:`reset`;
        returns the loss field. With checkpointing: every window in turn (its own
        :meth:`reset` first), the loss field holding the total."""
        if self.checkpoint_every is not None:
            self._before_run()
            total, _ = self._sweep(whole)
            self.loss[None] = total
            return self.loss
        return self._run_window(0, whole, carry=False)

    def _run_window(self, s: int, whole: bool, carry: bool):
        """The loss of window ``s``: its steps, its mismatch, the extra terms once (window 0)
        and, with ``carry``, ``sum(lam * last state)``."""
        self.loss[None] = 0.0  # (seen by a tape around the run, as a launched fill would be)
        self._step_all(whole)
        self.mismatch()
        if s == 0:
            self._extra_loss()
        if carry:
            for kernel in self._carry_kernels():
                kernel()
        return self.loss

    # -- observations --------------------------------------------------------------------------
    def observe(self, data, weights=None) -> int:
        """Bind observations of ``observation_shape``, NaN where nothing was observed;
        ``weights`` broadcast to that shape (default 1). Returns the number of observed
        values."""
        shape = self.observation_shape
        data = self._as_observations(np.asarray(data, dtype=np.float64))
        if data.shape != shape:
            raise TidalArgumentError(f"observations must have shape {shape} ({self.layout}), "
                                     f"got {np.shape(data)}",
                                     hint="mark values that were not observed with NaN")
        if np.any(np.isinf(data)):
            raise TidalArgumentError("observations contain inf",
                                     hint="mark values that were not observed with NaN")
        try:
            w = np.broadcast_to(np.asarray(1.0 if weights is None else weights,
                                           dtype=np.float64), shape)
        except ValueError:
            raise TidalArgumentError(f"weights of shape {np.shape(weights)} do not broadcast "
                                     f"to the observations' shape {shape} ({self.layout})",
                                     hint="give one weight, or weights of the observations' "
                                          "shape (or one that broadcasts to it)") from None
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise TidalArgumentError("weights must be finite and non-negative")
        observed = np.isfinite(data)
        if not np.any(observed & (w != 0)):
            raise TidalArgumentError("nothing is observed: every value is NaN or has weight 0")
        if self.checkpoint_every is not None:  # kept as given; loaded a window at a time
            self._observed = (data, w)
            return int(np.count_nonzero(observed & (w != 0)))
        w = np.where(observed, w, 0.0)
        self.data.from_numpy(np.where(observed, data, 0.0))
        self.weights.from_numpy(w)
        return int(np.count_nonzero(w))

    # -- the loss and its derivatives ----------------------------------------------------------
    def _tangent_layout(self):
        """The parameters' names, fields and zero tangents, in declaration order."""
        slots = self._param_fields()
        names = list(slots)
        fields = [slots[n][0] for n in names]
        zeros = [np.zeros(((f.shape[0],) if slots[n][1] else ()) + self._values[n].shape)
                 for n, f in zip(names, fields)]
        return slots, names, fields, zeros

    def _parts(self, names, slots, order, arrays) -> list:
        """Each of ``names``' part of per-field arrays (the first slice of a state field)."""
        out = []
        for n in names:
            a = np.asarray(arrays[order.index(n)], dtype=np.float64)
            out.append((a[0] if slots[n][1] else a).reshape(self._values[n].shape).copy())
        return out

    def loss_grad(self, names, whole: bool = True) -> tuple[float, list]:
        """The weighted sum of squared residuals (plus any regularising terms) and its gradient
        for each of ``names``."""
        for n in names:
            self._known(n)
        if self.checkpoint_every is not None:
            value, grads, _ = self._windowed_derivatives(names, None, whole)
            return value, grads
        self.reset()
        slots = self._param_fields()
        wanted = [slots[n][0] for n in names]
        with td.Tape(self.loss, clear_gradients="recorded", wrt=wanted):
            self.run(whole)
        grads = []
        for n in names:
            field, first = slots[n]
            g = field_io.read_slice(field.grad, 0) if first else field_io.to_numpy(field.grad)
            grads.append(np.asarray(g, dtype=np.float64).reshape(self._values[n].shape))
        return float(self.loss[None]), grads

    def loss_grad_hvp(self, names, vectors, whole: bool = True) -> tuple[float, list, list]:
        """Loss, gradients, and the Hessian applied to ``vectors`` (one per name)."""
        for n in names:
            self._known(n)
        if len(vectors) != len(names):
            raise TidalArgumentError(f"{len(vectors)} vectors for {len(names)} names")
        if self.checkpoint_every is not None:
            return self._windowed_derivatives(names, vectors, whole)
        self.reset()
        slots, order, fields, tangents = self._tangent_layout()
        for n, vec in zip(names, vectors):
            vec = np.asarray(vec, dtype=np.float64).reshape(self._values[n].shape)
            i = order.index(n)
            if slots[n][1]:
                tangents[i][0] = vec
            else:
                tangents[i] = vec
        value, grads, hvps = td.hvp(lambda: self.run(whole), fields, tangents)
        return (float(value), self._parts(names, slots, order, grads),
                self._parts(names, slots, order, hvps))

    # -- checkpointed runs (window by window) --------------------------------------------------
    def _start_window(self, s: int, checkpoint) -> None:
        """Load the fields for window ``s``: parameters and other fields as for a whole run,
        then (``s > 0``) the checkpoint into the carried fields' first slice, and the window's
        observations (the first slice's weight zero after window 0: counted once)."""
        self._load()
        self._load_window(s)
        if s:
            for field, value in zip(self._carried(), checkpoint):
                self._load_first(field, value)
        observed = getattr(self, "_observed", None)
        lo, hi = s * self.window, (s + 1) * self.window + 1
        if observed is None:
            self.weights.fill(0.0)
            return
        data, weights = observed
        d = data[lo:hi]
        w = np.where(np.isfinite(d), weights[lo:hi], 0.0)
        if s:
            w[0] = 0.0
        self.data.from_numpy(np.where(np.isfinite(d), d, 0.0))
        self.weights.from_numpy(w)

    def _last_states(self) -> list:
        return [field_io.read_slice(f, f.shape[0] - 1) for f in self._carried()]

    def _sweep(self, whole: bool, each=None):
        """Every window forward; returns the total loss and the checkpoints (the carried state
        at the start of every window, and after the last)."""
        checkpoints, total = [None], 0.0
        for s in range(self.windows):
            self._start_window(s, checkpoints[s])
            total += float(self._run_window(s, whole, carry=False)[None])
            if each is not None:
                each(s)
            checkpoints.append(self._last_states())
        return total, checkpoints

    def _carry_fields(self) -> list:
        """One ``lam`` field per carried field, shaped like one of its slices."""
        if getattr(self, "_lams", None) is None:
            lams = []
            for f in self._carried():
                kw = dict(dtype=f.dtype, shape=f.shape[1:], needs_grad=True)
                if hasattr(f, "m") and f.ndim == 2:
                    lams.append(ti.Matrix.field(f.n, f.m, **kw))
                elif hasattr(f, "n"):
                    lams.append(ti.Vector.field(f.n, **kw))
                else:
                    lams.append(ti.field(**kw))
            self._lams = lams
        return self._lams

    def _carry_kernels(self) -> list:
        if getattr(self, "_carries", None) is None:
            self._carries = [_carry_kernel(f, lam, self.loss, self.window)
                             for f, lam in zip(self._carried(), self._carry_fields())]
        return self._carries

    def _windowed_derivatives(self, names, vectors, whole: bool):
        """Loss, gradients and (with ``vectors``) Hessian-vector products window by window:
        checkpoints forward (with the state's tangent when there are vectors), then back from
        the last window, each recomputed from its checkpoint with the carried adjoint."""
        self._before_run()
        slots = self._param_fields()
        carried, lams = self._carried(), self._carry_fields()
        fixed = [n for n in slots if not slots[n][1]]
        fixed_fields = [slots[n][0] for n in fixed]
        direction = dict(zip(names, vectors)) if vectors is not None else {}
        v_fixed = [np.asarray(direction.get(n, np.zeros(self._values[n].shape)), np.float64)
                   .reshape(self._values[n].shape) for n in fixed]
        first_of = {id(slots[n][0]): n for n in slots if slots[n][1]}

        def window_tangent(field, first_slice):
            t = np.zeros(field.shape + first_slice.shape[len(field.shape) - 1:])
            t[0] = first_slice
            return t

        # forward: checkpoints (and the state's tangent at each)
        checkpoints, tangents, value = [None], [], 0.0
        if vectors is not None:
            tangents.append([np.asarray(direction[first_of[id(f)]], np.float64).reshape(
                self._values[first_of[id(f)]].shape) if first_of.get(id(f)) in direction
                else np.zeros(f.shape[1:] + field_io.element_shape(f)) for f in carried])
        for s in range(self.windows):
            self._start_window(s, checkpoints[s])
            if vectors is None:
                value += float(self._run_window(s, whole, carry=False)[None])
            else:
                v, _ = td.jvp_run(lambda s=s: self._run_window(s, whole, carry=False),
                                  fixed_fields + carried, v_fixed + [
                                      window_tangent(f, t) for f, t in zip(carried, tangents[s])])
                value += v
                tangents.append([memory.storage(f, "tangent").to_numpy()[-1].copy()
                                 for f in carried])
            checkpoints.append(self._last_states())
        # backward, window by window
        grads = {n: np.zeros(self._values[n].shape) for n in fixed}
        hvps = {n: np.zeros(self._values[n].shape) for n in fixed}
        lam = [np.zeros(f.shape[1:] + field_io.element_shape(f)) for f in carried]
        lam_dot = [np.zeros_like(a) for a in lam]
        for s in reversed(range(self.windows)):
            self._start_window(s, checkpoints[s])
            for field, a in zip(lams, lam):
                field.from_numpy(a)
            if vectors is None:
                with td.Tape(self.loss):
                    self._run_window(s, whole, carry=True)
                g = [f.grad.to_numpy() for f in fixed_fields + carried]
                h = None
            else:
                _, g, h = td.hvp(lambda s=s: self._run_window(s, whole, carry=True),
                                 fixed_fields + carried + lams,
                                 v_fixed + [window_tangent(f, t) for f, t in
                                            zip(carried, tangents[s])] + lam_dot)
            for i, n in enumerate(fixed):
                grads[n] += np.asarray(g[i], np.float64).reshape(grads[n].shape)
                if h is not None:
                    hvps[n] += np.asarray(h[i], np.float64).reshape(hvps[n].shape)
            lam = [np.asarray(a, np.float64)[0].copy() for a in g[len(fixed):len(fixed) + len(lam)]]
            if h is not None:
                lam_dot = [np.asarray(a, np.float64)[0].copy()
                           for a in h[len(fixed):len(fixed) + len(lam)]]
        for f, a, ad in zip(carried, lam, lam_dot):
            n = first_of.get(id(f))
            if n is not None:
                grads[n], hvps[n] = a.reshape(self._values[n].shape), \
                    ad.reshape(self._values[n].shape)
        grads_out = [grads[n].copy() for n in names]
        if vectors is None:
            return value, grads_out, None
        return value, grads_out, [hvps[n].copy() for n in names]




def _carry_kernel(field, lam, loss, last: int):
    """A kernel adding ``sum(lam * field[last])`` to ``loss``."""
    shape, tensor = lam.shape, bool(field_io.element_shape(field))
    if len(shape) == 1:
        if tensor:
            @td.kernel
            def carry():
                for i in range(shape[0]):
                    loss[None] += (lam[i] * field[last, i]).sum()
        else:
            @td.kernel
            def carry():
                for i in range(shape[0]):
                    loss[None] += lam[i] * field[last, i]
    elif len(shape) == 2:
        if tensor:
            @td.kernel
            def carry():
                for i, j in ti.ndrange(shape[0], shape[1]):
                    loss[None] += (lam[i, j] * field[last, i, j]).sum()
        else:
            @td.kernel
            def carry():
                for i, j in ti.ndrange(shape[0], shape[1]):
                    loss[None] += lam[i, j] * field[last, i, j]
    else:
        raise TidalArgumentError(f"checkpointing carries states of 1 or 2 axes, got {shape}")
    return carry
