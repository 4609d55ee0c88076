"""Shared test set-up: tidal on the CPU in f64 unless a test module initialises otherwise."""

import pytest

import tidal as td
from tidal.dsl import verify

# the IR verifier runs after every pipeline stage in tests (tidal.dsl.pipeline)
verify.ENABLED = True


@pytest.fixture(scope="session", autouse=True)
def _cpu_f64():
    td.init(arch="cpu", default_fp=td.f64)
    yield


@pytest.fixture
def cpu64():
    """Re-initialise on the CPU in f64 (for tests that follow a module that switched arch)."""
    td.init(arch="cpu", default_fp=td.f64)
