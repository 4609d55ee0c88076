"""Simulations: Hessian-vector products of a 500-step mass-spring rollout, directional
derivatives, per-step and whole-rollout kernels, and checkpointed tapes on 10,000 steps."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tidal as td
from tidal.physics import MassSpring, lattice

from .reference import assert_close


@pytest.fixture(scope="module")
def spring_problem():
    pts, springs, anchored = lattice(4)
    rng = np.random.default_rng(0)
    k_true = rng.uniform(50, 150, len(springs))
    sim = MassSpring(pts, springs, k_true, steps=500, dt=2e-3, anchored=anchored)
    sim.observe(sim.trajectory(k_true))
    k0 = k_true * rng.uniform(0.8, 1.2, len(springs))
    return sim, k0, rng


def test_per_step_and_whole_rollout_kernels_agree(spring_problem):
    sim, k0, _ = spring_problem
    l1, g1 = sim.value_and_grad(k0, whole=False)
    l2, g2 = sim.value_and_grad(k0, whole=True)
    assert len(k0) >= 20
    assert_close(l2, l1, rtol=1e-12, what="loss")
    assert_close(g2, g1, rtol=1e-11, what="gradient")


def test_hvp_of_500_step_rollout_matches_differences_of_tape_gradients(spring_problem):
    sim, k0, rng = spring_problem
    v = rng.normal(size=len(k0))
    value, g, hv = sim.hvp(k0, v)
    l0, g0 = sim.value_and_grad(k0)
    assert_close(value, l0, rtol=1e-12, what="loss")
    assert_close(g, g0, rtol=1e-10, what="gradient from hvp")
    h = 1e-5
    gp = sim.value_and_grad(k0 + h * v)[1]
    gm = sim.value_and_grad(k0 - h * v)[1]
    fd = (gp - gm) / (2 * h)
    rel = np.linalg.norm(hv - fd) / np.linalg.norm(fd)
    assert rel < 1e-6, f"relative error of the Hessian-vector product: {rel:.2e}"


def test_jvp_run_matches_gradient_dot_tangent(spring_problem):
    sim, k0, rng = spring_problem
    t = rng.normal(size=len(k0))
    l0, g0 = sim.value_and_grad(k0)
    sim.set("stiffness", k0)
    sim.reset()
    value, d = td.jvp_run(lambda: sim.run(whole=False), [sim.k], [t])
    assert_close(value, l0, rtol=1e-12, what="loss")
    assert_close(d, float(g0 @ t), rtol=1e-10, what="directional derivative")


CHECKPOINT_SCRIPT = """
import json, re, sys, threading, time
import numpy as np, taichi as ti, tidal as td
td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
mode, steps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
k = ti.field(ti.f64, shape=n, needs_grad=True)
x = ti.field(ti.f64, shape=n, needs_grad=True)
v = ti.field(ti.f64, shape=n, needs_grad=True)
loss = ti.field(ti.f64, shape=(), needs_grad=True)
rng = np.random.default_rng(0)
k.from_numpy(rng.uniform(0.5, 2.0, n))
x0 = rng.uniform(-1, 1, n)

@td.kernel
def step():
    for i in range(n):
        v[i] = v[i] - 0.001 * k[i] * ti.sin(x[i])
        x[i] = x[i] + 0.001 * v[i]

@td.kernel
def total():
    for i in range(n):
        loss[None] += x[i] * x[i]

def run(steps):
    for _ in range(steps):
        step()
    total()

def reset():
    x.from_numpy(x0); v.fill(0.0); loss[None] = 0.0
    k.grad.fill(0.0); x.grad.fill(0.0); v.grad.fill(0.0)

def status_kb(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

class PeakRss:
    # Peak resident memory from here on: the kernel's VmHWM after resetting it, or sampling.

    def __init__(self):
        try:
            open("/proc/self/clear_refs", "w").write("5")
            self.sampled = None
        except OSError:
            self.sampled = status_kb("VmRSS")
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while True:
            self.sampled = max(self.sampled, status_kb("VmRSS"))
            time.sleep(0.002)

    def kb(self):
        return status_kb("VmHWM") if self.sampled is None else self.sampled

# Compile every kernel (forward, adjoint, fills) outside the measurement, in every mode alike.
reset()
with td.Tape(loss):
    run(2)
reset()
peak_rss = PeakRss()
base = peak_rss.kb()
if mode == "forward":
    run(steps)
    grad = []
else:
    every = None if mode == "tape" else int(mode.split("=")[1])
    with td.Tape(loss, checkpoint_every=every):
        run(steps)
    grad = k.grad.to_numpy().tolist()
peak = peak_rss.kb()
print(json.dumps({"loss": float(loss[None]), "grad": grad, "peak_kb": peak, "base_kb": base}))
"""


def run_script(tmp_path, *args):
    script = tmp_path / "checkpoint_run.py"
    script.write_text(textwrap.dedent(CHECKPOINT_SCRIPT))
    r = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_checkpointed_tape_on_10000_steps(tmp_path):
    """Same gradient as without checkpointing; peak memory within 2x of the forward run.

    State: 2,000 masses (two f64 fields), overwritten in place every step, so a tape without
    checkpoints saves 10,000 states (about 320 MB); with checkpoint_every=100 it saves 100
    checkpoints plus one segment of 100 states.
    """
    steps, n = 10_000, 2_000
    fwd = run_script(tmp_path, "forward", steps, n)
    ckpt = run_script(tmp_path, "every=100", steps, n)
    full = run_script(tmp_path, "tape", steps, n)
    assert ckpt["loss"] == fwd["loss"] == full["loss"]
    assert_close(np.array(ckpt["grad"]), np.array(full["grad"]), rtol=1e-12,
                 what="checkpointed gradient")
    ratio = ckpt["peak_kb"] / fwd["peak_kb"]
    print(f"peak memory: forward {fwd['peak_kb'] / 1024:.0f} MB, checkpointed tape "
          f"{ckpt['peak_kb'] / 1024:.0f} MB ({ratio:.2f}x), tape without checkpoints "
          f"{full['peak_kb'] / 1024:.0f} MB")
    assert ratio <= 2.0
    assert full["peak_kb"] > ckpt["peak_kb"]
