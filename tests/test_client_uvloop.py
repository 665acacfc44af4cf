"""The asyncio client runs unchanged on uvloop (skipped, saying so, when uvloop is not installed)."""
from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

import mmpfast
from mmpfast import MmpNakError, MmpTimeoutError, WriteOutcomeUnknown
from mmpfast.sim import Simulator

from scripted_server import ScriptedServer

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (pip install uvloop)")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = uvloop.new_event_loop()
    yield lp
    lp.close()


def test_calls_and_scan_on_uvloop(loop: asyncio.AbstractEventLoop) -> None:
    with Simulator() as sim:
        sim.set_digital(1, 8, True)
        sim.set_analog(6, 2, 4.5)
        plan = mmpfast.ScanPlan()
        plan.add_digital(1, 8, name="d")
        plan.add_analog(6, 2, name="a")
        plan.add_scratchpad_int32(0, 600, name="ints")

        async def main() -> Any:
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
            async with mmpfast.AsyncClient(sim.host, sim.port, pipeline=4) as c:
                await c.write_scratchpad_int32(0, list(range(600)))
                res = await c.scan(plan)
                return (await c.read_digital(1, 8), await c.read_analog(6, 2),
                        await c.read_scratchpad_int32(598, 2), res["d"], res["a"], list(res["ints"]),
                        await c.read(0xF0D81000, 0))
        d, a, tail, rd, ra, ints, empty = loop.run_until_complete(main())
        assert (d, a, tail, rd, ra, empty) == (True, 4.5, [598, 599], True, 4.5, b"")
        assert ints == list(range(600))


def test_nak_and_timeouts_on_uvloop(loop: asyncio.AbstractEventLoop) -> None:
    with ScriptedServer() as server:
        server.nak[0xF0D81000] = 5

        async def main() -> None:
            c = mmpfast.AsyncClient(server.host, server.port, timeout=0.3)
            with pytest.raises(MmpNakError) as info:
                await c.read(0xF0D81000, 4)
            assert info.value.address == 0xF0D81000 and c.connected      # a NAK keeps the connection
            server.respond = lambda frame, conn: None                    # never answer
            t0 = loop.time()
            with pytest.raises(WriteOutcomeUnknown) as unknown:
                await c.write(0xF0D82000, b"abcd")
            assert isinstance(unknown.value.__cause__, MmpTimeoutError)
            with pytest.raises(MmpTimeoutError):
                await c.uptime_ms()
            assert loop.time() - t0 < 0.3 * 2 + 0.5 and not c.connected
            await c.close()
        loop.run_until_complete(main())
