"""Client benchmarks against the simulator (pytest-benchmark).

    python -m pytest benchmarks/bench_client.py -q -p no:cacheprovider -s

(``-s`` shows the ratio lines printed at the end.)

Groups: round trips (blocking, asyncio), pipelining of a multi-chunk read
with device latency injected (the simulator answers one request at a time,
so this measures what pipelining saves besides the device's own time), bulk ``read_into`` throughput next to a bare
socket ``recv_into`` of the same request/response stream, and optommp 0.7
on the same simulator for the same operations.  The ratios are printed at
the end of the run.
"""
from __future__ import annotations

import asyncio
import math
import socket
from typing import Any, Dict, Iterator

import pytest

from conftest import stat
from mmpfast import AsyncClient, Client, codec
from mmpfast.testing import SimulatorProcess

pytest.importorskip("pytest_benchmark")

MEDIANS: Dict[str, float] = {}
BULK = 1 << 20          # bytes of the large read
BULK_ADDRESS = 0xF0DA0000
LATENCY = 0.0005        # device answer time for the pipelining cases


def _median(benchmark: Any) -> float:
    return stat(benchmark, "median")


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    m = MEDIANS

    def line(text: str) -> None:
        if tr is not None:
            tr.write_line(text)
        else:  # pragma: no cover
            print(text)
    line("")
    if not m or any(math.isnan(v) for v in m.values()):
        line("mmpfast client ratios: none (benchmarks disabled)")
        return
    line(f"mmpfast client ratios (codec: {codec.IMPLEMENTATION})")
    if "blocking_uptime" in m:
        line(f"  blocking uptime round trips/s: {1 / m['blocking_uptime']:.0f}")
    if "async_uptime" in m:
        line(f"  asyncio uptime round trips/s: {1 / m['async_uptime']:.0f}")
    if "pipe1" in m and "pipe8" in m:
        line(f"  256 KiB read_into: pipeline 8 is {m['pipe1'] / m['pipe8']:.2f}x faster than pipeline 1")
    if "slowpipe1" in m and "slowpipe8" in m:
        line(f"  32 KiB read, device latency {LATENCY * 1e3:.1f} ms: pipeline 8 is "
             f"{m['slowpipe1'] / m['slowpipe8']:.2f}x faster than pipeline 1")
    if "bulk_client" in m and "bulk_bare" in m:
        line(f"  1 MiB read_into: {BULK / m['bulk_client'] / 1e6:.1f} MB/s vs bare socket "
             f"{BULK / m['bulk_bare'] / 1e6:.1f} MB/s = {m['bulk_bare'] / m['bulk_client']:.2f} of bare")
    for op in ("uptime", "digital", "int32"):
        a, b = m.get(f"mmpfast_{op}"), m.get(f"optommp_{op}")
        if a and b:
            line(f"  {op}: mmpfast {a * 1e6:.1f} us, optommp {b * 1e6:.1f} us, "
                 f"mmpfast/optommp speed {b / a:.2f}x")


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    """The simulator in its own process, so it does not share the measuring interpreter's lock."""
    with SimulatorProcess() as s:
        with Client(s.host, s.port, timeout=10.0) as c:
            c.write(BULK_ADDRESS, bytes(range(256)) * 144)      # 0x9000 bytes of int32 areas 2-3
        yield s


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Any]:
    with SimulatorProcess(latency=LATENCY) as s:
        yield s


# ----------------------------------------------------------------------------- round trips
CALLS = 100   # sequential uptime_ms() calls per round, so both clients are timed alike


@pytest.mark.benchmark(group=f"round trips: {CALLS} sequential uptime_ms() calls")
def test_blocking_uptime(benchmark: Any, sim: Any) -> None:
    benchmark.extra_info["impl"] = "Client"

    def batch(c: Client) -> None:
        for _ in range(CALLS):
            c.uptime_ms()
    with Client(sim.host, sim.port) as c:
        c.uptime_ms()
        benchmark.pedantic(batch, args=(c,), rounds=30, iterations=1)
    MEDIANS["blocking_uptime"] = _median(benchmark) / CALLS


@pytest.mark.benchmark(group=f"round trips: {CALLS} sequential uptime_ms() calls")
def test_async_uptime(benchmark: Any, sim: Any) -> None:
    benchmark.extra_info["impl"] = "AsyncClient"

    async def batch(c: AsyncClient) -> None:
        for _ in range(CALLS):
            await c.uptime_ms()
    loop = asyncio.new_event_loop()
    try:
        c = AsyncClient(sim.host, sim.port)
        loop.run_until_complete(c.uptime_ms())
        benchmark.pedantic(lambda: loop.run_until_complete(batch(c)), rounds=30, iterations=1)
        loop.run_until_complete(c.close())
    finally:
        loop.close()
    MEDIANS["async_uptime"] = _median(benchmark) / CALLS


