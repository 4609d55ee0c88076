"""An FNO's pointwise layers ``nxt = [act](W v + b + spec)`` on channel blocks, with their
adjoint written out as kernels.

The Fourier layers' values live in blocks of ``B`` channels per grid point (an ndarray of
``B``-vectors, one 512-bit SIMD register: 16 float32 or 8 float64 values), the layout the
spectral convolution's DFTs read and write. Here the dense part of a layer works on the same
blocks, compiled with ``td.kernel(simd_vectors=True)``: each output block is the bias block plus
the spectral block plus ``sum_c W[:, c] v[c]``, one vector multiply-add per input channel with
the weights' columns as blocks (``wcol[layer, c, ob]``), four points per thread (each weight block
loaded once for four).

Its adjoint is not generated. The generated adjoint of that loop would sum each input channel's
gradient across the lanes of ``W[:, c] * g`` (a horizontal sum per channel) and add the weight
gradients of every point into shared blocks (atomic adds, which Taichi's vector mode cannot
compile whole: 20 ms per layer instead of 1). The transposed product needs the weights' rows as
blocks (``wrow[layer, o, cb]``), which no transformation of the forward loop can introduce, so
the two halves of the adjoint are written as forward kernels of their own:

* :func:`input_adjoint` (parallel over points): stores ``g = nbar * act'(pre)`` (the
  spectral part's gradient and a scratch copy; ``act'(pre)`` as the forward pass left it), adds
  ``sum_o g[o] wrow[o]`` into the input blocks' gradient and zeroes ``nbar`` (as a generated
  adjoint of a ``=`` write does, so a finished backward pass leaves every intermediate's gradient
  zero);
* :func:`weight_adjoint` (parallel over groups of four outputs and input blocks): the weight
  gradient ``sum_p g[p][o] v[p][cb]`` into ``wrow``'s gradient and the bias gradient
  ``sum_p g[p]`` into the bias blocks'.

:class:`DenseWeights` copies ``W`` and ``b`` (Taichi fields, the flat parameter vector's
storage) into the blocks before a forward pass (a ``td.kernel``); its generated adjoint adds the
blocks' gradients back into the fields' ``.grad``. Measured 2026-12-07 at 16 x 16, width 32,
20 fields, float32, one layer: forward 0.29-0.33 ms against 0.40-0.42 for the same layer with
points in SIMD lanes (``td.kernel(vectorise=True)``, its adjoint generated), adjoint 0.56-0.75 ms
against 1.2-1.5 ms.

Guarantees: forward and adjoint equal the layer as written in plain scalar code to rounding
(``tests/test_fno.py`` checks outputs against NumPy's FFT formulation and gradients against
central differences); lanes past ``width`` in the last block are never read as channels, and
their gradients stay zero.
"""

# No `from __future__ import annotations`: Taichi reads the kernels' annotations as objects.
import math

import taichi as ti

import tidal as td

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def block_activation(activation, act, real, block: int):
    """The activation applied to a block of ``block`` values, as a tidal function of one
    vector: GELU and tanh as one SIMD computation, any other activation lane by lane with the
    model's function ``act``.

    Example:
        >>> import tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> block_activation("gelu", None, td.f64, 8).name
        'gelu_block'
    """
    vec = ti.types.vector(block, real)
    if activation == "gelu":
        @td.func
        def gelu_block(a: vec) -> vec:
            return 0.5 * a * (1.0 + ti.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a * a * a)))

        return gelu_block
    if activation == "tanh":
        @td.func
        def tanh_block(a: vec) -> vec:
            return ti.tanh(a)

        return tanh_block

    @td.func
    def act_block(a: vec) -> vec:
        out = ti.Vector.zero(real, block)
        for j in ti.static(range(block)):
            out[j] = act(a[j])
        return out

    return act_block


