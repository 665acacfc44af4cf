#!/usr/bin/env python3
"""One asyncio process scanning many simulated controllers at a fixed rate.

The simulators run in a child process (``--count`` ``Simulator`` servers in
one event loop, through their asyncio ``serving()`` API; the child prints
their ports).  This process opens one ``AsyncClient`` per controller, writes
a distinct marker into each one's scratch pad, then scans every controller
at ``--rate`` Hz for ``--seconds`` with one shared ``ScanPlan`` (digital and
analog points plus the marker), checking the marker in every result.

Slots are absolute (pass k of controller i is due at
``start + i/count/rate + k/rate``); a pass is *on time* when it completes
before its controller's next slot.  A pass whose slot has gone by entirely
is *skipped* (not run in a burst).  Reported: scans done vs scheduled, on
time, errors, wrong values, latency (slot to completion) p50/p99/max, and
the client's CPU per scan (``time.process_time()`` of this process over the
scanning phase, divided by the scans done; the simulators are the other
process) with its share of one CPU, and the simulators' process's share of
one CPU over the same time (when it nears 100%, the simulators, not the
client, limit how many scans are on time).

    python tools/many_controllers.py --count 100 --rate 10 --seconds 10

Options:

* ``--check-values``: the strict check.  Every simulator starts with its own
  digital input states and analog values (a function of its index), the
  client writes its own digital output pattern, and every scan's
  ``values()`` must equal the expected dict exactly (every point and the
  marker; the uptime must not go backwards).  Without it only the marker
  is compared (``AsyncClient`` still checks every response header).
* ``--loop uvloop``: run the client on uvloop (``pip install "mmpfast[uvloop]"``).
  uvloop's ``loop.time()`` counts whole milliseconds, cached per loop
  iteration, so its latency figures are coarse (the on-time test is not:
  the period is 100 ms at 10 Hz).
* ``--floor``: instead of ``AsyncClient.scan_into``, a minimal
  ``asyncio.Protocol`` client per controller doing the same scan (the
  plan's requests in one write; once every response byte is in, each
  payload copied into the buffer; no header checks, no deadline per scan).
  It shows what the event loop itself costs per scan, the floor under any
  asyncio client.  The same checks run on its buffers.

Exits 1 on any error or wrong value, or when fewer than ``--min-on-time``
(default 0.99) of the scheduled scans completed on time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

try:
    import mmpfast  # noqa: F401
except ImportError:     # run from a checkout without installing: use the source tree
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmpfast import AsyncClient, MmpError, ScanPlan, protocol  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
from server_robustness import ChildSimulators, percentile, serve_child  # noqa: E402

#: scratch-pad int32 index of each controller's marker
MARKER_INDEX = 4000
#: channels scanned on each module (digital in 0, digital out 1, analog in 2 of the default rack)
CHANNELS = 8
DI_MODULE, DO_MODULE, AI_MODULE = 0, 1, 2


def expected_digital(i: int, module: int, channel: int) -> bool:
    """The state controller ``i`` holds on a digital channel (``--check-values``)."""
    return (i * 7 + module * 3 + channel) % 3 == 0


def expected_analog(i: int, channel: int) -> float:
    """The value controller ``i`` holds on an analog input (exact in float32)."""
    return (i % 1000) * 0.5 + channel * 0.25 - 100.0


def expected_values(i: int, marker: List[int]) -> Dict[str, Any]:
    """``values()`` of a scan of controller ``i``, without the uptime (``--check-values``)."""
    out: Dict[str, Any] = {}
    for c in range(CHANNELS):
        out[f"digital[{DI_MODULE}][{c}]"] = expected_digital(i, DI_MODULE, c)
        out[f"digital[{DO_MODULE}][{c}]"] = expected_digital(i, DO_MODULE, c)
        out[f"analog[{AI_MODULE}][{c}]"] = expected_analog(i, c)
    out["marker"] = list(marker)
    return out


def build_plan() -> ScanPlan:
    """The plan every controller is scanned with (default simulated rack)."""
    plan = ScanPlan()
    for c in range(CHANNELS):
        plan.add_digital(DI_MODULE, c)       # digital inputs
        plan.add_digital(DO_MODULE, c)       # digital outputs
        plan.add_analog(AI_MODULE, c)        # analog inputs
    plan.add_scratchpad_int32(MARKER_INDEX, 2, name="marker")
    plan.add_status("uptime_ms", name="uptime")
    return plan.freeze()


@dataclass
class FleetReport:
    count: int
    rate: float
    seconds: float
    scheduled: int = 0
    done: int = 0
    on_time: int = 0
    skipped: int = 0
    errors: int = 0
    wrong: int = 0
    latencies: List[float] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)
    requests_per_scan: int = 0
    mode: str = "AsyncClient on asyncio, marker check"
    cpu_seconds: float = 0.0         # process_time of this process over the scanning phase
    wall_seconds: float = 0.0        # wall time of the scanning phase
    sim_cpu_seconds: float = math.nan    # CPU time of the simulators' process over the same phase

    @property
    def cpu_per_scan(self) -> float:
        """Client CPU seconds per scan done (NaN when none was done)."""
        return self.cpu_seconds / self.done if self.done else math.nan

    @property
    def cpu_share(self) -> float:
        """The client's CPU time over the wall time of the scanning phase (1.0 = one CPU)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else math.nan

    @property
    def on_time_ratio(self) -> float:
        return self.on_time / self.scheduled if self.scheduled else 0.0

    def line(self, ok: bool) -> str:
        p50, p99 = percentile(self.latencies, 0.5), percentile(self.latencies, 0.99)
        worst = max(self.latencies) if self.latencies else math.nan
        sim = ("" if math.isnan(self.sim_cpu_seconds) or not self.wall_seconds
               else f", simulators' process {100 * self.sim_cpu_seconds / self.wall_seconds:.0f}% of one CPU")
        return (f"many_controllers: {self.count} controllers x {self.rate:g} Hz x {self.seconds:g} s, "
                f"{self.requests_per_scan} requests/scan: {self.done}/{self.scheduled} scans done, "
                f"{self.on_time} on time ({100 * self.on_time_ratio:.2f}%), {self.skipped} skipped, "
                f"{self.errors} errors, {self.wrong} wrong; latency p50 {p50 * 1000:.2f} ms "
                f"p99 {p99 * 1000:.2f} ms max {worst * 1000:.1f} ms; client CPU "
                f"{self.cpu_per_scan * 1e6:.1f} µs/scan ({100 * self.cpu_share:.0f}% of one CPU)"
                f"{sim}; "
                f"{self.mode}; {'PASS' if ok else 'FAIL'}")


