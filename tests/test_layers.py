"""Layers point down only (../shared/design.md): ``tidal.dsl`` imports nothing of
``tidal.autodiff``; ``tidal.autodiff`` nothing of the application layers (solvers, physics,
surrogates, demos). Where a lower layer must reach up (a tape recording launches, rules of
calls) it owns a hook that the upper layer fills. Checked on every import statement, including
imports inside functions, by parsing the package's source."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tidal"
LAYERS = {"dsl": 0, "distributed": 0.5, "autodiff": 1, "solvers": 2, "physics": 2, "surrogates": 2,
          "demos": 3}


ROOT = 1.5  # the package root re-exports the language and autodiff: above both, below solvers


def _layer(module: str) -> float | None:
    """The layer of a dotted module name inside tidal (None outside the package)."""
    parts = module.split(".")
    if parts[0] != "tidal":
        return None
    if len(parts) == 1:
        return ROOT
    return LAYERS.get(parts[1], max(LAYERS.values()) + 1)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if name == "tidal":
            continue
        yield name, path


@pytest.mark.parametrize("name,path", list(_modules()), ids=lambda v: str(v).split("/")[-1])
def test_no_module_imports_a_higher_layer(name, path):
    own = _layer(name)
    upward = [(line, mod) for line, mod in _imports(path)
              if _layer(mod) is not None and _layer(mod) > own]
    assert not upward, f"{name} imports a higher layer: " + ", ".join(
        f"{mod} (line {line})" for line, mod in upward)


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tidal.autodiff import kernels\n")
    assert [m for _, m in _imports(bad)] == ["tidal.autodiff"]
    assert _layer("tidal.autodiff") > _layer("tidal.dsl.kernel")
    assert _layer("tidal") > _layer("tidal.autodiff.tape")
