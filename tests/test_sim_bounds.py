"""The simulator's bounds and timing: peers that never read (at any latency), the
connection cap, the half-frame idle timeout, the listen backlog, latency fidelity,
and a ``stop()`` that either finishes or says why it cannot.

The memory figure is measured on a simulator in a child process (its RSS read
from /proc) with ``tools/server_robustness.py``, whose ``--never-read``,
``--cap``, ``--idle`` and ``--fidelity`` modes print the README's figures.
"""
from __future__ import annotations

import math
import select
import socket
import sys
import time
from typing import Any, Iterator, List

import pytest
from conftest import load_tool, recv_exact

from mmpfast import Client, codec, memmap
from mmpfast.sim import Simulator, SimulatorProcess
from mmpfast.sim import server as server_mod
from mmpfast.sim import simulator as simulator_mod
from mmpfast.sim.server import (MAX_FRAME, MAX_PENDING_BYTES, PENDING_OVERHEAD, WRITE_HIGH_WATER,
                                SimServer)
from mmpfast.stream import StreamReceiver, configure_stream, disable_stream

robust = load_tool("server_robustness")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux TCP behaviour")


def wait_until(predicate: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def uptime_request(tl: int = 1) -> bytes:
    return codec.encode_read_block(tl, memmap.STATUS_UPTIME_MS, 4)


# ============================================================================= options
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -0.001])
def test_latency_must_be_finite_and_not_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="latency"):
        Simulator(latency=bad)
    with pytest.raises(ValueError, match="latency"):
        SimulatorProcess.command(latency=bad)
    with pytest.raises(ValueError, match="latency"):
        SimServer(Simulator().memory, latency=bad)


@pytest.mark.parametrize("kwargs,exc", [
    ({"latency": "1"}, TypeError), ({"latency": True}, TypeError),
    ({"max_connections": 0}, ValueError), ({"max_connections": True}, TypeError),
    ({"max_connections": 2.0}, TypeError),
    ({"idle_timeout": 0}, ValueError), ({"idle_timeout": -1.0}, ValueError),
    ({"idle_timeout": math.nan}, ValueError), ({"idle_timeout": math.inf}, ValueError),
    ({"idle_timeout": "1"}, TypeError),
    ({"backlog": -1}, ValueError), ({"backlog": 1.5}, TypeError), ({"backlog": False}, TypeError),
])
def test_bad_options_are_refused_before_starting(kwargs: dict, exc: type) -> None:
    with pytest.raises(exc):
        Simulator(**kwargs)


def test_simulator_process_passes_the_options_on() -> None:
    args = SimulatorProcess.command(latency=0.00002, max_connections=7, idle_timeout=2.5, backlog=16)
    assert args[args.index("--latency") + 1] == repr(0.02)
    assert args[args.index("--max-connections") + 1] == "7"
    assert args[args.index("--idle-timeout") + 1] == "2.5"
    assert args[args.index("--backlog") + 1] == "16"
    plain = SimulatorProcess.command()
    assert not {"--max-connections", "--idle-timeout", "--backlog"} & set(plain)


