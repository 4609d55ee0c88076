"""PyTorch and JAX peers of one training step of the Burgers PINN of Raissi et al. (float32).

Problem definition (shared by every implementation here and by the benchmarked library):

- Network: inputs ``z = (x, t)`` (in this order, no input scaling), 8 hidden layers of 20 units
  with tanh, linear output of 1: layer sizes ``[2, 20, 20, 20, 20, 20, 20, 20, 20, 1]``; 3,021
  parameters. Parameters are a list of ``(W, b)`` NumPy float32 pairs, ``W`` of shape
  ``(in, out)``, ``b`` of shape ``(out,)``; layer ``l`` computes ``h @ W + b``.
- :func:`init_params` ``(seed=0, layers=LAYERS)``: Glorot-normal weights
  (``std = sqrt(2 / (in + out))``) drawn with ``np.random.default_rng(seed)``, zero biases,
  float32.
- :func:`burgers_points` ``(n_f=10_000, n_b=100, seed=0)``: collocation points ``(x_f, t_f)``
  of shape ``(n_f,)`` each from a Latin hypercube (``scipy.stats.qmc.LatinHypercube``, ``seed``)
  on ``[-1, 1] x [0, 1]``; ``n_b`` initial/boundary points: half (rounded) on ``t = 0`` with
  ``x`` uniform in ``[-1, 1]`` and target ``u = -sin(pi x)``, the rest on ``x = +-1``
  (alternating) with ``t`` uniform in ``[0, 1]`` and target 0; returns a dict of float32 arrays
  ``x_f, t_f, x_b, t_b, u_b``.
- Loss: with ``u = net(x, t)`` and ``nu = 0.01 / pi``, residual
  ``r = u_t + u u_x - nu u_xx`` at the collocation points;
  ``loss = mean(r^2) + mean((net(x_b, t_b) - u_b)^2)``.
- One training step is the loss and its gradient with respect to all network parameters.

Implementations:

* :func:`torch_step`: float32 tensors, ``requires_grad`` on the parameters and on the
  collocation inputs, ``torch.autograd.grad(..., create_graph=True)`` for ``u_x, u_t`` and then
  ``u_xx``, then ``torch.autograd.grad(loss, params)``; ``torch.set_num_threads(os.cpu_count())``.
  Measured faster here than :mod:`torch.func` (``vmap`` of ``jacrev``; kept as
  ``_torch_func_step``).
* :func:`jax_step`: ``jax.jit(jax.value_and_grad(loss))`` with the network derivatives of one
  point ``vmap``-ed over the points, float32 (``jax_enable_x64`` is left off). ``u_xx`` is taken
  forward over forward (nested ``jax.jvp``), measured faster here than the textbook nested
  ``jax.grad`` (kept as ``_jax_grad_step``).
* :func:`numpy_loss`: an independent float64 NumPy reference of the loss, with ``u_x, u_t,
  u_xx`` propagated analytically (forward mode) through the tanh MLP.

PyTorch and JAX are imported only inside functions, so this module imports with NumPy (and SciPy
for the points) alone. Run it as a script for :func:`self_check` and then :func:`timings`; the
exit code is nonzero if the self-check fails.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from common import median_ms, rel

LAYERS: tuple[int, ...] = (2, 20, 20, 20, 20, 20, 20, 20, 20, 1)
NU: float = 0.01 / math.pi

Params = list[tuple[np.ndarray, np.ndarray]]
Points = dict[str, np.ndarray]
StepResult = tuple[float, Params]
Step = Callable[[], StepResult]


# -- problem -----------------------------------------------------------------------------------

def init_params(seed: int = 0, layers: Sequence[int] = LAYERS) -> Params:
    """Glorot-normal weights and zero biases, float32.

    Args:
        seed: seed of ``np.random.default_rng``; layers are drawn in order.
        layers: layer sizes, inputs first.

    Returns:
        A list of ``(W, b)`` pairs, ``W`` of shape ``(in, out)`` with
        ``std = sqrt(2 / (in + out))`` and ``b`` of shape ``(out,)`` zero.
    """
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        std = math.sqrt(2.0 / (n_in + n_out))
        w = (std * rng.standard_normal((n_in, n_out))).astype(np.float32)
        params.append((w, np.zeros(n_out, dtype=np.float32)))
    return params


def burgers_points(n_f: int = 10_000, n_b: int = 100, seed: int = 0) -> Points:
    """Collocation and initial/boundary points of the Burgers problem, float32.

    Args:
        n_f: number of collocation points, from a Latin hypercube on ``[-1, 1] x [0, 1]``.
        n_b: number of initial/boundary points: ``round(n_b / 2)`` (halves rounded up) on
            ``t = 0`` with target ``-sin(pi x)``, the rest alternately on ``x = -1`` and
            ``x = +1`` with target 0.
        seed: seed of the Latin hypercube and of ``np.random.default_rng`` for the boundary.

    Returns:
        A dict of float32 arrays ``x_f, t_f`` (``(n_f,)``) and ``x_b, t_b, u_b`` (``(n_b,)``).
    """
    from scipy.stats import qmc

    lhs = qmc.LatinHypercube(d=2, seed=seed).random(n_f)
    x_f = -1.0 + 2.0 * lhs[:, 0]
    t_f = lhs[:, 1]
    rng = np.random.default_rng(seed)
    n_0 = (n_b + 1) // 2
    n_side = n_b - n_0
    x_0 = rng.uniform(-1.0, 1.0, n_0)
    t_side = rng.uniform(0.0, 1.0, n_side)
    x_side = np.where(np.arange(n_side) % 2 == 0, -1.0, 1.0)
    x_b = np.concatenate([x_0, x_side])
    t_b = np.concatenate([np.zeros(n_0), t_side])
    u_b = np.concatenate([-np.sin(np.pi * x_0), np.zeros(n_side)])
    f32 = np.float32
    return {"x_f": x_f.astype(f32), "t_f": t_f.astype(f32), "x_b": x_b.astype(f32),
            "t_b": t_b.astype(f32), "u_b": u_b.astype(f32)}


def n_params(params: Params) -> int:
    """The number of scalar parameters."""
    return sum(w.size + b.size for w, b in params)


# -- NumPy reference ---------------------------------------------------------------------------

def _numpy_forward(params: Params, x: np.ndarray, t: np.ndarray, derivatives: bool):
    """The network's value (and ``u_x, u_t, u_xx``) in float64 by forward-mode propagation.

    Each quantity is an ``(n, width)`` array: the value ``h`` and its derivatives ``h_x, h_t,
    h_xx`` with respect to the inputs. A linear layer maps each of them by ``@ W`` (the bias only
    enters ``h``); for ``h' = tanh(a)``, ``dh' = (1 - h'^2) da`` and
    ``d2h' = (1 - h'^2) d2a - 2 h' (1 - h'^2) da^2``.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    h = np.stack([x, t], axis=1)
    if derivatives:
        h_x = np.broadcast_to(np.array([1.0, 0.0]), h.shape)
        h_t = np.broadcast_to(np.array([0.0, 1.0]), h.shape)
        h_xx = np.zeros_like(h)
    last = len(params) - 1
    for l, (w, b) in enumerate(params):
        w = np.asarray(w, dtype=np.float64)
        a = h @ w + np.asarray(b, dtype=np.float64)
        if derivatives:
            a_x, a_t, a_xx = h_x @ w, h_t @ w, h_xx @ w
        if l == last:
            h = a
            if derivatives:
                h_x, h_t, h_xx = a_x, a_t, a_xx
            break
        h = np.tanh(a)
        if derivatives:
            s = 1.0 - h * h
            h_x, h_t = s * a_x, s * a_t
            h_xx = s * a_xx - 2.0 * h * s * a_x * a_x
    if not derivatives:
        return h[:, 0]
    return h[:, 0], h_x[:, 0], h_t[:, 0], h_xx[:, 0]