#: read block request header (16 bytes), from mmpfast.protocol
_REQUEST = struct.Struct(protocol.BLOCK_REQUEST_HEADER.format)
_TCODE_BYTE = protocol.TCODE_READ_BLOCK << 4


class FloorScanner(asyncio.Protocol):
    """The floor: a minimal ``asyncio.Protocol`` client doing one plan's scan.

    ``scan_into`` packs the requests (rotating transaction label) into one
    write and waits until every response byte is in (``data_received``
    appends to a bytearray and wakes a future), then copies each payload to
    the buffer.  No header checks and no per-scan deadline: the least an
    asyncio client can do for the same scan."""

    def __init__(self, plan: ScanPlan) -> None:
        self.requests: Sequence[Tuple[int, int]] = plan.requests
        self.offsets = list(plan.offsets)
        self.lengths = list(plan.lengths)
        self.total = sum(protocol.HEADER_BLOCK + n for n in self.lengths)
        self.rx = bytearray()
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.transport: Any = None      # uvloop's transports are not asyncio.Transport subclasses
        self.tl = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.rx += data
        w = self.waiter
        if w is not None and len(self.rx) >= self.total:
            self.waiter = None
            w.set_result(None)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    async def scan_into(self, plan: ScanPlan, buf: bytearray) -> None:
        pack = _REQUEST.pack
        tl = self.tl
        parts = []
        for address, length in self.requests:
            tl = (tl + 1) & 63
            parts.append(pack(0, tl << 2, _TCODE_BYTE, 0, protocol.ADDRESS_HIGH, address, length, 0))
        self.tl = tl
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")
        w = self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(b"".join(parts))
        await w
        total, rx = self.total, self.rx
        frames = bytes(rx[:total])
        del rx[:total]
        pos = 0
        for off, length in zip(self.offsets, self.lengths):
            start = pos + protocol.HEADER_BLOCK
            buf[off:off + length] = frames[start:start + length]
            pos = start + length

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