@pytest.mark.benchmark(group="pipelining: 256 KiB read_into, 1024-byte chunks")
@pytest.mark.parametrize("pipeline", [1, 8])
def test_pipelined_read(benchmark: Any, sim: Any, pipeline: int) -> None:
    benchmark.extra_info["impl"] = f"pipeline={pipeline}"
    with Client(sim.host, sim.port, pipeline=pipeline, timeout=10.0) as c:
        buf = bytearray(256 * 1024)
        c.read_into(0xF0DA0000, memoryview(buf)[:0x9000])
        benchmark.pedantic(lambda: [c.read_into(0xF0DA0000, memoryview(buf)[i:i + 0x9000])
                                    for i in range(0, 7 * 0x9000, 0x9000)], rounds=10, iterations=1)
    MEDIANS[f"pipe{pipeline}"] = _median(benchmark)


@pytest.mark.benchmark(group="pipelining with 0.5 ms device latency: 32 KiB read_into")
@pytest.mark.parametrize("pipeline", [1, 8])
def test_pipelined_read_latency(benchmark: Any, slow_sim: Any, pipeline: int) -> None:
    """The simulator answers one request at a time (n x latency), so pipelining can only
    save the round trips between answers; this row shows what is left of that."""
    benchmark.extra_info["impl"] = f"pipeline={pipeline}"
    with Client(slow_sim.host, slow_sim.port, pipeline=pipeline) as c:
        buf = bytearray(32 * 1024)
        c.read_into(BULK_ADDRESS, buf)
        benchmark.pedantic(c.read_into, args=(BULK_ADDRESS, buf), rounds=10, iterations=1)
    MEDIANS[f"slowpipe{pipeline}"] = _median(benchmark)


# ----------------------------------------------------------------------------- bulk
@pytest.mark.benchmark(group="bulk: 36 KiB as 1024-byte block reads")
def test_bulk_read_into(benchmark: Any, sim: Any) -> None:
    benchmark.extra_info["impl"] = "Client.read_into"
    buf = bytearray(BULK)
    with Client(sim.host, sim.port, timeout=10.0) as c:
        c.read_into(0xF0DA0000, memoryview(buf)[:0x9000])
        benchmark.pedantic(c.read_into, args=(0xF0DA0000, memoryview(buf)[:0x9000]),
                           rounds=50, iterations=1)
    MEDIANS["bulk_client"] = _median(benchmark) * BULK / 0x9000


@pytest.mark.benchmark(group="bulk: 36 KiB as 1024-byte block reads")
def test_bulk_bare_socket(benchmark: Any, sim: Any) -> None:
    """The same request/response stream (1024-byte block reads, one at a time) on a bare socket."""
    benchmark.extra_info["impl"] = "bare socket recv_into"
    size = 0x9000
    ranges = [(0xF0DA0000 + i, 1024) for i in range(0, size, 1024)]
    requests = [codec.encode_read_blocks(i % 64, [r]) for i, r in enumerate(ranges)]
    rbuf = bytearray(16 + 1024)
    view = memoryview(rbuf)
    sock = socket.create_connection((sim.host, sim.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run() -> None:
        for req in requests:
            sock.sendall(req)
            got = 0
            while got < 1040:
                got += sock.recv_into(view[got:])
    try:
        run()
        benchmark.pedantic(run, rounds=50, iterations=1)
    finally:
        sock.close()
    MEDIANS["bulk_bare"] = _median(benchmark) * BULK / size


# ----------------------------------------------------------------------------- optommp
def _optommp(sim: Any) -> Any:
    optommp = pytest.importorskip("optommp")
    o = optommp.O22MMP.__new__(optommp.O22MMP)   # its constructor hard-codes port 2001
    o.sock = socket.create_connection((sim.host, sim.port))
    o.tlabel = 0
    return o


OPS = {
    "uptime": (lambda c: c.uptime_ms(), lambda o: o.ReadBlock(0xF030010C, 4)),
    "digital": (lambda c: c.read_digital(0, 3), lambda o: o.GetDigitalPointState(0, 3)),
    "int32": (lambda c: c.read_scratchpad_int32(7), lambda o: o.GetScratchPadIntegerArea(7)),
}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("lib", ["mmpfast", "optommp"])
def test_vs_optommp(benchmark: Any, sim: Any, lib: str, op: str) -> None:
    benchmark.group = f"per call vs optommp 0.7: {op}"
    benchmark.extra_info["impl"] = lib
    ours, theirs = OPS[op]
    if lib == "mmpfast":
        with Client(sim.host, sim.port) as c:
            benchmark(ours, c)
    else:
        o = _optommp(sim)
        try:
            benchmark(theirs, o)
        finally:
            o.close()
    MEDIANS[f"{lib}_{op}"] = _median(benchmark)
