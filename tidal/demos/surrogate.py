"""Surrogate vs solver: a Fourier neural operator answers Burgers' equation next to the solver
it was trained on, with the time each took.

The physics: ``u_t + (u^2 / 2)_x = nu u_xx`` on the periodic interval ``[0, 1)``, from
``u(x, 0) = A (sin 2 pi x + s cos 4 pi x)`` to ``u(x, T)``; the sliders set the amplitude ``A``
and the shape ``s``. The solver is the library's pseudo-spectral ETDRK4 solver
(:func:`tidal.surrogates.burgers.solve_burgers`, the generator of the FNO Burgers data); the
surrogate a :class:`tidal.surrogates.FNO` (with its normalisers) trained on pairs that solver
made for random ``A`` and ``s``. The first use makes the data and trains the network frame by
frame on screen (a few minutes for the default model) and caches it under
``~/.cache/tidal/demos`` with the settings it was trained with; it is retrained when they
differ. ``quick=True`` is a tiny model (seconds; for tests).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from tidal.demos import _plot
from tidal.demos.app import Demo, Inputs
from tidal.demos.canvas import ACCENT, GOLD, TEAL, TEXT, Canvas, hex_color
from tidal.demos.widgets import Button, Slider

CACHE = Path.home() / ".cache" / "tidal" / "demos"
INITIAL = hex_color(0x7FA7C0)
AMPLITUDE = (0.2, 2.0)
SHAPE = (-1.0, 1.0)

#: the default model (trained once, then cached) and the tiny one of ``quick=True``
DEFAULT = {"n": 64, "nu": 0.03, "t_end": 0.5, "samples": 256, "modes": 12, "width": 24,
           "layers": 3, "steps": 1500, "batch": 16, "lr": 3e-3, "seed": 0}
QUICK = {"n": 32, "nu": 0.03, "t_end": 0.5, "samples": 48, "modes": 6, "width": 12,
         "layers": 3, "steps": 200, "batch": 16, "lr": 3e-3, "seed": 0}


def initial_condition(x: np.ndarray, amplitude: float, shape: float) -> np.ndarray:
    """``u(x, 0) = amplitude (sin 2 pi x + shape cos 4 pi x)``.

    Example:
        >>> initial_condition(np.array([0.25]), 2.0, 0.5).round(6).tolist()
        [1.0]
    """
    return amplitude * (np.sin(2.0 * np.pi * x) + shape * np.cos(4.0 * np.pi * x))


class SurrogateDemo(Demo):
    """Surrogate vs solver (``python -m tidal.demos surrogate``).

    Args:
        quick: the tiny model (``QUICK``) instead of the default one (``DEFAULT``).
        cache: where the trained model is kept (a directory), or None to keep nothing;
            default: ``~/.cache/tidal/demos`` for the default model, None with ``quick``.
        amplitude, shape: the starting slider values.
        per_frame: seconds of data making or training per frame while preparing.
        **settings: overrides of the model's settings (keys of ``DEFAULT``).

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f32)
        >>> demo = SurrogateDemo(quick=True, samples=8, steps=5)
        >>> demo.prepare()
        >>> demo.surrogate_answer.shape
        (32,)
    """

    order = 52
    name = "surrogate"
    title = "tidal: surrogate (FNO) vs solver, Burgers' equation"
    summary = "a trained FNO answers Burgers' equation next to the solver, with timings"
    help = "sliders (or arrows) set the initial condition; the FNO trains on first use"
    view = 600

    def __init__(self, quick: bool = False, cache: str | Path | None | bool = True,
                 amplitude: float = 1.2, shape: float = 0.3, per_frame: float = 0.25,
                 **settings):
        import tidal as td
        from tidal.dsl import runtime

        unknown = set(settings) - set(DEFAULT)
        if unknown:
            raise td.TidalArgumentError(f"unknown surrogate settings {sorted(unknown)}",
                                        hint=f"the settings are {', '.join(DEFAULT)}")
        self.settings = dict(QUICK if quick else DEFAULT, **settings)
        self.settings["dtype"] = "f64" if runtime.config().default_fp == td.f64 else "f32"
        if cache is True:
            cache = None if quick else CACHE
        self.cache = Path(cache) if cache else None
        self.amplitude, self.shape, self.per_frame = float(amplitude), float(shape), per_frame
        n = self.settings["n"]
        self.x = np.arange(n) / n
        self.times = np.linspace(0.0, self.settings["t_end"], 21)
        self.net = self._network()
        self.phase = "data"
        self.inputs_, self.outputs_ = [], []
        self.rng = np.random.default_rng(self.settings["seed"])
        self.losses: list[float] = []
        self.trainer = None
        self.dirty = True
        self.solver_answer = self.surrogate_answer = None
        self.solver_s = self.surrogate_s = math.nan
        self.message = ""
        if self.cache is not None and self._load():
            self.phase = "ready"

    # -- the model, its data, its training and its cache -----------------------------------
    def _network(self):
        from tidal.surrogates import FNO

        s = self.settings
        return FNO(1, s["modes"], width=s["width"], layers=s["layers"], seed=s["seed"])

    def _paths(self) -> tuple[Path, Path]:
        tag = hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:10]
        stem = self.cache / f"surrogate_burgers_fno_{tag}"
        return stem.with_suffix(".npz"), stem.with_suffix(".json")

    def _load(self) -> bool:
        model, meta = self._paths()
        if not (model.exists() and meta.exists()):
            return False
        try:
            saved = json.loads(meta.read_text())
        except (OSError, ValueError):
            return False
        if saved.get("settings") != self.settings:  # trained with other settings: retrain
            return False
        self.net.load(model)
        self.losses = list(saved.get("losses", []))
        self.message = f"loaded the trained FNO from {model}"
        return True

    def _save(self) -> None:
        model, meta = self._paths()
        model.parent.mkdir(parents=True, exist_ok=True)
        self.net.save(model)
        meta.write_text(json.dumps({"settings": self.settings, "losses": self.losses}))
        self.message = f"trained FNO cached in {model}"

    def solve(self, amplitude: float, shape: float, times=None) -> np.ndarray:
        """The solver's ``u`` at ``times`` (default: ``t_end`` only; ``(len(times), n)``)."""
        from tidal.surrogates.burgers import solve_burgers

        times = [self.settings["t_end"]] if times is None else times
        return solve_burgers(initial_condition(self.x, amplitude, shape), times,
                             nu=self.settings["nu"])

    def _make_data(self, budget: float) -> None:
        started = time.perf_counter()
        while len(self.inputs_) < self.settings["samples"]:
            a = self.rng.uniform(*AMPLITUDE)
            s = self.rng.uniform(*SHAPE)
            self.inputs_.append(initial_condition(self.x, a, s))
            self.outputs_.append(self.solve(a, s)[0])
            if time.perf_counter() - started > budget:
                return
        self._start_training()

    def _start_training(self) -> None:
        from tidal.solvers import Trainer
        from tidal.surrogates import Supervised

        a, u = np.array(self.inputs_), np.array(self.outputs_)
        self.net.set_normalisers(input_std=float(a.std()), output_scale=float(u.std()))
        s = self.settings
        data = Supervised(self.net, a, outputs=u, loss="relative_l2", batch_size=s["batch"],
                          seed=s["seed"])
        # keep_best=False with keep_moments: the frames' short calls are one Adam run
        self.trainer = Trainer(data, self.net.get_flat(), progress=False, keep_best=False,
                               log_every=1)
        self.phase = "train"

    def _train(self, budget: float) -> None:
        started = time.perf_counter()
        s = self.settings
        while self.trainer.step < s["steps"]:
            chunk = min(5, s["steps"] - self.trainer.step)
            self.trainer.adam(chunk, lr=s["lr"], keep_moments=True)
            self.losses.extend(self.trainer.history.loss[-chunk:])
            if time.perf_counter() - started > budget:
                return
        self.net.set_flat(self.trainer.params)
        self.trainer = None
        if self.cache is not None:
            self._save()
        self.phase = "ready"
        self.dirty = True

    def prepare(self) -> None:
        """Make the data and train now (what the frames otherwise do a little at a time)."""
        while self.phase != "ready":
            self._step(math.inf)
        self._answer()

    def _step(self, budget: float) -> None:
        if self.phase == "data":
            self._make_data(budget)
        elif self.phase == "train":
            self._train(budget)

    # -- controls ------------------------------------------------------------------------------
    def controls(self) -> list:
        return [
            Slider("amplitude A", *AMPLITUDE, self.amplitude, self._set_amplitude),
            Slider("shape s", *SHAPE, self.shape, self._set_shape),
            Button("random initial condition", self.randomise),
        ]

    def _set_amplitude(self, value: float) -> None:
        self.amplitude, self.dirty = float(value), True

    def _set_shape(self, value: float) -> None:
        self.shape, self.dirty = float(value), True

    def randomise(self) -> None:
        self.amplitude = float(np.random.default_rng().uniform(*AMPLITUDE))
        self.shape = float(np.random.default_rng().uniform(*SHAPE))
        self.dirty = True

    def key(self, key: str) -> None:
        steps = {"up": (0.1, 0.0), "down": (-0.1, 0.0), "right": (0.0, 0.1),
                 "left": (0.0, -0.1)}
        if key in steps:
            da, ds = steps[key]
            self.amplitude = float(np.clip(self.amplitude + da, *AMPLITUDE))
            self.shape = float(np.clip(self.shape + ds, *SHAPE))
            self.dirty = True

    # -- the loop ------------------------------------------------------------------------------
    def _answer(self) -> None:
        """Both answers for the current sliders, each timed."""
        started = time.perf_counter()
        history = self.solve(self.amplitude, self.shape, self.times)
        self.solver_s = time.perf_counter() - started
        self.history = history
        self.solver_answer = history[-1]
        u0 = initial_condition(self.x, self.amplitude, self.shape)
        if not getattr(self, "_warm", False):  # the first call compiles: not what is timed
            self.net.predict(u0[None])
            self._warm = True
        started = time.perf_counter()
        self.surrogate_answer = self.net.predict(u0[None])[0]
        self.surrogate_s = time.perf_counter() - started
        self.dirty = False

    def frame(self, inputs: Inputs) -> None:
        self.tick = inputs.frame
        if self.phase != "ready":
            self._step(self.per_frame)
        if self.phase == "ready" and self.dirty:
            self._answer()

    def relative_error(self) -> float:
        """``||surrogate - solver|| / ||solver||`` for the current sliders."""
        return float(np.linalg.norm(self.surrogate_answer - self.solver_answer)
                     / np.linalg.norm(self.solver_answer))

    # -- drawing -------------------------------------------------------------------------------
    def draw(self, canvas: Canvas) -> None:
        s = self.settings
        canvas.text(f"Burgers u_t + (u^2/2)_x = {s['nu']:g} u_xx, periodic: u(x, 0) -> "
                    f"u(x, {s['t_end']:g})", (0.02, 0.985), TEXT, 14)
        if self.phase != "ready":
            self._draw_preparing(canvas)
            return
        u0 = initial_condition(self.x, self.amplitude, self.shape)
        lim = max(float(np.abs(u0).max()), 0.2) * 1.1
        xs = np.append(self.x, 1.0)  # periodic: close the curves

        def closed(v):
            return np.append(v, v[0])

        fine = np.linspace(0.0, 1.0, 257)  # u(x, 0) is known everywhere: dash it finely
        start = initial_condition(fine, self.amplitude, self.shape)
        k = getattr(self, "tick", 0) % (2 * len(self.times))
        k = min(k, len(self.times) - 1)
        left = _plot.Panel((0.07, 0.5), (0.48, 0.88), (0.0, 1.0), (-lim, lim))
        left.frame(canvas, "solver (ETDRK4 pseudo-spectral)", "x")
        left.dashed(canvas, fine, start, INITIAL, 1.0, dash=4)
        left.curve(canvas, xs, closed(self.history[k]), GOLD, 1.0)
        left.curve(canvas, xs, closed(self.solver_answer), TEAL, 2.5)
        canvas.text(f"solver time stepping: t = {self.times[k]:.3f}", (0.09, 0.875), GOLD, 11)
        canvas.text(f"{1e3 * self.solver_s:.2f} ms", (0.07, 0.47), TEAL, 15)
        canvas.text("u(x, 0) dashed", (0.3, 0.465), INITIAL, 11)

        right = _plot.Panel((0.56, 0.5), (0.97, 0.88), (0.0, 1.0), (-lim, lim))
        right.frame(canvas, "surrogate (FNO)", "x")
        right.dashed(canvas, fine, start, INITIAL, 1.0, dash=4)
        canvas.text("one forward pass, no time steps", (0.58, 0.875), _plot.DIM, 11)
        right.curve(canvas, xs, closed(self.surrogate_answer), ACCENT, 2.5)
        canvas.text(f"{1e3 * self.surrogate_s:.2f} ms", (0.56, 0.47), ACCENT, 15)

        both = _plot.Panel((0.07, 0.08), (0.48, 0.38), (0.0, 1.0), (-lim, lim))
        both.frame(canvas, f"u(x, {s['t_end']:g}): both", "x")
        both.curve(canvas, xs, closed(self.solver_answer), TEAL, 3.0)
        both.dashed(canvas, xs, closed(self.surrogate_answer), ACCENT, 2.0)
        _plot.legend(canvas, (0.09, 0.375), [("solver", TEAL), ("FNO", ACCENT)])
        error = self.surrogate_answer - self.solver_answer
        e = max(float(np.abs(error).max()), 1e-6)
        diff = _plot.Panel((0.59, 0.08), (0.97, 0.38), (0.0, 1.0), (-1.2 * e, 1.2 * e))
        diff.frame(canvas, "FNO - solver", "x")
        diff.curve(canvas, xs, closed(error), GOLD, 1.5)
        speedup = self.solver_s / self.surrogate_s if self.surrogate_s > 0 else math.inf
        canvas.text(f"A = {self.amplitude:.2f}, s = {self.shape:+.2f}   relative error "
                    f"{100 * self.relative_error():.2f} %   FNO {speedup:.0f}x faster",
                    (0.07, 0.958), GOLD, 13)

    def _draw_preparing(self, canvas: Canvas) -> None:
        s = self.settings
        if self.phase == "data":
            done, total = len(self.inputs_), s["samples"]
            what = f"1/2  solving {total} random initial conditions for the training data"
        else:
            done, total = self.trainer.step, s["steps"]
            what = f"2/2  training the FNO ({s['modes']} modes, width {s['width']}): Adam step"
        canvas.text("preparing the surrogate (first use; the result is cached)", (0.07, 0.9),
                    GOLD, 15)
        canvas.text(f"{what} {done}/{total}", (0.07, 0.85), TEXT, 12)
        canvas.rect((0.07, 0.78), (0.93, 0.81), _plot.FRAME, filled=False)
        canvas.rect((0.07, 0.78), (0.07 + 0.86 * done / max(total, 1), 0.81), TEAL)
        if self.phase == "data" and self.inputs_:
            panel = _plot.Panel((0.07, 0.1), (0.93, 0.65), (0.0, 1.0), (-3.2, 3.2))
            panel.frame(canvas, "the latest samples: u(x, 0) dashed, u(x, T) solid", "x")
            for a, u in list(zip(self.inputs_, self.outputs_))[-4:]:
                panel.dashed(canvas, self.x, a, INITIAL, 1.0)
                panel.curve(canvas, self.x, u, TEAL, 2.0)
        elif self.phase == "train" and self.losses:
            panel = _plot.Panel((0.07, 0.1), (0.93, 0.65), (0, max(s["steps"], 1)),
                                (min(self.losses) / 2, max(self.losses) * 2), ylog=True)
            panel.frame(canvas, "training loss (relative L2 of a batch, log)", "Adam step")
            panel.curve(canvas, np.arange(1, len(self.losses) + 1), self.losses, ACCENT, 1.5)

    def status(self) -> str:
        if self.phase != "ready":
            return f"preparing the surrogate: {self.phase}"
        return (f"solver {1e3 * self.solver_s:.1f} ms, FNO {1e3 * self.surrogate_s:.2f} ms, "
                f"rel. error {100 * self.relative_error():.2f} %")