def numpy_loss(params: Params, points: Points) -> float:
    """The PINN loss in float64, derivatives by analytic forward-mode propagation.

    Independent of PyTorch and JAX: the reference for both.

    Args:
        params: ``(W, b)`` pairs (any float dtype; computed in float64).
        points: the dict of :func:`burgers_points`.

    Returns:
        ``mean(r^2) + mean((net(x_b, t_b) - u_b)^2)`` with ``r = u_t + u u_x - nu u_xx``.
    """
    u, u_x, u_t, u_xx = _numpy_forward(params, points["x_f"], points["t_f"], derivatives=True)
    r = u_t + u * u_x - NU * u_xx
    u_b = _numpy_forward(params, points["x_b"], points["t_b"], derivatives=False)
    e = u_b - np.asarray(points["u_b"], dtype=np.float64)
    return float(np.mean(r * r) + np.mean(e * e))


# -- PyTorch -----------------------------------------------------------------------------------

def _import_torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("torch_step needs PyTorch: pip install torch==2.13.0 (CPU build is "
                          "enough)") from err
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def _grads_to_numpy(flat: Sequence, n_layers: int) -> Params:
    arrays = [np.array(g, dtype=np.float32) for g in flat]
    return [(arrays[2 * l], arrays[2 * l + 1]) for l in range(n_layers)]


