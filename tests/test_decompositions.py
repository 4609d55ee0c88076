"""3x3 polar decomposition, SVD and symmetric eigenproblem in kernels under td.Tape.

Forward values are checked against SciPy/NumPy in f64 (tidal refines Taichi's result to full
precision) and against Taichi's own compilation of the same kernel (to Taichi's accuracy);
gradients against central finite differences of tidal's forward run, including the identity
matrix every MPM particle starts from, where the SVD has repeated singular values but the polar
decomposition is smooth. Orders 1-3 in every mode are in tests/test_rules.py (the slow set: they
compile for minutes).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import taichi as ti

import tidal as td

from .reference import assert_close

N = 6


def _matrices():
    r = np.random.default_rng(11)
    a = r.uniform(-1.5, 1.5, (N, 3, 3))
    a[0] = np.eye(3)  # repeated singular values and eigenvalues
    a[1] = np.diag([2.0, -1.0, 0.5])  # det < 0: Taichi's rotation convention
    a[2] = np.eye(3) + 0.3 * r.normal(size=(3, 3))
    return a


class Decompositions:
    """Fields and kernels: each kernel stores a decomposition of a[i] and adds a weighted sum
    of its outputs to the loss."""

    def __init__(self, kernel=td.kernel):
        self.a = ti.Matrix.field(3, 3, ti.f64, shape=N, needs_grad=True)
        self.out = ti.Matrix.field(3, 3, ti.f64, shape=(N, 3))
        self.values = ti.Vector.field(3, ti.f64, shape=N)
        self.w = ti.Matrix.field(3, 3, ti.f64, shape=3)
        self.loss = ti.field(ti.f64, shape=(), needs_grad=True)
        self.w.from_numpy(np.random.default_rng(5).uniform(0.5, 1.5, (3, 3, 3)))
        a, out, values, w, loss = self.a, self.out, self.values, self.w, self.loss

        @kernel
        def polar():
            for i in range(N):
                r, s = ti.polar_decompose(a[i], ti.f64)
                out[i, 0] = r
                out[i, 1] = s
                loss[None] += (w[0] * r).sum() + (w[1] * s).sum()

        @kernel
        def svd():
            for i in range(N):
                u, sig, v = ti.svd(a[i])
                out[i, 0] = u
                out[i, 1] = sig
                out[i, 2] = v
                # at repeated singular values (matrix 0, the identity) the factors have no
                # derivative; U V^T and symmetric functions of the singular values (trace,
                # determinant) do, and get it
                loss[None] += (w[0] * (u @ v.transpose())).sum()
                if i == 0:
                    loss[None] += sig.trace() + sig.determinant()
                else:
                    loss[None] += (w[1] * sig).sum() + (w[2] * (u @ sig @ v.transpose())).sum()

        @kernel
        def sym_eig():
            for i in range(N):
                e = a[i] @ a[i].transpose()
                lam, vecs = ti.sym_eig(e)
                values[i] = lam
                out[i, 0] = vecs
                if i == 0:  # e = I: repeated eigenvalues, only their symmetric functions
                    loss[None] += lam.sum() + lam[0] * lam[1] * lam[2]
                else:
                    # the projector on each eigenvector does not depend on its sign
                    for k in ti.static(range(3)):
                        col = ti.Vector([vecs[0, k], vecs[1, k], vecs[2, k]])
                        loss[None] += (k + 1.0) * lam[k] + (w[k] * col.outer_product(col)).sum()

        self.kernels = {"polar": polar, "svd": svd, "sym_eig": sym_eig}


@pytest.fixture(scope="module")
def programs():
    return Decompositions(), Decompositions(ti.kernel)


def _run(prog, name, a):
    prog.a.from_numpy(a)
    with td.Tape(prog.loss):
        prog.kernels[name]()
    return prog.loss[None], prog.a.grad.to_numpy()


def test_forward_values_are_exact_and_agree_with_taichi(programs):
    tidal_prog, taichi_prog = programs
    a = _matrices()
    for prog in programs:
        prog.a.from_numpy(a)
        prog.kernels["polar"]()
    r, s = tidal_prog.out.to_numpy()[:, 0], tidal_prog.out.to_numpy()[:, 1]
    for i in range(N):
        if np.linalg.det(a[i]) > 0:
            ref_r, ref_s = scipy.linalg.polar(a[i])
            assert_close(r[i], ref_r, rtol=1e-13)
            assert_close(s[i], ref_s, rtol=1e-13)
        assert_close(np.linalg.det(r[i]), 1.0, rtol=1e-13)
        assert_close(r[i] @ s[i], a[i], rtol=1e-13)
    # Taichi's own values (its f64 SVD is accurate to about 1e-10)
    assert_close(taichi_prog.out.to_numpy()[:, :2], tidal_prog.out.to_numpy()[:, :2], rtol=1e-8)

    for prog in programs:
        prog.kernels["svd"]()
    u, sig, v = (tidal_prog.out.to_numpy()[:, k] for k in range(3))
    for i in range(N):
        assert_close(u[i] @ sig[i] @ v[i].T, a[i], rtol=1e-13)
        assert_close(u[i].T @ u[i], np.eye(3), rtol=1e-13)
        assert_close(np.sort(np.abs(np.diag(sig[i]))), np.sort(np.linalg.svd(a[i])[1]),
                     rtol=1e-13)
    assert_close(taichi_prog.out.to_numpy(), tidal_prog.out.to_numpy(), rtol=1e-8)

    for prog in programs:
        prog.kernels["sym_eig"]()
    lam, vecs = tidal_prog.values.to_numpy(), tidal_prog.out.to_numpy()[:, 0]
    for i in range(N):
        e = a[i] @ a[i].T
        assert_close(np.sort(lam[i]), np.linalg.eigvalsh(e), rtol=1e-13)
        assert_close(e @ vecs[i], vecs[i] * lam[i], rtol=1e-12)
    assert_close(taichi_prog.values.to_numpy(), lam, rtol=1e-8)


@pytest.mark.parametrize("name", ["polar", "svd", "sym_eig"])
def test_gradients_equal_central_differences(programs, name):
    prog = programs[0]
    a = _matrices()
    _, grad = _run(prog, name, a)
    h = 1e-6
    fd = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += h
        am[idx] -= h
        fd[idx] = (_run(prog, name, ap)[0] - _run(prog, name, am)[0]) / (2 * h)
    assert_close(grad, fd, rtol=1e-6, what=name)


def test_polar_rotation_at_the_identity_moves_by_the_skew_part():
    """d/dF R(F) at F = I is dF -> (dF - dF^T) / 2 (what an MPM step differentiates)."""
    a = ti.Matrix.field(3, 3, ti.f64, shape=(), needs_grad=True)
    w = ti.Matrix.field(3, 3, ti.f64, shape=())
    loss = ti.field(ti.f64, shape=(), needs_grad=True)
    weights = np.arange(9.0).reshape(3, 3) - 4.0
    w.from_numpy(weights)
    a.from_numpy(np.eye(3))

    @td.kernel
    def rotation():
        r, s = ti.polar_decompose(a[None])
        loss[None] = (w[None] * r).sum()

    with td.Tape(loss):
        rotation()
    assert_close(a.grad.to_numpy(), (weights - weights.T) / 2, rtol=1e-12)