class Launch:
    """A kernel launch whose adjoint is launched as another kernel, for a batch's plan
    (:class:`tidal.surrogates.fno.Batch`): calling it runs ``forward(*args)``, its ``grad``
    runs ``adjoint(*adjoint_args)`` (no parameters: ``wrt`` changes nothing).

    The DFTs' adjoints are so, each the transposed map (the other direction's DFT kernel with
    the transposed tables): a generated adjoint of a DFT adds each point's or frequency's
    contribution into the input's gradient as it goes (a read, an add and a write of a block
    per table entry), the transposed DFT keeps its sums in registers and writes each block
    once (the forward first-axis DFT's in 2-D: 1.2-1.7 -> 0.6-0.8 ms for the four layers of a
    16 x 16 batch of 20; the forward last-axis DFT's in its quarter form: 19-27 -> 7 us a
    layer for one 1-D field at width 64; float32, 2026-12-07).

    Example:
        >>> Launch(print, ("forward",), print, ("adjoint",)).__name__
        'print'
    """

    def __init__(self, forward, args, adjoint, adjoint_args):
        self.__name__ = forward.__name__
        self._forward, self._args = forward, args
        self._adjoint, self._adjoint_args = adjoint, adjoint_args

    def __call__(self) -> None:
        self._forward(*self._args)

    def grad(self, wrt=None) -> None:
        self._adjoint(*self._adjoint_args)


class BlockCopy:
    """The launch of a copy of parameter fields into blocks, ``kernel(*arrays)``, as a
    :class:`~tidal.surrogates.fno.Batch` plan entry: calling it copies; its ``grad`` is the
    copy's generated adjoint (the blocks' gradients added into the fields' ``.grad``, and
    zeroed), skipped when ``wrt`` is given (a pass that wants no parameter gradient).

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> P = ti.field(td.f64, shape=(3, 3), needs_grad=True)
        >>> p = ti.field(td.f64, shape=3, needs_grad=True)
        >>> Lifting(P, p, 1, td.f64, 8).pack.__name__
        'pack_lift'
    """

    def __init__(self, name: str, kernel, arrays: tuple):
        self.__name__, self._kernel, self.arrays = name, kernel, arrays

    def gradients(self) -> list:
        """The blocks' gradient arrays (zeroed with a batch's intermediates)."""
        return [a.grad for a in self.arrays if a.grad is not None]

    def __call__(self) -> None:
        self._kernel(*self.arrays)

    def grad(self, wrt=None) -> None:
        if wrt is None:
            self._kernel.grad(*self.arrays)


