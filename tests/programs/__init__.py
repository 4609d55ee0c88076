"""Differentiable simulation programs of the DiffTaichi kind, written for tidal's tests.

Each module is one small program written in plain Taichi style. Its ``build(kernel, Tape)``
allocates the program's fields, defines its kernels with ``@kernel`` and returns a
:class:`Program`. ``tests/test_programs.py`` builds every program twice in one process:

* ``build(ti.kernel, ti.ad.Tape)``: Taichi's own compilation and autodiff (the reference);
* ``build(td.kernel, td.Tape)``: tidal, as a drop-in replacement.

That is the only difference between the two builds: helpers stay ``@ti.func``, and plain
``@ti.kernel`` helpers that the program does not mean to differentiate (clearing a reused grid)
stay ``@ti.kernel`` in both, as a user porting a DiffTaichi program would leave them.

Module-level attributes the tests read:

* ``TAICHI_WRONG``: ``None``, or why ``ti.ad.Tape``'s gradient of the program is wrong (the test
  then checks that Taichi really disagrees with finite differences, instead of comparing tidal
  with Taichi).
* ``EXPECTED`` (optional): values known independently of both builds: ``"loss"`` (a float),
  ``"outputs"`` and ``"grads"`` (lists aligned with the program's ``outputs`` / ``params``,
  ``None`` where nothing is known).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PROGRAMS = [
    # whole simulations
    "mass_spring_robot",
    "rigid_body",
    "billiards",
    "mls_mpm",
    "smoke",
    "wave",
    "electric",
    "volume_renderer",
    # reductions of findings
    "func_read_after_write",
    "accumulator_cleared",
    "vector_local_branch",
    "loss_zeroed_on_entry",
    "python_vector_constant",
    "store_then_read_row",
    "top_level_static_loop",
    "python_scope_store",
    "grad_replaced",
    "builtin_min_max",
    # language idioms, one program each
    "untyped_func_helpers",
    "func_writes_field",
    "template_field_args",
    "polar_decompose",
    "matrix_diag_runtime",
    "matrix_diag_keywords",
    "normalized_eps",
    "vector_index",
    "list_store",
    "vector_repeat",
    "static_loops",
    "struct_for",
    "component_stores",
    "plain_kernel_clear",
    "toi_contact",
    "nested_if_min_div",
    "mlp_controller",
]


@dataclass
class Param:
    """A parameter: a field, or the part ``index`` of it (``v[0]`` of a time-indexed field)."""

    field: object
    index: object = None

    def _sel(self, a):
        return a if self.index is None else a[self.index]

    def value(self) -> np.ndarray:
        return np.array(self._sel(self.field.to_numpy()), dtype=np.float64)

    def grad(self) -> np.ndarray:
        return np.array(self._sel(self.field.grad.to_numpy()), dtype=np.float64)

    def set(self, value) -> None:
        if self.index is None:
            self.field.from_numpy(np.asarray(value, dtype=np.float64))
        else:
            a = self.field.to_numpy()
            a[self.index] = value
            self.field.from_numpy(a)


@dataclass
class Program:
    """One built program.

    Attributes:
        params: the parameters (fields, or :class:`Param` for part of a field).
        loss: the 0-D loss field.
        run: the forward pass, exactly what the program runs inside its tape.
        outputs: fields whose forward values are compared between the builds.
        reset: sets the initial state from Python (outside any tape), before every run.
        fd_h: the finite-difference step along a unit direction in parameter space.
        rewritten_by_backward: positions in ``outputs`` that a hand-written backward pass
            (``ti.ad.grad_for``) recomputes, so that after the tape they hold what it left, in
            Taichi as in tidal, not the forward values.
    """

    params: list
    loss: object
    run: Callable[[], None]
    outputs: list
    reset: Callable[[], None] = lambda: None
    fd_h: float = 1e-5
    rewritten_by_backward: tuple = ()

    def __post_init__(self):
        self.params = [p if isinstance(p, Param) else Param(p) for p in self.params]


def rng(name: str) -> np.random.Generator:
    """A generator seeded by a program's name (same values in both builds)."""
    return np.random.default_rng(sum(map(ord, name)))
