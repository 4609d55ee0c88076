"""The Burgers PINN of Raissi et al. on the tidal engine: loss and parameter gradient.

The residual ``u_t + u u_x - nu u_xx`` is written once in a kernel over collocation points;
``u_x`` and ``u_xx`` come from one Taylor-mode pass of the network along ``x`` (``td.taylor``),
``u_t`` from one forward-mode pass along ``t`` (``td.jvp``), and the gradient with respect to
every network parameter from ``td.Tape`` (the generated adjoint kernels).

Guarantee: :meth:`BurgersLoss.value_and_grad` returns the loss
``mean(r^2 over collocation points) + mean((u - u_b)^2 over initial/boundary points)`` and its
exact gradient (to the arithmetic's precision) with respect to :meth:`MLP.get_flat` order.
"""

import math

import numpy as np
import taichi as ti

import tidal as td
from tidal.dsl.errors import TidalArgumentError
from tidal.solvers.network import MLP


class BurgersLoss:
    """PINN loss of ``u_t + u u_x - nu u_xx = 0`` for a network of inputs ``(x, t)``.

    Args:
        net: an :class:`MLP` with ``in_dim == 2`` (inputs ordered ``x, t``).
        collocation: ``(n_f, 2)`` points ``(x, t)`` where the residual is penalised.
        boundary: ``(n_b, 2)`` initial/boundary points.
        boundary_values: ``(n_b,)`` values of ``u`` there.
        nu: viscosity (default ``0.01 / pi``).

    Example:
        >>> import numpy as np, tidal as td
        >>> from tidal.solvers import MLP
        >>> from tidal.solvers.burgers import BurgersLoss
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> net = MLP(2, width=4, depth=2, dtype=td.f64)
        >>> pts = np.array([[0.1, 0.5], [-0.3, 0.2]])
        >>> f = BurgersLoss(net, pts, np.array([[0.0, 0.0]]), np.array([0.0]))
        >>> value, grad = f.value_and_grad(net.get_flat())
        >>> grad.shape == (net.size,)
        True
    """

    def __init__(self, net: MLP, collocation, boundary, boundary_values,
                 nu: float = 0.01 / math.pi):
        if net.in_dim != 2:
            raise TidalArgumentError(f"the Burgers loss needs a network of 2 inputs (x, t), "
                                     f"got {net.in_dim}")
        collocation = _points(collocation, "collocation points")
        boundary = _points(boundary, "boundary points")
        values = np.asarray(boundary_values, dtype=np.float64).reshape(-1)
        if values.shape != (len(boundary),):
            raise TidalArgumentError(f"{len(boundary)} boundary points but {values.size} "
                                     f"boundary values")
        self.net, self.nu = net, float(nu)
        real = net.dtype
        self.zf = ti.Vector.field(2, real, shape=len(collocation))
        self.zb = ti.Vector.field(2, real, shape=len(boundary))
        self.ub = ti.field(real, shape=len(boundary))
        self.loss = ti.field(real, shape=(), needs_grad=True)
        store = np.float32 if real == td.f32 else np.float64
        self.zf.from_numpy(collocation.astype(store))
        self.zb.from_numpy(boundary.astype(store))
        self.ub.from_numpy(values.astype(store))
        self._kernels = self._build(len(collocation), len(boundary))

    def _build(self, nf: int, nb: int):
        u = self.net.func
        along_x = td.taylor(u, order=2, argnums=0)  # (u, u_x, u_xx) along a direction
        tangent = td.jvp(u)  # (u, directional derivative)
        zf, zb, ub, loss, nu = self.zf, self.zb, self.ub, self.loss, self.nu
        wf, wb = 1.0 / nf, 1.0 / nb

        @td.kernel
        def residual():
            for i in range(nf):
                z = zf[i]
                c = along_x(z, ti.Vector([1.0, 0.0]))
                _, ut = tangent(z, ti.Vector([0.0, 1.0]))
                r = ut + c[0] * c[1] - nu * c[2]
                loss[None] += wf * r * r

        @td.kernel
        def conditions():
            for i in range(nb):
                e = u(zb[i]) - ub[i]
                loss[None] += wb * e * e

        return residual, conditions

    def value_and_grad(self, flat) -> tuple[float, np.ndarray]:
        """Loss and gradient (float64 arrays) at parameters ``flat``."""
        self.net.set_flat(flat)
        self.loss[None] = 0.0
        with td.Tape(self.loss):
            for kernel in self._kernels:
                kernel()
        return float(self.loss[None]), self.net.grad_flat()

    def value(self, flat) -> float:
        """The loss alone at parameters ``flat``."""
        self.net.set_flat(flat)
        self.loss[None] = 0.0
        for kernel in self._kernels:
            kernel()
        return float(self.loss[None])


def _points(p, what: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise TidalArgumentError(f"{what} must have shape (n, 2) with n > 0, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise TidalArgumentError(f"{what} contain NaN or inf")
    return p
