"""An FNO's mode mixing ``y[b, k, o] = sum_c R[k, o, c] x[b, k, c]`` (complex) writing the
inverse DFTs' channel blocks, with its adjoint written out as kernels.

The mixing reads the forward DFT's output one number per channel (``x``: ``(fields, modes, (re,
im), channels)``) and writes blocks of ``B`` output channels (``yb``: ``(fields, S1 modes,
S2 modes, (re, im), blocks)``, ``B`` = 16 float32 or 8 float64 values, one 512-bit SIMD
register), compiled with ``td.kernel(simd_vectors=True)``: per input channel, the two parts of
``x`` times the weights' column ``R[k, :, c]`` as blocks (``rcol``), four vector multiply-adds.

Its adjoint is written as kernels for the reason :mod:`tidal.surrogates.fno_dense` gives: the
gradient in ``x`` is the transposed product, which needs the weights' rows as blocks (``rrow``),
and the weight gradient summed over the fields belongs in one thread per ``(mode, block)``:

* :func:`weight_adjoint` (parallel over modes and output blocks): ``rcol``'s gradient
  ``sum_b conj(x[b, k, c]) ybar[b, k]``, added;
* :func:`input_adjoint` (parallel over modes): ``xbar[c] = sum_o conj(R[k, o, c])
  ybar[o]`` with the rows as blocks, stored, and ``ybar`` zeroed (as a generated adjoint of a
  ``=`` write does).

:class:`MixWeights` copies the spectral weights (a Taichi field, part of the flat parameter
vector) into ``rcol`` and ``rrow`` before a forward pass, one kernel whose loops each write
elements that only their own iteration reads from the field, so that its generated adjoint
(``rcol``'s gradient added into the field's) has no atomic add; ``rrow`` needs no gradient.

Guarantees: forward and adjoint equal the complex products as written to rounding
(``tests/test_fno.py`` checks outputs against NumPy's FFT formulation and gradients against
central differences, with widths that leave lanes of the last block unused).
"""

# No `from __future__ import annotations`: Taichi reads the kernels' annotations as objects.
import taichi as ti

import tidal as td
from tidal.surrogates import fno_dense