class DenseWeights(BlockCopy):
    """The dense layers' weights and biases as blocks: ``wcol[layer, c, ob][j] = W[layer,
    ob B + j, c]``, ``wrow[layer, o, cb][j] = W[layer, o, cb B + j]``, ``bias[layer, ob][j] =
    b[layer, ob B + j]`` (zero past ``width``), ndarrays with gradients.

    Calling it copies the fields into the blocks (see :class:`BlockCopy`).

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> W = ti.field(td.f64, shape=(1, 3, 3), needs_grad=True)
        >>> b = ti.field(td.f64, shape=(1, 3), needs_grad=True)
        >>> DenseWeights(W, b, td.f64, 8).wrow.shape
        (1, 3, 1)
    """

    def __init__(self, W, b, real, block: int):
        layers, w, _ = W.shape
        self.block, self.blocks = block, -(-w // block)
        vec = ti.types.vector(block, real)

        def blocks(*shape):
            return ti.ndarray(vec, shape=shape, needs_grad=True)

        self.wcol, self.wrow = blocks(layers, w, self.blocks), blocks(layers, w, self.blocks)
        self.bias = blocks(layers, self.blocks)
        nb, B = self.blocks, block
        ndv2 = ti.types.ndarray(dtype=vec, ndim=2)
        ndv3 = ti.types.ndarray(dtype=vec, ndim=3)

        @td.kernel(simd_vectors=True)
        def pack_dense(wcol: ndv3, wrow: ndv3, bias: ndv2):
            for layer, i in ti.ndrange(layers, w):
                for cb in ti.static(range(nb)):
                    row = ti.Vector.zero(real, B)
                    col = ti.Vector.zero(real, B)
                    for j in ti.static(range(B)):
                        if ti.static(cb * B + j < w):
                            row[j] = W[layer, i, cb * B + j]
                            col[j] = W[layer, cb * B + j, i]
                    wrow[layer, i, cb] = row
                    wcol[layer, i, cb] = col
            for layer, ob in ti.ndrange(layers, nb):
                blk = ti.Vector.zero(real, B)
                for j in ti.static(range(B)):
                    if ob * B + j < w:
                        blk[j] = b[layer, ob * B + j]
                bias[layer, ob] = blk

        super().__init__("pack_dense", pack_dense, (self.wcol, self.wrow, self.bias))


class DenseLayer:
    """One kernel set for a Fourier layer's pointwise part on blocks, called as a forward kernel
    ``layer(vb, sb, nb, g, slope, layer_index)`` (``vb`` the layer's input blocks, ``sb`` its
    spectral part's, ``nb`` the output's, all ``(fields, S1, S2, blocks)``; ``g`` scratch of the
    same shape for the adjoint; ``slope`` too, where an activated layer's forward pass leaves the
    activation's derivative for its adjoint, which so does not compute the pre-activation
    again; a layer without activation leaves it alone) and differentiated by
    ``layer.grad(same arguments, wrt=None)``: the input's and the spectral part's gradients,
    and (unless ``wrt`` is given) the weights'.

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> W = ti.field(td.f64, shape=(1, 3, 3), needs_grad=True)
        >>> b = ti.field(td.f64, shape=(1, 3), needs_grad=True)
        >>> weights = DenseWeights(W, b, td.f64, 8)
        >>> DenseLayer(weights, "gelu", None, td.f64, activated=True).activated
        True
    """

    def __init__(self, weights: DenseWeights, activation, act, real, activated: bool):
        self.weights, self.activated = weights, activated
        self.__name__ = "linear_act" if activated else "linear"
        B, nb = weights.block, weights.blocks
        w = weights.wrow.shape[1]
        vec = ti.types.vector(B, real)
        ndv2 = ti.types.ndarray(dtype=vec, ndim=2)
        ndv3 = ti.types.ndarray(dtype=vec, ndim=3)
        ndv4 = ti.types.ndarray(dtype=vec, ndim=4)
        act_block = block_activation(activation, act, real, B)
        act_tangent = td.jvp(act_block)

        @td.func
        def finish(nxt: ti.template(), slope: ti.template(), b: ti.i32, i1: ti.i32,
                   i2: ti.i32, ob: ti.i32, acc: vec):
            if ti.static(activated):
                value, tangent = act_tangent(acc, ti.Vector.one(real, B))
                nxt[b, i1, i2, ob] = value
                slope[b, i1, i2, ob] = tangent
            else:
                nxt[b, i1, i2, ob] = acc

        @td.kernel(simd_vectors=True)
        def dense_forward(vb: ndv4, sb: ndv4, nxt: ndv4, slope: ndv4, wcol: ndv3, bias: ndv2,
                          layer: ti.i32):
            # four points of a grid row per thread, so that each weight block loaded serves
            # four multiply-adds (one point per thread: two loads per multiply-add; 16 x 16,
            # float32, 20 fields: 1.2 -> 0.8x the mode mixing's time, 2026-12-07); past the
            # row's end a thread recomputes its last point and stores the same values again.
            # The channel loop is not unrolled (unrolled, 64 float64 channels ran slower)
            for b, i1, i2g in ti.ndrange(vb.shape[0], vb.shape[1], (vb.shape[2] + 3) // 4):
                last = vb.shape[2] - 1
                p0 = ti.min(i2g * 4, last)
                p1 = ti.min(i2g * 4 + 1, last)
                p2 = ti.min(i2g * 4 + 2, last)
                p3 = ti.min(i2g * 4 + 3, last)
                # two output blocks at a time: eight sums in flight (four wait for each
                # multiply-add; one field at width 64, float32, 2026-12-07)
                for og in ti.static(range(-(-nb // 2))):
                    ob = og * 2
                    two = ob + 1 < nb
                    a0 = bias[layer, ob] + sb[b, i1, p0, ob]
                    a1 = bias[layer, ob] + sb[b, i1, p1, ob]
                    a2 = bias[layer, ob] + sb[b, i1, p2, ob]
                    a3 = bias[layer, ob] + sb[b, i1, p3, ob]
                    c0 = ti.Vector.zero(real, B)
                    c1 = ti.Vector.zero(real, B)
                    c2 = ti.Vector.zero(real, B)
                    c3 = ti.Vector.zero(real, B)
                    if ti.static(two):
                        c0 = bias[layer, ob + 1] + sb[b, i1, p0, ob + 1]
                        c1 = bias[layer, ob + 1] + sb[b, i1, p1, ob + 1]
                        c2 = bias[layer, ob + 1] + sb[b, i1, p2, ob + 1]
                        c3 = bias[layer, ob + 1] + sb[b, i1, p3, ob + 1]
                    for cb in ti.static(range(nb)):
                        u0 = vb[b, i1, p0, cb]
                        u1 = vb[b, i1, p1, cb]
                        u2 = vb[b, i1, p2, cb]
                        u3 = vb[b, i1, p3, cb]
                        for j in range(ti.min(B, w - cb * B)):
                            wv = wcol[layer, cb * B + j, ob]
                            a0 += wv * u0[j]
                            a1 += wv * u1[j]
                            a2 += wv * u2[j]
                            a3 += wv * u3[j]
                            if ti.static(two):
                                wx = wcol[layer, cb * B + j, ob + 1]
                                c0 += wx * u0[j]
                                c1 += wx * u1[j]
                                c2 += wx * u2[j]
                                c3 += wx * u3[j]
                    finish(nxt, slope, b, i1, p0, ob, a0)
                    finish(nxt, slope, b, i1, p1, ob, a1)
                    finish(nxt, slope, b, i1, p2, ob, a2)
                    finish(nxt, slope, b, i1, p3, ob, a3)
                    if ti.static(two):
                        finish(nxt, slope, b, i1, p0, ob + 1, c0)
                        finish(nxt, slope, b, i1, p1, ob + 1, c1)
                        finish(nxt, slope, b, i1, p2, ob + 1, c2)
                        finish(nxt, slope, b, i1, p3, ob + 1, c3)

        @td.kernel(simd_vectors=True)
        def output_gradient(nxt_grad: ndv4, sb_grad: ndv4, g: ndv4, slope: ndv4):
            # g = nbar * act'(pre) (act'(pre) as the forward pass left it), kept for the
            # adjoint's products, also the spectral part's gradient; nbar zeroed (as a generated
            # adjoint of a ``=`` write does). (A kernel of its own: the products' four points
            # a thread read g at indices tidal cannot tell from those it would write.)
            for b, i1, i2 in ti.ndrange(g.shape[0], g.shape[1], g.shape[2]):
                for ob in ti.static(range(nb)):
                    gb = nxt_grad[b, i1, i2, ob]
                    if ti.static(activated):
                        gb = gb * slope[b, i1, i2, ob]
                    g[b, i1, i2, ob] = gb
                    sb_grad[b, i1, i2, ob] = gb
                    nxt_grad[b, i1, i2, ob] = ti.Vector.zero(real, B)

        @td.kernel(simd_vectors=True)
        def input_adjoint(vb_grad: ndv4, g: ndv4, wrow: ndv3, layer: ti.i32):
            # the input blocks' gradient sum_o g[o] wrow[o], set: in a backward pass this is
            # the first contribution to it (the DFT's adjoint adds after), and a kernel that
            # added would read blocks at indices tidal cannot tell from those other iterations
            # write. Four points of a grid row per thread, as in the forward pass, so that each
            # weight block loaded serves four multiply-adds (one point per thread: 67-75 us a
            # launch against the forward's 46-54, one field at width 64, float32, 2026-12-07);
            # past the row's end a thread computes its last point again and stores the same
            # blocks again
            for b, i1, i2g in ti.ndrange(vb_grad.shape[0], vb_grad.shape[1],
                                         (vb_grad.shape[2] + 3) // 4):
                last = vb_grad.shape[2] - 1
                first = i2g * 4
                p0 = ti.min(first, last)
                p1 = ti.min(first + 1, last)
                p2 = ti.min(first + 2, last)
                p3 = ti.min(first + 3, last)
                # four input blocks at a time for the four points: sixteen sums in flight,
                # each weight block loaded once for four points and each lane of g read from
                # memory and broadcast (a loop, not unrolled)
                for cg in ti.static(range(-(-nb // 4))):
                    c0 = cg * 4
                    u00 = ti.Vector.zero(real, B)
                    u01 = ti.Vector.zero(real, B)
                    u02 = ti.Vector.zero(real, B)
                    u03 = ti.Vector.zero(real, B)
                    u10 = ti.Vector.zero(real, B)
                    u11 = ti.Vector.zero(real, B)
                    u12 = ti.Vector.zero(real, B)
                    u13 = ti.Vector.zero(real, B)
                    u20 = ti.Vector.zero(real, B)
                    u21 = ti.Vector.zero(real, B)
                    u22 = ti.Vector.zero(real, B)
                    u23 = ti.Vector.zero(real, B)
                    u30 = ti.Vector.zero(real, B)
                    u31 = ti.Vector.zero(real, B)
                    u32 = ti.Vector.zero(real, B)
                    u33 = ti.Vector.zero(real, B)
                    for ob in ti.static(range(nb)):
                        gb0 = g[b, i1, p0, ob]
                        gb1 = g[b, i1, p1, ob]
                        gb2 = g[b, i1, p2, ob]
                        gb3 = g[b, i1, p3, ob]
                        for j in range(ti.min(B, w - ob * B)):
                            o = ob * B + j
                            g0 = gb0[j]
                            g1 = gb1[j]
                            g2 = gb2[j]
                            g3 = gb3[j]
                            wv = wrow[layer, o, c0 + 0]
                            u00 += g0 * wv
                            u10 += g1 * wv
                            u20 += g2 * wv
                            u30 += g3 * wv
                            if ti.static(c0 + 1 < nb):
                                wv = wrow[layer, o, c0 + 1]
                                u01 += g0 * wv
                                u11 += g1 * wv
                                u21 += g2 * wv
                                u31 += g3 * wv
                            if ti.static(c0 + 2 < nb):
                                wv = wrow[layer, o, c0 + 2]
                                u02 += g0 * wv
                                u12 += g1 * wv
                                u22 += g2 * wv
                                u32 += g3 * wv
                            if ti.static(c0 + 3 < nb):
                                wv = wrow[layer, o, c0 + 3]
                                u03 += g0 * wv
                                u13 += g1 * wv
                                u23 += g2 * wv
                                u33 += g3 * wv
                    vb_grad[b, i1, p0, c0 + 0] = u00
                    vb_grad[b, i1, p1, c0 + 0] = u10
                    vb_grad[b, i1, p2, c0 + 0] = u20
                    vb_grad[b, i1, p3, c0 + 0] = u30
                    if ti.static(c0 + 1 < nb):
                        vb_grad[b, i1, p0, c0 + 1] = u01
                        vb_grad[b, i1, p1, c0 + 1] = u11
                        vb_grad[b, i1, p2, c0 + 1] = u21
                        vb_grad[b, i1, p3, c0 + 1] = u31
                    if ti.static(c0 + 2 < nb):
                        vb_grad[b, i1, p0, c0 + 2] = u02
                        vb_grad[b, i1, p1, c0 + 2] = u12
                        vb_grad[b, i1, p2, c0 + 2] = u22
                        vb_grad[b, i1, p3, c0 + 2] = u32
                    if ti.static(c0 + 3 < nb):
                        vb_grad[b, i1, p0, c0 + 3] = u03
                        vb_grad[b, i1, p1, c0 + 3] = u13
                        vb_grad[b, i1, p2, c0 + 3] = u23
                        vb_grad[b, i1, p3, c0 + 3] = u33

        groups = -(-w // 4)

        @td.kernel(simd_vectors=True)
        def weight_adjoint(vb: ndv4, g: ndv4, wrow_grad: ndv3, bias_grad: ndv2, layer: ti.i32):
            # four outputs o .. o + 3 (one block ob, lanes jj .. jj + 3: B is a multiple of 4)
            # times one input block cb per thread, summed over every point. tidal cannot see
            # that a thread owns the rows o + 1 .. o + 3 it adds into, so this kernel compiles
            # without SIMD vectors (rows grouped by four as an array index, which it can see,
            # ran no faster: 0.43-0.63 against 0.47-0.62 ms at 16 x 16, 2026-12-07)
            for og, cb in ti.ndrange(groups, nb):
                o = og * 4
                ob = o // B
                jj = o % B
                a0 = ti.Vector.zero(real, B)
                a1 = ti.Vector.zero(real, B)
                a2 = ti.Vector.zero(real, B)
                a3 = ti.Vector.zero(real, B)
                for b, i1, i2 in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[2]):
                    gb = g[b, i1, i2, ob]
                    u = vb[b, i1, i2, cb]
                    a0 += gb[jj] * u
                    a1 += gb[jj + 1] * u
                    a2 += gb[jj + 2] * u
                    a3 += gb[jj + 3] * u
                wrow_grad[layer, o, cb] += a0
                if o + 1 < w:
                    wrow_grad[layer, o + 1, cb] += a1
                if o + 2 < w:
                    wrow_grad[layer, o + 2, cb] += a2
                if o + 3 < w:
                    wrow_grad[layer, o + 3, cb] += a3
            for ob in range(nb):
                s = ti.Vector.zero(real, B)
                for b, i1, i2 in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[2]):
                    s += g[b, i1, i2, ob]
                bias_grad[layer, ob] += s

        self._forward, self._input_adjoint = dense_forward, input_adjoint
        self._output_gradient = output_gradient
        self._weight_adjoint = weight_adjoint

    def __call__(self, vb, sb, nxt, g, slope, layer: int) -> None:
        self._forward(vb, sb, nxt, slope, self.weights.wcol, self.weights.bias, layer)

    def grad(self, vb, sb, nxt, g, slope, layer: int, wrt=None) -> None:
        """The adjoint: ``nxt.grad`` into ``vb.grad`` and ``sb.grad`` (both set: in a backward pass
        the layer's adjoint is the first to reach its input's gradient), ``nxt.grad`` zeroed;
        with ``wrt=None`` also the weights' and biases' block gradients (added)."""
        wts = self.weights
        self._output_gradient(nxt.grad, sb.grad, g, slope)
        self._input_adjoint(vb.grad, g, wts.wrow, layer)
        if wrt is None:
            self._weight_adjoint(vb, g, wts.wrow.grad, wts.bias.grad, layer)


class Lifting:
    """The lifting ``v0 = P [a, x] + p`` per point (``P``: ``(width, in_channels + dim)``,
    ``p``: Taichi fields) written straight into the first layer's blocks, called as a forward
    kernel ``lifting(a, grid, vb)`` (``a``: ``(fields, points, in_channels)``, ``grid``:
    ``(points, dim)``, ``vb``: ``(fields, S1, S2, blocks)``) and differentiated by
    ``lifting.grad(same arguments, wrt=None)``: the gradient in ``a`` (added; one horizontal
    sum per input channel and point) and, unless ``wrt`` is given, ``P``'s and ``p``'s (added,
    through the blocks ``pcol[i, cb][j] = P[cb B + j, i]`` and ``pbias[0, cb]`` that a call to
    :attr:`pack` fills and whose ``grad`` moves into the fields' ``.grad``). ``vb``'s gradient
    is zeroed once read.

    Example:
        >>> import taichi as ti, tidal as td
        >>> _ = td.init(arch="cpu", default_fp=td.f64)
        >>> P = ti.field(td.f64, shape=(3, 3), needs_grad=True)
        >>> p = ti.field(td.f64, shape=3, needs_grad=True)
        >>> Lifting(P, p, 1, td.f64, 8).pcol.shape
        (3, 1)
    """

    def __init__(self, P, p, in_channels: int, real, block: int):
        w, inputs = P.shape
        cin, B, nb = in_channels, block, -(-w // block)
        self.__name__ = "lift"
        vec = ti.types.vector(B, real)
        self.pcol = ti.ndarray(vec, shape=(inputs, nb), needs_grad=True)
        self.pbias = ti.ndarray(vec, shape=(1, nb), needs_grad=True)
        nd2 = ti.types.ndarray(dtype=real, ndim=2)
        nd3 = ti.types.ndarray(dtype=real, ndim=3)
        ndv2 = ti.types.ndarray(dtype=vec, ndim=2)
        ndv4 = ti.types.ndarray(dtype=vec, ndim=4)

        @td.kernel(simd_vectors=True)
        def pack_lift(pcol: ndv2, pbias: ndv2):
            for i, cb in ti.ndrange(inputs, nb):
                blk = ti.Vector.zero(real, B)
                for j in ti.static(range(B)):
                    if cb * B + j < w:
                        blk[j] = P[cb * B + j, i]
                pcol[i, cb] = blk
            for cb in range(nb):
                blk = ti.Vector.zero(real, B)
                for j in ti.static(range(B)):
                    if cb * B + j < w:
                        blk[j] = p[cb * B + j]
                pbias[0, cb] = blk

        @td.func
        def inputs_at(a: ti.template(), grid: ti.template(), b: ti.i32, x: ti.i32,
                      i: ti.template()):
            # the lifting's input i at point x: a channel of a, then a grid coordinate
            if ti.static(i < cin):
                return a[b, x, i]
            else:
                return grid[x, i - cin]

        @td.kernel(simd_vectors=True)
        def lift_forward(a: nd3, grid: nd2, vb: ndv4, pcol: ndv2, pbias: ndv2):
            for b, i1, i2 in ti.ndrange(vb.shape[0], vb.shape[1], vb.shape[2]):
                x = i1 * vb.shape[2] + i2
                for cb in ti.static(range(nb)):
                    acc = pbias[0, cb]
                    for i in ti.static(range(inputs)):
                        acc += pcol[i, cb] * inputs_at(a, grid, b, x, i)
                    vb[b, i1, i2, cb] = acc

        @td.kernel(simd_vectors=True)
        def weight_adjoint(a: nd3, grid: nd2, vb_grad: ndv4, pcol_grad: ndv2, pbias_grad: ndv2):
            for i in ti.static(range(inputs)):  # (one parallel loop per input)
                for cb in range(nb):
                    acc = ti.Vector.zero(real, B)
                    for b, i1, i2 in ti.ndrange(vb_grad.shape[0], vb_grad.shape[1],
                                                vb_grad.shape[2]):
                        x = i1 * vb_grad.shape[2] + i2
                        acc += vb_grad[b, i1, i2, cb] * inputs_at(a, grid, b, x, i)
                    pcol_grad[i, cb] += acc
            for cb in range(nb):
                acc = ti.Vector.zero(real, B)
                for b, i1, i2 in ti.ndrange(vb_grad.shape[0], vb_grad.shape[1],
                                            vb_grad.shape[2]):
                    acc += vb_grad[b, i1, i2, cb]
                pbias_grad[0, cb] += acc

        @td.kernel(simd_vectors=True)
        def input_adjoint(a_grad: nd3, vb_grad: ndv4, pcol: ndv2):
            for b, i1, i2 in ti.ndrange(vb_grad.shape[0], vb_grad.shape[1], vb_grad.shape[2]):
                x = i1 * vb_grad.shape[2] + i2
                for i in ti.static(range(cin)):
                    t = ti.Vector.zero(real, B)
                    for cb in ti.static(range(nb)):
                        t += pcol[i, cb] * vb_grad[b, i1, i2, cb]
                    a_grad[b, x, i] += t.sum()
                for cb in ti.static(range(nb)):
                    vb_grad[b, i1, i2, cb] = ti.Vector.zero(real, B)

        self._forward = lift_forward
        self._weight_adjoint, self._input_adjoint = weight_adjoint, input_adjoint
        self.pack = BlockCopy("pack_lift", pack_lift, (self.pcol, self.pbias))

    def __call__(self, a, grid, vb) -> None:
        self._forward(a, grid, vb, self.pcol, self.pbias)

    def grad(self, a, grid, vb, wrt=None) -> None:
        """The adjoint (see the class)."""
        if wrt is None:
            self._weight_adjoint(a, grid, vb.grad, self.pcol.grad, self.pbias.grad)
        self._input_adjoint(a.grad, vb.grad, self.pcol)


__all__ = ["Launch", "BlockCopy", "DenseLayer", "DenseWeights", "Lifting", "block_activation"]
