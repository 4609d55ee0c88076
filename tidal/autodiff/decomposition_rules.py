"""Derivative rules of the 3x3 decompositions (``polar3``, ``svd3``, ``sym_eig3``).

The forward values come from Taichi's iterative algorithms; the rules differentiate the
decompositions themselves (what the iterations converge to), in closed form, so they hold
wherever the decomposition is differentiable, including where an iteration's own derivative is
not (the polar decomposition of a matrix with repeated singular values, such as the identity
every MPM particle starts from):

* polar ``A = R S``: with ``M = R^T dA``, the rotation's generator ``w`` solves
  ``(tr(S) I - S) w = axial(M)``; ``dR = R hat(w)``, ``dS = M - hat(w) S``;
* SVD ``A = U Sigma V^T`` (signed singular values ``s``): with ``P = U^T dA V``,
  ``dSigma = diag(P)``, ``dU = U (C o (P + P^T) + D o (P - P^T))``,
  ``dV = V (C o (P + P^T) - D o (P - P^T))``, ``C_ij = 1 / (2 (s_j - s_i))``,
  ``D_ij = 1 / (2 (s_j + s_i))``. Where two singular values are equal, the rotation within
  their subspace is arbitrary and its term (``C_ij``) is taken as zero: quantities that do not
  depend on that choice (``U V^T``, ``U Sigma V^T``, ``Sigma``) get their true derivatives;
* symmetric eigenproblem of ``E`` (the symmetric matrix with ``A``'s upper triangle, which is
  what Taichi's solver reads): with ``P = V^T dE V``, ``dlambda = diag(P)``,
  ``dV = V (F o P)``, ``F_ij = 1 / (lambda_j - lambda_i)`` (zero for equal eigenvalues, as
  above).

Each VJP rule is its JVP rule transposed by hand; Taylor rules integrate the JVP rules along the
series (:func:`tidal.autodiff.rules.taylor_from_jvp`), so every order and mode is available.
"""

from __future__ import annotations

from tidal.autodiff import rules
from tidal.dsl import ir
from tidal.dsl import primitives as P
from tidal.dsl.types import TType

_N = 3


def _scalar(x) -> TType:
    return TType(x.type.dtype)


def _matrix(rows):
    return P.make(*[x for row in rows for x in row], shape=(_N, _N))


def _identity(like):
    return ir.Const(tuple(tuple(1.0 if i == j else 0.0 for j in range(_N)) for i in range(_N)),
                    TType(like.type.dtype, (_N, _N)))


def _hat(w):
    """The skew matrix of the cross product with ``w``."""
    zero = ir.Zero(_scalar(w))
    return P.make(zero, -w[2], w[1], w[2], zero, -w[0], -w[1], w[0], zero, shape=(_N, _N))


def _axial(m):
    """``vee(m - m^T)``; also the transpose of :func:`_hat` (``<x, hat(w)> = <axial(x), w>``)."""
    return P.make(m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1], shape=(_N,))


def _weights(values, combine):
    """The matrix ``W_ij = 1 / denominator`` off the diagonal and zero on it, where
    ``combine(values_i, values_j)`` gives ``(condition for a zero weight, denominator)``."""
    t = values[0].type
    zero, one = ir.Zero(t), ir.Const(1.0, t)
    rows = []
    for i in range(_N):
        row = []
        for j in range(_N):
            if i == j:
                row.append(zero)
                continue
            singular, denominator = combine(values[i], values[j])
            row.append(P.select(singular, zero, one / P.select(singular, one, denominator)))
        rows.append(row)
    return _matrix(rows)


def _diagonal_matrix(values):
    zero = ir.Zero(values[0].type)
    return _matrix([[values[i] if i == j else zero for j in range(_N)] for i in range(_N)])


# -- polar decomposition ---------------------------------------------------------------------------


def _polar_solve_matrix(s):
    return (s[0, 0] + s[1, 1] + s[2, 2]) * _identity(s) - s


