"""SimulatorProcess: the simulator in a child process, used by benchmarks and load tools."""
from __future__ import annotations

import socket
import time

from mmpfast import codec, memmap
from mmpfast.testing import SimulatorProcess


def _round_trip(sock: socket.socket, request: bytes, size: int) -> bytes:
    sock.sendall(request)
    out = b""
    deadline = time.monotonic() + 5
    while len(out) < size and time.monotonic() < deadline:
        chunk = sock.recv(size - len(out))
        if not chunk:
            break
        out += chunk
    return out


def test_child_serves_and_stops() -> None:
    with SimulatorProcess(latency=0.02) as sim:
        assert sim.host == "127.0.0.1" and sim.port > 0 and sim.address == (sim.host, sim.port)
        with socket.create_connection(sim.address, timeout=5) as s:
            t0 = time.monotonic()
            reply = _round_trip(s, codec.encode_read_block(9, memmap.STATUS_UPTIME_MS, 4), 20)
            took = time.monotonic() - t0
        frame = codec.decode_frame(reply)
        assert (frame.tcode, frame.tl, frame.rcode, frame.data_length) == (7, 9, 0, 4)
        assert int.from_bytes(frame.data, "big") > 0
        assert took >= 0.015          # the injected latency reached the child
        proc = sim.proc
    assert proc.poll() is not None    # stopped on exit
    try:
        socket.create_connection(sim.address, timeout=1).close()
    except OSError:
        pass
    else:  # pragma: no cover - the port was reused by someone else
        raise AssertionError("the simulator still accepts connections after close()")


def test_child_takes_rack_and_profile() -> None:
    with SimulatorProcess(modules="ai:4,-", profile="snap") as sim:
        with socket.create_connection(sim.address, timeout=5) as s:
            # SNAP profile: power-up clear enforced, so a scratch-pad read is NAK'd with rcode 4
            reply = _round_trip(s, codec.encode_read_block(1, memmap.SCRATCHPAD_INT32_AREA1, 4), 16)
    assert reply == bytes.fromhex("00 00 04 70 00 00 40 00 00 00 00 00 00 00 00 00")
