"""The surrogate-in-the-loop example (examples/surrogate_inverse_burgers.py), shrunk, and the
simulator it fits through checked against the spectral reference solver of the training data."""

import importlib.util
from pathlib import Path

import numpy as np

import tidal as td
from tidal.physics import Burgers1D
from tidal.surrogates import burgers_sample

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "surrogate_inverse_burgers.py"


def example():
    spec = importlib.util.spec_from_file_location("example_surrogate_inverse", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_simulator_in_the_loop_agrees_with_the_spectral_reference(cpu64):
    # measured 2026-12-05: 1.9e-4 relative L2 at t = 1 (second order in space, 256 points)
    mod = example()
    u0, u1 = burgers_sample(np.random.default_rng(5), n=mod.N, nu=mod.NU)
    sim = Burgers1D(mod.NU, u0, dt=mod.DT, steps=int(round(1.0 / mod.DT)))
    u = sim.simulate()[-1]
    assert np.linalg.norm(u - u1) / np.linalg.norm(u1) < 1e-3


def test_surrogate_inverse_small(tmp_path, capsys):
    mod = example()
    out = mod.run(mod.parse_args(["--train", "30", "--test", "10", "--epochs", "2",
                                  "--width", "8", "--modes", "6", "--iterations", "8",
                                  "--data", str(tmp_path / "data"), "--out", str(tmp_path)]))
    td.init(arch="cpu", default_fp=td.f64)
    # from u0 = 0 (misfit 1), the fit through the simulator explains the data better
    assert out["solver_misfit"] < 0.5
    assert out["solver_fit"].history[-1] < out["solver_fit"].history[0]
    assert out["surrogate_fit"].history[-1] <= out["surrogate_fit"].history[0]
    for key in ("surrogate_error", "difference", "solver_seconds", "surrogate_seconds",
                "whole_fit_speedup"):
        assert np.isfinite(out[key]) and out[key] > 0
    printed = capsys.readouterr().out
    assert "simulator / FNO" in printed and "FNO test relative L2" in printed
    assert (tmp_path / "inverse.png").stat().st_size > 10_000
    # the trained network is kept and reused
    assert len(list(tmp_path.glob("fno_*.npz"))) == 1
