"""The benchmark model: a tanh MLP 2 -> 3 hidden layers of 32 -> 1 as a tidal function.

Importing this module initialises tidal on the CPU in f64 with Taichi's offline cache off, so
that compile times measured by the benchmarks are cold in every run. Weights live in Taichi
fields; loops over neurons stay loops (unrolling them makes compilation explode).
"""

import math

import numpy as np
import taichi as ti

import tidal as td

H = 32  # neurons per hidden layer
SEED = 0

# Taichi's offline cache would make cold (compile) times depend on earlier runs: turn it off.
td.init(arch="cpu", default_fp=td.f64, offline_cache=False)

W0 = ti.field(ti.f64, shape=(H, 2))
b0 = ti.field(ti.f64, shape=H)
W1 = ti.field(ti.f64, shape=(2, H, H))
b1 = ti.field(ti.f64, shape=(2, H))
W2 = ti.field(ti.f64, shape=H)
b2 = ti.field(ti.f64, shape=())


@td.func
def mlp(x: td.f64, y: td.f64) -> td.f64:
    h = ti.Vector.zero(td.f64, H)
    for j in range(H):
        h[j] = ti.tanh(W0[j, 0] * x + W0[j, 1] * y + b0[j])
    for l in ti.static(range(2)):
        h2 = ti.Vector.zero(td.f64, H)
        for j in range(H):
            z = b1[l, j]
            for k in range(H):
                z += W1[l, j, k] * h[k]
            h2[j] = ti.tanh(z)
        h = h2
    out = b2[None]
    for k in range(H):
        out += W2[k] * h[k]
    return out


# -- weights and points ------------------------------------------------------------------------

def make_weights(seed: int = SEED) -> dict[str, np.ndarray]:
    """Glorot-normal weights, small random biases."""
    rng = np.random.default_rng(seed)

    def glorot(shape, fan_in, fan_out):
        return rng.normal(size=shape) * math.sqrt(2.0 / (fan_in + fan_out))

    return {
        "W0": glorot((H, 2), 2, H), "b0": 0.1 * rng.normal(size=H),
        "W1": glorot((2, H, H), H, H), "b1": 0.1 * rng.normal(size=(2, H)),
        "W2": glorot(H, H, 1), "b2": 0.1 * rng.normal(size=()),
    }


def load_tidal_weights(w: dict[str, np.ndarray]) -> None:
    for name in ("W0", "b0", "W1", "b1", "W2"):
        globals()[name].from_numpy(w[name])
    b2[None] = float(w["b2"])


def make_points(n: int, seed: int = SEED + 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n)
