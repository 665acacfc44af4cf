"""Both clients against the simulator (mmpfast.sim.Simulator): values set on the
simulated rack come back through the client and writes land in the rack."""
from __future__ import annotations

import math
from typing import Any, Iterator

import pytest

from mmpfast import AsyncClient, Client, MmpNakError, ScanPlan, memmap

from conftest import uptime_advances
from scripted_server import AsyncAdapter

sim_mod = pytest.importorskip("mmpfast.sim")
Simulator = sim_mod.Simulator

# default simulated rack: module 0 digital in, 1 digital out, 2 analog in, 3 analog out
DI, DO, AI, AO = 0, 1, 2, 3


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with Simulator(port=0) as s:
        yield s


@pytest.fixture(params=["blocking", "asyncio"])
def client(request: pytest.FixtureRequest, sim: Any) -> Iterator[Any]:
    if request.param == "blocking":
        c: Any = Client(sim.host, sim.port, timeout=2.0)
    else:
        c = AsyncAdapter(AsyncClient(sim.host, sim.port, timeout=2.0))
    yield c
    c.close()


def test_status_and_uptime(client: Any) -> None:
    st = client.status()
    assert st.part_number and st.mac.count(":") == 5 and st.ip.count(".") == 3
    assert st.firmware[0] in "ABRS" or st.firmware.count(".") == 3
    up = client.uptime_ms()
    assert isinstance(up, int) and up >= st.uptime_ms
    client.powerup_clear()
    assert client.status().powerup_clear_needed is False


def test_digital_in_and_out(client: Any, sim: Any) -> None:
    sim.set_digital(DI, 5, True)
    assert client.read_digital(DI, 5) is True
    sim.set_digital(DI, 5, False)
    assert client.read_digital(DI, 5) is False
    client.write_digital(DO, 3, True)
    assert sim.get_digital(DO, 3) is True
    assert client.read_digital(DO, 3) is True
    ch = client.read_digital_channel(DO, 3)
    assert ch.state is True and ch.quality == 0
    client.write_digital(DO, 3, False)
    assert sim.get_digital(DO, 3) is False


def test_analog_in_and_out(client: Any, sim: Any) -> None:
    sim.set_analog(AI, 1, 4.25)
    assert client.read_analog(AI, 1) == 4.25
    ch = client.read_analog_channel(AI, 1)
    assert ch.value == 4.25 and ch.minimum <= 4.25 <= ch.maximum
    client.write_analog(AO, 2, -7.5)
    assert sim.get_analog(AO, 2) == -7.5
    with pytest.raises(ValueError):
        client.write_analog(AO, 2, math.nan)


def test_scratchpad(client: Any, sim: Any) -> None:
    values = list(range(-600, 600))
    client.write_scratchpad_int32(500, values)      # spans area 1 and area 2, several chunks
    assert client.read_scratchpad_int32(500, len(values)) == values
    assert sim.memory.read(memmap.scratchpad_int32_address(1500), 4) == (400).to_bytes(4, "big")
    client.write_scratchpad_float(1023, [0.5, -1.5])
    assert client.read_scratchpad_float(1023, 2) == [0.5, -1.5]
    client.write_scratchpad_int64(1020, [-(2**63), 2**63 - 1, 0, 7])
    assert client.read_scratchpad_int64(1020, 4) == [-(2**63), 2**63 - 1, 0, 7]
    client.write_scratchpad_string(63, "grüße")
    assert client.read_scratchpad_string(63) == "grüße"
    client.write_scratchpad_string(63, "ab")
    assert client.read_scratchpad_string(63) == "ab"


def test_raw_and_nak(client: Any) -> None:
    data = bytes(range(256)) * 12
    client.write(0xF0DA0000, data)
    assert client.read(0xF0DA0000, len(data)) == data
    with pytest.raises(MmpNakError) as info:
        client.read(0xF0000000, 4)
    assert info.value.address == 0xF0000000 and info.value.error_code == 0xE005
    uptime_advances(client.uptime_ms)           # the connection still answers, with live values


def test_scan_plan(client: Any, sim: Any) -> None:
    sim.set_digital(DI, 7, True)
    sim.set_analog(AI, 0, 1.25)
    client.write_scratchpad_int32(0, [11, 22, 33])
    plan = ScanPlan()
    plan.add_digital(DI, 7, name="d")
    plan.add_analog(AI, 0, name="a")
    plan.add_scratchpad_int32(0, 3, name="i")
    res = client.scan(plan)
    assert res["d"] is True and res["a"] == 1.25 and list(res["i"]) == [11, 22, 33]
    buf = plan.new_buffer()
    sim.set_digital(DI, 7, False)
    assert client.scan_into(plan, buf) is None
    assert plan.result(buf)["d"] is False