def _cli_has_server_options() -> bool:
    import subprocess
    out = subprocess.run([sys.executable, "-m", "mmpfast", "sim", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    return "--max-connections" in out and "--idle-timeout" in out


def test_simulator_process_with_a_connection_cap() -> None:
    if not _cli_has_server_options():
        pytest.skip("this build's `mmpfast sim` has no --max-connections/--idle-timeout yet")
    with SimulatorProcess(max_connections=1, idle_timeout=5.0) as sim:
        with socket.create_connection(sim.address, timeout=5) as first:
            first.sendall(uptime_request(3))
            assert codec.decode_frame(recv_exact(first, 20)).tl == 3
            with socket.create_connection(sim.address, timeout=5) as second:
                second.sendall(uptime_request(4))
                try:        # refused: closed without an answer (a reset when our request was unread)
                    answer = recv_exact(second, 20, allow_short=True)
                except ConnectionResetError:
                    answer = b""
                assert answer == b""


# ============================================================================= peers that never read
@linux_only
@pytest.mark.parametrize("latency_ms", [0.02, 0.0])
def test_clients_that_never_read_stay_bounded(latency_ms: float) -> None:
    """10 connections x 1 MiB of 1024-byte read requests, never reading: before the fix the
    simulator grew by ~65 MB per connection at latency 0.02 ms (answers queued while the
    transport's writing was paused); now it holds at most a write buffer and a bounded queue each."""
    with robust.ChildSimulators(1, latency=latency_ms / 1000.0) as child:
        rep = robust.never_read(child, connections=10, megabytes=1.0, settle=0.5)
        assert child.alive
    ok, line = robust.never_read_line(rep, max_growth_mb=60.0)
    print(line)
    assert rep.request_bytes == 1 << 20
    assert rep.growth_mb < 60.0, line                # measured: ~3 MB (issue's target: well under 150)
    assert rep.probe < 0.5, line                     # another client is still answered
    assert rep.expected > 0 and rep.drained == rep.expected, line   # and nothing was lost or reordered
    assert ok


@pytest.mark.parametrize("latency", [0.00002, 0.0001])
def test_paced_answers_stop_while_the_peer_does_not_read(latency: float) -> None:
    """White-box, in-process: with latency > 0 the queued answers stay under the write
    high-water mark plus one response, the waiting requests under MAX_PENDING_BYTES, the
    unparsed bytes under one receive plus a frame; then every answer arrives in order."""
    requests = robust.read_requests(0.25)                    # 16,384 requests, 17 MB of answers
    with Simulator(latency=latency) as sim:
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.connect(sim.address)
            s.setblocking(False)
            sent = robust._send_without_reading([s], requests, timeout=10.0, stall=0.5)[0]
            server = sim._server
            assert server is not None
            assert wait_until(lambda: len(server.connections) == 1)
            conn = next(iter(server.connections))
            assert wait_until(lambda: conn.writing_paused, 5.0)     # the peer's window is full
            time.sleep(0.1)
            assert conn.transport is not None
            assert conn.transport.get_write_buffer_size() <= WRITE_HIGH_WATER + MAX_FRAME
            assert conn.pacer is not None
            assert conn.pacer.pending_bytes <= MAX_PENDING_BYTES + 16 + PENDING_OVERHEAD
            assert len(conn.buf) <= 256 * 1024 + MAX_FRAME
            answered = sim.stats.frames_out
            time.sleep(0.2)
            assert sim.stats.frames_out == answered          # nothing answered while it does not read
            with Client(sim.host, sim.port, timeout=2.0) as c:   # others are served meanwhile
                before = c.uptime_ms()
                time.sleep(0.02)
                assert c.uptime_ms() - before >= 15
            drained = robust._drain_in_order(s, sent // 16, 1024, timeout=10.0)
            assert drained == sent // 16
        finally:
            s.close()


@pytest.mark.parametrize("latency", [0.0, 0.002])
def test_half_closed_peer_still_gets_its_answers(latency: float) -> None:
    with Simulator(latency=latency) as sim, socket.create_connection(sim.address, timeout=5) as s:
        s.sendall(b"".join(uptime_request(tl) for tl in range(5)))
        s.shutdown(socket.SHUT_WR)
        got = recv_exact(s, 5 * 20 + 1, allow_short=True)
    assert [codec.decode_frame(got[i:i + 20]).tl for i in range(0, len(got), 20)] == [0, 1, 2, 3, 4]


# ============================================================================= connection cap
def closed_unanswered(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True when the peer closes ``sock`` (EOF, or a reset: it closed with our request unread)
    without sending a byte."""
    try:
        return recv_exact(sock, 1, timeout, allow_short=True) == b""
    except ConnectionResetError:
        return True


def test_connection_cap_refuses_beyond_it_and_frees_slots() -> None:
    with Simulator(max_connections=2) as sim:
        server = sim._server
        assert server is not None
        a = socket.create_connection(sim.address, timeout=5)
        b = socket.create_connection(sim.address, timeout=5)
        try:
            for tl, s in ((1, a), (2, b)):
                s.sendall(uptime_request(tl))
                assert codec.decode_frame(recv_exact(s, 20)).tl == tl
            with socket.create_connection(sim.address, timeout=5) as c:
                c.sendall(uptime_request(3))
                t0 = time.monotonic()
                assert closed_unanswered(c)
                assert time.monotonic() - t0 < 1.0
            assert server.refused_connections == 1
            assert len(server.connections) == 2
            assert sim.stats.connections == 2
            a.close()
            assert wait_until(lambda: len(server.connections) == 1)
            with Client(sim.host, sim.port) as client:                 # the freed slot serves
                first = client.uptime_ms()
                time.sleep(0.01)
                assert client.uptime_ms() - first >= 5
        finally:
            a.close()
            b.close()
    assert server.refused_connections == 1


@linux_only
def test_tool_connection_cap_mode() -> None:
    ok, line = robust.connection_cap(5, extra=3)
    assert ok, line
    assert "5/5 served, 3/3 beyond it closed at once" in line


# ============================================================================= idle timeout
def test_idle_timeout_closes_a_half_received_frame() -> None:
    with Simulator(idle_timeout=0.3) as sim:
        server = sim._server
        assert server is not None
        with socket.create_connection(sim.address, timeout=5) as half, \
                socket.create_connection(sim.address, timeout=5) as idle, \
                socket.create_connection(sim.address, timeout=5) as drip:
            req = uptime_request(9)
            half.sendall(req[:10])
            t0 = time.monotonic()
            # a byte every 0.1 s: the frame is still unfinished after 0.3 s, so it goes too
            drip_closed = False
            for b in req:
                try:
                    drip.sendall(bytes((b,)))
                except OSError:
                    drip_closed = True
                    break
                r, _, _ = select.select([drip], [], [], 0.1)
                if r:
                    drip_closed = recv_exact(drip, 1, allow_short=True) == b""
                    break
            assert drip_closed
            assert recv_exact(half, 1, timeout=3.0, allow_short=True) == b""
            took = time.monotonic() - t0
            assert 0.25 <= took < 1.5, took
            assert server.idle_closed == 2
            # no partial frame: an idle connection stays, and is answered
            idle.sendall(uptime_request(11))
            assert codec.decode_frame(recv_exact(idle, 20)).tl == 11


def test_idle_timeout_spares_whole_frames_sent_slowly() -> None:
    with Simulator(idle_timeout=0.2) as sim, socket.create_connection(sim.address, timeout=5) as s:
        for tl in range(6):                     # 0.6 s in all, each frame whole at once
            s.sendall(uptime_request(tl))
            assert codec.decode_frame(recv_exact(s, 20)).tl == tl
            time.sleep(0.1)
        assert sim._server is not None and sim._server.idle_closed == 0


@linux_only
def test_tool_idle_mode() -> None:
    ok, line = robust.idle_timeout(0.3, holders=5)
    assert ok, line
    assert "5/5 connections holding half a frame closed" in line


# ============================================================================= backlog
@linux_only
@pytest.mark.parametrize("backlog,most", [(1, 2), (64, 6)])
def test_listen_backlog_is_the_option(backlog: int, most: int) -> None:
    """While the server's loop cannot accept, the kernel completes at most backlog + 1
    handshakes (Linux); the rest wait for their SYN to be retransmitted."""
    with Simulator(backlog=backlog, udp=False) as sim:
        loop = sim._loop
        assert loop is not None
        loop.call_soon_threadsafe(time.sleep, 1.0)          # the loop is busy: nothing is accepted
        time.sleep(0.05)
        socks: List[socket.socket] = []
        try:
            for _ in range(6):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(sim.address)
                socks.append(s)
            time.sleep(0.4)
            _, writable, _ = select.select([], socks, [], 0)
            connected = sum(1 for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
        finally:
            for s in socks:
                s.close()
    assert connected == most


# ============================================================================= latency fidelity
def _fidelity(open_sim: Any, latency: float, calls: int = 150, burst: int = 64) -> tuple:
    with open_sim(0.0) as base:
        base_single, base_burst = robust.measure_latency(base.host, base.port, calls=calls, burst=burst)
    with open_sim(latency) as sim:
        single, whole = robust.measure_latency(sim.host, sim.port, calls=calls, burst=burst)
    return single - base_single, whole - base_burst


MARGIN = 0.0004     # seconds


@pytest.mark.parametrize("where", ["thread", "process"])
@pytest.mark.parametrize("latency", [0.0001, 0.0005])
def test_latency_is_what_it_says(where: str, latency: float) -> None:
    """Per request (median) close to the requested latency, and a pipelined burst of 64 takes
    about 64 x latency.  On an idle machine the median is within 0.1 ms (README, reliability
    table); the margin here is 0.4 ms because an in-process simulator shares the GIL with the
    client on a busy 2-core machine.  Before the fix, 0.1 ms gave 1.31 ms per call, 0.5 ms gave
    1.08 ms, and a burst took 74 ms (asyncio timers in 1 ms steps): all fail this test."""
    def open_sim(lat: float) -> Any:
        return Simulator(latency=lat) if where == "thread" else SimulatorProcess(latency=lat)

    def within(per_request: float, burst: float) -> bool:
        return (abs(per_request - latency) < MARGIN
                and 0.7 * 64 * latency < burst < 1.3 * 64 * latency + 0.002)

    for _ in range(4):          # a shared 2-core machine: a busy moment gets more tries
        per_request, burst = _fidelity(open_sim, latency)
        if within(per_request, burst):
            break
    assert abs(per_request - latency) < MARGIN, f"{per_request * 1000:.3f} ms for {latency * 1000} ms"
    assert 0.7 * 64 * latency < burst < 1.3 * 64 * latency + 0.002, f"burst {burst * 1000:.2f} ms"


def test_precise_loop_timers() -> None:
    loop = server_mod.new_event_loop()
    try:
        if sys.platform.startswith("linux"):
            assert server_mod.has_precise_timers(loop)
        late: List[float] = []

        def fire(when: float) -> None:
            late.append(loop.time() - when)

        async def main() -> None:
            import asyncio
            for _ in range(30):
                when = loop.time() + 0.0003
                loop.call_at(when, fire, when)
                await asyncio.sleep(0.001)
        loop.run_until_complete(main())
    finally:
        loop.close()
    late.sort()
    assert len(late) == 30 and late[0] >= 0
    assert late[15] < 0.0002, f"median {late[15] * 1e6:.0f} us late"


# ============================================================================= stop()
def test_stop_is_prompt_while_the_stream_config_changes() -> None:
    """The hang: ``asyncio.wait_for`` (Python <= 3.11) could swallow the cancellation of the
    streaming task when a configuration change woke it at the same moment; close() then waited
    for it forever and stop() gave up silently after 10 s (about half the runs of this loop)."""
    for i in range(12):
        sim = Simulator().start()
        with StreamReceiver("127.0.0.1", 0, timeout=2.0) as rx, Client(sim.host, sim.port) as c:
            configure_stream(c, rx.port, 1, ["127.0.0.1"])
            rx.recv()
            sim.set_digital(0, 4, i % 2 == 0)
            disable_stream(c)
        thread = sim._thread
        t0 = time.monotonic()
        sim.stop()
        assert time.monotonic() - t0 < 3.0
        assert thread is not None and not thread.is_alive()


def test_stop_that_cannot_finish_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator_mod, "_STOP_TIMEOUT", 0.3)
    sim = Simulator().start()
    loop = sim._loop
    assert loop is not None
    loop.call_soon_threadsafe(time.sleep, 1.5)       # the loop cannot stop for 1.5 s
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="did not stop within 0.3 s") as info:
        sim.stop()
    assert "still running here:\n  File " in str(info.value)      # with the thread's stack
    assert sim._thread is not None and sim._thread.is_alive()
    monkeypatch.setattr(simulator_mod, "_STOP_TIMEOUT", 10.0)
    sim.stop()                                       # once the loop is free, stop() finishes
    assert sim._thread is None and not sim.running
