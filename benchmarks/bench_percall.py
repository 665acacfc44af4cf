"""Smoke test of the per-call CPU harness (``benchmarks/percall.py``) with a tiny N.

The real table comes from ``python benchmarks/percall.py``; this only checks,
in the CI smoke run (``pytest benchmarks --benchmark-disable -m "not slow"``),
that every case runs against the out-of-process simulator, reads the right
value, and yields positive, finite figures and a complete table.
"""
from __future__ import annotations

import math
import os

import percall


def test_percall_harness_smoke() -> None:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    run = percall.measure(calls=20, rounds=2, scan_calls=5, pin_mode="split")
    if affinity is not None:
        assert os.sched_getaffinity(0) == affinity          # the placement is undone
    cases = run.cases
    expected = {"bare", "client", "scan_bare", "scan_into", "scan_values", "asyncio_floor", "asyncio_bfloor",
                "asyncio_client"}
    for lib, keys in (("optommp", {"optommp"}), ("uvloop", {"uvloop_floor", "uvloop_bfloor", "uvloop_client"})):
        if lib in run.skipped:
            assert "not installed" in run.skipped[lib]
        else:
            expected |= keys
    assert set(cases) == expected
    for case in cases.values():
        assert len(case.cpu) == len(case.wall) == 2, case.key
        assert all(0 < x < 0.5 and math.isfinite(x) for x in case.cpu + case.wall), (case.key, case.cpu, case.wall)
    # every per-call case read the digital state the harness turned on (floors included)
    for key in expected - {"scan_bare", "scan_into", "scan_values"}:
        assert cases[key].last is True, (key, cases[key].last)
    # the bare scan filled its buffer with the same bytes as scan_into, and values() has every point
    assert run.scan_buffers_equal is True
    assert len(cases["scan_values"].last) == 16 * 32 * 2
    assert run.plan_requests == 3
    text = percall.table(run)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(expected)
    for key, floor, goal, _ in percall.ROWS:
        if key in cases and goal is not None:
            row = next(r for r in rows if r.startswith(f"| {cases[key].label} |"))
            assert " met " in row or "missed by" in row
            r, lo, hi = percall.ratio(run, key, floor)
            assert lo <= hi and r > 0 and f"**{r:.2f}×**" in row