#: scan(plan, buffer) coroutine of one controller
ScanFn = Callable[[ScanPlan, bytearray], Awaitable[None]]
#: check(buffer) -> None when right, else what was wrong
CheckFn = Callable[[bytearray], Optional[str]]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def marker_check(plan: ScanPlan, marker: List[int]) -> CheckFn:
    def check(buf: bytearray) -> Optional[str]:
        got = list(plan.result(buf)["marker"])
        return None if got == marker else f"marker {got}"
    return check


def values_check(plan: ScanPlan, i: int, marker: List[int]) -> CheckFn:
    """Every value of the scan against ``expected_values(i)``; the uptime never goes back."""
    expected = expected_values(i, marker)
    last = [-1]

    def check(buf: bytearray) -> Optional[str]:
        values = plan.result(buf).values()
        up = values.pop("uptime")
        if values != expected:
            bad = sorted(k for k in expected if values.get(k) != expected[k])
            return f"wrong values: {bad[:4]}"
        if up < last[0]:
            return f"uptime went back from {last[0]} to {up}"
        last[0] = up
        return None
    return check


async def _controller(i: int, scan: ScanFn, check: CheckFn, plan: ScanPlan, start: float, period: float,
                      slots: int, rep: FleetReport) -> None:
    loop = asyncio.get_running_loop()
    offset = start + period * i / rep.count
    buf = plan.new_buffer()
    k = 0
    while k < slots:
        slot = offset + k * period
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await scan(plan, buf)
        except (MmpError, OSError) as exc:
            rep.errors += 1
            rep.messages.append(f"controller {i}: {exc!r}")
        else:
            end = loop.time()
            rep.done += 1
            rep.latencies.append(end - slot)
            if end <= slot + period:
                rep.on_time += 1
            wrong = check(buf)
            if wrong is not None:
                rep.wrong += 1
                rep.messages.append(f"controller {i}: {wrong}")
        k += 1
        # slots already gone by entirely are skipped, never run in a burst
        behind = int((loop.time() - offset) // period) + 1 - k
        if behind > 0:
            skip = min(behind - 1, slots - k) if behind > 1 else 0
            rep.skipped += skip
            k += skip


async def scan_fleet(host: str, ports: List[int], rate: float, seconds: float,
                     pipeline: int = 4, timeout: Optional[float] = None, *, check_values: bool = False,
                     floor: bool = False, sim_pid: Optional[int] = None) -> FleetReport:
    """Scan every ``host:port`` at ``rate`` Hz for ``seconds``; returns a ``FleetReport``.

    ``check_values`` compares every value of every scan (the simulators must hold
    ``expected_values``: run them with ``--serve``); ``floor`` scans with ``FloorScanner``;
    ``sim_pid`` (the simulators' process) adds that process's CPU time to the report."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    slots = max(1, int(round(seconds * rate)))
    rep = FleetReport(len(ports), rate, seconds, scheduled=slots * len(ports))
    plan = build_plan()
    rep.requests_per_scan = len(plan.requests)
    loop_name = type(loop).__module__.split(".")[0]
    rep.mode = (f"{'Protocol floor' if floor else 'AsyncClient'} on {loop_name}, "
                f"{'every value checked' if check_values else 'marker check'}")
    clients = [AsyncClient(host, p, timeout=timeout or max(period, 0.5), pipeline=pipeline) for p in ports]
    floors: List[FloorScanner] = []
    try:
        checks: List[CheckFn] = []
        for i, c in enumerate(clients):          # connect, and leave a marker to check in every scan
            m = [i * 1000 + 7, -(i + 1)]
            await c.write_scratchpad_int32(MARKER_INDEX, m)
            if check_values:
                for ch in range(CHANNELS):
                    await c.write_digital(DO_MODULE, ch, expected_digital(i, DO_MODULE, ch))
            checks.append(values_check(plan, i, m) if check_values else marker_check(plan, m))
        scans: List[ScanFn] = []
        if floor:
            for c in clients:
                await c.close()
            for p in ports:
                _, proto = await loop.create_connection(lambda: FloorScanner(plan), host, p)
                floors.append(proto)
                scans.append(proto.scan_into)
        else:
            scans = [c.scan_into for c in clients]
        start = loop.time() + 0.05
        s0 = process_cpu(sim_pid) if sim_pid else math.nan
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(_controller(i, scans[i], checks[i], plan, start, period, slots, rep)
                             for i in range(len(ports)))),
            seconds + 60.0)                      # a watchdog for the whole run, not per scan
        rep.cpu_seconds, rep.wall_seconds = time.process_time() - c0, time.perf_counter() - w0
        if sim_pid:
            rep.sim_cpu_seconds = process_cpu(sim_pid) - s0
    finally:
        for f in floors:
            f.close()
        for c in clients:
            await c.close()
    return rep


def _event_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _run(coro: Awaitable[FleetReport], loop_name: str) -> FleetReport:
    loop = _event_loop(loop_name)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


# ----------------------------------------------------------------------------- the child
def seed(sim: Any, i: int) -> None:
    """Give simulator ``i`` the input states and values ``expected_values`` expects."""
    for c in range(CHANNELS):
        sim.set_digital(DI_MODULE, c, expected_digital(i, DI_MODULE, c))
        sim.set_analog(AI_MODULE, c, expected_analog(i, c))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100, help="simulated controllers (default 100)")
    p.add_argument("--rate", type=float, default=10.0, help="scans per second per controller (default 10)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    p.add_argument("--pipeline", type=int, default=4, help="requests in flight per scan (default 4)")
    p.add_argument("--min-on-time", type=float, default=0.99, help="required on-time ratio (default 0.99)")
    p.add_argument("--check-values", action="store_true", help="check every value of every scan")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="event loop (default asyncio)")
    p.add_argument("--floor", action="store_true",
                   help="scan with a minimal asyncio.Protocol client instead of AsyncClient")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)     # child mode
    p.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--serve-options", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is not None:   # child mode: the simulators, seeded as expected_values expects
        serve_child(args.serve, args.latency, json.loads(args.serve_options), prepare=seed)
        return 0
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print('many_controllers: --loop uvloop needs uvloop (pip install "mmpfast[uvloop]")', file=sys.stderr)
            return 2
    t0 = time.monotonic()
    with ChildSimulators(args.count, script=os.path.abspath(__file__)) as child:
        started = time.monotonic() - t0
        rep = _run(scan_fleet(child.host, child.ports, args.rate, args.seconds, args.pipeline,
                              check_values=args.check_values, floor=args.floor, sim_pid=child.pid),
                   args.loop)
    ok = rep.errors == 0 and rep.wrong == 0 and rep.on_time_ratio >= args.min_on_time
    for m in rep.messages[:10]:
        print("  ", m, file=sys.stderr)
    print(f"  ({args.count} simulators started in a child process in {started:.2f} s)", file=sys.stderr)
    print(rep.line(ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