def torch_step(params: Params, points: Points, device: str = "cpu") -> Step:
    """A PyTorch (float32; CPU unless ``device`` names another) training step: loss and
    parameter gradients.

    Builds the tensors once. Each call runs the network on the collocation inputs ``x, t``
    (``(n_f, 1)`` leaves with ``requires_grad``), takes ``u_x, u_t`` by one
    ``torch.autograd.grad(u, [x, t], ones, create_graph=True)`` and ``u_xx`` by a second one on
    ``u_x``, forms the loss and gets the parameter gradients by ``torch.autograd.grad(loss,
    params)``. This plain double backward was measured faster than :mod:`torch.func` (``vmap``
    of ``jacrev`` / ``jacrev(jacrev)`` per point, parameter gradients by
    ``torch.func.grad_and_value``; kept as :func:`_torch_func_step`): on the full problem
    (2 CPU cores, medians) about 23 ms per step against about 57 ms.

    Args:
        params: ``(W, b)`` pairs of float32 arrays.
        points: the dict of :func:`burgers_points`.
        device: the PyTorch device of every tensor (``"cuda"`` in ``pinn_step_gpu.py``).

    Returns:
        A function of no arguments doing one step and returning ``(loss, grads)``, ``grads`` a
        list of ``(dW, db)`` float32 NumPy arrays shaped like ``params``.

    Raises:
        ImportError: if PyTorch is not installed.
    """
    torch = _import_torch()
    f32 = torch.float32

    def tensor(a: np.ndarray, grad: bool = False):
        return torch.tensor(np.asarray(a, dtype=np.float32), dtype=f32, device=device,
                            requires_grad=grad)

    flat = [tensor(a, grad=True) for w, b in params for a in (w, b)]
    x_f = tensor(points["x_f"][:, None], grad=True)
    t_f = tensor(points["t_f"][:, None], grad=True)
    z_b = tensor(np.stack([points["x_b"], points["t_b"]], axis=1))
    u_b = tensor(points["u_b"][:, None])
    ones = torch.ones_like(x_f)
    n_layers = len(params)

    def net(h):
        for l in range(n_layers - 1):
            h = torch.tanh(torch.addmm(flat[2 * l + 1], h, flat[2 * l]))
        return torch.addmm(flat[-1], h, flat[-2])

    def step() -> StepResult:
        u = net(torch.cat([x_f, t_f], dim=1))
        u_x, u_t = torch.autograd.grad(u, [x_f, t_f], ones, create_graph=True)
        (u_xx,) = torch.autograd.grad(u_x, x_f, ones, create_graph=True)
        r = u_t + u * u_x - NU * u_xx
        loss = r.square().mean() + (net(z_b) - u_b).square().mean()
        grads = torch.autograd.grad(loss, flat)
        return float(loss.item()), _grads_to_numpy([g.cpu().numpy() for g in grads], n_layers)

    return step


