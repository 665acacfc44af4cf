"""SNAP PAC, read-and-clear and custom-area plans scanned on the simulator.

The plan's address list is written with ``Client.prepare`` and the plan is read
with ``Client.scan``, so these tests check the planner against the simulator's
memory map (PROTOCOL.md §3.6-3.8); tests/test_client_beyond.py tests the
client's side (prepare, device checks, retries)."""
from __future__ import annotations

import random
import struct
from typing import Any, Iterator

import pytest

import mmpfast
from mmpfast import memmap
from mmpfast.records import AnalogChannel, DigitalChannel, DigitalCounts

from plans import scattered_plan

sim_mod = pytest.importorskip("mmpfast.sim")


def pulses(sim: Any, m: int, c: int, n: int) -> None:
    for _ in range(n):
        sim.set_digital(m, c, True)
        sim.set_digital(m, c, False)


def prepare(client: mmpfast.Client, plan: mmpfast.ScanPlan) -> None:
    client.prepare(plan)


@pytest.fixture
def epic() -> Iterator[Any]:
    with sim_mod.Simulator(port=0) as sim:
        with mmpfast.Client(sim.host, sim.port, timeout=5) as c:
            yield sim, c


@pytest.fixture
def snap() -> Iterator[Any]:
    with sim_mod.Simulator(port=0, profile="snap", modules=["di:4", "do:4", "ai:4", "ao:4", "di:8"]) as sim:
        with mmpfast.Client(sim.host, sim.port, timeout=5, device="snap") as c:
            c.powerup_clear()
            yield sim, c


def test_custom_area_plan_reads_what_the_plain_plan_reads(epic: Any) -> None:
    sim, c = epic
    rng = random.Random(5)
    for m, spec in enumerate(sim.memory.rack):
        if spec is not None and m < 4:
            for ch in range(min(spec.channels, 8)):
                if spec.digital:
                    sim.set_digital(m, ch, rng.random() < 0.5)
                else:
                    sim.set_analog(m, ch, rng.uniform(-100, 100))
    c.write_scratchpad_int32(1024, [rng.randint(-2**31, 2**31 - 1) for _ in range(9000)])
    c.write_scratchpad_float(1024, [rng.uniform(-1, 1) for _ in range(9000)])
    plain, gathered = scattered_plan(False), scattered_plan(True)
    assert len(gathered.requests) < len(plain.requests)
    assert gathered.custom_addresses
    prepare(c, gathered)
    want = c.scan(plain).values()
    got = c.scan(gathered).values()
    assert got == want
    assert got["scratchpad_float[1114]"] != got["scratchpad_float[1204]"]      # real data, not zeros


def test_clear_digital_in_a_scan_reads_then_clears(epic: Any) -> None:
    sim, c = epic
    sim.set_feature(0, 2, 1)                        # counter feature on (0, 2)
    pulses(sim, 0, 2, 5)
    p = mmpfast.ScanPlan()
    p.add_digital(0, 2)
    p.add_clear_digital(0, 2)
    p.add_status("serial")
    assert p.requests[p.clear_from:] == ((0xF02E0030, 12),)     # 0xF02E0000 + 0x18*2, last
    first = c.scan(p)
    assert first["clear_digital[0][2]"] == DigitalCounts(5, True, True)
    assert first["digital[0][2]"] is False
    assert c.scan(p)["clear_digital[0][2]"] == DigitalCounts(0, False, False)
    pulses(sim, 0, 2, 2)
    assert c.scan(p)["clear_digital[0][2]"] == (2, True, True)


def test_snap_plan_on_the_snap_simulator(snap: Any) -> None:
    sim, c = snap
    sim.set_feature(0, 1, 1)
    pulses(sim, 0, 1, 4)                 # point 1: counter 4, both latches
    sim.set_digital(0, 2, True)          # point 2
    sim.set_digital(4, 3, True)          # point 19
    for v in (4.0, -2.0, 1.5):
        sim.set_analog(2, 1, v)          # point 9: value 1.5, min -2, max 4
    c.write(memmap.snap_analog_write_address(3, 0), struct.pack(">f", 7.25))    # point 12, an output
    p = mmpfast.ScanPlan(device="snap")
    for m in range(5):
        for ch in range(4):
            p.add_digital(m, ch)
    p.add_analog(2, 1)
    p.add_analog(3, 0)
    p.add_digital_counter(0, 1)
    p.add_digital_channel(0, 1)
    p.add_analog_channel(2, 1)
    p.add_clear_digital(0, 1)
    r = c.scan(p)
    states = {(m, ch) for m in range(5) for ch in range(4) if r[f"digital[{m}][{ch}]"]}
    assert states == {(0, 2), (4, 3)}
    assert r["analog[2][1]"] == 1.5 and r["analog[3][0]"] == 7.25
    assert r["counter[0][1]"] == 4
    assert r["digital_channel[0][1]"] == DigitalChannel(False, True, True, 1, 4, 0)
    assert r["analog_channel[2][1]"] == AnalogChannel(1.5, -2.0, 4.0, 0)
    assert r["clear_digital[0][1]"] == DigitalCounts(4, True, True)
    again = c.scan(p)
    assert again["clear_digital[0][1]"] == DigitalCounts(0, False, False)
    assert again["counter[0][1]"] == 0 and again["digital_channel[0][1]"].on_latch is False
