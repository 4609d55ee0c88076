"""The PINN examples, shrunk: each is trained in-process with small options and its error is
checked against the closed-form solution the example compares with (thresholds are about 2-3x
the errors measured at these sizes; see each test). The references themselves are checked
independently: the KdV soliton by finite differences of the PDE, the Helmholtz source written in
tidal against ``tidal.solvers.exact.helmholtz_2d_source``."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import tidal as td
from tidal.solvers.exact import helmholtz_2d_source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, tmp_path: Path, *options: str) -> dict:
    mod = example(name)
    return mod.run(mod.parse_args([*options, "--out", str(tmp_path)]))


def figures(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.glob("*.png") if p.stat().st_size > 0)


def test_poisson_square_hard_constraint(cpu64, tmp_path, capsys):
    out = run("pinn_poisson", tmp_path, "--only", "square", "--iterations", "150",
              "--collocation", "300", "--width", "16")
    assert out["square"]["error"] < 2e-4  # measured 6.5e-5
    assert "relative_l2_error (square): " in capsys.readouterr().out
    assert figures(tmp_path) == ["square.png", "square_loss.png"]


# (CI time: CI trains the other shrunk examples, whose code paths this one shares)
@pytest.mark.slow
def test_poisson_square_with_a_hole(cpu64, tmp_path):
    out = run("pinn_poisson", tmp_path, "--only", "csg", "--iterations", "300",
              "--collocation", "300", "--boundary", "200", "--width", "16")
    assert out["csg"]["error"] < 5e-2  # measured 1.9e-2
    assert figures(tmp_path) == ["csg.png", "csg_loss.png"]


def test_heat(cpu64, tmp_path):
    out = run("pinn_heat", tmp_path, "--iterations", "250", "--collocation", "300",
              "--boundary", "50", "--width", "16")
    assert out["error"] < 1e-2  # measured 3.8e-3
    assert figures(tmp_path) == ["loss.png", "solution.png"]


# (CI time: CI trains the other shrunk examples, whose code paths this one shares)
@pytest.mark.slow
def test_wave(cpu64, tmp_path):
    out = run("pinn_wave", tmp_path, "--iterations", "300", "--collocation", "400",
              "--boundary", "50", "--width", "16")
    assert out["error"] < 3e-2  # measured 1.3e-2
    assert figures(tmp_path) == ["loss.png", "solution.png"]


def test_helmholtz_source_is_the_reference_source(cpu64):
    mod = example("pinn_helmholtz")
    k0 = 4 * math.pi
    source, _ = mod.equations(k0)

    @td.func
    def source_at(z: td.vec2) -> td.f64:
        return source(z[0], z[1])

    z = np.random.default_rng(0).uniform(0, 1, (50, 2))
    got = np.asarray(td.vectorize(source_at)(z)).reshape(-1)
    np.testing.assert_allclose(got, helmholtz_2d_source(z[:, 0], z[:, 1], k0=k0), rtol=1e-12,
                               atol=1e-12)


# (CI time: CI trains the other shrunk examples, whose code paths this one shares)
@pytest.mark.slow
def test_helmholtz(cpu64, tmp_path):
    out = run("pinn_helmholtz", tmp_path, "--k0", "2", "--iterations", "200",
              "--collocation", "500", "--width", "16")
    assert out["error"] < 5e-3  # measured 2.3e-3 (k0 = 2 pi)


def test_kdv_soliton_solves_kdv():
    mod = example("pinn_kdv")
    x = np.linspace(-5, 5, 41)[:, None]
    t = np.linspace(0, 1, 11)[None, :]
    h = 1e-3
    u = mod.soliton(x, t)
    u_t = (mod.soliton(x, t + h) - mod.soliton(x, t - h)) / (2 * h)
    u_x = (mod.soliton(x + h, t) - mod.soliton(x - h, t)) / (2 * h)
    u_xxx = (mod.soliton(x + 2 * h, t) - 2 * mod.soliton(x + h, t) + 2 * mod.soliton(x - h, t)
             - mod.soliton(x - 2 * h, t)) / (2 * h ** 3)
    residual = u_t + 6 * u * u_x + u_xxx
    assert np.abs(residual).max() < 1e-4 * np.abs(u_t).max()
    assert mod.soliton(-2.0, 0.0) == 2.0 and mod.soliton(2.0, 1.0) == 2.0  # height c/2, speed c


# (CI time: CI trains the other shrunk examples, whose code paths this one shares)
@pytest.mark.slow
def test_kdv(cpu64, tmp_path):
    # 400 L-BFGS iterations: at 250 the error was 3.8e-4 on an Intel Xeon and 1.3e-3 on an
    # AMD EPYC (LLVM's code for each CPU rounds differently, and the run stopped on a bump of
    # the loss); at 400, 1.1e-4 on the EPYC (2026-12-07)
    out = run("pinn_kdv", tmp_path, "--iterations", "400", "--collocation", "500",
              "--boundary", "80", "--width", "16", "--depth", "3")
    assert out["error"] < 1e-3


def test_inverse_burgers_small(cpu64, tmp_path, capsys):
    """A smoother instance (viscosity 0.1 / pi, no steep front) that a small network resolves:
    at the paper's 0.01 / pi a 16 x 3 network cannot represent the front and lambda2 stays off by
    more than 100 %."""
    nu = 0.1 / math.pi
    out = run("pinn_inverse_burgers", tmp_path, "--points", "200", "--width", "16",
              "--depth", "3", "--iterations", "800", "--nu", repr(nu))
    assert abs(out["lambda2"] - nu) / nu * 100 == pytest.approx(out["lambda2_error"])
    assert out["lambda1_error"] < 3.0  # measured 1.0 %
    assert out["lambda2_error"] < 1.5  # measured 0.52 %
    printed = capsys.readouterr().out
    assert "lambda1: " in printed and "lambda2: " in printed


@pytest.mark.slow
def test_inverse_burgers_paper_setting(cpu64, tmp_path):
    """The full example (2,000 points, 8 x 20 network, up to 50,000 L-BFGS iterations; hours on
    two CPU cores): both coefficients within 0.5 %. Measured only with a 150-minute limit
    (28,753 iterations): errors 0.082 % and 0.39 %."""
    out = run("pinn_inverse_burgers", tmp_path)
    assert out["lambda1_error"] < 0.5 and out["lambda2_error"] < 0.5


def test_kovasznay_system_of_three_equations(cpu64, tmp_path):
    """Three outputs, three residuals, conditions per output; small network and budget (about
    half a minute here): errors measured 5.4e-3, 1.8e-2, 9.0e-3; the defaults reach 1.4e-4,
    7.2e-4, 4.1e-4."""
    out = run("pinn_kovasznay", tmp_path, "--adam", "1000", "--iterations", "1500", "--width",
              "20", "--depth", "3", "--collocation", "1000", "--boundary", "200")
    errors = out["errors"]
    assert errors["u"] < 2e-2 and errors["v"] < 6e-2 and errors["p"] < 3e-2, errors
    assert figures(tmp_path) == ["loss.png", "solution_p.png", "solution_u.png",
                                 "solution_v.png"]
