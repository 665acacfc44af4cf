"""Benchmark fixtures: every codec case runs on both implementations, side by side.

The ``codec`` fixture is parametrized over the compiled ``mmpfast._codec``
and the pure ``mmpfast._codec_py`` (the same idea as ``tests/conftest.py``,
kept separate so benchmarks never import the test package).
"""
from __future__ import annotations

import importlib
from types import ModuleType

import pytest

IMPLEMENTATIONS = ["cython", "python"]
_MODULES = {"cython": "mmpfast._codec", "python": "mmpfast._codec_py"}


@pytest.fixture(params=IMPLEMENTATIONS)
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """Each codec implementation in turn (a missing compiled codec fails, never skips)."""
    return importlib.import_module(_MODULES[request.param])
