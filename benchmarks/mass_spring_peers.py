"""PyTorch and JAX peers of tidal's mass-spring rollout gradient (float64).

The model mirrors :mod:`tidal.physics.mass_spring`: unit masses joined by springs with per-spring
stiffness ``k``, linear damping, gravity and symplectic Euler; anchored masses stay put. For
``t = 0 .. steps - 1``::

    f = 0
    for every spring s = (a, b):
        d = x[t, b] - x[t, a];  L = |d|;  fs = k[s] * (L - rest[s]) / L * d
        f[a] += fs;  f[b] -= fs
    for every mass i:
        acc = f[i] + (0, -gravity) - damping * v[t, i]
        v[t + 1, i] = free[i] * (v[t, i] + dt * acc)
        x[t + 1, i] = x[t, i] + dt * v[t + 1, i]

with ``x[0] = positions`` and ``v[0] = 0``, and the loss is
``sum over t = 0 .. steps and i of |x[t, i] - target[t, i]|^2``.

A problem is a dict with keys ``positions`` (n, 2), ``springs`` (m, 2) int32 mass index pairs,
``rest`` (m,), ``free`` (n,) (1.0 free, 0.0 anchored), ``steps``, ``dt``, ``damping``,
``gravity`` and ``target`` (steps + 1, n, 2). Each builder does its set-up once and returns a
function ``stiffness (m,) -> (loss, grad)``:

* :func:`torch_value_and_grad`: a Python loop over steps, vectorised over springs and masses
  (``index_select`` / ``index_add_``), reverse mode by ``loss.backward()``;
* :func:`jax_value_and_grad`: ``jax.jit(jax.value_and_grad(loss))`` with the time loop as
  ``jax.lax.scan`` and scatter-adds for the forces;
* :func:`numpy_loss`: a plain NumPy forward pass, the reference for both.

PyTorch and JAX are imported only inside the builders. Run this file as a script for a
self-check (losses and gradients against each other and against finite differences) and timings
at a large size.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
from common import median_ms, rel

ValueAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _import_torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "torch_value_and_grad needs PyTorch: pip install torch==2.13.0 "
            "(the CPU build is enough)"
        ) from err
    return torch


def _import_jax():
    try:
        import jax
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("jax_value_and_grad needs JAX: pip install 'jax[cpu]'") from err
    jax.config.update("jax_enable_x64", True)
    return jax


def _unpack(problem: dict):
    """The problem's arrays in canonical dtypes and its scalars as Python numbers."""
    positions = np.ascontiguousarray(problem["positions"], dtype=np.float64)
    springs = np.ascontiguousarray(problem["springs"], dtype=np.int64)
    rest = np.ascontiguousarray(problem["rest"], dtype=np.float64)
    free = np.ascontiguousarray(problem["free"], dtype=np.float64)
    target = np.ascontiguousarray(problem["target"], dtype=np.float64)
    steps = int(problem["steps"])
    n, m = len(positions), len(springs)
    if positions.shape != (n, 2) or springs.shape != (m, 2) or rest.shape != (m,):
        raise ValueError("positions must be (n, 2), springs (m, 2) and rest (m,)")
    if free.shape != (n,) or target.shape != (steps + 1, n, 2):
        raise ValueError("free must be (n,) and target (steps + 1, n, 2)")
    return (positions, springs, rest, free, target, steps, float(problem["dt"]),
            float(problem["damping"]), float(problem["gravity"]))


# -- NumPy reference ---------------------------------------------------------------------------

def numpy_trajectory(problem: dict, stiffness: np.ndarray) -> np.ndarray:
    """Positions of every step, by a plain NumPy forward pass.

    Args:
        problem: the problem dict (``target`` is not used and may be absent).
        stiffness: (m,) spring constants.

    Returns:
        (steps + 1, n, 2) float64 positions ``x[t, i]``.
    """
    problem = dict(problem)
    steps, n = int(problem["steps"]), len(problem["positions"])
    problem.setdefault("target", np.zeros((steps + 1, n, 2)))
    positions, springs, rest, free, _, steps, dt, damping, gravity = _unpack(problem)
    k = np.asarray(stiffness, dtype=np.float64)
    a, b = springs[:, 0], springs[:, 1]
    g = np.array([0.0, -gravity])
    xs = np.empty((steps + 1, n, 2))
    xs[0] = x = positions
    v = np.zeros_like(x)
    for t in range(steps):
        d = x[b] - x[a]
        length = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
        fs = (k * (length - rest) / length)[:, None] * d
        f = np.zeros_like(x)
        for c in range(2):
            f[:, c] = (np.bincount(a, weights=fs[:, c], minlength=n)
                       - np.bincount(b, weights=fs[:, c], minlength=n))
        acc = f + g - damping * v
        v = free[:, None] * (v + dt * acc)
        x = x + dt * v
        xs[t + 1] = x
    return xs


def numpy_loss(problem: dict, stiffness: np.ndarray) -> float:
    """The rollout loss by a plain NumPy forward pass (the reference value).

    Args:
        problem: the problem dict.
        stiffness: (m,) spring constants.

    Returns:
        ``sum over t, i of |x[t, i] - target[t, i]|^2``.
    """
    xs = numpy_trajectory(problem, stiffness)
    diff = xs - np.asarray(problem["target"], dtype=np.float64)
    return float(np.sum(diff * diff))


