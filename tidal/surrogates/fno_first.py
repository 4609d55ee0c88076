"""A 1-D FNO's first Fourier layer computed from its input channels, for passes that hold the
parameters constant.

The lifting is affine in the inputs, ``v0 = P_a a + (P_x x + p)`` (``a`` the input channels,
``x`` the grid coordinate), and so is everything in the first layer before its activation:

``pre0 = W0 v0 + b0 + IDFT(R0 DFT(v0)) = u a + IDFT(U DFT(a)) + c``

with ``u = W0 P_a`` (width x input channels), ``U[k] = R0[k] P_a`` (per kept mode) and ``c`` the
same layer's pre-activation for inputs that are zero everywhere (one field of the grid). Where
the layered pass lifts ``a`` to 64 channels, takes their DFT, mixes them and multiplies every
point by ``W0`` (64 x 64), this takes the DFT of the input channel alone, multiplies each mode by
``U`` and each point by ``u``: for one field at width 64 the pass loses a quarter of its
multiply-adds (the first dense layer and its adjoint, a 64-channel DFT and its adjoint, a mode
mixing and its adjoint). The inverse DFT that follows is the layered pass's own kernel.

``u``, ``U`` and ``c`` are computed in float64 with NumPy from the parameters (:func:`constants`,
``c`` by NumPy's FFT) whenever the parameters have moved (:meth:`FirstLayer.update`), and stored
in the model's precision. The parameters' gradients cannot be taken through this form: batches
that use it refuse them (:class:`tidal.surrogates.fno.Batch`).

Kernels (``td.kernel``; those on channel blocks with ``simd_vectors=True``), each with its
adjoint written as a kernel (launched by :class:`tidal.surrogates.fno_dense.Launch`):

* ``input_modes``: ``ah[b, k, (re, im), i]``, the kept modes of input channel ``i``, from
  tables over every point; adjoint: the transposed sums added into the inputs' gradient;
* ``mix_inputs``: ``y[k] = sum_i ah_i[k] U_i[k]`` into the inverse DFT's blocks; adjoint: the
  conjugate products summed over the channels (one horizontal sum per block);
* ``first_dense``: ``act(u a + c + spec)`` and the activation's derivative, as the dense layer
  leaves them; adjoint: ``g = nbar act'``, the spectral part's gradient set, ``u . g`` added
  into the inputs' gradient, ``nbar`` zeroed.

Guarantees: outputs and input gradients equal the layered pass's to rounding
(``tests/test_fno.py`` compares the two, and the input gradient with central differences).
"""

# No `from __future__ import annotations`: Taichi reads the kernels' annotations as objects.
import numpy as np
import taichi as ti

import tidal as td
from tidal.surrogates import fno_dense


