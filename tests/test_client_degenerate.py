"""Empty and degenerate calls, argument checks before I/O, and typed timeouts
(API.md "Empty and degenerate calls"), on both clients."""
from __future__ import annotations

import asyncio
import gc
import os
import sys
from typing import Any

import pytest

import mmpfast
from mmpfast import AsyncClient, Client, MmpTimeoutError, ScanPlan, WriteOutcomeUnknown

from scripted_server import AsyncAdapter, ScriptedServer, make, server  # noqa: F401 (fixtures)




def _empty_calls(c: Any) -> None:
    plan = ScanPlan()
    assert c.read(0xF0D81000, 0) == b""
    assert c.read_into(0xF0D81000, bytearray()) is None
    assert c.read_into(0xF0D81000, memoryview(bytearray(8))[8:]) is None
    assert c.write(0xF0D81000, b"") is None
    assert c.write(0xF0D81000, bytearray()) is None
    res = c.scan(plan)
    assert isinstance(res, mmpfast.ScanResult) and res.values() == {} and bytes(res.buffer) == b""
    assert c.scan_into(plan, bytearray()) is None


def test_empty_calls_send_nothing_and_keep_the_connection(server: ScriptedServer, make: Any) -> None:
    server.memory.write(0xF030010C, b"\x00\x00\x01\x02")
    c = make(server)
    assert c.uptime_ms() == 0x102
    _empty_calls(c)
    assert len(server.frames) == 1 and server.connections == 1 and c.connected
    assert c.uptime_ms() == 0x102                        # the same connection, still in step
    assert len(server.frames) == 2 and server.connections == 1


def test_empty_calls_do_not_connect(server: ScriptedServer, make: Any) -> None:
    c = make(server)
    _empty_calls(c)
    assert server.connections == 0 and not c.connected and server.frames == []


def test_bad_arguments_raise_before_anything_is_sent(server: ScriptedServer, make: Any) -> None:
    c = make(server)
    cases = [
        (TypeError, lambda: c.scan(None)),
        (TypeError, lambda: c.scan("plan")),
        (TypeError, lambda: c.scan_into(None, bytearray(8))),
        (TypeError, lambda: c.scan_into([(0xF0D81000, 4)], bytearray(8))),
        (ValueError, lambda: c.read_scratchpad_string(0, encoding="no-such-codec")),
        (ValueError, lambda: c.read_scratchpad_string(0, errors="no-such-handler")),
        (TypeError, lambda: c.read_scratchpad_string(0, encoding=None)),
        (ValueError, lambda: c.write_scratchpad_string(0, "x", encoding="no-such-codec")),
        (TypeError, lambda: c.read_digital(True, 0)),
        (TypeError, lambda: c.read_digital(0, False)),
        (TypeError, lambda: c.write_digital(True, 0, True)),
        (TypeError, lambda: c.read_analog(False, 0)),
        (TypeError, lambda: c.write_analog(True, 0, 1.0)),
        (TypeError, lambda: c.read_digital_channel(True, 0)),
        (TypeError, lambda: c.read_analog_channel(0, True)),
        (TypeError, lambda: c.read_scratchpad_int32(True)),
        (TypeError, lambda: c.write_scratchpad_float(True, 1.0)),
        (TypeError, lambda: c.read_scratchpad_string(True)),
        (TypeError, lambda: c.read(True, 4)),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    assert server.frames == [] and server.connections == 0


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_constructor_checks_host_and_port(cls: Any) -> None:
    for port in (-1, 0, 65536, 70000):
        with pytest.raises(ValueError):
            cls("127.0.0.1", port=port)
    for port in ("2001", 2001.0, True, None):
        with pytest.raises(TypeError):
            cls("127.0.0.1", port=port)
    for host in (None, b"127.0.0.1", 127001):
        with pytest.raises(TypeError):
            cls(host)
    with pytest.raises(ValueError):
        cls("")
    c = cls("127.0.0.1", port=65535)
    assert (c.host, c.port) == ("127.0.0.1", 65535)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc/self/fd")
@pytest.mark.parametrize("kind", ["blocking", "async"])
def test_tiny_timeouts_are_typed_and_leak_nothing(kind: str) -> None:
    from mmpfast.sim import SimulatorProcess
    with SimulatorProcess(latency=0.002) as sim:        # its sockets are not ours to count
        gc.collect()
        before = _open_fds()
        if kind == "blocking":
            c: Any = Client(sim.host, sim.port, timeout=0.0001)
        else:
            c = AsyncAdapter(AsyncClient(sim.host, sim.port, timeout=0.0001))
        kinds = {}
        for i in range(300):
            try:
                if i % 3 == 2:
                    c.write_scratchpad_int32(0, i)
                else:
                    c.uptime_ms()
            except (MmpTimeoutError, WriteOutcomeUnknown) as exc:
                kinds[type(exc)] = kinds.get(type(exc), 0) + 1
                if isinstance(exc, WriteOutcomeUnknown):
                    assert isinstance(exc.__cause__, MmpTimeoutError)
            # anything else (a bare TimeoutError included) fails the test
        assert sum(kinds.values()) >= 290 and MmpTimeoutError in kinds
        assert not c.connected
        c.close()
        gc.collect()
        assert _open_fds() <= before


def test_async_calls_queue_in_order_and_a_cancelled_waiter_leaves_the_queue() -> None:
    import threading
    gate = threading.Event()
    with ScriptedServer() as server:
        server.memory.write(0xF0D81000, b"\x00\x00\x00\x07")

        def slow(frame: Any, conn: int) -> Any:
            gate.wait(2.0)                       # the first answer waits for the test's signal
            return server.device(frame, conn)
        server.respond = slow

        async def main() -> Any:
            c = AsyncClient(server.host, server.port, timeout=1.5)
            first = asyncio.ensure_future(c.uptime_ms())
            await asyncio.sleep(0.05)            # first holds the lock, waiting for its answer
            second = asyncio.ensure_future(c.read(0xF0D81000, 4))
            third = asyncio.ensure_future(c.read(0xF0D81000, 4))
            await asyncio.sleep(0.02)
            second.cancel()                      # a queued call cancelled before it ran
            gate.set()
            got = await asyncio.gather(first, third, return_exceptions=True)
            await c.close()
            return got, second
        loop = asyncio.new_event_loop()
        try:
            (up, value), second = loop.run_until_complete(main())
        finally:
            loop.close()
        assert up == 0 and value == b"\x00\x00\x00\x07" and second.cancelled()
        assert len(server.frames) == 2           # the cancelled call sent nothing


def test_async_call_waiting_for_a_busy_client_times_out_typed() -> None:
    with ScriptedServer() as server:
        server.respond = lambda frame, conn: None        # never answers

        async def main() -> Any:
            c = AsyncClient(server.host, server.port, timeout=0.2)
            first = asyncio.ensure_future(c.uptime_ms())
            await asyncio.sleep(0.01)
            second = asyncio.ensure_future(c.uptime_ms())
            got = await asyncio.gather(first, second, return_exceptions=True)
            await c.close()
            return got
        loop = asyncio.new_event_loop()
        try:
            a, b = loop.run_until_complete(main())
        finally:
            loop.close()
        assert type(a) is MmpTimeoutError and type(b) is MmpTimeoutError
        assert "busy" in str(b) or "no answer" in str(b)