def _torch_func_step(params: Params, points: Points) -> Step:
    """The :mod:`torch.func` alternative to :func:`torch_step` (kept for the comparison).

    The network on one point ``(x, t)``; ``u_x, u_t`` by ``jacrev`` over both inputs and
    ``u_xx`` by ``jacrev(jacrev)``, ``vmap``-ed over the collocation points; the parameter
    gradients by ``torch.func.grad_and_value`` of the whole loss. Measured on the full problem
    (2 CPU cores, medians): about 57 ms per step, against about 23 ms for :func:`torch_step`.
    """
    torch = _import_torch()
    from torch.func import grad_and_value, jacrev, vmap

    f32 = torch.float32
    flat0 = tuple(torch.tensor(np.asarray(a, dtype=np.float32), dtype=f32)
                  for w, b in params for a in (w, b))
    x_f = torch.tensor(points["x_f"], dtype=f32)
    t_f = torch.tensor(points["t_f"], dtype=f32)
    z_b = torch.tensor(np.stack([points["x_b"], points["t_b"]], axis=1), dtype=f32)
    u_b = torch.tensor(points["u_b"], dtype=f32)
    n_layers = len(params)

    def net(flat, h):
        for l in range(n_layers - 1):
            h = torch.tanh(h @ flat[2 * l] + flat[2 * l + 1])
        return (h @ flat[-2] + flat[-1])[..., 0]

    def u_point(flat, x, t):
        return net(flat, torch.stack([x, t]))

    def residual_point(flat, x, t):
        u = u_point(flat, x, t)
        u_x, u_t = jacrev(u_point, argnums=(1, 2))(flat, x, t)
        u_xx = jacrev(jacrev(u_point, argnums=1), argnums=1)(flat, x, t)
        return u_t + u * u_x - NU * u_xx

    def loss_fn(flat):
        r = vmap(residual_point, in_dims=(None, 0, 0))(flat, x_f, t_f)
        return r.square().mean() + (net(flat, z_b) - u_b).square().mean()

    fn = grad_and_value(loss_fn)

    def step() -> StepResult:
        grads, loss = fn(flat0)
        return float(loss.item()), _grads_to_numpy([g.numpy() for g in grads], n_layers)

    return step


# -- JAX ---------------------------------------------------------------------------------------

def _import_jax():
    try:
        import jax
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("jax_step needs JAX: pip install 'jax[cpu]'") from err
    return jax


def _jax_setup(params: Params, points: Points):
    import jax.numpy as jnp

    flat = [jnp.asarray(np.asarray(a, dtype=np.float32)) for w, b in params for a in (w, b)]
    arrays = {k: jnp.asarray(np.asarray(v, dtype=np.float32)) for k, v in points.items()}
    n_layers = len(params)

    def net(flat, h):
        for l in range(n_layers - 1):
            h = jnp.tanh(h @ flat[2 * l] + flat[2 * l + 1])
        return (h @ flat[-2] + flat[-1])[..., 0]

    return jnp, flat, arrays, net, n_layers


def jax_step(params: Params, points: Points) -> Step:
    """A JAX (CPU, float32) training step: loss and parameter gradients.

    ``jax.jit(jax.value_and_grad(loss))``. The network on one point ``u(x, t)``; ``u, u_x`` by a
    ``jax.jvp`` in ``x`` and ``u_xx`` by a ``jax.jvp`` of that one (forward over forward),
    ``u_t`` by a ``jax.jvp`` in ``t``, all ``jax.vmap``-ed over the collocation points. Float32
    (``jax_enable_x64`` untouched). Compiles on the first call.

    Forward over forward was measured faster than the textbook nested ``jax.grad`` (``u_x``,
    ``u_t`` by ``jax.grad`` and ``u_xx`` by ``jax.grad(jax.grad(u))``, vmapped; kept as
    :func:`_jax_grad_step`): on the full problem (2 CPU cores, medians) about 35 ms per step
    against about 47 ms (42 ms with one ``jax.grad`` in ``z = (x, t)`` for ``u_x, u_t``). A
    batched ``jax.jvp`` over all points with all-ones tangents, without ``vmap``, was the same
    as this one within noise (about 36 ms).

    Args:
        params: ``(W, b)`` pairs of float32 arrays.
        points: the dict of :func:`burgers_points`.

    Returns:
        A function of no arguments doing one step and returning ``(loss, grads)``, ``grads`` a
        list of ``(dW, db)`` float32 NumPy arrays shaped like ``params``.

    Raises:
        ImportError: if JAX is not installed.
    """
    jax = _import_jax()
    jnp, flat0, pts, net, n_layers = _jax_setup(params, points)
    one = jnp.float32(1.0)

    def residual_point(flat, x, t):
        def u_of_x(x):
            return net(flat, jnp.stack([x, t]))

        def u_and_u_x(x):
            return jax.jvp(u_of_x, (x,), (one,))

        (u, u_x), (_, u_xx) = jax.jvp(u_and_u_x, (x,), (one,))
        _, u_t = jax.jvp(lambda t: net(flat, jnp.stack([x, t])), (t,), (one,))
        return u_t + u * u_x - NU * u_xx

    def loss(flat):
        r = jax.vmap(residual_point, in_axes=(None, 0, 0))(flat, pts["x_f"], pts["t_f"])
        z_b = jnp.stack([pts["x_b"], pts["t_b"]], axis=1)
        return jnp.mean(r * r) + jnp.mean((net(flat, z_b) - pts["u_b"]) ** 2)

    fn = jax.jit(jax.value_and_grad(loss))

    def step() -> StepResult:
        value, grads = jax.block_until_ready(fn(flat0))
        return float(value), _grads_to_numpy(grads, n_layers)

    return step


