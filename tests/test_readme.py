"""The README's Python snippets, each run as a new user would run it: alone, in a fresh
interpreter, in an empty folder. Each must finish cleanly and print what the README says it
prints (the numbers its comments give; the fit's answer; the FNO's test error to the README's
order of magnitude)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def block(marker: str) -> str:
    """The one snippet that contains ``marker``."""
    found = [b for b in BLOCKS if marker in b]
    assert len(found) == 1, f"{len(found)} README snippets contain {marker!r}"
    return found[0]


def run(code: str, cwd) -> str:
    """``code`` saved as a script in ``cwd`` (tidal reads functions' source from their file)
    and run alone in a fresh interpreter there: its stdout (it must exit 0)."""
    script = Path(cwd) / "snippet.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_the_readme_has_the_snippets_these_tests_run():
    assert len(BLOCKS) == 5


def test_derivatives_snippet_prints_the_value_its_comment_gives(tmp_path):
    code = block("td.derivative(f")
    value = re.search(r"print\(dfdx\(0\.3, 1\.2\)\)\s+# ([0-9.]+)", code).group(1)
    out = run(code, tmp_path)
    assert value in out.split()
    assert "def f_grad" in out  # the generated source, printed


# appended to the Taichi-program snippet: the gradient it printed against a central difference
# of the loss in x[0, 0][0], the same kernels run again outside the tape (float64)
DIFFERENCE = """
g = x.grad.to_numpy()[0, 0, 0]
start = x.to_numpy()


def value(d):
    moved = start.copy()
    moved[0, 0, 0] += d
    x.from_numpy(moved)
    loss[None] = 0.0
    for t in range(2):
        clear()
        scatter(t)
        move(t)
    total()
    return loss[None]


print("CHECK", g, (value(1e-6) - value(-1e-6)) / 2e-6)
"""


def test_taichi_program_snippet_gradient_equals_a_central_difference(tmp_path):
    """The README says Taichi's tape misses the plain kernel here and tidal's does not."""
    out = run(block("with td.Tape(loss):") + DIFFERENCE, tmp_path)
    g, fd = (float(v) for v in out.split("CHECK")[1].split())
    assert abs(g - fd) <= 1e-6 * max(1.0, abs(fd)), (g, fd)


def test_pinn_snippet_runs(tmp_path):
    run(block("Problem(domain, burgers"), tmp_path)


def test_fit_snippet_recovers_the_pendulum(tmp_path):
    out = run(block("td.fit(sim, observed"), tmp_path)
    assert re.search(r"length = 1\.5 \+- ", out), out
    assert re.search(r"damping = 0\.25 \+- ", out), out


@pytest.mark.slow
def test_fno_snippet_reaches_the_error_its_comment_gives(tmp_path):
    """About a minute on two cores (the data generation and 500 Adam steps)."""
    code = block("FNO(1, modes=16")
    claimed = float(re.search(r"print\(test\.relative_l2.*# ([0-9.]+)", code).group(1))
    error = float(run(code, tmp_path).split()[-1])
    assert error < 1.5 * claimed
