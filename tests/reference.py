"""Independent references for derivative tests: central finite differences in f64.

Stencils are exact rational central-difference weights (solved with ``fractions``), so their
only errors are truncation and rounding:

* order-m derivative, half width p: error ~ C h^(2p+1-m) f^(2p+1) + eps |f| sum|w| / h^m.

With p = 5 and h = 0.02 (the defaults), the truncation term is below 1e-10 for the corpus's
functions and the rounding term below 2e-10 for m <= 3. Tests compare against these references
with the tolerance ``FD_RTOL * (1 + |reference|)``, FD_RTOL = 2e-6, which leaves a wide margin
above both errors and is still far below any real derivative bug.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from functools import cache
from math import factorial

import numpy as np

FD_RTOL = 2e-6


@cache
def central_weights(m: int, p: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Offsets -p..p and weights w with sum_j w_j f(x + j h) / h^m ~ f^(m)(x)."""
    offs = list(range(-p, p + 1))
    n = len(offs)
    # solve sum_j w_j j^k = m! delta_{km}, k = 0..n-1, exactly
    a = [[Fraction(j) ** k for j in offs] for k in range(n)]
    b = [Fraction(factorial(m)) if k == m else Fraction(0) for k in range(n)]
    for col in range(n):
        piv = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        b[col], b[piv] = b[piv], b[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col])]
                b[r] -= f * b[col]
    w = [b[i] / a[i][i] for i in range(n)]
    keep = [(o, float(x)) for o, x in zip(offs, w) if x != 0]
    return tuple(o for o, _ in keep), tuple(x for _, x in keep)


def fd_partial(f, points: list[np.ndarray], counts: tuple[int, ...], h: float = 0.02,
               p: int = 5) -> np.ndarray:
    """Partial derivative d^|counts| f / prod dx_i^counts_i at each point, by tensor-product
    central differences.

    Args:
        f: vectorised function of ``len(points)`` scalar arrays, returning an array.
        points: per scalar input, an array of sample values (same length).
        counts: differentiation order per input.
    """
    axes = [i for i, c in enumerate(counts) if c > 0]
    stencils = [central_weights(counts[i], p) for i in axes]
    npts = len(points[0])
    offsets = list(itertools.product(*[s[0] for s in stencils]))
    weights = [np.prod(w) for w in itertools.product(*[s[1] for s in stencils])]
    args = []
    for i, x in enumerate(points):
        if i in axes:
            k = axes.index(i)
            col = np.array([o[k] for o in offsets], dtype=np.float64) * h
            args.append((x[None, :] + col[:, None]).reshape(-1))
        else:
            args.append(np.broadcast_to(x[None, :], (len(offsets), npts)).reshape(-1))
    vals = np.asarray(f(*args), dtype=np.float64).reshape(len(offsets), npts)
    total = sum(w * v for w, v in zip(weights, vals))
    return total / h ** sum(counts)


def fd_directional(g, order: int, h: float = 0.02, p: int = 5) -> np.ndarray:
    """d^order/dt^order of g(t) at t = 0, where ``g`` maps an array of t values to values."""
    offs, w = central_weights(order, p)
    t = np.array(offs, dtype=np.float64) * h
    vals = np.asarray(g(t), dtype=np.float64)
    return np.tensordot(np.array(w), vals, axes=(0, 0)) / h ** order


def assert_close(got, ref, rtol: float = FD_RTOL, what: str = "") -> None:
    """|got - ref| <= rtol * (1 + |ref|), elementwise, with a readable failure message."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    err = np.abs(got - ref)
    tol = rtol * (1.0 + np.abs(ref))
    bad = ~(err <= tol)
    if np.any(bad):
        k = np.argmax(np.where(bad, err / tol, 0))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} values differ; worst: got "
            f"{got.reshape(-1)[k]!r}, reference {ref.reshape(-1)[k]!r} (err "
            f"{err.reshape(-1)[k]:.3e}, tol {tol.reshape(-1)[k]:.3e})")


def run_example(name: str, cwd, *options: str):
    """Run ``examples/<name>.py`` with ``options`` in a fresh interpreter in ``cwd``; asserts it
    exits cleanly and returns the completed process (its stdout holds what it printed)."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    r = subprocess.run([sys.executable, str(example), *options], cwd=cwd, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def check_named_derivatives(sim, names, dirs, h: float, rtol: float = 1e-6) -> None:
    """A simulator's ``loss_grad`` and ``loss_grad_hvp`` along ``dirs`` (one per name) against
    central differences of the loss and of the gradient in f64 (relative ``rtol``), and the
    gradient of the hvp run against the tape's (1e-11). Leaves the parameters as they were."""
    base = {n: sim.get(n) for n in names}
    _, grads = sim.loss_grad(names)

    def at(eps):
        for n, d in zip(names, dirs):
            sim.set(n, base[n] + eps * d)
        return sim.loss_grad(names)

    (lp, gp), (lm, gm) = at(h), at(-h)
    at(0.0)
    ad = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
    assert_close(ad, (lp - lm) / (2 * h), rtol=rtol, what="directional derivative")
    _, grads2, hvps = sim.loss_grad_hvp(names, dirs)
    for g, g2 in zip(grads, grads2):
        assert_close(g2, g, rtol=1e-11, what="gradient from the hvp run")
    fd = np.concatenate([np.ravel((a - b) / (2 * h)) for a, b in zip(gp, gm)])
    hv = np.concatenate([np.ravel(x) for x in hvps])
    cosine = hv @ fd / (np.linalg.norm(hv) * np.linalg.norm(fd))
    assert np.linalg.norm(hv - fd) / np.linalg.norm(fd) < rtol, cosine