def _jax_grad_step(params: Params, points: Points) -> Step:
    """The nested ``jax.grad`` alternative to :func:`jax_step` (kept for the comparison).

    The textbook form: ``u_x, u_t`` by ``jax.grad`` of the one-point network in ``x`` and ``t``
    and ``u_xx`` by ``jax.grad(jax.grad(u))``, ``jax.vmap``-ed over the collocation points, in
    ``jax.jit(jax.value_and_grad(loss))``. Measured on the full problem (2 CPU cores, medians):
    about 47 ms per step, against about 35 ms for :func:`jax_step`.
    """
    jax = _import_jax()
    jnp, flat0, pts, net, n_layers = _jax_setup(params, points)

    def u_point(flat, x, t):
        return net(flat, jnp.stack([x, t]))

    u_x_fn = jax.grad(u_point, argnums=1)
    u_t_fn = jax.grad(u_point, argnums=2)
    u_xx_fn = jax.grad(u_x_fn, argnums=1)

    def residual_point(flat, x, t):
        u = u_point(flat, x, t)
        return u_t_fn(flat, x, t) + u * u_x_fn(flat, x, t) - NU * u_xx_fn(flat, x, t)

    def loss(flat):
        r = jax.vmap(residual_point, in_axes=(None, 0, 0))(flat, pts["x_f"], pts["t_f"])
        z_b = jnp.stack([pts["x_b"], pts["t_b"]], axis=1)
        return jnp.mean(r * r) + jnp.mean((net(flat, z_b) - pts["u_b"]) ** 2)

    fn = jax.jit(jax.value_and_grad(loss))

    def step() -> StepResult:
        value, grads = jax.block_until_ready(fn(flat0))
        return float(value), _grads_to_numpy(grads, n_layers)

    return step


# -- checks and timings ------------------------------------------------------------------------

def _flatten(grads: Params) -> np.ndarray:
    return np.concatenate([a.ravel() for w, b in grads for a in (w, b)])


