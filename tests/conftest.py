"""Shared test set-up: tidal on the CPU in f64 unless a test module initialises otherwise."""

import os

import pytest

# Taichi's offline cache off in the tests: they must not depend on it, and a kernel it returns
# for a template argument after ti.init has run again in the same process can address fields of
# the earlier program (suspected cause of rare segfaults in long test workers; TI_ variables are
# Taichi's defaults for ti.init, which explicit arguments override)
os.environ.setdefault("TI_OFFLINE_CACHE", "0")

import tidal as td
from tidal.dsl import verify

# the IR verifier runs after every pipeline stage in tests (tidal.dsl.pipeline)
verify.ENABLED = True

# the backend of tests that do not choose one: the CPU, or TIDAL_TEST_ARCH=cuda on a GPU machine
# (the f64 program and simulator checks run unchanged there)
ARCH = os.environ.get("TIDAL_TEST_ARCH", "cpu")


@pytest.fixture(scope="session", autouse=True)
def _default_f64():
    td.init(arch=ARCH, default_fp=td.f64)
    yield


@pytest.fixture(scope="module", autouse=True)
def _fresh_runtime_per_module():
    """Every test module starts on a fresh Taichi runtime, so no module sees fields, trees or
    kernels another left behind. (A worker runs many modules in one process: Taichi's CPU
    runtime holds at most 512 field groups, and state one module leaves has been seen to crash
    a later module's first sweep over every field, ti.ad.clear_all_gradients, in rare runs.)
    TIDAL_REINIT_TREES=N re-initialises only once more than N field groups are in use. A module
    left on another backend or float type than the default is re-initialised too, so that no
    module inherits (say) the f32 of the one before it."""
    from taichi.lang import impl

    from tidal.dsl import runtime
    from tidal.dsl.types import F64

    prog = impl.get_runtime().prog
    limit = int(os.environ.get("TIDAL_REINIT_TREES", 0))
    cfg = runtime.config()
    switched = cfg.arch != ARCH or cfg.default_fp != F64
    if prog is not None and (prog.get_snode_tree_size() > limit or switched):
        td.init(arch=ARCH, default_fp=td.f64)
    yield


@pytest.fixture
def cpu64():
    """Re-initialise on the CPU in f64 (for tests that follow a module that switched arch)."""
    td.init(arch="cpu", default_fp=td.f64)