def _polar_jvp(p, o, t, attrs):
    (da,) = t
    r, s = o
    m = P.transpose(r) @ da
    w = _inverse3(_polar_solve_matrix(s)) @ _axial(m)
    omega = _hat(w)
    return r @ omega, m - omega @ s


def _polar_vjp(p, o, c, attrs):
    r, s = o
    r_bar, s_bar = c
    omega_bar = P.transpose(r) @ r_bar - s_bar @ s
    k_bar = _inverse3(_polar_solve_matrix(s)) @ _axial(omega_bar)  # the matrix is symmetric
    return (r @ (s_bar + _hat(k_bar)),)


def _inverse3(m):
    from tidal.dsl import library

    return library.inverse(m)


# -- singular value decomposition ------------------------------------------------------------------


def _svd_weights(sigma):
    s = [sigma[i, i] for i in range(_N)]
    c = _weights(s, lambda si, sj: (P.eq(si, sj), 2.0 * (sj - si)))
    d = _weights(s, lambda si, sj: (P.eq(si, -sj), 2.0 * (sj + si)))
    return c, d


def _svd_jvp(p, o, t, attrs):
    (da,) = t
    u, sigma, v = o
    pm = P.transpose(u) @ da @ v
    c, d = _svd_weights(sigma)
    sym = c * (pm + P.transpose(pm))
    skew = d * (pm - P.transpose(pm))
    return (u @ (sym + skew), _diagonal_matrix([pm[i, i] for i in range(_N)]),
            v @ (sym - skew))


def _svd_vjp(p, o, c_, attrs):
    u, sigma, v = o
    u_bar, sigma_bar, v_bar = c_
    c, d = _svd_weights(sigma)
    ou, ov = P.transpose(u) @ u_bar, P.transpose(v) @ v_bar
    x = c * (ou + ov)
    y = d * (ou - ov)
    p_bar = (_diagonal_matrix([sigma_bar[i, i] for i in range(_N)]) + x + P.transpose(x)
             + y - P.transpose(y))
    return (u @ p_bar @ P.transpose(v),)


# -- symmetric eigenproblem ----------------------------------------------------------------------


def _upper_symmetric(a):
    """The symmetric matrix with ``a``'s upper triangle (what Taichi's solver reads)."""
    return _matrix([[a[min(i, j), max(i, j)] for j in range(_N)] for i in range(_N)])


def _eig_weights(values):
    return _weights([values[i] for i in range(_N)], lambda li, lj: (P.eq(li, lj), lj - li))


def _sym_eig_jvp(p, o, t, attrs):
    (da,) = t
    values, vectors = o
    pm = P.transpose(vectors) @ _upper_symmetric(da) @ vectors
    return (P.make(*[pm[i, i] for i in range(_N)], shape=(_N,)),
            vectors @ (_eig_weights(values) * pm))


def _sym_eig_vjp(p, o, c, attrs):
    values, vectors = o
    values_bar, vectors_bar = c
    p_bar = _eig_weights(values) * (P.transpose(vectors) @ vectors_bar)
    e_bar = vectors @ (p_bar + _diagonal_matrix([values_bar[i] for i in range(_N)])) \
        @ P.transpose(vectors)
    # dE = triu(dA) + triu(dA, 1)^T: the upper entries of A collect both of E's entries
    zero = ir.Zero(_scalar(e_bar))
    rows = [[e_bar[i, j] + e_bar[j, i] if i < j else e_bar[i, i] if i == j else zero
             for j in range(_N)] for i in range(_N)]
    return (_matrix(rows),)


for _prim, _jvp, _vjp in ((P.polar3, _polar_jvp, _polar_vjp), (P.svd3, _svd_jvp, _svd_vjp),
                          (P.sym_eig3, _sym_eig_jvp, _sym_eig_vjp)):
    rules.JVP[_prim] = _jvp
    rules.VJP[_prim] = _vjp
    rules.TAYLOR[_prim] = rules.taylor_from_jvp(_jvp)