class MixWeights(fno_dense.BlockCopy):
    """The spectral weights ``R`` (``(layers, modes, out, in, 2)``) as blocks:
    ``rcol[layer, k, c, part, ob][j] = R[layer, k, ob B + j, c, part]`` (with a gradient) and
    ``rrow[layer, k, o, part, cb][j] = R[layer, k, o, cb B + j, part]`` (zero past the width).

    Calling it copies the field into the blocks (see
    :class:`~tidal.surrogates.fno_dense.BlockCopy`).

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> R = ti.field(td.f64, shape=(1, 2, 3, 3, 2), needs_grad=True)
        >>> MixWeights(R, td.f64, 8).rcol.shape
        (1, 2, 3, 2, 1)
    """

    def __init__(self, R, real, block: int):
        layers, modes, w = R.shape[0], R.shape[1], R.shape[2]
        self.block, self.blocks, self.width = block, -(-w // block), w
        vec = ti.types.vector(block, real)
        nb, B = self.blocks, block
        self.rcol = ti.ndarray(vec, shape=(layers, modes, w, 2, nb), needs_grad=True)
        self.rrow = ti.ndarray(vec, shape=(layers, modes, w, 2, nb))
        ndv5 = ti.types.ndarray(dtype=vec, ndim=5)

        @td.kernel(simd_vectors=True)
        def pack_mix(rcol: ndv5, rrow: ndv5):
            for layer, k, c in ti.ndrange(layers, modes, w):  # column c of every output block
                for t in ti.static(range(2)):
                    for ob in ti.static(range(nb)):
                        blk = ti.Vector.zero(real, B)
                        for j in ti.static(range(B)):
                            if ti.static(ob * B + j < w):
                                blk[j] = R[layer, k, ob * B + j, c, t]
                        rcol[layer, k, c, t, ob] = blk
            for layer, k, o in ti.ndrange(layers, modes, w):  # row o, by input blocks
                for t in ti.static(range(2)):
                    for cb in ti.static(range(nb)):
                        blk = ti.Vector.zero(real, B)
                        for j in ti.static(range(B)):
                            if ti.static(cb * B + j < w):
                                blk[j] = R[layer, k, o, cb * B + j, t]
                        rrow[layer, k, o, t, cb] = blk

        super().__init__("pack_mix", pack_mix, (self.rcol, self.rrow))


class ModeMixing:
    """The mode mixing on blocks, called as a forward kernel ``mixing(x, yb, layer, xbar)``
    (``x``'s channels padded with zeros to a multiple of four) and
    differentiated by ``mixing.grad(x, yb, layer, xbar, wrt=None)``: ``x``'s gradient set into
    ``xbar`` and, unless ``wrt`` is given, the weights' (added).

    ``m2``: the kept modes of the last axis (mode ``k`` is ``yb[:, k // m2, k % m2]``).
    ``xbar``: ``x.grad`` itself, or with ``gradient_blocks`` an array of ``yb``'s layout, the
    gradient in blocks (a whole SIMD vector stored at a time; what the transposed first-axis
    DFT reads, see :class:`tidal.surrogates.fno.Batch`).

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> R = ti.field(td.f64, shape=(1, 2, 3, 3, 2), needs_grad=True)
        >>> ModeMixing(MixWeights(R, td.f64, 8), td.f64, m2=2, gradient_blocks=True).__name__
        'mix'
    """

    def __init__(self, weights: MixWeights, real, m2: int, gradient_blocks: bool = False):
        self.weights, self.__name__ = weights, "mix"
        B, nb, w = weights.block, weights.blocks, weights.width
        vec = ti.types.vector(B, real)
        nd4 = ti.types.ndarray(dtype=real, ndim=4)
        ndv5 = ti.types.ndarray(dtype=vec, ndim=5)
        xbar_type = ndv5 if gradient_blocks else nd4

        @td.func
        def product(x: ti.template(), rcol: ti.template(), layer: ti.i32, b: ti.i32,
                    k: ti.i32, c: ti.i32, ob: ti.i32, yr: vec, yi: vec):
            xr = x[b, k, 0, c]
            xi = x[b, k, 1, c]
            wr = rcol[layer, k, c, 0, ob]
            wi = rcol[layer, k, c, 1, ob]
            return yr + xr * wr - xi * wi, yi + xr * wi + xi * wr

        @td.kernel(simd_vectors=True)
        def mix_forward(x: nd4, yb: ndv5, rcol: ndv5, layer: ti.i32):
            # the channels in four interleaved sums (one sum waits for each multiply-add
            # before the next: one field at width 64, float32, 2026-12-07)
            for k, ob in ti.ndrange(x.shape[1], nb):
                for b in range(x.shape[0]):
                    yr0 = ti.Vector.zero(real, B)
                    yi0 = ti.Vector.zero(real, B)
                    yr1 = ti.Vector.zero(real, B)
                    yi1 = ti.Vector.zero(real, B)
                    yr2 = ti.Vector.zero(real, B)
                    yi2 = ti.Vector.zero(real, B)
                    yr3 = ti.Vector.zero(real, B)
                    yi3 = ti.Vector.zero(real, B)
                    for cg in range(w // 4):
                        c = cg * 4
                        yr0, yi0 = product(x, rcol, layer, b, k, c, ob, yr0, yi0)
                        yr1, yi1 = product(x, rcol, layer, b, k, c + 1, ob, yr1, yi1)
                        yr2, yi2 = product(x, rcol, layer, b, k, c + 2, ob, yr2, yi2)
                        yr3, yi3 = product(x, rcol, layer, b, k, c + 3, ob, yr3, yi3)
                    for c in ti.static(range(w - w % 4, w)):
                        yr0, yi0 = product(x, rcol, layer, b, k, c, ob, yr0, yi0)
                    yb[b, k // m2, k % m2, 0, ob] = (yr0 + yr1) + (yr2 + yr3)
                    yb[b, k // m2, k % m2, 1, ob] = (yi0 + yi1) + (yi2 + yi3)

        @td.kernel(simd_vectors=True)
        def weight_adjoint(x: nd4, yb_grad: ndv5, rcol_grad: ndv5, layer: ti.i32):
            for k, ob in ti.ndrange(x.shape[1], nb):
                k1 = k // m2
                k2 = k % m2
                # four channels at a time: ybar read once for four (x holds whole groups of
                # four channels, those past the width zero)
                for cg in range(-(-w // 4)):
                    c = cg * 4
                    r0 = ti.Vector.zero(real, B)
                    r1 = ti.Vector.zero(real, B)
                    r2 = ti.Vector.zero(real, B)
                    r3 = ti.Vector.zero(real, B)
                    i0 = ti.Vector.zero(real, B)
                    i1 = ti.Vector.zero(real, B)
                    i2 = ti.Vector.zero(real, B)
                    i3 = ti.Vector.zero(real, B)
                    for b in range(x.shape[0]):
                        gr = yb_grad[b, k1, k2, 0, ob]
                        gi = yb_grad[b, k1, k2, 1, ob]
                        xr = x[b, k, 0, c]
                        xi = x[b, k, 1, c]
                        r0 += xr * gr + xi * gi
                        i0 += xr * gi - xi * gr
                        xr = x[b, k, 0, c + 1]
                        xi = x[b, k, 1, c + 1]
                        r1 += xr * gr + xi * gi
                        i1 += xr * gi - xi * gr
                        xr = x[b, k, 0, c + 2]
                        xi = x[b, k, 1, c + 2]
                        r2 += xr * gr + xi * gi
                        i2 += xr * gi - xi * gr
                        xr = x[b, k, 0, c + 3]
                        xi = x[b, k, 1, c + 3]
                        r3 += xr * gr + xi * gi
                        i3 += xr * gi - xi * gr
                    rcol_grad[layer, k, c, 0, ob] += r0
                    rcol_grad[layer, k, c, 1, ob] += i0
                    if c + 1 < w:
                        rcol_grad[layer, k, c + 1, 0, ob] += r1
                        rcol_grad[layer, k, c + 1, 1, ob] += i1
                    if c + 2 < w:
                        rcol_grad[layer, k, c + 2, 0, ob] += r2
                        rcol_grad[layer, k, c + 2, 1, ob] += i2
                    if c + 3 < w:
                        rcol_grad[layer, k, c + 3, 0, ob] += r3
                        rcol_grad[layer, k, c + 3, 1, ob] += i3

        @td.func
        def store_x(x_grad: ti.template(), b: ti.i32, k1: ti.i32, k2: ti.i32, k: ti.i32,
                    cb: ti.template(), ar: vec, ai: vec):
            if ti.static(gradient_blocks):  # (lanes past the width: zero)
                x_grad[b, k1, k2, 0, cb] = ar
                x_grad[b, k1, k2, 1, cb] = ai
            else:
                for j in ti.static(range(B)):
                    if ti.static(cb * B + j < w):
                        x_grad[b, k, 0, cb * B + j] = ar[j]
                        x_grad[b, k, 1, cb * B + j] = ai[j]

        @td.kernel(simd_vectors=True)
        def input_adjoint(yb_grad: ndv5, x_grad: xbar_type, rrow: ndv5, layer: ti.i32):
            # one thread per mode, the fields in turn: the mode's rows stay in the L1 cache (the
            # mode as two loop indices, so that each thread visibly owns the ybar it zeroes).
            # Four input blocks at a time, each its own pair of sums (one pair alone waits for
            # each multiply-add); ybar's lanes are read from memory and broadcast (a loop, not
            # unrolled: unrolled, each lane took register shuffles and the kernel 1.65-1.75x the
            # forward's time, 16 x 16, float32, 2026-12-07)
            for k1, k2 in ti.ndrange(yb_grad.shape[1], m2):
                k = k1 * m2 + k2
                for b in range(x_grad.shape[0]):
                    for cg in ti.static(range(-(-nb // 4))):
                        c0 = cg * 4
                        ar0 = ti.Vector.zero(real, B)
                        ai0 = ti.Vector.zero(real, B)
                        ar1 = ti.Vector.zero(real, B)
                        ai1 = ti.Vector.zero(real, B)
                        ar2 = ti.Vector.zero(real, B)
                        ai2 = ti.Vector.zero(real, B)
                        ar3 = ti.Vector.zero(real, B)
                        ai3 = ti.Vector.zero(real, B)
                        for ob in ti.static(range(nb)):
                            gr = yb_grad[b, k1, k2, 0, ob]
                            gi = yb_grad[b, k1, k2, 1, ob]
                            for j in range(ti.min(B, w - ob * B)):
                                o = ob * B + j
                                grj = gr[j]
                                gij = gi[j]
                                rr = rrow[layer, k, o, 0, c0]
                                ri = rrow[layer, k, o, 1, c0]
                                ar0 += grj * rr + gij * ri
                                ai0 += gij * rr - grj * ri
                                if ti.static(c0 + 1 < nb):
                                    rr = rrow[layer, k, o, 0, c0 + 1]
                                    ri = rrow[layer, k, o, 1, c0 + 1]
                                    ar1 += grj * rr + gij * ri
                                    ai1 += gij * rr - grj * ri
                                if ti.static(c0 + 2 < nb):
                                    rr = rrow[layer, k, o, 0, c0 + 2]
                                    ri = rrow[layer, k, o, 1, c0 + 2]
                                    ar2 += grj * rr + gij * ri
                                    ai2 += gij * rr - grj * ri
                                if ti.static(c0 + 3 < nb):
                                    rr = rrow[layer, k, o, 0, c0 + 3]
                                    ri = rrow[layer, k, o, 1, c0 + 3]
                                    ar3 += grj * rr + gij * ri
                                    ai3 += gij * rr - grj * ri
                        store_x(x_grad, b, k1, k2, k, c0, ar0, ai0)
                        if ti.static(c0 + 1 < nb):
                            store_x(x_grad, b, k1, k2, k, c0 + 1, ar1, ai1)
                        if ti.static(c0 + 2 < nb):
                            store_x(x_grad, b, k1, k2, k, c0 + 2, ar2, ai2)
                        if ti.static(c0 + 3 < nb):
                            store_x(x_grad, b, k1, k2, k, c0 + 3, ar3, ai3)
                    for ob in ti.static(range(nb)):
                        yb_grad[b, k1, k2, 0, ob] = ti.Vector.zero(real, B)
                        yb_grad[b, k1, k2, 1, ob] = ti.Vector.zero(real, B)

        self._forward, self._input_adjoint = mix_forward, input_adjoint
        self._weight_adjoint = weight_adjoint

    def __call__(self, x, yb, layer: int, xbar) -> None:
        self._forward(x, yb, self.weights.rcol, layer)

    def grad(self, x, yb, layer: int, xbar, wrt=None) -> None:
        """The adjoint: ``yb.grad`` into ``xbar`` (set), ``yb.grad`` zeroed; with ``wrt=None``
        first the weights' block gradient (added)."""
        if wrt is None:
            self._weight_adjoint(x, yb.grad, self.weights.rcol.grad, layer)
        self._input_adjoint(yb.grad, xbar, self.weights.rrow, layer)


__all__ = ["MixWeights", "ModeMixing"]
