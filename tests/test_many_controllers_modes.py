"""tools/many_controllers.py: the strict value check, the Protocol floor, the CPU figure."""
from __future__ import annotations

import asyncio
import re
from typing import Any, List

import pytest

from conftest import load_tool
from mmpfast.sim import Simulator

fleet = load_tool("many_controllers")


def _seeded(n: int) -> List[Any]:
    sims = [Simulator().start() for _ in range(n)]
    for i, s in enumerate(sims):
        fleet.seed(s, i)
    return sims


def test_expected_values_are_distinct_per_controller() -> None:
    a, b = fleet.expected_values(0, [7, -1]), fleet.expected_values(1, [1007, -2])
    assert len(a) == 3 * fleet.CHANNELS + 1 and a != b
    assert {k for k in a if a[k] != b[k]} >= {"marker", "analog[2][0]"}
    assert fleet.expected_analog(3, 2) == 3 * 0.5 + 2 * 0.25 - 100.0


@pytest.mark.parametrize("floor", [False, True])
def test_check_values_counts_every_scan_and_catches_a_changed_value(floor: bool) -> None:
    """Every value of every scan is compared: one analog input changed mid-run on
    controller 1 makes its later scans wrong, the other controllers stay right."""
    sims = _seeded(3)
    try:
        async def go() -> Any:
            task = asyncio.ensure_future(fleet.scan_fleet(sims[0].host, [s.port for s in sims], 20.0, 0.5,
                                                          check_values=True, floor=floor))
            await asyncio.sleep(0.3)
            sims[1].set_analog(fleet.AI_MODULE, 5, 42.0)
            return await task
        rep = asyncio.run(go())
    finally:
        for s in sims:
            s.stop()
    assert rep.errors == 0 and rep.scheduled == 30 and rep.done + rep.skipped == 30 and rep.done >= 15
    assert 1 <= rep.wrong <= 10
    assert all(m.startswith("controller 1: wrong values: ['analog[2][5]']") for m in rep.messages)
    assert rep.mode == f"{'Protocol floor' if floor else 'AsyncClient'} on asyncio, every value checked"
    assert rep.cpu_seconds > 0 and rep.wall_seconds >= 0.4 and rep.cpu_per_scan == rep.cpu_seconds / rep.done


def test_check_values_sees_the_written_outputs() -> None:
    """The digital outputs are written by the client at setup; a simulator that
    flips one afterwards is caught."""
    sims = _seeded(2)
    try:
        async def go() -> Any:
            task = asyncio.ensure_future(fleet.scan_fleet(sims[0].host, [s.port for s in sims], 20.0, 0.5,
                                                          check_values=True))
            await asyncio.sleep(0.3)
            sims[0].set_digital(fleet.DO_MODULE, 2, not fleet.expected_digital(0, fleet.DO_MODULE, 2))
            return await task
        rep = asyncio.run(go())
    finally:
        for s in sims:
            s.stop()
    assert rep.errors == 0 and rep.wrong >= 1
    assert all(m.startswith("controller 0: wrong values: ['digital[1][2]']") for m in rep.messages)


def _counts(line: str) -> "tuple[int, int, int]":
    """(done, scheduled, skipped) from a summary line."""
    m = re.search(r"(\d+)/(\d+) scans done, \d+ on time \([0-9.]+%\), (\d+) skipped", line)
    assert m, line
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


# --min-on-time 0: these check the modes and the figures, not the machine's timing (a busy
# machine can make a scan late; every scan is still either done and checked, or skipped)
@pytest.mark.parametrize("extra", [["--check-values"], ["--check-values", "--floor"]])
def test_main_strict_and_floor(extra: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = fleet.main(["--count", "5", "--rate", "10", "--seconds", "1", "--min-on-time", "0"] + extra)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, line
    done, scheduled, skipped = _counts(line)
    assert scheduled == 50 and done + skipped == 50 and done >= 25, line
    assert "0 errors, 0 wrong" in line and line.endswith("PASS")
    assert "µs/scan (" in line and "every value checked" in line
    assert ("Protocol floor on asyncio" if "--floor" in extra else "AsyncClient on asyncio") in line


def test_main_on_uvloop(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvloop", reason="the uvloop extra is not installed")
    code = fleet.main(["--count", "3", "--rate", "10", "--seconds", "0.5", "--min-on-time", "0",
                       "--check-values", "--loop", "uvloop"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, line
    done, scheduled, skipped = _counts(line)
    assert scheduled == 15 and done + skipped == 15 and done >= 8, line
    assert "0 errors, 0 wrong" in line and "AsyncClient on uvloop, every value checked" in line
