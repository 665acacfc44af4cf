"""Soak, short: the functions of ``tools/soak.py`` for 2 seconds, and proof
that its checker really catches a lost value and an error."""
from __future__ import annotations

import struct
from typing import Any, Iterator

import pytest
from conftest import load_tool

from mmpfast import memmap
from mmpfast.sim import Fault, FaultProxy, Simulator



soak = load_tool("soak")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def test_soak_two_seconds_threads_and_asyncio(sim: Simulator) -> None:
    rep = soak.soak(sim.host, sim.port, seconds=2.0, threads=4, tasks=4)
    msgs = [m for w in rep.workers for m in w.messages]
    assert msgs == []
    assert rep.lost == 0 and rep.errors == 0 and rep.ok
    assert len(rep.workers) == 8
    # every worker made progress, blocking and asyncio alike
    assert all(w.reads >= 20 for w in rep.workers), [(w.name, w.reads) for w in rep.workers]
    assert rep.ops >= 500
    # the last verified run of every worker is in the device's memory
    for w in rep.workers:
        kind, index, vals = w.last
        code = {"int32": "i", "float": "f", "int64": "q"}[kind]
        addr = getattr(memmap, f"scratchpad_{kind}_address")(index)
        raw = sim.memory.read(addr, 8 * len(vals) if code == "q" else 4 * len(vals))
        assert list(struct.unpack(f">{len(vals)}{code}", raw)) == vals
    assert rep.line().startswith("soak: ") and rep.line().endswith("0 lost, 0 errors, "
                                                                   f"p99 write+read {rep.p99 * 1000:.2f} ms; PASS")


def test_values_are_distinct_across_workers_and_rounds() -> None:
    seen = {}
    for wid in range(8):
        rnd = soak._Round(wid, 0)
        for _ in range(300):
            kind, index, vals = rnd.next()
            for i, v in enumerate(vals):
                key = (kind, v)
                assert key not in seen, f"{key} written twice"
                seen[key] = (wid, index + i)
            if kind == "float":
                assert all(struct.unpack(">f", struct.pack(">f", v))[0] == v for v in vals)


def test_checker_catches_a_corrupted_value(sim: Simulator) -> None:
    """Read responses whose data bytes are flipped on the way: the soak counts lost values."""
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.queue_faults([None] * 20 + [Fault.corrupt(16, 0x01)] * 6)
        rep = soak.soak(proxy.host, proxy.port, seconds=0.5, threads=2, tasks=1)
    assert rep.lost >= 1 and rep.errors == 0 and not rep.ok
    assert rep.line().endswith("FAIL")


def test_checker_counts_errors(sim: Simulator) -> None:
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.queue_faults([None] * 10 + [Fault.drop()])   # a read times out, a write is unknown
        rep = soak.soak(proxy.host, proxy.port, seconds=0.5, threads=2, tasks=1, timeout=0.5)
    assert rep.errors >= 1 and not rep.ok
    assert rep.lost == 0


def test_main_exit_code_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert soak.main(["--seconds", "0.5", "--threads", "2", "--tasks", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("soak: ") and ", 0 lost, 0 errors," in line and line.endswith("PASS")


# =============================================================================
# many controllers, reduced: 10 simulators in a child process, 10 Hz, 1 s
# =============================================================================
fleet = load_tool("many_controllers")


def test_many_controllers_reduced(capsys: pytest.CaptureFixture[str]) -> None:
    code = fleet.main(["--count", "10", "--rate", "10", "--seconds", "1", "--min-on-time", "0.9"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, line
    assert line.startswith("many_controllers: 10 controllers x 10 Hz x 1 s")
    assert "100/100 scans done" in line and "0 errors, 0 wrong" in line and line.endswith("PASS")


def test_fleet_scan_counts_and_checks_values() -> None:
    """scan_fleet against in-process simulators: every scheduled pass is run
    and its marker checked; a controller whose marker changes is counted wrong."""
    import asyncio

    sims = [Simulator().start() for _ in range(3)]
    try:
        async def go() -> Any:
            task = asyncio.ensure_future(fleet.scan_fleet(sims[0].host, [s.port for s in sims], 20.0, 0.5))
            await asyncio.sleep(0.3)
            # someone else overwrites controller 1's marker mid-run
            sims[1].memory.write(memmap.scratchpad_int32_address(fleet.MARKER_INDEX), b"\0\0\0\1")
            return await task
        rep = asyncio.run(go())
    finally:
        for s in sims:
            s.stop()
    assert rep.scheduled == 30 and rep.done + rep.errors == 30 - rep.skipped
    assert rep.errors == 0 and rep.done >= 27
    assert 1 <= rep.wrong <= 10
    assert len(rep.latencies) == rep.done and all(0 <= x < 1.0 for x in rep.latencies)
    assert not rep.line(False).endswith("PASS")