def constants(model, grid: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, U, c)`` of the module docstring for a 1-D FNO on ``grid`` ``(S,)``, float64:
    ``u`` ``(in_channels, width)``, ``U`` ``(in_channels, modes, width)`` complex and ``c``
    ``(S, width)``.

    Example:
        >>> import tidal as td
        >>> from tidal.surrogates import FNO
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> [a.shape for a in constants(FNO(1, 3, width=4, layers=2), (8,))]
        [(1, 4), (1, 3, 4), (8, 4)]
    """
    P, pb, R, W, Wb = model.split()[:5]
    cin, (s,), m2 = model.in_channels, grid, model.modes[0]
    pa, px = P[:, :cin], P[:, cin:]
    x = np.linspace(0.0, 1.0, s)  # (the grid coordinate the lifting is given)
    v0 = x[:, None] * px[:, 0][None, :] + pb[None, :]  # the lift of zero inputs, (S, w)
    r0 = R[0, ..., 0] + 1j * R[0, ..., 1]  # (modes, out, in)
    modes = np.zeros((s // 2 + 1, v0.shape[1]), dtype=complex)
    modes[:m2] = np.einsum("koc,kc->ko", r0, np.fft.rfft(v0, axis=0)[:m2])
    c = v0 @ W[0].T + Wb[0] + np.fft.irfft(modes, n=s, axis=0)
    return (W[0] @ pa).T, np.einsum("koc,ci->iko", r0, pa), c


def kernels(model, act, real, block: int) -> dict:
    """The composed first layer's kernels for ``model`` (its width, input channels, kept modes
    and activation), on channel blocks of ``block`` values."""
    B, w, cin, m2 = block, model.width, model.in_channels, model.modes[0]
    nb = -(-w // B)
    vec = ti.types.vector(B, real)
    nd2 = ti.types.ndarray(dtype=real, ndim=2)
    nd3 = ti.types.ndarray(dtype=real, ndim=3)
    nd4 = ti.types.ndarray(dtype=real, ndim=4)
    ndv2 = ti.types.ndarray(dtype=vec, ndim=2)
    ndv4 = ti.types.ndarray(dtype=vec, ndim=4)
    ndv5 = ti.types.ndarray(dtype=vec, ndim=5)
    act_tangent = td.jvp(fno_dense.block_activation(model.activation, act, real, B))

    @td.kernel
    def input_modes(a: nd3, cos_t: nd2, sin_t: nd2, ah: nd4):
        for b, k, i in ti.ndrange(a.shape[0], m2, cin):
            re = ti.cast(0.0, real)
            im = ti.cast(0.0, real)
            for p in range(a.shape[1]):
                re += a[b, p, i] * cos_t[p, k]
                im += a[b, p, i] * sin_t[p, k]
            ah[b, k, 0, i] = re
            ah[b, k, 1, i] = im

    @td.kernel
    def input_modes_transposed(ah_grad: nd4, cos_t: nd2, sin_t: nd2, a_grad: nd3):
        for b, p, i in ti.ndrange(a_grad.shape[0], a_grad.shape[1], cin):
            s = ti.cast(0.0, real)
            for k in range(m2):
                s += ah_grad[b, k, 0, i] * cos_t[p, k] + ah_grad[b, k, 1, i] * sin_t[p, k]
            a_grad[b, p, i] += s

    @td.kernel(simd_vectors=True)
    def mix_inputs(ah: nd4, ublk: ndv4, yb: ndv5):
        for b, k, ob in ti.ndrange(ah.shape[0], m2, nb):
            yr = ti.Vector.zero(real, B)
            yi = ti.Vector.zero(real, B)
            for i in ti.static(range(cin)):
                ar = ah[b, k, 0, i]
                ai = ah[b, k, 1, i]
                ur = ublk[i, k, 0, ob]
                ui = ublk[i, k, 1, ob]
                yr += ar * ur - ai * ui
                yi += ar * ui + ai * ur
            yb[b, 0, k, 0, ob] = yr
            yb[b, 0, k, 1, ob] = yi

    @td.kernel(simd_vectors=True)
    def mix_inputs_transposed(yb_grad: ndv5, ublk: ndv4, ah_grad: nd4):
        for b, k, i in ti.ndrange(ah_grad.shape[0], m2, cin):
            sr = ti.Vector.zero(real, B)
            si = ti.Vector.zero(real, B)
            for ob in ti.static(range(nb)):
                gr = yb_grad[b, 0, k, 0, ob]
                gi = yb_grad[b, 0, k, 1, ob]
                ur = ublk[i, k, 0, ob]
                ui = ublk[i, k, 1, ob]
                sr += gr * ur + gi * ui
                si += gi * ur - gr * ui
            ah_grad[b, k, 0, i] = sr.sum()
            ah_grad[b, k, 1, i] = si.sum()

    @td.kernel(simd_vectors=True)
    def first_dense(a: nd3, sb: ndv4, c: ndv4, ucol: ndv2, nxt: ndv4, slope: ndv4):
        for b, i1, i2 in ti.ndrange(sb.shape[0], sb.shape[1], sb.shape[2]):
            for ob in ti.static(range(nb)):
                pre = c[0, i1, i2, ob] + sb[b, i1, i2, ob]
                for i in ti.static(range(cin)):
                    pre += a[b, i1 * sb.shape[2] + i2, i] * ucol[i, ob]
                value, tangent = act_tangent(pre, ti.Vector.one(real, B))
                nxt[b, i1, i2, ob] = value
                slope[b, i1, i2, ob] = tangent

    @td.kernel(simd_vectors=True)
    def first_dense_adjoint(nxt_grad: ndv4, sb_grad: ndv4, slope: ndv4, ucol: ndv2,
                            a_grad: nd3):
        for b, i1, i2 in ti.ndrange(sb_grad.shape[0], sb_grad.shape[1], sb_grad.shape[2]):
            for ob in ti.static(range(nb)):
                g = nxt_grad[b, i1, i2, ob] * slope[b, i1, i2, ob]
                sb_grad[b, i1, i2, ob] = g
                nxt_grad[b, i1, i2, ob] = ti.Vector.zero(real, B)
                for i in ti.static(range(cin)):
                    a_grad[b, i1 * sb_grad.shape[2] + i2, i] += (g * ucol[i, ob]).sum()

    return {"input_modes": input_modes, "input_modes_transposed": input_modes_transposed,
            "mix_inputs": mix_inputs, "mix_inputs_transposed": mix_inputs_transposed,
            "first_dense": first_dense, "first_dense_adjoint": first_dense_adjoint}


class FirstLayer:
    """A batch's storage for the composed first layer (1-D): ``u`` and ``U`` as channel blocks
    (``ucol[i, ob]``, ``ublk[i, k, (re, im), ob]``), ``c`` as the points' blocks ``(1, 1, S,
    blocks)``, the input channels' modes ``ah`` ``(fields, modes, (re, im), channels)`` and
    the tables of their DFT over every point (``cos``, ``-sin``: ``(S, modes)``).
    :meth:`update` recomputes the constants when the parameters have moved.

    Example:
        >>> import tidal as td
        >>> from tidal.surrogates import FNO
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> FirstLayer(FNO(1, 3, width=4, layers=2, dtype=td.f64), 2, (8,)).ah.shape
        (2, 3, 2, 1)
    """

    def __init__(self, model, n: int, grid: tuple, block: int = None):
        real, w, cin, m2 = model.dtype, model.width, model.in_channels, model.modes[0]
        B = block or (16 if real == td.f32 else 8)
        nb = -(-w // B)
        vec = ti.types.vector(B, real)
        self.model, self.grid, self.block, self.blocks = model, grid, B, nb
        self.ucol = ti.ndarray(vec, shape=(cin, nb))
        self.ublk = ti.ndarray(vec, shape=(cin, m2, 2, nb))
        self.c = ti.ndarray(vec, shape=(1, 1, grid[0], nb))
        self.ah = ti.ndarray(real, shape=(n, m2, 2, cin), needs_grad=True)
        angle = 2.0 * np.pi * np.arange(grid[0])[:, None] * np.arange(m2)[None, :] / grid[0]
        self.cos = ti.ndarray(real, shape=angle.shape)
        self.sin = ti.ndarray(real, shape=angle.shape)
        self.cos.from_numpy(np.cos(angle).astype(model._store))
        self.sin.from_numpy(-np.sin(angle).astype(model._store))
        self._version = None

    def update(self) -> None:
        """The constants from the current parameters, unless they have not moved since."""
        version = self.model._flat.values_version
        if version == self._version:
            return
        u, U, c = constants(self.model, self.grid)
        self.ucol.from_numpy(_blocks(u, self.block, self.blocks, self.model._store))
        ublk = np.stack([U.real, U.imag], axis=2)  # (cin, modes, 2, w)
        self.ublk.from_numpy(_blocks(ublk, self.block, self.blocks, self.model._store))
        self.c.from_numpy(_blocks(c[None, None], self.block, self.blocks, self.model._store))
        self._version = version


def _blocks(arr: np.ndarray, block: int, blocks: int, store) -> np.ndarray:
    """``arr``'s last axis (channels) as ``blocks`` blocks of ``block`` lanes, zero past the
    width: ``(..., blocks, block)``."""
    out = np.zeros((*arr.shape[:-1], blocks * block), dtype=store)
    out[..., :arr.shape[-1]] = arr
    return out.reshape(*arr.shape[:-1], blocks, block)


__all__ = ["FirstLayer", "constants", "kernels"]