def self_check() -> bool:
    """Check the peers against the NumPy reference and finite differences (n_f=500, n_b=50).

    Checks that the PyTorch and JAX losses equal :func:`numpy_loss` (relative 1e-5), that the
    PyTorch and JAX gradients agree (relative max-norm 1e-4), and that a few gradient entries
    match central finite differences of :func:`numpy_loss` in float64 (relative 1e-3).

    Returns:
        True if every check passes.
    """
    params = init_params(0)
    points = burgers_points(n_f=500, n_b=50, seed=0)
    print(f"self-check: Burgers PINN, layers {list(LAYERS)} ({n_params(params)} parameters), "
          f"n_f={len(points['x_f'])}, n_b={len(points['x_b'])}, float32")
    ref = numpy_loss(params, points)
    torch_loss, torch_grads = torch_step(params, points)()
    jax_loss, jax_grads = jax_step(params, points)()
    checks: list[bool] = []

    def check(name: str, err: float, tol: float) -> None:
        ok = err <= tol
        checks.append(ok)
        print(f"  {name:<36s} rel err {err:.2e}  (tol {tol:.0e})  {'ok' if ok else 'FAIL'}")

    print(f"  loss: numpy (float64) {ref:.10g}, torch {torch_loss:.10g}, jax {jax_loss:.10g}")
    check("torch loss vs numpy", rel(torch_loss, ref), 1e-5)
    check("jax loss vs numpy", rel(jax_loss, ref), 1e-5)
    check("torch grads vs jax (max-norm)", rel(_flatten(torch_grads), _flatten(jax_grads)), 1e-4)

    # The largest-magnitude entry of the first, a middle and the last weight matrix, and of the
    # last two biases, by central differences of the float64 reference.
    p64 = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    picks = []
    for l in (0, len(params) // 2, len(params) - 1):
        picks.append((l, 0, np.unravel_index(np.argmax(np.abs(jax_grads[l][0])),
                                             jax_grads[l][0].shape)))
    for l in (len(params) - 2, len(params) - 1):
        picks.append((l, 1, (int(np.argmax(np.abs(jax_grads[l][1]))),)))
    h = 1e-6
    for l, which, idx in picks:
        values = []
        for sign in (1.0, -1.0):
            shifted = [[w.copy(), b.copy()] for w, b in p64]
            shifted[l][which][idx] += sign * h
            values.append(numpy_loss([tuple(p) for p in shifted], points))
        fd = (values[0] - values[1]) / (2.0 * h)
        name = f"{'Wb'[which]}{l}[{','.join(str(int(i)) for i in idx)}]"
        tg, jg = float(torch_grads[l][which][idx]), float(jax_grads[l][which][idx])
        print(f"  {name}: fd {fd:+.9e}  torch {tg:+.9e}  jax {jg:+.9e}")
        check(f"torch grad {name} vs central fd", rel(tg, fd), 1e-3)
        check(f"jax grad {name} vs central fd", rel(jg, fd), 1e-3)
    passed = all(checks)
    print("self-check " + ("passed" if passed else "FAILED"))
    return passed


def time_step(build: Callable[[Params, Points], Step], params: Params, points: Points,
              repeats: int) -> tuple[float, float, StepResult]:
    """Cold first call (build + compile + first step) and median per-step time, in ms."""
    start = time.perf_counter()
    step = build(params, points)
    result = step()
    cold = 1e3 * (time.perf_counter() - start)
    return cold, median_ms(step, repeats=repeats), result


def flat_from_layers(params: Params) -> np.ndarray:
    """The layers ``[(W (in, out), b)]`` as one float64 vector in the parameter order of
    :class:`tidal.solvers.MLP` (``get_flat``: first layer, stacked hidden layers, output)."""
    parts = [params[0][0].T, params[0][1],
             np.stack([w.T for w, _ in params[1:-1]]), np.stack([b for _, b in params[1:-1]]),
             params[-1][0][:, 0], params[-1][1]]
    return np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])


def timings(repeats: int = 20) -> None:
    """Print the cold first-call and median per-step times on the full problem.

    The full problem is ``n_f=10,000``, ``n_b=100``. The cold time covers building the step,
    tracing and compiling (JAX) and the first step; importing PyTorch and JAX is done before and
    not counted.

    Args:
        repeats: number of timed steps after the first call; the median is printed.
    """
    _import_torch()
    _import_jax()
    params = init_params(0)
    points = burgers_points()
    print(f"timings: n_f={len(points['x_f'])}, n_b={len(points['x_b'])}, float32, "
          f"{os.cpu_count()} CPU cores, median of {repeats} steps")
    results = {}
    for name, build in (("torch", torch_step), ("jax", jax_step)):
        cold, ms, results[name] = time_step(build, params, points, repeats)
        print(f"  {name:<5s} first call (build, compile, step):   {cold:9.1f} ms")
        print(f"  {name:<5s} training step:                        {ms:9.1f} ms/step")
    (torch_loss, torch_grads), (jax_loss, jax_grads) = results["torch"], results["jax"]
    print(f"  loss {jax_loss:.6e}; torch vs jax: loss rel {rel(torch_loss, jax_loss):.1e}, "
          f"grads rel {rel(_flatten(torch_grads), _flatten(jax_grads)):.1e}")


if __name__ == "__main__":
    ok = self_check()
    print()
    timings()
    sys.exit(0 if ok else 1)