# -- PyTorch -----------------------------------------------------------------------------------

def torch_value_and_grad(problem: dict) -> ValueAndGrad:
    """A PyTorch (CPU, float64) loss-and-gradient function for the problem.

    A Python loop over steps builds the autograd graph, vectorised over springs (gathers with
    ``index_select``) and masses (``f[a] += fs`` and ``f[b] -= fs`` as one ``index_add_`` over
    the concatenated indices, faster than two); ``loss.backward()`` gives the gradient with
    respect to the stiffnesses.

    Args:
        problem: the problem dict.

    Returns:
        A function ``stiffness (m,) float64 -> (loss, grad (m,) float64)``.

    Raises:
        ImportError: if PyTorch is not installed.
    """
    torch = _import_torch()
    positions, springs, rest, free, target, steps, dt, damping, gravity = _unpack(problem)
    f64 = torch.float64
    n = len(positions)
    a = torch.from_numpy(springs[:, 0].copy())
    b = torch.from_numpy(springs[:, 1].copy())
    ab = torch.cat([a, b])  # one scatter for f[a] += fs and f[b] -= fs
    rest_t = torch.from_numpy(rest)
    free_t = torch.from_numpy(free)[:, None]
    x0 = torch.from_numpy(positions)
    target_t = torch.from_numpy(target)
    g = torch.tensor([0.0, -gravity], dtype=f64)

    def value_and_grad(stiffness: np.ndarray) -> tuple[float, np.ndarray]:
        k = torch.tensor(np.asarray(stiffness, dtype=np.float64), dtype=f64, requires_grad=True)
        x, v = x0, torch.zeros_like(x0)
        xs = [x]
        for _ in range(steps):
            d = x.index_select(0, b) - x.index_select(0, a)
            length = torch.linalg.vector_norm(d, dim=1)
            fs = (k * (length - rest_t) / length)[:, None] * d
            f = torch.zeros((n, 2), dtype=f64).index_add_(0, ab, torch.cat([fs, -fs]))
            acc = f + g - damping * v
            v = free_t * (v + dt * acc)
            x = x + dt * v
            xs.append(x)
        loss = (torch.stack(xs) - target_t).square().sum()
        loss.backward()
        return float(loss.item()), k.grad.numpy().copy()

    return value_and_grad


# -- JAX ---------------------------------------------------------------------------------------

