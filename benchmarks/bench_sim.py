"""Frames per second the simulator serves, pipelined, over raw sockets.

Run as a script (``python benchmarks/bench_sim.py``) to print frames/s for
one connection and for eight, or under pytest-benchmark
(``pytest benchmarks/bench_sim.py``).  The client side sends pre-encoded
bursts and only counts bytes, so the number measures the simulator.
Target: at least 50,000 small frames/s pipelined.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import List

from mmpfast import codec, memmap
from mmpfast.sim import Simulator, SimulatorProcess

BURST = 500                      # frames per pipelined send
RESPONSE = 16 + 4                # a 4-byte read block answer


def _burst() -> bytes:
    return b"".join(codec.encode_read_block(i % 64, memmap.scratchpad_int32_address(i), 4)
                    for i in range(BURST))


def _pump(address: tuple, frames: int, burst: bytes, window: int = 2) -> None:
    """Send ``frames`` requests in bursts, keeping up to ``window`` bursts in flight."""
    with socket.create_connection(address, timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bursts = frames // BURST
        want = bursts * BURST * RESPONSE
        sent = got = 0
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while got < want:
            while sent < bursts and (sent * BURST * RESPONSE - got) < window * BURST * RESPONSE:
                s.sendall(burst)
                sent += 1
            n = s.recv_into(view)
            if not n:
                raise ConnectionError("simulator closed the connection")
            got += n


def frames_per_second(sim: "Simulator | SimulatorProcess", connections: int, frames_per_connection: int) -> float:
    """Pipelined read-block frames/s served across ``connections`` connections."""
    burst = _burst()
    threads: List[threading.Thread] = [
        threading.Thread(target=_pump, args=(sim.address, frames_per_connection, burst))
        for _ in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.perf_counter() - t0
    return connections * (frames_per_connection // BURST) * BURST / took


def test_sim_pipelined_one_connection(benchmark) -> None:  # type: ignore[no-untyped-def]
    with SimulatorProcess() as sim:
        rate = benchmark.pedantic(frames_per_second, args=(sim, 1, 20000), rounds=3, iterations=1)
        benchmark.extra_info["frames_per_second"] = rate
        print(f"\nsimulator, 1 connection: {rate:,.0f} frames/s")
        if not benchmark.disabled:      # a real (timed) run: the goal is 50,000 frames/s
            assert rate >= 50000, f"simulator served only {rate:,.0f} frames/s"


def test_sim_pipelined_eight_connections(benchmark) -> None:  # type: ignore[no-untyped-def]
    with SimulatorProcess() as sim:
        rate = benchmark.pedantic(frames_per_second, args=(sim, 8, 5000), rounds=3, iterations=1)
        benchmark.extra_info["frames_per_second"] = rate
        print(f"\nsimulator, 8 connections: {rate:,.0f} frames/s")
        if not benchmark.disabled:      # a real (timed) run: the goal is 50,000 frames/s
            assert rate >= 50000, f"simulator served only {rate:,.0f} frames/s"


def main() -> None:
    print(f"codec: {codec.IMPLEMENTATION}")
    with SimulatorProcess() as remote:
        frames_per_second(remote, 1, 5000)   # warm up
        for conns, per in ((1, 50000), (8, 10000)):
            rate = frames_per_second(remote, conns, per)
            print(f"simulator in its own process, {conns} connection(s), pipelined 4-byte reads: "
                  f"{rate:,.0f} frames/s")
    with Simulator() as sim:
        for conns, per in ((1, 20000), (8, 5000)):
            rate = frames_per_second(sim, conns, per)
            print(f"simulator thread in the measuring process (shares the GIL), {conns} connection(s): "
                  f"{rate:,.0f} frames/s")


if __name__ == "__main__":
    main()
