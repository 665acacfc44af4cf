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


def stat(benchmark: object, name: str = "median") -> float:
    """A timing statistic of a finished benchmark, in seconds; NaN when benchmarking is
    disabled (``--benchmark-disable``: each case runs once, untimed, as a smoke test)."""
    stats = getattr(benchmark, "stats", None)
    return float("nan") if stats is None else float(getattr(stats.stats, name))
