"""The surrogates on the SPIR-V code path (software Vulkan, float32) against the CPU (float64):
the FNO (1-D and 2-D), DeepONet and physics-informed DeepONet losses, parameter gradients and
predictions, the same parameters on both. The DeepONet evaluates its branch and trunk networks
in two parallel loops of one kernel, which Taichi's SPIR-V generator only compiles as one kernel
per loop (:mod:`tidal.dsl.split`); it raised a raw ``RuntimeError`` before.
"""

from __future__ import annotations

import numpy as np
import pytest

import tidal as td
from tidal.dsl import runtime
from tidal.surrogates import FNO, DeepONet, PhysicsInformed, Supervised, diffusion_reaction_residual

from .reference import assert_close

pytestmark = pytest.mark.vulkan


def evaluate(real, flats=None) -> dict:
    """Loss, gradient and prediction of each model (parameters from ``flats`` if given)."""
    rng = np.random.default_rng(0)
    out = {}
    for dim, grid, modes in ((1, (16,), 4), (2, (12, 10), (4, 3))):
        net = FNO(dim, modes, width=8, layers=2, projection=16, dtype=real)
        if flats is not None:
            net.set_flat(flats[f"fno{dim}"])
        a = rng.normal(size=(5, *grid))
        data = Supervised(net, a, outputs=np.sin(a), loss="relative_l2")
        loss, grad = data.value_and_grad(net.get_flat())
        out[f"fno{dim}"] = (loss, grad, net.predict(a), net.get_flat())
    net = DeepONet(6, 1, width=10, p=5, activation="tanh", dtype=real)
    if flats is not None:
        net.set_flat(flats["deeponet"])
    v, x = rng.normal(size=(4, 6)), np.linspace(0.0, 1.0, 7)
    data = Supervised(net, v, x, v[:, :1] * x)
    loss, grad = data.value_and_grad(net.get_flat())
    out["deeponet"] = (loss, grad, net.predict(v, x[:, None]), net.get_flat())
    # physics-informed: u_t and u_xx of the output by Taylor mode inside the kernels
    net = DeepONet(6, 2, width=7, p=5, activation="tanh", dtype=real)
    if flats is not None:
        net.set_flat(flats["pi-deeponet"])
    pts = rng.uniform(0.1, 0.9, size=(8, 2))
    data = PhysicsInformed(net, diffusion_reaction_residual(0.01, 0.01), v[:3], pts,
                           rng.normal(size=(3, 8)))
    loss, grad = data.value_and_grad(net.get_flat())
    out["pi-deeponet"] = (loss, grad, net.predict(v, pts), net.get_flat())
    return out


@pytest.fixture(scope="module")
def both():
    if not runtime.probe("vulkan"):
        pytest.skip("no Vulkan device on this machine")
    td.init(arch="cpu", default_fp=td.f64)
    ref = evaluate(td.f64)
    td.init(arch="vulkan", default_fp=td.f32)
    try:
        got = evaluate(td.f32, {k: v[3] for k, v in ref.items()})
    finally:
        td.init(arch="cpu", default_fp=td.f64)
    return ref, got


@pytest.mark.parametrize("model", ["fno1", "fno2", "deeponet", "pi-deeponet"])
def test_surrogate_on_vulkan_matches_cpu(both, model):
    (loss0, grad0, pred0, _), (loss1, grad1, pred1, _) = both[0][model], both[1][model]
    assert_close(loss1, loss0, rtol=1e-4, what=f"{model} loss")
    scale = np.max(np.abs(grad0))
    assert_close(grad1 / scale, grad0 / scale, rtol=1e-4, what=f"{model} gradient")
    scale = np.max(np.abs(pred0))
    assert_close(pred1 / scale, pred0 / scale, rtol=1e-4, what=f"{model} prediction")