def jax_value_and_grad(problem: dict) -> ValueAndGrad:
    """A JAX (CPU, float64) loss-and-gradient function for the problem.

    ``jax.jit(jax.value_and_grad(loss))``, with the time loop as ``jax.lax.scan`` (the carry is
    the state ``(x, v)``; each step emits its mismatch) and the forces as scatter-adds. Enables
    ``jax_enable_x64``. Compilation happens on the first call.

    Args:
        problem: the problem dict.

    Returns:
        A function ``stiffness (m,) float64 -> (loss, grad (m,) float64)``.

    Raises:
        ImportError: if JAX is not installed.
    """
    jax = _import_jax()
    import jax.numpy as jnp

    positions, springs, rest, free, target, steps, dt, damping, gravity = _unpack(problem)
    a = jnp.asarray(springs[:, 0].astype(np.int32))
    b = jnp.asarray(springs[:, 1].astype(np.int32))
    rest_j = jnp.asarray(rest)
    free_j = jnp.asarray(free)[:, None]
    x0 = jnp.asarray(positions)
    target_j = jnp.asarray(target)
    g = jnp.array([0.0, -gravity])

    def step(k, carry, tgt):
        x, v = carry
        d = x[b] - x[a]
        length = jnp.sqrt(jnp.sum(d * d, axis=1))
        fs = (k * (length - rest_j) / length)[:, None] * d
        f = jnp.zeros_like(x).at[a].add(fs).at[b].add(-fs)
        acc = f + g - damping * v
        v = free_j * (v + dt * acc)
        x = x + dt * v
        return (x, v), jnp.sum((x - tgt) ** 2)

    def loss(k):
        first = jnp.sum((x0 - target_j[0]) ** 2)
        _, rest_of = jax.lax.scan(lambda c, tgt: step(k, c, tgt), (x0, jnp.zeros_like(x0)),
                                  target_j[1:])
        return first + jnp.sum(rest_of)

    fn = jax.jit(jax.value_and_grad(loss))

    def value_and_grad(stiffness: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fn(jnp.asarray(np.asarray(stiffness, dtype=np.float64)))
        return float(value), np.array(grad, dtype=np.float64)

    return value_and_grad


# -- self-check --------------------------------------------------------------------------------

def lattice_problem(nx: int, ny: int | None = None, steps: int = 200, dt: float = 2e-3,
                    damping: float = 0.5, gravity: float = 9.8, spacing: float = 0.1,
                    seed: int = 0) -> tuple[dict, np.ndarray]:
    """A problem on the lattice of :func:`tidal.physics.lattice` (top row anchored).

    Rest lengths are the lattice's. Free masses start perturbed by
    uniform(-0.02, 0.02); stiffnesses are uniform in [50, 150]; the target is the NumPy
    trajectory at stiffnesses scaled by uniform(0.9, 1.1).

    Args:
        nx: masses per row.
        ny: number of rows (default ``nx``).
        steps: number of time steps.
        dt: time step.
        damping: velocity damping rate.
        gravity: downward acceleration.
        spacing: distance between neighbouring masses.
        seed: random seed.

    Returns:
        ``(problem, stiffness)``.
    """
    from tidal.physics.mass_spring import lattice as build_lattice

    rng = np.random.default_rng(seed)
    lattice, springs, anchored = build_lattice(nx, ny, spacing)
    n, m = len(lattice), len(springs)
    free = np.ones(n)
    free[anchored] = 0.0
    rest = np.linalg.norm(lattice[springs[:, 1]] - lattice[springs[:, 0]], axis=1)
    positions = lattice + free[:, None] * rng.uniform(-0.02, 0.02, size=(n, 2))
    stiffness = rng.uniform(50.0, 150.0, size=m)
    problem = {"positions": positions, "springs": springs, "rest": rest, "free": free,
               "steps": steps, "dt": dt, "damping": damping, "gravity": gravity}
    problem["target"] = numpy_trajectory(problem, stiffness * rng.uniform(0.9, 1.1, size=m))
    return problem, stiffness


def self_check() -> bool:
    """Check the peers against each other and finite differences on a 4x4 lattice.

    Returns:
        True if every check passes.
    """
    problem, k = lattice_problem(4, steps=200, dt=2e-3, damping=0.5, gravity=9.8)
    print(f"self-check: 4x4 lattice, n={len(problem['positions'])}, "
          f"m={len(problem['springs'])}, steps={problem['steps']}")
    ref = numpy_loss(problem, k)
    torch_loss, torch_grad = torch_value_and_grad(problem)(k)
    jax_loss, jax_grad = jax_value_and_grad(problem)(k)
    checks = []

    def check(name, err, tol):
        ok = err <= tol
        checks.append(ok)
        print(f"  {name:<34s} rel err {err:.2e}  (tol {tol:.0e})  {'ok' if ok else 'FAIL'}")

    print(f"  loss: numpy {ref:.17g}, torch {torch_loss:.17g}, jax {jax_loss:.17g}")
    check("torch loss vs numpy", rel(torch_loss, ref), 1e-12)
    check("jax loss vs numpy", rel(jax_loss, ref), 1e-12)
    check("torch loss vs jax", rel(torch_loss, jax_loss), 1e-12)
    check("torch grad vs jax (max-norm)", rel(torch_grad, jax_grad), 1e-10)
    entries = sorted({int(np.argmax(np.abs(jax_grad))), 0, len(k) // 2, len(k) - 1})
    for s in entries:
        h = 1e-6 * k[s]
        kp, km = k.copy(), k.copy()
        kp[s] += h
        km[s] -= h
        fd = (numpy_loss(problem, kp) - numpy_loss(problem, km)) / (kp[s] - km[s])
        print(f"  k[{s}]: fd {fd:+.12e}  torch {torch_grad[s]:+.12e}  jax {jax_grad[s]:+.12e}")
        check(f"torch grad[{s}] vs central fd", rel(torch_grad[s], fd), 1e-6)
        check(f"jax grad[{s}] vs central fd", rel(jax_grad[s], fd), 1e-6)
    passed = all(checks)
    print("self-check " + ("passed" if passed else "FAILED"))
    return passed


def timings(nx: int = 32, ny: int = 64, steps: int = 1000) -> None:
    """Print ms per value-and-grad call (median of 5 after a warm-up) at a large size."""
    problem, k = lattice_problem(nx, ny, steps=steps, dt=2e-3, damping=0.5, gravity=9.8)
    print(f"timings: {nx}x{ny} lattice, n={len(problem['positions'])}, "
          f"m={len(problem['springs'])}, steps={steps}, float64")

    start = time.perf_counter()
    jax_fn = jax_value_and_grad(problem)
    jax_loss, jax_grad = jax_fn(k)
    first = time.perf_counter() - start
    jax_ms = median_ms(jax_fn, k)
    print(f"  jax   first call (build + trace + compile + run): {1e3 * first:9.1f} ms")
    print(f"  jax   compile (first call minus a run):            {1e3 * first - jax_ms:9.1f} ms")
    print(f"  jax   value_and_grad:                             {jax_ms:9.1f} ms/call")

    torch_fn = torch_value_and_grad(problem)
    torch_loss, torch_grad = torch_fn(k)
    torch_ms = median_ms(torch_fn, k)
    print(f"  torch value_and_grad:                             {torch_ms:9.1f} ms/call")
    print(f"  loss {jax_loss:.6e}; torch vs jax: loss rel {rel(torch_loss, jax_loss):.1e}, "
          f"grad rel {rel(torch_grad, jax_grad):.1e}")


if __name__ == "__main__":
    ok = self_check()
    print()
    timings()
    sys.exit(0 if ok else 1)
